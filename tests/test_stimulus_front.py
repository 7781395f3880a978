"""The stimulus from the user's side: api, Result provenance, NetCDF, parameter files, sweeps and
compare's step-response rows, checked on a first-order test model with closed forms
(tests/stim_fake_engine.py) so that they do not depend on any engine's numbers."""

import json
import math

import numpy as np
import pytest

import snnreduce
from snnreduce import NetworkParams
from snnreduce.api import run_model
from snnreduce.cli import build_stimulus
from snnreduce.params import ParameterError, read_parameter_file, read_stimulus_table
from snnreduce.stimulus import Baseline, Const, Sine, Step, Stimulus, parse_stimulus, stimulus_of

import stim_fake_engine as fake

P = NetworkParams.preset("reference")
STEP = "E:lambda+step(at=300,amp=2)"


@pytest.fixture(autouse=True)
def lowpass():
    fake.register()
    fake.CALLS.clear()
    yield
    snnreduce.models.unregister(fake.NAME)


def _rate(result, q=0):
    return 1000.0 * result.population_counts[:, q] / (result.params.n[q] * result.dt)


# ---------------------------------------------------------------------------------- api
@pytest.mark.parametrize("form", [
    STEP, [STEP], parse_stimulus(STEP),
    {"E": "lambda+step(at=300,amp=2)"},
    {"E": [{"shape": "lambda"}, {"shape": "step", "at": 300, "amp": 2}]},
])
def test_every_form_of_stimulus_reaches_the_engine_and_the_provenance(form):
    result = run_model(P, fake.NAME, seed=None, t_end=600, options={"stimulus": form})
    want = Stimulus(E=Baseline() + Step(at=300, amp=2))
    assert fake.CALLS[-1]["stimulus"] == want
    assert result.options["stimulus"] == want.to_dict()
    assert stimulus_of(result) == want
    # the closed form: the E rate rises by GAIN * 2 Hz with time constant TAU after 300 ms
    rate = _rate(result)
    t = result.time + 0.5 * result.dt
    after = t > 300
    expect = fake.GAIN * (P.lambda_e + 2 * (1 - np.exp(-(t[after] - 300) / fake.TAU)))
    np.testing.assert_allclose(rate[after], expect, rtol=2e-3)
    np.testing.assert_allclose(_rate(result, 1), fake.GAIN * P.lambda_i)


def test_no_stimulus_passes_nothing_and_records_nothing():
    result = run_model(P, fake.NAME, seed=None, t_end=50)
    assert "stimulus" not in fake.CALLS[-1] and "stimulus" not in result.options
    empty = run_model(P, fake.NAME, seed=None, t_end=50, options={"stimulus": Stimulus()})
    assert "stimulus" not in fake.CALLS[-1] and "stimulus" not in empty.options
    assert stimulus_of(result) is None


@pytest.mark.parametrize("bad, message", [
    ("E:const(1)+sine(amp=2,hz=10)", "must stay >= 0"),
    ("E:lambda+sine(amp=1,hz=6000)", "above the Nyquist limit 5000 Hz"),
    ("E:sampled(width=10,values=[1,2])", "sampled values cover"),
    ("X:const(7)", "population"),
    (42, "stimulus must be a Stimulus"),
])
def test_a_bad_stimulus_is_refused_before_the_engine_runs(bad, message):
    with pytest.raises(ParameterError, match=message):
        run_model(P, fake.NAME, seed=None, t_end=100, options={"stimulus": bad})
    assert fake.CALLS == []


def test_the_real_entry_points_check_the_stimulus_before_running():
    # api.simulate / reduce refuse a bad stimulus whatever the engine supports
    with pytest.raises(ParameterError, match="must stay >= 0"):
        snnreduce.reduce(P, t_end=100, stimulus="E:const(-1)+const(0.5)")
    with pytest.raises(ParameterError, match="Nyquist"):
        snnreduce.simulate(P, t_end=100, stimulus="I:lambda+sine(amp=1,hz=9000)")


