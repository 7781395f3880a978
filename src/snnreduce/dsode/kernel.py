"""The dsODE time step (SPEC §4) as numba kernels: one parameter set, or many in parallel.

All state lives in arrays so that a run can be advanced in chunks (progress bar) and many
parameter sets can be advanced side by side (``prange`` over sets). Population index 0 = E,
1 = I; pathways in ``PATHWAYS`` order ("ee", "ie", "ei", "ii"; post, pre).
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import prange

from .moments import POP_N, POP_TAU_M, TAB_P, TAB_TAU, advance_moments, input_coefficients
from .transport import reconstruct, transport_source

# Float constants of one parameter set (``fc``).
FC_DT = 0
FC_E0 = 1          # lowest bin edge, V_low
FC_DV = 2          # bin width
FC_TRUNC = 3       # truncate_sd
FC_TAU_R = 4       # refractory time constant, ms
FC_P_EXIT = 5      # exponential rule: exit probability per step end
N_FC = 6

# Integer constants (``ic``).
IC_BINS = 0        # number of bins K
IC_REF_MODE = 1    # REF_EXPONENTIAL, REF_FIXED or REF_PAPER
IC_REF_STEPS = 2   # fixed rule: step ends spent refractory (length of the delay line)
IC_EULER = 3       # 1: explicit Euler for the moments
IC_NOISE = 4       # 1: finite-size sampling noise
IC_PENDING_NOISE = 5  # 1: (finite-size) sampling noise of pending-kick arrival/consumption
IC_RATE_LAG = 6    # 1: the moments see the previous step's spikes (the paper's code)
N_IC = 7

REF_EXPONENTIAL = 0
REF_FIXED = 1
REF_PAPER = 2

# A source bin holding less than this many neurons is carried without transport (stays in
# its bin): this bounds the work spent on Gaussian-tail dust and changes no mass.
DUST = 1e-12


@numba.njit(cache=True, inline="always")
def _split(rng, count, prob):
    """Binomial thinning of a real count: Binomial(floor(count), prob) plus the fractional
    remainder kept whole with probability ``prob``. Unbiased, within ``[0, count]``."""
    whole = math.floor(count)
    frac = count - whole
    x = 0.0
    if whole > 0 and prob > 0.0:
        x = float(rng.binomial(np.int64(whole), min(prob, 1.0)))
    if frac > 0.0 and rng.random() < prob:
        x += frac
    return x


@numba.njit(cache=True)
def _sample_source(rng, count, lo, hi, p, out):
    """Multinomial split of ``count`` neurons over bins ``lo..hi`` (probabilities ``p``) and
    firing (probability ``1 - sum(p[lo..hi])``). ``out[lo..hi]`` receives the counts; returns
    the number fired.

    The integer part is split by sequential conditional binomials (exact multinomial); the
    fractional remainder of ``count`` travels as one unit to an outcome drawn from ``p``.
    """
    whole = math.floor(count)
    frac = count - whole
    rem = np.int64(whole)
    prem = 1.0
    for d in range(lo, hi + 1):
        x = 0
        if rem > 0 and p[d] > 0.0:
            if p[d] >= prem:  # the last outcome with probability left (up to round-off)
                x = rem
            else:
                x = rng.binomial(rem, p[d] / prem)
        out[d] = float(x)
        rem -= x
        prem -= p[d]
    n_fired = float(rem)  # the last outcome takes whatever is left
    if frac > 0.0:
        u = rng.random()
        acc = 0.0
        placed = False
        for d in range(lo, hi + 1):
            acc += p[d]
            if u < acc:
                out[d] += frac
                placed = True
                break
        if not placed:
            n_fired += frac
    return n_fired


@numba.njit(cache=True, fastmath={"contract"})
def _advance(n, vm, refr, line, h, var, last, pop, pw, fc, ic, step0, n_steps, rng,
             counts, rec_n, rec_m, rec_h, rec_v, rec_r, rec0):
    """Advance one parameter set by ``n_steps`` steps; returns the steps done (< n_steps on
    a non-finite state).

    State (modified in place): ``n``/``vm`` (2, K) neurons and mean voltage per bin,
    ``refr`` (2,) refractory pool, ``line`` (2, L) delay line of the fixed rule, ``h``/``var``
    (4,) pending-kick moments, ``last`` (2,) the previous step's spikes (for ``rate_lag``).
    ``counts`` receives the spikes of step ``i`` at row ``rec0 + i``; so do the ``rec_*``
    arrays (first dimension 0 when not recorded) with the state after the step. ``step0`` is
    the global index of the first step (delay line).
    """
    dt = fc[FC_DT]
    e0 = fc[FC_E0]
    dv = fc[FC_DV]
    trunc = fc[FC_TRUNC]
    tau_r = fc[FC_TAU_R]
    p_exit = fc[FC_P_EXIT]
    n_bins = ic[IC_BINS]
    ref_mode = ic[IC_REF_MODE]
    ref_steps = ic[IC_REF_STEPS]
    euler = ic[IC_EULER] == 1
    noise = ic[IC_NOISE] == 1
    pending_noise = ic[IC_PENDING_NOISE] == 1
    rate_lag = ic[IC_RATE_LAG] == 1
    zero_bin = min(max(int(math.floor((0.0 - e0) / dv)), 0), n_bins - 1)

    new_n = np.empty(n_bins)
    new_m1 = np.empty(n_bins)
    pbuf = np.zeros(n_bins)
    mbuf = np.zeros(n_bins)
    xbuf = np.zeros(n_bins)
    fired = np.zeros(2)
    rates = np.zeros(2)
    h_before = np.zeros(4)

    for i in range(n_steps):
        step = step0 + i
        for q in range(2):
            tau_m = pop[q, POP_TAU_M]
            shrink = math.exp(-dt / tau_m) if tau_m > 0.0 else 1.0
            for k in range(n_bins):
                new_n[k] = 0.0
                new_m1[k] = 0.0
            f_q = 0.0
            in_a, in_b, in_c, in_d, g1, g0 = input_coefficients(q, h, var, pop, dt)
            for k in range(n_bins):
                nk = n[q, k]
                if nk <= 0.0:
                    continue
                vb = vm[q, k]
                if nk < DUST:
                    new_n[k] += nk
                    new_m1[k] += nk * vb
                    continue
                a, w = reconstruct(vb, e0 + k * dv, dv)
                g = g1 * vb + g0
                mu = in_a - in_b * g
                s2 = max(in_c + in_d * g * g, 0.0)
                # leak: every voltage of the uniform law decays by exp(-dt/τ_m) (= -v dt/τ_m
                # to first order), so the interval shrinks towards 0
                a *= shrink
                w *= shrink
                lo, hi, p_fire = transport_source(a, w, mu, math.sqrt(s2), e0, dv, n_bins,
                                                  trunc, pbuf, mbuf)
                if noise:
                    f_q += _sample_source(rng, nk, lo, hi, pbuf, xbuf)
                    for d in range(lo, hi + 1):
                        if xbuf[d] > 0.0:
                            new_n[d] += xbuf[d]
                            new_m1[d] += xbuf[d] * (mbuf[d] / pbuf[d])
                else:
                    f_q += nk * p_fire
                    for d in range(lo, hi + 1):
                        new_n[d] += nk * pbuf[d]
                        new_m1[d] += nk * mbuf[d]

            # refractory pool (SPEC §4 step 4)
            if ref_mode == REF_EXPONENTIAL:
                pool = refr[q] + f_q
                leave = _split(rng, pool, p_exit) if noise else pool * p_exit
                refr[q] = pool - leave
            elif ref_mode == REF_FIXED:
                line[q, step % ref_steps] += f_q
                j = (step + 1) % ref_steps
                leave = line[q, j]
                line[q, j] = 0.0
                refr[q] = refr[q] + f_q - leave
            else:  # the paper code's rule, kept as published
                refr[q] += f_q
                if tau_r > 0.0:
                    leave = abs((-refr[q] / tau_r + f_q) * dt)
                    leave = min(leave, refr[q])
                else:
                    leave = refr[q]
                refr[q] -= leave
            if refr[q] < 0.0:  # round-off only
                leave += refr[q]
                refr[q] = 0.0
            new_n[zero_bin] += leave  # leavers re-enter at V = 0 (adds 0 to the first moment)

            for k in range(n_bins):
                nk = new_n[k]
                n[q, k] = nk
                low = e0 + k * dv
                if nk > 0.0:
                    v = new_m1[k] / nk
                    vm[q, k] = min(max(v, low), low + dv)
                else:
                    vm[q, k] = low + 0.5 * dv
            fired[q] = f_q
            counts[rec0 + i, q] = f_q

        # moments with this step's population rates (SPEC §4 step 5)
        if rate_lag:
            rates[0] = last[0] / dt
            rates[1] = last[1] / dt
        else:
            rates[0] = fired[0] / dt
            rates[1] = fired[1] / dt
        last[0] = fired[0]
        last[1] = fired[1]
        if noise and pending_noise:
            h_before[:] = h
        advance_moments(h, var, rates, pw, dt, euler)
        if noise and pending_noise:
            for j in range(4):
                post = j % 2
                pre = 0 if j < 2 else 1
                n_post = pop[post, POP_N]
                c = -math.expm1(-dt / pw[j, TAB_TAU])
                pr = pw[j, TAB_P]
                # binomial consumption of the pending kicks + binomial arrivals of new ones
                v_tot = (h_before[j] * n_post * c * (1.0 - c)
                         + n_post * rates[pre] * dt * pr * (1.0 - pr))
                if v_tot > 0.0:
                    h[j] = max(h[j] + math.sqrt(v_tot) / n_post * rng.standard_normal(), 0.0)

        r = rec0 + i
        if rec_n.shape[0] > 0:
            for q in range(2):
                for k in range(n_bins):
                    rec_n[r, q, k] = n[q, k]
        if rec_m.shape[0] > 0:
            for q in range(2):
                for k in range(n_bins):
                    rec_m[r, q, k] = vm[q, k]
        if rec_h.shape[0] > 0:
            for j in range(4):
                rec_h[r, j] = h[j] * pop[j % 2, POP_N]
        if rec_v.shape[0] > 0:
            for j in range(4):
                rec_v[r, j] = var[j]
        if rec_r.shape[0] > 0:
            rec_r[r, 0] = refr[0]
            rec_r[r, 1] = refr[1]
        if not (math.isfinite(fired[0]) and math.isfinite(fired[1])
                and math.isfinite(h[0] + h[1] + h[2] + h[3])):
            return i + 1
    return n_steps


@numba.njit(cache=True, parallel=True)
def _advance_batch(n, vm, refr, line, h, var, last, pop, pw, fc, ic, n_steps, rng,
                   counts, rec_n, rec_m, rec_h, rec_v, rec_r, done):
    """:func:`_advance` for many parameter sets (leading dimension), in parallel over sets.

    Deterministic only (the shared ``rng`` is never drawn from). ``n_steps[s]`` steps for
    set ``s``; ``done[s]`` receives the steps completed.
    """
    for s in prange(n.shape[0]):
        done[s] = _advance(n[s], vm[s], refr[s], line[s], h[s], var[s], last[s], pop[s], pw[s],
                           fc[s], ic[s], 0, n_steps[s], rng, counts[s], rec_n[s], rec_m[s],
                           rec_h[s], rec_v[s], rec_r[s], 0)
