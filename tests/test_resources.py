"""Memory estimates and refusals before runs (snnreduce.resources, issue 14).

Nothing here allocates what it refuses: the available memory is monkeypatched to a fixed
value, and a refused request raises before any array of its size exists. The estimates are
compared with what small runs really hold (their arrays' nbytes, tracemalloc's peak).
"""

import importlib
import os
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

import snnreduce as sr
from snnreduce import NetworkParams, ParameterError
from snnreduce import resources as R
from snnreduce.result import RECORD_DIMS

sw = importlib.import_module("snnreduce.sweep")  # the module (snnreduce.sweep may be the function)
cmp = importlib.import_module("snnreduce.compare")

GIB = 2**30
SMALL = NetworkParams(n_e=150, n_i=50)


@pytest.fixture
def available(monkeypatch):
    """Set the memory the checks see (bytes); returns the setter."""
    def set_to(nbytes):
        monkeypatch.setattr(R, "available_memory", lambda: nbytes)
    return set_to


def one_line(message: str) -> bool:
    return "\n" not in message.strip()


# ------------------------------------------------------------------------ available memory
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/meminfo")
def test_available_memory_is_meminfo_and_below_the_total():
    with open("/proc/meminfo") as fh:
        total = next(int(line.split()[1]) * 1024 for line in fh if line.startswith("MemTotal:"))
    got = R.available_memory()
    assert isinstance(got, int) and 0 < got <= total


def test_available_memory_falls_back_to_sysconf(monkeypatch):
    def no_file(*args, **kwargs):
        raise OSError("no /proc here")

    monkeypatch.setattr("builtins.open", no_file)
    got = R.available_memory()
    monkeypatch.undo()
    if hasattr(os, "sysconf"):
        assert isinstance(got, int) and got > 0
    else:
        assert got is None


# --------------------------------------------------------------------------- record sizes
def test_every_record_an_engine_can_produce_has_a_size():
    from snnreduce.baselines import fokker_planck
    from snnreduce.dsode.engine import DSODE_RECORDS
    from snnreduce.network._common import NETWORK_RECORDS
    from snnreduce.network.surrogate import SURROGATE_RECORDS

    produced = {"stepped": NETWORK_RECORDS, "markov": NETWORK_RECORDS,
                "surrogate": SURROGATE_RECORDS, "dsode": DSODE_RECORDS,
                "fokker-planck": fokker_planck.RECORDS}
    for engine, names in produced.items():
        assert set(names) <= set(R.RECORD_ITEMSIZE[engine]), engine
    kinds = {name for table in R.RECORD_ITEMSIZE.values() for name in table}
    assert kinds <= set(RECORD_DIMS) and set(RECORD_DIMS) <= kinds


@pytest.mark.parametrize("engine, record", [
    ("stepped", ("voltage", "pending", "refractory")),
    ("markov", ("voltage", "pending", "refractory")),
    ("surrogate", ("voltage", "pending", "pending_var", "refractory")),
    ("dsode", ("bin_count", "bin_mean", "pending", "pending_var", "refractory")),
    ("fokker-planck", ("bin_count", "bin_mean", "pending", "refractory")),
])
def test_record_estimates_are_the_recorded_arrays(engine, record):
    t_end = 20.0
    if engine == "dsode":
        result = sr.reduce(SMALL, t_end=t_end, record=record, dv=2.0)
        options = {"dv": 2.0}
    else:
        result = sr.simulate(SMALL, engine, t_end=t_end, seed=2, record=record)
        options = {}
    est = R.estimate_run(SMALL, engine, t_end=t_end, record=record, options=options)
    for name, values in result.records.items():
        assert est.part(f"{name} record") == values.nbytes, name
    assert est.part("population counts") == result.population_counts.nbytes


