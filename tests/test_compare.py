"""The comparison report: numbers equal `snnreduce stats` on the saved runs."""

import json
import subprocess
import sys

import numpy as np
import pytest

import snnreduce
from snnreduce.analysis import summarize
from snnreduce.compare import compare, flatten_summary, unflatten, write_report

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
    assert "| rate (Hz/neuron) | E |" in (out / "report.md").read_text()


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
