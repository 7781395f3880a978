"""The comparison report: numbers equal `snnreduce stats` on the saved runs."""

import json
import subprocess
import sys

import numpy as np
import pytest

import snnreduce
from snnreduce.analysis import summarize
from snnreduce.analysis.statistics import STATISTICS
from snnreduce.compare import (FLAG, TOLERANCE_FLOOR, TOLERANCE_SDS, Comparison, compare,
                               flatten_summary, unflatten, write_report)

SMALL = snnreduce.NetworkParams(n_e=60, n_i=20)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    comparison = compare(SMALL, seeds=[4, 9], t_end=400.0, n_jobs=1, progress=False)
    payload = write_report(comparison, out)
    return out, comparison, payload


def test_report_files_exist(report):
    out, _, _ = report
    for name in ("report.md", "report.json", "compare.png", "dsode.nc", "snn_seed4.nc",
                 "snn_seed9.nc", "surrogate_seed4.nc"):
        assert (out / name).is_file(), name
    assert (out / "compare.png").read_bytes()[:4] == b"\x89PNG"
    assert "| rate (Hz/neuron) | Hz | E |" in (out / "report.md").read_text()


def test_report_numbers_equal_stats_of_saved_runs(report):
    out, _, _ = report
    data = json.loads((out / "report.json").read_text())
    assert set(data["models"]) == {"snn", "surrogate", "dsode"}
    for model, files in data["files"].items():
        runs = [flatten_summary(summarize(snnreduce.load(out / f))) for f in files]
        stats = [json.loads(subprocess.run([sys.executable, "-m", "snnreduce.cli", "stats",
                                            str(out / f), "--json"], capture_output=True,
                                           text=True, check=True).stdout) for f in files]
        assert [flatten_summary(s) for s in stats] == runs
        mean = flatten_summary(data["models"][model]["mean"])
        for key in ("rate_hz.E", "rate_hz.I", "ssi.E", "gamma_peak_hz.E"):
            values = [r[key] for r in runs if r[key] is not None]
            assert mean[key] == pytest.approx(np.mean(values), rel=1e-12)
    assert data["models"]["dsode"]["sd"] is None and data["models"]["dsode"]["n_runs"] == 1


def test_relative_errors_are_against_the_network_mean(report):
    _, comparison, payload = report
    snn = payload["models"]["snn"]["mean"]["rate_hz"]["E"]
    dsode = payload["models"]["dsode"]["mean"]["rate_hz"]["E"]
    assert payload["errors"]["dsode"]["rate_hz"]["E"] == pytest.approx((dsode - snn) / snn)
    assert "snn" not in payload["errors"]


def test_flatten_round_trip():
    summary = {"rate_hz": {"E": 1.0, "I": 2.0}, "mfe": {"E": {"count": 3, "mean_size": 0.5},
                                                          "I": {"count": 1, "mean_size": None}}}
    assert unflatten(flatten_summary(summary)) == summary


