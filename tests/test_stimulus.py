"""Stimulus shapes: exact step means and integrals, bounds, validation, grammar round trips."""

import json
import math
import tomllib

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.integrate import quad

from snnreduce import NetworkParams, ParameterError
from snnreduce.stimulus import (Baseline, Const, Ramp, Sampled, Sine, Step, Stimulus, Sum,
                                parse_shape, parse_stimulus)

PARAMS = NetworkParams()          # dt = 0.1 ms, lambda_e = lambda_i = 7


# ---------------------------------------------------------------------------------------------
# independent closed forms of the integral over [a, b] (written out here, not taken from the
# module)
# ---------------------------------------------------------------------------------------------

def sine_integral(s, a, b):
    w = 2 * math.pi * s.hz / 1000
    ph = math.radians(s.phase)
    return s.mean * (b - a) + s.amp * (math.cos(w * a + ph) - math.cos(w * b + ph)) / w


def pulse_integral(s, a, b):
    total, k = 0.0, 0
    while True:
        on = s.at + k * s.period if k else s.at
        if on >= b or (k and math.isinf(s.period)):
            return total
        off = on + s.duration
        total += s.amp * max(0.0, min(b, off) - max(a, on))
        k += 1


def sampled_integral(s, a, b):
    total = 0.0
    for k, v in enumerate(s.values):
        lo, hi = s.start + k * s.width, s.start + (k + 1) * s.width
        total += v * max(0.0, min(b, hi) - max(a, lo))
    return total


def ramp_integral(s, a, b):
    def f(t):
        return s.amp * min(1.0, max(0.0, (t - s.start) / (s.stop - s.start)))
    return quad(f, a, b, points=[x for x in (s.start, s.stop) if a < x < b], epsabs=1e-13,
                epsrel=1e-13)[0]


CASES = [
    (Sine(amp=1.5, hz=40.0, mean=7.0, phase=30.0), sine_integral),
    (Sine(amp=-2.0, hz=3.0), sine_integral),
    (Step(at=1.23, amp=2.0), pulse_integral),
    (Step(at=0.37, amp=-1.0, duration=0.55, period=1.3), pulse_integral),
    (Step(at=0.0, amp=3.0, duration=0.04, period=0.25), pulse_integral),   # pulses < dt
    (Sampled(values=(7.0, 8.5, 6.0, 9.0, 7.25), width=0.73, start=-0.2), sampled_integral),
    (Ramp(start=0.42, stop=2.9, amp=4.0), ramp_integral),
]


@pytest.mark.parametrize("shape, integral", CASES, ids=lambda x: str(x) if not callable(x) else "")
def test_step_mean_is_the_exact_integral_over_the_step(shape, integral):
    dt, n = 0.1, 40
    means = shape.step_means(dt, n)
    assert means.shape == (n,) and means.dtype == np.float64
    expected = np.array([integral(shape, i * dt, (i + 1) * dt) / dt for i in range(n)])
    scale = 1.0 + shape._scale()
    np.testing.assert_allclose(means, expected, rtol=0, atol=1e-9 * scale)
    # integral over an arbitrary interval, and additivity
    a, b, c = 0.013, 1.77, 3.91
    assert shape.integral(a, c) == pytest.approx(integral(shape, a, c), abs=1e-9 * scale)
    assert shape.integral(a, b) + shape.integral(b, c) == pytest.approx(shape.integral(a, c),
                                                                       abs=1e-12 * scale)


def test_constant_and_baseline_give_the_constant_exactly():
    means = Const(rate=7.0).step_means(0.1, 1000)
    assert np.all(means == 7.0)
    rates = Stimulus(E=Baseline()).step_rates(PARAMS, 100.0)
    assert rates.shape == (1000, 2) and np.all(rates == 7.0)
    assert Stimulus(E=Baseline()).is_constant() and Stimulus().constant_rates(PARAMS) == (7.0, 7.0)


