"""The time-stepped network engine (SPEC §2, engine 1).

The renewal checks compare an uncoupled network (all P = 0) with first-passage values computed
here from the model's definition, independently of the engine (derivations: docs/network.md).
"""

import math

import numpy as np
import pytest
from scipy.signal import fftconvolve
from scipy.special import ndtr
from scipy.stats import poisson

import snnreduce
from snnreduce import NetworkParams, ParameterError
from snnreduce.network import stepped
from snnreduce.network._common import quenched_adjacency

UNCOUPLED = dict(n_e=200, n_i=200, threshold=20.0, lambda_e=2.0, lambda_i=3.0, tau_r=2.0,
                 p_ee=0.0, p_ie=0.0, p_ei=0.0, p_ii=0.0)


def run(params, t_end=200.0, seed=1, **kw):
    return stepped.run(params, t_end=t_end, rng=np.random.default_rng(seed), **kw)


# ----------------------------------------------------------------- analytic renewal values
def gaussian_passage_steps(threshold, mu, h=0.005, depth=20.0, tol=1e-14):
    """E[N], N = first n with S_n > threshold, S_n a sum of n N(mu, mu) steps from S_0 = 0.

    E[N] = sum_{n >= 0} P(N > n), with the law of the walk killed above the threshold computed
    on cells of width h whose top edge is the threshold: the first step is exact, later steps
    move each cell's mass from its centre (error O(h^2); h = 0.005 is converged to 1e-4 steps).
    Cells reach ``depth`` below 0: the walk drifts up, and P(min S < -20) ~ exp(-40).
    """
    sigma = math.sqrt(mu)
    k = int(round((threshold + depth) / h))
    edges = threshold - h * np.arange(k, -1, -1)
    alive = ndtr((edges[1:] - mu) / sigma) - ndtr((edges[:-1] - mu) / sigma)
    reach = int(np.ceil((mu + 12 * sigma) / h))
    offsets = np.arange(-reach, reach + 1) * h
    step = ndtr((offsets + h / 2 - mu) / sigma) - ndtr((offsets - h / 2 - mu) / sigma)
    expected = 1.0
    while alive.sum() > tol:
        expected += alive.sum()
        alive = np.clip(fftconvolve(alive, step)[reach:reach + k], 0.0, None)
    return expected


def poisson_passage_steps(threshold, mu):
    """E[N], N = first n with S_n > threshold, S_n ~ Poisson(n mu) (sum of n Poisson(mu) counts).

    P(N > n) = P(Poisson(n mu) <= floor(threshold)), and E[N] = sum_{n >= 0} P(N > n).
    """
    n = np.arange(0, int(50 * (threshold + 1) / mu) + 100)
    return float(poisson.cdf(math.floor(threshold), n * mu).sum())


def stepped_isi_steps(params, passage_steps):
    """Mean inter-spike interval in steps: refractory step ends K plus first-passage steps N, - 1.

    A neuron is refractory at the end of its spike step and exits at the end of each refractory
    step with probability p = 1 - exp(-dt/tau_r) (K geometric on {1, 2, ...}, mean 1/p), or
    after exactly K = round(tau_r/dt) step ends ("fixed"). Input resumes the next step, and the
    spike comes on the N-th input step, so ISI = K + N - 1 steps.
    """
    if params.refractory == "fixed":
        k = max(1, round(params.tau_r / params.dt))
    else:
        k = 1.0 / -math.expm1(-params.dt / params.tau_r)
    return k + passage_steps - 1.0


def measured_mean_isi(result_or_dict, n_neurons, offset, expected_isi, t_end):
    """Mean and standard error of ISIs, using the first ``k`` ISIs of every neuron.

    ``k`` is fixed in advance (80% of the expected count) so the sample is k i.i.d. intervals
    per neuron, free of the bias of intervals cut by the end of the run. The interval from
    t = 0 to the first spike (no refractory part) is not used.
    """
    times, neurons = result_or_dict
    k = int(0.8 * t_end / expected_isi)
    isis = []
    for n in range(offset, offset + n_neurons):
        t = times[neurons == n]
        assert t.size >= k + 1, f"neuron {n} spiked only {t.size} times"
        isis.append(np.diff(t[:k + 1]))
    isis = np.concatenate(isis)
    return isis.mean(), isis.std(ddof=1) / math.sqrt(isis.size)


