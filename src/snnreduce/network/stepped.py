"""The time-stepped spiking network (SPEC §2, engine 1): the paper's reference simulator.

Pathway names are **post, pre**: ``s_ei`` is the kick an I spike gives an E neuron,
row 0 of ``pend`` (pending kicks from E) of an I neuron holds its kicks of pathway ``ie``.

One step ``[i dt, (i+1) dt)`` does, in this order (full description in docs/network.md):

1. Consumption draw for every neuron and pathway: ``c ~ Poisson(H dt / tau)``
   (``consumption="poisson"``) or ``Binomial(H, 1 - exp(-dt / tau))``.
2. Every non-refractory neuron: ``V <- V exp(-dt / tau_m)`` (leak, if ``tau_m > 0``), plus the
   external increment (``drive="gaussian"``: N(lambda dt, lambda dt); ``"poisson"``: a
   Poisson(lambda dt) count of unit kicks) plus the recurrent increment:
   ``"expected"``: ``S^{QE} H^{QE} dt / tau^{QE} - S^{QI} g(V) H^{QI} dt / tau^{QI}`` with the
   pending counts H and the voltage V at the start of the step, ``g(V) = (V + M_r)/(M + M_r)``;
   ``"sampled"``: the ``min(c, H)`` consumed kicks of each pathway applied one by one in a
   uniformly random order, each inhibitory kick scaled by g at the voltage it meets.
3. Spike if ``V > M``: ``V <- 0``, the neuron becomes refractory.
4. Pending kicks of every neuron (refractory or not):
   ``H <- max(0, H + new - c)``, ``new ~ Binomial(spikes of Q' in this step, P^{QQ'})``
   (annealed) or the number of this step's spiking pre-neurons wired to it (quenched).
5. Refractory exit of every refractory neuron, the one that just spiked included: with
   probability ``1 - exp(-dt / tau_r)`` (exponential) or when its counter of
   ``max(1, round(tau_r / dt))`` steps runs out (fixed). It gets input again from the next step.

Spikes are stamped at the middle of their step, ``(i + 1/2) dt``, so they fall inside the count
bin ``[i dt, (i+1) dt)``; records are the state at the end of each step.

Random numbers come from xoshiro256** streams inlined in the kernel (:mod:`._random`), two per
block of neurons (:func:`_blocks`), seeded from the run's Generator; every sampler is exact.
A step is one sweep over the blocks (finishing the previous step's phases 4-5, then phases 1-3),
on one thread or on worker threads that take blocks and meet every step through atomics
(:mod:`._pool`, which says why), for networks of at least :data:`PARALLEL_MIN_N` neurons;
what a sweep does to a block is :mod:`._sweep`; the result depends only on the seed, never on threads or
chunking.
"""

from __future__ import annotations

import math
import time

import numba
import numpy as np

from .._resume import (clock_of, clock_state, is_state, record_stride, rng_from_text, rng_text,
                      sampled_rows, state_arrays)
from .._threads import prefer_workqueue
from ..params import ParameterError
from ..populations import PATHWAY_POST, PATHWAY_PRE, tables
from ..stimulus import external_drive
from . import _pool
from . import _random as _rnd
from ._sweep import (D_CDF, D_LAM_DT, D_MODE, D_PMF, D_SD, GUIDE_RUN, M_DRIVE_FIRST, N_DRIVE,
                     N_POPC, P_A, P_INH, P_ODDS, P_RATE, P_S, T_DRIVE, WINDOW, WINDOW_MAX_MEAN)
from ._common import (SpikeBuffer, asked_records, check_choice,
                      check_engine_record, check_flag, check_no_unknown,
                      n_steps_of, progress_bar, quenched_adjacency,
                      refractory_rule, start_voltages)

__all__ = ["run", "DRIVES", "RECURRENT", "CONSUMPTION"]

DRIVES = ("gaussian", "poisson")
RECURRENT = ("expected", "sampled")
CONSUMPTION = ("poisson", "binomial")