def test_steps_inside_a_sample_or_pulse_get_its_value_exactly():
    values = (7.0, 7.3, 9.1, 0.2)
    on_grid = Sampled(values=values, width=0.1).step_means(0.1, 4)
    assert list(on_grid) == list(values)
    coarser = Sampled(values=values, width=0.3).step_means(0.1, 12)
    assert list(coarser) == [v for v in values for _ in range(3)]
    step = Step(at=50.0, amp=2.0).step_means(0.1, 1000)
    assert np.all(step[:500] == 0.0) and np.all(step[500:] == 2.0)


def test_sums_add():
    a = Sine(amp=1.0, hz=10.0, mean=5.0)
    b = Step(at=3.3, amp=0.5, duration=1.0, period=2.5)
    c = Ramp(start=1.0, stop=4.0, amp=-1.0)
    total = a + b + c
    assert isinstance(total, Sum) and total.terms == (a, b, c)
    assert sum([a, b, c]) == total
    expected = a.step_means(0.1, 80) + b.step_means(0.1, 80) + c.step_means(0.1, 80)
    np.testing.assert_allclose(total.step_means(0.1, 80), expected, rtol=1e-15, atol=1e-15)
    t = np.linspace(0, 8, 101)
    np.testing.assert_allclose(total.rate_at(t), a.rate_at(t) + b.rate_at(t) + c.rate_at(t))


# ---------------------------------------------------------------------------------------------
# random shapes (for bounds and round trips)
# ---------------------------------------------------------------------------------------------

finite = st.floats(-50, 50, allow_nan=False, allow_infinity=False)
positive = st.floats(0.01, 50, allow_nan=False, allow_infinity=False)


@st.composite
def steps(draw):
    duration = draw(st.one_of(st.just(math.inf), positive))
    period = math.inf if math.isinf(duration) else draw(
        st.one_of(st.just(math.inf), st.floats(duration, duration + 50)))
    return Step(at=draw(finite), amp=draw(finite), duration=duration, period=period)


@st.composite
def ramps(draw):
    start = draw(finite)
    return Ramp(start=start, stop=start + draw(positive), amp=draw(finite))


terms = st.one_of(
    st.builds(Baseline),
    st.builds(Const, rate=finite),
    steps(),
    st.builds(Sine, amp=finite, hz=st.floats(0.1, 5000), mean=finite,
              phase=st.floats(-720, 720)),
    ramps(),
    st.builds(Sampled, values=st.lists(finite, min_size=1, max_size=20).map(tuple),
              width=positive, start=finite),
)
shapes = st.lists(terms, min_size=1, max_size=4).map(lambda ts: sum(ts[1:], ts[0]))


@settings(max_examples=150, deadline=None)
@given(shape=shapes, t0=st.floats(-60, 60), span=st.floats(0, 30))
def test_bounds_contain_the_rate(shape, t0, span):
    shape = shape.resolved(7.0)
    lo, hi = shape.bounds(t0, t0 + span)        # over [t0, t0 + span)
    t = np.linspace(t0, t0 + span, 257, endpoint=False)
    r = shape.rate_at(t)
    tol = 1e-9 * (1.0 + shape._scale())
    assert lo <= r.min() + tol and r.max() <= hi + tol
    assert lo <= hi


@settings(max_examples=200, deadline=None)
@given(shape=shapes)
def test_shape_text_round_trips(shape):
    assert parse_shape(str(shape)) == shape


@settings(max_examples=100, deadline=None)
@given(e=st.one_of(st.none(), shapes), i=st.one_of(st.none(), shapes))
def test_stimulus_round_trips_through_text_dict_and_json(e, i):
    stim = Stimulus({k: v for k, v in (("E", e), ("I", i)) if v is not None})
    assert parse_stimulus(str(stim)) == stim if stim else str(stim) == ""
    assert Stimulus.from_dict(stim.to_dict()) == stim
    assert Stimulus.from_json(stim.to_json()) == stim
    assert json.loads(json.dumps(stim.to_dict())) == stim.to_dict()   # plain JSON types only


