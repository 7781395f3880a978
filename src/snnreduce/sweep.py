"""Parameter sweeps: grids, parallel or distributed execution, crash-safe incremental storage.

The entry point is :func:`sweep`; :func:`parse_grid` turns command-line ``name=values`` strings
into a grid and :func:`load_sweep` reads a finished sweep file. See ``docs/sweeps.md``.

Every run of a sweep is identified by (grid point, model, seed label). Its random seed is derived
from that identity alone (:func:`run_seed`), never from the order in which runs finish, so an
interrupted sweep that is resumed gives exactly the Dataset of an uninterrupted one.

Pathway names in parameter names are **post, pre**: ``p_ei`` is the probability that an I spike
reaches a given E neuron.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import math
import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from . import models as registry
from ._files import atomic_write
from ._version import __version__
from .analysis.statistics import SEQUENCES as _SEQUENCES
from .analysis.statistics import STATISTICS as _SUMMARY_STATISTICS
from .api import check_run_arguments, run_model
from .io import ResultFileError, open_netcdf
from .params import POPULATIONS, NetworkParams, ParameterError, parse_value
from .validation import seed_labels

__all__ = ["sweep", "parse_grid", "load_sweep", "evaluate_point", "run_model", "point_statistics",
           "run_seed", "SweepError", "STATISTICS"]

_log = logging.getLogger(__name__)

FORMAT = "snnreduce-sweep/1"
JOURNAL_FORMAT = "snnreduce-sweep-journal/1"


#: Per-population statistics stored for every run: variable -> (units, description); generated
#: from the statistics registry (:mod:`snnreduce.analysis.statistics`).
STATISTICS: dict[str, tuple[str, str]] = {
    stat.variable: (stat.units, stat.description) for stat in _SUMMARY_STATISTICS.values()}
#: Ragged per-run sequences, padded with NaN along the "peak" dimension.
PEAK_VARIABLES = {name: (seq.units, seq.description) for name, seq in _SEQUENCES.items()}
#: Advance deterministic dsODE points in batches (:func:`snnreduce.dsode.run_batch`); False runs
#: them one by one (same numbers, slower: for checking the batches).
BATCH_DSODE = True
#: Most deterministic dsODE points advanced together in one batched job.
DSODE_CHUNK_MAX = 64
#: Points per thread in a batch advanced in the sweep's own process (small: a kill loses a batch).
DSODE_POINTS_PER_THREAD = 2

_RANGE_DIGITS = 12  # significant digits kept for values generated from "start:stop:num"


class SweepError(ParameterError):
    """A sweep cannot start: e.g. its output holds a different or concurrently running sweep."""


# ----------------------------------------------------------------------------------- grid
def parse_grid(entries: str | Iterable[str]) -> dict[str, list]:
    """Parse command-line grid entries into a grid for :func:`sweep`.

    Parameters
    ----------
    entries : str or iterable of str
        Each ``"name=values"`` where values is a single value (``tau_ee=4``), a comma list
        (``s_ee=0.9,0.95``, ``refractory=exponential,fixed``) or an inclusive range
        ``start:stop:num`` (``p_ei=0.5:1.0:51``, i.e. ``numpy.linspace(0.5, 1.0, 51)``).

    Returns
    -------
    dict of str to list
        Parameter name -> values, in the order given. Names and values are validated
        by :func:`sweep`, not here.

    Raises
    ------
    ParameterError
        On malformed entries or a name given twice.
    """
    if isinstance(entries, str):
        entries = [entries]
    grid: dict[str, list] = {}
    for entry in entries:
        if not isinstance(entry, str) or "=" not in entry:
            raise ParameterError(f"grid entries must look like name=values, got {entry!r}")
        name, _, text = entry.partition("=")
        name = name.strip()
        if not name:
            raise ParameterError(f"grid entry {entry!r} has no parameter name")
        if name in grid:
            raise ParameterError(f"grid parameter {name!r} is given twice")
        grid[name] = _parse_values(name, text.strip())
    return grid


def _parse_values(name: str, text: str) -> list:
    if not text:
        raise ParameterError(f"{name}: no values given")
    if ":" in text:
        parts = text.split(":")
        if len(parts) != 3:
            raise ParameterError(f"{name}: a range is start:stop:num, got {text!r}")
        start, stop = (parse_value(p.strip()) for p in parts[:2])
        num = parse_value(parts[2].strip())
        if not all(isinstance(x, (int, float)) for x in (start, stop)):
            raise ParameterError(f"{name}: range ends must be numbers, got {text!r}")
        if not isinstance(num, int) or num < 1:
            raise ParameterError(f"{name}: the number of range values must be an integer >= 1, "
                                 f"got {parts[2].strip()!r}")
        return [_tidy(v) for v in np.linspace(start, stop, num)]
    values = [parse_value(part.strip()) for part in text.split(",")]
    if any(v == "" for v in values):
        raise ParameterError(f"{name}: empty value in {text!r}")
    return values


def _tidy(value: float):
    # linspace gives 0.5 + 4 * 0.01 = 0.54000000000000004; keep the value users would type,
    # so that ds.sel(p_ei=0.54) works.
    value = float(f"{float(value):.{_RANGE_DIGITS}g}")
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def _normalise_grid(base: NetworkParams, grid) -> dict[str, list]:
    if not isinstance(grid, dict) or not grid:
        raise ParameterError("grid must be a non-empty dict of parameter name -> values")
    out: dict[str, list] = {}
    for name, raw in grid.items():
        if not isinstance(name, str):
            raise ParameterError(f"grid names must be parameter names (str), got {name!r}")
        if isinstance(raw, str):
            raw = _parse_values(name, raw)
        elif isinstance(raw, np.ndarray):
            raw = raw.ravel().tolist()
        elif isinstance(raw, (list, tuple, range)):
            raw = [v.item() if isinstance(v, np.generic) else v for v in raw]
        else:
            raw = [raw.item() if isinstance(raw, np.generic) else raw]
        if not raw:
            raise ParameterError(f"grid parameter {name!r} has no values")
        # NetworkParams.replace names the parameter in its error (unknown name, bad value)
        values = [getattr(base.replace(**{name: v}), name) for v in raw]
        seen = set()
        for v in values:
            if v in seen:
                raise ParameterError(f"grid parameter {name!r} repeats the value {v!r}")
            seen.add(v)
        out[name] = values
    return out


# ------------------------------------------------------------------------------ evaluation
def run_seed(seed: int, model: str, point: dict[str, Any]) -> int:
    """The seed of one run: a stable function of the seed label, model and grid point.

    ``numpy.random.SeedSequence(seed, spawn_key=sha256(model, point))``, so it depends
    neither on completion order nor on the rest of the grid, and differs between models.
    """
    key = json.dumps([model, sorted(point.items())], separators=(",", ":"))
    words = np.frombuffer(hashlib.sha256(key.encode()).digest()[:16], dtype="<u4")
    state = np.random.SeedSequence(seed, spawn_key=tuple(int(w) for w in words))
    return int(state.generate_state(1, np.uint64)[0] >> np.uint64(1))


def point_statistics(result) -> dict:
    """The statistics a sweep stores for one run, from :mod:`snnreduce.analysis`.

    Returns
    -------
    dict
        ``{stat: {"E": x, "I": y}}`` for every name in :data:`STATISTICS`, plus
        ``peak_time_ms`` and ``peak_height`` (1-D sequences, E population) and ``status``.
    """
    from .analysis import summarize
    from .analysis.statistics import flatten_summary

    flat = flatten_summary(summarize(result))
    stats = {stat.variable: {q: flat[f"{key}.{q}"] for q in POPULATIONS}
             for key, stat in _SUMMARY_STATISTICS.items()}
    for name, sequence in _SEQUENCES.items():
        # a run that stopped early may leave nothing after the discarded transient
        stats[name] = sequence.compute(result) if result.status == "ok" else np.empty(0)
    stats["status"] = result.status
    return stats


def evaluate_point(params: NetworkParams, model: str, seed: int | None, t_end: float,
                   options: dict | None, *, save_to: str | None = None) -> dict:
    """Run one (point, model, seed) and return its statistics (see :func:`point_statistics`).

    This is the per-run function of :func:`sweep`; pass ``evaluate=`` to substitute another
    with the same signature and return keys. ``save_to``: if given, also save the full
    :class:`~snnreduce.Result` (spikes included) to that NetCDF path.
    """
    result = run_model(params, model, seed=seed, t_end=t_end, options=options)
    if save_to is not None:
        result.save(save_to)
    return point_statistics(result)


def _clean(raw: dict, wall_time: float) -> dict:
    """A run's record in plain Python types (identical before and after the JSON journal)."""
    record = {name: [_as_float(raw[name][q]) for q in POPULATIONS] for name in STATISTICS}
    for name in PEAK_VARIABLES:
        record[name] = [_as_float(x) for x in np.asarray(raw.get(name, ()), dtype=float).ravel()]
    record["status"] = str(raw.get("status", "ok"))
    record["wall_time"] = float(wall_time)
    return record


