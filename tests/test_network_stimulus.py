"""Stimuli in the network engines (issue 11 item 2): stepped (Gaussian and Poisson drive),
markov (exact, by thinning) and the surrogate, called through the model registry.

Expected values come from the model's definition: the renewal (first-passage) rate of an
uncoupled neuron (helpers of test_stepped / test_markov), and ∫λ dt for the external kicks.
"""

import math

import numpy as np
import pytest
from scipy import stats

from snnreduce import NetworkParams, ParameterError, models, validation
from snnreduce.network._resume import Clock, stimulus_grid
from snnreduce.stimulus import parse_stimulus
from test_markov import markov_isi_ms
from test_stepped import (UNCOUPLED, check_renewal, gaussian_passage_steps,
                          poisson_passage_steps, stepped_isi_steps)

# (model, options): every engine, the stepped one with both drives
CASES = [("snn", {}), ("snn", {"drive": "poisson"}), ("markov", {}), ("surrogate", {})]


def run(model, params, *, t_end=100.0, seed=0, **kw):
    return models.get(model).load()(params, t_end=t_end, rng=validation.generator(seed),
                                    record=kw.pop("record", ()), **kw)


def same(a, b):
    return (np.array_equal(a["spike_times"], b["spike_times"])
            and np.array_equal(a["spike_neurons"], b["spike_neurons"])
            and np.array_equal(a["population_counts"], b["population_counts"])
            and all(np.array_equal(a["records"][k], b["records"][k]) for k in a["records"]))


SMALL = NetworkParams.preset("reference", n_e=120, n_i=40)
RECORDS = ("voltage", "pending", "refractory")


@pytest.mark.parametrize("model,options", CASES)
def test_constant_stimulus_equal_to_lambda_is_the_constant_drive(model, options):
    base = run(model, SMALL, seed=3, record=RECORDS, **options)
    assert base["population_counts"].sum() > 100
    for text in ("E:lambda; I:lambda", "E:const(7)", "I:const(3)+const(4)"):
        out = run(model, SMALL, seed=3, record=RECORDS, stimulus=parse_stimulus(text), **options)
        assert same(base, out), text


@pytest.mark.parametrize("model,options", CASES)
def test_constant_stimulus_is_a_change_of_lambda(model, options):
    changed = run(model, SMALL.replace(lambda_e=8.5, lambda_i=6.0), seed=2, record=RECORDS,
                  **options)
    out = run(model, SMALL, seed=2, record=RECORDS, **options,
              stimulus=parse_stimulus("E:const(8)+const(0.5); I:const(6)"))
    assert same(changed, out)


@pytest.mark.parametrize("model,options", [c for c in CASES if c[0] != "markov"])
def test_time_varying_path_with_a_flat_rate_equals_the_constant_drive(model, options):
    # a step that never comes: the per-step drive table is the constant, so the stepped
    # engines' time-varying code must reproduce the constant run bit for bit
    base = run(model, SMALL, seed=4, record=RECORDS, **options)
    out = run(model, SMALL, seed=4, record=RECORDS, **options,
              stimulus=parse_stimulus("E:lambda+step(at=1e6,amp=1); I:lambda"))
    assert same(base, out)


# -------------------------------------------------------------- uncoupled neurons, a step
STEP_AT, T_END, TRANSIENT = 1000.0, 2000.0, 100.0
STEP = "E:lambda+step(at=1000,amp=2); I:lambda+step(at=1000,amp=-1)"


def expected_isi(model, options, params):
    """Mean ISI (ms) of an uncoupled neuron of each population at the rates of ``params``."""
    out = {}
    for pop in ("E", "I"):
        mu = params.lam(pop) * params.dt
        if model == "markov":
            out[pop] = markov_isi_ms(params, pop)
        elif options.get("drive") == "poisson":
            out[pop] = stepped_isi_steps(params, poisson_passage_steps(params.threshold, mu)) \
                * params.dt
        else:  # Gaussian drive: the stepped engine and the surrogate (its uncoupled limit)
            out[pop] = stepped_isi_steps(params, gaussian_passage_steps(params.threshold, mu)) \
                * params.dt
    return out


def window(out, lo, hi):
    keep = (out["spike_times"] >= lo) & (out["spike_times"] < hi)
    return out["spike_times"][keep] - lo, out["spike_neurons"][keep]


@pytest.mark.parametrize("model,options", CASES)
def test_uncoupled_rates_follow_a_step_to_the_new_renewal_rate(model, options):
    params = NetworkParams(**UNCOUPLED)
    if model == "markov":
        params = params.replace(threshold=19.5)  # ceil(M) = 20 kicks
    out = run(model, params, t_end=T_END, seed=5, stimulus=parse_stimulus(STEP), **options)
    after = params.replace(lambda_e=params.lambda_e + 2, lambda_i=params.lambda_i - 1)
    # renewal ISIs that start after a transient of the start (rest) and of the step
    span = STEP_AT - TRANSIENT
    check_renewal(*window(out, TRANSIENT, STEP_AT), params,
                  expected_isi(model, options, params), span)
    check_renewal(*window(out, STEP_AT + TRANSIENT, T_END), after,
                  expected_isi(model, options, after), T_END - STEP_AT - TRANSIENT)


# ---------------------------------------------------- external kicks against ∫λ dt
COUNTER = dict(n_e=60, n_i=60, threshold=1e9, inhibitory_reversal=1e9, tau_r=0.0,
               p_ee=0.0, p_ie=0.0, p_ei=0.0, p_ii=0.0)


