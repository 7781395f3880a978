"""The stepped engine's physics: what one sweep does to a block of neurons.

A sweep finishes phases 4-5 of one step and runs phases 1-3 of the next for one block of
neurons (:func:`sweep_block`; the phases are those of :mod:`.stepped`'s docstring and
docs/network.md), and :func:`end_sweep` closes a sweep once every block is done. Who runs the
sweeps — one thread, or worker threads that meet every step through atomics — is
:mod:`._pool`'s job; which tables they read is :mod:`.stepped`'s (``run`` fills them in the
layout defined here).

After editing this file, clear ``network/__pycache__``: numba keys its disk cache on each
function's own file, so the cached loops of :mod:`._pool` would keep the sweep they were
compiled with.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba.cpython.unsafe.tuple import tuple_setitem
from numba.np.unsafe.ndarray import to_fixed_tuple

from . import _random as _rnd
from ._common import N_POPULATIONS

__all__ = ["sweep_block", "end_sweep", "binomial_cdf", "window_search"]

# indices into the int "modes" array handed to the kernel
M_DRIVE, M_RECURRENT, M_CONSUMPTION, M_QUENCHED, M_FIXED_REFR, M_REFR_STEPS, \
    M_REC_V, M_REC_PENDING, M_REC_REFR, M_DRIVE_VARYING, M_DRIVE_FIRST, \
    M_REC_STRIDE = range(12)
# indices into the float "consts" array
C_THRESHOLD, C_REVERSAL, C_DT, C_DECAY, C_P_EXIT = range(5)


# Fields of the per-pathway constant table handed to the kernel, ``popc[post, field, pre]``
# (a sender's kick S, or S/(M + M_r) for an inhibitory one, so that S g(V) = that (V + M_r);
# the consumption rate dt/τ or probability 1 - exp(-dt/τ) and its odds; the expected input
# per pending kick per step, S dt/τ; 1.0 if the sender inhibits). A population's input is
# the sum over its senders, in pre-population order (for E, I: + the excitatory term, then -
# the inhibitory one, as the one-sender-per-kind formula had it).
P_S, P_RATE, P_A, P_ODDS, P_INH = range(5)
N_POPC = 5
# Columns of the external drive table ``drive[row, q, :]`` (see :func:`_drive_table`): the
# step's mean kicks λ̄ dt, their sd √(λ̄ dt) (Gaussian drive) and Poisson(λ̄ dt)'s mode with
# its pmf and CDF (Poisson drive). One row for a constant drive, one per step of the chunk
# for a stimulus (row = step - modes[M_DRIVE_FIRST]).
D_LAM_DT, D_SD, D_MODE, D_PMF, D_CDF = range(5)
N_DRIVE = 5
# Positions in the ``tabs`` tuple the kernels receive (stepped.run builds it; the drive table
# is replaced per chunk under a stimulus)
T_MODES, T_DRIVE, T_PROB, T_PW_COL = 11, 12, 13, 14
#: consumption laws with mean up to this have window tables (see ``stepped._window_tables``)
WINDOW_MAX_MEAN = 30.0
#: values per CDF window (a window row also holds the CDF below it, 16 doubles in all)
WINDOW = 15
#: branch-free steps after the guide-table start of a new-kick draw (see :func:`_guided_inverse`)
GUIDE_RUN = 3
#: unsigned array indices (see :func:`sweep_block`)
_U = np.uint64


@numba.njit(cache=True, _nrt=False)
def sweep_block(b, do_c, do_a, step_c, prev_lo, prev_hi, pop_of, blocks, tabs, state, net, draw,
                 out):
    """One block's share of a sweep: phases 4-5 of step ``step_c`` (``do_c``: new pending
    kicks from that step's spikes, ``H <- max(0, H + new - c)``, refractory exit, voltage
    record) and phases 1-3 of the next step (``do_a``: consumption draws, voltage update,
    spikes written to ``scratch[block start:]``).

    Phase 4-5 draws come from the block's stream ``2 b + 1`` and phase 1-3 draws from stream
    ``2 b``, so fusing the two phases in one sweep (or not, at the ends of a kernel call)
    never changes the numbers drawn. ``blk_out[b]``: spikes, pending from E, pending from I
    (on recorded steps of the pending record only),
    refractory neurons. ``prev_lo:prev_hi`` are step_c's spikes in ``spk_neuron``.

    Array indices in the neuron loops are unsigned (``_U``): numba then skips the code that
    maps negative indices, which is a third of the loops' instructions otherwise.
    """
    popc, zx, zr, tab_mode, tab_pmf, tab_cdf, n_tab, win_rows, win_lo, win_cdf, consts, \
        modes, drive, _, _ = tabs
    v, pend, refr, cons, inc, streams = state
    indptr, indices, dense = net
    cdf, guide, n_cdf = draw
    scratch, blk_out, spk_neuron, rec_v = out[0], out[1], out[4], out[5]
    M = consts[C_THRESHOLD]
    Mr = consts[C_REVERSAL]
    decay = consts[C_DECAY]
    p_exit = consts[C_P_EXIT]
    poisson_drive = modes[M_DRIVE] == 1
    sampled = modes[M_RECURRENT] == 1
    binomial = modes[M_CONSUMPTION] == 1
    quenched = modes[M_QUENCHED] == 1
    fixed_refr = modes[M_FIXED_REFR] == 1
    refr_steps = modes[M_REFR_STEPS]
    # the voltage record is sampled: row k holds the end of step (k + 1) m - 1
    stride = modes[M_REC_STRIDE]
    rec_volt = modes[M_REC_V] == 1 and (step_c + 1) % stride == 0
    rec_row = (step_c + 1) // stride - 1
    lo = blocks[b, 0]
    hi = blocks[b, 1]
    q = blocks[b, 2]
    ia = 2 * b
    ic = 2 * b + 1
    # both streams' states live in scalars during the block (see _rnd.advance); stream
    # ia is written back around the rare samplers that take a stream row
    a0, a1, a2, a3 = _load_state(streams, ia)
    c0, c1, c2, c3 = _load_state(streams, ic)
    # the external drive of the step whose phases 1-3 this sweep runs (step_c + 1)
    s = 0
    if modes[M_DRIVE_VARYING] == 1:
        s = min(max(step_c + 1 - modes[M_DRIVE_FIRST], 0), drive.shape[0] - 1)
    lam_dt = drive[s, q, D_LAM_DT]
    sd = drive[s, q, D_SD]
    d_mode = int(drive[s, q, D_MODE])
    d_pmf = drive[s, q, D_PMF]
    d_cdf = drive[s, q, D_CDF]
    n_pop = N_POPULATIONS   # a compile-time constant: numba unrolls the loops over it
    row_q = n_pop * q   # pathway rows q_post * n_pop + q_pre; pend/cons row = pre population
    # the block's per-sender constants as tuples of the compile-time length n_pop: registers
    # in the unrolled sender loops, not loads from popc per neuron
    a_s = to_fixed_tuple(popc[q, P_A], n_pop)
    s_s = to_fixed_tuple(popc[q, P_S], n_pop)
    inh_s = to_fixed_tuple(popc[q, P_INH], n_pop)
    m_new_s = to_fixed_tuple(n_cdf[row_q:row_q + n_pop], n_pop)
    if do_c and quenched and dense.shape[0] > 0:
        # dense adjacency (small networks): add the spiking neurons' rows, vectorised
        for k in range(prev_lo, prev_hi):
            j = _U(spk_neuron[k])
            pre = _U(pop_of[j])
            for n in range(_U(lo), _U(hi)):
                inc[pre, n] += dense[j, n]
    elif do_c and quenched:
        # this block's share of the fan-out of step_c's spikes (rows sorted by target)
        for k in range(prev_lo, prev_hi):
            j = spk_neuron[k]
            t = indptr[j]
            end = indptr[j + 1]
            top = end
            while t < top:
                mid = (t + top) >> 1
                if indices[mid] < lo:
                    t = mid + 1
                else:
                    top = mid
            pre = pop_of[j]
            while t < end and indices[t] < hi:
                inc[pre, indices[t]] += 1
                t += 1
    # The block's work is split into simple loops over its neurons (phases 4-5, the two
    # consumption draws, the voltage update): their iterations are independent, so the
    # table loads of several neurons overlap instead of waiting behind branches.
    n_refr = 0
    if do_c:
        for n in range(_U(lo), _U(hi)):
            # ---- 4: new pending kicks from step_c's spikes, minus the consumed ones, per
            # pre population p (the draws in that order)
            for p in range(n_pop):
                if quenched:
                    new = inc[p, n]
                    inc[p, n] = 0
                else:
                    # exact inverse-CDF draws from the step's Binomial(spikes, P) tables
                    # (n_cdf < 0: P = 1, always -n_cdf; 0: no kicks)
                    row = row_q + p
                    m_new = m_new_s[p]
                    new = -m_new
                    if m_new > 0:
                        r, c0, c1, c2, c3 = _rnd.advance(c0, c1, c2, c3)
                        u = _rnd.to_unit(r)
                        new = _guided_inverse(u, cdf, row, guide[row, _U(u * (m_new + 1))])
                h = pend[p, n] + new - cons[p, n]
                h = h if h > 0 else 0
                pend[p, n] = h
            # ---- 5: refractory exit, without branches on the neuron's state (a fifth of
            # the neurons are refractory, at random: a branch would be mispredicted often);
            # the exponential rule draws for every neuron and uses it for refractory ones
            rf = refr[n]
            if fixed_refr:
                rf = rf - 1 if rf > 0 else 0
            else:
                r, c0, c1, c2, c3 = _rnd.advance(c0, c1, c2, c3)
                rf = 0 if _rnd.to_unit(r) < p_exit else rf
            refr[n] = rf
            n_refr += rf > 0
            if rec_volt:
                rec_v[rec_row, n] = v[n]
    cnt = 0
    if do_a:
        # ---- 1: consumption draws, exact: inversion of one uniform, by a branch-free
        # search of the tabulated CDF window around the mean, else walking from the
        # tabulated mode; rejection samplers beyond the tables
        for kind in range(n_pop):   # kind: the pre population
            row = row_q + kind
            rate = popc[q, P_RATE, kind]
            odds = popc[q, P_ODDS, kind]
            n_table = n_tab[row]
            w_base = win_rows[row, 0]
            w_hmax = win_rows[row, 1]
            for n in range(_U(lo), _U(hi)):
                h = pend[kind, n]
                if h <= w_hmax:
                    r, a0, a1, a2, a3 = _rnd.advance(a0, a1, a2, a3)
                    u = _rnd.to_unit(r)
                    o = _U(w_base + h)
                    k = window_search(win_cdf, o, u)
                    if k < WINDOW and u >= win_cdf[o, _U(WINDOW)]:
                        cons[kind, n] = win_lo[o] + k
                        continue
                elif h == 0:
                    cons[kind, n] = 0
                    continue
                else:
                    r, a0, a1, a2, a3 = _rnd.advance(a0, a1, a2, a3)
                    u = _rnd.to_unit(r)
                if h < n_table:
                    if binomial:
                        cons[kind, n] = _rnd.binomial_from_mode(
                            u, h, odds, tab_mode[row, h], tab_pmf[row, h], tab_cdf[row, h])
                    else:
                        cons[kind, n] = _rnd.poisson_from_mode(
                            u, h * rate, tab_mode[row, h], tab_pmf[row, h], tab_cdf[row, h])
                else:
                    _store_state(streams, ia, a0, a1, a2, a3)
                    if binomial:
                        cons[kind, n] = _rnd.binomial(streams[ia], h, rate)
                    else:
                        cons[kind, n] = _rnd.poisson(streams[ia], h * rate)
                    a0, a1, a2, a3 = _load_state(streams, ia)
        for n in range(_U(lo), _U(hi)):
            # ---- 2: voltage update (refractory neurons ignore their input)
            if refr[n] > 0:
                continue
            x = v[n]
            r, a0, a1, a2, a3 = _rnd.advance(a0, a1, a2, a3)
            if poisson_drive:
                ext = float(_rnd.poisson_from_mode(_rnd.to_unit(r), lam_dt, d_mode, d_pmf,
                                                   d_cdf))
            else:
                # _rnd.normal written out (a call passing the tables costs more than the
                # draw)
                zi = r & np.uint64(255)
                zu = 2.0 * _rnd.to_unit(r) - 1.0
                if abs(zu) < zr[zi]:
                    z = zu * zx[zi]
                else:
                    _store_state(streams, ia, a0, a1, a2, a3)
                    z = _rnd.normal_slow(streams[ia], int(zi), zu, zx, zr)
                    a0, a1, a2, a3 = _load_state(streams, ia)
                ext = lam_dt + sd * z
            if not sampled:
                # + S dt/τ H of each excitatory sender, - S g(V) dt/τ H of each inhibitory
                # one, V at the start of the step, senders in pre-population order
                y = x * decay + ext
                for p in range(n_pop):
                    if inh_s[p] != 0.0:
                        y -= a_s[p] * (x + Mr) * pend[p, n]
                    else:
                        y += a_s[p] * pend[p, n]
                x = y
            else:
                x = x * decay + ext
                # the min(c, H) consumed kicks of each sender, applied one by one in a
                # uniformly random order: while two or more senders have kicks left, each
                # kick is a categorical draw over them (weights: the counts left; the first
                # p with u * total < the counts of senders 0..p, else the last one with
                # kicks); then the one sender left, if any, applies its kicks without draws
                # (for E, I: the draws and the order of before)
                left = m_new_s   # counts left per sender: a tuple (of n_pop int64, set below)
                total = 0
                senders = 0
                for p in range(n_pop):
                    c = min(cons[p, n], pend[p, n])
                    left = tuple_setitem(left, p, c)
                    total += c
                    senders += c > 0
                while senders > 1:
                    r, a0, a1, a2, a3 = _rnd.advance(a0, a1, a2, a3)
                    t = _rnd.to_unit(r) * total
                    cum = 0
                    pick = -1
                    last = 0
                    for p in range(n_pop):
                        cum += left[p]
                        if left[p] > 0:
                            last = p
                        if pick < 0 and t < cum:
                            pick = p
                    if pick < 0:   # u * total rounded up to total
                        pick = last
                    for p in range(n_pop):   # (constant indices once unrolled: registers)
                        if p == pick:
                            if inh_s[p] != 0.0:
                                x -= s_s[p] * (x + Mr)
                            else:
                                x += s_s[p]
                            left = tuple_setitem(left, p, left[p] - 1)
                            if left[p] == 0:
                                senders -= 1
                    total -= 1
                for p in range(n_pop):
                    if inh_s[p] != 0.0:
                        for _ in range(left[p]):
                            x -= s_s[p] * (x + Mr)
                    else:
                        for _ in range(left[p]):
                            x += s_s[p]
            # ---- 3: spike
            if x > M:
                v[n] = 0.0
                refr[n] = refr_steps
                scratch[lo + cnt] = n
                cnt += 1
            else:
                v[n] = x
    _store_state(streams, ia, a0, a1, a2, a3)
    _store_state(streams, ic, c0, c1, c2, c3)
    blk_out[b, 0] = cnt
    # 1 + pre population: the block's pending kicks from it (after phase 4), summed only for
    # a step the pending record keeps (nothing else reads them)
    if do_c and modes[M_REC_PENDING] == 1 and (step_c + 1) % stride == 0:
        for p in range(n_pop):
            total_p = 0
            for n in range(_U(lo), _U(hi)):
                total_p += pend[p, n]
            blk_out[b, 1 + p] = total_p
    blk_out[b, 1 + n_pop] = n_refr


@numba.njit(cache=True, inline="always")
def _load_state(streams, i):
    """Stream ``i``'s xoshiro state as four scalars (see _rnd.advance)."""
    return streams[i, 0], streams[i, 1], streams[i, 2], streams[i, 3]


