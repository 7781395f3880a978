"""Parameter sweeps: grid parsing, storage, resume after SIGINT/SIGKILL, backends.

The machinery is tested with a cheap fake evaluator (``fake_evaluate``); the real models are
exercised by the tests at the end, which skip while the engines cannot be imported.
"""

from __future__ import annotations

import fcntl
import importlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from snnreduce import NetworkParams, ParameterError

sw = importlib.import_module("snnreduce.sweep")  # the module (snnreduce.sweep may be the function)

BASE = NetworkParams()
GRID = {"p_ei": "0.5:1.0:6", "s_ee": [0.9, 0.95]}
MODELS = ("dsode", "snn")
LOG_ENV = "SNNREDUCE_TEST_SWEEP_LOG"
SLEEP_ENV = "SNNREDUCE_TEST_SWEEP_SLEEP"


def fake_evaluate(params, model, seed, t_end, options, save_to=None):
    """Cheap stand-in for evaluate_point: deterministic in (params, model, seed), ragged peaks."""
    log = os.environ.get(LOG_ENV)
    if log:
        with open(log, "a") as fh:
            fh.write(f"{model} {params.p_ei} {params.s_ee} {seed}\n")
    time.sleep(float(os.environ.get(SLEEP_ENV, "0")))
    if options.get("interrupt_at") == params.p_ei:
        raise KeyboardInterrupt
    if options.get("fail_above") is not None and params.p_ei > options["fail_above"]:
        raise FloatingPointError("activity diverged\nsecond line")
    noise = 0.0 if seed is None else np.random.default_rng(seed).random()
    n_peaks = 1 + round(params.p_ei * 10) % 4
    heights = params.p_ei * np.arange(1, n_peaks + 1) + noise
    stats = {name: {"E": params.p_ei + i + noise, "I": params.s_ee * t_end / 100 + noise}
             for i, name in enumerate(sw.STATISTICS)}
    stats["mfe_count"] = {"E": np.int64(n_peaks), "I": 0}
    stats["peak_time_ms"] = 10.0 * np.arange(n_peaks)
    stats["peak_height"] = heights
    stats["status"] = "ok"
    return stats


def run(tmp_path=None, name="sweep.nc", **kwargs):
    args = dict(params=BASE, grid=GRID, models=MODELS, seeds=2, t_end=100.0, backend="serial",
                progress=False, evaluate=fake_evaluate)
    if tmp_path is not None:
        args["out"] = tmp_path / name
    args.update(kwargs)
    return sw.sweep(**args)


def comparable(ds):
    """Drop what legitimately differs between runs: timings and the backend used."""
    ds = ds.drop_vars("wall_time")
    ds.attrs = {k: v for k, v in ds.attrs.items() if k != "backend"}
    return ds


def count_lines(path):
    return len(Path(path).read_text().splitlines()) if Path(path).exists() else 0


# ------------------------------------------------------------------------------ grids
def test_parse_grid_forms():
    grid = sw.parse_grid(["p_ei=0.5:1.0:51", "s_ee=0.9,0.95", "tau_ee=4",
                          "refractory=exponential,fixed", "lambda_e=-1:1:3"])
    assert list(grid) == ["p_ei", "s_ee", "tau_ee", "refractory", "lambda_e"]
    assert len(grid["p_ei"]) == 51 and grid["p_ei"][0] == 0.5 and grid["p_ei"][-1] == 1
    assert 0.9 in grid["p_ei"] and 0.54 in grid["p_ei"]  # tidy values: sel(p_ei=0.9) works
    assert grid["s_ee"] == [0.9, 0.95]
    assert grid["tau_ee"] == [4]
    assert grid["refractory"] == ["exponential", "fixed"]
    assert grid["lambda_e"] == [-1, 0, 1]
    assert sw.parse_grid("n_e=100:400:4") == {"n_e": [100, 200, 300, 400]}
    assert sw.parse_grid("tau_m=none,20") == {"tau_m": [None, 20]}  # as the CLI's --set reads


