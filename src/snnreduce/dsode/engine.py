"""Running the reduced system: :func:`run` (one parameter set) and :func:`run_batch` (many)."""

from __future__ import annotations

import math

import numpy as np

from .._resume import grid_of, record_stride, rng_from_text, sampled_rows
from .._steps import progress_bar
from .._steps import n_steps_of as _n_steps
from .._threads import prefer_workqueue
from ..params import NetworkParams, ParameterError
from ..stimulus import external_drive
from ..validation import Interval, check_choice, check_flag, check_record, check_unknown
from . import kernel as K
from .moments import (CONDITIONAL_CLOSURES, DEFAULT_CLOSURE, DEVIATION_CLOSURES,
                      LINEAR_LAW_CLOSURES, POP_LAMBDA, check_closure, pathway_table,
                      population_table)
from .snapshot import DsodeState, final_state, start_state
from .transport import bin_edges

__all__ = ["run", "run_batch", "DSODE_RECORDS", "REFRACTORY_RULES", "MOMENT_INTEGRATORS"]

#: Records the reduced system can produce (see ``snnreduce.result.RECORD_DIMS``).
DSODE_RECORDS = ("bin_count", "bin_mean", "pending", "pending_var", "refractory")
REFRACTORY_RULES = ("exponential", "paper")
MOMENT_INTEGRATORS = ("exact", "euler")
NOISES = (None, "finite-size")
_CHUNK_STEPS = 2000  # steps per kernel call when a progress bar is shown
# dtype of the bin records (float32 halves their memory; tests switch to float64 to check
# the mass invariant to round-off)
_BIN_RECORD_DTYPE = np.float32


def _check_record(record):
    return check_record(record, DSODE_RECORDS, "the dsODE")


#: The reduction's numeric options and their allowed values.
_DV = Interval(0, closed="neither", units="bin width")
_V_LOW = Interval(high=0, closed="neither", units="a voltage; bins must hold the reset 0")
_TRUNCATE_SD = Interval(1, units="standard deviations")
_T_START = Interval(0, units="ms")