def _fallback_note(exc: BaseException) -> str:
    message = str(exc).strip().splitlines()
    return (f"batched dsODE failed ({type(exc).__name__}: {message[0] if message else ''}); "
            "its points ran one by one")


def _as_float(x) -> float:
    return float("nan") if x is None else float(x)


def _failed(exc: BaseException, wall_time: float) -> dict:
    record = {name: [math.nan] * len(POPULATIONS) for name in STATISTICS}
    record.update({name: [] for name in PEAK_VARIABLES})
    message = str(exc).strip().splitlines()
    record["status"] = f"{type(exc).__name__}: {message[0] if message else ''}".rstrip(": ")
    record["wall_time"] = float(wall_time)
    return record


# ---------------------------------------------------------------------------- the tasks
@dataclass(frozen=True)
class _Task:
    key: tuple            # (point index, model, seed label or None for deterministic models)
    params: NetworkParams
    seed: int | None      # the run's derived seed
    save_to: str | None


@dataclass(frozen=True)
class _Chunk:
    """Runs of one model executed by one job.

    ``batched``: deterministic dsODE points advanced together by ``run_batch`` with ``threads``
    numba threads.
    """
    model: str
    tasks: tuple
    t_end: float
    options: dict
    evaluate: Callable
    batched: bool = False
    threads: int = 1


