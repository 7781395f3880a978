"""The refractory-density baseline (snnreduce.baselines.refractory_density) through NEST.

Reference values come from theory: the deterministic LIF rate and the renewal-theory rate of an
escape-noise neuron for uncoupled populations, the mesoscopic model's own microscopic network
(same description; tolerance from the seed-to-seed spread), and the Siegert formula for the
escape-noise fit. Tests that need NEST skip when it is missing.
"""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest
from scipy import stats

from snnreduce import NetworkParams, ParameterError
from snnreduce.baselines import refractory_density as rd
from snnreduce.baselines.siegert import siegert_rate

LEAKY = dict(n_e=1000, n_i=250, tau_m=20.0, lambda_e=5.0, lambda_i=5.0,
             p_ee=0.1, p_ie=0.1, p_ei=0.1, p_ii=0.1)
UNCOUPLED = dict(weight_ee=0.0, weight_ie=0.0, weight_ei=0.0, weight_ii=0.0)


def _nest():
    return pytest.importorskip("nest", reason="NEST (pip install snnreduce[nest]) is not installed")


def _rate(result, pop, discard=200.0):
    from snnreduce.analysis import firing_rate

    return firing_rate(result, pop, discard)


def _lif_rate(mu, theta, tau_m, t_ref):
    """Deterministic LIF rate (Hz) from reset 0: 1 / (t_ref + tau_m ln(mu / (mu - theta)))."""
    return 1000.0 / (t_ref + tau_m * math.log(mu / (mu - theta)))


# --------------------------------------------------------------------------- the description
@pytest.mark.parametrize("change, field", [
    (dict(n=0), "n of population E"),
    (dict(n=(800, 2.5)), "n of population I"),
    (dict(n=(1, 2, 3)), "n must be one number or a pair"),
    (dict(c_m=-1.0), "c_m"),
    (dict(tau_m=(20.0, 0.0)), "tau_m of population I"),
    (dict(delta_v=0.0), "delta_v"),
    (dict(lambda_0=-1.0), "lambda_0"),
    (dict(t_ref=-0.1), "t_ref"),
    (dict(tau_syn_in=0.0), "tau_syn_in"),
    (dict(v_t_star=float("nan")), "v_t_star"),
    (dict(v_t_star=(15.0, -1.0)), "v_t_star of population I must be above v_reset"),
    (dict(weight_ee=-1.0), "weight_ee must be >= 0"),
    (dict(weight_ei=1.0), "weight_ei must be <= 0"),
    (dict(p_ie=1.5), "p_ie must be in [0, 1]"),
    (dict(delay_ii=0.0), "delay_ii"),
    (dict(drive="shot"), "drive must be one of"),
    (dict(drive_rate=-1.0), "drive_rate"),
    (dict(q_sfa=((1.0,), ()), tau_sfa=((), ())), "same length"),
    (dict(tau_sfa=((-5.0,), ()), q_sfa=((1.0,), ())), "tau_sfa of population E"),
    (dict(weight_ie="big"), "weight_ie"),
])
def test_bad_descriptions_raise_parameter_error_naming_the_field(change, field):
    with pytest.raises(ParameterError, match=field.replace("(", r"\(").replace("[", r"\[")):
        rd.GifPopulationParams(**change)


def test_description_broadcasts_pairs_and_round_trips():
    gp = rd.GifPopulationParams(tau_m=10, n=(40, 10), tau_sfa=([100.0], []), q_sfa=([2.0], []))
    assert gp.tau_m == (10.0, 10.0) and gp.n == (40, 10)
    assert gp.tau_sfa == ((100.0,), ()) and gp.q_sfa == ((2.0,), ())
    assert rd.GifPopulationParams.from_dict(gp.to_dict()) == gp
    with pytest.raises(ParameterError, match="unknown GIF parameter 'tau'"):
        gp.replace(tau=3.0)
    # post-pre accessors: tau_syn_in of E serves I -> E
    assert gp.tau_syn("ei") == gp.tau_syn_in[0] and gp.tau_syn("ie") == gp.tau_syn_ex[1]
    assert gp.psp_jump("ei") == pytest.approx(gp.weight_ei * gp.tau_syn_in[0] / gp.c_m[0])


