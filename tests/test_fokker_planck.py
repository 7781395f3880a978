"""The Fokker-Planck baseline and the Siegert formula (snnreduce.baselines).

Reference values come from the equations themselves: the Siegert integral by dense quadrature,
a Monte Carlo of the LIF stochastic differential equation (tolerance from its standard error),
and the exact stationary rate of the diffusion approximation by quadrature.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from numba import njit
from scipy import special

from snnreduce import NetworkParams, ParameterError, load
from snnreduce.baselines import fokker_planck as fp
from snnreduce.baselines.siegert import (
    diffusion_rate, network_diffusion, siegert_from_network, siegert_rate,
)

UNCOUPLED = dict(tau_m=20.0, p_ee=0.0, p_ie=0.0, p_ei=0.0, p_ii=0.0)
LEAKY_EI = dict(tau_m=20.0, lambda_e=5.0, lambda_i=5.0, p_ee=0.1, p_ie=0.1, p_ei=0.1, p_ii=0.1)


def stationary_rates(out, params, skip_ms):
    """Hz per neuron from the expected counts after ``skip_ms``."""
    counts = out["population_counts"][int(round(skip_ms / params.dt)):]
    n = np.array(out["options"]["n_neurons"], dtype=float)
    return counts.sum(axis=0) / n / (len(counts) * params.dt) * 1000.0


# ------------------------------------------------------------------------------ Siegert
def _siegert_by_trapezoid(mu, sigma, tau_m, v_th, v_reset, tau_ref):
    u = np.linspace((v_reset - mu) / sigma, (v_th - mu) / sigma, 400_001)
    integral = np.trapezoid(special.erfcx(-u), u)
    return 1000.0 / (tau_ref + tau_m * math.sqrt(math.pi) * integral)


@pytest.mark.parametrize("mu", [20.0, 60.0, 90.0, 100.0, 130.0, 300.0])
@pytest.mark.parametrize("sigma", [5.0, 20.0, 50.0])
def test_siegert_matches_dense_quadrature(mu, sigma):
    got = siegert_rate(mu, sigma, tau_m=20.0, v_th=100.0, v_reset=0.0, tau_ref=2.0)
    want = _siegert_by_trapezoid(mu, sigma, 20.0, 100.0, 0.0, 2.0)
    assert got == pytest.approx(want, rel=1e-7)


def test_siegert_extreme_arguments_are_finite_and_monotone():
    mus = np.linspace(-200.0, 400.0, 61)
    rates = siegert_rate(mus, 3.0, tau_m=20.0, v_th=100.0, tau_ref=2.0)
    assert np.all(np.isfinite(rates)) and np.all(rates >= 0)
    assert np.all(np.diff(rates) >= 0)
    assert rates[0] == 0.0 and rates[-1] < 1000.0 / 2.0
    # deep sub-threshold: tiny but positive where exp(-y^2) is representable
    assert 0 < siegert_rate(0.0, 10.0, tau_m=20.0, v_th=100.0) < 1e-30
    # sigma -> 0 is the deterministic LIF; broadcasting keeps shapes
    det = 1000.0 / (2.0 + 20.0 * math.log(150.0 / 50.0))
    assert siegert_rate(150.0, 0.0, tau_m=20.0, v_th=100.0, tau_ref=2.0) == pytest.approx(det)
    assert siegert_rate(150.0, 1e-4, tau_m=20.0, v_th=100.0, tau_ref=2.0) == pytest.approx(det, rel=1e-6)
    assert siegert_rate(np.ones((2, 3)) * 90, [1.0, 2.0, 3.0], tau_m=20, v_th=100).shape == (2, 3)


@njit(cache=True)
def _lif_monte_carlo(mu, sigma, tau_m, v_th, tau_ref, dt, n_neurons, t_warm, t_end, seed):
    """Euler-Maruyama of tau dV = (mu - V) dt + sigma sqrt(tau) dW, with the Brownian-bridge
    test for crossings between steps (removes the O(sqrt(dt)) missed-crossing bias)."""
    np.random.seed(seed)
    counts = np.zeros(n_neurons)
    noise = sigma * math.sqrt(dt / tau_m)
    var_step = sigma * sigma * dt / tau_m
    n_ref = int(round(tau_ref / dt))
    for n in range(n_neurons):
        v = 0.0
        ref = 0
        t = 0.0
        while t < t_end:
            t += dt
            if ref > 0:
                ref -= 1
                continue
            new = v + (mu - v) * dt / tau_m + noise * np.random.normal()
            crossed = new >= v_th
            if not crossed:
                p_cross = math.exp(-2.0 * (v_th - v) * (v_th - new) / var_step)
                crossed = np.random.random() < p_cross
            if crossed:
                if t > t_warm:
                    counts[n] += 1
                v = 0.0
                ref = n_ref
            else:
                v = new
    return counts / (t_end - t_warm) * 1000.0


@pytest.mark.parametrize("mu, sigma", [(1.2, 0.3), (0.85, 0.4)])
def test_siegert_agrees_with_monte_carlo(mu, sigma):
    rates = _lif_monte_carlo(mu, sigma, 20.0, 1.0, 2.0, 0.05, 400, 100.0, 1600.0, 12345)
    mean, se = rates.mean(), rates.std(ddof=1) / math.sqrt(len(rates))
    want = siegert_rate(mu, sigma, tau_m=20.0, v_th=1.0, v_reset=0.0, tau_ref=2.0)
    # 5 standard errors plus the O(dt / tau_m) bias of Euler-Maruyama (~0.3 % here)
    assert abs(mean - want) < 5 * se + 0.005 * want, (mean, se, want)


def test_siegert_bad_arguments_raise():
    with pytest.raises(ParameterError, match="tau_m"):
        siegert_rate(1.0, 1.0, tau_m=0.0, v_th=1.0)
    with pytest.raises(ParameterError, match="sigma"):
        siegert_rate(1.0, -1.0, tau_m=10.0, v_th=1.0)
    with pytest.raises(ParameterError, match="v_reset"):
        siegert_rate(1.0, 1.0, tau_m=10.0, v_th=1.0, v_reset=2.0)
    with pytest.raises(ParameterError, match="method"):
        siegert_from_network(NetworkParams(tau_m=20.0), method="exact")
    with pytest.raises(ParameterError, match="rates"):
        siegert_from_network(NetworkParams(tau_m=20.0), rates=(1.0, -2.0))


def test_network_mapping_is_the_documented_diffusion_limit():
    params = NetworkParams(**LEAKY_EI)
    k_e, k_i = 0.3, 0.2
    v = np.array([-50.0, 0.0, 70.0])
    drift, diff = network_diffusion(params, "E", k_e, k_i, v)
    g = (v + 66.0) / 166.0
    assert np.allclose(drift, -v / 20 + 5 + 0.95 * k_e - 2.71 * g * k_i)
    assert np.allclose(diff, 0.5 * (5 + 0.95**2 * k_e + (2.71 * g) ** 2 * k_i))
    # the linearised Siegert network rates solve their own self-consistency
    sol = siegert_from_network(params)
    assert sol.converged
    again = siegert_from_network(params, rates=sol.rates)
    assert np.allclose(again.rates, sol.rates, rtol=1e-6)
    # diffusion_rate reduces to the Siegert formula without inhibition
    p0 = NetworkParams(**UNCOUPLED, lambda_e=4.0, refractory="fixed", tau_r=2.0)
    assert diffusion_rate(p0, "E", 0.0, 0.0, v_low=-200.0) == pytest.approx(
        siegert_rate(80.0, math.sqrt(80.0), tau_m=20.0, v_th=100.0, tau_ref=2.0), rel=1e-4)


# ------------------------------------------------------------------------- Fokker-Planck
@pytest.mark.parametrize("threshold", [100.0, 20.0, 5.0])
@pytest.mark.parametrize("ratios", [(0.6, 0.9), (1.2, 1.5)])
def test_uncoupled_stationary_rate_matches_siegert(threshold, ratios):
    # unit kicks at rate lambda: mu = lambda tau_m, sigma = sqrt(lambda tau_m), so the
    # threshold sets sigma / theta (0.08 .. 0.55) and lambda sets mu / theta
    lam = [r * threshold / 20.0 for r in ratios]
    params = NetworkParams(**UNCOUPLED, threshold=threshold, lambda_e=lam[0], lambda_i=lam[1],
                           refractory="fixed", tau_r=2.0)
    out = fp.run(params, t_end=600.0, v_low=-threshold)
    got = stationary_rates(out, params, 400.0)
    mu = np.array(lam) * 20.0
    want = siegert_rate(mu, np.sqrt(mu), tau_m=20.0, v_th=threshold, tau_ref=2.0)
    assert np.allclose(got, want, rtol=0.02, atol=1e-12), (got, want)


def test_coupled_stationary_rates_match_self_consistent_theory():
    # excitatory coupling only: drift linear, D constant -> the Siegert fixed point is exact
    params = NetworkParams(tau_m=20.0, lambda_e=4.0, lambda_i=4.5, p_ee=0.1, p_ie=0.1,
                           p_ei=0.0, p_ii=0.0, refractory="fixed", tau_r=2.0)
    got = stationary_rates(fp.run(params, t_end=1000.0, v_low=-100.0), params, 500.0)
    assert np.allclose(got, siegert_from_network(params).rates, rtol=0.02)
    # conductance inhibition, D(v) voltage dependent: the exact stationary rate by quadrature
    params = NetworkParams(**{**LEAKY_EI, "p_ei": 0.3})
    got = stationary_rates(fp.run(params, t_end=1000.0), params, 500.0)
    theory = siegert_from_network(params, method="quadrature")
    assert theory.converged
    assert np.allclose(got, theory.rates, rtol=0.01), (got, theory.rates)
    # the linearised Siegert formula is an approximation; it stays within a few per cent here
    assert np.allclose(got, siegert_from_network(params).rates, rtol=0.05)


@pytest.mark.parametrize("case", [
    dict(preset="reference"),
    dict(params=LEAKY_EI, delay=1.0, refractory="fixed", tau_r=2.35),
    dict(params=LEAKY_EI, finite_size=True, n_neurons=200, synaptic_filter=False),
    dict(params=LEAKY_EI, tau_r=0.0, initial_state="uniform", recurrent_noise=False),
])
def test_probability_is_conserved_and_densities_stay_non_negative(case):
    case = dict(case)
    base = NetworkParams.preset(case.pop("preset")) if "preset" in case \
        else NetworkParams(**case.pop("params"))
    changes = {k: case.pop(k) for k in ("refractory", "tau_r", "initial_state") if k in case}
    params = base.replace(**changes)
    out = fp.run(params, t_end=300.0, rng=np.random.default_rng(5),
                 record=("bin_count", "refractory"), **case)
    n = np.array(out["options"]["n_neurons"], dtype=float)
    bins, refractory = out["records"]["bin_count"], out["records"]["refractory"]
    total = (bins.sum(axis=-1) + refractory) / n
    assert np.max(np.abs(total - 1.0)) < 1e-10
    assert bins.min() >= 0.0 and refractory.min() >= -1e-10
    assert out["status"] == "ok" and np.all(np.isfinite(out["population_counts"]))
    assert out["population_counts"].min() >= 0.0


def test_finite_size_noise_vanishes_as_n_grows():
    params = NetworkParams(**LEAKY_EI)
    det_out = fp.run(params, t_end=1200.0)
    det = stationary_rates(det_out, params, 200.0)
    spread = {}
    for n in (1_000, 100_000):
        out = fp.run(params, t_end=1200.0, finite_size=True, n_neurons=n, rng=7)
        counts = out["population_counts"][2000:]
        assert np.all(counts == np.round(counts))  # sampled spike counts
        rates = stationary_rates(out, params, 200.0)
        if n == 100_000:
            assert np.allclose(rates, det, rtol=0.01), (rates, det)
        # fluctuation of the population rate in 1 ms bins, per neuron
        per_ms = counts[:, 0].reshape(-1, 10).sum(axis=1) / n
        spread[n] = per_ms.std()
    # Poisson-like emission noise: the spread shrinks like 1 / sqrt(N) (factor 10 here)
    assert 5.0 < spread[1_000] / spread[100_000] < 20.0
    # same seed, same run
    a = fp.run(params, t_end=50.0, finite_size=True, n_neurons=500, rng=3)["population_counts"]
    b = fp.run(params, t_end=50.0, finite_size=True, n_neurons=500, rng=3)["population_counts"]
    assert np.array_equal(a, b)


def test_solve_returns_a_result_that_round_trips(tmp_path):
    params = NetworkParams(**LEAKY_EI)
    result = fp.solve(params, t_end=20.0, record=("bin_count", "bin_mean", "pending"))
    assert result.engine == "fokker-planck" and result.seed is None
    assert result.population_counts.shape == (200, 2)
    assert result.records["bin_edges"].shape == (result.records["bin_count"].shape[-1] + 1,)
    result.save(tmp_path / "fp.nc")
    again = load(tmp_path / "fp.nc")
    assert np.array_equal(again.records["bin_count"], result.records["bin_count"])
    assert again.options == result.options


@pytest.mark.parametrize("options, match", [
    (dict(dv=0.0), "dv"),
    (dict(dv=50.0), "dv"),
    (dict(v_low=10.0), "v_low"),
    (dict(delay=-1.0), "delay"),
    (dict(finite_size="yes"), "finite_size"),
    (dict(n_neurons=0), "n_neurons"),
    (dict(n_neurons=(10, 2.5)), "n_neurons"),
    (dict(bins=3), "unknown"),
    (dict(record=("voltage",)), "record"),
    (dict(t_end=-5.0), "t_end"),
    (dict(finite_size=True, rng="seed"), "rng"),
])
def test_bad_options_raise_parameter_error(options, match):
    options = {"t_end": 10.0, **options}
    with pytest.raises(ParameterError, match=match):
        fp.run(NetworkParams(tau_m=20.0), **options)