@pytest.mark.parametrize("entry, match", [
    ("p_ei", "name=values"),
    ("=0.5", "no parameter name"),
    ("p_ei=", "no values"),
    ("p_ei=0.5:1.0", "start:stop:num"),
    ("p_ei=0.5:1.0:2.5", "integer >= 1"),
    ("p_ei=0.5:1.0:0", "integer >= 1"),
    ("p_ei=a:1:3", "must be numbers"),
    ("p_ei=0.5,,0.6", "empty value"),
])
def test_parse_grid_rejects(entry, match):
    with pytest.raises(ParameterError, match=match):
        sw.parse_grid([entry])


def test_parse_grid_rejects_repeated_name():
    with pytest.raises(ParameterError, match="given twice"):
        sw.parse_grid(["p_ei=0.5", "p_ei=0.6"])


@pytest.mark.parametrize("grid, match", [
    ({"p_ei": [0.5, 1.3]}, r"p_ei must be in \[0, 1\], got 1.3"),
    ({"p_xx": [0.5]}, "unknown parameter 'p_xx'"),
    ({"n_e": "100:200:4"}, "n_e must be an integer"),
    ({"p_ei": [0.5, 0.5]}, "repeats the value 0.5"),
    ({"p_ei": []}, "has no values"),
    ({}, "non-empty dict"),
    ({"refractory": ["exponential", "sometimes"]}, "refractory must be"),
])
def test_bad_grid_refused_before_any_work(grid, match, tmp_path, monkeypatch):
    log = tmp_path / "log"
    monkeypatch.setenv(LOG_ENV, str(log))
    with pytest.raises(ParameterError, match=match):
        run(tmp_path, grid=grid)
    assert not log.exists()
    assert not list(tmp_path.glob("sweep.nc*"))


