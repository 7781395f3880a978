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


# --------------------------------------------- closures "ou-cond" and "ou-cond-linear"
from snnreduce.dsode.transport import (gaussian_part, psi_lambda_omega,  # noqa: E402
                                       reconstruct_linear)


def _phi(z):
    return math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)


def test_omega_table_matches_closed_form():
    # Ω(u) = ∫Λ = ((u³ + 3u) Φ + (u² + 2) φ)/6 from the same table and expansion
    u = np.linspace(-12.0, 12.0, 200_001)
    cdf, pdf = ndtr(u), np.exp(-0.5 * u * u) / math.sqrt(2 * math.pi)
    psi, lam, om = psi_lambda_omega(u)
    exact = ((u**3 + 3 * u) * cdf + (u * u + 2) * pdf) / 6
    assert np.max(np.abs(om - exact) / np.maximum(1.0, np.abs(exact))) < 2e-15
    assert np.array_equal(psi, psi_lambda(u)[0]) and np.array_equal(lam, psi_lambda(u)[1])


@pytest.mark.parametrize("vbar, low, s, expected", [
    (2.0, 0.0, 1.0, (0.0, 4.0, 0.0)),          # centre: the uniform law on the bin
    (2.5, 0.0, 1.0, (0.0, 4.0, 0.75)),         # |δ| <= dv/6: linear on the whole bin
    (1.0, 0.0, 1.0, (0.0, 3.0, -1.0)),         # beyond: triangle with its peak at the edge
    (3.5, 0.0, 1.0, (2.5, 1.5, 1.0)),
    (0.01, 0.0, 1.0, (0.0, 0.02, 0.0)),        # narrower than 0.1 s: the uniform law
    (5.0, 0.0, 1.0, (4.0, 0.0, 0.0)),          # outside: a point on the edge
])
def test_linear_reconstruction(vbar, low, s, expected):
    a, w, kap = reconstruct_linear(vbar, low, 4.0, s)
    assert (a, w, kap) == pytest.approx(expected)
    if w > 0 and low <= vbar <= low + 4.0:
        assert -1.0 <= kap <= 1.0 and low <= a and a + w <= low + 4.0 + 1e-12
        assert a + w / 2 + kap * w / 6 == pytest.approx(vbar)  # keeps the bin mean


@pytest.mark.parametrize("vbar, low, mu, s", [
    (97.1, 96.0, 0.4, 0.8), (97.74, 96.0, 0.4, 0.87), (1.3, 0.0, 0.7, 0.9),
    (2.9, 0.0, -1.2, 2.5), (20.0, 18.0, 4.0, 4.0), (18.3, 16.0, 0.3, 0.5)])
def test_linear_law_closed_form_matches_quadrature(vbar, low, mu, s):
    a, w, kap = reconstruct_linear(vbar, low, 4.0, s)
    p, means, fired = transport(vbar, low, mu, s, EDGES, law="linear")

    def dens(x):
        return (1 + kap * (2 * (x - a) / w - 1)) / w

    for d in range(EDGES.size - 1):
        if p[d] < 1e-9:
            continue
        c, e = EDGES[d], EDGES[d + 1]

        def first(x):
            m = x + mu
            zc, zd = (c - m) / s, (e - m) / s
            return dens(x) * (m * (ndtr(zd) - ndtr(zc)) - s * (_phi(zd) - _phi(zc)))

        pm = integrate.quad(lambda x: dens(x) * (ndtr((e - x - mu) / s) - ndtr((c - x - mu) / s)),
                            a, a + w, epsabs=1e-14, epsrel=1e-12)[0]
        pf = integrate.quad(first, a, a + w, epsabs=1e-14, epsrel=1e-12)[0]
        assert p[d] == pytest.approx(pm, rel=1e-9, abs=1e-12)
        assert means[d] == pytest.approx(pf / pm, rel=1e-9, abs=1e-9 + 1e-12 / p[d])
    pfire = integrate.quad(lambda x: dens(x) * ndtr((x + mu - 100.0) / s), a, a + w,
                           epsabs=1e-14)[0]
    assert fired == pytest.approx(pfire, rel=1e-9, abs=1e-12)


@settings(max_examples=300, deadline=None)
@given(frac=st.floats(0.0, 1.0), k=st.integers(0, 34),
       mu=st.floats(-200.0, 200.0), log_s=st.floats(-12.0, 3.0), trunc=st.floats(1.0, 12.0))
def test_linear_law_mass_sums_to_one_everywhere(frac, k, mu, log_s, trunc):
    low = EDGES[k]
    p, means, fired = transport(low + 4.0 * frac, low, mu, 10.0 ** log_s, EDGES, trunc,
                                law="linear")
    assert np.all(p >= 0.0) and 0.0 <= fired <= 1.0
    assert abs(p.sum() + fired - 1.0) < 1e-12
    assert np.all((means >= EDGES[:-1]) & (means <= EDGES[1:]))


@pytest.mark.parametrize("vbar, low, mu, s", [
    (97.1, 96.0, 0.4, 0.8), (97.74, 96.0, 0.4, 0.87), (1.3, 0.0, 0.7, 0.9),
    (20.0, 18.0, 4.0, 4.0), (-39.0, -40.0, -3.0, 1.0)])
