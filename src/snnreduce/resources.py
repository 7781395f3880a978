"""Memory a request needs, what the machine has, and refusals before any run starts.

Every model estimates from its parameters alone, without allocating, the bytes a run holds at
its peak (:func:`estimate_run`); a sweep or a comparison multiplies the largest run by the runs
that execute at once and adds what it keeps (:func:`estimate_sweep`, :func:`estimate_compare`).
:func:`require_memory` turns an estimate above :func:`available_memory` into one line of
:class:`~snnreduce.params.ParameterError` that names the parameters driving it. Requests that
cannot produce a statistic are refused too (:func:`require_statistics_window`,
:func:`require_below_nyquist`, :func:`require_runs`). The entry points call one ``check_*``
function each before their first run; ``check_memory=False`` (CLI ``--force``) skips the
memory part. The byte counts and the spike bound are derived in ``docs/resources.md``.

Pathway names are **post, pre** as everywhere (``p_ei``: an I spike reaches an E neuron).
"""

from __future__ import annotations

import math
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from ._resume import record_stride, sampled_rows
from .params import NetworkParams, ParameterError
from .result import RECORD_DIMS
from .stimulus import as_stimulus

__all__ = ["Part", "Estimate", "available_memory", "estimate_run", "spike_bound",
           "estimate_sweep", "estimate_compare", "require_memory", "require_disk",
           "require_statistics_window", "require_below_nyquist", "require_runs",
           "estimate_raster_files", "check_run", "check_sweep", "check_compare",
           "RECORD_ITEMSIZE", "STATISTICS_DISCARD_MS", "PEAK_DISTANCE_MS"]

_GIB = 2.0**30

#: Bytes per element of every record each engine can produce (dims: ``result.RECORD_DIMS``).
#: An engine missing a name cannot record it (the engine refuses it with its own message).
RECORD_ITEMSIZE: dict[str, dict[str, int]] = {
    "stepped": {"voltage": 4, "pending": 8, "refractory": 8},
    "markov": {"voltage": 4, "pending": 8, "refractory": 8},
    "surrogate": {"voltage": 4, "pending": 8, "pending_var": 8, "refractory": 8},
    "dsode": {"bin_count": 4, "bin_mean": 4, "pending": 8, "pending_var": 8, "refractory": 8,
              "bin_edges": 8},
    "fokker-planck": {"bin_count": 8, "bin_mean": 8, "pending": 8, "refractory": 8,
                      "bin_edges": 8},
    # NEST's multimeter keeps (time, sender, V_m) per sample, the adapter a float64 array
    "rdm": {"voltage": 8 + 24},
}

#: The transient every sweep statistic drops (the default of ``analysis.summarize``, which
#: ``sweep.point_statistics`` calls), ms.
STATISTICS_DISCARD_MS = 100.0
#: The least distance between the E-count peaks a sweep stores (``analysis.peak_sequence``), ms.
PEAK_DISTANCE_MS = 9.0

# Spike storage of the network engines: SpikeBuffer keeps (int64 step or float64 time, int32
# neuron) = 12 bytes a slot and doubles its capacity C when full; while it grows the old
# arrays (C), the padding (C) and the new arrays (2C) coexist, 48 bytes per stored spike at
# most, and at the end the buffer (<= 2n slots), its trimmed copy (12 n) and the float64
# spike times (8 n) stay below that too.
_SPIKE_PEAK_BYTES = 48
# A Result keeps float64 times and int32 neurons.
_SPIKE_RESULT_BYTES = 12
# Rough sizes for NEST (its own storage is not visible from Python): a recorded spike event
# (NEST's copy and the numpy arrays the adapter reads), a gif_psc_exp neuron, a synapse.
_NEST_EVENT_BYTES = 64
_NEST_NEURON_BYTES = 1024
_NEST_SYNAPSE_BYTES = 48
# A sweep keeps each run's statistics as Python floats (~32 bytes: object and pointer) until
# it assembles them into float64 arrays.
_PY_FLOAT_BYTES = 32


# ----------------------------------------------------------------------------- estimates
@dataclass(frozen=True)
class Part:
    """One piece of memory a request holds.

    Attributes
    ----------
    label : str
        What it holds, e.g. "network state", "voltage record".
    nbytes : float
        Its size, bytes.
    drivers : tuple of str
        The parameters it grows with (keys of :attr:`Estimate.values`), e.g. ``("n_e", "n_i")``.
    transient : bool
        True for the peak of a set-up phase that ends before the other parts are allocated
        (building a quenched adjacency): it counts alone, not added to the others.
    """

    label: str
    nbytes: float
    drivers: tuple[str, ...]
    transient: bool = False