@numba.njit(cache=True, inline="always")
def _store_state(streams, i, s0, s1, s2, s3):
    """Write a state held in scalars back to stream ``i``."""
    streams[i, 0] = s0
    streams[i, 1] = s1
    streams[i, 2] = s2
    streams[i, 3] = s3


@numba.njit(cache=True, inline="always")
def window_search(win_cdf, o, u):
    """``#{j < WINDOW : win_cdf[o, j] <= u}`` for a nondecreasing row, by four branch-free
    binary-search steps (WINDOW = 2^4 - 1); ``o`` unsigned."""
    k = 8 * (u >= win_cdf[o, _U(7)])
    k += 4 * (u >= win_cdf[o, _U(k + 3)])
    k += 2 * (u >= win_cdf[o, _U(k + 1)])
    k += u >= win_cdf[o, _U(k)]
    return k


@numba.njit(cache=True, inline="always")
def _guided_inverse(u, cdf, row, start):
    """Smallest k >= start with cdf[row, k] > u: first GUIDE_RUN branch-free steps, then a
    walk in the rare case that they did not get there. Rows of ``cdf`` must hold GUIDE_RUN
    values >= 1 past their last point (see :func:`binomial_cdf`). (The row is an index, not
    a view: a view made in a loop costs two atomic reference counts.)"""
    k = start
    r = _U(row)
    for _ in range(GUIDE_RUN):
        k += u >= cdf[r, _U(k)]
    while cdf[r, _U(k)] <= u:
        k += 1
    return k


