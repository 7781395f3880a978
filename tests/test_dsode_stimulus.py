"""Stimuli in the dsODE (deterministic, finite-size, batched), Fokker-Planck and the NEST
refractory-density baseline: a constant stimulus is the constant drive bit for bit, a step
moves an uncoupled population to the first-passage rate of the new λ, and the dsODE keeps its
invariants under any stimulus."""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import snnreduce as sr
from snnreduce.baselines import fokker_planck as fp
from snnreduce.baselines.siegert import siegert_rate
from snnreduce.dsode import moments, run, run_batch
from snnreduce.stimulus import Const, Ramp, Sampled, Sine, Step, Stimulus, Sum, parse_stimulus

from test_dsode import _check_invariants, _rates, float64_bins, network_params

UNCOUPLED = dict(p_ee=0.0, p_ie=0.0, p_ei=0.0, p_ii=0.0)
ALL = ("bin_count", "bin_mean", "pending", "pending_var", "refractory")
SINE_AND_STEP = "E:lambda+sine(amp=2,hz=40); I:lambda+step(at=20,amp=1.5)"


def _same(a, b):
    assert np.array_equal(a["population_counts"], b["population_counts"])
    for key in a["records"]:
        assert np.array_equal(a["records"][key], b["records"][key]), key


# --------------------------------------------------------------- constant = no stimulus
@pytest.mark.parametrize("noise", [None, "finite-size"])
@pytest.mark.parametrize("closure", moments.CLOSURES)
def test_constant_stimulus_equal_to_lambda_is_the_constant_drive_bit_for_bit(noise, closure):
    params = sr.NetworkParams.preset("reference")
    kw = dict(t_end=40.0, noise=noise, record=ALL, closure=closure)
    plain = run(params, rng=np.random.default_rng(3), **kw)
    for text in ("E:const(7); I:lambda", "E:lambda", "I:const(3)+const(4)"):
        got = run(params, rng=np.random.default_rng(3), stimulus=parse_stimulus(text), **kw)
        _same(plain, got)
    # a constant other than λ is the run with that λ
    other = run(params, rng=np.random.default_rng(3), stimulus=parse_stimulus("E:const(9)"), **kw)
    _same(run(params.replace(lambda_e=9.0), rng=np.random.default_rng(3), **kw), other)


@pytest.mark.parametrize("finite_size", [False, True])
def test_fokker_planck_constant_stimulus_is_the_constant_drive(finite_size):
    params = sr.NetworkParams.preset("reference", tau_m=20.0)
    kw = dict(t_end=30.0, finite_size=finite_size, record=("refractory", "pending", "bin_count"))
    plain = fp.run(params, rng=np.random.default_rng(2), **kw)
    got = fp.run(params, rng=np.random.default_rng(2), stimulus=parse_stimulus("E:const(7)"),
                 **kw)
    _same(plain, got)


def test_time_varying_stimulus_reaches_every_closure():
    """The per-step λ enters the input of every closure: a stimulus changes every closure's
    run, and a stimulus that is constant in fact but written as a sampled array (so that it
    takes the time-varying path) gives the constant run to round-off."""
    params = sr.NetworkParams.preset("reference")
    for closure in moments.CLOSURES:
        plain = run(params, t_end=30.0, closure=closure)["population_counts"]
        stim = run(params, t_end=30.0, closure=closure,
                   stimulus=parse_stimulus(SINE_AND_STEP))["population_counts"]
        assert not np.allclose(plain, stim)
        flat = Stimulus(E=Sampled(values=(7.0,) * 30, width=1.0))   # = λ_E, but "varying"
        same = run(params, t_end=30.0, closure=closure, stimulus=flat)["population_counts"]
        assert np.allclose(plain, same, rtol=1e-10, atol=1e-12)


# -------------------------------------------------------------------- a step, uncoupled
@pytest.mark.parametrize("lam0, lam1, refractory", [(7.0, 12.0, "exponential"),
                                                     (12.0, 5.0, "fixed")])
