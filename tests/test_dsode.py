"""The reduced system (dsODE): moments, invariants, limits, options and reference behaviour."""

import contextlib
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.integrate import solve_ivp
from scipy.signal import welch

import snnreduce as sr
from snnreduce.dsode import engine, moments, run, run_batch
from snnreduce.dsode import kernel as K
from snnreduce.dsode.moments import (advance_moments, input_mean_var, pathway_table,
                                     population_table, stationary_moments)
from snnreduce.params import ParameterError

UNCOUPLED = dict(p_ee=0.0, p_ie=0.0, p_ei=0.0, p_ii=0.0)


@contextlib.contextmanager
def float64_bins():
    """Record bins in float64 so the mass invariant can be checked to round-off."""
    old = engine._BIN_RECORD_DTYPE
    engine._BIN_RECORD_DTYPE = np.float64
    try:
        yield
    finally:
        engine._BIN_RECORD_DTYPE = old


def _ssi(counts, n, dt=0.1, window=1.0):
    """SPEC §5 SSI of expected counts c_t: sum_t c_t W_t / sum_t c_t / N."""
    m = int(math.floor(window / (2 * dt) + 1e-9))
    box = np.convolve(counts, np.ones(2 * m + 1), mode="same")
    return float(np.dot(counts, box) / counts.sum() / n)


def _rates(counts, params, discard=100.0):
    c = np.asarray(counts, float)[int(round(discard / params.dt)):]
    return c.sum(0) / (c.shape[0] * params.dt / 1000.0) / np.array(params.n)


# ------------------------------------------------------------------------- moments
def test_moments_reach_their_stationary_values():
    params = sr.NetworkParams.preset("reference")
    table = pathway_table(params)
    rates = np.array([14.0, 6.5])  # population spikes per ms of E and I
    h_star, var_star = stationary_moments(rates, params)
    tau = table[:, 0]
    p = table[:, 1]
    r = rates[[0, 0, 1, 1]]
    assert np.allclose(h_star, tau * p * r)
    assert np.allclose(var_star, tau * p * r * (2 - p) / 2)
    for euler in (False, True):
        h = np.array([3.0, 0.0, 50.0, 1.0])
        var = np.array([0.0, 9.0, 2.0, 100.0])
        for _ in range(5000):
            advance_moments(h, var, rates, table, 0.1, euler)
        assert np.allclose(h, h_star, rtol=1e-12)
        assert np.allclose(var, var_star, rtol=1e-12)


def test_exact_moment_step_solves_the_ode():
    params = sr.NetworkParams.preset("lcy-regular")
    table = pathway_table(params)
    rates = np.array([3.0, 7.0])
    h0 = np.array([5.0, 0.5, 2.0, 20.0])
    v0 = np.array([1.0, 4.0, 0.0, 3.0])
    dt = 2.0  # a long step: the exponential integrator is exact for constant rates
    h, var = h0.copy(), v0.copy()
    advance_moments(h, var, rates, table, dt, False)
    for j in range(4):
        tau, p = table[j, :2]
        r = rates[0 if j < 2 else 1]

        def rhs(t, y):
            return [-y[0] / tau + p * r, -2 * y[1] / tau + y[0] / tau + p * (1 - p) * r]

        sol = solve_ivp(rhs, (0, dt), [h0[j], v0[j]], rtol=1e-12, atol=1e-12)
        assert h[j] == pytest.approx(sol.y[0, -1], rel=1e-9)
        assert var[j] == pytest.approx(sol.y[1, -1], rel=1e-9)