@pytest.mark.parametrize("engine, record", [
    ("stepped", ("voltage", "pending", "refractory")),
    ("markov", ("voltage", "refractory")),
    ("surrogate", ("voltage", "pending_var")),
    ("dsode", ("bin_count", "bin_mean", "pending", "refractory")),
    ("fokker-planck", ("bin_count", "refractory")),
])
def test_sampled_records_are_estimated_as_the_sampled_arrays(engine, record):
    # record_every = 7 dt over 203 steps: 29 rows; population counts are never sampled
    t_end, every = 20.3, 0.7
    kwargs = dict(t_end=t_end, record=record, record_every=every)
    if engine == "dsode":
        result = sr.reduce(SMALL, dv=2.0, **kwargs)
        options = {"dv": 2.0, "record_every": every}
    else:
        result = sr.simulate(SMALL, engine, seed=2, **kwargs)
        options = {"record_every": every}
    est = R.estimate_run(SMALL, engine, t_end=t_end, record=record, options=options)
    full = R.estimate_run(SMALL, engine, t_end=t_end, record=record,
                          options={k: v for k, v in options.items() if k != "record_every"})
    for name, values in result.records.items():
        if name == "bin_edges":
            continue
        assert len(values) == 203 // 7
        assert est.part(f"{name} record") == values.nbytes, name
        assert full.part(f"{name} record") == values.nbytes * 203 / 29, name
    assert est.part("population counts") == result.population_counts.nbytes


@pytest.mark.parametrize("engine, columns", [("stepped", 2), ("markov", 4), ("surrogate", 2),
                                             ("dsode", 2), ("fokker-planck", 2)])
def test_a_time_varying_stimulus_adds_its_per_step_table(engine, columns):
    from snnreduce.stimulus import external_drive, parse_stimulus

    sine = parse_stimulus("E:lambda+sine(amp=1,hz=10)")
    est = R.estimate_run(SMALL, engine, t_end=50.0, stimulus=sine)
    plain = R.estimate_run(SMALL, engine, t_end=50.0)
    table = external_drive(sine, SMALL, 50.0, bounds=columns == 4)[1]
    assert est.part("stimulus per-step rates") == table.nbytes == 8 * columns * 500
    assert est.nbytes == plain.nbytes + table.nbytes
    # given in the options (as a sweep's model options hold it), or as grammar text
    assert R.estimate_run(SMALL, engine, t_end=50.0, options={"stimulus": str(sine)}).nbytes \
        == est.nbytes
    # a constant stimulus is folded into the parameters: no table
    assert R.estimate_run(SMALL, engine, t_end=50.0,
                          stimulus=parse_stimulus("E:const(3)")).nbytes == plain.nbytes


def test_a_batched_dsode_sweep_holds_one_stimulus_table_per_set():
    points = [NetworkParams().replace(p_ei=p) for p in (0.6, 0.7, 0.8, 0.9)]
    sine = "E:lambda+sine(amp=1,hz=10)"
    plain = R.estimate_sweep(points, ("dsode",), seeds=1, t_end=500.0, workers=1)
    stim = R.estimate_sweep(points, ("dsode",), seeds=1, t_end=500.0, workers=1,
                            model_options={"dsode": {"stimulus": sine}})
    # min(64, 2 x 1 worker, 4 points) = 2 sets per batch, 16 B per step each
    assert stim.part("runs at once") - plain.part("runs at once") == 2 * 16 * 5000


# ----------------------------------------------------------------- estimate vs allocation
def traced_peak(run) -> int:
    """Bytes traced at the peak of ``run()`` beyond what was held before (after a warm-up
    call, so that compilation and imports are not counted)."""
    run()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        run()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


# runs whose peak is state, tables, adjacency or records (spike storage is a bound, below)
@pytest.mark.parametrize("engine, params, t_end, record, options", [
    ("stepped", NetworkParams(n_e=15000, n_i=5000), 2.0, (), {}),
    ("stepped", NetworkParams(n_e=300, n_i=100), 200.0, ("voltage", "pending"), {}),
    ("stepped", NetworkParams(n_e=1500, n_i=500, connectivity="quenched"), 5.0, (), {}),
    ("markov", NetworkParams(n_e=15000, n_i=5000), 2.0, (), {}),
    ("markov", NetworkParams(n_e=300, n_i=100), 200.0, ("voltage", "pending"), {}),
    ("surrogate", NetworkParams(n_e=15000, n_i=5000), 2.0, (), {}),
    ("dsode", NetworkParams(), 200.0, ("bin_count", "bin_mean", "pending"), {"dv": 0.5}),
    ("fokker-planck", NetworkParams(), 100.0, ("bin_count", "bin_mean"), {}),
    ("dsode", NetworkParams(n_e=1_500_000, n_i=500_000, initial_state="uniform"), 5.0, (),
     {"noise": "finite-size", "seed": 1}),
])
def test_estimate_is_within_a_factor_two_of_the_traced_peak(engine, params, t_end, record,
                                                            options):
    if engine == "dsode":
        def run():
            return sr.reduce(params, t_end=t_end, record=record, **options)
    else:
        def run():
            return sr.simulate(params, engine, t_end=t_end, seed=1, record=record, **options)
    peak = traced_peak(run)
    options = {k: v for k, v in options.items() if k != "seed"}
    est = R.estimate_run(params, engine, t_end=t_end, record=record, options=options).nbytes
    assert 0.8 * peak <= est <= 2.0 * peak, (est, peak)


