"""Parameter sweeps: grids, parallel or distributed execution, crash-safe incremental storage.

The entry point is :func:`sweep`; :func:`parse_grid` turns command-line ``name=values`` strings
into a grid and :func:`load_sweep` reads a finished sweep file. See ``docs/sweeps.md``.

Every run of a sweep is identified by (grid point, model, seed label). Its random seed is derived
from that identity alone (:func:`run_seed`), never from the order in which runs finish, so an
interrupted sweep that is resumed gives exactly the Dataset of an uninterrupted one.

This module holds the entry point, the sweep's identity and the planning of its jobs; the work
is split by job in :mod:`snnreduce.sweeps` (grid, journal, execution, assembly).

Pathway names in parameter names are **post, pre**: ``p_ei`` is the probability that an I spike
reaches a given E neuron.
"""

from __future__ import annotations

import itertools
import json
import math
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from . import models as registry
from ._files import atomic_write
from .api import check_run_arguments, run_model
from .io import ResultFileError
from .params import NetworkParams, ParameterError
from .resources import check_sweep
from .sweeps.assembly import FORMAT, assemble, load_sweep
from .sweeps.execution import (PEAK_VARIABLES, STATISTICS, Chunk, Task, make_executor,
                               point_statistics)
from .stimulus import Stimulus, as_stimulus
from .sweeps.grid import is_stimulus_name, normalise_grid, parse_grid, point_stimulus, run_seed
from .sweeps.journal import Journal, SweepError, check_resumable
from .validation import seed_labels

__all__ = ["sweep", "parse_grid", "load_sweep", "evaluate_point", "run_model", "point_statistics",
           "run_seed", "SweepError", "ResultFileError", "STATISTICS", "PEAK_VARIABLES", "FORMAT"]

#: Advance deterministic dsODE points in batches (:func:`snnreduce.dsode.run_batch`); False runs
#: them one by one (same numbers, slower: for checking the batches).
BATCH_DSODE = True
#: Most deterministic dsODE points advanced together in one batched job.
DSODE_CHUNK_MAX = 64
#: Points per thread in a batch advanced in the sweep's own process (small: a kill loses a batch).
DSODE_POINTS_PER_THREAD = 2


def evaluate_point(params: NetworkParams, model: str, seed: int | None, t_end: float,
                   options: dict | None, *, save_to: str | None = None) -> dict:
    """Run one (point, model, seed) and return its statistics (see :func:`point_statistics`).

    This is the per-run function of :func:`sweep`; pass ``evaluate=`` to substitute another
    with the same signature and return keys. ``save_to``: if given, also save the full
    :class:`~snnreduce.Result` (spikes included) to that NetCDF path. The run's own memory
    check is off unless ``options`` turn it on: :func:`sweep` checks all its runs at once.
    """
    options = {"check_memory": False, **(options or {})}
    result = run_model(params, model, seed=seed, t_end=t_end, options=options)
    if save_to is not None:
        result.save(save_to)
    return point_statistics(result)


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
    stimulus: Stimulus | None = None
    #: each point's stimulus (to_dict), in the order of ``points``; empty without a stimulus
    point_stimuli: list = field(default_factory=list, repr=False)

    @property
    def evaluator(self) -> str:
        return f"{getattr(self.evaluate, '__module__', '?')}:{getattr(self.evaluate, '__qualname__', '?')}"

    def manifest(self) -> dict:
        """What identifies the sweep's results; a resume must match it exactly."""
        manifest = {
            "params": self.base.to_dict(), "grid": self.grid, "models": list(self.models),
            "seeds": list(self.seeds), "t_end": self.t_end, "model_options": self.model_options,
            "evaluator": self.evaluator, "store_raster": self.store_raster,
        }
        if self.stimulus is not None:  # absent otherwise: journals of older sweeps still resume
            manifest["stimulus"] = self.stimulus.to_dict()
        return json.loads(json.dumps(manifest))

    def tasks(self) -> list[Task]:
        names = list(self.grid)
        tasks = []
        for model in self.models:
            labels = [None] if registry.get(model).deterministic else self.seeds
            for index, (combo, params) in enumerate(self.points):
                point = dict(zip(names, combo))
                for label in labels:
                    seed = None if label is None else run_seed(label, model, point)
                    tasks.append(Task((index, model, label), params, seed,
                                      self._raster_path((index, model, label)),
                                      self.point_stimuli[index] if self.point_stimuli else None))
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
                out, stimulus=None) -> _Spec:
    if not isinstance(params, NetworkParams):
        raise ParameterError(f"params must be a NetworkParams, got {type(params).__name__}")
    t_end = check_run_arguments(params, t_end)
    stimulus = as_stimulus(stimulus)
    grid = normalise_grid(params, grid, stimulus)

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
    points, point_stimuli = [], []
    for combo in itertools.product(*grid.values()):
        point = dict(zip(names, combo))
        p = params.replace(**{k: v for k, v in point.items() if not is_stimulus_name(k)})
        points.append((combo, p))
        if stimulus is not None:  # every point's stimulus checked before any run starts
            here = point_stimulus(stimulus, point)
            here.check(p, t_end)
            point_stimuli.append(here.to_dict())
    return _Spec(params, grid, models, seeds, t_end, model_options, evaluate,
                 bool(store_raster), None if out is None else Path(out), points, stimulus,
                 point_stimuli)


