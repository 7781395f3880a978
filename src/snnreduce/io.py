"""Result <-> xarray.Dataset <-> NetCDF, with provenance in the attributes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ._files import atomic_write, atomic_write_text
from .metadata import (CONVENTIONS, COORDINATE_ATTRS, PARAMETER_ATTR_PREFIX, RECORD_ATTRS,
                       parameter_attrs)
from .params import PATHWAYS, POPULATIONS, NetworkParams, ParameterError
from .result import RECORD_DIMS, Result
from .stimulus import Stimulus, stimulus_of

__all__ = ["load", "save_result", "result_to_dataset", "dataset_to_result", "atomic_write_text",
           "atomic_write", "open_netcdf", "netcdf_encoding", "ResultFileError", "COMPRESSION_LEVEL"]

FORMAT = "snnreduce-result/2"
#: Files written before the CF layout (seed -1 for "none", bin_edges as a 1-D variable).
_FORMAT_V1 = "snnreduce-result/1"
#: zlib level of :func:`save_result`, chosen by benchmarks/bench_io.py (docs/performance.md).
COMPRESSION_LEVEL = 1


class ResultFileError(ValueError):
    """A file that is not a readable snnreduce result."""


def result_to_dataset(result: Result, *, expand: tuple[str, ...] | list[str] = ()):
    """``result`` as a CF-style labelled :class:`xarray.Dataset`.

    Every variable and coordinate carries ``units`` and ``long_name``; the voltage bins have a
    centre coordinate ``bin`` whose CF bounds are ``bin_edges`` (shape ``(bin, 2)``); spikes
    carry the population of their neuron. Provenance is in the global attributes: ``params``
    (JSON, exact), each parameter again as ``param_<name>``, ``seed`` (absent when the run
    had none), ``options`` (JSON; a stimulus in its ``to_dict`` form) and, for a run with a
    stimulus, ``stimulus`` (its grammar, for reading).

    Parameters
    ----------
    result : Result
    expand : sequence of str, optional
        Parameter names (e.g. ``("p_ei",)``) to add as length-1 dimensions with a coordinate,
        so that runs differing in them combine with :func:`xarray.combine_by_coords`.
        Spike variables are left out then: their lengths differ between runs.
    """
    import xarray as xr

    data_vars = {"population_counts": (("time", "population"), result.population_counts)}
    coords = {"time": result.time, "population": list(POPULATIONS)}
    if result.spike_times is not None and not expand:
        neurons = np.asarray(result.spike_neurons, dtype=np.int32)
        data_vars["spike_times"] = (("spike",), np.asarray(result.spike_times, dtype=np.float64))
        data_vars["spike_neurons"] = (("spike",), neurons)
        coords["spike_population"] = (("spike",), (neurons >= result.params.n_e).astype(np.int8))
    for name, values in result.records.items():
        dims = RECORD_DIMS.get(name)
        if dims is None or np.ndim(values) != len(dims):
            raise ValueError(f"record {name!r} has no known dimensions of rank {np.ndim(values)}")
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
    ds = xr.Dataset(data_vars, coords=coords, attrs=_provenance(result))
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


def _provenance(result: Result) -> dict:
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
    stimulus = stimulus_of(result)
    if stimulus is not None:  # readable grammar; the exact form is options["stimulus"]
        attrs["stimulus"] = str(stimulus)
    attrs.update({PARAMETER_ATTR_PREFIX + k: v for k, v in result.params.to_dict().items()})
    return attrs


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


def dataset_to_result(ds) -> Result:
    """Inverse of :func:`result_to_dataset`; also reads files of the pre-CF layout."""
    attrs = ds.attrs
    layout = attrs.get("format")
    if layout not in (FORMAT, _FORMAT_V1):
        raise ResultFileError(f"not an snnreduce result (format attribute {layout!r})")
    try:
        params = NetworkParams.from_json(attrs["params"])
        records = {name: ds[name].values for name in RECORD_DIMS if name in ds}
        if "bin_edges" in records and layout == FORMAT:  # CF bounds (bin, 2) -> n_bins + 1 edges
            bounds = records["bin_edges"]
            records["bin_edges"] = np.append(bounds[:, 0], bounds[-1, 1])
        if layout == _FORMAT_V1:
            seed = int(attrs["seed"])
            seed = None if seed < 0 else seed
        else:
            seed = int(attrs["seed"]) if "seed" in attrs else None
        has_spikes = "spike_times" in ds
        options = json.loads(attrs["options"])
        if "stimulus" in options:  # a stimulus that no longer reads is a corrupt file
            options["stimulus"] = Stimulus.from_dict(options["stimulus"]).to_dict()
        return Result(
            params=params,
            engine=str(attrs["engine"]),
            seed=seed,
            t_end=float(attrs["t_end"]),
            dt=float(attrs["dt"]),
            population_counts=ds["population_counts"].values,
            spike_times=ds["spike_times"].values if has_spikes else None,
            spike_neurons=ds["spike_neurons"].values if has_spikes else None,
            records=records,
            options=options,
            status=str(attrs["status"]),
            wall_time=float(attrs["wall_time"]),
            version=str(attrs["version"]),
        )
    except (KeyError, ValueError, IndexError, ParameterError) as exc:
        raise ResultFileError(f"corrupt snnreduce result: {exc}") from None


def save_result(result: Result, path: str | Path, *, compression: int | None = COMPRESSION_LEVEL) -> None:
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


def load(path: str | Path) -> Result:
    """Load a Result saved with :meth:`Result.save`.

    Raises
    ------
    ResultFileError
        If the file is missing, not NetCDF, or not an snnreduce result.
    """
    return dataset_to_result(open_netcdf(path, "result file"))


def open_netcdf(path: str | Path, what: str):
    """Load a whole NetCDF file into memory, or raise one clear ResultFileError."""
    import xarray as xr

    path = Path(path)
    if not path.is_file():
        raise ResultFileError(f"no such {what}: {path}")
    try:
        with xr.open_dataset(path, engine="h5netcdf") as ds:
            return ds.load()
    except Exception as exc:  # h5py/xarray raise many kinds for a corrupt file
        raise ResultFileError(f"cannot read {path} as NetCDF: {type(exc).__name__}: {exc}") from None