def _run_chunk(chunk: _Chunk) -> list[tuple[tuple, dict]]:
    """Worker side: run every task of the chunk; a failing run records its error."""
    note = None
    if chunk.batched:
        try:
            return _run_dsode_batch(chunk)
        except Exception as exc:  # e.g. an option run_batch lacks: each run records its own error
            note = _fallback_note(exc)
            _log.warning("sweep: %s", note)
    done = []
    for task in chunk.tasks:
        start = time.perf_counter()
        kwargs = {} if task.save_to is None else {"save_to": task.save_to}
        try:
            raw = chunk.evaluate(task.params, chunk.model, task.seed, chunk.t_end,
                                 dict(chunk.options), **kwargs)
            record = _clean(raw, time.perf_counter() - start)
        except Exception as exc:
            record = _failed(exc, time.perf_counter() - start)
        if note is not None:
            record["fallback"] = note
        done.append((task.key, record))
    return done


def _watch_parent(parent_pid: int) -> None:
    """loky worker initializer: exit soon after the sweep's process dies (e.g. SIGKILL).

    Orphaned workers would otherwise finish their runs for nobody and then idle for minutes,
    competing with the sweep the user resumes.
    """
    if os.getppid() != parent_pid:
        return
    import threading

    def watch():
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="snnreduce-parent-watch", daemon=True).start()


def _run_dsode_batch(chunk: _Chunk) -> list[tuple[tuple, dict]]:
    """Deterministic dsODE points advanced together by :func:`snnreduce.dsode.run_batch`."""
    from .dsode import run_batch
    from .result import Result

    start = time.perf_counter()
    params_list = [task.params for task in chunk.tasks]
    outs = run_batch(params_list, t_end=chunk.t_end, threads=chunk.threads,
                     **{"record": (), **chunk.options})
    share = (time.perf_counter() - start) / len(chunk.tasks)
    done = []
    for task, params, out in zip(chunk.tasks, params_list, outs, strict=True):
        result = Result.from_run(out, params=params, engine="dsode", seed=None, t_end=chunk.t_end,
                                 wall_time=share)
        if task.save_to is not None:
            result.save(task.save_to)
        start = time.perf_counter()
        try:
            record = _clean(point_statistics(result), 0.0)
        except Exception as exc:
            record = _failed(exc, 0.0)
        record["wall_time"] = share + time.perf_counter() - start
        done.append((task.key, record))
    return done