def test_toml_tables_and_strings_are_read():
    text = """
    [stimulus]
    I = "sine(mean=7,amp=2,hz=40)"
    [[stimulus.E]]
    shape = "const"
    rate = 7
    [[stimulus.E]]
    shape = "step"
    at = 500
    amp = 2
    """
    stim = Stimulus.from_dict(tomllib.loads(text)["stimulus"])
    assert stim == parse_stimulus("E:const(7)+step(at=500,amp=2); I:sine(mean=7,amp=2,hz=40)")
    # repeated --stimulus options
    assert parse_stimulus(["E:const(7)+step(at=500,amp=2)", "I:sine(mean=7,amp=2,hz=40)"]) == stim


def test_issue_examples_parse():
    stim = parse_stimulus("E:lambda+step(at=500,amp=2); I:sine(mean=7,amp=2,hz=40)")
    rates = stim.step_rates(PARAMS, 1000.0)
    assert np.all(rates[:5000, 0] == 7.0) and np.all(rates[5000:, 0] == 9.0)
    np.testing.assert_allclose(rates[:, 1].mean(), 7.0, atol=1e-12)   # whole periods of 40 Hz
    assert parse_shape("const(7)+sine(amp=1,hz=10)") == Const(rate=7) + Sine(amp=1, hz=10)


# ---------------------------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, first", [
    ("E:const(1)+sine(amp=2,hz=10)", 700.0 / 12),          # sin = -1/2 first at 7π/6
    ("E:const(1)+step(at=30,amp=-2)", 30.0),
    ("I:const(1)+ramp(start=10,stop=20,amp=-2)", 15.0),
    ("E:sampled(width=0.5,values=[1,2,3,-0.1,4],start=0)", 1.5),
    ("E:lambda+step(at=12,amp=-7.5,duration=1,period=4)", 12.0),
    ("E:const(1)+step(at=5,amp=-0.6,duration=1,period=3)+step(at=11.5,amp=-0.6)", 11.5),
])
def test_negative_rate_is_found_at_the_first_time(text, first):
    stim = parse_stimulus(text)
    t_end = 2.5 if "sampled" in text else 100.0
    with pytest.raises(ParameterError) as info:
        stim.check(PARAMS, t_end)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"stimulus {text[0]}:")
    t = float(message.split("at t = ")[1].split(" ms")[0])
    assert t == pytest.approx(first, abs=1e-6)


def test_rates_that_touch_zero_are_allowed():
    parse_stimulus("E:sine(mean=2,amp=2,hz=10); I:const(0)").check(PARAMS, 1000.0)
    parse_stimulus("E:const(1)+step(at=100,amp=-1)").check(PARAMS, 1000.0)
    # negative only after the run ends: not an error
    parse_stimulus("E:const(1)+step(at=100,amp=-2)").check(PARAMS, 100.0)


def test_nyquist_limit_of_dt():
    parse_stimulus("E:sine(mean=1,amp=1,hz=5000)").check(PARAMS, 10.0)     # 1 / (2 * 0.1 ms)
    with pytest.raises(ParameterError, match=r"stimulus E: sine.hz = 5001 Hz is above the "
                                             r"Nyquist limit 5000 Hz of dt = 0.1 ms"):
        parse_stimulus("E:sine(mean=1,amp=1,hz=5001)").check(PARAMS, 10.0)
    parse_stimulus("E:sine(mean=1,amp=1,hz=5001)").check(PARAMS.replace(dt=0.05), 10.0)


def test_sampled_values_must_cover_the_run():
    stim = Stimulus(I=Sampled(values=(1.0, 2.0), width=10.0))
    stim.check(PARAMS, 20.0)
    with pytest.raises(ParameterError, match=r"stimulus I: sampled values cover \[0, 20\) ms "
                                             r"but the run covers \[0, 30\) ms"):
        stim.check(PARAMS, 30.0)