def test_input_mean_and_variance_formula():
    params = sr.NetworkParams.preset("reference")
    pop = population_table(params)
    pw = pathway_table(params)
    h = np.array([10.0, 8.0, 5.0, 4.0])
    var = np.array([6.0, 5.0, 3.0, 2.0])
    dt, v = 0.1, 37.0
    g = (v + 66.0) / 166.0
    mu, s2 = input_mean_var(v, 1, h, var, pop, pw, dt)  # an I neuron: pathways ie and ii
    assert mu == pytest.approx(dt * (7.0 + 1.25 * 8.0 / 1.2 - 2.45 * g * 4.0 / 4.5))
    assert s2 == pytest.approx(dt * (7.0 + 1.25**2 * 5.0 / 1.2**2 + (2.45 * g)**2 * 2.0 / 4.5**2))


# ----------------------------------------------------------------------- invariants
def _check_invariants(params, out):
    recs = out["records"]
    n = recs["bin_count"]
    total = n.sum(axis=2) + recs["refractory"]
    assert np.all(np.isfinite(n)) and np.all(np.isfinite(out["population_counts"]))
    assert np.max(np.abs(total - np.array(params.n, float))) < 1e-9 * max(params.n)
    assert n.min() >= 0.0 and recs["refractory"].min() >= 0.0
    assert out["population_counts"].min() >= 0.0
    edges = recs["bin_edges"]
    m = recs["bin_mean"]
    assert np.all(m >= edges[:-1] - 1e-9) and np.all(m <= edges[1:] + 1e-9)
    assert np.all(recs["pending"] >= 0) and np.all(recs["pending_var"] >= 0)


