"""The Markov surrogate engine (SPEC §3): contract, wiring of the moments, uncoupled limit."""

import math

import numpy as np
import pytest

import snnreduce as sr
from snnreduce.dsode.moments import advance_moments, pathway_table
from snnreduce.params import ParameterError

UNCOUPLED = dict(p_ee=0.0, p_ie=0.0, p_ei=0.0, p_ii=0.0)


def test_result_contract():
    params = sr.NetworkParams.preset("reference")
    res = sr.simulate(params, "surrogate", t_end=50.0, seed=2,
                      record=("voltage", "pending", "refractory"))
    assert res.engine == "surrogate" and res.status == "ok"
    counts = res.population_counts
    assert counts.shape == (500, 2) and counts.dtype.kind == "i"
    times, neurons = res.spike_times, res.spike_neurons
    assert np.all(np.diff(times) >= 0)
    steps = np.floor(times / params.dt).astype(int)
    assert np.array_equal(np.bincount(steps * 2 + (neurons >= params.n_e), minlength=1000)
                          .reshape(500, 2), counts)
    assert res.records["voltage"].shape == (500, 400)
    assert res.records["pending"].shape == (500, 4)
    assert res.records["refractory"].shape == (500, 2)
    v = res.records["voltage"]
    assert v.max() <= params.threshold  # spikes are reset to 0
    again = sr.simulate(params, "surrogate", t_end=50.0, seed=2)
    assert np.array_equal(again.spike_times, res.spike_times)


def test_moments_are_driven_by_the_network_counts():
    params = sr.NetworkParams.preset("lcy-regular")
    out = sr.simulate(params, "surrogate", t_end=100.0, seed=1,
                      record=("pending", "pending_var"))
    table = pathway_table(params)
    h, var = np.zeros(4), np.zeros(4)
    n_post = np.array([params.n_e, params.n_i, params.n_e, params.n_i], float)
    for i, c in enumerate(out.population_counts):
        advance_moments(h, var, c / params.dt, table, params.dt, False)
        assert np.allclose(out.records["pending"][i], h * n_post, rtol=1e-12, atol=1e-12)
        assert np.allclose(out.records["pending_var"][i], var, rtol=1e-12, atol=1e-12)


def test_bad_record_and_option():
    with pytest.raises(ParameterError, match="surrogate engine can record"):
        sr.simulate(sr.NetworkParams(), "surrogate", t_end=1.0, record=("bin_count",))
    with pytest.raises(ParameterError, match="moment_integrator"):
        sr.simulate(sr.NetworkParams(), "surrogate", t_end=1.0, moment_integrator="rk4")


def _per_neuron_rates(res, discard=200.0):
    """Per-neuron firing rates (Hz) after ``discard`` ms, E and I."""
    t, n = res.spike_times, res.spike_neurons
    keep = t >= discard
    counts = np.bincount(n[keep], minlength=res.params.n_e + res.params.n_i)
    span = (res.t_end - discard) / 1000.0
    return counts[:res.params.n_e] / span, counts[res.params.n_e:] / span


@pytest.mark.parametrize("refractory", ["exponential", "fixed"])
def test_uncoupled_rate_equals_the_stepped_network(refractory):
    """With all P = 0 both engines give every neuron N(λ dt, λ dt) per step: the same law.

    Uncoupled neurons are independent, so the standard error of a population's mean rate is
    the sample sd of the per-neuron rates over sqrt(N); the two engines must agree within
    4 combined standard errors (for either seed).
    """
    params = sr.NetworkParams(**UNCOUPLED, refractory=refractory, tau_r=3.0,
                              initial_state="uniform")
    try:
        net = sr.simulate(params, "stepped", t_end=2000.0, seed=11)
    except ImportError:  # pragma: no cover - the stepped engine ships with the package
        pytest.skip("stepped engine not available")
    sur = sr.simulate(params, "surrogate", t_end=2000.0, seed=12)
    for a, b in zip(_per_neuron_rates(net), _per_neuron_rates(sur)):
        se = math.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
        assert abs(a.mean() - b.mean()) <= 4.0 * se + 1e-9
    # and both sit at the first-passage rate, up to the discrete-time overshoot (see
    # test_dsode.test_uncoupled_rate_is_the_first_passage_rate)
    analytic = 1000.0 / (params.threshold / params.lambda_e + params.tau_r)
    rate = np.concatenate(_per_neuron_rates(sur)).mean()
    assert rate == pytest.approx(analytic, rel=0.02)


def test_reference_rates_near_the_network():
    """SPEC §6 network values E ≈ 47 Hz, I ≈ 66 Hz; the surrogate is within 8 %."""
    params = sr.NetworkParams.preset("reference")
    res = sr.simulate(params, "surrogate", t_end=1100.0, seed=4)
    c = res.population_counts[1000:].sum(0) / 1.0 / np.array(params.n)
    assert c == pytest.approx([47.0, 66.0], rel=0.08)