@pytest.mark.parametrize("make, message", [
    (lambda: Sine(amp=1, hz=math.nan), r"sine.hz must be a finite number > 0 \(Hz\), got nan"),
    (lambda: Sine(amp=1, hz=-3), r"sine.hz must be a finite number > 0"),
    (lambda: Const(rate=math.inf), r"const.rate must be a finite number"),
    (lambda: Const(rate="7"), r"const.rate must be a number"),
    (lambda: Step(at=1, amp=1, duration=5, period=2), r"step.period must be >= step.duration"),
    (lambda: Step(at=1, amp=1, duration=0), r"step.duration must be > 0"),
    (lambda: Ramp(start=5, stop=5, amp=1), r"ramp.stop must be > ramp.start = 5 ms"),
    (lambda: Sampled(values=(1.0, math.nan), width=1), r"sampled.values must be finite .* index 1"),
    (lambda: Sampled(values=(), width=1), r"sampled.values must be a non-empty"),
    (lambda: Stimulus(X=Const(rate=1)), r"stimulus population must be 'E' or 'I', got 'X'"),
    (lambda: Stimulus(E=7.0), r"stimulus of E must be a shape"),
    (lambda: Stimulus.from_dict({"X": "const(1)"}), r"population must be 'E' or 'I', got 'X'"),
    (lambda: Stimulus.from_dict({"E": [{"rate": 1}]}), r"every term needs a 'shape' key"),
    (lambda: Stimulus.from_dict({"E": [{"shape": "cosine"}]}), r"unknown stimulus shape 'cosine'"),
    (lambda: Stimulus.from_json("{"), r"stimulus JSON cannot be read"),
    (lambda: Stimulus.from_dict({"E": [{"shape": "step", "at": 1, "to": "x"}]}),
     r"step takes amp= .* not to='x'"),
    (lambda: Stimulus.from_dict({"E": {"shape": "sampled", "values": ["a"], "width": 1}}),
     r"sampled.values must be numbers"),
    (lambda: Stimulus.from_dict({"E": {"shape": "sine", "amp": "1", "hz": 2}}),
     r"sine.amp must be a number"),
    (lambda: Stimulus.from_dict({"E": []}), r"expected a shape string, a term dict"),
])
def test_bad_values_give_one_clear_line(make, message):
    with pytest.raises(ParameterError, match=message) as info:
        make()
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("text, message", [
    ("E:sin(hz=3)", r"unknown stimulus shape 'sin' .*did you mean 'sine'.*shapes: const, "
                    r"lambda, ramp, sampled, sine, step"),
    ("X:const(1)", r"expected a population E or I, found 'X' at character 1"),
    ("E:step(at=500,to=9)", r"step takes amp= .* not to=9 .*E:lambda\+step\(at=500,amp=2\)"),
    ("E:sine(amp=1)", r"sine needs hz= in 'E:sine\(amp=1\)'"),
    ("E:sine(amp=1,hz=nan)", r"sine.hz must be a finite number > 0 \(Hz\), got nan"),
    ("E:sine(amp=1,hz=inf)", r"sine.hz must be a finite number > 0"),
    ("E:sine(freq=2,amp=1)", r"sine has no parameter 'freq'.*parameters: amp, hz, mean, phase"),
    ("E:sine(amp=1,amp=2,hz=3)", r"amp given twice"),
    ("E:sine(amp=1,,hz=3)", r"a positional value after a keyword"),
    ("E:const(1", r"expected ',' or '\)', found the end at character 10"),
    ("E:const(1)+", r"expected a shape name"),
    ("E:const(1) const(2)", r"unexpected 'c' at character 12"),
    ("E:const(x)", r"expected a number, found 'x\)'"),
    ("E:const(1,2)", r"const takes at most 1 positional value"),
    ("E const(1)", r"expected ':' after the population"),
    ("E:const(1); E:const(2)", r"stimulus for population E given twice"),
    ("", r"expected a population E or I"),
    ("E:__import__('os')", r"unknown stimulus shape '__import__'"),
])
def test_bad_strings_give_one_clear_line(text, message):
    with pytest.raises(ParameterError, match=message) as info:
        parse_stimulus(text)
    assert "\n" not in str(info.value)


def test_lambda_term_needs_resolving():
    with pytest.raises(ParameterError, match="resolve it first"):
        Baseline().step_means(0.1, 10)
    shape = (Baseline() + Sine(amp=1, hz=10)).resolved(6.5)
    assert shape == Const(rate=6.5) + Sine(amp=1, hz=10)


# ---------------------------------------------------------------------------------------------
# sweepable scalars
# ---------------------------------------------------------------------------------------------

