"""The event-driven Markov jump process engine (SPEC §2, engine 2)."""

import math

import numpy as np
import pytest

import snnreduce
from snnreduce import NetworkParams, ParameterError
from snnreduce.network import markov
from test_stepped import UNCOUPLED, check_renewal


def run(params, t_end=200.0, seed=1, **kw):
    return markov.run(params, t_end=t_end, rng=np.random.default_rng(seed), **kw)


def markov_isi_ms(params, pop):
    """Mean ISI of an uncoupled neuron: tau_r (exponential mean or fixed) + first passage.

    From V = 0, unit kicks at rate lambda reach V >= M after exactly ceil(M) kicks, so the
    first-passage time is Gamma(ceil(M), lambda) with mean ceil(M) / lambda.
    """
    return params.tau_r + math.ceil(params.threshold) / params.lam(pop)


@pytest.mark.parametrize("voltage,refractory", [("continuous", "exponential"),
                                                ("continuous", "fixed"),
                                                ("integer", "exponential")])
def test_uncoupled_rate_matches_renewal_theory(voltage, refractory):
    params = NetworkParams(**UNCOUPLED, refractory=refractory)
    if voltage == "continuous":
        params = params.replace(threshold=19.5)  # ceil(M) = 20 kicks
    t_end = 2000.0
    out = run(params, t_end=t_end, seed=4, voltage=voltage)
    expected = {pop: markov_isi_ms(params, pop) for pop in ("E", "I")}
    check_renewal(out["spike_times"], out["spike_neurons"], params, expected, t_end)


def test_chunking_and_buffer_growth_do_not_change_the_stream():
    # ~400 Hz, fixed refractory queue: 3 chunks of 1000 bins and a spike buffer that regrows
    params = NetworkParams(**{**UNCOUPLED, "threshold": 2.0, "lambda_e": 5.0, "tau_r": 2.0,
                              "p_ee": 0.1}, refractory="fixed")
    a = run(params, t_end=300.0, seed=2)
    b = run(params, t_end=300.0, seed=2, progress=True)
    assert a["spike_times"].size > 30000
    assert np.array_equal(a["spike_times"], b["spike_times"])


def test_outputs_are_consistent():
    params = NetworkParams.preset("reference", n_e=90, n_i=30)
    out = run(params, t_end=50.0, record=("voltage", "pending", "refractory"))
    times, neurons = out["spike_times"], out["spike_neurons"]
    assert np.all(np.diff(times) > 0) and times.max() < 50.0
    counts = np.zeros((500, 2), int)
    np.add.at(counts, (np.floor(times / params.dt).astype(int),
                       (neurons >= params.n_e).astype(int)), 1)
    assert np.array_equal(counts, out["population_counts"])
    rec = out["records"]
    assert rec["voltage"].shape == (500, 120) and rec["voltage"].dtype == np.float32
    assert rec["voltage"].max() < params.threshold
    assert rec["pending"].shape == (500, 4) and rec["pending"].min() >= 0
    assert rec["refractory"].shape == (500, 2)
    assert np.all(rec["refractory"] <= np.array(params.n))


def test_simulate_entry_point_returns_a_result():
    params = NetworkParams.preset("reference", n_e=60, n_i=20)
    res = snnreduce.simulate(params, engine="markov", t_end=30.0, seed=4, voltage="integer")
    assert res.engine == "markov" and res.n_steps == 300
    assert res.options["voltage"] == "integer"


@pytest.mark.parametrize("refractory", ["exponential", "fixed"])
def test_refractory_neurons_do_not_spike(refractory):
    params = NetworkParams(**{**UNCOUPLED, "tau_r": 1e9}, refractory=refractory)
    out = run(params, t_end=300.0, record=("refractory",))
    assert np.bincount(out["spike_neurons"], minlength=400).max() == 1
    assert np.array_equal(out["records"]["refractory"], np.cumsum(out["population_counts"], 0))


