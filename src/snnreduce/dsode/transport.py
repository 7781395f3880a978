"""Closed-form transport of one voltage bin over one step (SPEC §4, steps 1-2).

A bin ``[L, L + Δ)`` holding neurons with mean voltage ``v̄`` is reconstructed as the uniform
law on the widest interval ``[a, b] ⊂ [L, L + Δ]`` with mean ``v̄`` (``a = L`` if ``v̄`` is in
the lower half, else ``b = L + Δ``). After one step a neuron's voltage is
``X = U(a, b) + N(μ, s²)``. With ``w = b - a``, ``u_a = (c - a - μ)/s``, ``u_b = u_a - w/s``::

    F(c) = P(X < c)    = (s / w)  [Ψ(u_a) - Ψ(u_b)],   Ψ(u) = u Φ(u) + φ(u)
    K(c) = E[(c - X)⁺] = (s² / w) [Λ(u_a) - Λ(u_b)],   Λ(u) = ((u² + 1) Φ(u) + u φ(u)) / 2

(Ψ' = Φ, Λ' = Ψ; K' = F.) The mass landing in ``[c, d)`` is ``F(d) - F(c)`` and its mean is
``c + [(d - c) F(d) - (K(d) - K(c))] / (F(d) - F(c))``, since ``∫_c^d F = K(d) - K(c)``.
Each bin edge is evaluated once per source (two normal evaluations), and masses are
differences of one cumulative function, so destinations + fired sum to 1 by telescoping.
When ``w < 1e-4 s`` the uniform part is negligible and the point-mass forms
``F = Φ(z)``, ``K = s Ψ(z)``, ``z = (c - v̄ - μ)/s`` are used (they avoid dividing by ``w``).

Φ and φ come from a table with a 7th-order Taylor expansion around nodes ``1/32`` apart
(absolute error about 1e-15); ``|u| > 10`` uses the limits (Φ(-10) ≈ 8e-24).

Boundaries and truncation:

- Mass at or above the threshold ``M`` (the top edge) fires.
- Mass below the lowest edge ``V_low`` is not lost: it joins the lowest bin *at voltage*
  ``V_low`` (a sticky floor), so that bin's mean stays inside it.
- Only destination bins that meet ``[a + μ - T s, b + μ + T s]`` (T = ``truncate_sd``) are
  evaluated. The skipped tails (< Φ(-T) each) are given to the nearest kept bin by setting
  ``F = 0`` at the lowest evaluated edge and ``F = 1`` (``K = c - E[X]``) at the highest one,
  which conserves mass exactly. Arriving means are clipped into their destination bin.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from scipy.special import ndtr

__all__ = ["bin_edges", "reconstruct", "transport", "transport_source", "normal_cdf_pdf"]

# ---------------------------------------------------------------- normal table
_TABLE_STEP = 1.0 / 32.0
_TABLE_RANGE = 10.0
_TABLE_INV_STEP = 1.0 / _TABLE_STEP
_SQRT_2PI = math.sqrt(2.0 * math.pi)


def _build_table() -> np.ndarray:
    """Taylor coefficients of Φ around each node: Φ(u0 + δ) = Σ_j c_j δ^j, j = 0..7."""
    u = np.arange(-_TABLE_RANGE, _TABLE_RANGE + _TABLE_STEP / 2, _TABLE_STEP)
    pdf = np.exp(-0.5 * u * u) / _SQRT_2PI
    # Φ^{(j)} = (-1)^{j-1} He_{j-1}(u) φ(u) for j >= 1 (probabilists' Hermite polynomials)
    he = [np.ones_like(u), u]
    for k in range(1, 6):  # He_{k+1} = u He_k - k He_{k-1}
        he.append(u * he[k] - k * he[k - 1])
    coef = np.empty((u.size, 8))
    coef[:, 0] = ndtr(u)
    fact = 1.0
    for j in range(1, 8):
        fact *= j
        coef[:, j] = (-1) ** (j - 1) * he[j - 1] * pdf / fact
    return coef


_TABLE = np.ascontiguousarray(_build_table().ravel())  # flat: 8 coefficients per node
_TABLE_LAST = _TABLE.size // 8 - 1


@numba.njit(cache=True, inline="always")
def _norm(u):
    """(Φ(u), φ(u)) of the standard normal, absolute error < 1e-15."""
    if u <= -_TABLE_RANGE:
        return 0.0, 0.0
    if u >= _TABLE_RANGE:
        return 1.0, 0.0
    x = (u + _TABLE_RANGE) * _TABLE_INV_STEP
    i = int(x + 0.5)
    if i > _TABLE_LAST:
        i = _TABLE_LAST
    d = (x - i) * _TABLE_STEP
    j = 8 * i
    c1 = _TABLE[j + 1]
    c2 = _TABLE[j + 2]
    c3 = _TABLE[j + 3]
    c4 = _TABLE[j + 4]
    c5 = _TABLE[j + 5]
    c6 = _TABLE[j + 6]
    c7 = _TABLE[j + 7]
    cdf = _TABLE[j] + d * (c1 + d * (c2 + d * (c3 + d * (c4 + d * (c5 + d * (c6 + d * c7))))))
    pdf = c1 + d * (2.0 * c2 + d * (3.0 * c3 + d * (4.0 * c4 + d * (5.0 * c5 + d * (
        6.0 * c6 + d * 7.0 * c7)))))
    return cdf, pdf


def normal_cdf_pdf(u):
    """Vectorised access to the tabulated (Φ, φ), for tests."""
    u = np.atleast_1d(np.asarray(u, dtype=np.float64))
    out = np.empty((2, u.size))
    _norm_many(u, out)
    return out[0], out[1]


@numba.njit(cache=True)
def _norm_many(u, out):
    for i in range(u.size):
        out[0, i], out[1, i] = _norm(u[i])


# ---------------------------------------------------------------- reconstruction
@numba.njit(cache=True, inline="always")
def reconstruct(vbar, low, width):
    """Widest ``[a, a + w] ⊂ [low, low + width]`` with mean ``vbar`` (clipped into the bin)."""
    high = low + width
    if vbar <= low:
        return low, 0.0
    if vbar >= high:
        return high, 0.0
    if vbar - low <= 0.5 * width:
        return low, 2.0 * (vbar - low)
    a = 2.0 * vbar - high
    return a, high - a


@numba.njit(cache=True, inline="always")
def _psi_lambda(u):
    """Ψ(u) = ∫Φ = u Φ + φ and Λ(u) = ∫Ψ = ((u² + 1) Φ + u φ) / 2.

    Beyond the table (Φ = 0 or 1, φ = 0) these are 0 or u and 0 or (u² + 1)/2, as they
    should be to the precision of float64.
    """
    cdf, pdf = _norm(u)
    return u * cdf + pdf, 0.5 * ((u * u + 1.0) * cdf + u * pdf)


# Relative width below which a bin's uniform part is treated as a point.
POINT_WIDTH = 1e-4
# Floor of the input standard deviation (voltage units); s = 0 would divide by zero.
MIN_SD = 1e-9


@numba.njit(cache=True, inline="always")
def _edge(ua, off, point, r, rs, s):
    """``F(c)`` and ``K(c)`` at an edge with standardised offset ``ua = (c - a - μ)/s``."""
    if point:  # U(a, a+w) is a point at its centre
        z = ua - 0.5 * off
        cdf, pdf = _norm(z)
        return cdf, s * (z * cdf + pdf)
    psi_a, lam_a = _psi_lambda(ua)
    psi_b, lam_b = _psi_lambda(ua - off)
    return r * (psi_a - psi_b), rs * (lam_a - lam_b)


@numba.njit(cache=True, fastmath={"contract"})
def transport_source(a, w, mu, s, e0, dv, n_bins, trunc, p_out, m_out):
    """Where the neurons of one source bin land after one step.

    Parameters
    ----------
    a, w : float
        Reconstructed uniform law ``U(a, a + w)`` of the source (after any leak).
    mu, s : float
        Mean and standard deviation of the Gaussian input.
    e0, dv, n_bins : float, float, int
        Lowest edge (V_low), bin width, number of bins; the top edge is the threshold.
    trunc : float
        Destinations beyond ``trunc`` standard deviations are skipped (mass conserved).
    p_out, m_out : ndarray, shape (n_bins,)
        Filled for bins ``lo .. hi`` with the fraction landing there and its first moment
        (fraction × mean voltage; the mean is clipped into the bin).

    Returns
    -------
    lo, hi : int
        Range of destination bins written (inclusive).
    fired : float
        Fraction at or above the threshold.
    """
    if s < MIN_SD:
        s = MIN_SD
    inv_s = 1.0 / s
    off = w * inv_s
    point = off < POINT_WIDTH
    r = 1.0 / off if not point else 0.0
    rs = r * s
    du = dv * inv_s
    top = n_bins - 1
    x_lo = a + mu - trunc * s
    x_hi = a + w + mu + trunc * s
    inv_dv = 1.0 / dv
    lo = int(math.floor((x_lo - e0) * inv_dv)) if x_lo > e0 else 0
    hi = int(math.floor((x_hi - e0) * inv_dv)) if x_hi > e0 else 0
    lo = min(max(lo, 0), top)
    hi = min(max(hi, lo), top)
    c_prev = e0 + lo * dv
    ua = (c_prev - a - mu) * inv_s
    if lo == 0:
        f_prev, k_prev = _edge(ua, off, point, r, rs, s)
        f_prev = min(max(f_prev, 0.0), 1.0)
    else:
        f_prev = 0.0
        k_prev = 0.0
    below = f_prev  # mass below V_low: joins bin 0 at voltage V_low
    mean_x = a + 0.5 * w + mu
    for d in range(lo, hi + 1):
        c = c_prev + dv
        ua += du
        if d == hi and hi < top:
            f = 1.0
            k = c - mean_x
        else:
            f, k = _edge(ua, off, point, r, rs, s)
            f = min(max(f, f_prev), 1.0)
        p = f - f_prev
        # ∫_{c_prev}^{c} (F(c) - F(x)) dx = p × (mean - c_prev), in [0, p dv]
        inside = dv * f - (k - k_prev)
        if d == 0:
            p += below
        inside = min(max(inside, 0.0), p * dv)
        p_out[d] = p
        m_out[d] = c_prev * p + inside
        f_prev = f
        k_prev = k
        c_prev = c
    return lo, hi, 1.0 - f_prev


def bin_edges(threshold: float, dv: float, v_low: float) -> np.ndarray:
    """Bin edges from (at or below) ``v_low`` to ``threshold`` in steps of ``dv``.

    The top edge is exactly the threshold; if ``threshold - v_low`` is not a multiple of
    ``dv`` the lowest edge is moved down to the next multiple (so bins keep width ``dv``).
    """
    n_bins = int(math.ceil((threshold - v_low) / dv - 1e-9))
    return threshold - dv * np.arange(n_bins, -1, -1, dtype=np.float64)


def transport(vbar: float, low: float, mu: float, s: float, edges, truncate_sd: float = 8.0):
    """Fractions and mean voltages after one step for a source bin (pure-Python entry, tests).

    Parameters
    ----------
    vbar : float
        Mean voltage of the source bin ``[low, low + dv)``.
    low : float
        Lower edge of the source bin.
    mu, s : float
        Mean and standard deviation of the one-step Gaussian input.
    edges : array_like, shape (n_bins + 1,)
        Equally spaced bin edges, the last one the threshold.
    truncate_sd : float
        See :func:`transport_source`.

    Returns
    -------
    fractions : ndarray, shape (n_bins,)
    means : ndarray, shape (n_bins,)
        Mean voltage of what lands in each bin (bin centre where nothing lands).
    fired : float
    """
    edges = np.asarray(edges, dtype=np.float64)
    n_bins = edges.size - 1
    dv = float(edges[1] - edges[0])
    a, w = reconstruct(float(vbar), float(low), dv)
    p = np.zeros(n_bins)
    m1 = np.zeros(n_bins)
    _, _, fired = transport_source(a, w, float(mu), float(s), float(edges[0]), dv, n_bins,
                                   float(truncate_sd), p, m1)
    centre = 0.5 * (edges[:-1] + edges[1:])
    means = np.where(p > 0, m1 / np.where(p > 0, p, 1.0), centre)
    return p, np.clip(means, edges[:-1], edges[1:]), fired  # clip: 1-ulp division round-off