def test_spike_bound_holds_and_is_tight_at_the_refractory_limit():
    # a drive that crosses threshold within ~5 steps: the refractory period sets the rate
    fast = dict(n_e=150, n_i=50, lambda_e=200.0, lambda_i=200.0, tau_r=1.0)
    t_end = 200.0
    for refractory in ("fixed", "exponential"):
        params = NetworkParams(**fast, refractory=refractory)
        for engine in ("stepped", "surrogate"):
            count = sr.simulate(params, engine, t_end=t_end, seed=4).spike_times.size
            bound = R.spike_bound(params, t_end)
            assert 0.5 * bound <= count <= bound, (engine, refractory, count, bound)
        count = sr.simulate(params, "markov", t_end=t_end, seed=4).spike_times.size
        bound = R.spike_bound(params, t_end, continuous_time=True)
        assert 0.5 * bound <= count <= bound, ("markov", refractory, count, bound)


def test_spike_bound_at_the_reference_set_is_above_the_reference_rates():
    # SPEC §6: E ~ 47 Hz, I ~ 66 Hz; the refractory bound is 1 / (tau_r + dt/2) ~ 247 Hz
    bound = R.spike_bound(NetworkParams(), 2000.0)
    assert (300 * 47 + 100 * 66) * 2 < bound < 400 * 260 * 2


# ---------------------------------------------------------------------------- scaling
def test_estimates_scale_with_neurons_time_records_and_bins():
    est = R.estimate_run
    base = est(SMALL, "stepped", t_end=100.0)
    double_n = est(SMALL.replace(n_e=300, n_i=100), "stepped", t_end=100.0)
    assert double_n.part("network state") == pytest.approx(2 * base.part("network state"),
                                                           rel=0.02)
    long = est(SMALL, "stepped", t_end=200.0)
    assert long.part("population counts") == 2 * base.part("population counts")
    assert long.part("spike storage (bound)") > 1.5 * base.part("spike storage (bound)")

    voltage = est(SMALL, "stepped", t_end=100.0, record=("voltage",))
    assert voltage.nbytes - base.nbytes == voltage.part("voltage record") == 1000 * 200 * 4
    assert est(SMALL.replace(n_e=300), "stepped", t_end=200.0,
               record=("voltage",)).part("voltage record") == 2000 * 350 * 4

    bins = ("bin_count", "bin_mean")
    coarse = est(NetworkParams(), "dsode", t_end=100.0, record=bins, options={"dv": 4.0})
    fine = est(NetworkParams(), "dsode", t_end=100.0, record=bins, options={"dv": 1.0})
    assert fine.part("bin_count record") == 4 * coarse.part("bin_count record")  # 140/35 bins
    assert fine.part("dsODE bins and workspace") == 4 * coarse.part("dsODE bins and workspace")

    fp = est(NetworkParams(), "fokker-planck", t_end=100.0, record=("bin_count",),
             options={"dv": 0.5})
    fp_fine = est(NetworkParams(), "fokker-planck", t_end=100.0, record=("bin_count",),
                  options={"dv": 0.25})
    assert fp_fine.part("bin_count record") == 2 * fp.part("bin_count record")