@pytest.mark.parametrize("kwargs, match", [
    ({"models": ("dsode", "lif")}, "models must be among"),
    ({"models": "dsode,dsode"}, "repeat"),
    ({"seeds": 0}, "seeds must be"),
    ({"seeds": [1, -2]}, "non-negative"),
    ({"seeds": [3, 3]}, "repeat"),
    ({"t_end": -5}, "t_end"),
    ({"backend": "mpi"}, "backend must be"),
    ({"n_jobs": 0}, "n_jobs"),
    ({"scheduler": "tcp://127.0.0.1:1"}, "only used with backend='dask'"),
    ({"model_options": {"markov": {}}}, "not among the sweep's models"),
    ({"model_options": {"snn": {"x": object()}}}, "JSON"),
    ({"resume": True}, "needs out"),
    ({"store_raster": True}, "needs out"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        run(**kwargs)


# ------------------------------------------------------------------------ the dataset
def test_dataset_layout():
    ds = run(models="dsode,snn,markov", seeds=[3, 7])
    assert dict(ds.sizes) == {"p_ei": 6, "s_ee": 2, "model": 3, "seed": 2, "population": 2,
                              "peak": 4}
    assert ds["p_ei"].values.tolist() == [0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    assert ds["p_ei"].dtype == float and ds["seed"].dtype == np.int64
    assert ds["model"].values.tolist() == ["dsode", "snn", "markov"]
    assert ds["seed"].values.tolist() == [3, 7]
    assert ds["rate_hz"].dims == ("p_ei", "s_ee", "model", "seed", "population")
    assert ds["peak_height"].dims == ("p_ei", "s_ee", "model", "seed", "peak")
    for name in [*sw.STATISTICS, "peak_time_ms", "peak_height", "status", "wall_time", "run_seed"]:
        assert name in ds
    assert (ds["status"] == "ok").all()
    one = ds.sel(p_ei=0.9, s_ee=0.95, model="snn", seed=3)
    noise = np.random.default_rng(int(one["run_seed"])).random()
    assert float(one["gamma_peak_hz"].sel(population="I")) == pytest.approx(0.95 + noise)
    assert float(one["gamma_peak_hz"].sel(population="E")) == pytest.approx(0.9 + 2 + noise)
    # deterministic dsode: computed once, broadcast along seed, run_seed -1
    dsode = ds.sel(model="dsode")
    xr.testing.assert_identical(dsode.drop_vars("wall_time").isel(seed=0, drop=True),
                                dsode.drop_vars("wall_time").isel(seed=1, drop=True))
    assert (dsode["run_seed"] == -1).all()
    snn = ds.sel(model="snn")
    assert (snn["run_seed"] >= 0).all()
    assert len(np.unique(ds["run_seed"].sel(model=["snn", "markov"]))) == 6 * 2 * 2 * 2
    # ragged peaks are NaN-padded: p_ei = 0.5 has 1 + 5 % 4 = 2 peaks
    heights = ds["peak_height"].sel(p_ei=0.5, s_ee=0.9, model="dsode", seed=3).values
    np.testing.assert_allclose(heights, [0.5, 1.0, np.nan, np.nan])
    assert ds["mfe_count"].sel(p_ei=0.5, s_ee=0.9, model="dsode", seed=3, population="E") == 2
    assert json.loads(ds.attrs["grid"]) == {"p_ei": [0.5, 0.6, 0.7, 0.8, 0.9, 1], "s_ee": [0.9, 0.95]}
    assert json.loads(ds.attrs["models"]) == ["dsode", "snn", "markov"]
    assert json.loads(ds.attrs["seeds"]) == [3, 7]
    assert ds.attrs["t_end"] == 100.0 and ds.attrs["backend"] == "serial"
    assert NetworkParams.from_json(ds.attrs["params"]) == BASE
    assert ds.attrs["version"]


def test_grid_values_are_stored_as_the_parameters_take_them():
    ds = run(grid={"tau_m": "none,20", "n_e": [100.0, 200], "refractory": "exponential,fixed"},
             models="dsode", seeds=1)
    assert ds["tau_m"].values.tolist() == [0.0, 20.0]
    assert ds["n_e"].values.tolist() == [100, 200] and ds["n_e"].dtype == np.int64
    assert ds["refractory"].values.tolist() == ["exponential", "fixed"]
    assert dict(ds["status"].sizes) == {"tau_m": 2, "n_e": 2, "refractory": 2, "model": 1, "seed": 1}


def test_progress_bar_counts_runs(capsys):
    run(progress=True)
    assert "36/36" in capsys.readouterr().err  # 12 points x (1 dsode + 2 seeds x snn)


def test_run_seed_depends_only_on_label_model_and_point():
    small = run(grid={"p_ei": [0.9]}, seeds=[3, 7])
    big = run(grid={"p_ei": [0.3, 0.9], "s_ee": [0.95]}, seeds=[7])
    # different grids but the same base s_ee (0.95): the point {p_ei: 0.9} gets another key
    assert sw.run_seed(7, "snn", {"p_ei": 0.9}) == int(small["run_seed"].sel(p_ei=0.9, model="snn", seed=7))
    assert sw.run_seed(7, "snn", {"p_ei": 0.9, "s_ee": 0.95}) == \
        int(big["run_seed"].sel(p_ei=0.9, s_ee=0.95, model="snn", seed=7))
    assert sw.run_seed(7, "snn", {"p_ei": 0.9}) != sw.run_seed(7, "markov", {"p_ei": 0.9})
    assert sw.run_seed(7, "snn", {"p_ei": 0.9}) != sw.run_seed(3, "snn", {"p_ei": 0.9})


def test_failing_point_records_error_and_the_rest_completes(tmp_path):
    with pytest.warns(RuntimeWarning, match="did not finish ok.*FloatingPointError: activity diverged"):
        ds = run(tmp_path, model_options={"dsode": {"fail_above": 0.85}, "snn": {"fail_above": 0.85}})
    bad = ds.sel(p_ei=[0.9, 1.0])
    assert (bad["status"] == "FloatingPointError: activity diverged").all()
    assert bad["rate_hz"].isnull().all() and bad["peak_height"].isnull().all()
    good = ds.sel(p_ei=[0.5, 0.6, 0.7, 0.8])
    assert (good["status"] == "ok").all() and good["rate_hz"].notnull().all()
    assert (tmp_path / "sweep.nc").exists()


def test_out_file_matches_and_finished_sweep_resumes_without_work(tmp_path, monkeypatch):
    ds = run(tmp_path)
    assert not (tmp_path / "sweep.nc.journal").exists()
    xr.testing.assert_identical(sw.load_sweep(tmp_path / "sweep.nc"), ds)
    log = tmp_path / "log"
    monkeypatch.setenv(LOG_ENV, str(log))
    again = run(tmp_path, resume=True)
    assert not log.exists()
    xr.testing.assert_identical(again, ds)
    with pytest.raises(sw.SweepError, match="t_end: saved 100.0, now 50.0"):
        run(tmp_path, resume=True, t_end=50.0)


def test_load_sweep_rejects_other_files(tmp_path):
    with pytest.raises(sw.ResultFileError, match="no such sweep file"):
        sw.load_sweep(tmp_path / "missing.nc")
    (tmp_path / "junk.nc").write_text("not netcdf")
    with pytest.raises(sw.ResultFileError, match="cannot read"):
        sw.load_sweep(tmp_path / "junk.nc")


# ------------------------------------------------------------------------- resuming
def interrupted_in_process(tmp_path):
    """A sweep stopped by KeyboardInterrupt raised in its 5th run (serial): a partial journal."""
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, model_options={"dsode": {"interrupt_at": 0.7}})
    journal = tmp_path / "sweep.nc.journal"
    assert count_lines(journal) == 1 + 4 and not (tmp_path / "sweep.nc").exists()
    return journal


def test_resume_refuses_a_different_sweep(tmp_path):
    interrupted_in_process(tmp_path)
    options = {"model_options": {"dsode": {"interrupt_at": 0.7}}}
    with pytest.raises(sw.SweepError, match="unfinished sweep.*resume=True"):
        run(tmp_path, **options)
    with pytest.raises(sw.SweepError, match=r"cannot resume .*grid: saved"):
        run(tmp_path, resume=True, grid={"p_ei": "0.5:1.0:7", "s_ee": [0.9, 0.95]}, **options)
    with pytest.raises(sw.SweepError, match="models: saved"):
        run(tmp_path, resume=True, models=("dsode",), **options)
    with pytest.raises(sw.SweepError, match="seeds: saved"):
        run(tmp_path, resume=True, seeds=3, **options)
    with pytest.raises(sw.SweepError, match="params: saved"):
        run(tmp_path, resume=True, params=BASE.replace(tau_ee=4.0), **options)
    with pytest.raises(sw.SweepError, match="model_options: saved"):
        run(tmp_path, resume=True)


def test_concurrent_sweep_on_the_same_journal_is_refused(tmp_path):
    journal = interrupted_in_process(tmp_path)
    with open(journal, "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(sw.SweepError, match="another sweep is writing"):
            run(tmp_path, resume=True, model_options={"dsode": {"interrupt_at": 0.7}})


def test_resume_cuts_a_torn_last_line(tmp_path, monkeypatch):
    journal = interrupted_in_process(tmp_path)
    with open(journal, "ab") as fh:  # what a kill in the middle of a write leaves
        fh.write(b'{"key": [5, "dsode", null], "record": {"rate_')
    log = tmp_path / "log"
    monkeypatch.setenv(LOG_ENV, str(log))
    # the first run not yet done (p_ei = 0.7) interrupts again: nothing before it is redone
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, resume=True, model_options={"dsode": {"interrupt_at": 0.7}})
    assert count_lines(log) == 1  # only the interrupting run: nothing finished was redone
    assert count_lines(journal) == 1 + 4
    lines = journal.read_bytes().splitlines()
    assert all(json.loads(line) for line in lines)


@pytest.fixture
def sweep_script(tmp_path):
    module = fake_evaluate.__module__
    paths = [str(Path(__file__).parent), str(Path(__file__).parents[1])]

    def script(backend):
        # a child of a background shell job starts with SIGINT ignored: restore Ctrl-C
        return (f"import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler)\n"
                f"sys.path[:0] = {paths!r}\n"
                f"import importlib; mod = importlib.import_module({module!r})\n"
                f"mod.run(mod.Path({str(tmp_path)!r}), grid={{'p_ei': '0.5:1.0:11', 's_ee': [0.9, 0.95]}},"
                f" backend={backend!r}, n_jobs=2)\n")
    return script


def loky_workers(parent):
    """pids of the loky worker processes whose parent is ``parent``."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmd = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == parent and b"LokyProcess" in cmd:
            pids.append(int(stat.parent.name))
    return pids


def alive(pid):
    """Running (a zombie has exited: only its parent, or init, has yet to reap it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("sig, backend", [(signal.SIGINT, "loky"), (signal.SIGKILL, "loky"),
                                          (signal.SIGKILL, "serial")])
def test_killed_sweep_resumes_to_the_identical_dataset(sig, backend, tmp_path, sweep_script,
                                                       monkeypatch):
    journal = tmp_path / "sweep.nc.journal"
    env = {**os.environ, SLEEP_ENV: "0.05", LOG_ENV: str(tmp_path / "killed.log")}
    proc = subprocess.Popen([sys.executable, "-c", sweep_script(backend)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while count_lines(journal) < 1 + 6:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the sweep saved no runs in time"
            time.sleep(0.02)
        workers = loky_workers(proc.pid)
        assert len(workers) == (2 if backend == "loky" else 0)
        os.kill(proc.pid, sig)
        proc.wait(timeout=60)
        err = proc.stderr.read() if sig == signal.SIGINT else b""
        deadline = time.monotonic() + 10  # orphaned workers notice their parent is gone
        while any(alive(pid) for pid in workers):
            assert time.monotonic() < deadline, "loky workers outlived the killed sweep"
            time.sleep(0.05)
    finally:
        proc.stderr.close()
        try:  # whatever else the session we started left behind (loky's resource trackers)
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if sig == signal.SIGINT:
        assert b"resume=True" in err
    assert not (tmp_path / "sweep.nc").exists()
    done = count_lines(journal) - 1
    total = 11 * 2 * (1 + 2)
    assert 6 <= done < total

    grid = {"p_ei": "0.5:1.0:11", "s_ee": [0.9, 0.95]}
    log = tmp_path / "resume.log"
    monkeypatch.setenv(LOG_ENV, str(log))
    resumed = run(tmp_path, grid=grid, resume=True)
    assert count_lines(log) == total - done  # no finished run was recomputed
    assert not journal.exists()
    reference = run(grid=grid)
    xr.testing.assert_identical(comparable(resumed), comparable(reference))
    xr.testing.assert_identical(comparable(sw.load_sweep(tmp_path / "sweep.nc")), comparable(reference))


# ------------------------------------------------------------------------- backends
def test_loky_and_dask_give_the_serial_dataset():
    distributed = pytest.importorskip("distributed")
    serial = run(seeds=3)
    loky = run(seeds=3, backend="loky", n_jobs=2)
    assert loky.attrs["backend"] == "loky"
    xr.testing.assert_identical(comparable(loky), comparable(serial))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  protocol="tcp", host="127.0.0.1",
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        dask = run(seeds=3, backend="dask", scheduler=client)
        assert not client.status == "closed"  # a given client is not closed
        dask_addr = run(seeds=3, backend="dask", scheduler=cluster.scheduler_address)
    assert dask.attrs["backend"] == "dask"
    xr.testing.assert_identical(comparable(dask), comparable(serial))
    xr.testing.assert_identical(comparable(dask_addr), comparable(serial))


def test_missing_dask_is_explained(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ImportError, match=r"pip install 'snnreduce\[dask\]'"):
        run(backend="dask")


# ---------------------------------------------------------------------- real models
def _real_models_available():
    try:
        analysis = importlib.import_module("snnreduce.analysis")
        importlib.import_module("snnreduce.dsode")
        return hasattr(analysis, "summarize") and hasattr(analysis, "peak_sequence")
    except ImportError:
        return False


real = pytest.mark.skipif(not _real_models_available(), reason="dsode/analysis not available yet")
TINY = NetworkParams(n_e=40, n_i=14)


@real
def test_real_dsode_sweep(tmp_path):
    ds = sw.sweep(TINY, {"p_ei": [0.6, 0.8]}, models="dsode,dsode-fs", seeds=2, t_end=300.0,
                  backend="serial", progress=False, out=tmp_path / "real.nc", store_raster=True)
    assert (ds["status"] == "ok").all(), ds["status"].values
    assert np.isfinite(ds["rate_hz"]).all() and (ds["rate_hz"] > 0).all()
    files = {str(f) for f in ds["result_file"].values.ravel()}
    assert len(files) == 2 + 2 * 2
    from snnreduce import load
    one = load(tmp_path / str(ds["result_file"].sel(p_ei=0.8, model="dsode-fs", seed=1).item()))
    assert one.seed == int(ds["run_seed"].sel(p_ei=0.8, model="dsode-fs", seed=1))


@real
def test_batched_dsode_matches_single_runs(monkeypatch):
    import snnreduce.dsode as dsode

    sizes = []
    original = dsode.run_batch

    def spy(params_list, **kwargs):
        sizes.append(len(params_list))
        return original(params_list, **kwargs)

    monkeypatch.setattr(dsode, "run_batch", spy)
    monkeypatch.setattr(sw, "DSODE_POINTS_PER_THREAD", 4)
    grid = {"p_ei": [0.5, 0.7, 0.9, 1.0]}
    batched = sw.sweep(TINY, grid, t_end=200.0, backend="serial", progress=False)
    assert sizes == [4]
    # how points are grouped must not matter, or a resumed sweep would differ
    monkeypatch.setattr(sw, "DSODE_POINTS_PER_THREAD", 3)
    regrouped = sw.sweep(TINY, grid, t_end=200.0, backend="serial", progress=False)
    assert sizes == [4, 3, 1]
    xr.testing.assert_identical(comparable(regrouped), comparable(batched))
    monkeypatch.setattr(sw, "BATCH_DSODE", False)
    single = sw.sweep(TINY, grid, t_end=200.0, backend="serial", progress=False)
    assert sizes == [4, 3, 1]
    assert (single["status"] == "ok").all()
    xr.testing.assert_allclose(comparable(batched), comparable(single), rtol=1e-9)


@real
@pytest.mark.parametrize("model", ["snn", "markov", "surrogate"])
def test_real_network_models(model):
    try:
        from snnreduce.api import ENGINES
        importlib.import_module(ENGINES[{"snn": "stepped"}.get(model, model)].split(":")[0])
    except ImportError:
        pytest.skip(f"{model} engine not available yet")
    ds = sw.sweep(TINY, {"p_ei": [0.7]}, models=model, seeds=2, t_end=200.0, backend="serial",
                  progress=False)
    assert (ds["status"] == "ok").all(), ds["status"].values
    assert (ds["rate_hz"] > 0).all()


@real
def test_a_batch_fallback_is_logged_and_recorded(caplog):
    """No silent fallback: a batch the batched kernel refuses runs point by point, and says so."""
    grid = {"p_ei": [0.6, 0.8]}
    # run_batch has no pending_noise option (it matters for the finite-size noise only)
    with caplog.at_level("WARNING", logger="snnreduce.sweep"):
        ds = sw.sweep(TINY, grid, t_end=300.0, backend="serial", progress=False,
                      model_options={"dsode": {"pending_noise": False}})
    fallbacks = json.loads(ds.attrs["fallbacks"])
    assert len(fallbacks) == 1 and "pending_noise" in fallbacks[0], fallbacks
    assert any("ran one by one" in r.getMessage() for r in caplog.records)
    assert (ds["status"] == "ok").all()  # the single runs accept the option
    plain = sw.sweep(TINY, grid, t_end=300.0, backend="serial", progress=False)
    assert json.loads(plain.attrs["fallbacks"]) == []
    xr.testing.assert_allclose(comparable(ds)[["rate_hz", "ssi"]], comparable(plain)[["rate_hz", "ssi"]])
