"""Running a sweep's jobs: per-run evaluation records, and the serial, joblib (loky) and dask
executors that yield ``(run key, record)`` as runs finish.

A record is plain Python (identical before and after the JSON journal). A run that raises
records its error as its status; a batched dsODE job that fails falls back to one run at a
time, which is logged and noted in each of its records (``"fallback"``, gathered into the
Dataset's ``fallbacks`` attribute).
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..analysis.statistics import SEQUENCES, STATISTICS as _SUMMARY_STATISTICS
from ..params import POPULATIONS, NetworkParams, ParameterError
from ..stimulus import as_stimulus

__all__ = ["Task", "Chunk", "point_statistics", "run_chunk", "Executor", "make_executor", "STATISTICS",
           "PEAK_VARIABLES"]

_log = logging.getLogger("snnreduce.sweep")

#: Per-population statistics stored for every run: variable -> (units, description); generated
#: from the statistics registry (:mod:`snnreduce.analysis.statistics`).
STATISTICS: dict[str, tuple[str, str]] = {
    stat.variable: (stat.units, stat.description) for stat in _SUMMARY_STATISTICS.values()}
#: Ragged per-run sequences, padded with NaN along the "peak" dimension.
PEAK_VARIABLES = {name: (seq.units, seq.description) for name, seq in SEQUENCES.items()}


def point_statistics(result) -> dict:
    """The statistics a sweep stores for one run, from :mod:`snnreduce.analysis`.

    Returns
    -------
    dict
        ``{stat: {"E": x, "I": y}}`` for every name in :data:`STATISTICS`, plus
        ``peak_time_ms`` and ``peak_height`` (1-D sequences, E population) and ``status``.
    """
    from ..analysis import summarize
    from ..analysis.statistics import flatten_summary

    flat = flatten_summary(summarize(result))
    stats = {stat.variable: {q: flat[f"{key}.{q}"] for q in POPULATIONS}
             for key, stat in _SUMMARY_STATISTICS.items()}
    for name, sequence in SEQUENCES.items():
        # a run that stopped early may leave nothing after the discarded transient
        stats[name] = sequence.compute(result) if result.status == "ok" else np.empty(0)
    stats["status"] = result.status
    return stats


def clean_record(raw: dict, wall_time: float) -> dict:
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


def failed_record(exc: BaseException, wall_time: float) -> dict:
    record = {name: [math.nan] * len(POPULATIONS) for name in STATISTICS}
    record.update({name: [] for name in PEAK_VARIABLES})
    message = str(exc).strip().splitlines()
    record["status"] = f"{type(exc).__name__}: {message[0] if message else ''}".rstrip(": ")
    record["wall_time"] = float(wall_time)
    return record


# ---------------------------------------------------------------------------- the jobs
@dataclass(frozen=True)
class Task:
    key: tuple            # (point index, model, seed label or None for deterministic models)
    params: NetworkParams
    seed: int | None      # the run's derived seed
    save_to: str | None
    stimulus: dict | None = None   # the point's stimulus (Stimulus.to_dict), if the sweep has one


@dataclass(frozen=True)
class Chunk:
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


def run_chunk(chunk: Chunk) -> list[tuple[tuple, dict]]:
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
        options = dict(chunk.options)
        if task.stimulus is not None:
            options["stimulus"] = task.stimulus
        try:
            raw = chunk.evaluate(task.params, chunk.model, task.seed, chunk.t_end, options,
                                 **kwargs)
            record = clean_record(raw, time.perf_counter() - start)
        except Exception as exc:
            record = failed_record(exc, time.perf_counter() - start)
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


def _run_dsode_batch(chunk: Chunk) -> list[tuple[tuple, dict]]:
    """Deterministic dsODE points advanced together by :func:`snnreduce.dsode.run_batch`."""
    from ..dsode import run_batch
    from ..result import Result

    start = time.perf_counter()
    params_list = [task.params for task in chunk.tasks]
    extra = {}
    if any(task.stimulus is not None for task in chunk.tasks):   # one stimulus per point
        extra["stimulus"] = [as_stimulus(task.stimulus) for task in chunk.tasks]
    outs = run_batch(params_list, t_end=chunk.t_end, threads=chunk.threads,
                     **{"record": (), **chunk.options}, **extra)
    share = (time.perf_counter() - start) / len(chunk.tasks)
    done = []
    for task, params, out in zip(chunk.tasks, params_list, outs, strict=True):
        result = Result.from_run(out, params=params, engine="dsode", seed=None, t_end=chunk.t_end,
                                 wall_time=share, stimulus=task.stimulus)
        if task.save_to is not None:
            result.save(task.save_to)
        start = time.perf_counter()
        try:
            record = clean_record(point_statistics(result), 0.0)
        except Exception as exc:
            record = failed_record(exc, 0.0)
        record["wall_time"] = share + time.perf_counter() - start
        done.append((task.key, record))
    return done


# ---------------------------------------------------------------------------- executors
@dataclass
class Executor:
    """Where a sweep's jobs run: in this process, or through joblib's ``Parallel`` on its loky
    backend (local processes) or its dask backend (a ``distributed`` cluster).

    Attributes
    ----------
    backend : {"serial", "loky", "dask"}
    n_workers : int
        Processes (loky) or worker threads of the cluster (dask); sizes the dsODE batches.
    client : distributed.Client or None
        The dask client; closed by :meth:`close` only if this executor made it.
    """

    backend: str
    n_workers: int
    client: object = None
    own_client: bool = False

    @property
    def local_batches(self) -> bool:
        """Batched dsODE jobs run in this process, on numba threads (not on a cluster)."""
        return self.backend != "dask"

    def run(self, chunks):
        """Yield ``(run key, record)`` as runs finish, in any order."""
        from joblib import Parallel, delayed, parallel_config

        if self.local_batches:  # dsODE batches: threads in this process
            for chunk in chunks:
                if chunk.batched:
                    yield from run_chunk(chunk)
            chunks = [chunk for chunk in chunks if not chunk.batched]
        if self.backend == "serial" or not chunks:
            for chunk in chunks:
                yield from run_chunk(chunk)
            return
        if self.backend == "loky":
            config = dict(backend="loky", n_jobs=self.n_workers, initializer=_watch_parent,
                          initargs=(os.getpid(),))
        else:
            config = dict(backend="dask", client=self.client, n_jobs=-1)
        with parallel_config(**config):
            parallel = Parallel(return_as="generator_unordered")
            for done in parallel(delayed(run_chunk)(chunk) for chunk in chunks):
                yield from done

    def close(self):
        if self.own_client:
            self.client.close()


def _dask_client(scheduler, n_jobs):
    """``(client, made here?)`` for a scheduler address, a cluster, a Client, or None (a new
    local cluster of ``n_jobs`` single-threaded workers)."""
    try:
        from distributed import Client
    except ImportError:
        raise ImportError("backend='dask' needs dask and distributed: "
                          "pip install 'snnreduce[dask]'") from None
    if isinstance(scheduler, Client):
        return scheduler, False
    if scheduler is None:
        kwargs = {"threads_per_worker": 1}
        if n_jobs not in (None, -1):
            kwargs["n_workers"] = n_jobs
        return Client(**kwargs), True
    return Client(scheduler), True  # an address or a cluster object


def make_executor(backend, n_jobs, scheduler) -> Executor:
    """Validate the execution arguments of :func:`snnreduce.sweep.sweep` and make its executor."""
    if backend not in ("loky", "dask", "serial"):
        raise ParameterError(f"backend must be 'loky', 'dask' or 'serial', got {backend!r}")
    if n_jobs is not None and (isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer))
                               or not (n_jobs >= 1 or n_jobs == -1)):
        raise ParameterError(f"n_jobs must be an integer >= 1, -1 (all cores) or None, got {n_jobs!r}")
    if scheduler is not None and backend != "dask":
        raise ParameterError("scheduler is only used with backend='dask'")
    if backend == "dask":
        client, own = _dask_client(scheduler, n_jobs)
        return Executor("dask", max(1, sum(client.nthreads().values())), client, own)
    if backend == "serial" or n_jobs == 1:
        return Executor("serial", 1)
    import joblib

    return Executor("loky", joblib.cpu_count() if n_jobs in (None, -1) else n_jobs)