def test_nest_estimates_are_rough_but_grow_with_the_network():
    leaky = SMALL.replace(tau_m=20.0)
    meso = R.estimate_run(leaky, "rdm", t_end=1000.0)
    micro = R.estimate_run(leaky, "rdm", t_end=1000.0, record=("voltage",),
                           options={"level": "micro"})
    assert meso.part("NEST spike events (rough)") == 64 * R.spike_bound(leaky, 1000.0,
                                                                        continuous_time=True)
    assert meso.part("NEST GIF network (rough)") == 0 < micro.part("NEST GIF network (rough)")
    assert micro.part("voltage record") == 10_000 * 200 * 32
    bigger = R.estimate_run(leaky.replace(n_e=300, n_i=100), "rdm", t_end=1000.0,
                            options={"level": "micro"})
    assert bigger.part("NEST GIF network (rough)") > 3 * micro.part("NEST GIF network (rough)")


def test_quenched_adjacency_grows_with_the_synapses():
    quenched = SMALL.replace(connectivity="quenched")
    dense = R.estimate_run(quenched, "stepped", t_end=10.0).part("quenched adjacency")
    sparse = R.estimate_run(quenched, "markov", t_end=10.0).part("quenched adjacency")
    assert dense - sparse == 200 * 200  # the stepped engine's dense byte matrix (<= 8192)
    half = R.estimate_run(quenched.replace(p_ee=0.4, p_ie=0.4, p_ei=0.4, p_ii=0.4), "markov",
                          t_end=10.0).part("quenched adjacency")
    assert sparse - 8 * 201 == pytest.approx(2 * (half - 8 * 201))
    assert R.estimate_run(SMALL, "markov", t_end=10.0).part("quenched adjacency") == 0


def test_sweep_estimate_multiplies_runs_at_once_and_counts_stored_peaks():
    points = [SMALL.replace(p_ei=p) for p in (0.6, 0.7, 0.8, 0.9)]
    one = R.estimate_sweep(points, ("snn",), seeds=3, t_end=500.0, workers=1)
    four = R.estimate_sweep(points, ("snn",), seeds=3, t_end=500.0, workers=4)
    many = R.estimate_sweep(points, ("snn",), seeds=3, t_end=500.0, workers=64)
    assert four.part("runs at once") == pytest.approx(4 * one.part("runs at once"))
    assert many.part("runs at once") == pytest.approx(12 * one.part("runs at once"))  # 12 runs
    remote = R.estimate_sweep(points, ("snn",), seeds=3, t_end=500.0, workers=None)
    assert remote.part("runs at once") == 0
    # at most one peak per 9 ms after the transient, for each of the 12 runs
    longer = R.estimate_sweep(points, ("snn",), seeds=3, t_end=100.0 + 9 * 1000, workers=None)
    per_run = (14 + 2 * 1001) * (R._PY_FLOAT_BYTES + 8)
    assert longer.part("stored statistics") == 12 * per_run