# ----------------------------------------------------------------------------------- io
def test_the_stimulus_round_trips_through_netcdf(tmp_path):
    stim = parse_stimulus("E:lambda+sine(amp=0.5,hz=40,phase=30); I:const(6)+step(at=100,amp=1,"
                          "duration=50,period=200)")
    result = run_model(P, fake.NAME, seed=None, t_end=300, options={"stimulus": stim})
    path = tmp_path / "r.nc"
    result.save(path)
    back = snnreduce.load(path)
    assert stimulus_of(back) == stim
    assert back.options == result.options
    np.testing.assert_array_equal(back.population_counts, result.population_counts)
    import xarray as xr

    with xr.open_dataset(path, engine="h5netcdf") as ds:
        assert parse_stimulus(ds.attrs["stimulus"]) == stim       # readable and exact
        assert json.loads(ds.attrs["options"])["stimulus"] == stim.to_dict()


# ----------------------------------------------------------------------- parameter files
def test_a_parameter_file_holds_a_stimulus_table(tmp_path):
    toml = tmp_path / "p.toml"
    toml.write_text('[network]\nlambda_e = 6\n\n[stimulus]\nE = "lambda+step(at=500,amp=2)"\n'
                    'I = "lambda+sine(amp=1,hz=20)"\n')
    assert read_parameter_file(toml) == {"lambda_e": 6}
    assert Stimulus.from_dict(read_stimulus_table(toml)) == parse_stimulus(
        "E:lambda+step(at=500,amp=2); I:lambda+sine(amp=1,hz=20)")
    flat = tmp_path / "p.json"
    flat.write_text(json.dumps({"lambda_i": 5, "stimulus": Stimulus(E=Const(rate=7) + Sine(
        amp=1, hz=10)).to_dict()}))
    assert read_parameter_file(flat) == {"lambda_i": 5}
    assert Stimulus.from_dict(read_stimulus_table(flat)) == Stimulus(E=Const(rate=7) + Sine(amp=1,
                                                                                      hz=10))
    plain = tmp_path / "q.toml"
    plain.write_text("lambda_e = 6\n")
    assert read_stimulus_table(plain) is None
    bad = tmp_path / "b.toml"
    bad.write_text('stimulus = "E:const(7)"\n')
    with pytest.raises(ParameterError, match="'stimulus' must be a table"):
        read_stimulus_table(bad)


def test_the_command_line_stimulus_wins_per_population(tmp_path):
    toml = tmp_path / "p.toml"
    toml.write_text('[stimulus]\nE = "lambda+step(at=500,amp=2)"\nI = "const(6)"\n')
    got = build_stimulus(["E:lambda+sine(amp=1,hz=20)"], toml)
    assert got == parse_stimulus("E:lambda+sine(amp=1,hz=20); I:const(6)")
    assert build_stimulus([], toml) == parse_stimulus("E:lambda+step(at=500,amp=2); I:const(6)")
    assert build_stimulus([], None) is None
    assert build_stimulus(["E:lambda+sine(amp=1,hz=20)"], None,
                          ["stimulus.E.sine.hz=40"]) == parse_stimulus(
        "E:lambda+sine(amp=1,hz=40)")


