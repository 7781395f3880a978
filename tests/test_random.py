"""The inline random numbers of the stepped engine (snnreduce.network._random).

Every sampler is checked against its exact law: the generator against the xoshiro256**
recurrence written out here in Python integers, continuous laws with Kolmogorov-Smirnov and
equiprobable-bin chi-square tests, discrete laws with a chi-square test on the exact pmf (tail
bins merged until every expected count is >= 5). Seeds are fixed; the p-value threshold 1e-4 is
a 3.7-sigma test, so it holds for other seeds too, while a wrong law (e.g. a normal approximation,
or a pmf off by 1 % at the mode with these sample sizes) fails by far.
"""

import math

import numba
import numpy as np
import pytest
from scipy import stats

from snnreduce import NetworkParams
from snnreduce.network import _atomic, _pool, _sweep
from snnreduce.network import _random as R
from snnreduce.network import stepped
from snnreduce.populations import tables

P_MIN = 1e-4
MASK = (1 << 64) - 1


def xoshiro_reference(state, n):
    """xoshiro256** from its definition (Blackman & Vigna), Python integers."""
    s = [int(x) for x in state]
    out = []
    rotl = lambda x, k: ((x << k) | (x >> (64 - k))) & MASK  # noqa: E731
    for _ in range(n):
        out.append(rotl((s[1] * 5) & MASK, 7) * 9 & MASK)
        t = (s[1] << 17) & MASK
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
    return out


@numba.njit
def _raw(s, n):
    out = np.empty(n, np.uint64)
    for i in range(n):
        out[i] = R.next_u64(s)
    return out


@numba.njit
def _uniforms(s, n):
    out = np.empty(n)
    for i in range(n):
        out[i] = R.uniform(s)
    return out


@numba.njit
def _normals(s, n, zx, zr):
    out = np.empty(n)
    for i in range(n):
        out[i] = R.normal(s, zx, zr)
    return out


@numba.njit
def _poissons(s, lam, n):
    out = np.empty(n, np.int64)
    for i in range(n):
        out[i] = R.poisson(s, lam)
    return out


@numba.njit
def _poissons_from_mode(s, lam, mode, pmf, cdf, n):
    out = np.empty(n, np.int64)
    for i in range(n):
        out[i] = R.poisson_from_mode(R.uniform(s), lam, mode, pmf, cdf)
    return out


@numba.njit
def _binomials(s, m, p, n):
    out = np.empty(n, np.int64)
    for i in range(n):
        out[i] = R.binomial(s, m, p)
    return out


@numba.njit
def _binomials_from_mode(s, m, odds, mode, pmf, cdf, n):
    out = np.empty(n, np.int64)
    for i in range(n):
        out[i] = R.binomial_from_mode(R.uniform(s), m, odds, mode, pmf, cdf)
    return out


def stream(seed):
    return R.make_streams(np.random.default_rng(seed), 1)[0]


def chi2_discrete(draws, pmf):
    """p-value of a chi-square test of integer draws against ``pmf(k)`` (k = 0, 1, ...)."""
    n = draws.size
    kmax = int(draws.max()) + 1
    k = np.arange(kmax + 1)
    expected = n * pmf(k)
    observed = np.bincount(draws, minlength=kmax + 1).astype(float)[:kmax + 1]
    expected[-1] = n - expected[:-1].sum()  # upper tail: P(X >= kmax)
    # merge bins from both ends until each expected count is >= 5
    obs, exp = [], []
    acc_o = acc_e = 0.0
    for o, e in zip(observed, expected):
        acc_o += o
        acc_e += e
        if acc_e >= 5:
            obs.append(acc_o)
            exp.append(acc_e)
            acc_o = acc_e = 0.0
    obs[-1] += acc_o
    exp[-1] += acc_e
    obs, exp = np.array(obs), np.array(exp)
    stat = ((obs - exp) ** 2 / exp).sum()
    return stats.chi2.sf(stat, obs.size - 1)


# ------------------------------------------------------------------------- generator
def test_generator_follows_the_xoshiro256starstar_recurrence():
    state = np.array([1, 2, 3, 4, 0, 0, 0, 0], np.uint64)
    ref = xoshiro_reference(state[:4], 50)
    assert ref[0] == 11520  # rotl(2 * 5, 7) * 9
    assert [int(x) for x in _raw(state, 50)] == ref


