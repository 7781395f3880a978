"""Assembling a sweep's Dataset from its run records, and reading a sweep file."""

from __future__ import annotations

import json

import numpy as np

from .._version import __version__
from ..io import ResultFileError, open_netcdf
from ..metadata import label_sweep_coordinates
from ..params import POPULATIONS
from ..stimulus import field_attrs
from .grid import is_stimulus_name
from .execution import PEAK_VARIABLES, STATISTICS

__all__ = ["assemble", "load_sweep", "FORMAT"]

FORMAT = "snnreduce-sweep/1"


def assemble(spec, tasks: list, records: dict, backend: str):
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
    if spec.stimulus is not None:  # the base stimulus, readable; exact in spec["stimulus"]
        attrs["stimulus"] = str(spec.stimulus)
    ds = label_sweep_coordinates(xr.Dataset(data, coords=coords, attrs=attrs),
                                 [n for n in names if not is_stimulus_name(n)])
    for name in names:
        if is_stimulus_name(name):
            ds[name].attrs.update(field_attrs(name))
            ds[name].encoding["_FillValue"] = None  # CF: no missing values in a coordinate
    return ds


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