# ------------------------------------------------------------------------- closures
def test_bad_closure():
    with pytest.raises(ParameterError, match="closure must be one of"):
        sr.simulate(sr.NetworkParams(), "surrogate", t_end=1.0, closure="white")


def test_diffusion_closure_is_the_paper_closure_at_tau_half_ms():
    """2 dt S² σ²/τ = dt S² σ²/τ² at τ = 0.5 ms: the same network, the same random stream."""
    params = sr.NetworkParams.preset("lcy-regular").replace(
        tau_ee=0.5, tau_ie=0.5, tau_ei=0.5, tau_ii=0.5)
    a, b = (sr.simulate(params, "surrogate", t_end=200.0, seed=3, closure=c)
            for c in ("paper", "diffusion"))
    assert np.array_equal(a.spike_times, b.spike_times)
    assert np.array_equal(a.spike_neurons, b.spike_neurons)


def test_bin_closures_are_ou_in_the_surrogate():
    """"ou-cond" and "ou-cond-linear" change only how the dsODE's bins hold the deviations;
    the surrogate has no bins, so it runs them as "ou", draw for draw."""
    params = sr.NetworkParams.preset("lcy-regular")
    ref = sr.simulate(params, "surrogate", t_end=100.0, seed=4, closure="ou")
    for closure in ("ou-cond", "ou-cond-linear"):
        res = sr.simulate(params, "surrogate", t_end=100.0, seed=4, closure=closure)
        assert np.array_equal(res.population_counts, ref.population_counts)
        assert res.options["closure"] == closure


@pytest.mark.parametrize("closure", ["paper", "diffusion", "ou"])
def test_recurrent_input_variance_over_a_window_has_its_closed_form(closure):
    """Across-neuron variance of the voltage gained over a window T, per closure.

    I neurons without external drive (λ_I = 0) receive only pending E kicks (P^IE = 0.05,
    S^IE = 0.05, τ = 1.2 ms: they stay far below threshold) from 2000 uncoupled E neurons.
    Over T = n dt the increment of V_n has across-neuron variance "paper" n dt S² σ²/τ²,
    "diffusion" n 2 dt S² σ²/τ (white noise), "ou" the variance of the sum of an AR(1)
    deviation with correlation e = exp(-dt/τ), (dt S/τ)² σ² [n + 2 Σ_k (n-k) e^k], the
    discrete form of 2 (S/τ)² σ² τ² (T/τ - 1 + e^{-T/τ}) (σ² averaged over the window).
    The common fluctuation of h cancels between neurons. Tolerance: 4 standard errors of a
    sample variance, sqrt(2/(N-1)), plus 3 % for the fluctuation of σ² with the finite E
    population (under which the "ou" sum weights σ²(t) slightly unevenly).
    """
    n_i = 6000
    params = sr.NetworkParams(n_e=2000, n_i=n_i, p_ee=0.0, p_ei=0.0, p_ii=0.0, p_ie=0.05,
                              s_ie=0.05, tau_ie=1.2, lambda_i=0.0)
    t0, t_win = 100.0, 5.0  # T ~ 4τ: colored (ou) and white (diffusion) differ by 25 %
    res = sr.simulate(params, "surrogate", t_end=t0 + t_win, seed=5, closure=closure,
                      record=("voltage", "pending_var"))
    assert res.population_counts[:, 1].sum() == 0  # the I neurons never fire
    dt = params.dt
    i0, n = int(round(t0 / dt)) - 1, int(round(t_win / dt))
    v = res.records["voltage"].astype(np.float64)
    gain = v[i0 + n, params.n_e:] - v[i0, params.n_e:]
    var_pw = res.records["pending_var"][i0:i0 + n, 1].mean()  # pathway "ie"
    assert var_pw > 1.0
    white = n * 2 * dt * params.s_ie**2 * var_pw / params.tau_ie
    s, tau = params.s_ie, params.tau_ie
    if closure == "paper":
        expected = n * dt * s**2 * var_pw / tau**2
    elif closure == "diffusion":
        expected = n * 2 * dt * s**2 * var_pw / tau
    else:
        e = math.exp(-dt / tau)
        k = np.arange(1, n)
        expected = (dt * s / tau) ** 2 * var_pw * (n + 2 * np.sum((n - k) * e**k))
        continuous = 2 * s**2 * var_pw * (t_win / tau - 1 + math.exp(-t_win / tau))
        assert expected == pytest.approx(continuous, rel=0.01)  # dt ≪ τ
        assert expected < 0.8 * white  # so the test tells the two apart
    tol = 4 * math.sqrt(2 / (n_i - 1)) + 0.03
    assert gain.var(ddof=1) == pytest.approx(expected, rel=tol)