def test_fixed_refractory_minimum_isi_is_tau_r():
    params = NetworkParams(**{**UNCOUPLED, "threshold": 1.0, "lambda_e": 50.0, "lambda_i": 50.0,
                              "tau_r": 1.5}, refractory="fixed")
    out = run(params, t_end=100.0)
    isis = np.concatenate([np.diff(out["spike_times"][out["spike_neurons"] == n])
                           for n in range(400)])
    assert isis.min() >= 1.5
    assert isis.min() < 1.5 + 0.01


@pytest.mark.parametrize("tau_m", [0.0, 5.0])
def test_integer_voltages_stay_integer_in_range(tau_m):
    # strong inhibition drives V down to the reversal; kick sizes are non-integer
    params = NetworkParams(n_e=100, n_i=100, threshold=20.0, inhibitory_reversal=10.0,
                           lambda_e=2.0, lambda_i=3.0, p_ee=0.2, p_ie=0.5, p_ei=0.9, p_ii=0.3,
                           s_ee=1.7, s_ie=2.3, s_ei=7.3, s_ii=3.1, tau_m=tau_m)
    out = run(params, t_end=200.0, voltage="integer", record=("voltage",))
    v = out["records"]["voltage"]
    assert np.array_equal(v, np.round(v))
    assert v.min() >= -10 and v.max() < 20
    assert v.min() <= -8 and out["spike_times"].size > 100


def test_continuous_leak_decays_voltage_exactly():
    params = NetworkParams(**{**UNCOUPLED, "lambda_e": 0.0, "lambda_i": 0.0}, tau_m=10.0,
                           initial_state="uniform")
    out = run(params, t_end=5.0, record=("voltage",))
    v0 = np.random.default_rng(1).uniform(0.0, 20.0, size=400)
    decay = np.exp(-params.dt * np.arange(1, 51) / 10.0)
    assert np.allclose(out["records"]["voltage"], np.outer(decay, v0), rtol=1e-6)


def test_integer_leak_relaxes_to_rest():
    # no drive: V >= 0 takes unit steps down at rate V / tau_m (a linear death process that
    # stops at 0), so E[V(t)] = V(0) exp(-t / tau_m) exactly
    params = NetworkParams(**{**UNCOUPLED, "lambda_e": 0.0, "lambda_i": 0.0, "n_e": 1000,
                              "n_i": 1000}, tau_m=10.0, initial_state="uniform")
    out = run(params, t_end=3.0, voltage="integer", record=("voltage",))
    v = out["records"]["voltage"].astype(float)
    v0 = np.random.default_rng(1).integers(0, 20, size=2000).astype(float)
    ratio = v[-1].mean() / v0.mean()
    assert ratio == pytest.approx(math.exp(-0.3), abs=0.012)  # ~4 standard errors
    assert np.all(v >= 0)


@pytest.mark.parametrize("option", [dict(voltage="float"), dict(fixed_indegree=True),
                                    dict(record=("bin_mean",)), dict(drive="poisson")])
def test_bad_options_raise_parameter_error(option):
    with pytest.raises(ParameterError):
        run(NetworkParams(n_e=10, n_i=10), t_end=1.0, **option)


def test_integer_voltage_needs_integer_threshold():
    with pytest.raises(ParameterError, match="integer threshold"):
        run(NetworkParams(n_e=10, n_i=10, threshold=10.5), t_end=1.0, voltage="integer")


def test_quenched_fixed_indegree_run_is_reproducible():
    params = NetworkParams.preset("reference", n_e=60, n_i=20, connectivity="quenched")
    a = run(params, t_end=50.0, seed=9, fixed_indegree=True)
    b = run(params, t_end=50.0, seed=9, fixed_indegree=True)
    assert np.array_equal(a["spike_times"], b["spike_times"]) and a["spike_times"].size > 0
    assert a["options"]["n_synapses"] == 60 * 47 + 60 * 16 + 20 * 48 + 20 * 15