#: smallest and largest block sizes (neurons; see :func:`_block_size`): each block has its own
#: two random streams, so the result does not depend on how blocks are shared among threads.
BLOCK_MIN = 100
BLOCK_MAX = 1024
#: networks with at least this many neurons may run on all numba threads (see _pool.SweepChooser).
PARALLEL_MIN_N = 256


def _consumption_tables(params, pops, binomial):
    """Per pathway row ``q_post * K + q_pre`` (``pops``: :func:`snnreduce.populations.tables`,
    K populations) and pending count h: mode, pmf and CDF at the mode of the consumption law,
    Poisson(h dt / tau) or Binomial(h, 1 - exp(-dt / tau)), for exact inversion from the mode.

    Rows cover every pending count up to 4 times what a 100 Hz network would hold (at least
    4096, at most 65536); larger counts use the rejection samplers of ``_random``.
    """
    taus = pops.tau.ravel()
    probs = pops.prob.ravel()
    n_pre = np.tile(pops.sizes, pops.n_populations)
    n_rows = taus.size
    cap = int(min(1 << 16, max(4096, 4 * np.max(probs * n_pre * taus * 0.1))))
    h = np.arange(cap)
    mode = np.zeros((n_rows, cap), np.int64)
    pmf = np.zeros((n_rows, cap))
    cdf = np.zeros((n_rows, cap))
    for row, tau in enumerate(taus):
        if binomial:
            p_cons = -math.expm1(-params.dt / tau)
            mode[row], pmf[row], cdf[row] = _rnd.binomial_mode_table(h, p_cons)
        else:
            mode[row], pmf[row], cdf[row] = _rnd.poisson_mode_table(h * params.dt / tau)
    return mode, pmf, cdf, np.full(n_rows, cap, np.int64)