# --------------------------------------------------------------------------- escape noise
def test_escape_rate_limits():
    # nearly hard threshold: the deterministic LIF rate
    det = _lif_rate(24.0, 15.0, 20.0, 4.0)
    got = rd.escape_rate(24.0, tau_m=20.0, v_th=15.0, t_ref=4.0, lambda_0=1e4, delta_v=0.01)
    assert got == pytest.approx(det, rel=5e-3)
    # sub-threshold with a hard threshold: silent; no escape at all: silent
    assert rd.escape_rate(14.0, tau_m=20.0, v_th=15.0, lambda_0=1e4, delta_v=0.01) < 1e-6
    assert rd.escape_rate(24.0, tau_m=20.0, v_th=15.0, lambda_0=0.0, delta_v=1.0) == 0.0
    # mu = reset: constant hazard lambda_0 exp(-theta/dv), an exponential ISI
    h = 50.0 * math.exp(-15.0 / 5.0)
    assert rd.escape_rate(0.0, tau_m=20.0, v_th=15.0, t_ref=4.0, lambda_0=50.0, delta_v=5.0) \
        == pytest.approx(1000.0 / (4.0 + 1000.0 / h), rel=1e-6)
    rates = rd.escape_rate(np.array([[10.0, 20.0], [30.0, 40.0]]), tau_m=20.0, v_th=15.0,
                           lambda_0=10.0, delta_v=2.0)
    assert rates.shape == (2, 2) and np.all(np.diff(rates.ravel()) > 0)


@pytest.mark.parametrize("sigma", [5.0, 10.0, 20.0])
def test_escape_fit_follows_the_diffusion_rate_curve(sigma):
    lam0, dv, err = rd.fit_escape_noise(sigma, tau_m=20.0, v_th=100.0, t_ref=4.0)
    assert err < 0.1
    assert 0.25 * sigma < dv < 0.5 * sigma
    mus = 100.0 + sigma * np.array([-1.5, 0.0, 1.5])
    esc = rd.escape_rate(mus, tau_m=20.0, v_th=100.0, t_ref=4.0, lambda_0=lam0, delta_v=dv)
    sie = siegert_rate(mus, sigma, tau_m=20.0, v_th=100.0, tau_ref=4.0)
    assert np.all(np.abs(esc - sie) / (sie + 1.0) < 0.1)       # relative, absolute below 1 Hz


# --------------------------------------------------------------------------- the mapping
def test_from_network_maps_kicks_to_psc_charge_and_back():
    params = NetworkParams(**LEAKY)
    gp = rd.from_network(params, external="gaussian", v_inhibition=50.0)
    g = (50.0 + params.inhibitory_reversal) / (params.threshold + params.inhibitory_reversal)
    assert gp.psp_jump("ee") == pytest.approx(params.s_ee)
    assert gp.psp_jump("ie") == pytest.approx(params.s_ie)
    assert gp.psp_jump("ei") == pytest.approx(-params.s_ei * g)
    assert gp.psp_jump("ii") == pytest.approx(-params.s_ii * g)
    assert (gp.tau_syn("ee"), gp.tau_syn("ie"), gp.tau_syn("ei"), gp.tau_syn("ii")) == \
        (params.tau_ee, params.tau_ie, params.tau_ei, params.tau_ii)
    assert gp.v_t_star == (100.0, 100.0) and gp.t_ref == (params.tau_r,) * 2
    assert gp.drive_rate == (5.0, 5.0) and gp.i_e == (0.0, 0.0)
    assert gp.delta_v[0] == pytest.approx(0.005 * params.threshold)
    back = rd.to_network_params(gp, v_inhibition=50.0)
    for name in ("n_e", "n_i", "threshold", "lambda_e", "lambda_i", "tau_m", "tau_r",
                 "tau_ee", "tau_ie", "tau_ei", "tau_ii", "p_ee", "p_ie", "p_ei", "p_ii",
                 "s_ee", "s_ie", "s_ei", "s_ii"):
        assert getattr(back, name) == pytest.approx(getattr(params, name)), name
    assert back.refractory == "fixed" and back.connectivity == "quenched"


