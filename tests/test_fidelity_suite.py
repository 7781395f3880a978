"""The regime-suite runner (benchmarks/fidelity.py) on one point with a short T."""

import importlib.util
import json
from pathlib import Path

import pytest

from snnreduce.params import ParameterError

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "fidelity.py"
_spec = importlib.util.spec_from_file_location("fidelity_bench", _PATH)
fidelity = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fidelity)


def test_suite_has_the_issue_points():
    points = fidelity.suite_points()
    assert len(points) == 21
    assert points["k=0.25"].n_e == 1200 and points["leaky"].tau_m == 20.0
    assert points["tau_ee=4"].tau_ie == 1.2 and points["lambda=6"].lambda_i == 6.0
    # the P^EI scan is complete, 0.8 being the reference point
    assert [points[fidelity.p_ei_point(x)].p_ei for x in fidelity.P_EI_GRID] == \
        pytest.approx(list(fidelity.P_EI_GRID))


def test_runner_on_one_point(tmp_path):
    points = {"reference": fidelity.suite_points()["reference"]}
    variants = fidelity.parse_variants("surrogate:paper,dsode:ou")
    assert fidelity.parse_variants("dsode-fs:ou:dv=2") == [("dsode-fs", "ou", {"dv": 2.0})]
    report = fidelity.run_suite(points, variants, [1], t_end=300.0, jobs=1,
                                cache_path=tmp_path / "cache.json", log=lambda *_: None)
    json.dumps(report)  # JSON-able
    net = report["network"]["reference"]
    assert net["runs"] == 1 and net["rate_e"] > 0
    for label in ("surrogate:paper", "dsode:ou"):
        check = report["variants"][label]["points"]["reference"]
        agg = check["aggregate"]
        assert check["err_e"] == pytest.approx(100 * (agg["rate_e"] / net["rate_e"] - 1))
        summary = report["variants"][label]["summary"]
        assert summary["points"] == 1 and summary["window_ok"] is None  # no P^EI scan here
        assert summary["rate_max_ok"] == check["rate_ok"]
    assert report["provenance"]["version"] and report["provenance"]["wall_s"] > 0
    # the cached network run is reused, not recomputed
    again = fidelity.run_suite(points, variants[:1], [1], t_end=300.0, jobs=1,
                               cache_path=tmp_path / "cache.json", log=lambda *_: None)
    assert again["network"] == report["network"]
    # the markdown replaces the marked block of a page, once
    page = tmp_path / "page.md"
    page.write_text("# title\n\ntext before\n")
    for _ in range(2):
        fidelity.write_markdown(page, fidelity.markdown(report))
    text = page.read_text()
    assert text.count(fidelity.MARK_BEGIN) == 1 and text.count(fidelity.MARK_END) == 1
    assert text.startswith("# title\n\ntext before\n") and "dsode:ou" in text


@pytest.mark.parametrize("text, message", [
    ("network:paper", "model must be one of"),
    ("dsode:white", "closure of dsode must be one of"),
    ("dsode:ou:dv", "options after the closure are key=value"),
])
def test_bad_variants(text, message):
    with pytest.raises(ParameterError, match=message):
        fidelity.parse_variants(text)


def test_cli_rejects_unknown_points(capsys):
    assert fidelity.main(["--points", "nowhere", "--no-write"]) == 2
    assert "unknown point 'nowhere'" in capsys.readouterr().err