@dataclass(frozen=True)
class Estimate:
    """The memory a request needs at its peak, by part.

    Attributes
    ----------
    what : str
        The request, e.g. "the stepped network", "the sweep".
    parts : tuple of Part
    values : dict
        Value of every driver named by the parts, for the message.
    """

    what: str
    parts: tuple[Part, ...] = ()
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def nbytes(self) -> float:
        """Peak bytes: the steady parts together, or the largest transient part alone."""
        steady = sum(p.nbytes for p in self.parts if not p.transient)
        return max([steady] + [p.nbytes for p in self.parts if p.transient])

    def part(self, label: str) -> float:
        """Bytes of the parts called ``label`` (0 if none)."""
        return sum(p.nbytes for p in self.parts if p.label == label)

    def refusal(self, available: float, where: str = "available") -> str:
        """One line: the drivers, the estimate by part, what is available and the escape."""
        parts = sorted(self.parts, key=lambda p: -p.nbytes)
        main = [p for p in parts if p.nbytes >= 0.1 * self.nbytes] or parts[:1]
        names = list(dict.fromkeys(d for p in main for d in p.drivers if d in self.values))
        lead = ", ".join(f"{n}={_show(self.values[n])}" for n in names) or self.what
        verb = "needs" if len(names) <= 1 else "need"
        shown = ", ".join(f"{p.label} {_size(p.nbytes)}" for p in parts[:3]
                          if p.nbytes >= 1e-3 * self.nbytes)
        lower = [n for n in names if n not in ("record", "dv")]
        actions = ([f"lower {'/'.join(lower)}"] if lower else []) + \
            (["raise dv"] if "dv" in names else []) + (["record less"] if "record" in names else [])
        return (f"{lead} {verb} about {_size(self.nbytes)} for {self.what} ({shown}) but "
                f"{_size(available)} {'are' if where == 'available' else 'is'} {where}; "
                f"{', '.join(actions) or 'ask for less'} or pass check_memory=False (--force)")


def _size(nbytes: float) -> str:
    if nbytes >= 0.1 * _GIB:
        return f"{nbytes / _GIB:.1f} GiB"
    return f"{nbytes / 2**20:.1f} MiB"


def _show(value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (tuple, list)):
        return ",".join(map(str, value))
    return str(value)


def available_memory() -> int | None:
    """Bytes the system can give a new allocation without swapping, or None if unknown.

    ``MemAvailable`` of ``/proc/meminfo`` (Linux), else the free physical pages of
    ``os.sysconf``.
    """
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


def _n_steps(params, t_end) -> int:
    from ._steps import n_steps_of

    return n_steps_of(float(t_end), params.dt)


def _populations(params) -> tuple[str, ...]:
    """The population sizes worth naming: those with at least a tenth of the neurons."""
    n = params.n_e + params.n_i
    return tuple(name for name, size in (("n_e", params.n_e), ("n_i", params.n_i))
                 if size >= 0.1 * n)


def spike_bound(params: NetworkParams, t_end: float, *, continuous_time: bool = False) -> int:
    """An upper bound on the expected number of spikes of a run, all neurons together.

    A neuron ignores its input while refractory, so successive spikes are at least one
    refractory period apart. In a time-stepped engine (``continuous_time=False``) a neuron
    that spikes is refractory for K step ends, K fixed (``round(tau_r / dt)``, at least 1) or
    geometric with mean ``1 / (1 - exp(-dt / tau_r))``, and its next spike comes K steps later
    at the earliest; the periods are independent of everything else, so the expected number
    of spikes in ``n_steps`` steps is at most ``n_steps / E[K] + 1`` per neuron (and never
    more than one per step). In continuous time (the markov engine) the refractory periods
    have mean ``tau_r``: at most ``t_end / tau_r + 1``; with ``tau_r = 0`` nothing bounds the
    count and one spike per neuron per ``dt`` is assumed.

    Returns
    -------
    int
        Bound on the expected spikes of the ``n_e + n_i`` neurons in ``[0, t_end)``.
    """
    from .network import refractory_rule

    n_steps = _n_steps(params, t_end)
    if continuous_time:
        per_neuron = float(t_end) / max(params.tau_r, params.dt) + 1.0
    else:
        fixed, p_exit, steps = refractory_rule(params)
        mean_k = steps if fixed else 1.0 / p_exit
        per_neuron = n_steps / mean_k + 1.0
    return int(math.ceil((params.n_e + params.n_i) * min(per_neuron, n_steps)))