def test_streams_are_reproducible_distinct_and_jumped():
    a = R.make_streams(np.random.default_rng(3), 5)
    b = R.make_streams(np.random.default_rng(3), 5)
    c = R.make_streams(np.random.default_rng(4), 5)
    assert a.shape == (5, R.STREAM_WORDS) and a.dtype == np.uint64
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert np.unique(a[:, :4], axis=0).shape[0] == 5
    # the jump is a polynomial in the transition, so it commutes with a step
    s1 = a[0].copy()
    R.next_u64(s1)
    R._jump(s1, R._JUMP)
    s2 = a[0].copy()
    R._jump(s2, R._JUMP)
    R.next_u64(s2)
    assert np.array_equal(s1, s2)
    # stream j + 1 is stream j jumped once
    s = a[1].copy()
    R._jump(s, R._JUMP)
    assert np.array_equal(s[:4], a[2, :4])


def test_uniform_is_uniform_on_the_unit_interval():
    u = _uniforms(stream(1), 200_000)
    assert u.min() >= 0.0 and u.max() < 1.0
    assert stats.kstest(u, "uniform").pvalue > P_MIN
    # 53-bit resolution: values are multiples of 2^-53
    assert np.all(u * 2.0**53 == np.floor(u * 2.0**53))


# ---------------------------------------------------------------------------- normal
def test_ziggurat_tables_close_the_area():
    x, r = R.ZIG_X, R.ZIG_R
    assert x.size == 257 and x[256] == 0.0 and np.all(np.diff(x) < 0)
    # every strip has the same area v: x_i (f(x_{i+1}) - f(x_i)) for i >= 1
    f = np.exp(-0.5 * x ** 2)
    areas = x[1:255] * (f[2:256] - f[1:255])
    assert np.allclose(areas, 4.92867323399e-3, rtol=1e-9)
    assert np.allclose(r, x[1:] / x[:-1])


def test_normal_is_standard_normal():
    z = _normals(stream(2), 1_000_000, R.ZIG_X, R.ZIG_R)
    assert stats.kstest(z[:200_000], "norm").pvalue > P_MIN
    # chi-square on 200 equiprobable bins (tests the wedges, which a KS test barely sees)
    edges = stats.norm.ppf(np.linspace(0, 1, 201)[1:-1])
    counts = np.bincount(np.searchsorted(edges, z), minlength=200)
    assert stats.chisquare(counts).pvalue > P_MIN
    # the tail beyond the base strip's edge r (the exact tail sampler), both signs
    r = R.ZIG_X[1]
    p_tail = stats.norm.sf(r)
    for tail in (z > r, z < -r):
        mean, sd = z.size * p_tail, math.sqrt(z.size * p_tail * (1 - p_tail))
        assert abs(tail.sum() - mean) < 4 * sd
    assert abs(z.mean()) < 4 / 1000 and abs(z.var() - 1) < 4 * math.sqrt(2) / 1000


# --------------------------------------------------------------------------- Poisson
@pytest.mark.parametrize("lam", [0.05, 0.7, 3.0, 9.9, 10.0, 37.0, 400.0])
def test_poisson_sampler_matches_the_pmf(lam):
    draws = _poissons(stream(5), lam, 200_000)
    assert chi2_discrete(draws, lambda k: stats.poisson.pmf(k, lam)) > P_MIN


@pytest.mark.parametrize("lam", [0.3, 1.07, 6.0, 50.0])
def test_poisson_inversion_from_the_mode_matches_the_pmf(lam):
    mode, pmf, cdf = R.poisson_mode_table(lam)
    draws = _poissons_from_mode(stream(6), lam, int(mode), float(pmf), float(cdf), 200_000)
    assert chi2_discrete(draws, lambda k: stats.poisson.pmf(k, lam)) > P_MIN


def test_poisson_inversion_is_the_quantile_function():
    lam = 4.2
    mode, pmf, cdf = R.poisson_mode_table(lam)
    u = np.random.default_rng(0).random(2000)
    got = [R.poisson_from_mode(x, lam, int(mode), float(pmf), float(cdf)) for x in u]
    # exact inversion: smallest k with F(k) > u (scipy's ppf is the smallest k with F(k) >= u)
    want = stats.poisson.ppf(u, lam).astype(int)
    want = np.where(stats.poisson.cdf(want, lam) <= u, want + 1, want)
    assert np.array_equal(got, want)


# -------------------------------------------------------------------------- binomial
@pytest.mark.parametrize("n,p", [(20, 0.08), (7, 0.9), (60, 0.5), (500, 0.08), (3000, 0.022),
                                 (1000, 0.93), (1, 0.3)])
def test_binomial_sampler_matches_the_pmf(n, p):
    draws = _binomials(stream(7), n, p, 200_000)
    assert draws.min() >= 0 and draws.max() <= n
    assert chi2_discrete(draws, lambda k: stats.binom.pmf(k, n, p)) > P_MIN