# ---------------------------------------------------------------------------- the spec
@dataclass(frozen=True)
class _Spec:
    base: NetworkParams
    grid: dict
    models: tuple
    seeds: tuple
    t_end: float
    model_options: dict
    evaluate: Callable
    store_raster: bool
    out: Path | None
    points: list = field(repr=False)

    @property
    def evaluator(self) -> str:
        return f"{getattr(self.evaluate, '__module__', '?')}:{getattr(self.evaluate, '__qualname__', '?')}"

    def manifest(self) -> dict:
        """What identifies the sweep's results; a resume must match it exactly."""
        return json.loads(json.dumps({
            "params": self.base.to_dict(), "grid": self.grid, "models": list(self.models),
            "seeds": list(self.seeds), "t_end": self.t_end, "model_options": self.model_options,
            "evaluator": self.evaluator, "store_raster": self.store_raster,
        }))

    def tasks(self) -> list[_Task]:
        names = list(self.grid)
        tasks = []
        for model in self.models:
            labels = [None] if registry.get(model).deterministic else self.seeds
            for index, (combo, params) in enumerate(self.points):
                point = dict(zip(names, combo))
                for label in labels:
                    seed = None if label is None else run_seed(label, model, point)
                    tasks.append(_Task((index, model, label), params, seed,
                                       self._raster_path((index, model, label))))
        return tasks

    def raster_name(self, key) -> str:
        index, model, label = key
        suffix = "" if label is None else f"_s{label}"
        return f"{self.out.name}.results/{model}/p{index:06d}{suffix}.nc"

    def _raster_path(self, key) -> str | None:
        if not self.store_raster:
            return None
        return str(self.out.parent / self.raster_name(key))


def _build_spec(params, grid, models, seeds, t_end, model_options, evaluate, store_raster,
                out) -> _Spec:
    if not isinstance(params, NetworkParams):
        raise ParameterError(f"params must be a NetworkParams, got {type(params).__name__}")
    t_end = check_run_arguments(params, t_end)
    grid = _normalise_grid(params, grid)

    if isinstance(models, str):
        models = [m.strip() for m in models.split(",")]
    models = tuple(models)
    if not models:
        raise ParameterError("models must name at least one model")
    for model in models:
        if model not in registry.MODELS:
            raise ParameterError(f"models must be among {', '.join(registry.MODELS)}; got {model!r}")
    if len(set(models)) != len(models):
        raise ParameterError(f"models repeat a name: {', '.join(models)}")

    seeds = seed_labels(seeds)

    model_options = {} if model_options is None else model_options
    if not isinstance(model_options, dict):
        raise ParameterError("model_options must be a dict of model name -> dict of options")
    for model, opts in model_options.items():
        if model not in models:
            raise ParameterError(f"model_options names {model!r}, which is not among the sweep's "
                                 f"models ({', '.join(models)})")
        if not isinstance(opts, dict):
            raise ParameterError(f"model_options[{model!r}] must be a dict, got {type(opts).__name__}")
    try:
        model_options = json.loads(json.dumps(model_options))
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"model_options must be JSON-serialisable ({exc})") from None

    if evaluate is None:
        evaluate = evaluate_point
    elif not callable(evaluate):
        raise ParameterError(f"evaluate must be callable, got {evaluate!r}")
    if store_raster and out is None:
        raise ParameterError("store_raster=True needs out= (the runs are saved beside it)")
    names = list(grid)
    points = [(combo, params.replace(**dict(zip(names, combo))))
              for combo in itertools.product(*grid.values())]
    return _Spec(params, grid, models, seeds, t_end, model_options, evaluate,
                 bool(store_raster), None if out is None else Path(out), points)