def kicks_per_step(out, params):
    """External kicks per step and population: with no recurrent input, no leak and a
    threshold never reached, a neuron's voltage counts its external kicks (from rest)."""
    v = np.rint(out["records"]["voltage"].astype(np.float64)).astype(np.int64)
    v = np.concatenate([np.zeros((1, v.shape[1]), np.int64), v])
    per = np.diff(v, axis=0)
    return np.stack([per[:, :params.n_e].sum(1), per[:, params.n_e:].sum(1)], axis=1)


def check_phase_bins(kicks, stimulus, params, t_start, period, n_bins):
    """Kicks summed per phase bin (over all periods) against N ∫λ dt of the same steps."""
    dt = params.dt
    n_steps = kicks.shape[0]
    edges = t_start + np.arange(n_steps + 1) * dt
    shapes = stimulus.resolved(params)
    z = []
    for q, pop in enumerate(("E", "I")):
        expected_step = params.n[q] * shapes[pop].integral(edges[:-1], edges[1:])
        phase_bin = np.floor(((edges[:-1] + dt / 2) % period) / period * n_bins).astype(int)
        got = np.bincount(phase_bin, kicks[:, q], n_bins)
        want = np.bincount(phase_bin, expected_step, n_bins)
        z.append((got - want) / np.sqrt(want))
        assert abs(got.sum() - want.sum()) < 4 * math.sqrt(want.sum())
    z = np.concatenate(z)
    # every bin within 4 Poisson standard errors, and the bins together (chi-square)
    assert np.abs(z).max() < 4.0, z
    assert (z ** 2).sum() < stats.chi2.ppf(0.9999, z.size), z


@pytest.mark.parametrize("model,options", [("markov", {}), ("snn", {"drive": "poisson"})])
def test_sine_kicks_per_phase_bin_match_the_integral_of_lambda(model, options):
    params = NetworkParams(**COUNTER, lambda_e=2.0, lambda_i=3.0)
    # E modulated at 20 Hz; I touching 0 at 40 Hz (a bound of 0 inside the run)
    stim = parse_stimulus("E:lambda+sine(amp=1.5,hz=20); I:sine(mean=3,amp=3,hz=40,phase=30)")
    t_end = 1000.0
    out = run(model, params, t_end=t_end, seed=7, record=("voltage",), stimulus=stim, **options)
    assert out["population_counts"].sum() == 0
    kicks = kicks_per_step(out, params)
    check_phase_bins(kicks, stim, params, 0.0, period=50.0, n_bins=10)
    # per period (50 ms = 500 steps): each within its Poisson error, E and I
    per_period = kicks.reshape(-1, 500, 2).sum(1)
    edges = np.arange(0.0, t_end + 1, 50.0)
    for q, pop in enumerate(("E", "I")):
        want = params.n[q] * stim.resolved(params)[pop].integral(edges[:-1], edges[1:])
        assert np.all(np.abs(per_period[:, q] - want) < 4.5 * np.sqrt(want))


@pytest.mark.parametrize("model,options", [("markov", {}), ("snn", {"drive": "poisson"})])
def test_t_start_shifts_the_stimulus(model, options):
    # a step at 500 ms in a run that starts at 400 ms acts after 100 ms of the run
    params = NetworkParams(**COUNTER, lambda_e=2.0, lambda_i=3.0)
    stim = parse_stimulus("E:lambda+step(at=500,amp=4)")
    out = run(model, params, t_end=200.0, seed=8, record=("voltage",), stimulus=stim,
              t_start=400.0, **options)
    kicks = kicks_per_step(out, params)[:, 0]
    first, second = kicks[:1000].sum(), kicks[1000:].sum()
    for got, rate in ((first, 2.0), (second, 6.0)):
        want = params.n_e * rate * 100.0
        assert abs(got - want) < 4 * math.sqrt(want), (got, want)
    # and the stepped grid's rates are the step at step 1000 of the run
    rates = stimulus_grid(stim, params, 200.0, 400.0, Clock(400.0, 0, params.dt))
    assert np.allclose(rates[:1000, 0], 2.0, rtol=0, atol=1e-9)
    assert np.allclose(rates[1000:, 0], 6.0, rtol=0, atol=1e-9)
    assert np.all(rates[:, 1] == 3.0)


@pytest.mark.parametrize("model", ["snn", "markov", "surrogate"])
def test_spike_times_are_absolute(model):
    out = run(model, SMALL, t_end=50.0, seed=1, t_start=1234.5,
              stimulus=parse_stimulus("E:lambda+sine(amp=2,hz=30)"))
    t = out["spike_times"]
    assert t.size > 0 and t.min() >= 1234.5 and t.max() < 1234.5 + 50.0


@pytest.mark.parametrize("model", ["snn", "markov", "surrogate"])
def test_bad_stimulus_and_t_start_are_parameter_errors(model):
    with pytest.raises(ParameterError, match="stimulus E"):
        run(model, SMALL, stimulus=parse_stimulus("E:const(1)+sine(amp=2,hz=10)"))
    with pytest.raises(ParameterError, match="t_start"):
        run(model, SMALL, t_start=-1.0)
    with pytest.raises(ParameterError, match="stimulus"):
        run(model, SMALL, stimulus=3.0)