def _window_tables(params, pops, binomial, tab_mode):
    """CDF windows of the consumption laws for the branch-free inversion.

    For pathway row r and pending count ``0 <= h <= hmax_r`` (mean m = h dt / tau, or h p, at
    most WINDOW_MAX_MEAN) the window is number ``o = base_r + h`` and starts at
    ``lo = max(0, mode - WINDOW // 2)``: ``win_cdf[o, j] = F(lo + j)`` for j < WINDOW
    (binomial: exactly 1 from k = h on) and ``win_cdf[o, WINDOW] = F(lo - 1)``. A
    uniform u with ``F(lo - 1) <= u`` maps to ``lo + #{j : F(lo + j) <= u}`` when that count is
    below WINDOW, which is exact inversion; other draws walk from the tabulated mode.

    Returns
    -------
    win_rows : ndarray of int64, shape (K * K, 2)
        ``(base_r, hmax_r)`` per row; ``hmax_r = -1``: no windows (binomial with p = 1).
    win_lo : ndarray of int64, shape (number of windows,)
    win_cdf : ndarray of float64, shape (number of windows, WINDOW + 1)
    """
    from scipy import stats

    taus = pops.tau.ravel()   # rows q_post * K + q_pre
    rates = -np.expm1(-params.dt / taus) if binomial else params.dt / taus
    win_rows = np.zeros((taus.size, 2), np.int64)
    los, values = [], []
    total = 0
    for row, rate in enumerate(rates):
        win_rows[row] = total, -1
        if binomial and rate >= 1.0:
            continue
        h = np.arange(min(tab_mode.shape[1], int(WINDOW_MAX_MEAN / rate) + 1))
        lo = np.maximum(0, tab_mode[row, h] - WINDOW // 2)
        ks = lo[:, None] + np.arange(WINDOW + 1)[None, :]
        ks[:, WINDOW] = lo - 1
        if binomial:
            cdf = stats.binom.cdf(ks, h[:, None], rate)
            cdf[ks >= h[:, None]] = 1.0
        else:
            cdf = stats.poisson.cdf(ks, (h * rate)[:, None])
        win_rows[row, 1] = h[-1]
        los.append(lo)
        values.append(cdf)
        total += h.size
    if not values:
        return win_rows, np.zeros(1, np.int64), np.ones((1, WINDOW + 1))
    return win_rows, np.concatenate(los).astype(np.int64), np.concatenate(values)


def _population_constants(params, pops, binomial):
    """The per-pathway constants of the kernel, ``popc[post, field, pre]`` of shape
    (K, N_POPC, K), from ``pops`` (:func:`snnreduce.populations.tables`): kick, consumption
    rate and odds, expected input per pending kick, inhibitory flag of the pre population."""
    dt = params.dt
    inv_span = 1.0 / (params.threshold + params.inhibitory_reversal)
    k = pops.n_populations
    popc = np.zeros((k, N_POPC, k))
    for q in range(k):
        for p in range(k):
            tau = pops.tau[q, p]
            inhibitory = bool(pops.inhibitory[p])
            # inhibitory: times (V + M_r) gives S g(V)
            s = pops.kick[q, p] * inv_span if inhibitory else pops.kick[q, p]
            popc[q, P_S, p] = s
            popc[q, P_INH, p] = 1.0 if inhibitory else 0.0
            if binomial:
                rate = -math.expm1(-dt / tau)
                popc[q, P_RATE, p] = rate
                popc[q, P_ODDS, p] = rate / (1.0 - rate) if rate < 1.0 else np.inf
            else:
                popc[q, P_RATE, p] = dt / tau
            popc[q, P_A, p] = s * dt / tau
    return popc


def _drive_table(rates, dt, poisson):
    """The external drive of each step and population, ``(n, 2, N_DRIVE)``, from the rates
    ``(n, 2)`` (kicks/ms): λ dt, √(λ dt) and, for the Poisson drive (``poisson``), the mode
    of Poisson(λ dt) with its pmf and CDF (exact inversion from the mode)."""
    lam_dt = np.asarray(rates, np.float64) * dt
    drive = np.zeros(lam_dt.shape + (N_DRIVE,))
    drive[..., D_LAM_DT] = lam_dt
    drive[..., D_SD] = np.sqrt(lam_dt)
    if poisson:
        mode, pmf, cdf = _rnd.poisson_mode_table(lam_dt)
        drive[..., D_MODE], drive[..., D_PMF], drive[..., D_CDF] = mode, pmf, cdf
    return drive


def _block_size(n_tot):
    """Largest block of a network of ``n_tot`` neurons: about 32 blocks in all, at least
    BLOCK_MIN and at most BLOCK_MAX neurons (a function of the size only, so that the random
    streams, one pair per block, do not depend on the threads)."""
    return min(BLOCK_MAX, max(BLOCK_MIN, n_tot // 32))


def _blocks(offsets):
    """Blocks of nearly equal size inside each population (neurons ``offsets[q] ..
    offsets[q+1] - 1``, :func:`snnreduce.populations.population_offsets`), at most
    :func:`_block_size` neurons: rows (start, stop, population). Inner edges are multiples of 8,
    so that blocks run by different threads never share a cache line of the (aligned)
    per-neuron arrays."""
    size = _block_size(int(offsets[-1]))
    rows = []
    for q, (lo, hi) in enumerate(zip(offsets[:-1], offsets[1:])):
        count = -(-(hi - lo) // size)
        edges = lo + (np.arange(count + 1) * (hi - lo)) // max(count, 1)
        edges[1:-1] = (edges[1:-1] + 4) // 8 * 8
        rows.extend((edges[k], edges[k + 1], q) for k in range(count) if edges[k] < edges[k + 1])
    return np.array(rows, np.int64).reshape(-1, 3)


#: dense adjacency (one byte per ordered pair) for quenched networks up to this many neurons
DENSE_MAX_N = 8192


def _dense_adjacency(indptr, indices, n_tot):
    """``A[j, n] = 1`` if j projects to n, uint8 (N, N), for quenched networks of at most
    DENSE_MAX_N neurons (a spike then adds a row, vectorised, instead of scattering over its
    targets); an empty (0, 0) array otherwise."""
    if indices.size == 0 or n_tot > DENSE_MAX_N:
        return np.zeros((0, 0), np.uint8)
    dense = np.zeros((n_tot, n_tot), np.uint8)
    rows = np.repeat(np.arange(n_tot), np.diff(indptr))
    dense[rows, indices] = 1
    return dense


def run(params, *, t_end: float, rng: np.random.Generator, record=(), progress: bool = False,
        drive: str = "gaussian", recurrent: str = "expected", consumption: str = "poisson",
        fixed_indegree: bool = False, stimulus=None, t_start: float = 0.0, initial_state=None,
        record_every=None, **unknown) -> dict:
    """Simulate the time-stepped network (the paper's reference engine).

    Parameters
    ----------
    params : NetworkParams
        The network; pathway names are post-pre (``s_ei``: I -> E). ``params.dt`` is the step,
        ``params.tau_m > 0`` adds the leak ``V <- V exp(-dt / tau_m)`` each step.
    t_end : float
        Simulated time, ms; ``ceil(t_end / dt)`` steps are run.
    rng : numpy.random.Generator
        The single source of randomness: the quenched adjacency (if any) is drawn from it
        first, then the initial voltages, then 256 bits that seed the kernel's streams.
        Ignored when ``initial_state`` is a final state (its streams are resumed).
    record : iterable of str
        Any of ``"voltage"`` (float32, (n_rows, N), end of step), ``"pending"`` (total pending
        kicks per pathway summed over the post population, (n_rows, 4), order ee, ie, ei, ii
        post-pre, end of step), ``"refractory"`` (refractory neurons per population at the end
        of each step, i.e. those that ignore input in the next step, (n_rows, 2)).
        ``n_rows = n_steps // m`` (see ``record_every``).
    progress : bool
        Show a tqdm progress bar (does not change the random stream).
    drive : {"gaussian", "poisson"}
        External increment per step: N(lambda dt, lambda dt) (paper) or a Poisson(lambda dt)
        number of unit kicks (lambda: the step's mean rate under a stimulus).
    recurrent : {"expected", "sampled"}
        Recurrent increment: the expected input of the pending kicks (paper), or the consumed
        kicks themselves applied one by one.
    consumption : {"poisson", "binomial"}
        Kicks consumed per step: Poisson(H dt / tau) (paper) or Binomial(H, 1 - exp(-dt/tau)).
    fixed_indegree : bool
        Quenched networks only: every neuron gets exactly round(P N_pre) presynaptic partners
        per pathway instead of Bernoulli(P) per pair.
    stimulus : snnreduce.stimulus.Stimulus, optional
        Time-varying external rates λ_Q(t): each step uses the mean of λ_Q over the step in
        place of λ_Q (docs/stimuli.md). None or a constant stimulus: the constant drive.
    t_start : float
        Absolute time of the first step, ms (the stimulus is evaluated there; spike times are
        absolute). A run continuing a final state must start where that state ended.
    initial_state : None, array of float (N,), or dict
        None: ``params.initial_state``. An array: the voltages (E first, in
        ``[-inhibitory_reversal, threshold)``), nothing pending, nobody refractory. A dict: a
        previous run's ``final_state`` (same params and options): the run continues it
        exactly, bit for bit as if the two runs were one.
    record_every : float, optional
        Store the records only at the end of every m-th step, ``m = record_every / dt`` (a
        positive multiple of dt); None: every step.

    Returns
    -------
    dict
        ``population_counts`` (int64, (n_steps, 2)), ``spike_times`` (ms, step midpoints,
        sorted), ``spike_neurons`` (int32, E first), ``records``, ``options``, ``status``,
        ``final_state`` (voltages, pending kicks, refractory counters, the kernel's random
        streams, the clock, and for a quenched network the state that redraws its adjacency).
    """
    check_no_unknown(unknown, "stepped", ("drive", "recurrent", "consumption", "fixed_indegree",
                                          "stimulus", "t_start", "initial_state",
                                          "record_every"))
    drive = check_choice("drive", drive, DRIVES)
    recurrent = check_choice("recurrent", recurrent, RECURRENT)
    consumption = check_choice("consumption", consumption, CONSUMPTION)
    fixed_indegree = check_flag("fixed_indegree", fixed_indegree)
    record = check_engine_record(record, "stepped")
    quenched = params.connectivity == "quenched"
    if fixed_indegree and not quenched:
        raise ParameterError("fixed_indegree=True needs connectivity='quenched', got 'annealed'")
    resume = is_state(initial_state)
    if not resume and not isinstance(rng, np.random.Generator):
        raise ParameterError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    clock = clock_of(params, t_start, initial_state if resume else None)
    params, rates = external_drive(stimulus, params, t_end, t_start, t_origin=clock.t_origin)
    stride = record_stride(record_every, params.dt)

    n_tot = int(sum(params.n))
    dt = params.dt
    n_steps = n_steps_of(t_end, dt)
    pops = tables(params)
    n_pop = pops.n_populations
    pop_of = pops.population_of(np.arange(n_tot)).astype(np.int64)
    # record column of the pending kicks of pathway [post, pre] (the order of PATHWAYS)
    pw_col = np.zeros((n_pop, n_pop), np.int64)
    pw_col[PATHWAY_POST, PATHWAY_PRE] = np.arange(PATHWAY_POST.size)
    blocks = _blocks(pops.offsets)
    n_streams = 2 * blocks.shape[0]
    if resume:
        saved = state_arrays(initial_state, "stepped", {
            "voltage": ((n_tot,), np.float64), "pending": ((n_pop, n_tot), np.int64),
            "refractory_left": ((n_tot,), np.int64),
            "streams": ((n_streams, _rnd.STREAM_WORDS), np.uint64)})
        adjacency_rng = (rng_from_text(initial_state.get("adjacency_rng"), "adjacency_rng")
                         if quenched else None)
    else:
        adjacency_rng = rng

    if quenched:
        adjacency_text = rng_text(adjacency_rng)
        indptr, indices = quenched_adjacency(params, adjacency_rng, fixed_indegree)
    else:
        indptr, indices = np.zeros(1, np.int64), np.zeros(0, np.int32)
    dense = _dense_adjacency(indptr, indices, n_tot)
    # per-neuron state on whole cache lines (see _blocks)
    v = _pool.aligned_zeros(n_tot, np.float64)
    pend = _pool.aligned_zeros((n_pop, n_tot), np.int64)  # pending kicks, row = pre population
    refr = _pool.aligned_zeros(n_tot, np.int64)
    if resume:
        v[:] = saved["voltage"]
        pend[:, :n_tot] = saved["pending"]
        refr[:] = saved["refractory_left"]
        streams = saved["streams"]
    else:
        v[:] = start_voltages(params, rng, initial_state)
    cons = _pool.aligned_zeros((n_pop, n_tot), np.int64)  # kicks consumed in the step, same rows
    # quenched: new pending kicks of the step per pre population (row) and neuron
    inc = _pool.aligned_zeros((n_pop, n_tot if quenched else 0), np.int64)
    cdf = np.zeros((n_pop * n_pop, 1 if quenched else int(pops.sizes.max()) + 1 + GUIDE_RUN))
    guide = np.zeros(cdf.shape, np.int64)
    n_cdf = np.zeros(n_pop * n_pop, np.int64)

    fixed, p_exit, refr_steps = refractory_rule(params)
    decay = math.exp(-dt / params.tau_m) if params.tau_m > 0 else 1.0
    consts = np.array([params.threshold, params.inhibitory_reversal, dt, decay, p_exit])
    modes = np.array([DRIVES.index(drive), RECURRENT.index(recurrent),
                      CONSUMPTION.index(consumption), int(quenched), fixed, refr_steps,
                      "voltage" in record, "pending" in record, "refractory" in record,
                      rates is not None, 0, stride], dtype=np.int64)
    binomial = consumption == "binomial"
    poisson_drive = drive == "poisson"
    tab_mode, tab_pmf, tab_cdf, n_tab = _consumption_tables(params, pops, binomial)
    win_rows, win_lo, win_cdf = _window_tables(params, pops, binomial, tab_mode)
    popc = _population_constants(params, pops, binomial)
    if not resume:
        # the dynamics' random streams: two per block, seeded from rng after the adjacency
        # and the initial voltages
        streams = _rnd.make_streams(rng, n_streams)
    scratch = np.zeros(n_tot, np.int64)
    blk_out = _pool.aligned_zeros((blocks.shape[0], 8), np.int64)  # a cache line per block
    drive_rows = _drive_table(pops.external_rate[None, :], dt, poisson_drive)
    # the kernel's arguments, grouped (numba unpacks tuples of arrays for free)
    tabs = (popc, _rnd.ZIG_X, _rnd.ZIG_R, tab_mode, tab_pmf, tab_cdf, n_tab, win_rows, win_lo,
            win_cdf, consts, modes, drive_rows, pops.prob, pw_col)
    state = (v, pend, refr, cons, inc, streams)
    net = (indptr, indices, dense)
    draw = (cdf, guide, n_cdf)
    prefer_workqueue()  # before the first parallel launch (snnreduce._threads says why)
    chooser = _pool.SweepChooser(n_tot >= PARALLEL_MIN_N and numba.get_num_threads() > 1)

    counts = np.zeros((n_steps, n_pop), np.int64)
    n_rows = sampled_rows(n_steps, stride)
    rec_v = np.zeros((n_rows, n_tot) if "voltage" in record else (0, 0), np.float32)
    rec_pending = np.zeros((n_rows, n_pop * n_pop) if "pending" in record else (0, 0), np.int64)
    rec_refr = np.zeros((n_rows, n_pop) if "refractory" in record else (0, 0), np.int64)

    # a chunk is ~1e6 neuron-steps: bounded kernel calls, responsive progress bar, and
    # frequent enough timings for the choice between serial and parallel sweeps
    chunk = max(1, min(n_steps, 1_000_000 // n_tot))
    probe_chunk = max(2, 200_000 // n_tot)  # steps timed when choosing serial or parallel
    expected_spikes = int(n_tot * chunk * dt * 0.2) + 4 * n_tot  # 200 Hz per chunk
    buf = SpikeBuffer(expected_spikes)
    bar = progress_bar(progress, n_steps * dt, "stepped")
    step = 0
    try:
        while step < n_steps:
            buf.reserve(n_tot + 1)
            parallel, probe = chooser.pick()
            target = min(n_steps, step + (probe_chunk if probe else chunk))
            if rates is not None:
                # this chunk's drive (a table per chunk keeps the memory of a long run low)
                modes[M_DRIVE_FIRST] = step
                tabs = tabs[:T_DRIVE] + (_drive_table(rates[step:target], dt, poisson_drive),) \
                    + tabs[T_DRIVE + 1:]
            started = time.perf_counter()
            out = (scratch, blk_out, counts, buf.key, buf.neuron, rec_v, rec_pending, rec_refr)
            new_step, buf.n = _pool.run_steps(parallel, step, target, buf.n, pop_of, blocks,
                                              tabs, state, net, draw, out)
            chooser.record(parallel, time.perf_counter() - started, new_step - step)
            bar.update((new_step - step) * dt)
            step = new_step
    finally:
        bar.close()

    steps, neurons = buf.arrays()
    records = asked_records(record, voltage=rec_v, pending=rec_pending, refractory=rec_refr)
    options = {"drive": drive, "recurrent": recurrent, "consumption": consumption,
               "fixed_indegree": fixed_indegree, "spike_time": "step midpoint"}
    if quenched:
        options["n_synapses"] = int(indices.size)
    final_state = {"engine": "stepped", **clock_state(clock, n_steps),
                   "voltage": v[:n_tot].copy(), "pending": pend[:, :n_tot].copy(),
                   "refractory_left": refr[:n_tot].copy(), "streams": streams.copy()}
    if quenched:
        final_state["adjacency_rng"] = adjacency_text
    return {
        "population_counts": counts,
        "spike_times": clock.midpoints(steps),
        "spike_neurons": neurons,
        "records": records,
        "options": options,
        "status": "ok",
        "final_state": final_state,
    }