@numba.njit(cache=True, _nrt=False)
def binomial_cdf(n, p, out, guide, row):
    """out[row, k] = P(Binomial(n, p) <= k) for k = 0..n (1 exactly from k = n on, through the
    padding), 0 < p < 1, and a guide table (Chen & Asau): guide[row, j] = smallest k with
    out[row, k] > j / (n + 1), so that an inverse-CDF draw starting at
    guide[row, int(u (n + 1))] needs about two comparisons.

    The pmf is evaluated once at the mode (log-gamma) and carried from there by its ratio
    recurrence, down and up: no underflow for large n, one multiply per value (this runs
    every step, between the threads' sweeps)."""
    odds = p / (1.0 - p)
    mode = min(n, int((n + 1) * p))
    at_mode = math.exp(math.lgamma(n + 1.0) - math.lgamma(mode + 1.0)
                       - math.lgamma(n - mode + 1.0) + mode * math.log(p)
                       + (n - mode) * math.log1p(-p))
    x = at_mode
    out[row, mode] = x
    for k in range(mode, 0, -1):
        x *= k / ((n - k + 1) * odds)
        out[row, k - 1] = x
    x = at_mode
    for k in range(mode, n):
        x *= (n - k) * odds / (k + 1)
        out[row, k + 1] = x
    acc = 0.0
    for k in range(n):
        acc += out[row, k]
        out[row, k] = min(acc, 1.0)  # a sum that rounds above 1 must not pass F(n) = 1
    out[row, n:] = 1.0  # out[n] and the padding read by _guided_inverse
    k = 0
    step = 1.0 / (n + 1.0)
    for j in range(n + 1):
        while out[row, k] <= j * step:
            k += 1
        guide[row, j] = k