def _option(options: dict, name: str, default):
    """A numeric option if it is a finite number, else ``default`` (the engine refuses
    anything else with its own message after the estimate)."""
    value = options.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) \
            or not math.isfinite(value):
        return default
    return float(value)


def _expected_synapses(params) -> float:
    """Expected edges of a quenched network: sum over pathways of P N_post (N_pre - same)."""
    sizes = {"e": params.n_e, "i": params.n_i}
    return sum(params.p(post + pre) * sizes[post] * (sizes[pre] - (post == pre))
               for post in "ei" for pre in "ei")


def _adjacency_parts(params, dense_max: int | None) -> list[Part]:
    """The quenched adjacency: CSR (int32 targets, int64 row pointers) and, up to
    ``dense_max`` neurons, the stepped engine's dense uint8 copy. Building it holds the
    int64 (pre, post) pair lists and degree tables besides the CSR (a transient peak)."""
    if params.connectivity != "quenched":
        return []
    n = params.n_e + params.n_i
    edges = _expected_synapses(params)
    dense = dense_max is not None and n <= dense_max and edges > 0
    steady = 4 * edges + 8 * (n + 1) + (n * n if dense else 0)
    build = 20 * edges + 32 * n
    if dense:  # np.repeat of the row index (int64 per edge) while filling the dense matrix
        build = max(build, steady + 8 * edges + 8 * n)
    drivers = _populations(params)
    return [Part("quenched adjacency", steady, drivers),
            Part("building the adjacency", build, drivers, transient=True)]


def _record_stride(params, options: dict) -> int:
    """Steps between two kept rows of the time-sampled records (``options["record_every"]``;
    1 when absent or refused: the engine refuses a bad value with its own message)."""
    try:
        return record_stride(options.get("record_every"), params.dt)
    except ParameterError:
        return 1


def _record_parts(engine: str, record: Iterable[str], params, n_steps: int,
                  n_bins: int = 0, options: dict | None = None) -> list[Part]:
    """One part per record: the product of its ``RECORD_DIMS`` sizes times its itemsize. The
    records are sampled every ``m`` steps with ``record_every`` (``n_steps // m`` rows of the
    "time" dimension; population counts and spikes, not records, are never sampled)."""
    itemsize = RECORD_ITEMSIZE.get(engine, {})
    sizes = {"time": sampled_rows(n_steps, _record_stride(params, options or {})),
             "neuron": params.n_e + params.n_i, "pathway": 4, "population": 2,
             "bin": n_bins, "bin_edge": n_bins + 1}
    record = tuple(record)
    if {"bin_count", "bin_mean"} & set(record) and "bin_edges" in itemsize:
        record += ("bin_edges",)  # added by the engines with the bin records
    drivers_of = {"time": ("t_end",), "neuron": _populations(params), "bin": ("dv",),
                  "bin_edge": ("dv",)}
    parts = []
    for name in dict.fromkeys(record):
        if name not in itemsize or name not in RECORD_DIMS:
            continue  # the engine refuses what it cannot record
        dims = RECORD_DIMS[name]
        count = math.prod(sizes[d] for d in dims)
        drivers = tuple(dict.fromkeys(d for dim in dims for d in drivers_of.get(dim, ())))
        parts.append(Part(f"{name} record", count * itemsize[name], drivers + ("record",)))
    return parts


def _values(params, t_end, record, **more) -> dict[str, Any]:
    values = {"n_e": params.n_e, "n_i": params.n_i, "t_end": float(t_end)}
    if record:
        values["record"] = tuple(record)
    values.update(more)
    return values


def _stepped_tables(params) -> float:
    """Bytes the stepped engine's consumption-law tables keep during the run.

    ``stepped._consumption_tables``: mode, pmf and CDF (3 x 8 bytes) of 4 pathway rows for
    every pending count below ``cap`` (4 times the pending kicks of a 100 Hz network, within
    [4096, 65536]); ``stepped._window_tables``: a CDF window (16 doubles and its start, 17 x 8
    bytes) per count whose consumption mean stays below WINDOW_MAX_MEAN. The temporaries of
    building them (about as much again) are gone before the counts, records and spikes are
    allocated, and are not counted.
    """
    from .network.stepped import WINDOW, WINDOW_MAX_MEAN

    taus = [params.tau(pw) for pw in ("ee", "ei", "ie", "ii")]
    pending = [params.p(pw) * n * tau * 0.1 for pw, n, tau in
               zip(("ee", "ei", "ie", "ii"), (params.n_e, params.n_i) * 2, taus)]
    cap = int(min(1 << 16, max(4096, 4 * max(pending))))
    windows = sum(min(cap, int(WINDOW_MAX_MEAN * tau / params.dt) + 1) for tau in taus)
    return 4 * 24 * cap + 8 * (WINDOW + 2) * windows


