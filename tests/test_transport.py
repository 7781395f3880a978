"""Closed-form bin transport of the dsODE (SPEC §4 steps 1-2) against sampling and quadrature."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate
from scipy.special import ndtr

from snnreduce.dsode.transport import (bin_edges, normal_cdf_pdf, psi_lambda, reconstruct,
                                      transport)

EDGES = bin_edges(100.0, 4.0, -40.0)  # the default 35 bins


def _uniform_of(vbar, low, dv=4.0):
    a, w = reconstruct(vbar, low, dv)
    return a, a + w


def test_bin_edges_default_and_misaligned():
    assert EDGES.size == 36 and EDGES[0] == -40.0 and EDGES[-1] == 100.0
    e = bin_edges(100.0, 3.0, -40.0)  # 140 is not a multiple of 3: v_low moves down
    assert e[-1] == 100.0 and e[0] <= -40.0 < e[1] and np.allclose(np.diff(e), 3.0)


def test_normal_table_matches_scipy():
    u = np.linspace(-12.0, 12.0, 100_001)
    cdf, pdf = normal_cdf_pdf(u)
    assert np.max(np.abs(cdf - ndtr(u))) < 2e-15
    assert np.max(np.abs(pdf - np.exp(-0.5 * u * u) / math.sqrt(2 * math.pi))) < 2e-15


def test_edge_integral_table_matches_closed_form():
    # Psi(u) = u Phi + phi and Lambda(u) = ((u^2 + 1) Phi + u phi) / 2, from the finer table
    # and its expansions; beyond |u| = 10 they fall back to the limits (0 or u, (u^2 + 1)/2)
    u = np.linspace(-12.0, 12.0, 200_001)
    cdf, pdf = ndtr(u), np.exp(-0.5 * u * u) / math.sqrt(2 * math.pi)
    psi, lam = psi_lambda(u)
    exact_psi, exact_lam = u * cdf + pdf, 0.5 * ((u * u + 1) * cdf + u * pdf)
    assert np.max(np.abs(psi - exact_psi) / np.maximum(1.0, exact_psi)) < 2e-15
    assert np.max(np.abs(lam - exact_lam) / np.maximum(1.0, exact_lam)) < 2e-15


@pytest.mark.parametrize("vbar, low, expected", [
    (1.0, 0.0, (0.0, 2.0)),      # lower half: a on the lower edge
    (3.0, 0.0, (2.0, 4.0)),      # upper half: b on the upper edge
    (2.0, 0.0, (0.0, 4.0)),      # centre: the whole bin
    (0.0, 0.0, (0.0, 0.0)),      # on an edge: degenerate point
    (4.0, 0.0, (4.0, 4.0)),
    (-1.0, 0.0, (0.0, 0.0)),     # outside the bin: clipped
])
def test_reconstruction(vbar, low, expected):
    assert _uniform_of(vbar, low) == pytest.approx(expected)


def _monte_carlo(a, b, mu, s, n, rng):
    """Sampled voltages with the kernel's boundary rules: fired at >= M, sticky floor."""
    x = rng.uniform(a, b, n) + rng.normal(mu, s, n)
    fired = x >= EDGES[-1]
    x = np.maximum(x[~fired], EDGES[0])
    idx = np.minimum(((x - EDGES[0]) // 4.0).astype(int), EDGES.size - 2)
    return x, idx, fired.sum()


# (vbar, low, mu, s): typical, both halves, centre, degenerate edges, tiny width, huge s,
# firing, strong inhibition into the floor, Gaussian mean exactly on a bin edge
CASES = [
    (1.0, 0.0, 0.7, 0.9), (3.0, 0.0, 0.7, 0.9), (2.0, 0.0, 0.7, 0.9), (0.0, 0.0, 0.7, 0.9),
    (4.0 - 1e-9, 0.0, 0.7, 0.9), (1e-9, 0.0, 0.3, 0.5), (50.0, 48.0, 0.0, 30.0),
    (98.0, 96.0, 1.0, 1.0), (99.5, 96.0, 2.5, 0.4), (-38.0, -40.0, -3.0, 2.0),
    (10.0, 8.0, 2.0, 1e-3), (33.0, 32.0, 2.0, 0.05), (50.5, 48.0, 1.5, 3.0),
]


@pytest.mark.parametrize("vbar, low, mu, s", CASES)
def test_fractions_and_means_match_monte_carlo(vbar, low, mu, s):
    p, means, fired = transport(vbar, low, mu, s, EDGES)
    assert np.all(p >= 0.0) and 0.0 <= fired <= 1.0
    assert abs(p.sum() + fired - 1.0) < 1e-12
    n = 400_000
    rng = np.random.default_rng(abs(hash((vbar, low, mu, s))) % 2**32)
    a, b = _uniform_of(vbar, low)
    x, idx, n_fired = _monte_carlo(a, b, mu, s, n, rng)
    counts = np.bincount(idx, minlength=EDGES.size - 1)
    # binomial standard error of each fraction; 5 SE (+ a floor for p ~ 0) over ~500 checks
    for prob, k in list(zip(p, counts)) + [(fired, n_fired)]:
        se = math.sqrt(max(prob * (1.0 - prob), 1.0 / n) / n)
        assert abs(k / n - prob) <= 5.0 * se + 1e-12
    # conditional means: SE = sample sd within the bin / sqrt(count)
    for d in np.flatnonzero(counts >= 50):
        xs = x[idx == d]
        se = max(xs.std(ddof=1), 1e-12) / math.sqrt(xs.size)
        assert abs(xs.mean() - means[d]) <= 5.0 * se + 1e-9, d
        assert EDGES[d] <= means[d] <= EDGES[d + 1]


def _quadrature(a, b, mu, s, c, d):
    """P(c <= X < d) and E[X; c <= X < d] for X = U(a, b) + N(mu, s²), by quadrature."""
    def mass(x):
        return ndtr((d - x - mu) / s) - ndtr((c - x - mu) / s)

    def first(x):
        m = x + mu
        zc, zd = (c - m) / s, (d - m) / s
        phi = lambda z: math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)  # noqa: E731
        return m * (ndtr(zd) - ndtr(zc)) - s * (phi(zd) - phi(zc))

    w = b - a
    pm = integrate.quad(mass, a, b, epsabs=1e-14, epsrel=1e-12)[0] / w
    pf = integrate.quad(first, a, b, epsabs=1e-14, epsrel=1e-12)[0] / w
    return pm, pf


@pytest.mark.parametrize("vbar, low, mu, s", [
    (1.3, 0.0, 0.7, 0.9), (2.9, 0.0, -1.2, 2.5), (97.1, 96.0, 0.4, 1.7), (20.0, 18.0, 4.0, 4.0)])
def test_closed_form_matches_quadrature(vbar, low, mu, s):
    p, means, fired = transport(vbar, low, mu, s, EDGES)
    a, b = _uniform_of(vbar, low)
    for d in range(EDGES.size - 1):
        if p[d] < 1e-9:
            continue
        pm, pf = _quadrature(a, b, mu, s, EDGES[d], EDGES[d + 1])
        assert p[d] == pytest.approx(pm, rel=1e-9, abs=1e-13)
        # the first moment p * mean is a difference of K values of size ~(c - E X)² / w and
        # carries a round-off of ~1e-16 of that (~1e-14 here), so the mean of a destination
        # holding a tiny fraction p is only good to ~1e-14 / p
        assert means[d] == pytest.approx(pf / pm, rel=1e-9, abs=1e-9 + 1e-13 / p[d])


def test_truncation_changes_nothing_visible():
    for vbar, low, mu, s in CASES:
        p8, m8, f8 = transport(vbar, low, mu, s, EDGES, truncate_sd=8.0)
        p40, m40, f40 = transport(vbar, low, mu, s, EDGES, truncate_sd=40.0)
        assert np.max(np.abs(p8 - p40)) < 1e-14 and abs(f8 - f40) < 1e-14
        used = p8 > 1e-9
        assert np.allclose(m8[used], m40[used], rtol=0, atol=1e-7)


def test_point_mass_threshold_is_continuous():
    # just below and above the width at which the uniform part is treated as a point
    s = 1.0
    for width in (0.5e-4, 2e-4):
        vbar = 8.0 + width / 2
        p, means, _ = transport(vbar, 8.0, 1.0, s, EDGES)
        p0, means0, _ = transport(8.0 + 1e-3, 8.0, 1.0, s, EDGES)
        assert np.max(np.abs(p - p0)) < 1e-3


@settings(max_examples=300, deadline=None)
@given(frac=st.floats(0.0, 1.0), k=st.integers(0, 34),
       mu=st.floats(-200.0, 200.0), log_s=st.floats(-12.0, 3.0), trunc=st.floats(1.0, 12.0))
def test_mass_sums_to_one_everywhere(frac, k, mu, log_s, trunc):
    low = EDGES[k]
    p, means, fired = transport(low + 4.0 * frac, low, mu, 10.0 ** log_s, EDGES, trunc)
    assert np.all(p >= 0.0) and 0.0 <= fired <= 1.0
    assert abs(p.sum() + fired - 1.0) < 1e-12
    assert np.all((means >= EDGES[:-1]) & (means <= EDGES[1:]))