def test_from_network_escape_noise_stands_for_the_external_drive():
    params = NetworkParams(**LEAKY)
    gp = rd.from_network(params)
    sigma = math.sqrt(params.lambda_e * params.tau_m)          # unit kicks: D = lambda / 2
    lam0, dv, _ = rd.fit_escape_noise(sigma, tau_m=20.0, v_th=100.0, t_ref=params.tau_r)
    assert gp.delta_v == pytest.approx((dv, dv)) and gp.lambda_0 == pytest.approx((lam0, lam0))
    assert gp.i_e == pytest.approx((250.0 * 5.0, 250.0 * 5.0)) and gp.drive == "escape"
    # with the recurrent shot noise the escape noise is softer
    wide = rd.from_network(params, escape_sigma="network")
    assert wide.delta_v[0] > gp.delta_v[0] and wide.delta_v[1] > gp.delta_v[1]


@pytest.mark.parametrize("kwargs, match", [
    (dict(params=NetworkParams(), options={}), "tau_m must be > 0"),
    (dict(params=NetworkParams(**LEAKY), options=dict(external="white")), "external"),
    (dict(params=NetworkParams(**LEAKY), options=dict(v_inhibition=-80.0)), "v_inhibition"),
    (dict(params=NetworkParams(**LEAKY), options=dict(escape_sigma="all")), "escape_sigma"),
    (dict(params=NetworkParams(**LEAKY), options=dict(delta=1.0)), "unknown from_network"),
])
def test_from_network_rejects_what_it_cannot_map(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        rd.from_network(kwargs["params"], **kwargs["options"])


def test_missing_nest_gives_the_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "nest", None)            # makes `import nest` fail
    with pytest.raises(ImportError, match=r"pip install snnreduce\[nest\]"):
        rd.run_mesoscopic(rd.GifPopulationParams(), t_end=10.0, seed=1)


# --------------------------------------------------------------------------- NEST runs
def test_run_arguments_are_checked():
    _nest()
    gp = rd.GifPopulationParams(n=(20, 5))
    with pytest.raises(ParameterError, match="delay_ee must be at least one time step"):
        rd.run_mesoscopic(gp.replace(delay_ee=0.05), t_end=10.0, seed=1)
    with pytest.raises(ParameterError, match="can record voltage; got 'pending'"):
        rd.run_microscopic(gp, t_end=10.0, seed=1, record=("pending",))
    with pytest.raises(ParameterError, match="connectivity"):
        rd.run_microscopic(gp, t_end=10.0, seed=1, connectivity="grid")
    with pytest.raises(ParameterError, match="t_end"):
        rd.run_mesoscopic(gp, t_end=-1.0, seed=1)


def test_uncoupled_mesoscopic_rate_is_the_deterministic_lif_rate():
    """Small Delta_V: 1 / (t_ref + tau_m ln((mu - V_r) / (mu - theta))) within a few %."""
    _nest()
    mu, theta, tau_m, t_ref = 24.0, 15.0, 20.0, 4.0
    gp = rd.GifPopulationParams(n=(10_000, 10_000), i_e=mu * 250.0 / tau_m, delta_v=0.075,
                                lambda_0=1e4, **UNCOUPLED)
    result = rd.run_mesoscopic(gp, t_end=1000.0, seed=3)
    want = _lif_rate(mu, theta, tau_m, t_ref)
    for pop in "EI":
        assert _rate(result, pop) == pytest.approx(want, rel=0.03)