# ------------------------------------------------------------------------------ refusals
def test_a_billion_neurons_is_refused_before_any_allocation(available):
    available(16 * GIB)
    tracemalloc.start()
    try:
        with pytest.raises(ParameterError) as info:
            sr.simulate(NetworkParams(n_e=1_000_000_000), t_end=10.0, seed=0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50 * 2**20
    message = str(info.value)
    assert one_line(message)
    assert message.startswith("n_e=1000000000, t_end=10 need about")
    assert "16.0 GiB are available" in message and "network state" in message
    assert "check_memory=False (--force)" in message


@pytest.mark.parametrize("call, names", [
    (lambda: sr.reduce(NetworkParams(), t_end=2000.0, dv=0.0015), ("dv=0.0015", "t_end=2000")),
    (lambda: sr.simulate(NetworkParams(), "fokker-planck", t_end=2000.0, dv=0.001,
                         record=("bin_count",)), ("dv=0.001", "t_end=2000")),
    (lambda: sr.simulate(NetworkParams(n_e=40000, n_i=10000, connectivity="quenched"),
                         "markov", t_end=10.0), ("n_e=40000", "n_i=10000")),
    (lambda: sr.simulate(NetworkParams(n_e=100_000), "surrogate", t_end=2000.0,
                         record=("voltage",)), ("n_e=100000", "t_end=2000", "record=voltage")),
])
def test_each_model_refuses_what_does_not_fit(available, call, names):
    available(4 * GIB)
    with pytest.raises(ParameterError) as info:
        call()
    message = str(info.value)
    assert one_line(message) and "4.0 GiB are available" in message
    for name in names:
        assert name in message


def test_check_memory_false_runs_and_bad_flags_are_refused(available):
    available(0)
    with pytest.raises(ParameterError, match="0.0 MiB are available"):
        sr.reduce(SMALL, t_end=50.0)
    assert sr.reduce(SMALL, t_end=50.0, check_memory=False).status == "ok"
    assert sr.simulate(SMALL, t_end=50.0, seed=1, check_memory=False).has_spikes
    with pytest.raises(ParameterError, match="check_memory must be True or False"):
        sr.simulate(SMALL, t_end=50.0, seed=1, check_memory="no")


def test_unknown_available_memory_checks_nothing(available):
    available(None)
    R.require_memory(R.estimate_run(NetworkParams(n_e=10**9), "stepped", t_end=10.0))


def test_sweep_refused_before_any_run(available, tmp_path):
    available(2**20)
    out = tmp_path / "s.nc"
    with pytest.raises(ParameterError) as info:
        sw.sweep(NetworkParams(n_e=3000, n_i=1000), {"p_ei": [0.6, 0.8]}, models="snn",
                 seeds=2, t_end=500.0, backend="serial", out=out, progress=False)
    assert one_line(str(info.value)) and "for the sweep" in str(info.value)
    assert not list(tmp_path.iterdir())


def test_sweep_store_raster_refused_when_the_disk_is_full(available, monkeypatch, tmp_path):
    available(None)
    monkeypatch.setattr(R.shutil, "disk_usage", lambda path: type("U", (), {"free": 1000})())
    with pytest.raises(ParameterError, match="free in"):
        sw.sweep(SMALL, {"p_ei": [0.6, 0.8]}, models="dsode", t_end=200.0, backend="serial",
                 out=tmp_path / "s.nc", store_raster=True, progress=False)
    assert not list(tmp_path.iterdir())


def test_sweep_without_data_after_the_transient_is_refused(tmp_path):
    with pytest.raises(ParameterError, match=r"t_end=10 ms is not longer than the discarded "
                                             r"transient \(discard=100 ms\)"):
        sw.sweep(SMALL, {"p_ei": [0.6, 0.8]}, models="dsode", t_end=10.0, backend="serial",
                 out=tmp_path / "s.nc", progress=False)
    # t_end = 100.1 ms keeps a step at dt = 0.1 but none at dt = 0.3 (334 steps either way)
    with pytest.raises(ParameterError, match="t_end=100.1"):
        sw.sweep(SMALL, {"dt": [0.1, 0.3]}, models="dsode", t_end=100.1, backend="serial",
                 progress=False)
    assert not list(tmp_path.iterdir())


def test_statistics_discard_is_the_one_the_sweep_uses():
    import inspect

    from snnreduce.analysis import summarize

    assert inspect.signature(summarize).parameters["discard"].default == R.STATISTICS_DISCARD_MS
    peak = importlib.import_module("snnreduce.analysis.peaks").peak_sequence
    assert inspect.signature(peak).parameters["distance_ms"].default == R.PEAK_DISTANCE_MS


def test_compare_refusals_come_before_any_run(available, monkeypatch):
    def no_run(*args, **kwargs):
        raise AssertionError("a run started")

    monkeypatch.setattr(cmp, "_run_one", no_run)
    with pytest.raises(ParameterError, match=r"t_end=50 ms is not longer .*discard=100 ms"):
        cmp.compare(SMALL, seeds=1, t_end=50.0, progress=False)
    with pytest.raises(ParameterError, match="discard must be"):
        cmp.compare(SMALL, seeds=1, t_end=500.0, discard=-1.0, progress=False)
    available(2**20)
    with pytest.raises(ParameterError) as info:
        cmp.compare(SMALL, seeds=2, t_end=2000.0, n_jobs=2, progress=False)
    message = str(info.value)
    assert one_line(message) and "for the comparison" in message and "jobs=2" in message


def test_compare_without_the_memory_check_runs_its_models_unchecked(available):
    available(0)  # a run that checked itself would be refused
    comparison = cmp.compare(SMALL, seeds=1, t_end=150.0, models=("dsode", "snn"), n_jobs=1,
                             progress=False, check_memory=False)
    assert set(comparison.results) == {"dsode", "snn"}


def test_frequency_above_nyquist_and_empty_grids_are_refused():
    assert R.require_below_nyquist(4999.0, 0.1) == 4999.0
    for bad in (5000.0, 0.0, -3.0, float("nan"), "40"):
        with pytest.raises(ParameterError, match=r"frequency must be in \(0, 5000\) Hz"):
            R.require_below_nyquist(bad, 0.1)
    with pytest.raises(ParameterError, match=r"stim_hz must be in \(0, 500\) Hz"):
        R.require_below_nyquist(600.0, 1.0, name="stim_hz")
    with pytest.raises(ParameterError, match="at least one period"):
        R.require_below_nyquist(10.0, 0.1, duration_ms=50.0)
    R.require_below_nyquist(10.0, 0.1, duration_ms=100.0)
    with pytest.raises(ParameterError, match="the grid has no points left"):
        R.require_runs(0)


def test_refusal_message_names_the_largest_parts_and_how_to_shrink_them():
    est = R.estimate_run(NetworkParams(), "dsode", t_end=2000.0, record=("bin_count",),
                         options={"dv": 0.01})
    message = est.refusal(GIB)
    assert message.startswith("t_end=2000, dv=0.01, record=bin_count need about")
    assert "lower t_end, raise dv, record less" in message and one_line(message)


# ----------------------------------------------------------------------------------- CLI
def run_cli(*args, available_bytes=16 * GIB):
    """The real command in a fresh interpreter that sees ``available_bytes`` of memory."""
    code = ("import sys; import snnreduce.resources as R; "
            f"R.available_memory = lambda: {available_bytes}; "
            "from snnreduce.cli import main; main(sys.argv[1:])")
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize("args, message", [
    (["run", "--model", "snn", "--set", "n_e=1000000000", "--t-end", "10", "--out", "a.nc"],
     "n_e=1000000000, t_end=10 need about"),
    (["sweep", "--set", "p_ei=0:1:5", "--model", "dsode", "--t-end", "10", "--out", "s.nc"],
     "t_end=10 ms is not longer than the discarded transient (discard=100 ms)"),
    (["compare", "--t-end", "50", "--seeds", "1", "--out", "report"],
     "t_end=50 ms is not longer than the discarded transient"),
])
def test_cli_refuses_with_one_line_and_exit_2(args, message, tmp_path):
    proc = run_cli(*args[:-1], str(tmp_path / args[-1]))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("snnreduce: error: ") and message in proc.stderr
    assert one_line(proc.stderr) and "Traceback" not in proc.stderr
    assert not list(tmp_path.iterdir())


def test_cli_force_runs_what_the_estimate_refuses(tmp_path):
    args = ["run", "--model", "dsode", "--set", "n_e=60", "--set", "n_i=20", "--t-end", "50",
            "--quiet", "--out", str(tmp_path / "r.nc")]
    refused = run_cli(*args, available_bytes=0)
    assert refused.returncode == 2 and "--force" in refused.stderr
    forced = run_cli(*args, "--force", available_bytes=0)
    assert forced.returncode == 0, forced.stderr
    assert sr.load(tmp_path / "r.nc").engine == "dsode"
    sweep = ["sweep", "--set", "p_ei=0.6,0.8", "--model", "dsode", "--t-end", "200", "--quiet",
             "--backend", "serial", "--out", str(tmp_path / "s.nc")]
    assert run_cli(*sweep, available_bytes=0).returncode == 2
    assert run_cli(*sweep, "--force", available_bytes=0).returncode == 0
    assert np.all(sw.load_sweep(tmp_path / "s.nc")["status"] == "ok")


def test_cli_stats_refuses_a_discard_that_leaves_no_data(tmp_path):
    path = tmp_path / "r.nc"
    sr.reduce(sr.NetworkParams.preset("reference"), t_end=150, record=()).save(path)
    ok = run_cli("stats", str(path), "--discard", "100")
    assert ok.returncode == 0, ok.stderr
    proc = run_cli("stats", str(path), "--discard", "150")
    assert proc.returncode == 2
    assert "t_end=150 ms is not longer than the discarded transient (discard=150 ms)" in proc.stderr
    assert one_line(proc.stderr) and "Traceback" not in proc.stderr
