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
(:func:`_worker`, the synchronisation in :mod:`._pool`, which says why), for networks of at
least :data:`PARALLEL_MIN_N` neurons; the result depends only on the seed, never on threads or
chunking.
"""

from __future__ import annotations

import math
import time

import numba
import numpy as np
from numba.cpython.unsafe.tuple import tuple_setitem
from numba.np.unsafe.ndarray import to_fixed_tuple

from .._resume import (clock_of, clock_state, is_state, record_stride, rng_from_text, rng_text,
                      sampled_rows, state_arrays)
from .._threads import prefer_workqueue
from ..params import ParameterError
from ..populations import PATHWAY_POST, PATHWAY_PRE, kernel_population_table, tables
from ..stimulus import external_drive
from . import _atomic
from . import _pool
from . import _random as _rnd
from ._common import (COL_LAMBDA, N_POPULATIONS, SpikeBuffer, asked_records, check_choice,
                      check_engine_record, check_flag, check_no_unknown, initial_voltages,
                      n_steps_of, progress_bar, quenched_adjacency,
                      refractory_rule, start_voltages)

__all__ = ["run", "DRIVES", "RECURRENT", "CONSUMPTION"]

DRIVES = ("gaussian", "poisson")
RECURRENT = ("expected", "sampled")
CONSUMPTION = ("poisson", "binomial")

# indices into the int "modes" array handed to the kernel
_M_DRIVE, _M_RECURRENT, _M_CONSUMPTION, _M_QUENCHED, _M_FIXED_REFR, _M_REFR_STEPS, \
    _M_REC_V, _M_REC_PENDING, _M_REC_REFR, _M_DRIVE_VARYING, _M_DRIVE_FIRST, \
    _M_REC_STRIDE = range(12)
# indices into the float "consts" array
_C_THRESHOLD, _C_REVERSAL, _C_DT, _C_DECAY, _C_P_EXIT = range(5)


# Fields of the per-pathway constant table handed to the kernel, ``popc[post, field, pre]``
# (a sender's kick S, or S/(M + M_r) for an inhibitory one, so that S g(V) = that (V + M_r);
# the consumption rate dt/τ or probability 1 - exp(-dt/τ) and its odds; the expected input
# per pending kick per step, S dt/τ; 1.0 if the sender inhibits). A population's input is
# the sum over its senders, in pre-population order (for E, I: + the excitatory term, then -
# the inhibitory one, as the one-sender-per-kind formula had it).
_P_S, _P_RATE, _P_A, _P_ODDS, _P_INH = range(5)
_N_POPC = 5
# Columns of the external drive table ``drive[row, q, :]`` (see :func:`_drive_table`): the
# step's mean kicks λ̄ dt, their sd √(λ̄ dt) (Gaussian drive) and Poisson(λ̄ dt)'s mode with
# its pmf and CDF (Poisson drive). One row for a constant drive, one per step of the chunk
# for a stimulus (row = step - modes[_M_DRIVE_FIRST]).
_D_LAM_DT, _D_SD, _D_MODE, _D_PMF, _D_CDF = range(5)
_N_DRIVE = 5

#: smallest and largest block sizes (neurons; see :func:`_block_size`): each block has its own
#: two random streams, so the result does not depend on how blocks are shared among threads.
BLOCK_MIN = 100
BLOCK_MAX = 1024
#: networks with at least this many neurons may run on all numba threads (see _pool.SweepChooser).
PARALLEL_MIN_N = 256
#: unsigned array indices (see :func:`_sweep_block`)
_U = np.uint64


@numba.njit(cache=True, _nrt=False)
def _sweep_block(b, do_c, do_a, step_c, prev_lo, prev_hi, pop_of, blocks, tabs, state, net, draw,
                 out):
    """One block's share of a sweep: phases 4-5 of step ``step_c`` (``do_c``: new pending
    kicks from that step's spikes, ``H <- max(0, H + new - c)``, refractory exit, voltage
    record) and phases 1-3 of the next step (``do_a``: consumption draws, voltage update,
    spikes written to ``scratch[block start:]``).

    Phase 4-5 draws come from the block's stream ``2 b + 1`` and phase 1-3 draws from stream
    ``2 b``, so fusing the two phases in one sweep (or not, at the ends of a kernel call)
    never changes the numbers drawn. ``blk_out[b]``: spikes, pending from E, pending from I,
    refractory neurons. ``prev_lo:prev_hi`` are step_c's spikes in ``spk_neuron``.

    Array indices in the neuron loops are unsigned (``_U``): numba then skips the code that
    maps negative indices, which is a third of the loops' instructions otherwise.
    """
    popc, zx, zr, tab_mode, tab_pmf, tab_cdf, n_tab, win_rows, win_lo, win_cdf, table, \
        consts, modes, drive, _, _ = tabs
    v, pend, refr, cons, inc, streams = state
    indptr, indices, dense = net
    cdf, guide, n_cdf = draw
    scratch, blk_out, spk_neuron, rec_v = out[0], out[1], out[4], out[5]
    M = consts[_C_THRESHOLD]
    Mr = consts[_C_REVERSAL]
    decay = consts[_C_DECAY]
    p_exit = consts[_C_P_EXIT]
    poisson_drive = modes[_M_DRIVE] == 1
    sampled = modes[_M_RECURRENT] == 1
    binomial = modes[_M_CONSUMPTION] == 1
    quenched = modes[_M_QUENCHED] == 1
    fixed_refr = modes[_M_FIXED_REFR] == 1
    refr_steps = modes[_M_REFR_STEPS]
    # the voltage record is sampled: row k holds the end of step (k + 1) m - 1
    stride = modes[_M_REC_STRIDE]
    rec_volt = modes[_M_REC_V] == 1 and (step_c + 1) % stride == 0
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
    if modes[_M_DRIVE_VARYING] == 1:
        s = min(max(step_c + 1 - modes[_M_DRIVE_FIRST], 0), drive.shape[0] - 1)
    lam_dt = drive[s, q, _D_LAM_DT]
    sd = drive[s, q, _D_SD]
    d_mode = int(drive[s, q, _D_MODE])
    d_pmf = drive[s, q, _D_PMF]
    d_cdf = drive[s, q, _D_CDF]
    n_pop = N_POPULATIONS   # a compile-time constant: numba unrolls the loops over it
    row_q = n_pop * q   # pathway rows q_post * n_pop + q_pre; pend/cons row = pre population
    # the block's per-sender constants as tuples of the compile-time length n_pop: registers
    # in the unrolled sender loops, not loads from popc per neuron
    a_s = to_fixed_tuple(popc[q, _P_A], n_pop)
    s_s = to_fixed_tuple(popc[q, _P_S], n_pop)
    inh_s = to_fixed_tuple(popc[q, _P_INH], n_pop)
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
            rate = popc[q, _P_RATE, kind]
            odds = popc[q, _P_ODDS, kind]
            n_table = n_tab[row]
            w_base = win_rows[row, 0]
            w_hmax = win_rows[row, 1]
            for n in range(_U(lo), _U(hi)):
                h = pend[kind, n]
                if h <= w_hmax:
                    r, a0, a1, a2, a3 = _rnd.advance(a0, a1, a2, a3)
                    u = _rnd.to_unit(r)
                    o = _U(w_base + h)
                    k = _window_search(win_cdf, o, u)
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
    # 1 + pre population: the block's pending kicks from it (after phase 4; 0 without it)
    for p in range(n_pop):
        total_p = 0
        if do_c:
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
def _window_search(win_cdf, o, u):
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
    values >= 1 past their last point (see :func:`_binomial_cdf`). (The row is an index, not
    a view: a view made in a loop costs two atomic reference counts.)"""
    k = start
    r = _U(row)
    for _ in range(GUIDE_RUN):
        k += u >= cdf[r, _U(k)]
    while cdf[r, _U(k)] <= u:
        k += 1
    return k