def test_values_and_with_value():
    stim = parse_stimulus("E:const(7)+sine(amp=1,hz=10)+sine(amp=0.5,hz=30); I:lambda+step(at=5,amp=2)")
    names = stim.values()
    assert names["stimulus.E.sine.hz"] == 10 and names["stimulus.E.sine2.hz"] == 30
    assert names["stimulus.I.step.at"] == 5 and names["stimulus.E.const.rate"] == 7
    changed = stim.with_value("stimulus.E.sine2.hz", 80)
    assert str(changed) == "E:const(7)+sine(amp=1,hz=10)+sine(amp=0.5,hz=80); I:lambda+step(at=5,amp=2)"
    assert stim.with_value("I.at", 50.0) == stim.with_value("stimulus.I.step.at", 50.0)
    assert stim.with_value("stimulus.I.amp", 3.0)["I"].terms[1].amp == 3.0
    with pytest.raises(ParameterError, match=r"stimulus.E.hz is ambiguous: use one of "
                                             r"stimulus.E.sine.hz, stimulus.E.sine2.hz"):
        stim.with_value("stimulus.E.hz", 5)
    with pytest.raises(ParameterError, match=r"stimulus.E.sine.hz: sine.hz must be a finite "
                                             r"number > 0"):
        stim.with_value("stimulus.E.sine.hz", -5)
    with pytest.raises(ParameterError, match=r"unknown stimulus parameter 'stimulus.E.cosine.hz'"):
        stim.with_value("stimulus.E.cosine.hz", 5)
    with pytest.raises(ParameterError, match=r"stimulus.I.hz: population I has no stimulus"):
        Stimulus(E=Sine(amp=1, hz=2)).with_value("stimulus.I.hz", 5)


# ---------------------------------------------------------------------------------------------
# the numba form for event-driven engines
# ---------------------------------------------------------------------------------------------

def test_kernel_table_evaluates_like_the_shapes():
    from snnreduce._stimulus_kernel import kernel_table, rate_at

    stim = parse_stimulus("E:lambda+sine(amp=2,hz=40,phase=30)+step(at=3,amp=1,duration=0.7,"
                          "period=2)+ramp(start=1,stop=4,amp=-0.5); "
                          "I:sampled(width=0.3,values=[1,2,3,4,5,6,7,8,9,10,11,12,13,14])")
    table, samples = kernel_table(stim, PARAMS)
    shapes = stim.resolved(PARAMS)
    t = np.linspace(0, 4.19, 997)
    for q, pop in enumerate("EI"):
        got = np.array([rate_at(table, samples, q, x) for x in t])
        np.testing.assert_allclose(got, shapes[pop].rate_at(t), rtol=0, atol=1e-12)
    # an unset population is its constant
    table, samples = kernel_table(Stimulus(E=Sine(amp=1, hz=5, mean=3)), PARAMS)
    assert rate_at(table, samples, 1, 12.3) == 7.0


def test_step_bounds_dominate_the_rate():
    stim = parse_stimulus("E:const(3)+sine(amp=2,hz=40); I:lambda+step(at=0.55,amp=1)")
    bounds = stim.step_bounds(PARAMS, 50.0)
    rates = stim.step_rates(PARAMS, 50.0)
    assert bounds.shape == rates.shape == (500, 2)
    assert np.all(bounds >= rates)
    t = np.arange(0, 50, 0.001)
    for q, pop in enumerate("EI"):
        lam = stim.resolved(PARAMS)[pop].rate_at(t)
        assert np.all(lam <= bounds[np.minimum((t / 0.1).astype(int), 499), q] + 1e-12)
    assert bounds[5, 1] == 8.0 and bounds[4, 1] == 7.0   # the step at 0.55 ms lies in step 5