def _stepped(params, t_end, record, options):
    from .network.stepped import DENSE_MAX_N, GUIDE_RUN

    n, big = params.n_e + params.n_i, max(params.n_e, params.n_i)
    n_steps = _n_steps(params, t_end)
    # per neuron: initial and aligned voltages (2 x 8), pending and consumed kicks from E and
    # from I (4 x 8), refractory counter and scratch (2 x 8); quenched: the two increments
    # (2 x 8), annealed: the binomial CDF and guide tables (4 rows of int64 + float64 each)
    state = 64 * n + (16 * n if params.connectivity == "quenched" else 64 * (big + 1 + GUIDE_RUN))
    return [Part("network state", state, _populations(params)),
            Part("lookup tables", _stepped_tables(params), _populations(params)),
            Part("population counts", 16 * n_steps, ("t_end",)),
            Part("spike storage (bound)", _SPIKE_PEAK_BYTES * spike_bound(params, t_end),
                 (*_populations(params), "t_end")),
            *_adjacency_parts(params, DENSE_MAX_N),
            *_record_parts("stepped", record, params, n_steps, 0, options)]


def _markov(params, t_end, record, options):
    n, big = params.n_e + params.n_i, max(params.n_e, params.n_i)
    n_steps = _n_steps(params, t_end)
    # per neuron: voltage, last update time, pending from E and I, permutation and slot,
    # refractory flag, event queue (time, neuron): 9 x 8 bytes; four Fenwick trees over the
    # larger population; a leak tree with integer voltages and leak
    state = 72 * n + 32 * (big + 1)
    if options.get("voltage") == "integer" and params.tau_m > 0:
        state += 8 * (n + 1)
    return [Part("network state", state, _populations(params)),
            Part("population counts", 16 * n_steps, ("t_end",)),
            Part("spike storage (bound)",
                 _SPIKE_PEAK_BYTES * spike_bound(params, t_end, continuous_time=True),
                 (*_populations(params), "t_end")),
            *_adjacency_parts(params, None),
            *_record_parts("markov", record, params, n_steps, 0, options)]


def _surrogate(params, t_end, record, options):
    n = params.n_e + params.n_i
    n_steps = _n_steps(params, t_end)
    return [Part("network state", 16 * n, _populations(params)),  # voltage, refractory counter
            Part("population counts", 16 * n_steps, ("t_end",)),
            Part("spike storage (bound)", _SPIKE_PEAK_BYTES * spike_bound(params, t_end),
                 (*_populations(params), "t_end")),
            *_record_parts("surrogate", record, params, n_steps, 0, options)]


def _dsode_bins(params, options) -> int:
    """Bins of ``dsode.transport.bin_edges`` (counted, not built: a tiny dv is the point)."""
    dv = _option(options, "dv", 4.0)
    v_low = _option(options, "v_low", -40.0)
    if dv <= 0 or v_low >= 0:
        return 0  # refused by the engine
    return int(math.ceil((params.threshold - v_low) / dv - 1e-9))


def _dsode(params, t_end, record, options):
    n_bins = _dsode_bins(params, options)
    n_steps = _n_steps(params, t_end)
    # both populations' counts and mean voltages (4 per bin) and the transport kernel's
    # workspace (23 float64 or int64 per bin): 27 x 8 bytes per bin
    parts = [Part("dsODE bins and workspace", 27 * 8 * n_bins, ("dv",)),
             Part("population counts", 16 * n_steps, ("t_end",)),
             *_record_parts("dsode", record, params, n_steps, n_bins, options)]
    if options.get("noise") == "finite-size" and params.initial_state == "uniform":
        # the initial state bins N_Q sampled voltages, one population at a time: the float64
        # voltages and two float64/int64 temporaries of the bin index, before the run starts
        sample = 24 * max(params.n_e, params.n_i)
        parts.append(Part("sampling the initial state", sample, _populations(params),
                          transient=True))
    return parts


