"""The exact continuous-time Markov jump process of the network (SPEC §2, engine 2).

Pathway names are **post, pre**: ``s_ei`` is the kick an I spike gives an E neuron. Pending
kicks are kept per pathway in the order of :data:`snnreduce.params.PATHWAYS`
(``ee, ie, ei, ii``): row ``q_pre * K + q_post``; a consumed kick is excitatory or
inhibitory by its pre population's flag (``PopulationTables.inhibitory``), whatever the
number of senders of each kind.

Event-driven simulation (Gillespie's direct method). The event classes and their total rates:

- external unit kick to a non-refractory neuron of Q: ``lambda_Q * (non-refractory of Q)``,
  the neuron drawn uniformly;
- consumption of one pending kick of pathway QQ': ``(pending QQ' kicks) / tau^{QQ'}``, the
  neuron drawn with probability proportional to its pending count (Fenwick tree, O(log N));
  applied only if the neuron is not refractory: +S^{QE}, or -S^{QI} (V + M_r)/(M + M_r);
- refractory exit (``refractory="exponential"``): ``(refractory neurons) / tau_r``, uniform;
  with ``refractory="fixed"`` exits are scheduled exactly ``tau_r`` after the spike (a FIFO
  queue, since every delay is the same);
- integer voltages with leak only: a unit step of V towards 0 at rate ``|V| / tau_m``.

A neuron spikes the moment ``V >= M`` (reset 0, refractory); every neuron of Q then gets one new
pending kick with probability P^{QQ'} (annealed: geometric skipping over the targets, O(P N)
per spike) or from each quenched out-edge. With a continuous voltage, the leak
``dV/dt = -V / tau_m`` is applied exactly between a neuron's events (each neuron remembers
when its voltage was last brought up to date). ``tau_r == 0`` means no refractory state.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from .._resume import (clock_of, clock_state, is_state, record_stride, rng_from_text, rng_text,
                      sampled_rows, state_arrays)
from .._stimulus_kernel import kernel_table, rate_at
from ..params import ParameterError
from ..populations import PATHWAY_POST, PATHWAY_PRE, tables
from ..stimulus import as_stimulus, external_drive
from ._common import (N_POPULATIONS, SpikeBuffer, asked_records, check_choice,
                      check_engine_record, check_flag, check_no_unknown,
                      n_steps_of, progress_bar, quenched_adjacency, start_voltages)

__all__ = ["run", "VOLTAGES"]

VOLTAGES = ("continuous", "integer")

# int state: boundary index (local to the run), has a drawn event time, queue head, queue
# length, global index of the run's first step (see snnreduce._resume.Clock)
_S_BOUNDARY, _S_PENDING, _S_QHEAD, _S_QLEN, _S_FIRST = range(5)
# float state: time (absolute, ms), drawn time of the next Gillespie event
_F_T, _F_NEXT = range(2)
# consts: threshold, reversal, dt, tau_r, tau_m, t_origin of the clock
_C_ORIGIN = 5
# modes
_M_INTEGER, _M_QUENCHED, _M_REFR, _M_LEAK, _M_REC_V, _M_REC_PENDING, _M_REC_REFR, _M_THIN, \
    _M_REC_STRIDE = range(9)
_REFR_NONE, _REFR_EXP, _REFR_FIXED = range(3)


# Fenwick (binary indexed) trees of integer weights, one per row of a 2-D array; row r has
# its node k (1-based) at tree[r, k]. Passing the 2-D array and a row index, not a row view,
# keeps the hot loop free of reference counting.
@numba.njit(cache=True)
def _fen_add(tree, row, i, delta):
    i += 1
    size = tree.shape[1] - 1
    while i <= size:
        tree[row, i] += delta
        i += i & -i


@numba.njit(cache=True)
def _fen_find(tree, row, size, x):
    """Smallest 0-based index i with (weights[0] + ... + weights[i]) > x, for 0 <= x < total."""
    pos = 0
    bit = 1
    while bit * 2 <= size:
        bit *= 2
    while bit > 0:
        nxt = pos + bit
        if nxt <= size and tree[row, nxt] <= x:
            pos = nxt
            x -= tree[row, nxt]
        bit >>= 1
    return pos


@numba.njit(cache=True)
def _leak_update(tree, tot, n, old, new):
    """Integer leak: neuron n's weight |V| changes from |old| to |new| (the last entry of
    tot is the total)."""
    d = int(abs(new) - abs(old))
    if d != 0:
        _fen_add(tree, 0, n, d)
        tot[tot.size - 1] += d


@numba.njit(cache=True)
def _index(u, n):
    """int(u * n) for u in [0, 1), guarded against round-off reaching n."""
    k = int(u * n)
    return k if k < n else n - 1


@numba.njit(cache=True)
def _bring_up_to_date(v, last_t, n, t, tau_m):
    if t > last_t[n]:
        v[n] *= math.exp(-(t - last_t[n]) / tau_m)
        last_t[n] = t


@numba.njit(cache=True)
def _run_events(rng, n_steps, stop_boundary, pk, consts, modes, log1mp,
                v, last_t, h, fen, fen_size, tot, perm, slot, act, refr,
                queue_t, queue_n, leak_tree, st_i, st_f, indptr, indices,
                counts, spk_time, spk_neuron, n_spk, rec_v, rec_pending, rec_refr,
                stim_table, stim_samples, bounds):
    """Advance the jump process until boundary ``stop_boundary`` is recorded or the spike buffer
    is full. Returns the number of spikes stored. All state lives in the arrays (``st_i`` and
    ``st_f`` hold the scalars, including an already drawn next event time) so that chunked calls
    consume exactly the same random stream as one long call.

    With a stimulus (``modes[_M_THIN]``) external kicks are thinned: proposals at the step's
    upper bound ``bounds[b, 2 + Q]`` (>= λ_Q(t) on step b), each accepted with probability
    ``λ_Q(t) / bounds[b, 2 + Q]`` (``_stimulus_kernel.rate_at`` on ``stim_table``, evaluated
    only when the uniform lies above the step's lower bound ``bounds[b, Q]``: a squeeze, so a
    slow stimulus costs one comparison per kick); every step boundary ends the current draw
    (the bound changes; the process is memoryless, so this is exact).

    Populations as data (``pk``, see :func:`_population_arrays`): K populations, neuron n in
    population ``pop_of[n]`` (neurons ``offsets[q] .. offsets[q+1] - 1``); pathway row
    ``r = q_pre * K + q_post`` with ``tau_row[r]``, ``kick_row[r]``, ``inhibitory[q_pre]`` and
    record column ``pw_col[r]``, ``row_pre[r]``, ``row_post[r]`` (tables, not an integer
    division per event). Event classes: K external (one per population), K * K
    consumptions (one per pathway row), refractory exit, integer leak step.

    Paper symbols: h[q_pre, n] = H^{QQ'} of neuron n; M = threshold, M_r = reversal.
    """
    offsets, pop_of, lam, tau_row, kick_row, inhibitory, pw_col, row_pre, row_post = pk
    n_tot = v.size
    cap = spk_time.size
    M = consts[0]
    Mr = consts[1]
    dt = consts[2]
    tau_r = consts[3]
    tau_m = consts[4]
    integer = modes[_M_INTEGER] == 1
    quenched = modes[_M_QUENCHED] == 1
    refr_mode = modes[_M_REFR]
    leak = modes[_M_LEAK] == 1
    thin = modes[_M_THIN] == 1
    stride = modes[_M_REC_STRIDE]
    origin = consts[_C_ORIGIN]
    first = st_i[_S_FIRST]
    inv_span = 1.0 / (M + Mr)
    n_pop = N_POPULATIONS   # a compile-time constant: numba unrolls the loops over it
    n_rows = n_pop * n_pop
    seg = offsets[:n_pop]
    sizes = offsets[1:] - offsets[:n_pop]
    c_refr = n_pop + n_rows     # class of a refractory exit; c_refr + 1: an integer leak step
    n_classes = c_refr + 2
    rates = np.zeros(n_classes)
    t = st_f[_F_T]
    while True:
        if n_spk >= cap:
            break
        n_refr_all = 0
        for q in range(n_pop):
            n_refr_all += sizes[q] - act[q]
        b_now = st_i[_S_BOUNDARY]
        for q in range(n_pop):
            # under a stimulus: proposals at the step's upper bound (thinned below)
            rates[q] = (bounds[b_now, n_pop + q] if thin else lam[q]) * act[q]
        for r in range(n_rows):
            rates[n_pop + r] = tot[r] / tau_row[r]
        rates[c_refr] = n_refr_all / tau_r if refr_mode == _REFR_EXP else 0.0
        rates[c_refr + 1] = tot[n_rows] / tau_m if (integer and leak) else 0.0
        total = 0.0
        for c in range(n_classes):
            total += rates[c]
        if st_i[_S_PENDING] == 0:
            st_f[_F_NEXT] = t + rng.exponential() / total if total > 0.0 else np.inf
            st_i[_S_PENDING] = 1
        t_next = st_f[_F_NEXT]
        fixed_exit = False
        if refr_mode == _REFR_FIXED and st_i[_S_QLEN] > 0:
            t_q = queue_t[st_i[_S_QHEAD]]
            if t_q < t_next:
                t_next = t_q
                fixed_exit = True
        # ---- records at the step boundaries passed before the next event (boundary b, the
        # end of the run's step b, is at t_origin + (first + b + 1) dt: see snnreduce._resume.Clock)
        stop = False
        crossed = False
        while (st_i[_S_BOUNDARY] < n_steps
               and origin + (first + st_i[_S_BOUNDARY] + 1) * dt <= t_next):
            b = st_i[_S_BOUNDARY]
            tb = origin + (first + b + 1) * dt
            if (b + 1) % stride == 0:  # records sampled every stride steps
                row = (b + 1) // stride - 1
                if modes[_M_REC_V]:
                    for n in range(n_tot):
                        x = v[n]
                        if leak and not integer and tb > last_t[n]:
                            x *= math.exp(-(tb - last_t[n]) / tau_m)
                        rec_v[row, n] = x
                if modes[_M_REC_PENDING]:
                    for r in range(n_rows):
                        rec_pending[row, pw_col[r]] = tot[r]
                if modes[_M_REC_REFR]:
                    for q in range(n_pop):
                        rec_refr[row, q] = sizes[q] - act[q]
            st_i[_S_BOUNDARY] = b + 1
            if thin:
                # the drawn time used this step's bound: restart the draw at the boundary
                t = tb
                st_i[_S_PENDING] = 0
                crossed = True
            if b + 1 >= stop_boundary:
                stop = True
                break
            if crossed:
                break
        if stop or st_i[_S_BOUNDARY] >= n_steps:
            break
        if crossed:
            continue
        # ---- the event
        t = t_next
        spiker = -1
        if fixed_exit:
            n = queue_n[st_i[_S_QHEAD]]
            st_i[_S_QHEAD] = (st_i[_S_QHEAD] + 1) % queue_n.size
            st_i[_S_QLEN] -= 1
            _activate(n, pop_of, perm, slot, act, refr, seg)
            last_t[n] = t
            st_i[_S_PENDING] = 0  # rates changed: redraw (memoryless)
            continue
        st_i[_S_PENDING] = 0
        u = rng.random() * total
        c = 0
        while c < n_classes - 1 and u >= rates[c]:
            u -= rates[c]
            c += 1
        while rates[c] == 0.0:  # guard against round-off landing on an empty class
            c -= 1
        if c < n_pop:
            if thin:
                x = rng.random() * bounds[b_now, n_pop + c]
                if x >= bounds[b_now, c] and x >= rate_at(stim_table, stim_samples, c, t):
                    continue  # a rejected proposal: nothing happens
            n = perm[seg[c] + _index(rng.random(), act[c])]
            if leak and not integer:
                _bring_up_to_date(v, last_t, n, t, tau_m)
            old = v[n]
            v[n] = old + 1.0
            if integer and leak:
                _leak_update(leak_tree, tot, n, old, v[n])
            if v[n] >= M:
                spiker = n
        elif c < c_refr:
            row = c - n_pop
            pre = row_pre[row]
            q = row_post[row]
            local = _fen_find(fen, row, fen_size[row], _index(rng.random(), tot[row]))
            n = seg[q] + local
            _fen_add(fen, row, local, -1)
            tot[row] -= 1
            h[pre, n] -= 1
            if refr[n] == 0:
                if leak and not integer:
                    _bring_up_to_date(v, last_t, n, t, tau_m)
                old = v[n]
                if not inhibitory[pre]:
                    s = kick_row[row]
                    if integer:
                        d = math.floor(s)
                        if rng.random() < s - d:
                            d += 1.0
                        v[n] = old + d
                    else:
                        v[n] = old + s
                    if v[n] >= M:
                        spiker = n
                else:
                    delta = kick_row[row] * (old + Mr) * inv_span
                    if integer:
                        d = math.floor(delta)
                        if rng.random() < delta - d:
                            d += 1.0
                        x_new = old - d
                        v[n] = x_new if x_new > -Mr else -Mr
                    else:
                        v[n] = old - delta
                if integer and leak:
                    _leak_update(leak_tree, tot, n, old, v[n])
        elif c == c_refr:
            k = _index(rng.random(), n_refr_all)
            n = -1
            for q in range(n_pop):  # the k-th refractory neuron, population by population
                if k < sizes[q] - act[q]:
                    n = perm[seg[q] + act[q] + k]
                    break
                k -= sizes[q] - act[q]
            _activate(n, pop_of, perm, slot, act, refr, seg)
            last_t[n] = t
        else:
            n = _fen_find(leak_tree, 0, n_tot, _index(rng.random(), tot[n_rows]))
            old = v[n]
            v[n] = old - 1.0 if old > 0 else old + 1.0
            _leak_update(leak_tree, tot, n, old, v[n])
        if spiker >= 0:
            n = spiker
            qp = pop_of[n]
            spk_time[n_spk] = t
            spk_neuron[n_spk] = n
            n_spk += 1
            counts[min(st_i[_S_BOUNDARY], n_steps - 1), qp] += 1
            if integer and leak:
                _leak_update(leak_tree, tot, n, v[n], 0.0)
            v[n] = 0.0
            if refr_mode != _REFR_NONE:
                _deactivate(n, pop_of, perm, slot, act, refr, seg)
                if refr_mode == _REFR_FIXED:
                    k = (st_i[_S_QHEAD] + st_i[_S_QLEN]) % queue_n.size
                    queue_t[k] = t + tau_r
                    queue_n[k] = n
                    st_i[_S_QLEN] += 1
            elif leak and not integer:
                last_t[n] = t
            # fan-out: row = q_pre * K + q_post
            if quenched:
                for e in range(indptr[n], indptr[n + 1]):
                    g = indices[e]
                    q = pop_of[g]
                    row = n_pop * qp + q
                    _fen_add(fen, row, g - seg[q], 1)
                    tot[row] += 1
                    h[qp, g] += 1
            else:
                for q in range(n_pop):
                    row = n_pop * qp + q
                    lg = log1mp[row]
                    if lg == 0.0:  # P = 0
                        continue
                    k = -1
                    while True:
                        if lg == -np.inf:  # P = 1
                            k += 1
                        else:
                            k += 1 + int(math.log(1.0 - rng.random()) / lg)
                        if k >= sizes[q]:
                            break
                        _fen_add(fen, row, k, 1)
                        tot[row] += 1
                        h[qp, seg[q] + k] += 1
    st_f[_F_T] = t
    return n_spk


@numba.njit(cache=True)
def _activate(n, pop_of, perm, slot, act, refr, seg):
    """Move refractory neuron n into the active part of its population's permutation."""
    q = pop_of[n]
    first_refr = seg[q] + act[q]
    other = perm[first_refr]
    s = slot[n]
    perm[s] = other
    slot[other] = s
    perm[first_refr] = n
    slot[n] = first_refr
    act[q] += 1
    refr[n] = 0


@numba.njit(cache=True)
def _deactivate(n, pop_of, perm, slot, act, refr, seg):
    q = pop_of[n]
    last_active = seg[q] + act[q] - 1
    other = perm[last_active]
    s = slot[n]
    perm[s] = other
    slot[other] = s
    perm[last_active] = n
    slot[n] = last_active
    act[q] -= 1
    refr[n] = 1


def _population_arrays(pops):
    """The kernel's view of :func:`snnreduce.populations.tables` (``pops``): ``(offsets,
    pop_of, lam, tau_row, kick_row, inhibitory, pw_col, row_pre, row_post)``; pathway rows
    ``r = q_pre * K + q_post`` (for E, I: ee, ie, ei, ii), ``pw_col[r]`` the row's column in
    the records (the order of ``PATHWAYS``)."""
    k = pops.n_populations
    pop_of = pops.population_of(np.arange(pops.offsets[-1])).astype(np.int64)
    pw_col = np.zeros((k, k), np.int64)   # [pre, post]
    pw_col[PATHWAY_PRE, PATHWAY_POST] = np.arange(PATHWAY_POST.size)
    return (pops.offsets.astype(np.int64), pop_of, pops.external_rate.astype(np.float64),
            np.ascontiguousarray(pops.tau.T).ravel(), np.ascontiguousarray(pops.kick.T).ravel(),
            pops.inhibitory.astype(np.bool_), pw_col.ravel(),
            np.repeat(np.arange(k), k).astype(np.int64), np.tile(np.arange(k), k).astype(np.int64))


def run(params, *, t_end: float, rng: np.random.Generator, record=(), progress: bool = False,
        voltage: str = "continuous", fixed_indegree: bool = False, stimulus=None,
        t_start: float = 0.0, initial_state=None, record_every=None, **unknown) -> dict:
    """Simulate the network as an exact continuous-time Markov jump process.

    Parameters
    ----------
    params : NetworkParams
        The network; pathway names are post-pre (``s_ei``: I -> E). ``params.dt`` is only the
        bin width of ``population_counts`` and the sampling interval of records.
    t_end : float
        Simulated time, ms (rounded up to a whole number of bins).
    rng : numpy.random.Generator
        The single random stream (the quenched adjacency, if any, is drawn from it first).
        Ignored when ``initial_state`` is a final state (its stream is resumed).
    record : iterable of str
        ``"voltage"`` (float32, (n_rows, N)), ``"pending"`` (total pending kicks per pathway
        summed over the post population, (n_rows, 4), order ee, ie, ei, ii post-pre),
        ``"refractory"`` ((n_rows, 2)); all sampled at the bin ends ``(i + 1) dt`` (every
        m-th bin end with ``record_every``; ``n_rows = n_steps // m``).
    progress : bool
        Show a tqdm progress bar (does not change the random stream).
    voltage : {"continuous", "integer"}
        ``"integer"``: the Li-Chariker-Young Markovian integrate-and-fire model. Voltages are
        integers in {-M_r, ..., M} (M and M_r must be integers); a kick of non-integer size x
        moves V by ``floor(x) + Bernoulli(x - floor(x))``; an inhibitory kick never takes V
        below -M_r; with ``tau_m > 0`` the leak is a unit step towards 0 at rate ``|V|/tau_m``.
    fixed_indegree : bool
        Quenched networks only: exactly round(P N_pre) presynaptic partners per neuron.
    stimulus : snnreduce.stimulus.Stimulus, optional
        Time-varying external rates λ_Q(t), exactly: an inhomogeneous Poisson process per
        neuron, by thinning (docs/stimuli.md). None or constant: the constant drive.
    t_start : float
        Absolute time at the start, ms (event and spike times are absolute). A run continuing
        a final state must start where that state ended.
    initial_state : None, array of float (N,), or dict
        None: ``params.initial_state``; an array: the voltages (E first, in
        ``[-inhibitory_reversal, threshold)``, integers for ``voltage="integer"``); a dict:
        a previous run's ``final_state`` (same params and options), continued exactly.
    record_every : float, optional
        Sampling interval of the records, a positive multiple of dt (None: every bin end).

    Returns
    -------
    dict
        ``population_counts`` (int64, (n_steps, 2)), exact ``spike_times`` (ms, sorted),
        ``spike_neurons`` (int32, E first), ``records``, ``options``, ``status``,
        ``final_state`` (every array of the jump process, the drawn next event, the random
        stream as JSON, the clock).
    """
    check_no_unknown(unknown, "markov", ("voltage", "fixed_indegree", "stimulus", "t_start",
                                         "initial_state", "record_every"))
    voltage = check_choice("voltage", voltage, VOLTAGES)
    fixed_indegree = check_flag("fixed_indegree", fixed_indegree)
    record = check_engine_record(record, "markov")
    quenched = params.connectivity == "quenched"
    if fixed_indegree and not quenched:
        raise ParameterError("fixed_indegree=True needs connectivity='quenched', got 'annealed'")
    resume = is_state(initial_state)
    if not resume and not isinstance(rng, np.random.Generator):
        raise ParameterError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    integer = voltage == "integer"
    if integer:
        for name in ("threshold", "inhibitory_reversal"):
            value = getattr(params, name)
            if not float(value).is_integer():
                raise ParameterError(f"voltage='integer' needs an integer {name}, got {value!r}")
    clock = clock_of(params, t_start, initial_state if resume else None)
    params, bounds = external_drive(stimulus, params, t_end, t_start, t_origin=clock.t_origin,
                                    bounds=True)
    stride = record_stride(record_every, params.dt)

    pops = tables(params)
    n_pop = pops.n_populations
    n_rows = n_pop * n_pop      # pathway rows q_pre * K + q_post
    n_tot = int(pops.offsets[-1])
    dt = params.dt
    n_steps = n_steps_of(t_end, dt)
    leak = params.tau_m > 0
    size = int(pops.sizes.max())
    thinned = bounds is not None  # a time-varying stimulus (a constant one is in params)
    if thinned:
        stim_table, stim_samples = kernel_table(as_stimulus(stimulus), params)
    else:
        bounds, stim_table = np.zeros((0, 2 * n_pop)), np.zeros((0, 6))
        stim_samples = np.zeros(1)
    if resume:
        saved = state_arrays(initial_state, "markov", {
            "voltage": ((n_tot,), np.float64), "last_update": ((n_tot,), np.float64),
            "pending": ((n_pop, n_tot), np.int64),
            "pending_tree": ((n_rows, size + 1), np.int64),
            "pending_total": ((n_rows + 1,), np.int64), "order": ((n_tot,), np.int64),
            "order_slot": ((n_tot,), np.int64), "active": ((n_pop,), np.int64),
            "refractory": ((n_tot,), np.int64), "exit_times": ((n_tot,), np.float64),
            "exit_neurons": ((n_tot,), np.int64), "leak_tree": ((1, None), np.int64),
            "counters": ((5,), np.int64), "times": ((2,), np.float64)})
        rng = rng_from_text(initial_state.get("rng"), "rng")
        adjacency_rng = (rng_from_text(initial_state.get("adjacency_rng"), "adjacency_rng")
                         if quenched else None)
    else:
        adjacency_rng = rng

    if quenched:
        adjacency_text = rng_text(adjacency_rng)
        indptr, indices = quenched_adjacency(params, adjacency_rng, fixed_indegree)
    else:
        indptr, indices = np.zeros(1, np.int64), np.zeros(0, np.int32)
    fen_size = np.tile(pops.sizes, n_pop).astype(np.int64)   # row r: the post population
    if resume:
        v, last_t, h = saved["voltage"], saved["last_update"], saved["pending"]
        fen, tot = saved["pending_tree"], saved["pending_total"]
        perm, slot, act = saved["order"], saved["order_slot"], saved["active"]
        refr, queue_t, queue_n = saved["refractory"], saved["exit_times"], saved["exit_neurons"]
        leak_tree = saved["leak_tree"]
        st_i, st_f = saved["counters"], saved["times"]
        st_i[_S_BOUNDARY] = 0
        st_i[_S_FIRST] = clock.first
    else:
        v = start_voltages(params, rng, initial_state, integer=integer)
        last_t = np.full(n_tot, clock.t_origin)
        h = np.zeros((n_pop, n_tot), np.int64)    # [pre population, neuron]: pending kicks
        fen = np.zeros((n_rows, size + 1), np.int64)
        tot = np.zeros(n_rows + 1, np.int64)    # pending per pathway row, then integer-leak total
        perm = np.arange(n_tot, dtype=np.int64)
        slot = np.arange(n_tot, dtype=np.int64)
        act = pops.sizes.astype(np.int64)
        refr = np.zeros(n_tot, np.int64)
        queue_t = np.zeros(n_tot)
        queue_n = np.zeros(n_tot, np.int64)
        # Fenwick tree over |V| (integer voltages with leak only)
        leak_tree = np.zeros((1, n_tot + 1 if integer and leak else 1), np.int64)
        if integer and leak:
            for n in range(n_tot):
                _leak_update(leak_tree, tot, n, 0.0, v[n])
        st_i = np.zeros(5, np.int64)
        st_f = np.zeros(2)
        st_f[_F_T] = clock.t_origin

    if params.tau_r == 0:
        refr_mode = _REFR_NONE
    elif params.refractory == "fixed":
        refr_mode = _REFR_FIXED
    else:
        refr_mode = _REFR_EXP
    pk = _population_arrays(pops)
    # log(1 - P) per row (q_pre * K + q_post) for geometric skipping
    with np.errstate(divide="ignore"):
        log1mp = np.log1p(-pops.prob.T.ravel())
    consts = np.array([params.threshold, params.inhibitory_reversal, dt, params.tau_r,
                       params.tau_m, clock.t_origin])
    modes = np.array([integer, quenched, refr_mode, leak, "voltage" in record,
                      "pending" in record, "refractory" in record, thinned,
                      stride], np.int64)

    counts = np.zeros((n_steps, n_pop), np.int64)
    n_rows = sampled_rows(n_steps, stride)
    rec_v = np.zeros((n_rows, n_tot) if "voltage" in record else (0, 0), np.float32)
    rec_pending = np.zeros((n_rows, n_pop * n_pop) if "pending" in record else (0, 0), np.int64)
    rec_refr = np.zeros((n_rows, n_pop) if "refractory" in record else (0, 0), np.int64)

    chunk = max(1, min(n_steps, 1000))
    buf = SpikeBuffer(int(n_tot * n_steps * dt * 0.1) + 1024, key_dtype=np.float64)
    bar = progress_bar(progress, n_steps * dt, "markov")
    try:
        while st_i[_S_BOUNDARY] < n_steps:
            before = st_i[_S_BOUNDARY]
            buf.reserve(1024)
            stop = min(n_steps, before + chunk)
            buf.n = _run_events(
                rng, n_steps, stop, pk, consts, modes, log1mp, v, last_t, h, fen,
                fen_size, tot, perm, slot, act, refr, queue_t, queue_n, leak_tree, st_i, st_f,
                indptr, indices, counts, buf.key, buf.neuron, buf.n, rec_v, rec_pending,
                rec_refr, stim_table, stim_samples, bounds)
            bar.update((st_i[_S_BOUNDARY] - before) * dt)
    finally:
        bar.close()

    times, neurons = buf.arrays()
    records = asked_records(record, voltage=rec_v, pending=rec_pending, refractory=rec_refr)
    options = {"voltage": voltage, "fixed_indegree": fixed_indegree}
    if quenched:
        options["n_synapses"] = int(indices.size)
    final_state = {"engine": "markov", **clock_state(clock, n_steps), "rng": rng_text(rng),
                   "voltage": v, "last_update": last_t, "pending": h, "pending_tree": fen,
                   "pending_total": tot, "order": perm, "order_slot": slot, "active": act,
                   "refractory": refr, "exit_times": queue_t, "exit_neurons": queue_n,
                   "leak_tree": leak_tree, "counters": st_i.copy(), "times": st_f}
    if quenched:
        final_state["adjacency_rng"] = adjacency_text
    return {
        "population_counts": counts,
        "spike_times": times,
        "spike_neurons": neurons,
        "records": records,
        "options": options,
        "status": "ok",
        "final_state": final_state,
    }
