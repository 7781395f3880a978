"""The dsODE time step (SPEC §4) as numba kernels: one parameter set, or many in parallel.

All state lives in arrays so that a run can be advanced in chunks (progress bar) and many
parameter sets can be advanced side by side (``prange`` over sets). Populations and pathways
are data: the kernel loops over the rows of the population table (``pop``, one per post
population) and of the pathway table (``pw``, one per pathway, with its post and pre
population), in the layout of :mod:`snnreduce.populations`; each population's input is a sum
over its senders (the pathway rows with that post population, each excitatory or inhibitory
by the table's flag), and the second index of the closure "ou" deviations is the sender's
(pre) population.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import prange
from numba.cpython.unsafe.tuple import tuple_setitem

from .moments import (POP_LAMBDA, POP_N, POP_TAU_M, TAB_INHIBITORY, TAB_KICK, TAB_P, TAB_POST,
                      TAB_PRE, TAB_TAU, advance_pathway, advance_pathway_exact,
                      input_coefficients_at)
from .transport import (_edge_integrals, _edge_integrals_cond, _edge_integrals_linear_cond,
                        _edge_integrals_wide, _fma, _reconstruct_select, _source_assemble,
                        _source_assemble_g, _source_fill, _source_fill_linear, _source_setup,
                        _u, reconstruct_linear)

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
IC_COLORED = 7     # 1: closure "ou", per-bin conditional means of the pending-kick deviation
IC_LINEAR = 8      # 1: closure "ou-cond-linear", linear in-bin law (transport.reconstruct_linear)
IC_CONDITIONAL = 9  # 1: closure "ou-cond", exact conditional mean deviation of the arrivals
N_IC = 10

REF_EXPONENTIAL = 0
REF_FIXED = 1
REF_PAPER = 2

def sender_kinds(pw) -> tuple:
    """The kernels' ``senders`` argument for the pathway table ``pw``: per pre population p
    (0 .. K-1), 1.0 if it is inhibitory, else 0.0. A tuple, so that numba compiles the
    kernel for its length K: the loops over senders then have a compile-time trip count and
    their per-sender constants live in registers (``len(senders)`` must be the number of
    populations of the tables)."""
    kinds = [0.0] * (int(pw[:, TAB_PRE].max()) + 1)
    for j in range(pw.shape[0]):
        kinds[int(pw[j, TAB_PRE])] = float(pw[j, TAB_INHIBITORY] != 0.0)
    return tuple(kinds)


#: ``lam`` of a run without a time-varying stimulus: no rows, the tables' constant λ_Q.
NO_STIMULUS = np.zeros((0, 2))

# A source bin holding less than this many neurons is carried without transport (stays in
# its bin): this bounds the work spent on Gaussian-tail dust and changes no mass.
DUST = 1e-12

# Per-source constants of the batched transport: rows of ``sf`` (float) and ``si`` (int),
# one column per occupied source bin (see _setup_sources and transport._source_setup).
SF_UA0 = 0     # standardised offset of the first edge considered
SF_DU = 1      # standardised step between edges, dv / s
SF_OFF = 2     # w / s
SF_R = 3       # s / w (0: the source is treated as a point)
SF_RS = 4      # s² / w
SF_S = 5       # input sd
SF_C0 = 6      # lowest edge considered
SF_MEAN = 7    # mean voltage after the step
SF_KAP = 8     # closure "ou-cond-linear": slope κ of the linear in-bin law (0: uniform)
N_SF = 9
SI_LO = 0      # lowest destination bin
SI_HI = 1      # highest destination bin
SI_EDGES = 2   # edges to evaluate in the vectorised pass (0 for a point)
N_SI = 3
# Edges evaluated per vectorised pass (more are flushed in several passes).
_BATCH_EDGES = 2048
# The edge loop is evaluated for a whole number of vectors of this many edges (8 doubles:
# AVX-512, see transport._prefer_512).
_PAD = 8


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


@numba.njit(cache=True, error_model="numpy", inline="always")
def _setup_sources(m, kf, vbs, e0, dv, n_bins, trunc, in_a, in_b, in_c, in_d, g1, g0, shrink,
                   da, db, sf, si):
    """Constants of the transport of ``m`` source bins (indices ``kf``, mean voltages
    ``vbs``) into the columns of ``sf`` / ``si``. ``da`` / ``db`` are per-source additions to
    the drift coefficients A and B (closure "ou": the bin's own mean pending-kick deviation;
    zeros otherwise, which leaves every number unchanged). Branch-free, so LLVM vectorises it
    (``error_model="numpy"``: no zero-division checks; every divisor here is > 0 or the
    quotient is discarded)."""
    for j in range(m):
        vb = vbs[j]
        a, w = _reconstruct_select(vb, e0 + kf[j] * dv, dv)
        g = g1 * vb + g0
        mu = (in_a + da[j]) - (in_b + db[j]) * g
        s2 = max(in_c + in_d * g * g, 0.0)
        # leak: every voltage of the uniform law decays by exp(-dt/τ_m) (= -v dt/τ_m to
        # first order), so the interval shrinks towards 0
        lo, hi, point, n_edges, ua0, du, off, r, rs, sd, c0, mean_x = _source_setup(
            a * shrink, w * shrink, mu, math.sqrt(s2), e0, dv, n_bins, trunc)
        sf[SF_UA0, j] = ua0
        sf[SF_DU, j] = du
        sf[SF_OFF, j] = off
        sf[SF_R, j] = r
        sf[SF_RS, j] = rs
        sf[SF_S, j] = sd
        sf[SF_C0, j] = c0
        sf[SF_MEAN, j] = mean_x
        si[SI_LO, j] = lo
        si[SI_HI, j] = hi
        si[SI_EDGES, j] = 0 if point else n_edges


@numba.njit(cache=True, error_model="numpy", inline="always")
def _setup_sources_linear(m, kf, vbs, e0, dv, n_bins, trunc, in_a, in_b, in_c, in_d, g1, g0,
                          shrink, da, db, sf, si):
    """:func:`_setup_sources` with the linear in-bin law of closure "ou-cond-linear"
    (:func:`~snnreduce.dsode.transport.reconstruct_linear`): its slope κ goes to row
    ``SF_KAP`` and the mean after the step is ``v̄ + μ`` (the law keeps the bin mean)."""
    for j in range(m):
        vb = vbs[j]
        g = g1 * vb + g0
        mu = (in_a + da[j]) - (in_b + db[j]) * g
        s2 = max(in_c + in_d * g * g, 0.0)
        sd = math.sqrt(s2)
        a, w, kap = reconstruct_linear(vb, e0 + kf[j] * dv, dv, sd)
        lo, hi, point, n_edges, ua0, du, off, r, rs, sd, c0, mean_x = _source_setup(
            a * shrink, w * shrink, mu, sd, e0, dv, n_bins, trunc)
        sf[SF_UA0, j] = ua0
        sf[SF_DU, j] = du
        sf[SF_OFF, j] = off
        sf[SF_R, j] = r
        sf[SF_RS, j] = rs
        sf[SF_S, j] = sd
        sf[SF_C0, j] = c0
        sf[SF_MEAN, j] = _fma(kap, (w * shrink) * (1.0 / 6.0), mean_x)
        sf[SF_KAP, j] = kap
        si[SI_LO, j] = lo
        si[SI_HI, j] = hi
        si[SI_EDGES, j] = 0 if point else n_edges


@numba.njit(cache=True, inline="always")
def _flush(wts, j0, j1, sf, si, dpsi, dlam, new_n, new_m1, dv, n_bins, f_q):
    """The last pass for sources ``j0 .. j1 - 1`` (holding ``wts[j]`` neurons), whose edge
    integrals are in ``dpsi`` / ``dlam``: add each source's neurons and first moments to
    ``new_n`` / ``new_m1`` in source order; returns ``f_q`` plus the fired neurons, added
    source by source.

    Sources that are not points are assembled here with the arithmetic of
    :func:`~snnreduce.dsode.transport._source_assemble` (the same numbers), written out
    with the truncated upper tail after the loop, so that the loop has no branch: ~0.5 ms
    less per biological second on the reference preset. (Restructuring _source_assemble
    itself made numba keep reference counts of its array arguments, atomic operations per
    array and source.)
    """
    t = 0
    top = n_bins - 1
    for j in range(max(j0, 0), j1):
        ju = _u(j)
        nj = wts[ju]
        r = sf[SF_R, ju]
        if r == 0.0:  # a point source (rare)
            p_fire, t = _source_assemble(
                si[SI_LO, ju], si[SI_HI, ju], top, True, sf[SF_UA0, ju], sf[SF_DU, ju],
                sf[SF_OFF, ju], r, sf[SF_RS, ju], sf[SF_S, ju], sf[SF_C0, ju], dv,
                sf[SF_MEAN, ju], dpsi, dlam, t, new_n, new_m1, nj, True)
            f_q += nj * p_fire
            continue
        lo = si[SI_LO, ju]
        hi = si[SI_HI, ju]
        rs = sf[SF_RS, ju]
        c_prev = sf[SF_C0, ju]
        f_prev = 0.0
        k_prev = 0.0
        if lo == 0:  # F and K at V_low: the mass below joins bin 0
            f_prev = min(max(r * dpsi[_u(t)], 0.0), 1.0)
            k_prev = rs * dlam[_u(t)]
            t += 1
        f_base = 0.0
        last = hi if hi == top else hi - 1  # bins lo .. last have an evaluated upper edge
        for d in range(lo, last + 1):
            f = max(min(r * dpsi[_u(t)], 1.0), f_prev)
            k = rs * dlam[_u(t)]
            t += 1
            p = f - f_base
            inside = min(max(dv * f - (k - k_prev), 0.0), p * dv)
            new_n[_u(d)] = _fma(nj, p, new_n[_u(d)])
            new_m1[_u(d)] = _fma(nj, _fma(c_prev, p, inside), new_m1[_u(d)])
            f_prev = f
            f_base = f
            k_prev = k
            c_prev = c_prev + dv
        if last < hi:  # the truncated upper tail joins bin hi: F = 1, K = c - E[X]
            p = 1.0 - f_base
            inside = min(max(dv - (c_prev + dv - sf[SF_MEAN, ju] - k_prev), 0.0), p * dv)
            new_n[_u(hi)] = _fma(nj, p, new_n[_u(hi)])
            new_m1[_u(hi)] = _fma(nj, _fma(c_prev, p, inside), new_m1[_u(hi)])
            f_prev = 1.0
        f_q += nj * (1.0 - f_prev)
    return f_q


@numba.njit(cache=True)
def _flush_sampled(wts, j0, j1, sf, si, dpsi, dlam, new_n, new_m1, pbuf, mbuf, xbuf, dv, n_bins,
                   rng, f_q):
    """:func:`_flush` of the finite-size variant: each source's neurons are split over their
    destinations and firing by a multinomial draw (:func:`_sample_source`)."""
    t = 0
    top = n_bins - 1
    for j in range(max(j0, 0), j1):
        nj = wts[j]
        lo = si[SI_LO, j]
        hi = si[SI_HI, j]
        r = sf[SF_R, j]
        _, t = _source_assemble(
            lo, hi, top, r == 0.0, sf[SF_UA0, j], sf[SF_DU, j], sf[SF_OFF, j], r,
            sf[SF_RS, j], sf[SF_S, j], sf[SF_C0, j], dv, sf[SF_MEAN, j], dpsi, dlam, t,
            pbuf, mbuf, 1.0, False)
        f_q += _sample_source(rng, nj, lo, hi, pbuf, xbuf)
        for d in range(lo, hi + 1):
            if xbuf[d] > 0.0:
                new_n[d] += xbuf[d]
                new_m1[d] += xbuf[d] * (mbuf[d] / pbuf[d])
    return f_q


@numba.njit(cache=True, inline="always")
def _within_variances(n_q, eta_q, refr_q, line_q, eta_r_q, fixed, var, pw_q, n_total, out):
    """Closure "ou": the variance of the pending-kick deviation left inside the bins, σ²
    minus the part the bin means (and the refractory means: the pool's, or each delay-line
    cohort's with the fixed rule) carry, clipped at 0, of the pathway from each sender p
    (row ``pw_q[p]`` of the moments ``var``) into ``out[p]``. One value for every bin (the
    closure's assumption)."""
    for p in range(eta_q.shape[0]):
        b = 0.0
        for k in range(n_q.size):
            b += n_q[k] * eta_q[p, k] * eta_q[p, k]
        if fixed:
            for slot in range(line_q.size):
                if line_q[slot] > 0.0:
                    b += eta_r_q[p, slot] * eta_r_q[p, slot] / line_q[slot]
        elif refr_q > 0.0:
            b += eta_r_q[p, 0] * eta_r_q[p, 0] / refr_q
        out[p] = max(var[pw_q[p]] - b / n_total, 0.0)


@numba.njit(cache=True, inline="always")
def _regressions(m, kf, vbs, eta_q, sf, g1, g0, ks, cs, senders, reg):
    """Closure "ou": per source, the linear predictor ``α + β X`` of a neuron's deviation
    (before decay) from its voltage X after the step, for each sender p (rows 2p: α, 2p+1:
    β). Inside a bin the deviation is N(m_k, c) independent of the position; X gets
    ``± k (η - m_k)`` from it, so ``β = ±k c / Var(X)`` (``-`` and the conductance factor g
    for an inhibitory sender, ``senders[p]``), with ``Var(X) = s² + w²/12`` (input plus the
    uniform law), and ``α = m_k - β E[X]``; ``ks``, ``cs``: k and c of each sender."""
    for p in range(len(senders)):   # sender by sender: vectorised loops over the sources
        k_p = ks[p]
        c_p = cs[p]
        inh_p = senders[p] != 0.0
        for j in range(m):
            s = sf[SF_S, j]
            off = sf[SF_OFF, j]
            var_x = s * s * (1.0 + off * off / 12.0)
            g = g1 * vbs[j] + g0
            beta = -k_p * g * c_p / var_x if inh_p else k_p * c_p / var_x
            reg[2 * p, j] = eta_q[p, int(kf[j])] - beta * sf[SF_MEAN, j]
            reg[2 * p + 1, j] = beta


@numba.njit(cache=True)
def _flush_colored(wts, j0, j1, sf, si, dpsi, dlam, new_n, new_m1, new_eta, reg, e_s,
                   pbuf, mbuf, xbuf, dv, n_bins, threshold, noise, rng, f_q, fired_eta):
    """:func:`_flush` / :func:`_flush_sampled` of closure "ou": besides neurons and first
    moments, every destination receives the pending-kick deviation its arrivals carry.

    ``reg`` (2 P, columns) holds per source the linear predictor of a neuron's deviation after
    the step from where it lands, ``E[η' | X] = e (α + β X)`` (rows α, β of sender p at 2p,
    2p + 1; decay factor ``e_s[p]`` of its pathway, ``e_s`` a tuple of the K senders).
    Arrivals of ``Δn``
    neurons with first moment ``Δm1`` add ``e (α Δn + β Δm1)`` to ``new_eta``; the fired
    ones (mean voltage ``(E[X] - Σ_d m_d) / p_fire``, at least M) add theirs to
    ``fired_eta``. Returns ``f_q`` plus the fired neurons."""
    t = 0
    top = n_bins - 1
    for j in range(max(j0, 0), j1):
        nj = wts[j]
        lo = si[SI_LO, j]
        hi = si[SI_HI, j]
        r = sf[SF_R, j]
        p_fire, t = _source_assemble(
            lo, hi, top, r == 0.0, sf[SF_UA0, j], sf[SF_DU, j], sf[SF_OFF, j], r,
            sf[SF_RS, j], sf[SF_S, j], sf[SF_C0, j], dv, sf[SF_MEAN, j], dpsi, dlam, t,
            pbuf, mbuf, 1.0, False)
        if noise:
            n_fired = _sample_source(rng, nj, lo, hi, pbuf, xbuf)
        else:
            n_fired = nj * p_fire
        alpha = e_s   # the source's α and β of each sender, tuples in registers
        beta = e_s
        for p in range(len(e_s)):
            alpha = tuple_setitem(alpha, p, reg[2 * p, j])
            beta = tuple_setitem(beta, p, reg[2 * p + 1, j])
        m_sum = 0.0
        for d in range(lo, hi + 1):
            m_sum += mbuf[d]
            if noise:
                dn = xbuf[d]
                dm1 = dn * (mbuf[d] / pbuf[d]) if dn > 0.0 else 0.0
            else:
                dn = nj * pbuf[d]
                dm1 = nj * mbuf[d]
            if dn > 0.0:
                new_n[d] += dn
                new_m1[d] += dm1
                for p in range(len(e_s)):
                    new_eta[p, d] += e_s[p] * (alpha[p] * dn + beta[p] * dm1)
        if n_fired > 0.0:
            x_fire = threshold
            if p_fire > 1e-12:
                x_fire = max((sf[SF_MEAN, j] - m_sum) / p_fire, threshold)
            for p in range(len(e_s)):
                fired_eta[p] += e_s[p] * n_fired * (alpha[p] + beta[p] * x_fire)
        f_q += n_fired
    return f_q


@numba.njit(cache=True, inline="always")
def _conditionals(m, kf, vbs, eta_q, sf, g1, g0, ks, cs, senders, reg):
    """Closure "ou-cond": per source, the bin's mean deviations and the coefficients of
    their conditional means given the landing bin (rows m, γ of sender p at 2p, 2p + 1 of
    ``reg``; ``ks``, ``cs``, ``senders``: k, c and the inhibitory flag of each sender).

    Inside a bin the deviation is ``m_k + ζ``, ``ζ ~ N(0, c)`` independent of the position
    U (the closure's assumption, as in "ou"); the step moves a neuron to
    ``X = U + μ + Y`` with the Gaussian part ``Y = k ζ + ξ`` (``- k g ζ`` for inhibition),
    ``Var(Y) = s²``. ζ and Y are jointly Gaussian and independent of U, so the exact
    conditional mean is ``E[ζ | X] = (Cov(ζ, Y)/s²) E[Y | X]``: ``γ_x = k_x c_x/s²``,
    ``γ_i = -k_i g c_i/s²`` (:func:`~snnreduce.dsode.transport._source_assemble_g` gives
    ``E[Y; X in d]``). It replaces the best linear predictor in X of "ou", whose
    ``Var(X) = s² + w²/12`` counts the uniform spread, which says nothing about ζ."""
    for p in range(len(senders)):   # sender by sender: vectorised loops over the sources
        k_p = ks[p]
        c_p = cs[p]
        inh_p = senders[p] != 0.0
        for j in range(m):
            s = sf[SF_S, j]
            inv = 1.0 / (s * s)
            g = g1 * vbs[j] + g0
            reg[2 * p, j] = eta_q[p, int(kf[j])]
            reg[2 * p + 1, j] = -k_p * g * c_p * inv if inh_p else k_p * c_p * inv


@numba.njit(cache=True)
def _flush_conditional(wts, j0, j1, sf, si, dpsi, dlam, dphi, new_n, new_m1, new_eta, reg,
                       e_s, pbuf, mbuf, xbuf, gbuf, dv, n_bins, trunc, noise, rng, f_q,
                       fired_eta):
    """:func:`_flush_colored` of closure "ou-cond": a destination d receiving ``Δn`` of the
    neurons of source j gets the deviation ``e (m Δn + γ n_j E[Y; X in d] Δn/(n_j p_d))``
    (``e (m Δn + γ n_j E[Y; X in d])`` deterministically), the fired ones
    ``e (m n_fired + γ E[Y; fired] n_fired/p_fire)`` into ``fired_eta`` (:func:`_conditionals`).
    E[Y | d] is clipped to ``±(T s + w + 2 dv)`` (the farthest a destination lies; round-off
    in the far tails only). Returns ``f_q`` plus the fired neurons."""
    t = 0
    top = n_bins - 1
    for j in range(max(j0, 0), j1):
        nj = wts[j]
        lo = si[SI_LO, j]
        hi = si[SI_HI, j]
        r = sf[SF_R, j]
        point = r == 0.0
        g_fire, _ = _source_assemble_g(lo, hi, top, point, sf[SF_UA0, j], sf[SF_DU, j],
                                       sf[SF_OFF, j], sf[SF_RS, j], sf[SF_S, j], dphi, t,
                                       gbuf)
        p_fire, t = _source_assemble(
            lo, hi, top, point, sf[SF_UA0, j], sf[SF_DU, j], sf[SF_OFF, j], r,
            sf[SF_RS, j], sf[SF_S, j], sf[SF_C0, j], dv, sf[SF_MEAN, j], dpsi, dlam, t,
            pbuf, mbuf, 1.0, False)
        if noise:
            n_fired = _sample_source(rng, nj, lo, hi, pbuf, xbuf)
        else:
            n_fired = nj * p_fire
        mean = e_s   # the source's m and γ of each sender, tuples in registers
        gamma = e_s
        for p in range(len(e_s)):
            mean = tuple_setitem(mean, p, reg[2 * p, j])
            gamma = tuple_setitem(gamma, p, reg[2 * p + 1, j])
        y_max = trunc * sf[SF_S, j] + sf[SF_OFF, j] * sf[SF_S, j] + 2.0 * dv
        for d in range(lo, hi + 1):
            pd = pbuf[d]
            if noise:
                dn = xbuf[d]
                dm1 = dn * (mbuf[d] / pd) if dn > 0.0 else 0.0
            else:
                dn = nj * pd
                dm1 = nj * mbuf[d]
            if dn > 0.0:
                y = min(max(gbuf[d] / pd, -y_max), y_max)  # E[Y | X in d]
                new_n[d] += dn
                new_m1[d] += dm1
                for p in range(len(e_s)):
                    new_eta[p, d] += e_s[p] * dn * (mean[p] + gamma[p] * y)
        if n_fired > 0.0:
            y = 0.0
            if p_fire > 1e-12:
                y = min(max(g_fire / p_fire, -y_max), y_max)
            for p in range(len(e_s)):
                fired_eta[p] += e_s[p] * n_fired * (mean[p] + gamma[p] * y)
        f_q += n_fired
    return f_q


@numba.njit(cache=True, error_model="numpy")
def _advance(n, vm, refr, line, h, var, last, eta, eta_r, pop, pw, senders, fc, ic, step0,
             n_steps, rng, lam, counts, rec_n, rec_m, rec_h, rec_v, rec_r, rec0, rec_every):
    """Advance one parameter set by ``n_steps`` steps; returns the steps done (< n_steps on
    a non-finite state).

    ``error_model="numpy"`` (no zero-division checks, which would stop LLVM from
    vectorising): every divisor is a validated positive parameter or guarded.

    State (modified in place; P populations = rows of ``pop``, W pathways = rows of ``pw``):
    ``n``/``vm`` (P, K) neurons and mean voltage per bin, ``refr`` (P,) refractory pool,
    ``line`` (P, L) delay line of the fixed rule, ``h``/``var`` (W,) pending-kick moments,
    ``last`` (P,) the previous step's spikes (for ``rate_lag``), ``eta`` (P, P, K)
    closure "ou": mean pending-kick deviation of the neurons of each bin (population,
    sender population, bin), ``eta_r`` (P, P, L) the summed
    deviation of the refractory pool (slot 0) or, with the fixed rule, of each cohort of the
    delay line (unused by the other closures). ``senders``: :func:`sender_kinds` of ``pw``
    (its length P is compiled in: the loops over senders unroll).
    ``lam`` (rows, P): the external rate (kicks/ms) of each step of a time-varying
    stimulus, row ``rec0 + i`` for step ``i`` (the run's step index); 0 rows: the constant
    ``λ_Q`` of ``pop`` (the same numbers as before stimuli existed).
    ``counts`` receives the spikes of step ``i`` at row ``rec0 + i``. The ``rec_*`` arrays
    (first dimension 0 when not recorded) receive the state after the steps ``j = rec0 + i``
    with ``(j + 1) % rec_every == 0``, at row ``(j + 1) // rec_every - 1`` (``rec_every = 1``:
    every step, at row j). ``step0`` is the global index of the first step (delay line).
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
    colored = ic[IC_COLORED] == 1
    n_pop = pop.shape[0]
    n_pw = pw.shape[0]
    linear = ic[IC_LINEAR] == 1
    conditional = ic[IC_CONDITIONAL] == 1
    zero_bin = min(max(int(math.floor((0.0 - e0) / dv)), 0), n_bins - 1)
    stimulated = lam.shape[0] > 0

    new_n = np.empty(n_bins)
    new_m1 = np.empty(n_bins)
    pbuf = np.zeros(n_bins)
    mbuf = np.zeros(n_bins)
    xbuf = np.zeros(n_bins)
    # pass buffers: per-source constants, and the arguments and normal integrals of the
    # evaluated edges (one source always fits: it has at most n_bins + 1 edges)
    # (source columns padded to a multiple of 4, edges to a multiple of _PAD)
    kf = np.zeros(n_bins + 4)
    wts = np.zeros(n_bins)
    vbs = np.zeros(n_bins + 4)
    sf = np.zeros((N_SF, n_bins + 4))
    si = np.zeros((N_SI, n_bins + 4), dtype=np.int64)
    cap = max(_BATCH_EDGES, n_bins + 1)
    uaa = np.zeros(cap + _PAD)
    uab = np.zeros(cap + _PAD)
    dpsi = np.zeros(cap + _PAD)
    dlam = np.zeros(cap + _PAD)
    # closure "ou-cond-linear": κ and κ s/w of the linear law at every evaluated edge
    kapb = np.zeros(cap + _PAD if linear else 0)
    krb = np.zeros(cap + _PAD if linear else 0)
    # closure "ou-cond": Φ(u_a) - Φ(u_b) of every evaluated edge, E[Y; X in d] per bin
    dphi = np.zeros(cap + _PAD if conditional else 0)
    gbuf = np.zeros(n_bins if conditional else 0)
    # closure "ou": per-source drift additions, regression rows, arriving deviations
    da = np.zeros(n_bins + 4)
    db = np.zeros(n_bins + 4)
    reg = np.zeros((2 * n_pop, n_bins + 4))
    n_snd = len(senders)     # = n_pop, a compile-time constant
    new_eta = np.zeros((n_snd, n_bins))
    fired_eta = np.zeros(n_snd)
    cs = np.zeros(n_snd)     # closure "ou", per sender: its variance left inside the bins
    threshold = e0 + n_bins * dv
    fired = np.zeros(n_pop)
    rates = np.zeros(n_pop)
    h_before = np.zeros(n_pw)
    decay = np.empty(n_pw)
    for j in range(n_pw):
        decay[j] = math.exp(-dt / pw[j, TAB_TAU])
    shrinks = np.ones(n_pop)  # leak factor exp(-dt/τ_m) per population (1: no leak)
    for q in range(n_pop):
        tau_m = pop[q, POP_TAU_M]
        if tau_m > 0.0:
            shrinks[q] = math.exp(-dt / tau_m)
    # the pathway (row of pw) from each sender p into each population q
    pw_of = np.zeros((n_pop, n_snd), dtype=np.int64)
    for j in range(n_pw):
        pw_of[int(pw[j, TAB_POST]), int(pw[j, TAB_PRE])] = j

    for i in range(n_steps):
        step = step0 + i
        row = rec0 + i  # the run's step index: row of counts and of the stimulus rates
        sampled = (row + 1) % rec_every == 0  # records kept after this step
        rrow = (row + 1) // rec_every - 1     # their row
        for q in range(n_pop):
            shrink = shrinks[q]
            for k in range(n_bins):
                new_n[k] = 0.0
                new_m1[k] = 0.0
            f_q = 0.0
            # (the closure's variance factors are a column of pw; numba's cache does not see
            # changes to the inlined input_coefficients_at, so edit this file along with it;
            # the senders' pathways are the rows pw_of[q])
            # the external rate of this step: a stimulus's step mean, or the constant λ_Q
            lam_q = lam[row, q] if stimulated else pop[q, POP_LAMBDA]
            in_a, in_b, in_c, in_d, g1, g0 = input_coefficients_at(q, pw_of[q], h, var, pop,
                                                                   pw, dt, lam_q)
            # closure "ou", per sender p: the decay factor of its pathway into q and the
            # drift per unit deviation dt S/τ, tuples in registers
            e_s = senders
            ks = senders
            if colored:
                for p in range(n_snd):
                    j = pw_of[q, p]
                    e_s = tuple_setitem(e_s, p, decay[j])
                    ks = tuple_setitem(ks, p, dt * pw[j, TAB_KICK] / pw[j, TAB_TAU])
                _within_variances(n[q], eta[q], refr[q], line[q], eta_r[q],
                                  ref_mode == REF_FIXED, var, pw_of[q], pop[q, POP_N], cs)
                # the deviation's spread inside a bin moves its neurons apart by
                # k (η - m) within the step: variance k² c (O(dt²): no white noise)
                for p in range(n_snd):
                    if senders[p] != 0.0:
                        in_d += ks[p] * ks[p] * cs[p]
                    else:
                        in_c += ks[p] * ks[p] * cs[p]
                new_eta[:, :] = 0.0
                fired_eta[:] = 0.0
            # The transport runs in passes over the source bins (those holding at least
            # DUST neurons; dust stays in its bin): their constants (vectorised); the
            # standardised arguments of their evaluated edges (uaa, uab); the normal
            # integrals of all edges in one vectorised loop; fractions assembled and
            # accumulated in source order, so that the sums are those of a source-by-source
            # loop (_flush). A full buffer is flushed early.
            # (The passes are written out here, not in an inlined helper: numba gave an
            # inlined function's array arguments reference counts that it could not prune
            # around the call to _edge_integrals, two atomic operations per array and pass,
            # ~1 ms per biological second.)
            m = 0
            for k in range(n_bins):
                nk = n[q, k]
                if not nk < DUST:  # a source (a NaN count too, so that it spreads)
                    kf[_u(m)] = k
                    vbs[_u(m)] = vm[q, k]
                    wts[_u(m)] = nk
                    if colored:  # Σ k η of the excitatory senders, of the inhibitory ones
                        a_dev = 0.0
                        b_dev = 0.0
                        for p in range(n_snd):
                            if senders[p] != 0.0:
                                b_dev += ks[p] * eta[q, p, k]
                            else:
                                a_dev += ks[p] * eta[q, p, k]
                        da[_u(m)] = a_dev
                        db[_u(m)] = b_dev
                    m += 1
                elif nk > 0.0:  # dust: carried without transport
                    new_n[k] += nk
                    new_m1[k] += nk * vm[q, k]
                    if colored:
                        for p in range(n_snd):
                            new_eta[p, k] += nk * e_s[p] * eta[q, p, k]
            # a whole number of vectors of 4 sources (no scalar remainder loop; the columns
            # past m are stale and unused): ~0.5 ms less per biological second
            if linear:
                _setup_sources_linear((m + 3) & ~3, kf, vbs, e0, dv, n_bins, trunc, in_a,
                                      in_b, in_c, in_d, g1, g0, shrink, da, db, sf, si)
            else:
                _setup_sources((m + 3) & ~3, kf, vbs, e0, dv, n_bins, trunc, in_a, in_b, in_c,
                               in_d, g1, g0, shrink, da, db, sf, si)
            if conditional:
                _conditionals(m, kf, vbs, eta[q], sf, g1, g0, ks, cs, senders, reg)
            elif colored:
                _regressions(m, kf, vbs, eta[q], sf, g1, g0, ks, cs, senders, reg)
            j1 = 0
            while True:
                j0 = j1
                n_edge = 0
                while j1 < m:
                    ju = _u(j1)
                    n_edges = si[SI_EDGES, ju]
                    if n_edge + n_edges > cap:
                        break
                    if linear:
                        n_edge = _source_fill_linear(si[SI_LO, ju], n_edges, sf[SF_UA0, ju],
                                                     sf[SF_DU, ju], sf[SF_OFF, ju],
                                                     sf[SF_KAP, ju], uaa, uab, kapb, krb,
                                                     n_edge)
                    else:
                        n_edge = _source_fill(si[SI_LO, ju], n_edges, sf[SF_UA0, ju],
                                              sf[SF_DU, ju], sf[SF_OFF, ju], uaa, uab, n_edge)
                    j1 += 1
                # a whole number of vectors (no scalar remainder; the entries past n_edge
                # are stale or zero, their results unused)
                n_pad = (n_edge + _PAD - 1) & ~(_PAD - 1)
                if conditional:
                    if linear:
                        _edge_integrals_linear_cond(uaa, uab, kapb, krb, n_pad, dpsi, dlam,
                                                    dphi)
                    else:
                        _edge_integrals_cond(uaa, uab, n_pad, dpsi, dlam, dphi)
                    f_q = _flush_conditional(wts, j0, j1, sf, si, dpsi, dlam, dphi, new_n,
                                             new_m1, new_eta, reg, e_s, pbuf, mbuf, xbuf, gbuf,
                                             dv, n_bins, trunc, noise, rng, f_q, fired_eta)
                elif colored:
                    if noise:
                        _edge_integrals(uaa, uab, n_pad, dpsi, dlam)
                    else:
                        _edge_integrals_wide(uaa, uab, n_pad, dpsi, dlam)
                    f_q = _flush_colored(wts, j0, j1, sf, si, dpsi, dlam, new_n, new_m1,
                                         new_eta, reg, e_s, pbuf, mbuf, xbuf, dv, n_bins,
                                         threshold, noise, rng, f_q, fired_eta)
                elif noise:
                    _edge_integrals(uaa, uab, n_pad, dpsi, dlam)
                    f_q = _flush_sampled(wts, j0, j1, sf, si, dpsi, dlam, new_n, new_m1, pbuf,
                                         mbuf, xbuf, dv, n_bins, rng, f_q)
                else:
                    _edge_integrals_wide(uaa, uab, n_pad, dpsi, dlam)
                    f_q = _flush(wts, j0, j1, sf, si, dpsi, dlam, new_n, new_m1, dv, n_bins,
                                 f_q)
                if j1 >= m:
                    break

            # refractory pool (SPEC §4 step 4)
            pool_before = refr[q] + f_q  # whom the leavers come from (closure "ou", pool rules)
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
            if colored and ref_mode == REF_FIXED:
                # each cohort keeps its own deviation, decaying, until it leaves
                slot_in = step % ref_steps
                slot_out = (step + 1) % ref_steps
                for kind in range(n_snd):  # the sender population
                    e_k = e_s[kind]
                    for slot in range(ref_steps):
                        eta_r[q, kind, slot] *= e_k
                    eta_r[q, kind, slot_in] += fired_eta[kind]
                    new_eta[kind, zero_bin] += eta_r[q, kind, slot_out]
                    eta_r[q, kind, slot_out] = 0.0
            elif colored:  # the pool's deviation decays; leavers take their share of it
                share = min(max(leave / pool_before, 0.0), 1.0) if pool_before > 0.0 else 0.0
                for kind in range(n_snd):
                    pooled = eta_r[q, kind, 0] * e_s[kind] + fired_eta[kind]
                    new_eta[kind, zero_bin] += share * pooled
                    eta_r[q, kind, 0] = pooled - share * pooled

            # the new state, written straight into the bin records too (branch-free, so
            # that LLVM vectorises the divisions; a division by an empty bin's 0 is
            # discarded by the select)
            rec_bin_n = rec_n.shape[0] > 0 and sampled
            rec_bin_m = rec_m.shape[0] > 0 and sampled
            for k in range(n_bins):
                nk = new_n[k]
                low = e0 + k * dv
                v = min(max(new_m1[k] / nk, low), low + dv) if nk > 0.0 else low + 0.5 * dv
                n[q, k] = nk
                vm[q, k] = v
                if rec_bin_n:
                    rec_n[rrow, q, k] = nk
                if rec_bin_m:
                    rec_m[rrow, q, k] = v
            if colored:   # the bins' mean deviations, sender by sender (vectorised)
                for p in range(n_snd):
                    for k in range(n_bins):
                        nk = new_n[k]
                        eta[q, p, k] = new_eta[p, k] / nk if nk > 0.0 else 0.0
            fired[q] = f_q
            counts[row, q] = f_q

        # moments with this step's population rates (SPEC §4 step 5)
        for q in range(n_pop):
            rates[q] = (last[q] if rate_lag else fired[q]) / dt
            last[q] = fired[q]
        if noise and pending_noise:
            h_before[:] = h
        for j in range(n_pw):  # advance_moments, with the decay factors computed once
            pre = int(pw[j, TAB_PRE])
            if euler:
                h[j], var[j] = advance_pathway(h[j], var[j], rates[pre], pw[j, TAB_TAU],
                                               pw[j, TAB_P], dt, True)
            else:
                h[j], var[j] = advance_pathway_exact(h[j], var[j], rates[pre], pw[j, TAB_TAU],
                                                     pw[j, TAB_P], decay[j])
        if noise and pending_noise:
            for j in range(n_pw):
                post = int(pw[j, TAB_POST])
                pre = int(pw[j, TAB_PRE])
                n_post = pop[post, POP_N]
                c = -math.expm1(-dt / pw[j, TAB_TAU])
                pr = pw[j, TAB_P]
                # binomial consumption of the pending kicks + binomial arrivals of new ones
                v_tot = (h_before[j] * n_post * c * (1.0 - c)
                         + n_post * rates[pre] * dt * pr * (1.0 - pr))
                if v_tot > 0.0:
                    h[j] = max(h[j] + math.sqrt(v_tot) / n_post * rng.standard_normal(), 0.0)

        if rec_h.shape[0] > 0 and sampled:
            for j in range(n_pw):
                rec_h[rrow, j] = h[j] * pop[int(pw[j, TAB_POST]), POP_N]
        if rec_v.shape[0] > 0 and sampled:
            for j in range(n_pw):
                rec_v[rrow, j] = var[j]
        if rec_r.shape[0] > 0 and sampled:
            for q in range(n_pop):
                rec_r[rrow, q] = refr[q]
        finite = True
        for q in range(n_pop):
            finite = finite and math.isfinite(fired[q])
        h_sum = 0.0
        for j in range(n_pw):
            h_sum += h[j]
        if not (finite and math.isfinite(h_sum)):
            return i + 1
    return n_steps


@numba.njit(cache=True, parallel=True)
def _advance_batch(n, vm, refr, line, h, var, last, eta, eta_r, pop, pw, senders, fc, ic, step0,
                   n_steps, rng, lam, counts, rec_n, rec_m, rec_h, rec_v, rec_r, rec_every, done):
    """:func:`_advance` for many parameter sets (leading dimension), in parallel over sets.

    Deterministic only (the shared ``rng`` is never drawn from); ``senders`` is every set's
    (:func:`sender_kinds`; the sets share their populations). ``n_steps[s]`` steps for
    set ``s`` from its global step ``step0[s]``; ``lam[s]`` its per-step external rates
    (second dimension 0: every set's constant λ); ``done[s]`` receives the steps completed.
    """
    for s in prange(n.shape[0]):
        done[s] = _advance(n[s], vm[s], refr[s], line[s], h[s], var[s], last[s], eta[s],
                           eta_r[s], pop[s], pw[s], senders, fc[s], ic[s], step0[s], n_steps[s],
                           rng, lam[s], counts[s], rec_n[s], rec_m[s],
                           rec_h[s], rec_v[s], rec_r[s], 0, rec_every)