# ---------------------------------------------------------------------------- the journal
class _Journal:
    """Append-only JSON-lines file ``<out>.journal``: a header, then one line per finished run.

    Only the parent process writes it, one ``write`` + ``flush`` per line, so a killed sweep
    leaves at most a truncated last line, which :meth:`open` cuts off. An exclusive
    ``flock`` keeps two sweeps from writing the same journal.
    """

    def __init__(self, path: Path, handle):
        self.path = path
        self.handle = handle

    @classmethod
    def open(cls, path: Path, manifest: dict, resume: bool) -> tuple["_Journal", dict]:
        if path.exists():
            if not resume:
                raise SweepError(
                    f"{path} holds an unfinished sweep; pass resume=True (CLI: --resume) to "
                    f"continue it, or delete {path} to start over")
            handle = open(path, "r+b")
            try:
                cls._lock(handle, path)
                header, records, good_end = cls._read(handle)
                if header is not None:
                    _check_resumable(header, manifest, path)
            except BaseException:
                handle.close()
                raise
            # cut a line torn by a kill; a torn header means nothing was saved yet
            handle.seek(good_end)
            handle.truncate()
            if header is not None:
                return cls(path, handle), records
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                handle = open(path, "x+b")
            except FileExistsError:  # created since the check above
                raise SweepError(f"another sweep is writing {path}; wait for it or use another out") from None
            try:
                cls._lock(handle, path)
            except BaseException:
                handle.close()
                raise
        line = json.dumps({"format": JOURNAL_FORMAT, "version": __version__, "spec": manifest})
        handle.write(line.encode() + b"\n")
        handle.flush()
        return cls(path, handle), {}

    @staticmethod
    def _lock(handle, path):
        try:
            import fcntl
        except ImportError:  # not POSIX: no protection against concurrent sweeps
            return
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise SweepError(f"another sweep is writing {path}; wait for it or use another out") from None

    @staticmethod
    def _read(handle):
        handle.seek(0)
        data = handle.read()
        header, records, good_end, pos = None, {}, 0, 0
        while True:
            end = data.find(b"\n", pos)
            if end < 0:  # a last line without newline was cut short by a kill
                break
            try:
                entry = json.loads(data[pos:end])
            except ValueError:
                entry = None
            if header is None:
                if not isinstance(entry, dict) or entry.get("format") != JOURNAL_FORMAT:
                    return None, {}, 0
                header = entry
            elif isinstance(entry, dict) and "key" in entry:
                index, model, label = entry["key"]
                records.setdefault((index, model, label), entry["record"])
            pos = good_end = end + 1
        return header, records, good_end

    def append(self, key, record) -> None:
        line = json.dumps({"key": list(key), "record": record})
        self.handle.write(line.encode() + b"\n")
        self.handle.flush()

    def close(self) -> None:
        if not self.handle.closed:
            self.handle.flush()
            os.fsync(self.handle.fileno())
            self.handle.close()

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
        self.handle.close()


def _check_resumable(header: dict, manifest: dict, where) -> None:
    saved = header.get("spec", {})
    differ = [k for k in manifest if saved.get(k) != manifest[k]]
    if differ:
        details = "; ".join(f"{k}: saved {_short(saved.get(k))}, now {_short(manifest[k])}"
                            for k in differ)
        raise SweepError(f"cannot resume {where}: the sweep there differs ({details}); "
                         f"use another out, or delete it to start over")
    if header.get("version") not in (None, __version__):
        warnings.warn(f"resuming a sweep started with snnreduce {header.get('version')} "
                      f"under {__version__}", RuntimeWarning, stacklevel=4)


def _short(value, limit=120) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ---------------------------------------------------------------------------- execution
def _make_chunks(spec: _Spec, tasks: list[_Task], executor) -> list[_Chunk]:
    """Group runs into jobs: one run each, except batches of deterministic dsODE points.

    Batches run in the sweep's process with one numba thread per worker when the executor is
    local (cheaper than starting processes for them), else one batch per worker.
    """
    chunks = []
    batch = BATCH_DSODE and spec.evaluate is evaluate_point
    for model in spec.models:
        mine = [t for t in tasks if t.key[1] == model]
        if not mine:
            continue
        options = spec.model_options.get(model, {})
        entry = registry.get(model)
        if batch and entry.engine == "dsode" and entry.deterministic:  # the batched kernel
            if executor.local_batches:
                threads = executor.n_workers
                size = min(DSODE_CHUNK_MAX, DSODE_POINTS_PER_THREAD * threads)
            else:
                threads = 1
                size = min(DSODE_CHUNK_MAX, math.ceil(len(mine) / executor.n_workers))
            for i in range(0, len(mine), size):
                chunks.append(_Chunk(model, tuple(mine[i:i + size]), spec.t_end, options,
                                     spec.evaluate, batched=True, threads=threads))
        else:
            chunks += [_Chunk(model, (t,), spec.t_end, options, spec.evaluate) for t in mine]
    return chunks


class _Serial:
    n_workers = 1
    local_batches = True

    def run(self, chunks):
        for chunk in chunks:
            yield from _run_chunk(chunk)

    def close(self):
        pass