def _fokker_planck(params, t_end, record, options):
    from .baselines.fokker_planck import RUN_ARGUMENTS, check_options

    try:
        # the run contract's keywords are not the solver's options
        own = {k: v for k, v in options.items() if k not in RUN_ARGUMENTS}
        n_cells = check_options(params, own)["n_cells"]
    except ParameterError:
        n_cells = 0  # the solver refuses these options itself, with or without the check
    n_steps = _n_steps(params, t_end)
    # masses (2 per cell), faces and centres, tridiagonal bands and solver work: 11 x 8 bytes
    return [Part("Fokker-Planck grid", 88 * n_cells, ("dv",)),
            Part("population counts", 16 * n_steps, ("t_end",)),
            *_record_parts("fokker-planck", record, params, n_steps, n_cells, options)]


def _rdm(params, t_end, record, options):
    n_steps = _n_steps(params, t_end)
    events = _NEST_EVENT_BYTES * spike_bound(params, t_end, continuous_time=True)
    parts = [Part("population counts", 16 * n_steps, ("t_end",)),
             Part("NEST spike events (rough)", events, (*_populations(params), "t_end"))]
    if options.get("level") == "micro":
        n = params.n_e + params.n_i
        network = _NEST_NEURON_BYTES * n + _NEST_SYNAPSE_BYTES * _expected_synapses(params)
        parts.append(Part("NEST GIF network (rough)", network, _populations(params)))
        parts += _record_parts("rdm", record, params, n_steps, 0, options)
    return parts


def _stimulus_parts(engine: str, stimulus, params, t_end) -> tuple[Part, ...]:
    """The per-step table of a time-varying stimulus (``stimulus.external_drive``): the
    (n_steps, 2) float64 means, or the event-driven engine's (n_steps, 4) lower and upper
    bounds; nothing for no stimulus or a constant one (folded into the parameters). A
    stimulus the api would refuse counts as none (it is refused with its own message)."""
    try:
        stimulus = as_stimulus(stimulus)
    except ParameterError:
        return ()
    if stimulus is None or stimulus.is_constant():
        return ()
    columns = 4 if engine == "markov" else 2
    return (Part("stimulus per-step rates", 8 * columns * _n_steps(params, t_end),
                 ("t_end",)),)


_ESTIMATORS = {"stepped": _stepped, "markov": _markov, "surrogate": _surrogate,
               "dsode": _dsode, "fokker-planck": _fokker_planck, "rdm": _rdm}
_WHAT = {"stepped": "the stepped network", "markov": "the event-driven network",
         "surrogate": "the Markov surrogate", "dsode": "the dsODE",
         "fokker-planck": "the Fokker-Planck solver", "rdm": "the refractory-density model"}


def estimate_run(params: NetworkParams, engine: str, *, t_end: float, record=(),
                 options: dict | None = None, stimulus=None) -> Estimate:
    """The peak memory of one run, by part, from its parameters (nothing is allocated).

    Parameters
    ----------
    params : NetworkParams
        The network (pathways post-pre).
    engine : {"stepped", "markov", "surrogate", "dsode", "fokker-planck", "rdm"}
        The engine of :func:`snnreduce.simulate`, or "dsode" for :func:`snnreduce.reduce`.
    t_end : float
        Simulated time, ms.
    record : iterable of str
        Recordings (names of ``result.RECORD_DIMS``).
    options : dict, optional
        Engine options (``dv``/``v_low`` of the dsODE and the Fokker-Planck solver,
        ``voltage`` of markov, ``level`` of rdm, ...); for the dsODE also ``noise``, the
        argument of :func:`snnreduce.reduce`. ``record_every`` samples the records;
        ``stimulus`` here is read when the keyword is not given.
    stimulus : Stimulus, grammar text, dict or None
        The run's stimulus: a time-varying one adds its per-step table.

    Returns
    -------
    Estimate
        Parts: the engine's state, the population counts (n_steps x 2 x 8 bytes), the spike
        storage bound (:func:`spike_bound`, 48 bytes a spike), a quenched adjacency, the
        voltage grid of the dsODE / Fokker-Planck solver, every record over ``t_end``
        (``n_steps // m`` rows with ``record_every = m dt``), and a time-varying stimulus'
        per-step rates (16 bytes a step; the event-driven engine's bounds, 32).
    """
    record = (record,) if isinstance(record, str) else tuple(record or ())
    options = dict(options or {})
    if stimulus is None:
        stimulus = options.pop("stimulus", None)
    estimator = _ESTIMATORS.get(engine)
    parts = () if estimator is None else tuple(estimator(params, t_end, record, options))
    if estimator is not None:
        parts += _stimulus_parts(engine, stimulus, params, t_end)
    dv = options.get("dv", 4.0 if engine == "dsode" else params.threshold / 200)
    return Estimate(_WHAT.get(engine, engine), parts, _values(params, t_end, record, dv=dv))


