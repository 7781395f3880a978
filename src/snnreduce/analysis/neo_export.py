"""Export results to Neo (extra ``[neo]``), for Elephant and other Neo tools.

Network spikes become :class:`neo.SpikeTrain` objects (:func:`to_neo`); population rates
(:func:`rates_to_neo`) and the dsODE voltage density (:func:`density_to_neo`) become
:class:`neo.AnalogSignal` objects with units; :func:`to_neo_block` gathers what a result has.
"""

from __future__ import annotations

import numpy as np

from ..params import POPULATIONS
from ..populations import population_offsets
from ..result import Result
from .rates import population_rate

__all__ = ["to_neo", "rates_to_neo", "density_to_neo", "to_neo_block"]


def _import_neo():
    try:
        import neo
        import quantities
    except ImportError as exc:
        raise ImportError("Neo export needs the optional packages neo and quantities: "
                          "pip install snnreduce[neo]") from exc
    return neo, quantities


def to_neo(result: Result, population: str | None = None):
    """Network spikes as a :class:`neo.Segment` of one :class:`neo.SpikeTrain` per neuron.

    Every neuron gets a train, silent ones included, on ``[0, n_steps * dt]`` ms, in
    the order of ``spike_neurons`` (E ``0 .. n_e - 1`` then I). Each train is annotated
    with ``population`` ("E"/"I"), ``neuron`` (index within its population) and
    ``global_index``; the segment with the run's engine, seed (absent when None), t_end, dt,
    version and parameters (JSON).

    Parameters
    ----------
    result : Result
        A network result (the dsODE has no individual spikes).
    population : {"E", "I"}, optional
        Export only this population (default both).

    Returns
    -------
    neo.Segment

    Raises
    ------
    ImportError
        If neo/quantities are missing (``pip install snnreduce[neo]``).
    ValueError
        For a result without individual spikes.
    """
    neo, pq = _import_neo()
    _check_result(result)
    if result.spike_times is None:
        raise ValueError(f"a {result.engine} result has no individual spikes; to_neo needs "
                         "a network result")
    populations = POPULATIONS if population is None else (population,)
    if any(p not in POPULATIONS for p in populations):
        raise ValueError(f"population must be 'E', 'I' or None, got {population!r}")
    t_stop = max(result.t_end, result.n_steps * result.dt)
    segment = _segment(neo, result)
    times_all = np.asarray(result.spike_times, dtype=np.float64)
    neurons_all = np.asarray(result.spike_neurons, dtype=np.int64)
    order = np.argsort(neurons_all, kind="stable")          # keeps time order within a neuron
    bounds = np.searchsorted(neurons_all[order], np.arange(sum(result.params.n) + 1))
    for pop in populations:
        offset = int(population_offsets(result.params)[POPULATIONS.index(pop)])
        for k in range(result.params.n[POPULATIONS.index(pop)]):
            g = offset + k
            times = np.sort(times_all[order[bounds[g]:bounds[g + 1]]])
            train = neo.SpikeTrain(times, units=pq.ms, t_start=0.0 * pq.ms, t_stop=t_stop * pq.ms,
                                   name=f"{pop}{k}", population=pop, neuron=k, global_index=g)
            segment.spiketrains.append(train)
    return segment


def _segment(neo, result: Result):
    """An empty Segment annotated with the run's provenance (``seed`` absent when None)."""
    annotations = {"engine": result.engine, "t_end": float(result.t_end), "dt": float(result.dt),
                   "params": result.params.to_json(), "version": result.version}
    if result.seed is not None:
        annotations["seed"] = int(result.seed)
    name = f"snnreduce {result.engine}" + ("" if result.seed is None else f" seed {result.seed}")
    return neo.Segment(name=name, **annotations)


