"""Result <-> xarray.Dataset <-> NetCDF, with provenance in the attributes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ._files import atomic_write, atomic_write_text
from .params import PATHWAYS, POPULATIONS, NetworkParams, ParameterError
from .result import RECORD_DIMS, Result

__all__ = ["load", "save_result", "result_to_dataset", "dataset_to_result", "atomic_write_text",
           "atomic_write", "open_netcdf", "ResultFileError"]

FORMAT = "snnreduce-result/1"


class ResultFileError(ValueError):
    """A file that is not a readable snnreduce result."""


def result_to_dataset(result: Result):
    import xarray as xr

    data_vars = {"population_counts": (("time", "population"), result.population_counts)}
    if result.spike_times is not None:
        data_vars["spike_times"] = (("spike",), np.asarray(result.spike_times, dtype=np.float64))
        data_vars["spike_neurons"] = (("spike",), np.asarray(result.spike_neurons, dtype=np.int32))
    for name, values in result.records.items():
        dims = RECORD_DIMS.get(name)
        if dims is None or np.ndim(values) != len(dims):
            raise ValueError(f"record {name!r} has no known dimensions of rank {np.ndim(values)}")
        data_vars[name] = (dims, values)
    coords = {"time": result.time, "population": list(POPULATIONS)}
    if any("pathway" in RECORD_DIMS[n] for n in result.records):
        coords["pathway"] = list(PATHWAYS)
    attrs = {
        "format": FORMAT,
        "engine": result.engine,
        "seed": -1 if result.seed is None else int(result.seed),
        "t_end": float(result.t_end),
        "dt": float(result.dt),
        "status": result.status,
        "wall_time": float(result.wall_time),
        "version": result.version,
        "params": result.params.to_json(),
        "options": json.dumps(result.options, sort_keys=True, default=_jsonable),
    }
    ds = xr.Dataset(data_vars, coords=coords, attrs=attrs)
    ds["time"].attrs["units"] = "ms"
    return ds


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dataset_to_result(ds) -> Result:
    attrs = ds.attrs
    if attrs.get("format") != FORMAT:
        raise ResultFileError(f"not an snnreduce result (format attribute {attrs.get('format')!r})")
    try:
        params = NetworkParams.from_json(attrs["params"])
        records = {name: ds[name].values for name in RECORD_DIMS if name in ds}
        has_spikes = "spike_times" in ds
        seed = int(attrs["seed"])
        return Result(
            params=params,
            engine=str(attrs["engine"]),
            seed=None if seed < 0 else seed,
            t_end=float(attrs["t_end"]),
            dt=float(attrs["dt"]),
            population_counts=ds["population_counts"].values,
            spike_times=ds["spike_times"].values if has_spikes else None,
            spike_neurons=ds["spike_neurons"].values if has_spikes else None,
            records=records,
            options=json.loads(attrs["options"]),
            status=str(attrs["status"]),
            wall_time=float(attrs["wall_time"]),
            version=str(attrs["version"]),
        )
    except (KeyError, ValueError, ParameterError) as exc:
        raise ResultFileError(f"corrupt snnreduce result: {exc}") from None


def save_result(result: Result, path: str | Path) -> None:
    ds = result_to_dataset(result)
    atomic_write(path, lambda tmp: ds.to_netcdf(tmp, engine="h5netcdf"))


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