# ------------------------------------------------------------------------------- refusals
def require_memory(estimate: Estimate, available: float | None = None) -> None:
    """Raise ParameterError (one line) if ``estimate`` exceeds the available memory.

    ``available`` defaults to :func:`available_memory`; nothing is checked when it is unknown.
    """
    if available is None:
        available = available_memory()
    if available is not None and estimate.nbytes > available:
        raise ParameterError(estimate.refusal(available))


def require_disk(estimate: Estimate, directory) -> None:
    """Raise ParameterError (one line) if ``estimate`` exceeds the free space of ``directory``."""
    free = shutil.disk_usage(_existing_parent(Path(directory))).free
    if estimate.nbytes > free:
        raise ParameterError(estimate.refusal(free, where=f"free in {directory}"))


def _existing_parent(path: Path) -> Path:
    path = path.resolve()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def require_statistics_window(t_end: float, dt: float, discard: float) -> None:
    """Refuse a run too short to leave data after the discarded transient.

    The statistics drop the steps starting before ``discard`` ms
    (:func:`snnreduce.analysis.discard_steps`); at least one of the
    ``ceil(t_end / dt)`` steps must remain.
    """
    from ._steps import n_steps_of
    from .analysis import discard_steps
    from .validation import check_number

    check_number("t_end", t_end, lambda x: 0 < x < 1e9, "a number of ms in (0, 1e9)")
    check_number("discard", discard, lambda x: x >= 0, "a number of ms >= 0")
    try:
        discard_steps(discard, dt, n_steps_of(float(t_end), dt))
    except ValueError:
        raise ParameterError(
            f"t_end={t_end:g} ms is not longer than the discarded transient (discard={discard:g} "
            f"ms), so no statistic can be computed; use t_end > {discard:g} ms") from None


def require_below_nyquist(frequency_hz: float, dt: float, *, name: str = "frequency",
                          duration_ms: float | None = None) -> float:
    """Check a stimulus/response frequency (Hz) against what steps of ``dt`` ms can resolve.

    It must lie in ``(0, 500 / dt)`` Hz, below the Nyquist limit ``1 / (2 dt)`` of the
    population count sampled every ``dt`` ms; with ``duration_ms`` (the analysed time) at
    least one period must fit, ``frequency_hz >= 1000 / duration_ms``.

    Returns
    -------
    float
        The frequency, Hz.
    """
    nyquist = 500.0 / dt
    if isinstance(frequency_hz, bool) or not isinstance(frequency_hz, (int, float, np.number)) \
            or not math.isfinite(frequency_hz) or not 0 < frequency_hz < nyquist:
        raise ParameterError(f"{name} must be in (0, {nyquist:g}) Hz, below the Nyquist limit "
                             f"1/(2 dt) of dt={dt:g} ms; got {frequency_hz!r}")
    if duration_ms is not None and frequency_hz * duration_ms < 1000.0:
        raise ParameterError(f"{name}={frequency_hz:g} Hz needs at least one period "
                             f"({1000.0 / frequency_hz:g} ms) of analysed data; got "
                             f"{duration_ms:g} ms")
    return float(frequency_hz)


def require_runs(n_runs: int, what: str = "the grid") -> None:
    """Refuse a request with nothing to run (e.g. a grid left empty by filtering)."""
    if n_runs < 1:
        raise ParameterError(f"{what} has no points left to run (empty after filtering); "
                             "give at least one value per parameter")