# -------------------------------------------------------------------------------- sweep
def test_a_sweep_over_a_step_amplitude(tmp_path):
    from snnreduce.sweep import sweep

    out = tmp_path / "s.nc"
    ds = sweep(P, {"stimulus.E.step.amp": [1, 3]}, models=[fake.NAME], t_end=600,
               backend="serial", out=out, progress=False, stimulus=STEP)
    coord = ds["stimulus.E.step.amp"]
    assert coord.values.tolist() == [1.0, 3.0]
    assert coord.attrs["units"] == "ms-1" and "step" in coord.attrs["long_name"]
    assert ds.attrs["stimulus"] == STEP.split(":", 1)[0] + ":" + STEP.split(":", 1)[1]
    assert (ds["status"] == "ok").all()
    # the rate over the run rises with the step: mean over [100, 600) ms of the closed form
    rate = ds["rate_hz"].sel(population="E", model=fake.NAME).isel(seed=0).values
    base = fake.GAIN * P.lambda_e
    tail = lambda amp: amp * fake.GAIN * (300 - fake.TAU * (1 - math.exp(-300 / fake.TAU)))
    expect = [base + tail(a) / 500 for a in (1, 3)]
    np.testing.assert_allclose(rate, expect, rtol=2e-3)
    # each point's stimulus reached the engine
    assert sorted(c["stimulus"]["E"].terms[1].amp for c in fake.CALLS) == [1, 3]
    again = snnreduce.sweep.load_sweep(out)
    assert again["stimulus.E.step.amp"].attrs["units"] == "ms-1"
    assert json.loads(again.attrs["spec"])["stimulus"] == parse_stimulus(STEP).to_dict()


def test_sweep_refuses_bad_stimulus_values_before_running():
    from snnreduce.sweep import sweep

    with pytest.raises(ParameterError, match="must stay >= 0"):
        sweep(P, {"stimulus.E.step.amp": [1, -8]}, models=[fake.NAME], t_end=600,
              backend="serial", progress=False, stimulus=STEP)
    with pytest.raises(ParameterError, match="no stimulus"):
        sweep(P, {"stimulus.E.step.amp": [1, 2]}, models=[fake.NAME], t_end=600,
              backend="serial", progress=False)
    with pytest.raises(ParameterError, match="unknown stimulus parameter"):
        sweep(P, {"stimulus.E.sine.hz": [1, 2]}, models=[fake.NAME], t_end=600,
              backend="serial", progress=False, stimulus=STEP)
    assert fake.CALLS == []


# ------------------------------------------------------------------------------ compare
def test_compare_reports_the_step_response(tmp_path):
    from snnreduce.compare import compare, write_report

    comparison = compare(P, seeds=1, t_end=700, models=[fake.NAME], n_jobs=1, progress=False,
                         stimulus=STEP, step_smooth=0)
    payload = write_report(comparison, tmp_path)
    sr = payload["step_response"]
    assert sr["t_step"] == 300 and sr["population"] == "E" and sr["smooth_ms"] == 0
    assert sr["before_ms"] == 200 and sr["window_ms"] == 300
    e = sr["models"][fake.NAME]["E"]
    # first-order closed forms on the raw per-step rates (step means, interpolated at 0.1 ms):
    # change GAIN * amp, latency TAU ln 2, no overshoot, settling TAU ln 10
    assert e["change"]["mean"] == pytest.approx(2 * fake.GAIN, rel=1e-3)
    assert e["latency"]["mean"] == pytest.approx(fake.TAU * math.log(2), abs=0.1)
    assert e["overshoot"]["mean"] == pytest.approx(0, abs=1e-9)
    assert e["settling_time"]["mean"] == pytest.approx(fake.TAU * math.log(10), abs=0.3)
    assert sr["models"][fake.NAME]["I"]["change"]["mean"] == pytest.approx(0, abs=1e-6)
    assert payload["stimulus"] == parse_stimulus(STEP).to_dict()
    text = (tmp_path / "report.md").read_text()
    assert "## Step response" in text and "latency to half-change (ms)" in text
    assert "step_response.png" in text
    assert (tmp_path / "step_response.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((tmp_path / "report.json").read_text())["step_response"] == json.loads(
        json.dumps(sr))