# ---------------------------------------------------------------------------- the jobs
def _make_chunks(spec: _Spec, tasks: list[Task], executor) -> list[Chunk]:
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
                chunks.append(Chunk(model, tuple(mine[i:i + size]), spec.t_end, options,
                                     spec.evaluate, batched=True, threads=threads))
        else:
            chunks += [Chunk(model, (t,), spec.t_end, options, spec.evaluate) for t in mine]
    return chunks


# ------------------------------------------------------------------------------ the sweep
def sweep(params: NetworkParams, grid: dict, models=("dsode",), seeds=1, t_end: float = 2000.0,
          backend: str = "loky", n_jobs: int | None = None, scheduler=None, out=None,
          resume: bool = False, progress: bool = True, store_raster: bool = False,
          model_options: dict | None = None, *, evaluate: Callable | None = None,
          check_memory: bool = True, stimulus=None):
    """Run models over a grid of parameter values and collect their statistics.

    Parameters
    ----------
    params : NetworkParams
        Base network; every grid point is ``params.replace(**point)``. Pathways post-pre.
    grid : dict of str to values
        Parameter name -> a list, a numpy array, a single value, or an inclusive range string
        ``"start:stop:num"``. Several names give their Cartesian product (first name outermost).
        A name ``stimulus.<POP>.<shape>.<field>`` (``stimulus.E.sine.hz``; the names are
        :meth:`Stimulus.values() <snnreduce.stimulus.Stimulus.values>`) sweeps a field of
        ``stimulus``. Every value is validated before any run starts.
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
    stimulus : Stimulus, str, list of str or dict, optional
        The external drive of every run (docs/stimuli.md), changed at each point by the
        grid's stimulus names; stored in the file's ``stimulus`` attribute.
    check_memory : bool
        Refuse (ParameterError) a sweep whose memory estimate (the runs executing at once and
        the statistics it keeps; docs/resources.md) exceeds the available memory, or whose
        ``store_raster`` files exceed the free disk space. False skips both checks.

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
        Invalid arguments or grid values, an empty grid, ``t_end`` not longer than the
        discarded transient, or not enough memory (nothing is run).
    SweepError
        ``out`` holds a different or unfinished sweep and ``resume`` does not apply.
    """
    if resume and out is None:
        raise ParameterError("resume=True needs out= (the file of the sweep to resume)")
    spec = _build_spec(params, grid, models, seeds, t_end, model_options, evaluate,
                       store_raster, out, stimulus)
    check_sweep([p for _, p in spec.points], spec.models, seeds=len(spec.seeds), t_end=spec.t_end,
                model_options=spec.model_options, backend=backend, n_jobs=n_jobs,
                scheduler=scheduler, store_raster=spec.store_raster, out=spec.out,
                default_evaluator=spec.evaluate is evaluate_point, check_memory=check_memory,
                dsode_batch=(DSODE_CHUNK_MAX, DSODE_POINTS_PER_THREAD))
    executor = make_executor(backend, n_jobs, scheduler)
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
            check_resumable({"spec": json.loads(finished.attrs["spec"]),
                              "version": finished.attrs.get("version")}, manifest, spec.out)
            return finished
        journal, records = Journal.open(journal_path, manifest, resume)
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

    ds = assemble(spec, tasks, records, backend)
    if spec.out is not None:
        atomic_write(spec.out, lambda tmp: ds.to_netcdf(tmp, engine="h5netcdf"))
        journal.remove()
    _warn_failures(spec, tasks, records)
    return ds


def _warn_failures(spec: _Spec, tasks: list[Task], records: dict) -> None:
    bad = [t for t in tasks if records[t.key]["status"] != "ok"]
    if bad:
        index, model, label = bad[0].key
        where = {**dict(zip(spec.grid, spec.points[index][0])), "model": model, "seed": label}
        warnings.warn(f"{len(bad)} of {len(tasks)} runs did not finish ok; first at {where}: "
                      f"{records[bad[0].key]['status']}", RuntimeWarning, stacklevel=3)