def check_renewal(times, neurons, params, expected_isi_ms, t_end):
    for pop, offset, size in (("E", 0, params.n_e), ("I", params.n_e, params.n_i)):
        mean, se = measured_mean_isi((times, neurons), size, offset, expected_isi_ms[pop], t_end)
        rate, rate_se = 1000.0 / mean, 1000.0 * se / mean**2
        analytic = 1000.0 / expected_isi_ms[pop]
        assert abs(rate - analytic) < 3 * rate_se, (pop, rate, analytic, rate_se)


# ------------------------------------------------------------------------------- tests
def test_analytic_helpers_agree_with_simple_limits():
    # Poisson: with mu huge every step crosses at once; Gaussian walk: Wald's identity means
    # E[N] mu = M + mean overshoot, and the overshoot is below one step's mean plus 3 sd
    assert poisson_passage_steps(5, 100.0) == pytest.approx(1.0, abs=1e-12)
    # threshold 0: the first step with at least one kick, geometric with p = 1 - exp(-mu)
    assert poisson_passage_steps(0, 0.5) == pytest.approx(1 / -math.expm1(-0.5), rel=1e-12)
    en = gaussian_passage_steps(20.0, 0.2)
    overshoot = en * 0.2 - 20.0
    assert 0.0 < overshoot < 0.2 + 3 * math.sqrt(0.2)


@pytest.mark.parametrize("drive,refractory", [("gaussian", "exponential"),
                                              ("poisson", "exponential"),
                                              ("gaussian", "fixed"), ("poisson", "fixed")])
def test_uncoupled_rate_matches_renewal_theory(drive, refractory):
    params = NetworkParams(**UNCOUPLED, refractory=refractory)
    t_end = 2000.0
    out = run(params, t_end=t_end, seed=3, drive=drive)
    expected = {}
    for pop in ("E", "I"):
        mu = params.lam(pop) * params.dt
        if drive == "gaussian":
            steps = gaussian_passage_steps(params.threshold, mu)
        else:
            steps = poisson_passage_steps(params.threshold, mu)
        expected[pop] = stepped_isi_steps(params, steps) * params.dt
    check_renewal(out["spike_times"], out["spike_neurons"], params, expected, t_end)


@pytest.mark.parametrize("engine", ["stepped", "markov", "surrogate"])
def test_same_seed_same_spikes_and_different_seed_differs(engine):
    params = NetworkParams.preset("reference", n_e=120, n_i=40)
    a, b, c = (snnreduce.simulate(params, engine, t_end=200.0, seed=s) for s in (5, 5, 6))
    assert np.array_equal(a.spike_times, b.spike_times)
    assert np.array_equal(a.spike_neurons, b.spike_neurons)
    assert not (a.spike_times.size == c.spike_times.size
                and np.array_equal(a.spike_neurons, c.spike_neurons))


def test_progress_bar_and_chunking_do_not_change_the_stream():
    params = NetworkParams.preset("reference", n_e=60, n_i=20)
    a = run(params, t_end=100.0, seed=2)
    b = run(params, t_end=100.0, seed=2, progress=True)
    assert np.array_equal(a["spike_times"], b["spike_times"])


def test_reference_network_is_in_the_papers_regime():
    out = run(NetworkParams.preset("reference"), t_end=1000.0, seed=1)
    counts = out["population_counts"][1000:]
    rate_e = counts[:, 0].sum() / 300 / 0.9
    rate_i = counts[:, 1].sum() / 100 / 0.9
    assert 43 < rate_e < 52 and 61 < rate_i < 71  # paper: E ~ 47 Hz, I ~ 66 Hz


