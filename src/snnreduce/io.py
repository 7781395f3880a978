"""Run files: NetCDF -> xarray.Dataset -> Result (the reading half; :mod:`snnreduce.dataset`
writes them), with provenance in the attributes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ._files import atomic_write, atomic_write_text
from .dataset import COMPRESSION_LEVEL, FORMAT, netcdf_encoding, result_to_dataset, save_result
from .metadata import FINAL_STATE_PREFIX, RECORD_DIMS
from .params import NetworkParams, ParameterError
from .result import Result
from .stimulus import Stimulus

__all__ = ["load", "save_result", "result_to_dataset", "dataset_to_result", "atomic_write_text",
           "atomic_write", "open_netcdf", "netcdf_encoding", "ResultFileError", "COMPRESSION_LEVEL"]

#: Files written before the CF layout (seed -1 for "none", bin_edges as a 1-D variable).
_FORMAT_V1 = "snnreduce-result/1"


class ResultFileError(ValueError):
    """A file that is not a readable snnreduce result."""


def _final_state_of(ds) -> dict:
    """Inverse of ``snnreduce.dataset``'s final-state variables (empty for a file without one)."""
    if "final_state" not in ds.attrs:
        return {}
    state = {}
    for key in json.loads(ds.attrs["final_state"]):
        name = FINAL_STATE_PREFIX + key
        if name in ds.attrs:
            state[key] = str(ds.attrs[name])
            continue
        var = ds[name]
        kind, values = var.attrs.get("snnreduce_kind", "array"), var.values
        if kind == "str":
            state[key] = values.astype(np.uint8).tobytes().decode()
        elif kind in ("int", "float", "bool"):
            state[key] = {"int": int, "float": float, "bool": bool}[kind](values.item())
        elif kind == "bool_array":
            state[key] = values.astype(bool)
        else:
            state[key] = values
    return state


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
            t_start=float(attrs.get("t_start", 0.0)),  # files before continued runs: 0
            final_state=_final_state_of(ds),
        )
    except (KeyError, ValueError, IndexError, ParameterError) as exc:
        raise ResultFileError(f"corrupt snnreduce result: {exc}") from None


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