@pytest.mark.parametrize("kwargs, message", [
    ({"seeds": 0}, "seeds must be >= 1"),
    ({"seeds": ["a"]}, "seeds must be a count or a list"),
    # one rule with sweep (validation.seed_labels): a repeated seed would count one run twice
    ({"seeds": [4, 9, 4]}, r"seeds repeat a value: \[4, 9, 4\]"),
    ({"seeds": [1, -2]}, "seeds must be non-negative integers"),
    ({"models": ("snn", "rate-model")}, "models must be among"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(snnreduce.ParameterError, match=message):
        compare(SMALL, t_end=100.0, progress=False, **kwargs)


# ----------------------------------------------------------------------------- report.md
def _summary(**values):
    """A summarize()-shaped dict: every statistic 1.0 for E and I unless given as key.pop=value."""
    flat = {f"{key}.{pop}": 1.0 for key in STATISTICS for pop in ("E", "I")}
    flat.update({k.replace("__", "."): v for k, v in values.items()})
    return unflatten(flat)


def _constructed(tmp_path, snn, dsode):
    """A Comparison with the given summaries (no runs: tiny placeholder Results)."""
    def result(engine, seed):
        return snnreduce.Result(params=SMALL, engine=engine, seed=seed, t_end=1.0, dt=0.1,
                                population_counts=np.zeros((10, 2)))
    comparison = Comparison(params=SMALL, seeds=list(range(len(snn))),
                            summaries={"snn": snn, "dsode": [dsode]},
                            results={"snn": [result("stepped", s) for s in range(len(snn))],
                                     "dsode": [result("dsode", None)]})
    payload = write_report(comparison, tmp_path, figure=False)
    return payload, (tmp_path / "report.md").read_text()


def _row(text, label, pop):
    return next(line for line in text.splitlines() if line.startswith(f"| {label} |")
                and f"| {pop} |" in line)


def test_report_flags_errors_beyond_the_network_spread(tmp_path):
    # network E rate 10 and 12 Hz over two seeds: mean 11, sd sqrt(2), tolerance 2 sd/mean
    snn = [_summary(rate_hz__E=10.0, ssi__E=0.30), _summary(rate_hz__E=12.0, ssi__E=0.30)]
    dsode = _summary(rate_hz__E=20.0, rate_hz__I=1.04, ssi__E=0.40)
    payload, text = _constructed(tmp_path, snn, dsode)
    tol = TOLERANCE_SDS * np.sqrt(2.0) / 11.0
    assert payload["tolerance"]["rate_hz"]["E"] == pytest.approx(tol)
    # sd 0 (identical seeds): the floor
    assert payload["tolerance"]["ssi"]["E"] == TOLERANCE_FLOOR
    assert payload["beyond"]["dsode"]["rate_hz"] == {"E": True, "I": False}
    # +81.8 % > 25.7 %: flagged; +4 % < 5 % floor: not; +33 % SSI > 5 %: flagged
    assert f"+81.8 % {FLAG}" in _row(text, "rate (Hz/neuron)", "E")
    assert f"| {100 * tol:.1f} % |" in _row(text, "rate (Hz/neuron)", "E")
    row_i = _row(text, "rate (Hz/neuron)", "I")
    assert "+4.0 %" in row_i and FLAG not in row_i
    assert f"+33.3 % {FLAG}" in _row(text, "SSI (1 ms window)", "E")
    # the header states the rule it applied
    assert f"the larger of {100 * TOLERANCE_FLOOR:g} % and {TOLERANCE_SDS:g} sd / |mean| " \
           "of the network over its 2 seeds" in text


def test_report_gives_units_for_every_statistic(tmp_path):
    _, text = _constructed(tmp_path, [_summary(), _summary()], _summary())
    for stat in STATISTICS.values():
        units = stat.units.replace("^2", "²")
        for pop in ("E", "I"):
            cells = [c.strip() for c in _row(text, stat.label, pop).split("|")]
            assert cells[2] == units, (stat.key, cells)
        # and the legend below the table spells out what the number is
        assert f"- {stat.label}: {stat.description} [{units}]" in text
    assert "| gamma power | Hz² |" in text and "| MFE mean size | 1 |" in text
    assert "fraction of the population" in text


def test_report_with_one_network_seed_uses_the_floor(tmp_path):
    payload, text = _constructed(tmp_path, [_summary(rate_hz__E=10.0)], _summary(rate_hz__E=10.6))
    assert payload["tolerance"]["rate_hz"]["E"] == TOLERANCE_FLOOR
    assert f"+6.0 % {FLAG}" in _row(text, "rate (Hz/neuron)", "E")
    assert "one network seed" in text


def test_report_without_the_network_has_no_tolerance(tmp_path):
    def result(seed):
        return snnreduce.Result(params=SMALL, engine="dsode", seed=seed, t_end=1.0, dt=0.1,
                                population_counts=np.zeros((10, 2)))
    comparison = Comparison(params=SMALL, seeds=[0], summaries={"dsode": [_summary()]},
                            results={"dsode": [result(None)]})
    payload = write_report(comparison, tmp_path, figure=False)
    text = (tmp_path / "report.md").read_text()
    assert payload["tolerance"] == {} and payload["beyond"] == {}
    assert "tolerance" not in text.split("| statistic |")[1].splitlines()[0]