class _Loky:
    local_batches = True

    def __init__(self, n_jobs):
        import joblib

        self.n_workers = joblib.cpu_count() if n_jobs in (None, -1) else n_jobs

    def run(self, chunks):
        from joblib import Parallel, delayed

        for chunk in chunks:  # dsODE batches: threads in this process
            if chunk.batched:
                yield from _run_chunk(chunk)
        chunks = [chunk for chunk in chunks if not chunk.batched]
        if not chunks:
            return
        parallel = Parallel(n_jobs=self.n_workers, backend="loky", return_as="generator_unordered",
                            initializer=_watch_parent, initargs=(os.getpid(),))
        for done in parallel(delayed(_run_chunk)(chunk) for chunk in chunks):
            yield from done

    def close(self):
        pass


class _Dask:
    local_batches = False

    def __init__(self, scheduler, n_jobs):
        try:
            from distributed import Client
        except ImportError:
            raise ImportError("backend='dask' needs dask and distributed: "
                              "pip install 'snnreduce[dask]'") from None
        self.own = not isinstance(scheduler, Client)
        if scheduler is None:
            kwargs = {"threads_per_worker": 1}
            if n_jobs not in (None, -1):
                kwargs["n_workers"] = n_jobs
            self.client = Client(**kwargs)
        elif self.own:
            self.client = Client(scheduler)  # an address or a cluster object
        else:
            self.client = scheduler
        self.n_workers = max(1, sum(self.client.nthreads().values()))

    def run(self, chunks):
        from distributed import as_completed

        futures = [self.client.submit(_run_chunk, chunk, pure=False) for chunk in chunks]
        try:
            for future in as_completed(futures):
                done = future.result()
                future.release()
                yield from done
        finally:
            self.client.cancel([f for f in futures if not f.done()])

    def close(self):
        if self.own:
            self.client.close()


def _executor(backend, n_jobs, scheduler):
    if backend not in ("loky", "dask", "serial"):
        raise ParameterError(f"backend must be 'loky', 'dask' or 'serial', got {backend!r}")
    if n_jobs is not None and (isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer))
                               or not (n_jobs >= 1 or n_jobs == -1)):
        raise ParameterError(f"n_jobs must be an integer >= 1, -1 (all cores) or None, got {n_jobs!r}")
    if scheduler is not None and backend != "dask":
        raise ParameterError("scheduler is only used with backend='dask'")
    if backend == "dask":
        return _Dask(scheduler, n_jobs)
    if backend == "serial" or n_jobs == 1:
        return _Serial()
    return _Loky(n_jobs)


# ------------------------------------------------------------------------------ the sweep
def sweep(params: NetworkParams, grid: dict, models=("dsode",), seeds=1, t_end: float = 2000.0,
          backend: str = "loky", n_jobs: int | None = None, scheduler=None, out=None,
          resume: bool = False, progress: bool = True, store_raster: bool = False,
          model_options: dict | None = None, *, evaluate: Callable | None = None):
    """Run models over a grid of parameter values and collect their statistics.

    Parameters
    ----------
    params : NetworkParams
        Base network; every grid point is ``params.replace(**point)``. Pathways post-pre.
    grid : dict of str to values
        Parameter name -> a list, a numpy array, a single value, or an inclusive range string
        ``"start:stop:num"``. Several names give their Cartesian product (first name outermost).
        Every value is validated before any run starts.
    models : sequence of str or comma-separated str
        Among "snn" (stepped engine), "markov", "surrogate", "dsode" (deterministic
        reduction) and "dsode-fs" (finite-size noise).
    seeds : int or list of int
        ``n`` means seed labels ``0 .. n-1``. Each run's seed is derived from (label, model,
        point) by :func:`run_seed` and stored in ``run_seed``. Deterministic "dsode" runs
        once per point; its values are broadcast along ``seed``.
    t_end : float
        Simulated time of every run, ms.
    backend : {"loky", "dask", "serial"}
        loky: local processes (joblib). dask: a dask.distributed cluster. serial: in process.
    n_jobs : int, optional
        Local processes (loky; None or -1: all cores) or workers of a new local dask cluster.
    scheduler : str, Client or cluster, optional
        For ``backend="dask"``: a scheduler address, a cluster, or a ``distributed.Client``
        (used as is, not closed). None starts a local cluster.
    out : path, optional
        NetCDF file to write (atomically) when the sweep ends. While it runs, finished runs
        are appended to ``<out>.journal``, removed once ``out`` is written.
    resume : bool
        Continue the sweep in ``<out>.journal`` without recomputing its finished runs (or
        return ``out`` if it is already complete). Refused if the grid, models, seeds,
        t_end, base params or options differ.
    progress : bool
        Show a progress bar with ETA on stderr.
    store_raster : bool
        Also save every run's full Result (spikes included) under ``<out>.results/``; the
        ``result_file`` variable gives each path relative to the directory of ``out``.
    model_options : dict, optional
        Model name -> options passed to :func:`snnreduce.simulate` / :func:`snnreduce.reduce`,
        e.g. ``{"snn": {"drive": "poisson"}}``.
    evaluate : callable, optional
        Substitute for :func:`evaluate_point` (same signature and return keys).

    Returns
    -------
    xarray.Dataset
        Dimensions: one per grid parameter, ``model``, ``seed``, and where relevant
        ``population`` (E, I) and ``peak``. Variables: the :data:`STATISTICS` (per
        population), ``peak_time_ms`` and ``peak_height`` (NaN-padded), ``status`` ("ok" or
        the error), ``wall_time`` (s) and ``run_seed`` (-1 for deterministic runs).

    Raises
    ------
    ParameterError
        Invalid arguments or grid values (nothing is run).
    SweepError
        ``out`` holds a different or unfinished sweep and ``resume`` does not apply.
    """
    if resume and out is None:
        raise ParameterError("resume=True needs out= (the file of the sweep to resume)")
    spec = _build_spec(params, grid, models, seeds, t_end, model_options, evaluate,
                       store_raster, out)
    executor = _executor(backend, n_jobs, scheduler)
    try:
        return _sweep(spec, executor, backend, resume, progress)
    finally:
        executor.close()