def test_outputs_are_consistent():
    params = NetworkParams.preset("reference", n_e=90, n_i=30)
    out = run(params, t_end=50.0, record=("voltage", "pending", "refractory"))
    n_steps = 500
    times, neurons = out["spike_times"], out["spike_neurons"]
    assert out["population_counts"].shape == (n_steps, 2)
    assert np.all(np.diff(times) >= 0)
    # stamped at step midpoints, inside their count bin
    steps = np.floor(times / params.dt).astype(int)
    assert np.allclose(times, (steps + 0.5) * params.dt)
    counts = np.zeros((n_steps, 2), int)
    np.add.at(counts, (steps, (neurons >= params.n_e).astype(int)), 1)
    assert np.array_equal(counts, out["population_counts"])
    rec = out["records"]
    assert rec["voltage"].shape == (n_steps, 120) and rec["voltage"].dtype == np.float32
    assert rec["pending"].shape == (n_steps, 4) and rec["refractory"].shape == (n_steps, 2)
    assert rec["voltage"].max() <= params.threshold
    # a neuron that spiked in a step ends that step at V = 0 (reset)
    assert np.all(rec["voltage"][steps, neurons] == 0.0)


def test_simulate_entry_point_returns_a_result():
    params = NetworkParams.preset("reference", n_e=60, n_i=20)
    res = snnreduce.simulate(params, engine="stepped", t_end=30.0, seed=4, drive="poisson",
                             recurrent="sampled", consumption="binomial")
    assert res.engine == "stepped" and res.n_steps == 300
    assert res.options["recurrent"] == "sampled"
    direct = run(params, t_end=30.0, seed=4, drive="poisson", recurrent="sampled",
                 consumption="binomial")
    assert np.array_equal(res.spike_times, direct["spike_times"])


@pytest.mark.parametrize("engine", ["stepped", "markov"])
@pytest.mark.parametrize("connectivity", ["annealed", "quenched"])
def test_pending_kicks_grow_by_p_times_spikes(engine, connectivity):
    # tau huge: nothing drains (and the recurrent input S H dt / tau is negligible)
    params = NetworkParams(n_e=200, n_i=100, threshold=10.0, lambda_e=2.0, lambda_i=2.5,
                           p_ee=0.3, p_ie=0.5, p_ei=0.7, p_ii=0.9, tau_ee=1e9, tau_ie=1e9,
                           tau_ei=1e9, tau_ii=1e9, tau_r=1.0, connectivity=connectivity)
    out = snnreduce.simulate(params, engine, t_end=100.0, seed=7, record=("pending",))
    pending = out.records["pending"][-1]
    n_spk = out.population_counts.sum(axis=0)
    assert n_spk.min() > 100
    if connectivity == "annealed":
        for k, (post, pre) in enumerate(((0, 0), (1, 0), (0, 1), (1, 1))):
            p = params.p(("ee", "ie", "ei", "ii")[k])
            n_post = params.n[post]
            mean = p * n_post * n_spk[pre]
            sd = math.sqrt(n_post * p * (1 - p) * n_spk[pre])
            assert abs(pending[k] - mean) < 4 * sd, (k, pending[k], mean, sd)
    else:
        # the engine draws its adjacency first from the run's generator
        indptr, indices = quenched_adjacency(params, np.random.default_rng(7))
        out_deg = np.diff(indptr)
        to_i = np.add.reduceat(indices >= params.n_e, indptr[:-1])
        spikes = np.bincount(out.spike_neurons, minlength=300)
        is_e = np.arange(300) < params.n_e
        expected = [(spikes * (out_deg - to_i))[is_e].sum(), (spikes * to_i)[is_e].sum(),
                    (spikes * (out_deg - to_i))[~is_e].sum(), (spikes * to_i)[~is_e].sum()]
        assert np.array_equal(pending, expected)


@pytest.mark.parametrize("fixed_indegree", [False, True])
def test_quenched_adjacency(fixed_indegree):
    params = NetworkParams(n_e=300, n_i=100, p_ee=0.2, p_ie=0.5, p_ei=0.6, p_ii=0.4,
                           connectivity="quenched")
    indptr, indices = quenched_adjacency(params, np.random.default_rng(0), fixed_indegree)
    n = 400
    pre = np.repeat(np.arange(n), np.diff(indptr))
    post = indices.astype(np.int64)
    assert not np.any(pre == post)
    assert np.unique(pre * n + post).size == pre.size  # no multi-edges
    is_e = np.arange(n) < 300
    for (q, qp), p in {(0, 0): 0.2, (1, 0): 0.5, (0, 1): 0.6, (1, 1): 0.4}.items():
        mask = (is_e[post] == (q == 0)) & (is_e[pre] == (qp == 0))
        n_post, n_pre = (300, 100)[q], (300, 100)[qp]
        pool = n_pre - (1 if q == qp else 0)
        indeg = np.bincount(post[mask], minlength=n)[~is_e if q else is_e]
        if fixed_indegree:
            assert np.all(indeg == math.floor(p * pool + 0.5))
        else:
            pairs = n_post * pool
            sd = math.sqrt(pairs * p * (1 - p))
            assert abs(mask.sum() - p * pairs) < 4 * sd
    # the same Generator state gives the same adjacency
    again = quenched_adjacency(params, np.random.default_rng(0), fixed_indegree)
    assert np.array_equal(again[1], indices)