@numba.njit(cache=True, _nrt=False)
def _finish_records(step, n_blocks, blocks, blk_out, modes, pw_col, rec_pending, rec_refr):
    # sums straight into the record rows (no temporary arrays: this runs every step); the
    # records are sampled every m = modes[M_REC_STRIDE] steps
    stride = modes[M_REC_STRIDE]
    if (step + 1) % stride != 0:
        return
    step = (step + 1) // stride - 1
    if modes[M_REC_PENDING]:
        # the pending kicks from population pre of block b's population q go to the record
        # column pw_col[q, pre] (pathway order of PATHWAYS, post-pre)
        n_pop = pw_col.shape[0]
        for c in range(rec_pending.shape[1]):
            rec_pending[step, c] = 0
        for b in range(n_blocks):
            q = blocks[b, 2]
            for pre in range(n_pop):
                rec_pending[step, pw_col[q, pre]] += blk_out[b, 1 + pre]
    if modes[M_REC_REFR]:
        n_pop = pw_col.shape[0]
        for q in range(rec_refr.shape[1]):
            rec_refr[step, q] = 0
        for b in range(n_blocks):
            rec_refr[step, blocks[b, 2]] += blk_out[b, 1 + n_pop]


@numba.njit(cache=True, _nrt=False)
def end_sweep(step, have_c, do_a, n_spk, last, n_tot, blocks, tabs, draw, out):
    """The serial work between two sweeps, given the sweep just done (``have_c``, ``do_a``,
    ``step``: the step whose phases 1-3 it ran): the records of step - 1; the spikes of
    ``step`` into the spike buffer, its population counts and (annealed) the tables of its
    new-kick binomials. Returns the next sweep's ``(step, have_c, do_a, n_spk, prev_lo,
    prev_hi, stop)``; ``stop``: the call is over (``step`` is then the first step not begun).
    """
    modes, prob, pw_col = tabs[T_MODES], tabs[T_PROB], tabs[T_PW_COL]
    cdf, guide, n_cdf = draw
    scratch, blk_out, counts, spk_step, spk_neuron, _, rec_pending, rec_refr = out
    n_blocks = blocks.shape[0]
    if have_c:
        _finish_records(step - 1, n_blocks, blocks, blk_out, modes, pw_col, rec_pending,
                        rec_refr)
    if not do_a:
        return step, have_c, do_a, n_spk, 0, 0, True
    # ---- spikes of this step, in neuron order (blocks are in neuron order)
    prev_lo = n_spk
    n_pop = prob.shape[0]
    for q in range(n_pop):
        counts[step, q] = 0
    for b in range(n_blocks):
        lo = blocks[b, 0]
        c = blk_out[b, 0]
        for k in range(c):
            spk_step[n_spk] = step
            spk_neuron[n_spk] = scratch[lo + k]
            n_spk += 1
        counts[step, blocks[b, 2]] += c
    # ---- tables of this step's new-kick binomials (annealed), rows q_post * n_pop + q_pre
    if modes[M_QUENCHED] == 0:
        for q in range(n_pop):
            for qp in range(n_pop):
                row = n_pop * q + qp
                p = prob[q, qp]
                m = counts[step, qp]
                if m == 0 or p <= 0.0:
                    n_cdf[row] = 0
                elif p >= 1.0:
                    n_cdf[row] = -m
                else:
                    binomial_cdf(m, p, cdf, guide, row)
                    n_cdf[row] = m
    step += 1
    do_a = step < last and n_spk + n_tot <= spk_step.size
    return step, True, do_a, n_spk, prev_lo, n_spk, False
