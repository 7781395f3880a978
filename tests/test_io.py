"""Result <-> NetCDF round trip, atomic writes and corrupt files."""

import numpy as np
import pytest

import snnreduce
from snnreduce import NetworkParams, Result, ResultFileError


def make_result(with_spikes=True, with_density=False):
    rng = np.random.default_rng(3)
    params = NetworkParams(n_e=30, n_i=10, p_ei=0.7, connectivity="quenched")
    counts = rng.poisson(2.0, size=(50, 2))
    records = {"pending": rng.random((50, 4)), "refractory": rng.integers(0, 5, (50, 2))}
    kwargs = {}
    if with_spikes:
        times = np.sort(rng.random(40) * 5.0)
        kwargs = dict(spike_times=times, spike_neurons=rng.integers(0, 40, 40).astype(np.int32))
        records["voltage"] = rng.random((50, 40)).astype(np.float32)
    if with_density:
        records.update(bin_count=rng.random((50, 2, 35)), bin_mean=rng.random((50, 2, 35)),
                       bin_edges=np.linspace(-40, 100, 36))
    return Result(params=params, engine="stepped" if with_spikes else "dsode", seed=12, t_end=5.0,
                  dt=0.1, population_counts=counts, records=records,
                  options={"drive": "gaussian", "dv": 4.0}, wall_time=0.5, version="x", **kwargs)


@pytest.mark.parametrize("spikes, density", [(True, False), (False, True)])
def test_round_trip_is_lossless(tmp_path, spikes, density):
    result = make_result(spikes, density)
    path = tmp_path / "r.nc"
    result.save(path)
    back = snnreduce.load(path)
    assert back.params == result.params
    for name in ("engine", "seed", "t_end", "dt", "options", "status", "wall_time", "version"):
        assert getattr(back, name) == getattr(result, name), name
    np.testing.assert_array_equal(back.population_counts, result.population_counts)
    if spikes:
        np.testing.assert_array_equal(back.spike_times, result.spike_times)
        np.testing.assert_array_equal(back.spike_neurons, result.spike_neurons)
    else:
        assert back.spike_times is None
    assert set(back.records) == set(result.records)
    for name, values in result.records.items():
        np.testing.assert_array_equal(back.records[name], values)
        assert back.records[name].dtype == values.dtype


def test_dataset_is_labelled_with_provenance():
    ds = make_result().to_xarray()
    assert ds["population_counts"].dims == ("time", "population")
    assert list(ds["population"].values) == ["E", "I"]
    assert ds["pending"].dims == ("time", "pathway")
    assert list(ds["pathway"].values) == ["ee", "ie", "ei", "ii"]
    for key in ("params", "engine", "seed", "version", "wall_time"):
        assert key in ds.attrs


def test_deterministic_result_has_no_seed(tmp_path):
    result = make_result(False, True).replace(seed=None)
    result.save(tmp_path / "d.nc")
    assert snnreduce.load(tmp_path / "d.nc").seed is None


def test_corrupt_and_missing_files_give_one_clear_error(tmp_path):
    with pytest.raises(ResultFileError, match="no such result file"):
        snnreduce.load(tmp_path / "missing.nc")
    junk = tmp_path / "junk.nc"
    junk.write_bytes(b"not a netcdf file at all")
    with pytest.raises(ResultFileError, match="cannot read"):
        snnreduce.load(junk)
    # Valid NetCDF, but not ours.
    import xarray as xr

    other = tmp_path / "other.nc"
    xr.Dataset({"x": ("t", np.arange(3))}).to_netcdf(other, engine="h5netcdf")
    with pytest.raises(ResultFileError, match="not an snnreduce result"):
        snnreduce.load(other)


def test_failed_write_leaves_the_old_file_and_no_debris(tmp_path, monkeypatch):
    path = tmp_path / "r.nc"
    make_result().save(path)
    before = path.read_bytes()

    import xarray as xr

    def broken(self, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(xr.Dataset, "to_netcdf", broken)
    with pytest.raises(OSError, match="disk full"):
        make_result(False, True).save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["r.nc"]