def _sweep(spec: _Spec, executor, backend: str, resume: bool, progress: bool):
    manifest = spec.manifest()
    journal, records = None, {}
    if spec.out is not None:
        journal_path = spec.out.with_name(spec.out.name + ".journal")
        if resume and not journal_path.exists() and spec.out.exists():
            finished = load_sweep(spec.out)
            _check_resumable({"spec": json.loads(finished.attrs["spec"]),
                              "version": finished.attrs.get("version")}, manifest, spec.out)
            return finished
        journal, records = _Journal.open(journal_path, manifest, resume)
    tasks = spec.tasks()
    pending = [t for t in tasks if t.key not in records]
    if spec.store_raster:
        for model in spec.models:
            (spec.out.parent / f"{spec.out.name}.results" / model).mkdir(parents=True, exist_ok=True)

    from tqdm.auto import tqdm

    bar = tqdm(total=len(tasks), initial=len(tasks) - len(pending), desc="sweep", unit="run",
               disable=not progress, file=sys.stderr, dynamic_ncols=True)
    try:
        for key, record in executor.run(_make_chunks(spec, pending, executor)):
            records[key] = record
            if journal is not None:
                journal.append(key, record)
            bar.update()
    except BaseException:
        bar.close()
        if journal is not None:
            journal.close()
            print(f"sweep stopped: {len(records)} of {len(tasks)} runs saved in {journal.path}; "
                  f"resume=True (CLI: --resume) continues it", file=sys.stderr)
        raise
    bar.close()

    ds = _assemble(spec, tasks, records, backend)
    if spec.out is not None:
        atomic_write(spec.out, lambda tmp: ds.to_netcdf(tmp, engine="h5netcdf"))
        journal.remove()
    _warn_failures(spec, tasks, records)
    return ds


def _warn_failures(spec: _Spec, tasks: list[_Task], records: dict) -> None:
    bad = [t for t in tasks if records[t.key]["status"] != "ok"]
    if bad:
        index, model, label = bad[0].key
        where = {**dict(zip(spec.grid, spec.points[index][0])), "model": model, "seed": label}
        warnings.warn(f"{len(bad)} of {len(tasks)} runs did not finish ok; first at {where}: "
                      f"{records[bad[0].key]['status']}", RuntimeWarning, stacklevel=3)