@pytest.mark.parametrize("level", ["meso", "micro"])
def test_uncoupled_rate_with_escape_noise_is_the_renewal_rate(level):
    """Soft escape noise: the stationary renewal-theory rate (discretisation effects < 1 %)."""
    _nest()
    mu = np.array([18.0, 40.0])                  # E just above threshold, I far above
    n = (10_000, 10_000) if level == "meso" else (1500, 1500)
    gp = rd.GifPopulationParams(n=n, i_e=tuple(mu * 250.0 / 20.0), **UNCOUPLED)
    run = rd.run_mesoscopic if level == "meso" else rd.run_microscopic
    result = run(gp, t_end=1200.0, seed=5)
    want = rd.escape_rate(mu, tau_m=20.0, v_th=15.0, t_ref=4.0, lambda_0=10.0, delta_v=2.5)
    got = np.array([_rate(result, pop) for pop in "EI"])
    # micro: Poisson-like count error of N neurons over 1 s, plus 1 % for the time step
    tol = 0.01 * want + (0 if level == "meso" else 4 * np.sqrt(want / (n[0] * 1.0)))
    assert np.all(np.abs(got - want) < tol), (got, want)


def test_mesoscopic_matches_its_microscopic_network():
    """gif_pop_psc_exp against gif_psc_exp for the same (fully connected) description.

    With p = 1 every neuron receives the same synaptic input, which is what the mesoscopic
    equations assume, so the mean rates must agree up to the run-to-run spread: a two-sample
    t-test on four seeds each at the 0.1 % level.
    """
    _nest()
    n = (800, 200)
    gp = rd.GifPopulationParams(n=n, p_ee=1.0, p_ie=1.0, p_ei=1.0, p_ii=1.0,
                                weight_ee=5.0, weight_ie=5.0, weight_ei=-12.5, weight_ii=-12.5)
    seeds = range(11, 15)
    meso = np.array([[_rate(rd.run_mesoscopic(gp, t_end=1000.0, seed=s), p) for p in "EI"]
                     for s in seeds])
    micro = np.array([[_rate(rd.run_microscopic(gp, t_end=1000.0, seed=s), p) for p in "EI"]
                      for s in seeds])
    k = len(seeds)
    pooled = np.sqrt((meso.var(axis=0, ddof=1) + micro.var(axis=0, ddof=1)) / 2)
    # floor: the Poisson error of the micro count, so a lucky tiny spread cannot make it flaky
    floor = np.sqrt(micro.mean(axis=0) / (np.array(n) * 0.8))
    se = np.maximum(pooled, floor) * math.sqrt(2.0 / k)
    tol = stats.t.ppf(1 - 0.0005, 2 * k - 2) * se
    diff = np.abs(meso.mean(axis=0) - micro.mean(axis=0))
    assert np.all(diff < tol), (meso.mean(axis=0), micro.mean(axis=0), tol)
    assert np.all(tol < 0.15 * micro.mean(axis=0))            # the test has teeth
    assert 10.0 < micro.mean(axis=0)[0] < 30.0


def test_mesoscopic_input_is_the_mean_over_connections():
    """The mesoscopic model sees p * weight per presynaptic spike: (p, w) and (1, p w) are the
    same model, spike for spike."""
    _nest()
    gp = rd.GifPopulationParams(n=(400, 100))
    pathways = ("ee", "ie", "ei", "ii")
    full = gp.replace(**{f"p_{pw}": 1.0 for pw in pathways},
                      **{f"weight_{pw}": gp.p(pw) * gp.weight(pw) for pw in pathways})
    a = rd.run_mesoscopic(gp, t_end=300.0, seed=4).population_counts
    b = rd.run_mesoscopic(full, t_end=300.0, seed=4).population_counts
    np.testing.assert_array_equal(a, b)
    assert a.sum() > 0