def test_uncoupled_step_moves_the_dsode_to_the_new_first_passage_rate(lam0, lam1, refractory):
    """Before the step the rate is the first-passage rate of λ0, after it that of λ1, within
    the binning tolerance of tests/test_dsode.py::test_uncoupled_rate_is_the_first_passage_rate
    (flux balance; the renewal overshoot to 0.5 %); windows start 1000 ms after the start
    and after the step (the relaxation of the uncoupled density is ~ M/λ ≈ 10 ms)."""
    threshold, tau_r = 100.0, 2.0
    params = sr.NetworkParams(**UNCOUPLED, lambda_e=lam0, lambda_i=lam0, threshold=threshold,
                              tau_r=tau_r, refractory=refractory, initial_state="uniform")
    dt = params.dt
    stim = parse_stimulus(f"E:lambda+step(at=2000,amp={lam1 - lam0}); I:lambda")
    out = run(params, t_end=4000.0, stimulus=stim)
    counts = out["population_counts"]
    before = _rates(counts[:20000], params, discard=1000.0)
    after = _rates(counts[20000:], params, discard=1000.0)
    for lam, got, q in ((lam0, before[0], 0), (lam1, after[0], 0), (lam0, after[1], 1)):
        analytic = 1000.0 / (threshold / lam + tau_r)
        tol = ((lam * dt + 2 * math.sqrt(lam * dt)) / lam + dt / 2) / (threshold / lam + tau_r)
        assert abs(got / analytic - 1.0) <= tol
        if refractory == "fixed":
            tau_eff = max(1, round(tau_r / dt)) * dt - dt
        else:
            tau_eff = dt / -math.expm1(-dt / tau_r) - dt
        assert got == pytest.approx(1000.0 / ((threshold + (1 + lam * dt) / 2) / lam + tau_eff),
                                    rel=5e-3)


def test_uncoupled_step_moves_fokker_planck_to_the_new_siegert_rate():
    """Leaky uncoupled populations: the stationary Fokker-Planck rate is the Siegert rate of
    μ = λ τ_m, σ = sqrt(λ τ_m) (tolerance 2 %, as tests/test_fokker_planck.py) before and
    after a step of λ_E; I is unstimulated."""
    threshold = 20.0
    lam0, lam1 = 0.6, 1.3       # μ / θ = 0.6 and 1.3
    params = sr.NetworkParams(**UNCOUPLED, threshold=threshold, lambda_e=lam0, lambda_i=lam0,
                              refractory="fixed", tau_r=2.0, tau_m=20.0)
    stim = parse_stimulus(f"E:lambda+step(at=600,amp={lam1 - lam0})")
    out = fp.run(params, t_end=1200.0, v_low=-threshold, stimulus=stim)
    counts = out["population_counts"]

    def rate(a, b):
        c = counts[int(a / params.dt):int(b / params.dt)]
        return c.sum(0) / ((b - a) / 1000.0) / np.array(params.n)

    def siegert(lam):
        return siegert_rate(lam * 20.0, math.sqrt(lam * 20.0), tau_m=20.0, v_th=threshold,
                            tau_ref=2.0)

    before, after = rate(400.0, 600.0), rate(1000.0, 1200.0)
    assert before[0] == pytest.approx(siegert(lam0), rel=0.02)
    assert after[0] == pytest.approx(siegert(lam1), rel=0.02)
    assert after[1] == pytest.approx(siegert(lam0), rel=0.02)