def test_the_default_smoothing_keeps_the_change_and_centres_the_latency(tmp_path):
    from snnreduce.compare import compare, write_report
    from snnreduce.step_report import SMOOTH_MS

    comparison = compare(P, seeds=1, t_end=700, models=[fake.NAME], n_jobs=1, progress=False,
                         stimulus=STEP)
    e = write_report(comparison, tmp_path, figure=False)["step_response"]["models"][fake.NAME]["E"]
    # the box leaks at most w/2 of the response into the 200 ms baseline: a bias below
    # change * (w/2) / 200
    assert e["change"]["mean"] == pytest.approx(2 * fake.GAIN,
                                                abs=2 * fake.GAIN * SMOOTH_MS / 2 / 200)
    # a centred box of width w on 1 - exp(-t/τ) crosses 1/2 where
    # (w/2 + t - τ (1 - exp(-(t + w/2)/τ))) / w = 1/2 (for t < w/2): solve by bisection
    w, tau = SMOOTH_MS, fake.TAU
    f = lambda t: (w / 2 + t - tau * (1 - math.exp(-(t + w / 2) / tau))) / w - 0.5
    lo, hi = -w / 2, w / 2
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if f(mid) < 0 else (lo, mid)
    assert e["latency"]["mean"] == pytest.approx(lo, abs=0.05)
    with pytest.raises(ParameterError, match="step_smooth"):
        compare(P, seeds=1, t_end=700, models=[fake.NAME], n_jobs=1, progress=False,
                stimulus=STEP, step_smooth=-1)


def test_compare_without_a_step_has_no_step_rows(tmp_path):
    from snnreduce.compare import compare, write_report

    comparison = compare(P, seeds=1, t_end=300, models=[fake.NAME], n_jobs=1, progress=False,
                         stimulus="E:lambda+sine(amp=1,hz=20)")
    payload = write_report(comparison, tmp_path, figure=False)
    assert "step_response" not in payload and "stimulus" in payload


# ------------------------------------------------------------------------- the real engines
SMALL = NetworkParams.preset("reference").replace(n_e=60, n_i=20)


@pytest.mark.parametrize("model", ["snn", "markov", "surrogate", "dsode", "dsode-fs", "fp"])
def test_a_constant_stimulus_equal_to_lambda_changes_nothing(model):
    plain = run_model(SMALL, model, seed=5, t_end=200)
    same = run_model(SMALL, model, seed=5, t_end=200,
                     options={"stimulus": f"E:const({SMALL.lambda_e}); I:lambda"})
    np.testing.assert_array_equal(same.population_counts, plain.population_counts)
    if plain.spike_times is not None:
        np.testing.assert_array_equal(same.spike_times, plain.spike_times)


def test_a_dsode_sweep_over_a_step_amplitude(tmp_path):
    from snnreduce.sweep import sweep

    ds = sweep(P, {"stimulus.E.step.amp": [0.5, 2.0]}, models=["dsode"], t_end=600,
               backend="serial", out=tmp_path / "s.nc", progress=False, store_raster=True,
               stimulus="E:lambda+step(at=300,amp=1)")
    assert (ds["status"] == "ok").all() and ds.attrs["fallbacks"] == "[]"   # one run_batch
    # each point's run carries its own stimulus, as api runs do
    for i, amp in enumerate((0.5, 2.0)):
        run = snnreduce.load(tmp_path / str(ds["result_file"].isel(seed=0, model=0).values[i]))
        assert stimulus_of(run) == parse_stimulus(f"E:lambda+step(at=300,amp={amp})")
    rate = ds["rate_hz"].sel(population="E", model="dsode").isel(seed=0).values
    # the mean rate over [100, 600) ms holds 300 ms after the step: a larger step, more spikes
    assert rate[1] > rate[0] * 1.02


def test_compare_with_a_step_on_a_small_network(tmp_path):
    from snnreduce.compare import compare, write_report

    comparison = compare(SMALL, seeds=2, t_end=700, models=["snn", "dsode"], n_jobs=1,
                         progress=False, stimulus="E:lambda+step(at=300,amp=3)")
    payload = write_report(comparison, tmp_path)
    for model in ("snn", "dsode"):
        e = payload["step_response"]["models"][model]["E"]
        assert e["change"]["mean"] > 0 and e["rate_after"]["mean"] > e["rate_before"]["mean"]
        assert e["rate_before"]["n"] == (2 if model == "snn" else 1)
    assert (tmp_path / "step_response.png").exists()
    assert "## Step response" in (tmp_path / "report.md").read_text()
