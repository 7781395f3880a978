"""benchmarks/check_readme.py: README figures parsed from README.md and checked with seed-spread tolerances."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("check_readme", ROOT / "benchmarks" / "check_readme.py")
check_readme = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("check_readme", check_readme)  # dataclasses look their module up
_spec.loader.exec_module(check_readme)


def claim():
    return check_readme.parse_readme((ROOT / "README.md").read_text())


def stats_matching(c, gamma_sd=1.1, rate_sd=0.3, n=5, shift_gamma=0.0):
    """Comparison statistics whose means reproduce the README's figures exactly."""
    net_rate = {"E": 47.0, "I": 65.7}
    red_rate = {"E": net_rate["E"] * (1 + c.err_e / 100), "I": net_rate["I"] * (1 + c.err_i / 100)}
    return {"models": {
        "snn": {"n_runs": n,
                "mean": {"rate_hz": net_rate, "gamma_peak_hz": {"E": c.net_gamma + shift_gamma}},
                "sd": {"rate_hz": {"E": rate_sd, "I": rate_sd}, "gamma_peak_hz": {"E": gamma_sd}}},
        "dsode": {"n_runs": 1, "sd": None,
                  "mean": {"rate_hz": red_rate, "gamma_peak_hz": {"E": c.dsode_gamma}}}}}


def test_the_readme_states_the_figures_the_script_checks():
    c = claim()
    assert c.bound >= max(abs(c.err_e), abs(c.err_i))
    assert c.gap == pytest.approx(abs(c.net_gamma - c.dsode_gamma), abs=0.051)


def test_matching_statistics_pass_and_a_shifted_gamma_fails():
    c = claim()
    rows = check_readme.check(c, stats_matching(c), {"dsode": (1.0, 0.87)})
    assert all(ok for *_, ok in rows), rows
    # A network gamma mean 5 standard errors (of the difference of two 5-seed means) away,
    # on the side away from the dsODE's peak so that the gap grows too.
    away = 1.0 if c.net_gamma >= c.dsode_gamma else -1.0
    shift = away * 5 * np.sqrt(2) * 1.1 / np.sqrt(5)
    rows = {r[0]: r[-1] for r in check_readme.check(c, stats_matching(c, shift_gamma=shift), {})}
    assert not rows["network gamma peak E (Hz)"] and not rows["gamma gap (Hz)"]
    assert rows["dsODE rate error E (%)"]  # the other figures are unaffected


def test_quantised_gamma_peaks_get_at_least_the_rounding_spread():
    c = claim()
    # All seeds on the same 2 Hz bin (sd 0) still allow ~ 3 sqrt(2) (2/sqrt(12)) / sqrt(5) Hz.
    rows = {r[0]: r for r in check_readme.check(c, stats_matching(c, gamma_sd=0.0, shift_gamma=1.0), {})}
    assert rows["network gamma peak E (Hz)"][-1]
    assert rows["network gamma peak E (Hz)"][3] == pytest.approx(
        3 * np.sqrt(2) * (2 / np.sqrt(12)) / np.sqrt(5) + 0.05)


def test_alternation_separates_period_2_from_unordered_sizes():
    period_2 = np.tile([1.08, 0.33], 60) + np.random.default_rng(1).normal(0, 0.01, 120)
    fraction, least = check_readme.alternation(period_2)
    assert fraction == 1.0 and 0.8 < least < 0.9
    for seed in range(5):  # i.i.d. sizes flip in 2/3 of the pairs; 5 sd below the bar
        fraction, least = check_readme.alternation(np.random.default_rng(seed).random(120))
        assert fraction < least
        assert fraction == pytest.approx(2 / 3, abs=5 * np.sqrt((16 * 120 - 29) / 90) / 118)


@pytest.mark.slow
def test_the_readme_figures_hold_on_a_fresh_run(capsys):
    """The script itself, on the README's own seeds (network 5 x 2 s + dsODE; ~5-30 s)."""
    assert check_readme.main(["--jobs", "2"]) == 0, capsys.readouterr().out