# ------------------------------------------------------------------ invariants (hypothesis)
@st.composite
def stimulus_shapes(draw, t_end=25.0):
    """A non-negative λ(t): a constant base plus terms whose dips stay above -base/3 each."""
    base = draw(st.floats(0.0, 60.0))
    dip = base / 3.0
    terms = [Const(rate=base)]
    for kind in draw(st.lists(st.sampled_from(["step", "sine", "ramp", "sampled"]),
                              min_size=1, max_size=3)):
        if kind == "step":
            duration = draw(st.floats(0.05, 30.0))
            terms.append(Step(at=draw(st.floats(0.0, t_end)), amp=draw(st.floats(-dip, 40.0)),
                              duration=duration,
                              period=draw(st.sampled_from([math.inf, duration * 1.5]))))
        elif kind == "sine":
            terms.append(Sine(amp=draw(st.floats(0.0, dip)), hz=draw(st.floats(1.0, 1000.0)),
                              phase=draw(st.floats(0.0, 360.0))))
        elif kind == "ramp":
            start = draw(st.floats(0.0, t_end))
            terms.append(Ramp(start=start, stop=start + draw(st.floats(0.1, 20.0)),
                              amp=draw(st.floats(-dip, 40.0))))
        else:
            width = draw(st.sampled_from([0.05, 0.1, 0.7, 3.0]))
            count = int(math.ceil(t_end / width)) + 1
            terms.append(Sampled(values=tuple(draw(st.lists(st.floats(0.0, 40.0),
                                                            min_size=count, max_size=count))),
                                 width=width))
    return Sum(tuple(terms))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(params=network_params, e=stimulus_shapes(), i=stimulus_shapes(),
       noise=st.sampled_from([None, "finite-size"]),
       closure=st.sampled_from(moments.CLOSURES),
       rule=st.sampled_from(["exponential", "paper"]),
       seed=st.integers(0, 2**32 - 1))
def test_mass_is_conserved_under_any_stimulus(params, e, i, noise, closure, rule, seed):
    with float64_bins():
        out = run(params, t_end=25.0, noise=noise, rng=np.random.default_rng(seed),
                  record=ALL, closure=closure, refractory_rule=rule,
                  stimulus=Stimulus(E=e, I=i))
    assert out["status"] == "ok"
    _check_invariants(params, out)


# ----------------------------------------------------------------------------- the batch
def test_batch_reads_a_list_of_strings_as_one_stimulus():
    # as_stimulus reads ["E:...", "I:..."] as one stimulus (its parts): every set gets it,
    # not one part per set
    params = sr.NetworkParams.preset("reference")
    parts = ["E:lambda+step(at=0,amp=5)", "I:lambda"]
    single = run(params, t_end=30.0, stimulus=parse_stimulus("; ".join(parts)))
    for got in run_batch([params, params], t_end=30.0, stimulus=parts):
        assert np.array_equal(got["population_counts"], single["population_counts"])


def test_batch_takes_one_stimulus_per_set():
    sets = [sr.NetworkParams.preset("reference"),
            sr.NetworkParams.preset("lcy-synchronous", dt=0.05),
            sr.NetworkParams.preset("reference", p_ei=0.7)]
    stimuli = [parse_stimulus(SINE_AND_STEP), None, parse_stimulus("E:lambda+ramp(start=5,stop=20,amp=3)")]
    batch = run_batch(sets, t_end=30.0, record=("bin_count", "pending"), stimulus=stimuli,
                      threads=2)
    for params, stim, got in zip(sets, stimuli, batch):
        _same(run(params, t_end=30.0, record=("bin_count", "pending"), stimulus=stim), got)
    # one stimulus for every set: each set resolves its own `lambda` terms
    shared = run_batch(sets[:1] + sets[2:], t_end=30.0, stimulus=parse_stimulus(SINE_AND_STEP))
    for params, got in zip(sets[:1] + sets[2:], shared):
        _same(run(params, t_end=30.0, stimulus=parse_stimulus(SINE_AND_STEP)), got)


def test_bad_stimulus_is_one_parameter_error():
    params = sr.NetworkParams.preset("reference")
    with pytest.raises(sr.ParameterError, match="stimulus E: the rate must stay >= 0"):
        run(params, t_end=100.0, stimulus=parse_stimulus("E:const(1)+sine(amp=2,hz=10)"))
    with pytest.raises(sr.ParameterError, match="stimulus must be a snnreduce.stimulus"):
        run(params, t_end=10.0, stimulus=7.0)
    with pytest.raises(sr.ParameterError, match="Nyquist"):
        fp.run(params.replace(tau_m=20.0), t_end=10.0, stimulus=parse_stimulus("E:sine(amp=1,hz=6000,mean=7)"))