@numba.njit(cache=True, _nrt=False)
def _binomial_cdf(n, p, out, guide, row):
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
    # records are sampled every m = modes[_M_REC_STRIDE] steps
    stride = modes[_M_REC_STRIDE]
    if (step + 1) % stride != 0:
        return
    step = (step + 1) // stride - 1
    if modes[_M_REC_PENDING]:
        # the pending kicks from population pre of block b's population q go to the record
        # column pw_col[q, pre] (pathway order of PATHWAYS, post-pre)
        n_pop = pw_col.shape[0]
        for c in range(rec_pending.shape[1]):
            rec_pending[step, c] = 0
        for b in range(n_blocks):
            q = blocks[b, 2]
            for pre in range(n_pop):
                rec_pending[step, pw_col[q, pre]] += blk_out[b, 1 + pre]
    if modes[_M_REC_REFR]:
        n_pop = pw_col.shape[0]
        for q in range(rec_refr.shape[1]):
            rec_refr[step, q] = 0
        for b in range(n_blocks):
            rec_refr[step, blocks[b, 2]] += blk_out[b, 1 + n_pop]


@numba.njit(cache=True, _nrt=False)
def _end_sweep(step, have_c, do_a, n_spk, last, n_tot, blocks, tabs, draw, out):
    """The serial work between two sweeps, given the sweep just done (``have_c``, ``do_a``,
    ``step``: the step whose phases 1-3 it ran): the records of step - 1; the spikes of
    ``step`` into the spike buffer, its population counts and (annealed) the tables of its
    new-kick binomials. Returns the next sweep's ``(step, have_c, do_a, n_spk, prev_lo,
    prev_hi, stop)``; ``stop``: the call is over (``step`` is then the first step not begun).
    """
    modes, prob, pw_col = tabs[12], tabs[14], tabs[15]
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
    if modes[_M_QUENCHED] == 0:
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
                    _binomial_cdf(m, p, cdf, guide, row)
                    n_cdf[row] = m
    step += 1
    do_a = step < last and n_spk + n_tot <= spk_step.size
    return step, True, do_a, n_spk, prev_lo, n_spk, False


