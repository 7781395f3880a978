"""Export network spikes to Neo (extra ``[neo]``), for Elephant and other Neo tools."""

from __future__ import annotations

import numpy as np

from ..params import POPULATIONS
from ..populations import population_offsets
from ..result import Result

__all__ = ["to_neo"]


def _import_neo():
    try:
        import neo
        import quantities
    except ImportError as exc:
        raise ImportError("to_neo needs the optional packages neo and quantities: "
                          "pip install snnreduce[neo]") from exc
    return neo, quantities


def to_neo(result: Result, population: str | None = None):
    """Network spikes as a :class:`neo.Segment` of one :class:`neo.SpikeTrain` per neuron.

    Every neuron gets a train, silent ones included, on ``[0, n_steps * dt]`` ms, in
    the order of ``spike_neurons`` (E ``0 .. n_e - 1`` then I). Each train is annotated
    with ``population`` ("E"/"I"), ``neuron`` (index within its population) and
    ``global_index``; the segment with the run's engine, seed, t_end, dt and
    parameters (JSON).

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
    if not isinstance(result, Result):
        raise ValueError(f"to_neo needs a Result, got {type(result).__name__}")
    if result.spike_times is None:
        raise ValueError(f"a {result.engine} result has no individual spikes; to_neo needs "
                         "a network result")
    populations = POPULATIONS if population is None else (population,)
    if any(p not in POPULATIONS for p in populations):
        raise ValueError(f"population must be 'E', 'I' or None, got {population!r}")
    t_stop = max(result.t_end, result.n_steps * result.dt)
    segment = neo.Segment(name=f"snnreduce {result.engine} seed {result.seed}",
                          engine=result.engine, seed=-1 if result.seed is None else int(result.seed),
                          t_end=float(result.t_end), dt=float(result.dt),
                          params=result.params.to_json())
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