def test_t_start_shifts_the_stimulus():
    """A step at 500 ms run from t_start = 400 acts after 100 ms of the run."""
    params = sr.NetworkParams.preset("reference")
    stim = parse_stimulus("E:lambda+step(at=500,amp=3)")
    late = run(params, t_end=150.0, stimulus=stim, t_start=400.0)["population_counts"]
    early = run(params, t_end=150.0, stimulus=parse_stimulus("E:lambda+step(at=100,amp=3)"))
    assert np.array_equal(late, early["population_counts"])


# --------------------------------------------------------------------------- NEST (rdm)
def _nest():
    return pytest.importorskip("nest", reason="NEST (pip install snnreduce[nest]) is not installed")


def test_rdm_constant_stimulus_is_identical_and_a_step_raises_the_rate():
    """Through NEST: a constant stimulus equal to λ gives the same counts (same seed); a step
    of λ_E from 5 to 7 moves the E rate after the step to that of a constant run at λ_E = 7.
    The escape noise is fixed (escape_sigma = 4 mV both) so that only the mean current
    differs (the noise fit does not follow λ(t): docs/baselines.md). Tolerance: 4 standard
    errors of the difference of two Poisson-like spike counts over 200 ms, 200 ms after the
    step (the coupled network overshoots for ~100 ms first). (Coupled: NEST
    slices its steps by the shortest connection delay, and an uncoupled model's slicing
    changes when the stimulus's current generators, delay dt, are added.)"""
    _nest()
    from snnreduce.baselines import refractory_density as rd

    params = sr.NetworkParams(n_e=1000, n_i=250, tau_m=20.0, lambda_e=5.0, lambda_i=5.0,
                              p_ee=0.1, p_ie=0.1, p_ei=0.1, p_ii=0.1)
    kw = dict(t_end=600.0, escape_sigma=(4.0, 4.0))
    plain = rd.run(params, rng=np.random.default_rng(1), **kw)
    const = rd.run(params, rng=np.random.default_rng(1), stimulus=parse_stimulus("E:const(5)"),
                   **kw)
    assert np.array_equal(plain["population_counts"], const["population_counts"])
    assert "stimulus_mapping" not in const["options"]
    step = rd.run(params, rng=np.random.default_rng(1),
                  stimulus=parse_stimulus("E:lambda+step(at=200,amp=2)"), **kw)
    assert "approximate in the noise" in step["options"]["stimulus_mapping"]
    high = rd.run(params.replace(lambda_e=7.0), rng=np.random.default_rng(2), **kw)

    def spikes(out, a, b):
        return float(out["population_counts"][int(a / 0.1):int(b / 0.1), 0].sum())

    # before the step: the λ = 5 run's counts exactly (same seed, same current so far)
    assert np.array_equal(step["population_counts"][:2000], plain["population_counts"][:2000])
    got, want = spikes(step, 400.0, 600.0), spikes(high, 400.0, 600.0)
    assert got > 2.0 * spikes(plain, 400.0, 600.0)
    assert abs(got - want) <= 4.0 * math.sqrt(got + want)


def test_rdm_refuses_an_initial_state_and_returns_no_final_state():
    _nest()
    from snnreduce.baselines import refractory_density as rd

    params = sr.NetworkParams(n_e=100, n_i=50, tau_m=20.0)
    with pytest.raises(sr.ParameterError, match="initial_state: the refractory-density model"):
        rd.run(params, t_end=10.0, rng=np.random.default_rng(0), initial_state={"n": 1})
    out = rd.run(params, t_end=10.0, rng=np.random.default_rng(0))
    assert "final_state" not in out


def test_rdm_microscopic_voltage_is_sampled_by_record_every():
    _nest()
    from snnreduce.baselines import refractory_density as rd

    params = sr.NetworkParams(n_e=40, n_i=10, tau_m=20.0)
    kw = dict(t_end=20.0, level="micro", record=("voltage",),
              stimulus=parse_stimulus("E:lambda+sine(amp=2,hz=50)"))
    full = rd.run(params, rng=np.random.default_rng(3), **kw)
    part = rd.run(params, rng=np.random.default_rng(3), record_every=0.5, **kw)
    assert np.array_equal(full["population_counts"], part["population_counts"])
    assert part["records"]["voltage"].shape == (40, 50)
    assert np.array_equal(part["records"]["voltage"], full["records"]["voltage"][4::5])