@numba.njit(cache=True, _nrt=False)
def _run_serial(first, last, n_spk, pop_of, blocks, tabs, state, net, draw, out):
    """Advance steps ``first .. last-1`` on one thread; returns (next step, spikes stored).

    Stops early, before a step, when the spike buffer could overflow during it (the caller
    checked that the first step fits). Every call ends with the state of a whole step (the
    last sweep only finishes the last step).
    """
    n_tot = state[0].size
    step, have_c, do_a, prev_lo, prev_hi = first, False, True, 0, 0
    while True:
        for b in range(blocks.shape[0]):
            _sweep_block(b, have_c, do_a, step - 1, prev_lo, prev_hi, pop_of, blocks, tabs, state,
                         net, draw, out)
        step, have_c, do_a, n_spk, prev_lo, prev_hi, stop = _end_sweep(
            step, have_c, do_a, n_spk, last, n_tot, blocks, tabs, draw, out)
        if stop:
            return step, n_spk


@numba.njit(cache=True, _nrt=False)
def _worker(w, n_workers, last, pop_of, blocks, tabs, state, net, draw, out, sync):
    """Thread ``w`` of :func:`_run_workers`. Per sweep it runs the blocks of its own share
    (so that a block's neurons stay in one core's cache) and then waits for the sweep's end;
    if that takes longer than STEAL_PAUSES it takes any block nobody has taken yet. The thread
    whose blocks complete the sweep does :func:`_end_sweep` and publishes the next sweep.

    Blocks are taken, not assigned: a thread that starts late, or never, only means the others
    take more, so the call cannot deadlock, and each block draws from its own streams, so
    the result does not depend on who took what.
    """
    n_tot = state[0].size
    n_blocks = blocks.shape[0]
    own_lo = (w * n_blocks) // n_workers
    own_hi = ((w + 1) * n_blocks) // n_workers
    sweep = 0
    while True:
        spins = 0
        while _atomic.load_acquire(sync, _pool.S_GEN) < sweep:
            spins += 1
            _pool.wait(spins)
        if sync[_pool.S_STOP] == 1:
            return
        step = sync[_pool.S_STEP]
        have_c = sync[_pool.S_HAVE_C] == 1
        do_a = sync[_pool.S_DO_A] == 1
        prev_lo = sync[_pool.S_PREV_LO]
        prev_hi = sync[_pool.S_PREV_HI]
        limit = (sweep + 1) * n_blocks
        done = 0
        for b in range(own_lo, own_hi):
            if _pool.take(sync, b, sweep):
                _sweep_block(b, have_c, do_a, step - 1, prev_lo, prev_hi, pop_of, blocks, tabs,
                             state, net, draw, out)
                done += 1
        # one count per thread and sweep: the thread whose count completes the sweep ends it
        finisher = done > 0 and _atomic.fetch_add(sync, _pool.S_DONE, done) + done == limit
        spins = 0
        while not finisher and _atomic.load_acquire(sync, _pool.S_GEN) <= sweep:
            spins += 1
            if spins % _pool.STEAL_PAUSES == 0:
                for b in range(n_blocks):
                    if _pool.take(sync, b, sweep):
                        _sweep_block(b, have_c, do_a, step - 1, prev_lo, prev_hi, pop_of, blocks,
                                     tabs, state, net, draw, out)
                        if _atomic.fetch_add(sync, _pool.S_DONE, 1) + 1 == limit:
                            finisher = True
                            break
            _pool.wait(spins)
        if finisher:
            nxt, nhave, ndo, nspk, nlo, nhi, stop = _end_sweep(
                step, have_c, do_a, sync[_pool.S_N_SPK], last, n_tot, blocks, tabs, draw, out)
            sync[_pool.S_STEP] = nxt
            sync[_pool.S_HAVE_C] = nhave
            sync[_pool.S_DO_A] = ndo
            sync[_pool.S_N_SPK] = nspk
            sync[_pool.S_PREV_LO] = nlo
            sync[_pool.S_PREV_HI] = nhi
            sync[_pool.S_STOP] = stop
            _atomic.store_release(sync, _pool.S_GEN, sweep + 1)
        sweep += 1