def test_gaussian_part_matches_quadrature(vbar, low, mu, s):
    """E[Y; X in d] for X = U(a, b) + μ + Y, Y ~ N(0, s²): (1/w) ∫ -s [φ((d-u-μ)/s) -
    φ((c-u-μ)/s)] du (E[Y 1{Y < y}] = -s φ(y/s)); bin 0 takes the mass below V_low."""
    g, g_fired = gaussian_part(vbar, low, mu, s, EDGES)
    a, b = _uniform_of(vbar, low)
    for d in range(EDGES.size - 1):
        c, e = EDGES[d], EDGES[d + 1]

        def part(u, c=c, e=e):
            lower = 0.0 if d == 0 else _phi((c - u - mu) / s)
            return -s * (_phi((e - u - mu) / s) - lower) / (b - a)

        q = integrate.quad(part, a, b, epsabs=1e-14, epsrel=1e-10)[0]
        assert g[d] == pytest.approx(q, abs=1e-14)
    assert abs(g.sum() + g_fired) < 1e-15  # E[Y] = 0


@pytest.mark.parametrize("vbar, low, mu, s", [
    (97.1, 96.0, 0.4, 0.8), (97.74, 96.0, 0.4, 0.87), (1.3, 0.0, 0.7, 0.9),
    (18.3, 16.0, 0.3, 0.5), (-39.0, -40.0, -3.0, 1.0)])
def test_gaussian_part_of_the_linear_law_matches_quadrature(vbar, low, mu, s):
    """As test_gaussian_part_matches_quadrature, weighted by the linear in-bin density."""
    g, g_fired = gaussian_part(vbar, low, mu, s, EDGES, law="linear")
    a, w, kap = reconstruct_linear(vbar, low, 4.0, s)
    for d in range(EDGES.size - 1):
        c, e = EDGES[d], EDGES[d + 1]

        def part(u, c=c, e=e):
            lower = 0.0 if d == 0 else _phi((c - u - mu) / s)
            dens = (1 + kap * (2 * (u - a) / w - 1)) / w
            return -s * dens * (_phi((e - u - mu) / s) - lower)

        q = integrate.quad(part, a, a + w, epsabs=1e-14, epsrel=1e-10)[0]
        assert g[d] == pytest.approx(q, abs=1e-14)
    assert abs(g.sum() + g_fired) < 1e-15


def test_gaussian_part_of_a_point_is_the_observed_displacement():
    """A source on a bin edge is a point, so Y = X - a - μ is observed exactly:
    E[Y; d] = (first moment) - (a + μ) × (mass): the exact conditional mean of "ou-cond"
    and the linear predictor of "ou" (whose Var(X) is then s²) coincide."""
    for mu, s in ((0.5, 0.9), (-2.0, 3.0)):
        g, _ = gaussian_part(8.0, 8.0, mu, s, EDGES)
        p, means, _ = transport(8.0, 8.0, mu, s, EDGES)
        assert np.allclose(g, p * means - (8.0 + mu) * p, rtol=0, atol=1e-12)


@settings(max_examples=200, deadline=None)
@given(frac=st.floats(0.0, 1.0), k=st.integers(0, 34),
       mu=st.floats(-200.0, 200.0), log_s=st.floats(-6.0, 3.0), trunc=st.floats(1.0, 12.0))
def test_gaussian_part_telescopes_to_zero(frac, k, mu, log_s, trunc):
    s = 10.0 ** log_s
    g, g_fired = gaussian_part(EDGES[k] + 4.0 * frac, EDGES[k], mu, s, EDGES, trunc)
    assert np.all(np.isfinite(g)) and abs(g.sum() + g_fired) < 1e-12 * max(s, 1.0)


def test_conditional_deviation_is_exact_where_the_linear_predictor_is_not():
    """Closure "ou-cond": inside a bin the deviation is ζ ~ N(0, c) independent of the
    position U; X = U + μ + k ζ + ξ. Monte Carlo of that model gives E[ζ | X in d] =
    (k c / s²) E[Y | X in d] with s² = Var(k ζ + ξ) (the closure's rule), while the best
    linear predictor in X of "ou", β (X̄_d - E X) with β = k c/(s² + w²/12), misses the
    neurons that leave the bin: at 4-wide bins (w²/12 = 1.33 against s² ~ 0.7) it
    underweights them. Tolerances: 5 standard errors of the Monte Carlo means."""
    rng = np.random.default_rng(7)
    n = 4_000_000
    k, c, s_xi, mu = 0.125, 3.2, 0.8, 0.3
    low, vbar = 92.0, 94.0  # the whole bin [92, 96)
    a, b = _uniform_of(vbar, low)
    zeta = rng.normal(0.0, math.sqrt(c), n)
    y = k * zeta + rng.normal(0.0, s_xi, n)
    x = rng.uniform(a, b, n) + mu + y
    s2 = k * k * c + s_xi**2
    g, g_fired = gaussian_part(vbar, low, mu, math.sqrt(s2), EDGES)
    p, means, _ = transport(vbar, low, mu, math.sqrt(s2), EDGES)
    beta = k * c / (s2 + (b - a) ** 2 / 12)
    d_bin = np.clip(np.floor((x - EDGES[0]) / 4.0).astype(int), 0, EDGES.size - 2)
    checked = 0
    for d in range(31, 35):  # the source is bin 33, [92, 96)
        sel = (d_bin == d) & (x < 100.0)
        if sel.sum() < 20_000:
            continue
        mc, se = zeta[sel].mean(), zeta[sel].std() / math.sqrt(sel.sum())
        exact = k * c / s2 * g[d] / p[d]
        linear = beta * (means[d] - (vbar + mu))
        assert abs(exact - mc) < 5 * se
        checked += 1
        if d == 34:  # the bin above the source: the movers
            assert abs(linear - mc) > 10 * se
    assert checked >= 2