def test_thinned_kicks_follow_the_rate():
    """Counts per phase bin of a sinusoidal drive match ∫λ dt within Poisson errors."""
    from snnreduce._stimulus_kernel import kernel_table, thinned_kicks

    hz, t_end = 25.0, 20000.0
    stim = Stimulus(E=Sine(mean=3.0, amp=2.5, hz=hz, phase=40.0))
    table, samples = kernel_table(stim, PARAMS)
    bounds = stim.step_bounds(PARAMS, t_end)[:, 0].copy()
    out = np.empty(200_000)
    n = thinned_kicks(table, samples, 0, bounds, PARAMS.dt, t_end, np.random.default_rng(2), out)
    assert n < out.size
    times = out[:n]
    assert np.all(np.diff(times) > 0) and times[0] >= 0 and times[-1] < t_end
    # 8 bins of phase over the 500 whole periods
    period = 1000.0 / hz
    edges = np.linspace(0, period, 9)
    counts = np.histogram(times % period, edges)[0]
    shape = stim["E"]
    expected = np.array([shape.integral(a, b) for a, b in zip(edges[:-1], edges[1:])]) \
        * (t_end / period)
    z = (counts - expected) / np.sqrt(expected)
    assert np.all(np.abs(z) < 4.5), z
    # and the total over the run
    assert abs(n - shape.integral(0.0, t_end)) < 4.5 * math.sqrt(shape.integral(0.0, t_end))


@settings(max_examples=150, deadline=None)
@given(shape=shapes)
def test_first_negative_time_agrees_with_a_dense_scan(shape):
    """The exact check against an oracle: the rate on a 0.001 ms grid."""
    from snnreduce.stimulus import _first_negative

    shape = shape.resolved(2.0)
    t_end = 20.0
    grid = np.arange(0.0, t_end, 1e-3)
    dense = shape.rate_at(grid)
    tol = 1e-9 * (1.0 + shape._scale())
    found = _first_negative(shape, 0.0, t_end, 0.1)
    if found is None:
        assert dense.min() >= -tol
        return
    t, lowest = found
    assert 0.0 <= t < t_end and shape.rate_at(t) < 0 and lowest <= shape.rate_at(t)
    assert np.all(dense[grid < t - 1e-6] >= -tol)      # nothing negative before it


def test_the_checked_run_is_whole_steps():
    # t_end = 10.05 ms runs 101 steps of 0.1 ms, up to 10.1 ms
    stim = Stimulus(E=Sampled(values=(7.0,) * 101, width=0.1))
    assert stim.step_rates(PARAMS, 10.05).shape == (101, 2)
    with pytest.raises(ParameterError, match=r"cover \[0, 10\) ms but the run covers \[0, 10.1\)"):
        Stimulus(E=Sampled(values=(7.0,) * 100, width=0.1)).check(PARAMS, 10.05)
    with pytest.raises(ParameterError, match=r"falls below 0 at t = 10.06 ms"):
        parse_stimulus("E:const(1)+step(at=10.06,amp=-2)").check(PARAMS, 10.05)


def test_step_rates_of_a_continued_run_are_one_long_runs_rows():
    # a run continued from step 3337 of a chain that began at t = 12.3 ms lies on the grid
    # 12.3 + k dt: its rates are exactly the rows of one run over the whole span (computing
    # the edges as t_start + i dt would differ in the last bits)
    stim = parse_stimulus("E:lambda+sine(amp=1,hz=37);I:lambda+ramp(start=20,stop=300,amp=2)")
    dt = PARAMS.dt
    whole = stim.step_rates(PARAMS, 500.0, t_start=12.3)
    first = 3337
    t_start = 12.3 + first * dt
    part = stim.step_rates(PARAMS, 500.0 - first * dt, t_start=t_start, t_origin=12.3)
    assert np.array_equal(part, whole[first:first + len(part)])
    bounds = stim.step_bounds(PARAMS, 500.0, t_start=12.3, lower=True)
    part_b = stim.step_bounds(PARAMS, 500.0 - first * dt, t_start=t_start, t_origin=12.3,
                              lower=True)
    assert bounds.shape[1] == 4 and np.array_equal(part_b, bounds[first:first + len(part_b)])
    assert np.all(bounds[:, :2] <= whole + 1e-12) and np.all(whole <= bounds[:, 2:] + 1e-12)
    with pytest.raises(ParameterError, match="not on the step grid"):
        stim.step_rates(PARAMS, 10.0, t_start=t_start + 0.3 * dt, t_origin=12.3)