@numba.njit(cache=True, parallel=True, _nrt=False)
def _run_workers(n_workers, last, pop_of, blocks, tabs, state, net, draw, out, sync):
    """:func:`_run_serial` on ``n_workers`` threads that meet every sweep through ``sync``
    (set up by :func:`_run_steps`), not through numba's thread pool."""
    for w in numba.prange(n_workers):
        _worker(w, n_workers, last, pop_of, blocks, tabs, state, net, draw, out, sync)


def _run_steps(parallel, first, last, n_spk, pop_of, blocks, tabs, state, net, draw, out):
    """Advance steps ``first .. last-1`` (fewer if the spike buffer fills: see
    :func:`_run_serial`); returns (next step, spikes stored)."""
    n_tot = state[0].size
    if not (first < last and n_spk + n_tot <= out[3].size):
        return first, n_spk
    n_workers = _pool.worker_count() if parallel else 1
    if n_workers < 2:
        return _run_serial(first, last, n_spk, pop_of, blocks, tabs, state, net, draw, out)
    sync = _pool.new_sync(blocks.shape[0], first, n_spk)
    _run_workers(n_workers, last, pop_of, blocks, tabs, state, net, draw, out, sync)
    return int(sync[_pool.S_STEP]), int(sync[_pool.S_N_SPK])


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