def test_quenched_run_is_reproducible_and_reports_synapses():
    params = NetworkParams.preset("reference", n_e=60, n_i=20, connectivity="quenched")
    a = run(params, t_end=50.0, seed=9, fixed_indegree=True)
    b = run(params, t_end=50.0, seed=9, fixed_indegree=True)
    assert np.array_equal(a["spike_times"], b["spike_times"])
    assert a["options"]["n_synapses"] == 60 * round(0.8 * 59) + 60 * 16 + 20 * 48 + 20 * 15


@pytest.mark.parametrize("refractory", ["exponential", "fixed"])
def test_refractory_neurons_do_not_spike(refractory):
    params = NetworkParams(**{**UNCOUPLED, "tau_r": 1e9}, refractory=refractory)
    out = run(params, t_end=300.0, record=("refractory",))
    spikes_per_neuron = np.bincount(out["spike_neurons"], minlength=400)
    assert spikes_per_neuron.max() == 1 and spikes_per_neuron.sum() == 400
    cumulative = np.cumsum(out["population_counts"], axis=0)
    assert np.array_equal(out["records"]["refractory"], cumulative)


def test_fixed_refractory_minimum_isi_is_tau_r():
    # drive so strong that nearly every input step crosses threshold
    params = NetworkParams(**{**UNCOUPLED, "threshold": 1.0, "lambda_e": 50.0, "lambda_i": 50.0,
                              "tau_r": 1.5}, refractory="fixed")
    out = run(params, t_end=100.0)
    isis = np.concatenate([np.diff(out["spike_times"][out["spike_neurons"] == n])
                           for n in range(400)])
    assert isis.min() == pytest.approx(1.5)
    assert np.mean(np.isclose(isis, 1.5)) > 0.9


def test_leak_decays_voltage_exactly():
    params = NetworkParams(**{**UNCOUPLED, "lambda_e": 0.0, "lambda_i": 0.0}, tau_m=10.0,
                           initial_state="uniform")
    out = run(params, t_end=5.0, record=("voltage",))
    v = out["records"]["voltage"].astype(float)
    v0 = np.random.default_rng(1).uniform(0.0, 20.0, size=400)
    decay = np.exp(-params.dt * np.arange(1, 51) / 10.0)
    assert np.allclose(v, np.outer(decay, v0), rtol=1e-6)


def test_sampled_recurrent_input_and_inhibition_reversal():
    # strong inhibition only: sampled kicks never push V below -M_r (g -> 0 at the reversal)
    params = NetworkParams(n_e=50, n_i=150, threshold=20.0, lambda_e=0.5, lambda_i=4.0,
                           p_ee=0.0, p_ie=0.0, p_ei=1.0, p_ii=0.0, s_ei=30.0,
                           inhibitory_reversal=10.0, tau_r=1.0)
    out = run(params, t_end=100.0, recurrent="sampled", drive="poisson", record=("voltage",))
    v_e = out["records"]["voltage"][:, :50]
    assert v_e.min() >= -10.0 - 1e-9
    assert v_e.min() < -5.0


@pytest.mark.parametrize("option", [dict(drive="normal"), dict(recurrent="mean"),
                                    dict(consumption="exact"), dict(fixed_indegree="yes"),
                                    dict(fixed_indegree=True), dict(record=("bin_count",))])
def test_bad_options_raise_parameter_error(option):
    with pytest.raises(ParameterError):
        run(NetworkParams(n_e=10, n_i=10), t_end=1.0, **option)


def test_unknown_option_name_raises_parameter_error():
    with pytest.raises(ParameterError, match="unknown option 'voltage'"):
        run(NetworkParams(n_e=10, n_i=10), t_end=1.0, voltage="integer")
