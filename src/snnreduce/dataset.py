"""Result -> xarray.Dataset -> NetCDF: the writing half of the run file format
(:mod:`snnreduce.io` reads it back).

It reads a Result's attributes and does not import :mod:`snnreduce.result`, so that
``Result.save`` and ``Result.to_xarray`` can import it at module level with no import circle.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ._files import atomic_write
from .metadata import (CONVENTIONS, COORDINATE_ATTRS, FINAL_STATE_PREFIX, PARAMETER_ATTR_PREFIX,
                       RECORD_ATTRS, RECORD_DIMS, SAMPLED_RECORDS, final_state_attrs,
                       parameter_attrs)
from .params import PATHWAYS, POPULATIONS, NetworkParams, ParameterError
from .stimulus import stimulus_of

__all__ = ["result_to_dataset", "save_result", "netcdf_encoding", "FORMAT", "COMPRESSION_LEVEL"]

FORMAT = "snnreduce-result/2"
#: zlib level of :func:`save_result`, chosen by benchmarks/bench_io.py (docs/performance.md).
COMPRESSION_LEVEL = 1
#: Final-state text longer than this (bytes) is a uint8 variable, not an attribute (HDF5
#: keeps attributes small).
_LONG_TEXT = 16384



def result_to_dataset(result, *, expand: tuple[str, ...] | list[str] = ()):
    """``result`` as a CF-style labelled :class:`xarray.Dataset`.

    Every variable and coordinate carries ``units`` and ``long_name``; the voltage bins have a
    centre coordinate ``bin`` whose CF bounds are ``bin_edges`` (shape ``(bin, 2)``); spikes
    carry the population of their neuron. Provenance is in the global attributes: ``params``
    (JSON, exact), each parameter again as ``param_<name>``, ``seed`` (absent when the run
    had none), ``options`` (JSON; a stimulus in its ``to_dict`` form), for a run with a
    stimulus ``stimulus`` (its grammar, for reading), ``t_start`` (ms) and ``record_every``
    (ms, when the records are sampled: they then lie on a ``record_time`` dimension, the end
    of each sampled step). The engine's final state (:attr:`Result.final_state`, for
    ``continue_from``) is kept exactly: each array as a variable ``final_state_<key>``, each
    text as a global attribute ``final_state_<key>``, the list of keys in the global
    attribute ``final_state`` (JSON).

    Parameters
    ----------
    result : snnreduce.Result
    expand : sequence of str, optional
        Parameter names (e.g. ``("p_ei",)``) to add as length-1 dimensions with a coordinate,
        so that runs differing in them combine with :func:`xarray.combine_by_coords`.
        Spike variables and the final state are left out then: their sizes differ between
        runs.
    """
    import xarray as xr

    data_vars = {"population_counts": (("time", "population"), result.population_counts)}
    coords = {"time": result.time, "population": list(POPULATIONS)}
    sampled = result.record_every is not None
    if sampled:
        coords["record_time"] = result.record_time
    if result.spike_times is not None and not expand:
        neurons = np.asarray(result.spike_neurons, dtype=np.int32)
        data_vars["spike_times"] = (("spike",), np.asarray(result.spike_times, dtype=np.float64))
        data_vars["spike_neurons"] = (("spike",), neurons)
        coords["spike_population"] = (("spike",), (neurons >= result.params.n_e).astype(np.int8))
    for name, values in result.records.items():
        dims = RECORD_DIMS.get(name)
        if dims is None or np.ndim(values) != len(dims):
            raise ValueError(f"record {name!r} has no known dimensions of rank {np.ndim(values)}")
        if sampled and name in SAMPLED_RECORDS:
            dims = ("record_time",) + dims[1:]
            if np.shape(values)[0] != coords["record_time"].size:
                raise ValueError(f"record {name!r} has {np.shape(values)[0]} rows; sampled "
                                 f"every {result.record_every:g} ms, {result.n_steps} steps "
                                 f"give {coords['record_time'].size}")
        if name == "bin_edges":
            coords["bin"] = (("bin",), (values[1:] + values[:-1]) / 2)
            # a coordinate, so that expanding a parameter dimension leaves the bounds alone
            coords[name] = (("bin", "bounds"), np.stack([values[:-1], values[1:]], axis=1))
        else:
            data_vars[name] = (dims, values)
    if any("pathway" in RECORD_DIMS[n] for n in result.records):
        coords["pathway"] = list(PATHWAYS)
    if "voltage" in result.records or result.spike_times is not None:
        n_total = sum(result.params.n)
        coords["neuron"] = np.arange(n_total, dtype=np.int32)
        coords["neuron_population"] = (("neuron",),
                                       (np.arange(n_total) >= result.params.n_e).astype(np.int8))
    attrs = _provenance(result)
    if not expand:
        data_vars.update(_final_state_variables(result, attrs))
    ds = xr.Dataset(data_vars, coords=coords, attrs=attrs)
    for name in ds.variables:
        attrs = RECORD_ATTRS.get(name) or COORDINATE_ATTRS.get(name)
        if attrs:
            ds[name].attrs.update(attrs)
    for name in ("spike_population", "neuron_population"):
        if name in ds:
            ds[name].attrs["flag_values"] = np.array([0, 1], dtype=np.int8)
    if expand:
        ds = _expand_parameters(ds, result.params, expand)
    return ds


def _provenance(result) -> dict:
    attrs = {
        "Conventions": CONVENTIONS,
        "title": f"snnreduce {result.engine} run",
        "source": f"snnreduce {result.version}",
        "format": FORMAT,
        "engine": result.engine,
        "t_end": float(result.t_end),
        "dt": float(result.dt),
        "status": result.status,
        "wall_time": float(result.wall_time),
        "version": result.version,
        "params": result.params.to_json(),
        "options": json.dumps(result.options, sort_keys=True, default=_jsonable),
    }
    if result.seed is not None:  # no sentinel: a run without a seed has no seed attribute
        attrs["seed"] = int(result.seed)
    attrs["t_start"] = float(result.t_start)
    if result.record_every is not None:
        attrs["record_every"] = result.record_every
    stimulus = stimulus_of(result)
    if stimulus is not None:  # readable grammar; the exact form is options["stimulus"]
        attrs["stimulus"] = str(stimulus)
    attrs.update({PARAMETER_ATTR_PREFIX + k: v for k, v in result.params.to_dict().items()})
    return attrs


def _final_state_variables(result, attrs: dict) -> dict:
    """The final state as NetCDF variables (arrays, long text) and global attributes (text).

    Each variable's ``snnreduce_kind`` says what Python type to give back: ``array`` (any
    shape, its dtype), ``bool_array`` (stored as int8), ``int``/``float``/``bool`` (a plain
    scalar) or ``str`` (UTF-8 bytes).
    """
    if not result.final_state:
        return {}
    attrs["final_state"] = json.dumps(list(result.final_state))
    out = {}
    for key, value in result.final_state.items():
        name = FINAL_STATE_PREFIX + key
        var_attrs = final_state_attrs(key, result.engine)
        if isinstance(value, str):
            if len(value.encode()) <= _LONG_TEXT:
                attrs[name] = value
                continue
            array, kind = np.frombuffer(value.encode(), dtype=np.uint8), "str"
        elif isinstance(value, (bool, np.bool_)):
            array, kind = np.asarray(value, dtype=np.int8), "bool"
        elif isinstance(value, (int, float)) and not isinstance(value, np.generic):
            array, kind = np.asarray(value), type(value).__name__
        else:
            array = np.asarray(value)
            if array.dtype.kind not in "biuf":
                raise ValueError(f"final_state[{key!r}] must be numeric or text, "
                                 f"got dtype {array.dtype}")
            kind = "bool_array" if array.dtype.kind == "b" else "array"
            if kind == "bool_array":
                array = array.astype(np.int8)
        dims = tuple(f"{name}_{axis}" for axis in range(array.ndim))
        out[name] = (dims, array, {**var_attrs, "snnreduce_kind": kind})
    return out


def _expand_parameters(ds, params: NetworkParams, names):
    known = params.to_dict()
    for name in names:
        if name not in known:
            raise ParameterError(f"expand must name parameters ({', '.join(known)}), got {name!r}")
        ds = ds.expand_dims({name: [known[name]]})
        ds[name].attrs.update(parameter_attrs(name))
    return ds


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def save_result(result, path: str | Path, *, compression: int | None = COMPRESSION_LEVEL) -> None:
    """Write ``result`` to NetCDF (HDF5) atomically.

    Parameters
    ----------
    compression : int in 0..9 or None
        zlib level (with byte shuffling) of every numeric variable; None or 0 writes
        uncompressed. Lossless either way. The default, level 1, was chosen by
        ``benchmarks/bench_io.py`` (docs/performance.md).
    """
    ds = result_to_dataset(result)
    encoding = netcdf_encoding(ds, compression)
    atomic_write(path, lambda tmp: ds.to_netcdf(tmp, engine="h5netcdf", encoding=encoding))


def netcdf_encoding(ds, compression: int | None) -> dict:
    """xarray ``encoding`` for ``ds``: zlib at level ``compression`` (None or 0: none) on every
    numeric variable, and no ``_FillValue`` on coordinates (CF allows no missing values there)."""
    if compression is not None and (isinstance(compression, bool)
                                    or not isinstance(compression, (int, np.integer))
                                    or not 0 <= compression <= 9):
        raise ParameterError(f"compression must be None or an integer in 0..9, got {compression!r}")
    encoding = {}
    for name, var in ds.variables.items():
        if var.dtype.kind not in "biuf" or var.ndim == 0:
            continue
        enc = encoding.setdefault(name, {})
        if compression:
            enc.update(zlib=True, complevel=int(compression), shuffle=True)
        if name in ds.coords and var.dtype.kind == "f":
            enc["_FillValue"] = None
    return encoding
