"""A new model needs only its engine function and one registry entry.

The toy engine below (independent Poisson neurons, a test-only model) is registered once and
then runs through ``snnreduce run --model``, compare, sweep and the figures, none of which is
told about it.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from snnreduce import NetworkParams, load
from snnreduce import models as registry
from snnreduce.analysis import firing_rate
from snnreduce.validation import Interval, check_record, check_unknown

RATE_HZ = 25.0
PARAMS = NetworkParams(n_e=60, n_i=30)


def toy_run(params, *, t_end, rng, record=(), progress=False, rate_hz=RATE_HZ, **unknown):
    """Every neuron fires as an independent Poisson process of ``rate_hz`` (Hz)."""
    check_unknown(unknown, ("rate_hz",), "toy")
    rate_hz = Interval(0, units="Hz").check("rate_hz", rate_hz)
    check_record(record, (), "the toy model")
    n_steps = max(1, math.ceil(t_end / params.dt - 1e-9))
    n = params.n_e + params.n_i
    counts = rng.poisson(rate_hz * 1e-3 * params.dt, size=(n_steps, n))
    steps, neurons = np.nonzero(counts)
    repeat = counts[steps, neurons]
    steps, neurons = np.repeat(steps, repeat), np.repeat(neurons, repeat)
    times = (steps + rng.random(steps.size)) * params.dt
    order = np.argsort(times, kind="stable")
    population = (neurons >= params.n_e).astype(np.int64)
    per_step = np.bincount(steps * 2 + population, minlength=2 * n_steps).reshape(n_steps, 2)
    return {"population_counts": per_step, "spike_times": times[order],
            "spike_neurons": neurons[order].astype(np.int32), "records": {},
            "options": {"rate_hz": rate_hz}, "status": "ok"}


TOY = registry.Model("toy", "toy", f"{__name__}:toy_run", "toy Poisson neurons", "tab:brown",
                     "network", records=(), options={"rate_hz": "rate of every neuron, Hz"},
                     attractor=False, record_owner="the toy model")


@pytest.fixture(autouse=True)
def toy_registered():
    registry.register(TOY)
    yield
    registry.unregister("toy")


def _within_standard_errors(rate, n_neurons, seconds, runs=1, k=5.0):
    # Poisson: the count over n neurons and T seconds has sd sqrt(count)
    se = math.sqrt(RATE_HZ * n_neurons * seconds * runs) / (n_neurons * seconds * runs)
    return abs(rate - RATE_HZ) < k * se


def test_cli_runs_the_toy_model(tmp_path):
    from snnreduce.cli import main

    out = tmp_path / "toy.nc"
    main(["run", "--model", "toy", "--set", "n_e=60", "--set", "n_i=30", "--t-end", "1100",
          "--seed", "4", "--quiet", "--out", str(out)])
    result = load(out)
    assert result.engine == "toy" and result.seed == 4 and result.options == {"rate_hz": RATE_HZ}
    assert _within_standard_errors(firing_rate(result, "E", 100.0), 60, 1.0)
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--model", "toy", "--option", "rate_hz=-1", "--out", str(tmp_path / "x.nc")])
    assert exit_info.value.code == 2


def test_compare_and_its_figure_take_the_toy_model(tmp_path):
    from snnreduce.compare import compare, write_report

    comparison = compare(PARAMS, seeds=[1, 2], t_end=600.0, models=("toy", "dsode"), n_jobs=1,
                         progress=False)
    assert [r.seed for r in comparison.results["toy"]] == [1, 2]
    payload = write_report(comparison, tmp_path)
    rate = payload["models"]["toy"]["mean"]["rate_hz"]["I"]
    assert _within_standard_errors(rate, 30, 0.5, runs=2)
    assert "toy Poisson neurons" in (tmp_path / "report.md").read_text()
    assert (tmp_path / "toy_seed2.nc").is_file() and (tmp_path / "compare.png").stat().st_size > 0
    assert json.loads((tmp_path / "report.json").read_text())["files"]["toy"] == [
        "toy_seed1.nc", "toy_seed2.nc"]


def test_sweep_and_the_bifurcation_figure_take_the_toy_model(tmp_path):
    from snnreduce.plot import bifurcation_figure, result_figure, save_figure
    from snnreduce.sweep import sweep

    ds = sweep(PARAMS, {"p_ei": [0.7, 0.9]}, models="toy,dsode", seeds=2, t_end=600.0,
               backend="serial", progress=False,
               model_options={"toy": {"rate_hz": RATE_HZ}})
    assert (ds["status"] == "ok").all()
    rates = ds["rate_hz"].sel(model="toy", population="E").values
    assert all(_within_standard_errors(r, 60, 0.5) for r in rates.ravel())
    save_figure(bifurcation_figure(ds, "p_ei"), tmp_path / "bif.png")
    assert (tmp_path / "bif.png").stat().st_size > 0

    from snnreduce.api import run_model

    save_figure(result_figure(run_model(PARAMS, "toy", seed=3, t_end=400.0)), tmp_path / "r.png")
    assert (tmp_path / "r.png").stat().st_size > 0