def _flag(value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ParameterError(f"check_memory must be True or False, got {value!r}")
    return bool(value)


# ----------------------------------------------------------------------- entry-point hooks
def check_run(params: NetworkParams, engine: str, *, t_end: float, record=(),
              options: dict | None = None, check_memory: bool = True, stimulus=None) -> None:
    """The hook of :func:`snnreduce.simulate` / :func:`snnreduce.reduce` (engine "dsode"):
    refuse a run whose estimate exceeds the available memory, unless ``check_memory`` is
    False."""
    if _flag(check_memory):
        require_memory(estimate_run(params, engine, t_end=t_end, record=record, options=options,
                                    stimulus=stimulus))


def _engine_and_options(model: str, options: dict) -> tuple[str, dict]:
    from . import models

    entry = models.get(model)
    return entry.engine, {**entry.fixed, **options}


def _run_estimate(params, model, t_end, options) -> Estimate:
    engine, options = _engine_and_options(model, options)
    record = options.pop("record", ())
    for name in ("check_memory", "progress"):
        options.pop(name, None)
    return estimate_run(params, engine, t_end=t_end, record=record, options=options)


def _result_bytes(estimate: Estimate, drop=()) -> float:
    """What the Result of an estimated run keeps: its counts, its records but those in
    ``drop``, and 12 bytes a spike at the bound."""
    kept = sum(p.nbytes for p in estimate.parts if p.label == "population counts"
               or (p.label.endswith(" record") and p.label[:-len(" record")] not in drop))
    return kept + estimate.part("spike storage (bound)") / _SPIKE_PEAK_BYTES * _SPIKE_RESULT_BYTES


def _largest(points: Sequence[NetworkParams], model, t_end, options) -> Estimate:
    return max((_run_estimate(p, model, t_end, options) for p in points), key=lambda e: e.nbytes)


def _local_workers(n_jobs) -> int:
    """Processes a local joblib pool starts for ``n_jobs`` (a bad value counts as 1: the
    executor refuses it with its own message)."""
    if n_jobs is None or n_jobs == -1:
        import joblib

        return int(joblib.cpu_count())
    if isinstance(n_jobs, (int, np.integer)) and not isinstance(n_jobs, bool) and n_jobs >= 1:
        return int(n_jobs)
    return 1


def estimate_sweep(points: Sequence[NetworkParams], models: Sequence[str], *, seeds: int,
                   t_end: float, model_options: dict | None = None, workers: int | None = 1,
                   discard: float = STATISTICS_DISCARD_MS,
                   dsode_batch: tuple[int, int] = (64, 2)) -> Estimate:
    """The peak memory of a sweep in its own machine.

    ``workers`` runs execute at once (None: they run elsewhere, e.g. a remote dask cluster),
    each as large as the largest point of its model; the deterministic dsODE points are
    advanced in batches of up to ``min(chunk_max, points_per_thread * workers)`` in the
    sweep's own process, ``dsode_batch = (chunk_max, points_per_thread)`` (the sweep passes
    its own ``DSODE_CHUNK_MAX`` and ``DSODE_POINTS_PER_THREAD``; the default is theirs). Besides,
    the sweep keeps every run's statistics and its E-peak sequence (at most one peak per
    ``PEAK_DISTANCE_MS`` of the analysed time): as Python floats until the end, then in the
    assembled float64 Dataset.
    """
    from . import models as registry

    chunk_max, points_per_thread = dsode_batch
    model_options = model_options or {}
    n_points = len(points)
    runs = sum(n_points * (1 if registry.get(m).deterministic else seeds) for m in models)
    values = {"grid": f"{n_points} points", "seeds": seeds, "t_end": float(t_end)}
    parts = []
    if workers is not None and points:
        values["jobs"] = workers
        batch, other = None, None
        for model in models:
            largest = _largest(points, model, t_end, model_options.get(model, {}))
            values.update({k: v for k, v in largest.values.items() if k not in values})
            if model == "dsode":
                size = min(chunk_max, points_per_thread * workers, n_points)
                batch = max(batch or 0, size * largest.nbytes)
            else:
                n = n_points * (1 if registry.get(model).deterministic else seeds)
                other = max(other or 0, min(workers, n) * largest.nbytes)
        size = values.get("n_e", 0) + values.get("n_i", 0)
        drivers = ("jobs", "t_end") + tuple(d for d in ("n_e", "n_i")
                                            if d in values and values[d] >= 0.1 * size)
        # the dsODE batches run before the worker pool starts: the larger phase counts
        parts.append(Part("runs at once", max(batch or 0, other or 0), drivers))
    n_peak = math.floor(max(0.0, t_end - discard) / PEAK_DISTANCE_MS) + 1
    per_run = 14 + 2 * n_peak  # 7 statistics x 2 populations, peak times and heights
    stored = runs * per_run * _PY_FLOAT_BYTES
    stored += n_points * len(models) * seeds * per_run * 8
    parts.append(Part("stored statistics", stored, ("grid", "seeds", "t_end")))
    return Estimate("the sweep", tuple(parts), values)


def estimate_raster_files(points: Sequence[NetworkParams], models: Sequence[str], *,
                          seeds: int, t_end: float, model_options: dict | None = None) -> Estimate:
    """Disk space of a sweep's ``store_raster`` files: every run's counts, spikes (at the
    :func:`spike_bound`, 12 bytes each) and records."""
    from . import models as registry

    model_options = model_options or {}
    total = 0.0
    for model in models:
        copies = 1 if registry.get(model).deterministic else seeds
        for params in points:
            est = _run_estimate(params, model, t_end, model_options.get(model, {}))
            total += copies * _result_bytes(est)
    values = {"grid": f"{len(points)} points", "seeds": seeds, "t_end": float(t_end)}
    return Estimate("store_raster files", (Part("stored results", total,
                                                ("grid", "seeds", "t_end")),), values)


def check_sweep(points: Sequence[NetworkParams], models: Sequence[str], *, seeds: int,
                t_end: float, model_options: dict | None, backend: str, n_jobs, scheduler,
                store_raster: bool, out, default_evaluator: bool = True,
                check_memory: bool = True, dsode_batch: tuple[int, int] = (64, 2)) -> None:
    """The hook of :func:`snnreduce.sweep`, before any run: refuse an empty grid, and
    unless ``check_memory`` is False a sweep above the available memory or ``store_raster``
    files above the free disk space. With the default evaluator (``sweep.evaluate_point``:
    model runs summarised after a 100 ms transient) also a ``t_end`` that leaves no data
    after the transient at some point's ``dt``; a custom evaluator's runs and statistics are
    its own, and only what the sweep stores is estimated for it."""
    require_runs(len(points))
    if default_evaluator:
        for dt in sorted({p.dt for p in points}):
            require_statistics_window(t_end, dt, STATISTICS_DISCARD_MS)
    if not _flag(check_memory):
        return
    remote = backend == "dask" and scheduler is not None
    workers = None if remote or not default_evaluator else 1 if backend == "serial" \
        else _local_workers(n_jobs)
    require_memory(estimate_sweep(points, models, seeds=seeds, t_end=t_end,
                                  model_options=model_options, workers=workers,
                                  dsode_batch=dsode_batch))
    if store_raster and out is not None and default_evaluator:
        require_disk(estimate_raster_files(points, models, seeds=seeds, t_end=t_end,
                                           model_options=model_options), Path(out).parent)


def estimate_compare(params: NetworkParams, runs: Sequence[tuple[str, Any]], *, t_end: float,
                     records: dict[str, tuple], options: dict[str, dict] | None = None,
                     workers: int = 1) -> Estimate:
    """The peak memory of :func:`snnreduce.compare.compare`.

    ``runs`` are its (model, seed) jobs, ``records`` what each model records. Up to
    ``workers`` runs execute at once, each as large as the largest; the comparison keeps
    every run's counts, spikes and records except the per-neuron voltages.
    """
    options = options or {}
    estimates = [_run_estimate(params, model, t_end,
                               {**options.get(model, {}), "record": records.get(model, ())})
                 for model, _ in runs]
    if not estimates:
        return Estimate("the comparison")
    largest = max(estimates, key=lambda e: e.nbytes)
    at_once = min(workers, len(runs))
    kept = sum(_result_bytes(est, drop=("voltage",)) for est in estimates)
    values = {**largest.values, "seeds": len({s for _, s in runs if s is not None}) or 1,
              "jobs": at_once}
    neurons = _populations(params)
    parts = (Part("runs at once", at_once * largest.nbytes, ("jobs", *neurons, "t_end")),
             Part("kept results", kept, ("seeds", *neurons, "t_end")))
    return Estimate("the comparison", parts, values)


def check_compare(params: NetworkParams, runs: Sequence[tuple[str, Any]], *, t_end: float,
                  discard: float, records: dict[str, tuple], options: dict[str, dict] | None,
                  n_jobs, check_memory: bool = True) -> None:
    """The hook of :func:`snnreduce.compare.compare`, before any run: refuse ``t_end`` not
    longer than ``discard`` and, unless ``check_memory`` is False, a comparison above the
    available memory."""
    require_runs(len(runs), "the comparison")
    require_statistics_window(t_end, params.dt, discard)
    if _flag(check_memory):
        require_memory(estimate_compare(params, runs, t_end=t_end, records=records,
                                        options=options, workers=_local_workers(n_jobs)))