#: consumption laws with mean up to this have window tables (see :func:`_window_tables`)
WINDOW_MAX_MEAN = 30.0
#: values per CDF window (a window row also holds the CDF below it, 16 doubles in all)
WINDOW = 15
#: branch-free steps after the guide-table start of a new-kick draw (see :func:`_guided_inverse`)
GUIDE_RUN = 3


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
    (K, _N_POPC, K), from ``pops`` (:func:`snnreduce.populations.tables`): kick, consumption
    rate and odds, expected input per pending kick, inhibitory flag of the pre population."""
    dt = params.dt
    inv_span = 1.0 / (params.threshold + params.inhibitory_reversal)
    k = pops.n_populations
    popc = np.zeros((k, _N_POPC, k))
    for q in range(k):
        for p in range(k):
            tau = pops.tau[q, p]
            inhibitory = bool(pops.inhibitory[p])
            # inhibitory: times (V + M_r) gives S g(V)
            s = pops.kick[q, p] * inv_span if inhibitory else pops.kick[q, p]
            popc[q, _P_S, p] = s
            popc[q, _P_INH, p] = 1.0 if inhibitory else 0.0
            if binomial:
                rate = -math.expm1(-dt / tau)
                popc[q, _P_RATE, p] = rate
                popc[q, _P_ODDS, p] = rate / (1.0 - rate) if rate < 1.0 else np.inf
            else:
                popc[q, _P_RATE, p] = dt / tau
            popc[q, _P_A, p] = s * dt / tau
    return popc


def _drive_table(rates, dt, poisson):
    """The external drive of each step and population, ``(n, 2, _N_DRIVE)``, from the rates
    ``(n, 2)`` (kicks/ms): λ dt, √(λ dt) and, for the Poisson drive (``poisson``), the mode
    of Poisson(λ dt) with its pmf and CDF (exact inversion from the mode)."""
    lam_dt = np.asarray(rates, np.float64) * dt
    drive = np.zeros(lam_dt.shape + (_N_DRIVE,))
    drive[..., _D_LAM_DT] = lam_dt
    drive[..., _D_SD] = np.sqrt(lam_dt)
    if poisson:
        mode, pmf, cdf = _rnd.poisson_mode_table(lam_dt)
        drive[..., _D_MODE], drive[..., _D_PMF], drive[..., _D_CDF] = mode, pmf, cdf
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
        v[:] = start_voltages(params, rng, initial_state, default=initial_voltages)
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
    table = kernel_population_table(params)
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
    drive_rows = _drive_table(table[None, :, COL_LAMBDA], dt, poisson_drive)
    # the kernel's arguments, grouped (numba unpacks tuples of arrays for free)
    tabs = (popc, _rnd.ZIG_X, _rnd.ZIG_R, tab_mode, tab_pmf, tab_cdf, n_tab, win_rows, win_lo,
            win_cdf, table, consts, modes, drive_rows, pops.prob, pw_col)
    state = (v, pend, refr, cons, inc, streams)
    net = (indptr, indices, dense)
    draw = (cdf, guide, n_cdf)
    prefer_workqueue()  # before the first parallel launch (snnreduce._threads says why)
    chooser = _pool.SweepChooser(n_tot >= PARALLEL_MIN_N and numba.get_num_threads() > 1)

    counts = np.zeros((n_steps, 2), np.int64)
    n_rows = sampled_rows(n_steps, stride)
    rec_v = np.zeros((n_rows, n_tot) if "voltage" in record else (0, 0), np.float32)
    rec_pending = np.zeros((n_rows, 4) if "pending" in record else (0, 0), np.int64)
    rec_refr = np.zeros((n_rows, 2) if "refractory" in record else (0, 0), np.int64)

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
                modes[_M_DRIVE_FIRST] = step
                tabs = tabs[:13] + (_drive_table(rates[step:target], dt, poisson_drive),) \
                    + tabs[14:]
            started = time.perf_counter()
            out = (scratch, blk_out, counts, buf.key, buf.neuron, rec_v, rec_pending, rec_refr)
            new_step, buf.n = _run_steps(parallel, step, target, buf.n, pop_of, blocks, tabs,
                                         state, net, draw, out)
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