def _assemble(spec: _Spec, tasks: list[_Task], records: dict, backend: str):
    """The Dataset of a sweep from its records; independent of completion order."""
    import xarray as xr

    names = list(spec.grid)
    grid_shape = tuple(len(v) for v in spec.grid.values())
    n_points, n_models, n_seeds = len(spec.points), len(spec.models), len(spec.seeds)
    n_pop = len(POPULATIONS)
    n_peak = max((len(r["peak_height"]) for r in records.values()), default=0)
    model_index = {m: i for i, m in enumerate(spec.models)}
    seed_index = {s: i for i, s in enumerate(spec.seeds)}

    stats = {name: np.full((n_points, n_models, n_seeds, n_pop), np.nan) for name in STATISTICS}
    peaks = {name: np.full((n_points, n_models, n_seeds, n_peak), np.nan) for name in PEAK_VARIABLES}
    status = np.full((n_points, n_models, n_seeds), "not run", dtype=object)
    wall = np.full((n_points, n_models, n_seeds), np.nan)
    seeds = np.full((n_points, n_models, n_seeds), -1, dtype=np.int64)
    files = np.full((n_points, n_models, n_seeds), "", dtype=object)
    for task in tasks:
        index, model, label = task.key
        m = model_index[model]
        s = slice(None) if label is None else seed_index[label]
        if task.seed is not None:
            seeds[index, m, s] = task.seed
        record = records.get(task.key)
        if record is None:
            continue
        for name in STATISTICS:
            stats[name][index, m, s] = record[name]
        for name in PEAK_VARIABLES:
            values = record[name]
            peaks[name][index, m, s, : len(values)] = values
        status[index, m, s] = record["status"]
        wall[index, m, s] = record["wall_time"]
        if spec.store_raster:
            files[index, m, s] = spec.raster_name(task.key)

    run_dims = (*names, "model", "seed")
    shape = (*grid_shape, n_models, n_seeds)
    data = {}
    for name, (units, text) in STATISTICS.items():
        data[name] = xr.Variable((*run_dims, "population"), stats[name].reshape(*shape, n_pop),
                                 {"units": units, "long_name": text})
    for name, (units, text) in PEAK_VARIABLES.items():
        data[name] = xr.Variable((*run_dims, "peak"), peaks[name].reshape(*shape, n_peak),
                                 {"units": units, "long_name": text})
    data["status"] = xr.Variable(run_dims, status.reshape(shape).astype(str),
                                 {"long_name": "'ok', or why the run failed"})
    data["wall_time"] = xr.Variable(run_dims, wall.reshape(shape),
                                    {"units": "s", "long_name": "wall time of the run "
                                     "(a batched dsODE chunk's time is shared equally)"})
    data["run_seed"] = xr.Variable(run_dims, seeds.reshape(shape),
                                   {"long_name": "seed of the run's random stream "
                                    "(-1: deterministic, computed once and broadcast along seed)"})
    if spec.store_raster:
        data["result_file"] = xr.Variable(run_dims, files.reshape(shape).astype(str),
                                          {"long_name": "full Result of the run, relative to "
                                           "the directory of this file"})
    coords = {name: np.asarray(values) for name, values in spec.grid.items()}
    coords.update(model=np.asarray(spec.models), seed=np.asarray(spec.seeds, dtype=np.int64),
                  population=np.asarray(POPULATIONS), peak=np.arange(n_peak, dtype=np.int64))
    manifest = spec.manifest()
    # fallbacks taken while running (logged when they happened), recorded with the results
    fallbacks = sorted({r["fallback"] for r in records.values() if "fallback" in r})
    attrs = {
        "format": FORMAT,
        "params": spec.base.to_json(),
        "grid": json.dumps(manifest["grid"]),
        "models": json.dumps(manifest["models"]),
        "seeds": json.dumps(manifest["seeds"]),
        "t_end": spec.t_end,
        "model_options": json.dumps(manifest["model_options"], sort_keys=True),
        "evaluator": spec.evaluator,
        "peak_population": "E",
        "version": __version__,
        "backend": backend,
        "spec": json.dumps(manifest, sort_keys=True),
        "fallbacks": json.dumps(fallbacks),
    }
    return xr.Dataset(data, coords=coords, attrs=attrs)


def load_sweep(path):
    """Read a sweep file written by :func:`sweep`.

    Raises
    ------
    ResultFileError
        If the file is missing, unreadable, or not a sweep.
    """
    ds = open_netcdf(path, "sweep file")
    if ds.attrs.get("format") != FORMAT:
        raise ResultFileError(f"{path} is not an snnreduce sweep (format {ds.attrs.get('format')!r})")
    return ds