def test_results_have_the_right_shapes_and_summarize(tmp_path):
    _nest()
    from snnreduce import load
    from snnreduce.analysis import summarize

    gp = rd.GifPopulationParams(n=(80, 20), lambda_0=20.0)
    meso = rd.run_mesoscopic(gp, t_end=300.0, seed=2)
    micro = rd.run_microscopic(gp, t_end=300.0, seed=2, record=("voltage",))
    for result, engine in ((meso, "rdm"), (micro, "gif-micro")):
        assert result.engine == engine and result.seed == 2 and result.dt == 0.1
        assert result.population_counts.shape == (3000, 2)
        assert np.issubdtype(result.population_counts.dtype, np.integer)
        assert result.params.n == (80, 20) and result.params.dt == 0.1
        assert result.options["gif"] == gp.to_dict()
        summary = summarize(result)
        assert summary["rate_hz"]["E"] > 1.0 and summary["ssi"]["I"] is not None
        result.save(tmp_path / f"{engine}.nc")
        back = load(tmp_path / f"{engine}.nc")
        np.testing.assert_array_equal(back.population_counts, result.population_counts)
    assert meso.spike_times is None
    t, idx = micro.spike_times, micro.spike_neurons
    assert len(t) == micro.population_counts.sum() and np.all(np.diff(t) >= 0)
    assert 0 <= t.min() and t.max() < 300.0 and 0 <= idx.min() and idx.max() < 100
    np.testing.assert_array_equal(
        np.bincount(np.floor(t[idx < 80] / 0.1).astype(int), minlength=3000),
        micro.population_counts[:, 0])
    voltage = micro.records["voltage"]
    assert voltage.shape == (3000, 100) and np.isfinite(voltage).all()
    # first step, no input yet: V = mu (1 - exp(-dt / tau_m)) with mu = tau_m I_e / C_m = 24 mV
    np.testing.assert_allclose(voltage[0], 24.0 * -math.expm1(-0.1 / 20.0), rtol=1e-9)


def test_same_seed_same_counts():
    _nest()
    gp = rd.GifPopulationParams(n=(80, 20))
    a = rd.run_mesoscopic(gp, t_end=200.0, seed=7).population_counts
    b = rd.run_mesoscopic(gp, t_end=200.0, seed=7).population_counts
    c = rd.run_mesoscopic(gp, t_end=200.0, seed=8).population_counts
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_engine_contract_and_options():
    _nest()
    params = NetworkParams(**{**LEAKY, "n_e": 200, "n_i": 50})
    out = rd.run(params, t_end=200.0, rng=np.random.default_rng(1), record=(), progress=False)
    assert set(out) >= {"population_counts", "spike_times", "spike_neurons", "records", "options"}
    assert out["population_counts"].shape == (2000, 2) and out["spike_times"] is None
    assert out["options"]["level"] == "meso"
    assert out["options"]["mapping"]["escape_sigma"] == "network"
    import json

    json.dumps(out["options"])
    micro = rd.run(params, t_end=50.0, rng=np.random.default_rng(1), level="micro",
                   external="gaussian")
    assert micro["spike_times"] is not None and micro["options"]["connectivity"] == "bernoulli"
    with pytest.raises(ParameterError, match="unknown rdm option 'drive'"):
        rd.run(params, t_end=10.0, rng=np.random.default_rng(1), drive="poisson")
    with pytest.raises(ParameterError, match="can record nothing"):
        rd.run(params, t_end=10.0, rng=np.random.default_rng(1), record=("pending",))
    with pytest.warns(UserWarning, match="mean current only"):
        rd.run(params, t_end=10.0, rng=np.random.default_rng(1), external="poisson")


def test_mapped_microscopic_network_matches_the_stepped_network():
    """The mapping itself: the GIF network with white-noise drive and a nearly hard threshold
    reproduces the stepped leaky network's rates (all differences are the documented
    approximations: filtered vs jump synapses, linearised inhibition, fixed refractory time)."""
    _nest()
    import snnreduce

    params = NetworkParams(**LEAKY)
    net = snnreduce.simulate(params, "stepped", t_end=1000.0, seed=1, drive="poisson",
                             recurrent="sampled")
    gif = rd.run_microscopic(rd.from_network(params, external="gaussian"), t_end=1000.0, seed=1)
    for pop in "EI":
        assert _rate(gif, pop) == pytest.approx(_rate(net, pop), rel=0.1)