def test_binomial_edge_cases():
    s = stream(8)
    assert R.binomial(s, 0, 0.5) == 0 and R.binomial(s, 10, 0.0) == 0
    assert R.binomial(s, 10, 1.0) == 10 and R.poisson(s, 0.0) == 0


@pytest.mark.parametrize("n,p", [(15, 0.069), (300, 0.022), (40, 0.6)])
def test_binomial_inversion_from_the_mode_matches_the_pmf(n, p):
    mode, pmf, cdf = R.binomial_mode_table(n, p)
    draws = _binomials_from_mode(stream(9), n, p / (1 - p), int(mode), float(pmf), float(cdf),
                                 200_000)
    assert chi2_discrete(draws, lambda k: stats.binom.pmf(k, n, p)) > P_MIN


# ----------------------------------------------------- the stepped engine's CDF windows
@pytest.mark.parametrize("consumption", ["poisson", "binomial"])
def test_consumption_windows_hold_the_exact_cdf(consumption):
    params = NetworkParams.preset("reference")
    binomial = consumption == "binomial"
    pops = tables(params)  # pathway rows post * K + pre
    mode = stepped._consumption_tables(params, pops, binomial)[0]
    rows, lo, wcdf = stepped._window_tables(params, pops, binomial, mode)
    W = stepped.WINDOW
    for row in range(4):
        tau = pops.tau.ravel()[row]
        rate = -math.expm1(-params.dt / tau) if binomial else params.dt / tau
        law = (lambda k, h: stats.binom.cdf(k, h, rate)) if binomial else \
            (lambda k, h: stats.poisson.cdf(k, h * rate))
        base, hmax = rows[row]
        assert hmax * rate <= stepped.WINDOW_MAX_MEAN < (hmax + 1) * rate
        for h in (0, 1, 2, 7, 30, 150, 400):
            if h > hmax:
                continue
            o = base + h
            ks = lo[o] + np.arange(W)
            assert np.allclose(wcdf[o, :W], law(ks, h), rtol=1e-9, atol=1e-15)
            assert wcdf[o, W] == pytest.approx(law(lo[o] - 1, h), rel=1e-9, abs=1e-15)
            # the window is around the mode, and beyond h a binomial CDF is exactly 1
            assert lo[o] <= mode[row, h] < lo[o] + W
            if binomial:
                assert np.all(wcdf[o, :W][ks >= h] == 1.0)


@pytest.mark.parametrize("n, p", [(1, 0.8), (2, 0.5), (7, 0.1), (300, 0.8), (2500, 0.8),
                                  (20_000, 0.3)])
def test_new_kick_binomial_table_is_the_binomial_cdf(n, p):
    out = np.zeros((2, n + 1 + stepped.GUIDE_RUN))
    guide = np.zeros(out.shape, np.int64)
    _sweep.binomial_cdf(n, p, out, guide, 1)
    k = np.arange(n + 1)
    assert np.allclose(out[1, :n + 1], stats.binom.cdf(k, n, p), rtol=1e-10, atol=1e-14)
    assert np.all(out[1, n:] == 1.0) and np.all(np.diff(out[1]) >= 0)
    # guide[j]: the smallest k with F(k) > j / (n + 1)
    j = np.arange(n + 1)
    expect = np.searchsorted(out[1, :n + 1], j / (n + 1.0), side="right")
    assert np.array_equal(guide[1, :n + 1], expect)


def test_branch_free_window_search_counts_the_cdf_values_below_u():
    # the kernel's four-step search must equal #{j < 15 : F_j <= u} for every u
    rng = np.random.default_rng(3)
    cdf = np.sort(rng.uniform(size=(200, stepped.WINDOW)), axis=1)
    cdf[:50, 10:] = 1.0  # ties and values never reached
    cdf[50:60, :4] = 0.0
    for o, row in enumerate(cdf):
        for u in np.concatenate([rng.uniform(size=20), row, np.nextafter(row, 0)]):
            assert _sweep.window_search(cdf, np.uint64(o), u) == np.sum(row <= u)


# ------------------------------------------- the stepped engine's streams and threads
@pytest.mark.parametrize("options", [{}, dict(drive="poisson", recurrent="sampled",
                                              consumption="binomial")])