def rates_to_neo(result: Result, smooth: float | None = 1.0):
    """Population rates per neuron as one :class:`neo.AnalogSignal`, units Hz.

    Channel 0 is E, channel 1 is I (``array_annotations["population"]``). Sample ``t`` is
    the rate in the step ``[t dt, (t+1) dt)`` ms: ``1000 c_t / (N_Q dt)`` from the population
    counts ``c_t``, or with ``smooth`` (ms, default 1) their centred moving average as in
    :func:`~snnreduce.analysis.population_rate`. Works for the dsODE's expected counts.

    Parameters
    ----------
    result : Result
    smooth : float or None
        Moving-average width, ms; None or 0 for the per-step rate.

    Returns
    -------
    neo.AnalogSignal, shape (n_steps, 2)
        ``sampling_period = dt`` ms, ``t_start = 0`` ms.
    """
    neo, pq = _import_neo()
    _check_result(result)
    return neo.AnalogSignal(rate_table(result, smooth), units=pq.Hz, sampling_period=result.dt * pq.ms,
                            t_start=0.0 * pq.ms, name="population rate per neuron",
                            array_annotations={"population": np.array(POPULATIONS)},
                            smooth_ms=float(smooth or 0.0))


def rate_table(result: Result, smooth: float | None = 1.0) -> np.ndarray:
    """Rates per neuron (Hz) of E and I, shape (n_steps, 2): per step, or smoothed over
    ``smooth`` ms as in :func:`~snnreduce.analysis.population_rate` (None or 0: per step)."""
    if smooth:
        return np.stack([population_rate(result, pop, smooth=smooth)[1] for pop in POPULATIONS],
                        axis=1)
    counts = np.asarray(result.population_counts, dtype=np.float64)
    return 1000.0 * counts / (np.asarray(result.params.n, dtype=np.float64) * result.dt)


def density_to_neo(result: Result) -> list:
    """The recorded voltage density (``bin_count``) as one :class:`neo.AnalogSignal` per population.

    Each signal has shape (n_steps, n_bins): the number of neurons in each voltage bin at the
    end of each step (dimensionless; channels annotated with ``bin_lower``, ``bin_upper``
    and ``bin_centre``, dimensionless voltages), annotated with its ``population``.

    Raises
    ------
    ValueError
        If the result has no ``bin_count`` / ``bin_edges`` records (network results; a
        dsODE run with ``record=()``).
    """
    neo, pq = _import_neo()
    _check_result(result)
    if "bin_count" not in result.records or "bin_edges" not in result.records:
        raise ValueError(f"a {result.engine} result without the records bin_count and bin_edges "
                         "has no voltage density to export")
    edges = np.asarray(result.records["bin_edges"], dtype=np.float64)
    counts = np.asarray(result.records["bin_count"])
    channels = {"bin_lower": edges[:-1], "bin_upper": edges[1:],
                "bin_centre": (edges[1:] + edges[:-1]) / 2}
    return [neo.AnalogSignal(counts[:, q, :], units=pq.dimensionless,
                             sampling_period=result.dt * pq.ms, t_start=0.0 * pq.ms,
                             name=f"voltage density {pop}", population=pop,
                             array_annotations=channels)
            for q, pop in enumerate(POPULATIONS)]


def to_neo_block(result: Result, smooth: float | None = 1.0):
    """Everything of ``result`` Neo can hold, in a :class:`neo.Block` with one Segment.

    The segment holds the rate signal of :func:`rates_to_neo`, the density signals of
    :func:`density_to_neo` when recorded, and the spike trains of :func:`to_neo` for a
    network result; it is annotated with the run's provenance (``seed`` absent when None).
    """
    neo, _ = _import_neo()
    _check_result(result)
    segment = to_neo(result) if result.spike_times is not None else _segment(neo, result)
    segment.analogsignals.append(rates_to_neo(result, smooth))
    if "bin_count" in result.records and "bin_edges" in result.records:
        segment.analogsignals.extend(density_to_neo(result))
    block = neo.Block(name=segment.name, **segment.annotations)
    block.segments.append(segment)
    return block


def _check_result(result) -> None:
    if not isinstance(result, Result):
        raise ValueError(f"Neo export needs a Result, got {type(result).__name__}")