class _Setup:
    """Validated options, constant tables and the initial state of one parameter set."""

    def __init__(self, params, *, dv, v_low, refractory_rule, moment_integrator, truncate_sd,
                 noise, pending_noise, rate_lag, closure):
        if not isinstance(params, NetworkParams):
            raise ParameterError(f"params must be a NetworkParams, got {type(params).__name__}")
        m = params.threshold
        dv = _DV.check("dv", dv)
        v_low = _V_LOW.check("v_low", v_low)
        if (m - v_low) / dv > 100_000:
            raise ParameterError(f"dv must give at most 100000 bins, got {(m - v_low) / dv:.0f}")
        truncate_sd = _TRUNCATE_SD.check("truncate_sd", truncate_sd)
        check_choice("refractory_rule", refractory_rule, REFRACTORY_RULES)
        check_choice("moment_integrator", moment_integrator, MOMENT_INTEGRATORS)
        check_closure(closure)
        check_choice("noise", noise, NOISES)
        check_flag("pending_noise", pending_noise)
        if isinstance(rate_lag, (bool, np.bool_)) or rate_lag not in (0, 1):
            raise ParameterError(f"rate_lag must be 0 or 1 (steps), got {rate_lag!r}")
        self.params = params
        self.edges = bin_edges(m, dv, v_low)
        n_bins = self.edges.size - 1
        dt = params.dt
        if refractory_rule == "paper":
            ref_mode, ref_steps = K.REF_PAPER, 1
        elif params.refractory == "fixed":
            ref_mode, ref_steps = K.REF_FIXED, max(1, round(params.tau_r / dt))
        else:
            ref_mode, ref_steps = K.REF_EXPONENTIAL, 1
        p_exit = 1.0 if params.tau_r == 0 else -math.expm1(-dt / params.tau_r)
        self.fc = np.zeros(K.N_FC)
        self.fc[K.FC_DT] = dt
        self.fc[K.FC_E0] = self.edges[0]
        self.fc[K.FC_DV] = dv
        self.fc[K.FC_TRUNC] = truncate_sd
        self.fc[K.FC_TAU_R] = params.tau_r
        self.fc[K.FC_P_EXIT] = p_exit
        self.ic = np.zeros(K.N_IC, dtype=np.int64)
        self.ic[K.IC_BINS] = n_bins
        self.ic[K.IC_REF_MODE] = ref_mode
        self.ic[K.IC_REF_STEPS] = ref_steps
        self.ic[K.IC_EULER] = moment_integrator == "euler"
        self.ic[K.IC_NOISE] = noise == "finite-size"
        self.ic[K.IC_PENDING_NOISE] = bool(pending_noise)
        self.ic[K.IC_RATE_LAG] = int(rate_lag)
        self.ic[K.IC_COLORED] = closure in DEVIATION_CLOSURES
        self.ic[K.IC_LINEAR] = closure in LINEAR_LAW_CLOSURES
        self.ic[K.IC_CONDITIONAL] = closure in CONDITIONAL_CLOSURES
        self.pop = population_table(params)
        self.pw = pathway_table(params, closure)
        self.n_pop, self.n_pw = self.pop.shape[0], self.pw.shape[0]
        self.senders = K.sender_kinds(self.pw)  # the kernel is compiled for their number
        self.options = {
            "dv": dv, "v_low": float(self.edges[0]), "n_bins": int(n_bins),
            "refractory_rule": refractory_rule,
            "refractory": "paper" if ref_mode == K.REF_PAPER else params.refractory,
            "moment_integrator": moment_integrator, "truncate_sd": truncate_sd,
            "noise": "none" if noise is None else noise,
            "pending_noise": bool(pending_noise) and noise is not None,
            "rate_lag": int(rate_lag), "closure": closure,
            "lower_boundary": "sticky at v_low", "initial_state": params.initial_state,
        }

    def initial_state(self, n_bins=None, rng=None):
        """Arrays (n, vm, refr, line, h, var, last, eta, eta_r); bins padded to ``n_bins``
        if given (``eta``: closure "ou" deviations, all 0 at the start like the pending kicks).

        With ``rng`` (finite-size runs) the "uniform" state is a sample: N_Q voltages drawn
        uniformly on [0, M), binned, so that every bin holds whole neurons.
        """
        edges = self.edges
        k = edges.size - 1
        kk = k if n_bins is None else n_bins
        n_pop, n_pw = self.n_pop, self.n_pw
        senders = n_pop  # the deviations are indexed by sender (pre) population
        n = np.zeros((n_pop, kk))
        vm = np.zeros((n_pop, kk))
        vm[:, :k] = 0.5 * (edges[:-1] + edges[1:])
        for q, size in enumerate(self.params.n):
            if self.params.initial_state == "rest":
                j = min(max(int(math.floor((0.0 - edges[0]) / (edges[1] - edges[0]))), 0), k - 1)
                n[q, j] = size
                vm[q, j] = 0.0
            elif rng is not None:
                v = rng.uniform(0.0, self.params.threshold, size)
                j = np.clip(((v - edges[0]) // (edges[1] - edges[0])).astype(np.int64), 0, k - 1)
                n[q, :k] = np.bincount(j, minlength=k)
                sums = np.bincount(j, weights=v, minlength=k)
                vm[q, :k] = np.where(n[q, :k] > 0, sums / np.maximum(n[q, :k], 1), vm[q, :k])
            else:  # uniform on [0, M): each bin gets its share of the overlap, at its midpoint
                m = self.params.threshold
                lo = np.clip(edges[:-1], 0.0, m)
                hi = np.clip(edges[1:], 0.0, m)
                share = (hi - lo) / m
                n[q, :k] = size * share
                vm[q, :k] = np.where(share > 0, 0.5 * (lo + hi), vm[q, :k])
        refr = np.zeros(n_pop)
        line = np.zeros((n_pop, int(self.ic[K.IC_REF_STEPS])))
        return (n, vm, refr, line, np.zeros(n_pw), np.zeros(n_pw), np.zeros(n_pop),
                np.zeros((n_pop, senders, kk)), np.zeros((n_pop, senders, line.shape[1])))


def _start(setup, initial_state, *, noise, rng, t_start):
    """``(state, rng, kind)`` a run of ``setup`` starts from (:func:`snapshot.start_state`);
    a final_state's saved stream replaces ``rng`` of a finite-size run."""
    params = setup.params
    state, rng_text, kind = start_state(
        initial_state, n_bins=int(setup.ic[K.IC_BINS]), line_steps=int(setup.ic[K.IC_REF_STEPS]),
        sizes=params.n, edges=setup.edges, t_start=t_start, dt=params.dt,
        n_pathways=setup.n_pw,
        default=lambda: setup.initial_state(rng=rng if noise is not None else None))
    if noise is not None and rng_text is not None:
        rng = rng_from_text(rng_text)
    return state, rng, params.initial_state if kind == "params" else kind


def _record_arrays(record, n_steps, n_bins, lead=(), n_pop=2, n_pw=4):
    def arr(name, shape, dtype):
        return np.zeros(lead + ((n_steps,) + shape if name in record else (0,) + shape), dtype)

    if "bin_count" in record and "bin_mean" in record:
        # one allocation for both (each half is C-contiguous): with two, every run of
        # the reference preset took ~1300 fresh pages from the system (the allocator
        # gave the freed pair back), ~2 ms of page faults per biological second.
        both = np.zeros((2,) + lead + (n_steps, n_pop, n_bins), _BIN_RECORD_DTYPE)
        bins = (both[0], both[1])
    else:
        bins = (arr("bin_count", (n_pop, n_bins), _BIN_RECORD_DTYPE),
                arr("bin_mean", (n_pop, n_bins), _BIN_RECORD_DTYPE))
    return bins + (arr("pending", (n_pw,), np.float64), arr("pending_var", (n_pw,), np.float64),
                   arr("refractory", (n_pop,), np.float64))


def _collect(record, recs, edges, n_bins, done):
    names = ("bin_count", "bin_mean", "pending", "pending_var", "refractory")
    out = {}
    for name, values in zip(names, recs):
        if name in record:
            values = values[:done]
            if name.startswith("bin_"):
                values = values[:, :, :n_bins]
            out[name] = values
    if "bin_count" in record or "bin_mean" in record:
        out["bin_edges"] = edges.copy()
    return out


def _status(done, n_steps, dt, t_start=0.0):
    if done == n_steps:
        return "ok"
    return f"diverged: non-finite state at t = {t_start + done * dt:g} ms"


def run(params: NetworkParams, *, t_end: float, noise: str | None = None,
        rng: np.random.Generator | None = None, record=(), progress: bool = False,
        dv: float = 4.0, v_low: float = -40.0, refractory_rule: str = "exponential",
        moment_integrator: str = "exact", truncate_sd: float = 8.0,
        pending_noise: bool = True, rate_lag: int = 0, closure: str = DEFAULT_CLOSURE,
        stimulus=None, t_start: float = 0.0, initial_state=None, record_every=None,
        **unknown) -> dict:
    """Run the reduced system (dsODE) of ``params``; usually called via :func:`snnreduce.reduce`.

    Parameters
    ----------
    params : NetworkParams
        The network to reduce (pathways post-pre: ``s_ei`` is the kick an I spike gives an E
        neuron).
    t_end : float
        Simulated time, ms; ``ceil(t_end / dt)`` steps.
    noise : {None, "finite-size"}
        None: the deterministic dsODE. ``"finite-size"``: the redistribution of each bin is a
        multinomial sample for the (integer part of the) neurons it holds, the exponential
        refractory exit a binomial one, and the moments are driven by the sampled spike
        counts (plus, with ``pending_noise``, binomial noise of pending-kick arrivals and
        consumption). Needs ``rng``.
    rng : numpy.random.Generator, optional
        Random stream of the finite-size variant (unused when deterministic).
    record : iterable of str
        Any of ``"bin_count"``, ``"bin_mean"`` (per step, population and bin, float32;
        empty bins have mean = bin centre), ``"pending"`` (total pending kicks per pathway,
        ``h * N_post``), ``"pending_var"`` (variance across neurons, σ²), ``"refractory"``
        (refractory pool R). ``bin_edges`` is added when bin records are asked for.
    progress : bool
        Show a progress bar.
    dv : float
        Bin width (default 4).
    v_low : float
        Lowest bin edge (< 0; default -40). Bins run from ``v_low`` to the threshold M; if
        ``M - v_low`` is not a multiple of ``dv``, ``v_low`` is moved down to the next one.
        Mass pushed below it stays in the lowest bin at voltage ``v_low``.
    refractory_rule : {"exponential", "paper"}
        ``"exponential"``: the network's own rule — a refractory pool that every step end
        loses ``(R + F)(1 - exp(-dt/τ_R))`` (fired neurons included), or, if
        ``params.refractory == "fixed"``, a delay line of ``round(τ_R/dt)`` step ends.
        ``"paper"``: the rule of the paper authors' code, ``R <- R + F`` then
        ``leave = |(-R/τ_R + F) dt|`` (clipped to ``[0, R]``), F in neurons per step.
        Leavers re-enter the bin holding V = 0 at voltage 0.
    moment_integrator : {"exact", "euler"}
        Exact exponential integration of the moment ODEs with the step's rate held constant,
        or explicit Euler.
    truncate_sd : float
        Destinations beyond this many standard deviations of the input are skipped; their
        mass goes to the nearest evaluated bin (default 8).
    pending_noise : bool
        Finite-size only: add the binomial noise of pending-kick arrivals and consumption
        to ``h`` (default True).
    rate_lag : {0, 1}
        Steps between a step's spikes and the moment update they drive. 0 (default) is the
        network's order: spikes of step i change the input of step i + 1. 1 reproduces the
        paper authors' code, whose moments see the spikes one step later (with
        ``refractory_rule="paper"`` and ``moment_integrator="euler"`` it gives their
        E ≈ 44 Hz, I ≈ 61 Hz on the reference set).
    closure : {"paper", "diffusion", "ou", "ou-cond", "ou-cond-linear"}
        How the across-neuron spread σ² of the pending kicks enters the input
        (:mod:`snnreduce.dsode.moments`, docs/dsode.md §1): ``"ou"`` carries, per
        bin, the mean deviation of its neurons' pending kicks from the population mean (an
        Ornstein–Uhlenbeck deviation of correlation time τ), transported with the mass, so
        that the drift of a bin is that of its own neurons; ``"ou-cond"`` is "ou" with the
        exact conditional mean deviation of the neurons landing in each bin (instead of a
        linear predictor in the landing voltage: less binning error), ``"ou-cond-linear"`` (default)
        that with each bin's neurons on the linear density of its mass and mean instead of
        the widest uniform law; ``"paper"`` the variance
        ``dt S² σ²/τ²`` of SPEC §3 (the paper's reduction, unchanged); ``"diffusion"`` its
        white-noise limit for a fluctuation of correlation time τ, ``2 dt S² σ²/τ``.
    stimulus : snnreduce.stimulus.Stimulus, optional
        Time-varying external rates λ_Q(t) (docs/stimuli.md). Each step uses the exact mean
        of λ_Q over the step wherever the constant λ_Q entered (mean and variance ``dt λ`` of
        the external input, every closure). None or a constant stimulus: the constant-drive
        code with the stimulus's λ_E, λ_I (bit for bit the run without a stimulus when they
        equal the parameters').
    t_start : float
        Absolute time of the first step, ms (default 0): the stimulus is evaluated at
        ``t_start + i dt``. A run continued from a ``final_state`` must start where that run
        ended (its ``final_state["time"]``).
    initial_state : None, array_like of shape (2, n_bins), or dict
        None: ``params.initial_state`` ("rest" or "uniform"). An array: neurons per bin of E
        and I (rows >= 0 summing to N_E, N_I; mean voltages at the bin centres, nobody
        refractory, no pending kicks). A dict: the ``final_state`` of an earlier run with the
        same parameters and options, continued exactly (the finite-size stream included:
        ``rng`` is then ignored).
    record_every : float, optional
        Keep the records every ``record_every`` ms (a multiple of dt): the state after steps
        ``i`` with ``(i + 1) % m == 0``, ``m = record_every / dt``, ``n_steps // m`` rows.
        None: every step. ``population_counts`` are never sampled.

    Returns
    -------
    dict
        ``population_counts`` (n_steps, 2) expected (deterministic) or sampled spikes per
        step; ``spike_times`` / ``spike_neurons`` None; ``records``; ``options``; ``status``;
        ``final_state`` (:func:`snnreduce.dsode.snapshot.final_state`: the state arrays,
        ``step``, ``time``, and the finite-size stream as JSON text in ``rng``; empty if
        the run diverged).
    """
    check_unknown(unknown, ("dv", "v_low", "refractory_rule", "moment_integrator", "truncate_sd",
                            "pending_noise", "rate_lag", "closure", "stimulus", "t_start",
                            "initial_state", "record_every"), "dsODE")
    if not isinstance(params, NetworkParams):
        raise ParameterError(f"params must be a NetworkParams, got {type(params).__name__}")
    t_start = _T_START.check("t_start", t_start)
    t_origin, _ = grid_of(initial_state, t_start)
    drive_params, rates = external_drive(stimulus, params, t_end, t_start, t_origin=t_origin)
    setup = _Setup(drive_params, dv=dv, v_low=v_low, refractory_rule=refractory_rule,
                   moment_integrator=moment_integrator, truncate_sd=truncate_sd, noise=noise,
                   pending_noise=pending_noise, rate_lag=rate_lag, closure=closure)
    if noise is not None and not isinstance(rng, np.random.Generator):
        raise ParameterError("the finite-size dsODE needs rng, a numpy Generator")
    if rng is None:
        rng = np.random.default_rng(0)  # never drawn from
    record = _check_record(record)
    dt = params.dt
    every = record_stride(record_every, dt)
    n_steps = _n_steps(t_end, dt)
    n_bins = setup.edges.size - 1
    state, rng, started = _start(setup, initial_state, noise=noise, rng=rng, t_start=t_start)
    lam = K.NO_STIMULUS if rates is None else rates
    counts = np.zeros((n_steps, setup.n_pop))
    recs = _record_arrays(record, sampled_rows(n_steps, every), n_bins, n_pop=setup.n_pop, n_pw=setup.n_pw)

    bar = progress_bar(progress, n_steps * dt, "dsode")
    chunk = _CHUNK_STEPS if progress else n_steps
    done = 0
    while done < n_steps:
        todo = min(chunk, n_steps - done)
        did = K._advance(*state.arrays(), setup.pop, setup.pw, setup.senders, setup.fc,
                         setup.ic, state.step, todo, rng, lam, counts, *recs, done, every)
        state.step += did
        bar.update(did * dt)
        done += did
        if did < todo:
            break
    bar.close()
    status = _status(done, n_steps, dt, t_start)
    options = {**setup.options, "initial_state": started}
    if every > 1:
        options["record_every"] = every * dt
    return {
        "population_counts": counts[:done],
        "spike_times": None,
        "spike_neurons": None,
        "records": _collect(record, recs, setup.edges, n_bins, sampled_rows(done, every)),
        "options": options,
        "status": status,
        "final_state": final_state(state, t_origin=t_origin, dt=dt,
                                   rng=rng if noise is not None else None)
        if status == "ok" else {},
    }


def run_batch(params_list, *, t_end: float, record=(), dv: float = 4.0, v_low: float = -40.0,
              refractory_rule: str = "exponential", moment_integrator: str = "exact",
              truncate_sd: float = 8.0, rate_lag: int = 0, closure: str = DEFAULT_CLOSURE,
              threads: int | None = None, stimulus=None, t_start: float = 0.0,
              initial_state=None, record_every=None) -> list[dict]:
    """Advance the deterministic dsODE of many parameter sets together (numba ``prange``).

    Same options and return value as :func:`run` (one dict per set, in order); sets may
    differ in any parameter, including ``dt`` and the number of bins. ``threads`` caps the
    numba threads used (default: numba's setting). ``stimulus`` and ``initial_state`` are
    one value for every set (a list of strings is one stimulus, a nested list of numbers one
    state array), or a list with one per set (None: the constant drive / the
    parameters' initial state); each set's stimulus gives its own per-step rates (its
    ``lambda`` terms are its own λ_Q, its steps its own dt).
    """
    params_list = list(params_list)
    if not params_list:
        return []
    n_sets = len(params_list)
    record = _check_record(record)
    t_start = _T_START.check("t_start", t_start)
    stimuli = _per_set("stimulus", stimulus, n_sets)
    starts = _per_set("initial_state", initial_state, n_sets)
    drives, clocks = [], []
    for p, stim, start in zip(params_list, stimuli, starts):
        if not isinstance(p, NetworkParams):
            raise ParameterError(f"params must be a NetworkParams, got {type(p).__name__}")
        t_origin, _ = grid_of(start, t_start)
        clocks.append(t_origin)
        drives.append(external_drive(stim, p, t_end, t_start, t_origin=t_origin))
    setups = [_Setup(p, dv=dv, v_low=v_low, refractory_rule=refractory_rule,
                     moment_integrator=moment_integrator, truncate_sd=truncate_sd, noise=None,
                     pending_noise=False, rate_lag=rate_lag, closure=closure)
              for p, _ in drives]
    every = [record_stride(record_every, p.dt) for p in params_list]
    if len(set(every)) > 1:
        raise ParameterError("record_every must be the same number of steps for every set "
                             "of a batch (sets with different dt: run them in separate batches)")
    every = every[0]
    steps = np.array([_n_steps(t_end, s.params.dt) for s in setups], dtype=np.int64)
    bins = [s.edges.size - 1 for s in setups]
    kmax = max(bins)
    lmax = max(int(s.ic[K.IC_REF_STEPS]) for s in setups)
    n_pop, n_pw = setups[0].n_pop, setups[0].n_pw
    n = np.zeros((n_sets, n_pop, kmax))
    vm = np.zeros((n_sets, n_pop, kmax))
    refr = np.zeros((n_sets, n_pop))
    line = np.zeros((n_sets, n_pop, lmax))
    h = np.zeros((n_sets, n_pw))
    var = np.zeros((n_sets, n_pw))
    last = np.zeros((n_sets, n_pop))
    eta = np.zeros((n_sets, n_pop, n_pop, kmax))  # [set, population, sender, bin]
    eta_r = np.zeros((n_sets, n_pop, n_pop, lmax))
    step0 = np.zeros(n_sets, dtype=np.int64)
    kinds = []
    for i, (s, start) in enumerate(zip(setups, starts)):
        state, _, kind = _start(s, start, noise=None, rng=None, t_start=t_start)
        k, ell = bins[i], state.line.shape[1]
        n[i, :, :k], vm[i, :, :k] = state.n, state.vm
        refr[i], line[i, :, :ell], h[i], var[i], last[i] = (state.refr, state.line, state.h,
                                                            state.var, state.last)
        eta[i, :, :, :k], eta_r[i, :, :, :ell] = state.eta, state.eta_r
        step0[i] = state.step
        kinds.append(kind)
    pop = np.stack([s.pop for s in setups])
    pw = np.stack([s.pw for s in setups])
    fc = np.stack([s.fc for s in setups])
    ic = np.stack([s.ic for s in setups])
    smax = int(steps.max())
    if any(rates is not None for _, rates in drives):
        # one rates array per set; a set without a time-varying stimulus gets its constant
        # λ in every row (the same float: its numbers are those of the constant code)
        lam = np.zeros((n_sets, smax, n_pop))
        for i, ((_, rates), s) in enumerate(zip(drives, setups)):
            if rates is None:
                lam[i, :] = s.pop[:, POP_LAMBDA]
            else:
                lam[i, : rates.shape[0]] = rates
    else:
        lam = np.zeros((n_sets, 0, n_pop))
    counts = np.zeros((n_sets, smax, n_pop))
    recs = _record_arrays(record, sampled_rows(smax, every), kmax, lead=(n_sets,), n_pop=n_pop, n_pw=n_pw)
    done = np.zeros(n_sets, dtype=np.int64)
    import numba

    prefer_workqueue()  # before the first parallel launch (snnreduce._threads says why)
    old = numba.get_num_threads()
    if threads is not None:
        numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))
    try:
        K._advance_batch(n, vm, refr, line, h, var, last, eta, eta_r, pop, pw,
                         setups[0].senders, fc, ic, step0, steps, np.random.default_rng(0), lam,
                         counts, *recs, every, done)
    finally:
        numba.set_num_threads(old)
    out = []
    for i, s in enumerate(setups):
        d = int(done[i])
        k, ell = bins[i], int(s.ic[K.IC_REF_STEPS])
        status = _status(d, int(steps[i]), s.params.dt, t_start)
        state = DsodeState(n[i, :, :k], vm[i, :, :k], refr[i], line[i, :, :ell], h[i], var[i],
                           last[i], eta[i, :, :, :k], eta_r[i, :, :, :ell],
                           int(step0[i]) + d)
        options = {**s.options, "initial_state": kinds[i]}  # _start names it already
        if every > 1:
            options["record_every"] = every * s.params.dt
        out.append({
            "population_counts": counts[i, :d].copy(),
            "spike_times": None,
            "spike_neurons": None,
            "records": _collect(record, [r[i] for r in recs], s.edges, bins[i], sampled_rows(d, every)),
            "options": options,
            "status": status,
            "final_state": final_state(state, t_origin=clocks[i], dt=s.params.dt)
            if status == "ok" else {},
        })
    return out


def _per_set(name, value, n_sets):
    """``value`` for each of ``n_sets`` sets: a list/tuple of one per set, else the one value
    repeated. A list of strings is one stimulus (its parts, as :func:`as_stimulus` reads
    it) and a numeric nested list one initial-state array, not one value per set."""
    parts = isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value)
    if isinstance(value, (list, tuple)) and not parts and not _numeric(value):
        if len(value) != n_sets:
            raise ParameterError(f"{name} must be one value or a list of one per parameter set "
                                 f"({n_sets}), got a list of {len(value)}")
        return list(value)
    return [value] * n_sets


def _numeric(value) -> bool:
    """Whether a list is one initial-state array given as nested lists (neurons per bin,
    shape (populations, bins); a list of such arrays, one per set, stacks to 3-D)."""
    try:
        array = np.asarray(value)
    except ValueError:  # ragged: per-set states of different shapes
        return False
    return array.dtype.kind in "biuf" and array.ndim <= 2