network_params = st.builds(
    sr.NetworkParams,
    n_e=st.integers(1, 60), n_i=st.integers(1, 30),
    threshold=st.sampled_from([20.0, 100.0]),
    inhibitory_reversal=st.sampled_from([10.0, 66.0]),
    lambda_e=st.floats(0.0, 100.0), lambda_i=st.floats(0.0, 100.0),
    tau_ee=st.floats(0.02, 10.0), tau_ie=st.floats(0.02, 10.0),
    tau_ei=st.floats(0.02, 10.0), tau_ii=st.floats(0.02, 10.0),
    tau_r=st.sampled_from([0.0, 0.05, 1.0, 4.0]),
    refractory=st.sampled_from(["exponential", "fixed"]),
    tau_m=st.sampled_from([0.0, 0.0, 5.0, 20.0]),
    p_ee=st.floats(0.0, 1.0), p_ie=st.floats(0.0, 1.0),
    p_ei=st.floats(0.0, 1.0), p_ii=st.floats(0.0, 1.0),
    s_ee=st.floats(0.0, 10.0), s_ie=st.floats(0.0, 10.0),
    s_ei=st.floats(0.0, 40.0), s_ii=st.floats(0.0, 40.0),  # strong inhibition to -M_r
    dt=st.sampled_from([0.05, 0.1, 0.25]),
    initial_state=st.sampled_from(["rest", "uniform"]),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(params=network_params,
       rule=st.sampled_from(["exponential", "paper"]),
       integrator=st.sampled_from(["exact", "euler"]),
       noise=st.sampled_from([None, "finite-size"]),
       dv=st.sampled_from([1.0, 4.0, 7.3]),
       v_low=st.sampled_from([-40.0, -10.0, -70.0]),
       closure=st.sampled_from(moments.CLOSURES),
       seed=st.integers(0, 2**32 - 1))
def test_mass_is_conserved_for_any_valid_parameters(params, rule, integrator, noise, dv, v_low,
                                                     closure, seed):
    with float64_bins():
        out = run(params, t_end=25.0, noise=noise, rng=np.random.default_rng(seed),
                  record=("bin_count", "bin_mean", "refractory", "pending", "pending_var"),
                  dv=dv, v_low=v_low, refractory_rule=rule, moment_integrator=integrator,
                  closure=closure)
    assert out["status"] == "ok"
    _check_invariants(params, out)
    if noise is not None and rule == "exponential":
        # finite-size: whole neurons stay whole
        assert np.allclose(out["population_counts"], np.round(out["population_counts"]))


def test_strong_inhibition_piles_mass_on_the_floor_without_losing_it():
    params = sr.NetworkParams(lambda_e=50.0, lambda_i=50.0, s_ei=60.0, s_ii=60.0, p_ei=1.0,
                              p_ii=1.0, tau_ei=0.05, tau_ii=0.05)
    with float64_bins():
        out = run(params, t_end=60.0, record=("bin_count", "bin_mean", "refractory", "pending",
                                              "pending_var"))
    _check_invariants(params, out)


@pytest.mark.parametrize("rule", ["exponential", "fixed", "paper"])
def test_refractory_pool_follows_its_rule(rule):
    params = sr.NetworkParams(**UNCOUPLED, refractory="fixed" if rule == "fixed" else
                              "exponential", tau_r=2.0, initial_state="uniform")
    out = run(params, t_end=50.0, record=("refractory",),
              refractory_rule="paper" if rule == "paper" else "exponential")
    refr = out["records"]["refractory"][:, 0]
    fired = out["population_counts"][:, 0]
    prev = np.concatenate([[0.0], refr[:-1]])
    dt, tau = params.dt, params.tau_r
    if rule == "exponential":
        expected = (prev + fired) * math.exp(-dt / tau)
    elif rule == "paper":
        pool = prev + fired
        expected = pool - np.minimum(np.abs((-pool / tau + fired) * dt), pool)
    else:
        # as in the network: a neuron that fires in step i gets input again in step
        # i + steps, so at the end of a step those fired in the last steps - 1 are refractory
        steps = round(tau / dt)
        cum = np.concatenate([[0.0], np.cumsum(fired)])
        i = np.arange(fired.size)
        expected = cum[i + 1] - cum[np.maximum(i + 2 - steps, 0)]
    assert np.allclose(refr, expected, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------- limits
@pytest.mark.parametrize("lam, threshold, tau_r, refractory, dv", [
    (7.0, 100.0, 4.0, "exponential", 4.0),
    (3.0, 50.0, 2.0, "fixed", 4.0),
    (20.0, 100.0, 1.0, "exponential", 2.0),
    (7.0, 100.0, 0.0, "exponential", 4.0),
])
def test_uncoupled_rate_is_the_first_passage_rate(lam, threshold, tau_r, refractory, dv):
    """With all P = 0 the input is N(λ dt, λ dt) per step and the rate is ~1000/(M/λ + τ_R).

    Justified tolerance. The transport moves the first moment of every bin exactly, so in
    the stationary state flux balance gives a cycle of (M + ov)/λ + τ_eff, where binning
    enters only through the mean overshoot ov of the firing mass over M (0 <= ov <=
    λ dt + 2 sqrt(λ dt) for all but a Gaussian tail) and the discrete-time refractory rule
    gives τ_eff within dt/2 of τ_R. Hence
    |rate / analytic - 1| <= ((λ dt + 2 sqrt(λ dt)) / λ + dt / 2) / (M/λ + τ_R).
    The renewal-theory overshoot of a random walk with N(λ dt, λ dt) steps,
    ov ≈ E[ξ²] / (2 E[ξ]) = (1 + λ dt) / 2, predicts the rate to well within 0.5 %.
    """
    params = sr.NetworkParams(**UNCOUPLED, lambda_e=lam, lambda_i=lam, threshold=threshold,
                              tau_r=tau_r, refractory=refractory, initial_state="uniform")
    dt = params.dt
    out = run(params, t_end=3000.0, dv=dv)
    rate = _rates(out["population_counts"], params, discard=1000.0)
    analytic = 1000.0 / (threshold / lam + tau_r)
    tol = ((lam * dt + 2 * math.sqrt(lam * dt)) / lam + dt / 2) / (threshold / lam + tau_r)
    assert np.all(np.abs(rate / analytic - 1.0) <= tol)
    if refractory == "fixed":
        tau_eff = max(1, round(tau_r / dt)) * dt - dt
    else:
        tau_eff = dt / (1.0 if tau_r == 0 else -math.expm1(-dt / tau_r)) - dt
    renewal = 1000.0 / ((threshold + (1 + lam * dt) / 2) / lam + tau_eff)
    assert rate == pytest.approx([renewal, renewal], rel=5e-3)


def test_finite_size_noise_vanishes_as_the_network_grows():
    base = sr.NetworkParams.preset("reference")
    gaps = []
    for k in (1.0, 0.02):
        params = base.scaled(k)
        det = _rates(run(params, t_end=400.0)["population_counts"], params)
        fs = _rates(run(params, t_end=400.0, noise="finite-size",
                        rng=np.random.default_rng(5))["population_counts"], params)
        gaps.append(np.max(np.abs(fs / det - 1.0)))
    # N = 300/100: finite-size effects of several %; N = 15000/5000: within 1.5 %
    assert gaps[1] < 0.015
    assert gaps[1] < gaps[0]


# -------------------------------------------------------------------- API and options
def test_reduce_returns_a_complete_result():
    params = sr.NetworkParams.preset("reference")
    res = sr.reduce(params, t_end=20.0, record=("bin_count", "bin_mean", "pending",
                                                "pending_var", "refractory"))
    assert res.engine == "dsode" and res.seed is None and res.status == "ok"
    assert res.population_counts.shape == (200, 2) and res.spike_times is None
    rec = res.records
    assert rec["bin_count"].shape == (200, 2, 35) and rec["bin_mean"].shape == (200, 2, 35)
    assert rec["bin_edges"].shape == (36,)
    assert rec["pending"].shape == (200, 4) and rec["refractory"].shape == (200, 2)
    for key in ("dv", "v_low", "n_bins", "refractory_rule", "moment_integrator",
                "truncate_sd", "noise"):
        assert key in res.options
    # the first step: everyone at V = 0 in bin [0, 4); the refractory pool is empty
    assert rec["bin_count"][0, 0].sum() == pytest.approx(300.0, rel=1e-6)


def test_save_and_load_round_trip(tmp_path):
    res = sr.reduce(sr.NetworkParams.preset("lcy-regular"), t_end=10.0)
    path = tmp_path / "dsode.nc"
    res.save(path)
    back = sr.load(path)
    assert np.array_equal(back.population_counts, res.population_counts)
    assert np.array_equal(back.records["bin_count"], res.records["bin_count"])
    assert back.options == res.options


def test_deterministic_and_seeded_runs_are_reproducible():
    params = sr.NetworkParams.preset("lcy-regular")
    a = sr.reduce(params, t_end=50.0, record=())
    b = sr.reduce(params, t_end=50.0, record=())
    assert np.array_equal(a.population_counts, b.population_counts)
    f1 = sr.reduce(params, t_end=50.0, noise="finite-size", seed=3, record=())
    f2 = sr.reduce(params, t_end=50.0, noise="finite-size", seed=3, record=())
    f3 = sr.reduce(params, t_end=50.0, noise="finite-size", seed=4, record=())
    assert f1.seed == 3
    assert np.array_equal(f1.population_counts, f2.population_counts)
    assert not np.array_equal(f1.population_counts, f3.population_counts)


def test_chunked_runs_equal_one_call():
    # progress=True advances in chunks of 2000 steps; state (delay line, rng) must carry over
    params = sr.NetworkParams.preset("lcy-regular", refractory="fixed")
    kw = dict(t_end=450.0, noise="finite-size", record=("bin_count", "refractory"))
    a = run(params, rng=np.random.default_rng(9), progress=False, **kw)
    b = run(params, rng=np.random.default_rng(9), progress=True, **kw)
    assert np.array_equal(a["population_counts"], b["population_counts"])
    assert np.array_equal(a["records"]["bin_count"], b["records"]["bin_count"])


@pytest.mark.parametrize("options, message", [
    (dict(dv=0.0), "dv must be"),
    (dict(v_low=5.0), "v_low must be"),
    (dict(refractory_rule="bogus"), "refractory_rule must be"),
    (dict(moment_integrator="rk4"), "moment_integrator must be"),
    (dict(truncate_sd=0.5), "truncate_sd must be"),
    (dict(bins=3), "unknown dsODE option 'bins'"),
    (dict(rate_lag=2), "rate_lag must be"),
    (dict(closure="white"), "closure must be one of 'paper', 'diffusion', 'ou'"),
    (dict(record=("voltage",)), "the dsODE can record"),
])
def test_bad_options_give_one_line_errors(options, message):
    with pytest.raises(ParameterError, match=message):
        sr.reduce(sr.NetworkParams(), t_end=1.0, **options)


def test_batch_matches_single_runs():
    sets = [sr.NetworkParams.preset("reference"),
            sr.NetworkParams.preset("lcy-synchronous", dt=0.05),
            sr.NetworkParams.preset("reference", threshold=60.0, refractory="fixed")]
    batch = run_batch(sets, t_end=30.0, record=("bin_count", "pending"), threads=2)
    for params, got in zip(sets, batch):
        ref = run(params, t_end=30.0, record=("bin_count", "pending"))
        assert got["status"] == "ok"
        assert np.array_equal(got["population_counts"], ref["population_counts"])
        assert np.array_equal(got["records"]["bin_count"], ref["records"]["bin_count"])
        assert np.array_equal(got["records"]["pending"], ref["records"]["pending"])
        assert np.array_equal(got["records"]["bin_edges"], ref["records"]["bin_edges"])


def test_every_entry_point_defaults_to_the_ou_cond_linear_closure():
    """reduce, run and run_batch (the sweep's batch path) default to "ou-cond-linear", and a
    run without ``closure`` is the run with that closure, not the paper's; the surrogate
    defaults to "ou", the same closure without its bin-only parts (the same numbers)."""
    from snnreduce.dsode.moments import DEFAULT_CLOSURE, SURROGATE_DEFAULT_CLOSURE

    assert DEFAULT_CLOSURE == "ou-cond-linear"
    assert SURROGATE_DEFAULT_CLOSURE == "ou"
    params = sr.NetworkParams.preset("reference")
    assert sr.reduce(params, t_end=20.0, record=()).options["closure"] == "ou-cond-linear"
    surrogate = sr.simulate(params, "surrogate", t_end=5.0, seed=1)
    assert surrogate.options["closure"] == "ou"
    linear = sr.simulate(params, "surrogate", t_end=5.0, seed=1, closure="ou-cond-linear")
    assert np.array_equal(surrogate.spike_times, linear.spike_times)
    default = run(params, t_end=30.0)["population_counts"]
    assert np.array_equal(default,
                          run(params, t_end=30.0, closure="ou-cond-linear")["population_counts"])
    for other in ("paper", "ou"):
        assert not np.array_equal(default,
                                  run(params, t_end=30.0, closure=other)["population_counts"])
    assert np.array_equal(run_batch([params], t_end=30.0)[0]["population_counts"], default)


# ------------------------------------------------------------- reference behaviour
@pytest.mark.parametrize("closure", ["paper", "ou"])
def test_reference_preset_gamma_cycle(closure):
    """SPEC §6: E ≈ 47 Hz, I ≈ 66 Hz, gamma ≈ 63-64 Hz, period-2 MFEs (stepped network),
    for the paper's closure and the default "ou".

    Period-2 is judged on the MFEs of :func:`snnreduce.analysis.mfe` (levels from the
    between-burst baseline): under "ou" the small bursts' 1 ms-smoothed peak (2.65 E spikes
    per step) falls just below twice the mean count (2.80), so a fixed 2 × mean height cut
    would see only the large bursts.
    """
    from snnreduce.analysis import mfe

    params = sr.NetworkParams.preset("reference")
    out = run(params, t_end=1100.0, closure=closure)
    counts = out["population_counts"]
    rate = _rates(counts, params)
    assert rate == pytest.approx([47.0, 66.0], rel=0.08)
    x = counts[1000:, 0]
    f, psd = welch(x, fs=1000.0 / params.dt, nperseg=5000)
    band = (f >= 30) & (f <= 90)
    assert abs(f[band][np.argmax(psd[band])] - 63.5) <= 6.0
    # period-2: successive MFE sizes alternate large/small, every one of ~60 events
    sizes = mfe(counts, "E", dt=params.dt, n=params.n).relative_sizes
    assert len(sizes) > 50
    d = np.diff(sizes)
    assert np.all(np.sign(d[1:]) != np.sign(d[:-1]))


def test_paper_code_variant_reproduces_the_published_dsode():
    """SPEC §6: the paper authors' dsODE gives E ≈ 44 Hz, I ≈ 61 Hz, a period-2 cycle.

    Their code uses the "paper" refractory rule, explicit Euler moments and feeds the
    moments one step late (rate_lag=1).
    """
    params = sr.NetworkParams.preset("reference")
    out = run(params, t_end=1100.0, refractory_rule="paper", moment_integrator="euler",
              rate_lag=1, closure="paper")
    assert _rates(out["population_counts"], params) == pytest.approx([44.0, 61.0], rel=0.03)


@pytest.mark.slow
def test_finite_size_homogeneous_regime_is_asynchronous_like_the_network():
    params = sr.NetworkParams.preset("lcy-homogeneous")
    net = sr.simulate(params, "stepped", t_end=1100.0, seed=1)
    fs = sr.reduce(params, t_end=1100.0, noise="finite-size", seed=1, record=())
    ssi_net = _ssi(net.population_counts[1000:, 0].astype(float), params.n_e)
    ssi_fs = _ssi(fs.population_counts[1000:, 0], params.n_e)
    assert abs(ssi_fs - ssi_net) < 0.03


# ------------------------------------------------------------------------- closures
def test_diffusion_closure_is_the_paper_closure_at_its_implied_correlation_time():
    """The paper's dt S² σ²/τ² is the white-noise variance 2 dt S² σ²/τ at τ = 0.5 ms: with
    every τ = 0.5 the two closures are the same system (the factor 2τ is exactly 1)."""
    params = sr.NetworkParams.preset("lcy-regular").replace(
        tau_ee=0.5, tau_ie=0.5, tau_ei=0.5, tau_ii=0.5)
    for noise in (None, "finite-size"):
        a, b = (run(params, t_end=200.0, noise=noise, rng=np.random.default_rng(4),
                    closure=c)["population_counts"] for c in ("paper", "diffusion"))
        assert np.array_equal(a, b)
    # ...and at the reference's τ the diffusion closure has more noise, so it differs
    p = sr.NetworkParams.preset("lcy-regular")
    assert not np.allclose(run(p, t_end=200.0)["population_counts"],
                           run(p, t_end=200.0, closure="diffusion")["population_counts"])


@pytest.mark.parametrize("closure", ["ou", "ou-cond"])
@pytest.mark.parametrize("noise", [None, "finite-size"])
@pytest.mark.parametrize("rule", ["exponential", "paper"])
def test_ou_closure_without_pending_kicks_is_the_paper_dsode(noise, rule, closure):
    """Uncoupled (all P = 0): no pending kicks, no deviations, so closures "ou" and
    "ou-cond" (whose conditional coefficients are then 0) transport exactly like "paper"
    (their own assembly of the fractions: equal to round-off)."""
    params = sr.NetworkParams(**UNCOUPLED, initial_state="uniform")
    a, b = (run(params, t_end=300.0, noise=noise, rng=np.random.default_rng(2),
                refractory_rule=rule, closure=c)["population_counts"]
            for c in ("paper", closure))
    assert np.allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("lam, tau_r, refractory", [(7.0, 4.0, "exponential"),
                                                    (3.0, 2.0, "fixed")])
def test_linear_law_keeps_the_uncoupled_first_passage_rate(lam, tau_r, refractory):
    """Closure "ou-cond-linear" changes the in-bin law, which keeps every bin's mass and
    mean, so the flux-balance bound of test_uncoupled_rate_is_the_first_passage_rate holds
    for it too (uncoupled: its deviations are 0), and it is not the uniform law's run."""
    params = sr.NetworkParams(**UNCOUPLED, lambda_e=lam, lambda_i=lam, tau_r=tau_r,
                              refractory=refractory, initial_state="uniform")
    dt, m = params.dt, params.threshold
    out = run(params, t_end=3000.0, closure="ou-cond-linear")
    rate = _rates(out["population_counts"], params, discard=1000.0)
    analytic = 1000.0 / (m / lam + tau_r)
    tol = ((lam * dt + 2 * math.sqrt(lam * dt)) / lam + dt / 2) / (m / lam + tau_r)
    assert np.all(np.abs(rate / analytic - 1.0) <= tol)
    uniform = run(params, t_end=300.0, closure="ou-cond")["population_counts"]
    assert not np.allclose(out["population_counts"][:3000], uniform, rtol=1e-6)


def _advance_directly(params, t_end, closure="ou"):
    setup = engine._Setup(params, dv=4.0, v_low=-40.0, refractory_rule="exponential",
                          moment_integrator="exact", truncate_sd=8.0, noise=None,
                          pending_noise=False, rate_lag=0, closure=closure)
    state = setup.initial_state()
    steps = int(round(t_end / params.dt))
    empty2 = np.zeros((0, 2, 0))
    empty1 = np.zeros((0, 4))
    K._advance(*state, setup.pop, setup.pw, setup.senders, setup.fc, setup.ic, 0, steps,
               np.random.default_rng(0), K.NO_STIMULUS, np.zeros((steps, 2)), empty2, empty2,
               empty1, empty1, np.zeros((0, 2)), 0, 1)
    return state


@pytest.mark.parametrize("closure", moments.DEVIATION_CLOSURES)
@pytest.mark.parametrize("preset, refractory", [("reference", "exponential"),
                                                ("lcy-homogeneous", "exponential"),
                                                ("reference", "fixed")])
def test_ou_deviations_stay_deviations_from_the_population_mean(preset, refractory, closure):
    """The deviations η are taken from the population mean h, so their sum over a
    population (bins and refractory pool) must stay 0: the regression of the arriving
    deviations on the landing voltage redistributes a source's deviation without creating
    any, and every part decays by the same exp(-dt/τ). Only the clamp of the fired mean
    voltage at M and the floor at v_low break this, both far below the tolerance.
    ("ou-cond": the conditional parts E[Y; d] of a source telescope to E[Y] = 0.)"""
    params = sr.NetworkParams.preset(preset, refractory=refractory)
    n, vm, refr, line, h, var, last, eta, eta_r = _advance_directly(params, 300.0, closure)
    for q, size in enumerate(params.n):
        for kind, pathway in enumerate((q, 2 + q)):  # q's excitatory, inhibitory pathway
            total = float(np.dot(n[q], eta[q, kind]) + eta_r[q, kind].sum())
            spread = math.sqrt(var[pathway]) * size
            assert spread > 1.0  # the deviations are not trivially 0
            assert abs(total) < 1e-6 * spread
            # and the bins carry part, not all, of the variance
            assert 0.0 < np.dot(n[q], eta[q, kind] ** 2) / size <= var[pathway]


@pytest.mark.parametrize("closure", moments.CLOSURES)
def test_driven_population_fires_at_its_mean_drive_under_every_closure(closure):
    """I neurons without inhibition or refractoriness (τ_R = 0), driven by λ_I and by the
    pending kicks of uncoupled E neurons (P^IE = 0.5, S^IE = 1), integrate their mean drive
    μ = λ_I + S P r_E (r_E: E spikes per ms): without leak, floor or waste, flux balance
    gives rate × (M + overshoot) = μ whatever the input's spread, so a closure may change
    the noise but not the mean drive ("ou": the bins' deviations must sum to zero).
    Tolerance: the mean overshoot of the firing mass is within [0, μ dt + 2 s] (s: the
    input sd of a step, including the closure's recurrent variance)."""
    params = sr.NetworkParams(p_ee=0.0, p_ei=0.0, p_ii=0.0, p_ie=0.5, s_ie=1.0, lambda_i=3.0,
                              tau_r=0.0, initial_state="uniform")
    out = run(params, t_end=3000.0, closure=closure, record=("pending_var",))
    counts = out["population_counts"][10000:]
    r_e = counts[:, 0].mean() / params.dt
    mu = params.lambda_i + params.s_ie * params.p_ie * r_e
    rate_i = counts[:, 1].mean() / params.dt / params.n_i  # spikes per ms per neuron
    dt, tau = params.dt, params.tau_ie
    var_pw = out["records"]["pending_var"][10000:, 1].mean()
    # "ou" and its variants: the O(dt²) within-bin term at most
    factor = {"paper": 1.0 / tau**2, "diffusion": 2.0 / tau}.get(closure, dt / tau**2)
    s = math.sqrt(dt * params.lambda_i + dt * params.s_ie**2 * var_pw * factor)
    analytic = mu / params.threshold
    assert rate_i <= analytic * (1 + 1e-9)
    assert rate_i >= mu / (params.threshold + mu * dt + 2 * s)


# ------------------------------------------------------------ populations as data (tables)
def _advance_tables(params, pop, pw, t_end=30.0, swap=False):
    """Counts and pending records of the dsODE kernel run directly on the given tables (the
    initial state's populations swapped with ``swap``)."""
    setup = engine._Setup(params, dv=4.0, v_low=-40.0, refractory_rule="exponential",
                          moment_integrator="exact", truncate_sd=8.0, noise=None,
                          pending_noise=False, rate_lag=0, closure="ou")
    state = [np.ascontiguousarray(a[::-1]) if swap and a.ndim > 1 and a.shape[0] == 2 else a
             for a in setup.initial_state()]
    steps = int(round(t_end / params.dt))
    counts = np.zeros((steps, 2))
    rec_h = np.zeros((steps, 4))
    empty2 = np.zeros((0, 2, 0))
    K._advance(*state, pop, pw, K.sender_kinds(pw), setup.fc, setup.ic, 0, steps,
               np.random.default_rng(0),
               K.NO_STIMULUS, counts, empty2, empty2, rec_h, np.zeros((0, 4)),
               np.zeros((0, 2)), 0, 1)
    return counts, rec_h


def test_the_kernel_reads_populations_and_pathways_from_its_tables():
    """Reordering the pathway rows, or swapping the two populations' rows, gives the same run:
    the kernel takes post, pre, kick and the sender's kind of each pathway from the tables,
    not from their positions."""
    params = sr.NetworkParams.preset("reference", refractory="fixed")
    pop = population_table(params)
    pw = pathway_table(params, "ou")
    counts, pending = _advance_tables(params, pop, pw)
    order = np.array([3, 1, 0, 2])                      # new row r holds old pathway order[r]
    c2, p2 = _advance_tables(params, pop, np.ascontiguousarray(pw[order]))
    assert np.array_equal(counts, c2) and np.array_equal(pending[:, order], p2)
    # the populations swapped: row 0 is I, row 1 is E
    pop3 = np.ascontiguousarray(pop[::-1])
    pw3 = pw.copy()
    pw3[:, moments.TAB_POST] = 1 - pw[:, moments.TAB_POST]
    pw3[:, moments.TAB_PRE] = 1 - pw[:, moments.TAB_PRE]
    c3, p3 = _advance_tables(params, pop3, pw3, swap=True)
    assert np.array_equal(counts, c3[:, ::-1]) and np.array_equal(pending, p3)
