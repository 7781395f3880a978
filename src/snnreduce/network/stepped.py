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
block of at most :data:`BLOCK` neurons, seeded from the run's Generator; every sampler is exact.
A step is one sweep over the blocks (finishing the previous step's phases 4-5, then phases 1-3),
run on all numba threads for networks of at least :data:`PARALLEL_MIN_N` neurons; the result
depends only on the seed, never on threads or chunking.
"""

from __future__ import annotations

import math
import time
import types

import numba
import numpy as np

from ..params import ParameterError
from . import _random as _rnd
from ._random import _U53
from ._common import asked_records
from ._common import (COL_LAMBDA, COL_P_EXC, COL_P_INH, COL_S_EXC, COL_S_INH, COL_TAU_EXC,
                      COL_TAU_INH, SpikeBuffer, check_choice, check_flag, check_no_unknown,
                      check_record, initial_voltages, n_steps_of, population_table, progress_bar,
                      quenched_adjacency, refractory_rule)

__all__ = ["run", "DRIVES", "RECURRENT", "CONSUMPTION"]

DRIVES = ("gaussian", "poisson")
RECURRENT = ("expected", "sampled")
CONSUMPTION = ("poisson", "binomial")

# indices into the int "modes" array handed to the kernel
_M_DRIVE, _M_RECURRENT, _M_CONSUMPTION, _M_QUENCHED, _M_FIXED_REFR, _M_REFR_STEPS, \
    _M_REC_V, _M_REC_PENDING, _M_REC_REFR = range(9)
# indices into the float "consts" array
_C_THRESHOLD, _C_REVERSAL, _C_DT, _C_DECAY, _C_P_EXIT = range(5)


# Columns of the per-population constant table handed to the kernel (row = post population).
(_P_LAM_DT, _P_SD, _P_S_EXC, _P_S_INH, _P_RATE_EXC, _P_RATE_INH, _P_A_EXC, _P_A_INH,
 _P_ODDS_EXC, _P_ODDS_INH, _P_DRIVE_MODE, _P_DRIVE_PMF, _P_DRIVE_CDF) = range(13)
_N_POPC = 13

#: neurons per block: each block has its own two random streams, so the result does not
#: depend on how blocks are shared among threads.
BLOCK = 512
#: networks with at least this many neurons run the neuron loop on all numba threads.
PARALLEL_MIN_N = 2000
#: unsigned array indices (see :func:`_pass_body`)
_U = np.uint64


def _pass_body(do_c, do_a, step_c, n_e, blocks, streams, popc, zx, zr, tab_mode, tab_pmf, tab_cdf,
               n_tab, win_rows, win_lo, win_cdf, consts, modes, v, pend, refr,
               cons, cdf, guide, n_cdf, indptr, indices, spk_neuron, prev_lo,
               prev_hi, inc_exc, inc_inh, scratch, blk_out, rec_v):
    """One sweep over all neurons, block by block (``prange``: blocks may run in parallel).

    ``do_c``: finish step ``step_c`` (phases 4-5: new pending kicks from that step's spikes,
    ``H <- max(0, H + new - c)``, refractory exit; voltage record). ``do_a``: phases 1-3 of
    the next step (consumption draws, voltage update, spikes, written to
    ``scratch[block start:]``). Per block, phase 4-5 draws come from stream ``2 b + 1`` and
    phase 1-3 draws from stream ``2 b``, so fusing the two phases in one sweep (or not, at the
    ends of a kernel call) never changes the numbers drawn.
    ``blk_out[b]``: spikes, pending from E, pending from I, refractory neurons.

    Array indices in the neuron loops are unsigned (``_U``): numba then skips the code that
    maps negative indices, which is a third of the loops' instructions otherwise.
    """
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
    rec_volt = modes[_M_REC_V] == 1
    n_blocks = blocks.shape[0]
    for b in numba.prange(n_blocks):
        lo = blocks[b, 0]
        hi = blocks[b, 1]
        q = blocks[b, 2]
        ia = 2 * b
        ic = 2 * b + 1
        # both streams' states live in scalars during the block (see _rnd.advance); stream
        # ia is written back around the rare samplers that take a stream row
        a0, a1, a2, a3 = streams[ia, 0], streams[ia, 1], streams[ia, 2], streams[ia, 3]
        c0, c1, c2, c3 = streams[ic, 0], streams[ic, 1], streams[ic, 2], streams[ic, 3]
        lam_dt = popc[q, _P_LAM_DT]
        sd = popc[q, _P_SD]
        s_exc = popc[q, _P_S_EXC]
        s_inh = popc[q, _P_S_INH]
        a_exc = popc[q, _P_A_EXC]
        a_inh = popc[q, _P_A_INH]
        d_mode = int(popc[q, _P_DRIVE_MODE])
        d_pmf = popc[q, _P_DRIVE_PMF]
        d_cdf = popc[q, _P_DRIVE_CDF]
        row_e = 2 * q
        row_i = 2 * q + 1
        m_exc = n_cdf[row_e]
        m_inh = n_cdf[row_i]
        if do_c and quenched:
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
                if j < n_e:
                    while t < end and indices[t] < hi:
                        inc_exc[indices[t]] += 1
                        t += 1
                else:
                    while t < end and indices[t] < hi:
                        inc_inh[indices[t]] += 1
                        t += 1
        # The block's work is split into simple loops over its neurons (phases 4-5, the two
        # consumption draws, the voltage update): their iterations are independent, so the
        # table loads of several neurons overlap instead of waiting behind branches.
        pend_e = 0
        pend_i = 0
        n_refr = 0
        if do_c:
            for n in range(_U(lo), _U(hi)):
                # ---- 4: new pending kicks from step_c's spikes, minus the consumed ones
                if quenched:
                    new_e = inc_exc[n]
                    new_i = inc_inh[n]
                    inc_exc[n] = 0
                    inc_inh[n] = 0
                else:
                    # exact inverse-CDF draws from the step's Binomial(spikes, P) tables
                    # (n_cdf < 0: P = 1, always -n_cdf; 0: no kicks)
                    new_e = -m_exc
                    if m_exc > 0:
                        r, c0, c1, c2, c3 = _rnd.advance(c0, c1, c2, c3)
                        u = _rnd.to_unit(r)
                        new_e = _guided_inverse(u, cdf, row_e, guide[row_e, _U(u * (m_exc + 1))])
                    new_i = -m_inh
                    if m_inh > 0:
                        r, c0, c1, c2, c3 = _rnd.advance(c0, c1, c2, c3)
                        u = _rnd.to_unit(r)
                        new_i = _guided_inverse(u, cdf, row_i, guide[row_i, _U(u * (m_inh + 1))])
                h = pend[0, n] + new_e - cons[0, n]
                h = h if h > 0 else 0
                pend[0, n] = h
                pend_e += h
                h = pend[1, n] + new_i - cons[1, n]
                h = h if h > 0 else 0
                pend[1, n] = h
                pend_i += h
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
                    rec_v[step_c, n] = v[n]
        cnt = 0
        if do_a:
            # ---- 1: consumption draws, exact: inversion of one uniform, by a branch-free
            # search of the tabulated CDF window around the mean, else walking from the
            # tabulated mode; rejection samplers beyond the tables
            for kind in range(2):
                row = row_e + kind
                rate = popc[q, _P_RATE_EXC + kind]
                odds = popc[q, _P_ODDS_EXC + kind]
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
                        streams[ia, 0], streams[ia, 1], streams[ia, 2], streams[ia, 3] = a0, a1, a2, a3
                        if binomial:
                            cons[kind, n] = _rnd.binomial(streams[ia], h, rate)
                        else:
                            cons[kind, n] = _rnd.poisson(streams[ia], h * rate)
                        a0, a1, a2, a3 = streams[ia, 0], streams[ia, 1], streams[ia, 2], streams[ia, 3]
            for n in range(_U(lo), _U(hi)):
                # ---- 2: voltage update, computed for refractory neurons too and dropped
                # (no branch on the refractory state, as above)
                held = refr[n] > 0
                if held:
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
                        streams[ia, 0], streams[ia, 1], streams[ia, 2], streams[ia, 3] = a0, a1, a2, a3
                        z = _rnd.normal_slow(streams[ia], int(zi), zu, zx, zr)
                        a0, a1, a2, a3 = streams[ia, 0], streams[ia, 1], streams[ia, 2], streams[ia, 3]
                    ext = lam_dt + sd * z
                he = pend[0, n]
                hi_ = pend[1, n]
                if not sampled:
                    x = x * decay + ext + a_exc * he - a_inh * (x + Mr) * hi_
                else:
                    x = x * decay + ext
                    re = min(cons[0, n], he)
                    ri = min(cons[1, n], hi_)
                    while re > 0 or ri > 0:
                        if re > 0 and ri > 0:
                            r, a0, a1, a2, a3 = _rnd.advance(a0, a1, a2, a3)
                            exc = _rnd.to_unit(r) * (re + ri) < re
                        else:
                            exc = re > 0
                        if exc:
                            x += s_exc
                            re -= 1
                        else:
                            x -= s_inh * (x + Mr)
                            ri -= 1
                # ---- 3: spike
                if x > M and not held:
                    v[n] = 0.0
                    refr[n] = refr_steps
                    scratch[lo + cnt] = n
                    cnt += 1
                else:
                    v[n] = x
        streams[ia, 0], streams[ia, 1], streams[ia, 2], streams[ia, 3] = a0, a1, a2, a3
        streams[ic, 0], streams[ic, 1], streams[ic, 2], streams[ic, 3] = c0, c1, c2, c3
        blk_out[b, 0] = cnt
        blk_out[b, 1] = pend_e
        blk_out[b, 2] = pend_i
        blk_out[b, 3] = n_refr


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


def _renamed(func, name):
    """A copy of ``func`` under another name: numba's on-disk cache is keyed by the name, and
    the serial and parallel compilations of one body must not share an entry."""
    new = types.FunctionType(func.__code__, func.__globals__, name, func.__defaults__,
                             func.__closure__)
    new.__qualname__ = name
    new.__doc__ = func.__doc__
    return new


# Without reference counting (_nrt=False; the body allocates nothing): numba would otherwise
# count a reference to each of the ~30 array arguments in and out of every call, two atomic
# operations apiece, every step.
_pass_serial = numba.njit(cache=True, _nrt=False)(_renamed(_pass_body, "_pass_serial"))
_pass_parallel = numba.njit(cache=True, parallel=True, _nrt=False)(
    _renamed(_pass_body, "_pass_parallel"))


@numba.njit(cache=True)
def _binomial_cdf(n, p, out, guide, row):
    """out[row, k] = P(Binomial(n, p) <= k) for k = 0..n (1 exactly from k = n on, through the
    padding), 0 < p < 1, and a guide table (Chen & Asau): guide[row, j] = smallest k with
    out[row, k] > j / (n + 1), so that an inverse-CDF draw starting at
    guide[row, int(u (n + 1))] needs about two comparisons."""
    log_odds = math.log(p) - math.log1p(-p)
    log_pmf = n * math.log1p(-p)
    acc = 0.0
    for k in range(n):
        acc += math.exp(log_pmf)
        out[row, k] = acc
        log_pmf += math.log((n - k) / (k + 1.0)) + log_odds
    out[row, n:] = 1.0  # out[n] and the padding read by _guided_inverse
    k = 0
    for j in range(n + 1):
        while out[row, k] <= j / (n + 1.0):
            k += 1
        guide[row, j] = k


@numba.njit(cache=True, _nrt=False)
def _finish_records(step, n_blocks, blocks, blk_out, modes, rec_pending, rec_refr):
    # sums straight into the record rows (no temporary arrays: this runs every step)
    if modes[_M_REC_PENDING]:
        # pathway order ee, ie, ei, ii (post-pre): column q from E, 2 + q from I
        for c in range(4):
            rec_pending[step, c] = 0
        for b in range(n_blocks):
            q = blocks[b, 2]
            rec_pending[step, q] += blk_out[b, 1]
            rec_pending[step, 2 + q] += blk_out[b, 2]
    if modes[_M_REC_REFR]:
        rec_refr[step, 0] = 0
        rec_refr[step, 1] = 0
        for b in range(n_blocks):
            rec_refr[step, blocks[b, 2]] += blk_out[b, 3]


@numba.njit(cache=True)
def _run_steps(parallel, first, last, n_e, blocks, streams, popc, zx, zr, tab_mode, tab_pmf,
               tab_cdf, n_tab, win_rows, win_lo, win_cdf, table, consts, modes, v, pend,
               refr, cons, cdf, guide, n_cdf, indptr, indices, inc_exc,
               inc_inh, scratch, blk_out, counts, spk_step, spk_neuron, n_spk, rec_v, rec_pending,
               rec_refr):
    """Advance steps ``first .. last-1``; returns (next step, spikes stored).

    Stops early, before a step, when the spike buffer could overflow during it. Every call
    ends with the state of a whole step (the last sweep only finishes the last step).
    """
    n_tot = v.size
    cap = spk_step.size
    n_blocks = blocks.shape[0]
    quenched = modes[_M_QUENCHED] == 1
    nspk = np.zeros(2, dtype=np.int64)
    have_c = False
    prev_lo = 0
    prev_hi = 0
    step = first
    while True:
        do_a = step < last and n_spk + n_tot <= cap
        if not do_a and not have_c:
            break
        if parallel:
            _pass_parallel(have_c, do_a, step - 1, n_e, blocks, streams, popc, zx, zr, tab_mode,
                           tab_pmf, tab_cdf, n_tab, win_rows, win_lo, win_cdf, consts,
                           modes, v, pend, refr, cons, cdf, guide, n_cdf,
                           indptr, indices, spk_neuron, prev_lo, prev_hi, inc_exc, inc_inh,
                           scratch, blk_out, rec_v)
        else:
            _pass_serial(have_c, do_a, step - 1, n_e, blocks, streams, popc, zx, zr, tab_mode,
                         tab_pmf, tab_cdf, n_tab, win_rows, win_lo, win_cdf, consts, modes,
                         v, pend, refr, cons, cdf, guide, n_cdf, indptr,
                         indices, spk_neuron, prev_lo, prev_hi, inc_exc, inc_inh, scratch, blk_out,
                         rec_v)
        if have_c:
            _finish_records(step - 1, n_blocks, blocks, blk_out, modes, rec_pending, rec_refr)
        if not do_a:
            break
        # ---- spikes of this step, in neuron order (blocks are in neuron order)
        prev_lo = n_spk
        nspk[:] = 0
        for b in range(n_blocks):
            lo = blocks[b, 0]
            c = blk_out[b, 0]
            for k in range(c):
                spk_step[n_spk] = step
                spk_neuron[n_spk] = scratch[lo + k]
                n_spk += 1
            nspk[blocks[b, 2]] += c
        prev_hi = n_spk
        counts[step, 0] = nspk[0]
        counts[step, 1] = nspk[1]
        # ---- tables of this step's new-kick binomials (annealed), rows 2 q_post + q_pre
        if not quenched:
            for q in range(2):
                for qp in range(2):
                    row = 2 * q + qp
                    p = table[q, COL_P_EXC] if qp == 0 else table[q, COL_P_INH]
                    m = nspk[qp]
                    if m == 0 or p <= 0.0:
                        n_cdf[row] = 0
                    elif p >= 1.0:
                        n_cdf[row] = -m
                    else:
                        _binomial_cdf(m, p, cdf, guide, row)
                        n_cdf[row] = m
        have_c = True
        step += 1
    return step, n_spk


def _consumption_tables(params, table, binomial):
    """Per pathway row ``2 q_post + kind`` (kind 0: pending from E, 1: from I) and pending
    count h: mode, pmf and CDF at the mode of the consumption law, Poisson(h dt / tau) or
    Binomial(h, 1 - exp(-dt / tau)), for exact inversion from the mode.

    Rows cover every pending count up to 4 times what a 100 Hz network would hold (at least
    4096, at most 65536); larger counts use the rejection samplers of ``_random``.
    """
    taus = table[:, [COL_TAU_EXC, COL_TAU_INH]].ravel()
    probs = table[:, [COL_P_EXC, COL_P_INH]].ravel()
    n_pre = np.array([params.n_e, params.n_i, params.n_e, params.n_i])
    cap = int(min(1 << 16, max(4096, 4 * np.max(probs * n_pre * taus * 0.1))))
    h = np.arange(cap)
    mode = np.zeros((4, cap), np.int64)
    pmf = np.zeros((4, cap))
    cdf = np.zeros((4, cap))
    for row, tau in enumerate(taus):
        if binomial:
            p_cons = -math.expm1(-params.dt / tau)
            mode[row], pmf[row], cdf[row] = _rnd.binomial_mode_table(h, p_cons)
        else:
            mode[row], pmf[row], cdf[row] = _rnd.poisson_mode_table(h * params.dt / tau)
    return mode, pmf, cdf, np.full(4, cap, np.int64)


#: consumption laws with mean up to this have window tables (see :func:`_window_tables`)
WINDOW_MAX_MEAN = 30.0
#: values per CDF window (a window row also holds the CDF below it, 16 doubles in all)
WINDOW = 15
#: branch-free steps after the guide-table start of a new-kick draw (see :func:`_guided_inverse`)
GUIDE_RUN = 3


def _window_tables(params, table, binomial, tab_mode):
    """CDF windows of the consumption laws for the branch-free inversion.

    For pathway row r and pending count ``0 <= h <= hmax_r`` (mean m = h dt / tau, or h p, at
    most WINDOW_MAX_MEAN) the window is number ``o = base_r + h`` and starts at
    ``lo = max(0, mode - WINDOW // 2)``: ``win_cdf[o, j] = F(lo + j)`` for j < WINDOW
    (binomial: exactly 1 from k = h on) and ``win_cdf[o, WINDOW] = F(lo - 1)``. A
    uniform u with ``F(lo - 1) <= u`` maps to ``lo + #{j : F(lo + j) <= u}`` when that count is
    below WINDOW, which is exact inversion; other draws walk from the tabulated mode.

    Returns
    -------
    win_rows : ndarray of int64, shape (4, 2)
        ``(base_r, hmax_r)`` per row; ``hmax_r = -1``: no windows (binomial with p = 1).
    win_lo : ndarray of int64, shape (number of windows,)
    win_cdf : ndarray of float64, shape (number of windows, WINDOW + 1)
    """
    from scipy import stats

    taus = table[:, [COL_TAU_EXC, COL_TAU_INH]].ravel()
    rates = -np.expm1(-params.dt / taus) if binomial else params.dt / taus
    win_rows = np.zeros((4, 2), np.int64)
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


def _population_constants(params, table, binomial):
    """The per-population constants of the kernel, shape (2, _N_POPC)."""
    dt = params.dt
    inv_span = 1.0 / (params.threshold + params.inhibitory_reversal)
    popc = np.zeros((2, _N_POPC))
    for q in range(2):
        lam_dt = table[q, COL_LAMBDA] * dt
        tau_e, tau_i = table[q, COL_TAU_EXC], table[q, COL_TAU_INH]
        s_inh = table[q, COL_S_INH] * inv_span  # times (V + M_r) gives S g(V)
        popc[q, _P_LAM_DT] = lam_dt
        popc[q, _P_SD] = math.sqrt(lam_dt)
        popc[q, _P_S_EXC] = table[q, COL_S_EXC]
        popc[q, _P_S_INH] = s_inh
        if binomial:
            p_e, p_i = -math.expm1(-dt / tau_e), -math.expm1(-dt / tau_i)
            popc[q, _P_RATE_EXC], popc[q, _P_RATE_INH] = p_e, p_i
            popc[q, _P_ODDS_EXC] = p_e / (1.0 - p_e) if p_e < 1.0 else np.inf
            popc[q, _P_ODDS_INH] = p_i / (1.0 - p_i) if p_i < 1.0 else np.inf
        else:
            popc[q, _P_RATE_EXC], popc[q, _P_RATE_INH] = dt / tau_e, dt / tau_i
        popc[q, _P_A_EXC] = table[q, COL_S_EXC] * dt / tau_e
        popc[q, _P_A_INH] = s_inh * dt / tau_i
        d_mode, d_pmf, d_cdf = _rnd.poisson_mode_table(lam_dt)
        popc[q, _P_DRIVE_MODE] = d_mode
        popc[q, _P_DRIVE_PMF] = d_pmf
        popc[q, _P_DRIVE_CDF] = d_cdf
    return popc


class _SweepChooser:
    """Picks serial or parallel sweeps for each chunk from the wall time per step measured so
    far: the faster one, with the other re-timed every ``PROBE_EVERY`` chunks.

    Both give identical results, so this only moves speed: a parallel sweep waits at a barrier
    every step and can be many times slower than a serial one when another process holds a
    core. Timing chunks ("probes") are short, so a bad choice costs little; the first one is
    not counted (it may include loading the compiled kernel).
    """

    PROBE_EVERY = 16

    def __init__(self, allowed: bool):
        self.allowed = allowed
        self.cost = {True: None, False: None}
        self.chunks = 0
        self.timed = False

    def pick(self) -> tuple[bool, bool]:
        """(parallel, probe) for the next chunk."""
        self.chunks += 1
        if not self.allowed:
            return False, False
        if not self.timed:
            return True, True
        for mode in (True, False):
            if self.cost[mode] is None:
                return mode, True
        best = self.cost[True] <= self.cost[False]
        if self.chunks % self.PROBE_EVERY == 0:
            return not best, True
        return best, False

    def record(self, mode: bool, seconds_per_step: float) -> None:
        if self.timed:
            self.cost[mode] = seconds_per_step
        self.timed = True


def _blocks(n_e, n_tot):
    """Blocks of at most BLOCK neurons inside each population: rows (start, stop, population)."""
    rows = []
    for q, (lo, hi) in enumerate(((0, n_e), (n_e, n_tot))):
        for start in range(lo, hi, BLOCK):
            rows.append((start, min(hi, start + BLOCK), q))
    return np.array(rows, np.int64).reshape(-1, 3)


def run(params, *, t_end: float, rng: np.random.Generator, record=(), progress: bool = False,
        drive: str = "gaussian", recurrent: str = "expected", consumption: str = "poisson",
        fixed_indegree: bool = False, **unknown) -> dict:
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
    record : iterable of str
        Any of ``"voltage"`` (float32, (n_steps, N), end of step), ``"pending"`` (total pending
        kicks per pathway summed over the post population, (n_steps, 4), order ee, ie, ei, ii
        post-pre, end of step), ``"refractory"`` (refractory neurons per population at the end
        of each step, i.e. those that ignore input in the next step, (n_steps, 2)).
    progress : bool
        Show a tqdm progress bar (does not change the random stream).
    drive : {"gaussian", "poisson"}
        External increment per step: N(lambda dt, lambda dt) (paper) or a Poisson(lambda dt)
        number of unit kicks.
    recurrent : {"expected", "sampled"}
        Recurrent increment: the expected input of the pending kicks (paper), or the consumed
        kicks themselves applied one by one.
    consumption : {"poisson", "binomial"}
        Kicks consumed per step: Poisson(H dt / tau) (paper) or Binomial(H, 1 - exp(-dt/tau)).
    fixed_indegree : bool
        Quenched networks only: every neuron gets exactly round(P N_pre) presynaptic partners
        per pathway instead of Bernoulli(P) per pair.

    Returns
    -------
    dict
        ``population_counts`` (int64, (n_steps, 2)), ``spike_times`` (ms, step midpoints,
        sorted), ``spike_neurons`` (int32, E first), ``records``, ``options``, ``status``.
    """
    check_no_unknown(unknown, "stepped", ("drive", "recurrent", "consumption", "fixed_indegree"))
    drive = check_choice("drive", drive, DRIVES)
    recurrent = check_choice("recurrent", recurrent, RECURRENT)
    consumption = check_choice("consumption", consumption, CONSUMPTION)
    fixed_indegree = check_flag("fixed_indegree", fixed_indegree)
    record = check_record(record, "stepped")
    quenched = params.connectivity == "quenched"
    if fixed_indegree and not quenched:
        raise ParameterError("fixed_indegree=True needs connectivity='quenched', got 'annealed'")
    if not isinstance(rng, np.random.Generator):
        raise ParameterError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")

    n_e, n_i = params.n_e, params.n_i
    n_tot = n_e + n_i
    dt = params.dt
    n_steps = n_steps_of(t_end, dt)

    if quenched:
        indptr, indices = quenched_adjacency(params, rng, fixed_indegree)
    else:
        indptr, indices = np.zeros(1, np.int64), np.zeros(0, np.int32)
    v = initial_voltages(params, rng)
    pend = np.zeros((2, n_tot), np.int64)  # pending kicks from E (row 0) and from I (row 1)
    refr = np.zeros(n_tot, np.int64)
    cons = np.zeros((2, n_tot), np.int64)  # kicks consumed in the step, same rows
    inc_exc = np.zeros(n_tot if quenched else 0, np.int64)
    inc_inh = np.zeros(n_tot if quenched else 0, np.int64)
    cdf = np.zeros((4, 1 if quenched else max(n_e, n_i) + 1 + GUIDE_RUN))
    guide = np.zeros(cdf.shape, np.int64)
    n_cdf = np.zeros(4, np.int64)

    fixed, p_exit, refr_steps = refractory_rule(params)
    decay = math.exp(-dt / params.tau_m) if params.tau_m > 0 else 1.0
    consts = np.array([params.threshold, params.inhibitory_reversal, dt, decay, p_exit])
    modes = np.array([DRIVES.index(drive), RECURRENT.index(recurrent),
                      CONSUMPTION.index(consumption), int(quenched), fixed, refr_steps,
                      "voltage" in record, "pending" in record, "refractory" in record],
                     dtype=np.int64)
    table = population_table(params)
    binomial = consumption == "binomial"
    tab_mode, tab_pmf, tab_cdf, n_tab = _consumption_tables(params, table, binomial)
    win_rows, win_lo, win_cdf = _window_tables(params, table, binomial, tab_mode)
    popc = _population_constants(params, table, binomial)
    blocks = _blocks(n_e, n_tot)
    # the dynamics' random streams: two per block, seeded from rng after the adjacency and
    # the initial voltages
    streams = _rnd.make_streams(rng, 2 * blocks.shape[0])
    scratch = np.zeros(n_tot, np.int64)
    blk_out = np.zeros((blocks.shape[0], 8), np.int64)  # a cache line per block
    chooser = _SweepChooser(n_tot >= PARALLEL_MIN_N and numba.get_num_threads() > 1)

    counts = np.zeros((n_steps, 2), np.int64)
    rec_v = np.zeros((n_steps, n_tot) if "voltage" in record else (0, 0), np.float32)
    rec_pending = np.zeros((n_steps, 4) if "pending" in record else (0, 0), np.int64)
    rec_refr = np.zeros((n_steps, 2) if "refractory" in record else (0, 0), np.int64)

    # a chunk is ~1e6 neuron-steps: bounded kernel calls, responsive progress bar, and
    # frequent enough timings for the choice between serial and parallel sweeps
    chunk = max(1, min(n_steps, 1_000_000 // n_tot))
    probe_chunk = max(2, 20_000 // n_tot)  # steps timed when choosing serial or parallel
    expected_spikes = int(n_tot * chunk * dt * 0.2) + 4 * n_tot  # 200 Hz per chunk
    buf = SpikeBuffer(expected_spikes)
    bar = progress_bar(progress, n_steps * dt, "stepped")
    step = 0
    try:
        while step < n_steps:
            buf.reserve(n_tot + 1)
            parallel, probe = chooser.pick()
            target = min(n_steps, step + (probe_chunk if probe else chunk))
            started = time.perf_counter()
            new_step, buf.n = _run_steps(
                parallel, step, target, n_e, blocks, streams, popc, _rnd.ZIG_X, _rnd.ZIG_R,
                tab_mode, tab_pmf, tab_cdf, n_tab, win_rows, win_lo, win_cdf, table,
                consts, modes, v, pend, refr,
                cons, cdf, guide, n_cdf, indptr, indices, inc_exc, inc_inh,
                scratch, blk_out, counts, buf.key, buf.neuron, buf.n, rec_v, rec_pending,
                rec_refr)
            chooser.record(parallel, (time.perf_counter() - started) / max(1, new_step - step))
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
    return {
        "population_counts": counts,
        "spike_times": (steps + 0.5) * dt,
        "spike_neurons": neurons,
        "records": records,
        "options": options,
        "status": "ok",
    }