@pytest.mark.parametrize("connectivity", ["annealed", "quenched"])
def test_stepped_results_do_not_depend_on_threads_or_chunks(monkeypatch, options,
                                                            connectivity):
    # 2 400 neurons: 19 blocks; the quenched network also runs with its sparse adjacency
    params = NetworkParams.preset("reference", k=1 / 6, connectivity=connectivity)
    record = ("voltage", "pending", "refractory")

    def go(t_end, mode, workers=2, dense_max=stepped.DENSE_MAX_N):
        monkeypatch.setattr(_pool.SweepChooser, "pick", lambda self: (mode, False))
        monkeypatch.setattr(_pool, "worker_count", lambda: workers)
        monkeypatch.setattr(stepped, "DENSE_MAX_N", dense_max)
        return stepped.run(params, t_end=t_end, rng=np.random.default_rng(11), record=record,
                           **options)

    serial = go(20.0, False)
    others = [go(20.0, True), go(20.0, True, workers=5)]
    if connectivity == "quenched":
        others.append(go(20.0, False, dense_max=0))
    assert serial["spike_times"].size > 100
    for other in others:
        assert np.array_equal(serial["spike_times"], other["spike_times"])
        assert np.array_equal(serial["spike_neurons"], other["spike_neurons"])
        for name in record:
            assert np.array_equal(serial["records"][name], other["records"][name])
    shorter = go(13.0, True)  # different chunk boundaries; must be a prefix
    n = shorter["spike_times"].size
    assert np.array_equal(serial["spike_neurons"][:n], shorter["spike_neurons"])
    assert np.array_equal(serial["records"]["voltage"][:130], shorter["records"]["voltage"])


def test_workers_finish_when_they_cannot_run_together(monkeypatch):
    # three workers on one thread run one after the other: the first must do every block of
    # every sweep alone (blocks are taken, not assigned), and the others find the call over
    params = NetworkParams.preset("reference")
    monkeypatch.setattr(_pool.SweepChooser, "pick", lambda self: (True, False))
    monkeypatch.setattr(_pool, "worker_count", lambda: 3)
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        alone = stepped.run(params, t_end=30.0, rng=np.random.default_rng(5))
    finally:
        numba.set_num_threads(threads)
    monkeypatch.setattr(_pool.SweepChooser, "pick", lambda self: (False, False))
    serial = stepped.run(params, t_end=30.0, rng=np.random.default_rng(5))
    assert np.array_equal(alone["spike_neurons"], serial["spike_neurons"])
    assert np.array_equal(alone["population_counts"], serial["population_counts"])


@numba.njit(parallel=True)
def _hammer(sync, n):
    for _ in numba.prange(4):
        for _i in range(n):
            _atomic.fetch_add(sync, 0, 1)
            while True:  # an increment by compare-and-exchange
                seen = _atomic.load_acquire(sync, 8)
                if _atomic.compare_exchange(sync, 8, seen, seen + 3) == seen:
                    break
                _atomic.spin_pause()


def test_atomics_lose_no_update_between_threads():
    sync = np.zeros(16, np.int64)
    _hammer(sync, 20_000)
    assert sync[0] == 4 * 20_000 and sync[8] == 3 * 4 * 20_000
    stored = np.zeros(8, np.int64)
    _store(stored)
    assert stored[3] == 42


@numba.njit
def _store(arr):
    _atomic.store_release(arr, 3, 42)
    _atomic.yield_thread()


def test_sweep_chooser_prefers_the_faster_mode_and_reprobes():
    chooser = _pool.SweepChooser(True)
    picks = []
    for _ in range(40):
        mode, probe = chooser.pick()
        picks.append((mode, probe))
        chooser.record(mode, 1.0 if mode else 5.0, 1)  # parallel 5x faster
    # each mode is timed twice (the first may include loading its code), then the faster
    # one runs, and the other is re-timed now and then
    assert picks[:4] == [(True, True), (True, True), (False, True), (False, True)]
    steady = [m for m, p in picks[4:] if not p]
    assert all(steady) and any(not m for m, p in picks[4:] if p)
    assert _pool.SweepChooser(False).pick() == (False, False)


def test_sweep_chooser_is_not_swayed_by_one_busy_chunk():
    # a burst of spikes makes one chunk of the faster mode slow: the running average keeps
    # the choice, while a lasting slow-down (another process on a core) changes it
    chooser = _pool.SweepChooser(True)
    for mode, seconds in [(True, 1.0), (True, 1.0), (False, 2.0), (False, 2.0)] + \
            [(True, 1.0)] * 5:
        chooser.record(mode, seconds * 100, 100)
    chooser.record(True, 3.0 * 100, 100)
    assert chooser.pick()[0] is True
    for _ in range(6):
        chooser.record(True, 4.0 * 100, 100)
    assert chooser.cost(True) > chooser.PARALLEL_BIAS * chooser.cost(False)
    assert chooser.pick() == (False, False)
