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
    assert ds.attrs["Conventions"].startswith("CF-")


@pytest.mark.parametrize("spikes, density", [(True, False), (False, True)])
def test_every_variable_and_coordinate_has_cf_attributes(spikes, density):
    ds = make_result(spikes, density).to_xarray()
    for name, var in ds.variables.items():
        assert var.attrs.get("long_name"), name
        if var.dtype.kind in "biuf":
            assert "units" in var.attrs, name
    assert ds["time"].attrs["units"] == "ms"


def test_bins_have_a_centre_coordinate_with_cf_bounds():
    result = make_result(False, True)
    ds = result.to_xarray()
    edges = result.records["bin_edges"]
    assert ds["bin"].attrs["bounds"] == "bin_edges"
    assert ds["bin_edges"].dims == ("bin", "bounds")
    np.testing.assert_allclose(ds["bin"].values, (edges[1:] + edges[:-1]) / 2)
    np.testing.assert_array_equal(ds["bin_edges"].values[:, 0], edges[:-1])
    np.testing.assert_array_equal(ds["bin_edges"].values[:, 1], edges[1:])
    assert ds["bin_count"].dims == ("time", "population", "bin")


def test_spikes_and_neurons_carry_their_population():
    result = make_result()
    ds = result.to_xarray()
    n_e = result.params.n_e
    np.testing.assert_array_equal(ds["spike_population"].values, result.spike_neurons >= n_e)
    assert ds["spike_population"].attrs["flag_meanings"] == "E I"
    assert list(ds["spike_population"].attrs["flag_values"]) == [0, 1]
    assert int((ds["neuron_population"] == 1).sum()) == result.params.n_i
    e_times = ds["spike_times"].where(ds["spike_population"] == 0, drop=True).values
    np.testing.assert_array_equal(e_times, result.spikes_of("E")[0])


def test_each_parameter_is_also_its_own_attribute():
    result = make_result()
    ds = result.to_xarray()
    for name, value in result.params.to_dict().items():
        assert ds.attrs[f"param_{name}"] == value, name
    assert ds.attrs["param_connectivity"] == "quenched"


def test_deterministic_result_has_no_seed(tmp_path):
    result = make_result(False, True).replace(seed=None)
    assert "seed" not in result.to_xarray().attrs  # absent, not a sentinel value
    result.save(tmp_path / "d.nc")
    assert snnreduce.load(tmp_path / "d.nc").seed is None


def test_compression_is_on_by_default_and_lossless(tmp_path):
    import xarray as xr

    result = snnreduce.reduce(NetworkParams(), t_end=100.0)  # a real density: compressible
    result.save(tmp_path / "z.nc")
    result.save(tmp_path / "raw.nc", compression=None)
    with xr.open_dataset(tmp_path / "z.nc", engine="h5netcdf") as ds:
        assert ds["bin_count"].encoding.get("zlib") is True
    assert (tmp_path / "z.nc").stat().st_size < 0.8 * (tmp_path / "raw.nc").stat().st_size
    back = snnreduce.load(tmp_path / "z.nc")
    for name, values in result.records.items():
        np.testing.assert_array_equal(back.records[name], values)
    with pytest.raises(snnreduce.ParameterError, match="compression"):
        result.save(tmp_path / "bad.nc", compression=12)


def write_v1(result, path):
    """The run-file layout of snnreduce-result/1 (before the CF attributes), as main wrote it."""
    import json

    import xarray as xr

    data_vars = {"population_counts": (("time", "population"), result.population_counts)}
    if result.spike_times is not None:
        data_vars["spike_times"] = (("spike",), result.spike_times)
        data_vars["spike_neurons"] = (("spike",), result.spike_neurons)
    dims = {"voltage": ("time", "neuron"), "pending": ("time", "pathway"),
            "refractory": ("time", "population"), "bin_count": ("time", "population", "bin"),
            "bin_mean": ("time", "population", "bin"), "bin_edges": ("bin_edge",)}
    for name, values in result.records.items():
        data_vars[name] = (dims[name], values)
    coords = {"time": result.time, "population": ["E", "I"], "pathway": ["ee", "ie", "ei", "ii"]}
    attrs = {"format": "snnreduce-result/1", "engine": result.engine,
             "seed": -1 if result.seed is None else result.seed, "t_end": result.t_end,
             "dt": result.dt, "status": result.status, "wall_time": result.wall_time,
             "version": result.version, "params": result.params.to_json(),
             "options": json.dumps(result.options, sort_keys=True)}
    xr.Dataset(data_vars, coords=coords, attrs=attrs).to_netcdf(path, engine="h5netcdf")


@pytest.mark.parametrize("spikes, density, seed", [(True, False, 12), (False, True, None)])
def test_files_of_the_old_layout_still_load(tmp_path, spikes, density, seed):
    result = make_result(spikes, density).replace(seed=seed)
    write_v1(result, tmp_path / "old.nc")
    back = snnreduce.load(tmp_path / "old.nc")
    assert back.seed == seed and back.params == result.params
    np.testing.assert_array_equal(back.population_counts, result.population_counts)
    for name, values in result.records.items():
        np.testing.assert_array_equal(back.records[name], values)


def test_run_files_combine_along_a_parameter(tmp_path):
    """The recipe of docs/files.md: expand a dimension from the per-parameter attribute."""
    import xarray as xr

    values = [0.9, 0.7, 0.8]
    runs = []
    for p in values:
        result = make_result(False, True)
        result = result.replace(params=result.params.replace(p_ei=p),
                                population_counts=result.population_counts * p)
        result.save(tmp_path / f"run_{p}.nc")
        runs.append(result)

    # -- as in docs/files.md
    datasets = [xr.open_dataset(path, engine="h5netcdf") for path in sorted(tmp_path.glob("run_*.nc"))]
    combined = xr.combine_by_coords(
        [ds.expand_dims(p_ei=[ds.attrs["param_p_ei"]]) for ds in datasets],
        data_vars="minimal", combine_attrs="drop_conflicts")
    # --
    assert list(combined["p_ei"].values) == sorted(values)
    assert combined["population_counts"].dims == ("p_ei", "time", "population")
    for p, result in zip(values, runs):
        np.testing.assert_array_equal(combined["population_counts"].sel(p_ei=p).values,
                                      result.population_counts)
    assert combined["bin_edges"].dims == ("bin", "bounds")  # shared, not stacked
    assert combined.attrs["param_p_ee"] == runs[0].params.p_ee  # shared attributes stay
    assert "param_p_ei" not in combined.attrs and "params" not in combined.attrs
    for ds in datasets:
        ds.close()

    # The same from Results in memory, with the coordinate's own units and long_name.
    combined = xr.combine_by_coords([r.to_xarray(expand=("p_ei",)) for r in runs],
                                    data_vars="minimal", combine_attrs="drop_conflicts")
    assert list(combined["p_ei"].values) == sorted(values)
    assert "post-pre" in combined["p_ei"].attrs["long_name"]
    assert combined["p_ei"].attrs["units"] == "1"


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


def test_sweep_coordinates_carry_units_and_post_pre_long_names(tmp_path):
    import importlib

    sweep = importlib.import_module("snnreduce.sweep")
    ds = sweep.sweep(NetworkParams(n_e=30, n_i=10), {"p_ei": [0.7, 0.8], "tau_ee": [1.4]},
                     models=("dsode",), t_end=150.0, backend="serial", progress=False,
                     out=tmp_path / "s.nc")
    ds = sweep.load_sweep(tmp_path / "s.nc")
    assert ds.attrs["Conventions"].startswith("CF-")
    assert ds["p_ei"].attrs["units"] == "1"
    assert "post-pre" in ds["p_ei"].attrs["long_name"] and "I -> E" in ds["p_ei"].attrs["long_name"]
    assert ds["tau_ee"].attrs["units"] == "ms"
    for name in ("model", "seed", "population", "peak"):
        assert ds[name].attrs.get("long_name"), name
    import h5py

    with h5py.File(tmp_path / "s.nc") as f:
        assert "_FillValue" not in f["p_ei"].attrs and "_FillValue" not in f["tau_ee"].attrs


def test_network_run_files_combine_once_their_spikes_are_dropped(tmp_path):
    """docs/files.md: runs of a spiking network differ in spike count; drop that dimension."""
    import xarray as xr

    for p, n_spikes in ((0.7, 40), (0.8, 25)):
        result = make_result()
        result.replace(params=result.params.replace(p_ei=p), spike_times=result.spike_times[:n_spikes],
                       spike_neurons=result.spike_neurons[:n_spikes]).save(tmp_path / f"net_{p}.nc")
    datasets = [xr.open_dataset(path, engine="h5netcdf").drop_dims("spike")
                for path in sorted(tmp_path.glob("net_*.nc"))]
    combined = xr.combine_by_coords(
        [ds.expand_dims(p_ei=[ds.attrs["param_p_ei"]]) for ds in datasets],
        data_vars="minimal", combine_attrs="drop_conflicts")
    assert combined["voltage"].dims == ("p_ei", "time", "neuron")
    assert list(combined["p_ei"].values) == [0.7, 0.8]
    for ds in datasets:
        ds.close()


def test_coordinates_are_written_without_fill_values(tmp_path):
    import h5py

    make_result(False, True).save(tmp_path / "d.nc")
    with h5py.File(tmp_path / "d.nc") as f:
        for name in ("time", "bin", "bin_edges"):
            assert "_FillValue" not in f[name].attrs, name
        assert "_FillValue" in f["bin_count"].attrs  # data variables keep the NaN fill of xarray


# ------------------------------------------------------------------ continued runs (contract)
def _final_state():
    """A final state with every kind of entry an engine writes (and a few more)."""
    import json

    stream = np.random.default_rng(8)
    stream.random(5)  # a stream part-way through, as an engine leaves it
    rng = np.random.default_rng(9)
    return {"engine": "stepped", "step": np.array(50, np.int64), "t_origin": np.array(10.0),
            "voltage": rng.random(40), "pending": rng.random((4, 40)),
            "refractory_left": rng.random(40).astype(np.float32),
            "streams": np.array([2**64 - 1, 0, 2**63], dtype=np.uint64),
            "mask": np.array([True, False, True]), "empty": np.empty((0, 3)),
            "rng": json.dumps(stream.bit_generator.state), "note": "é" * 20000,
            "count": 7, "fraction": 0.1, "flag": True}


def _continued(record_every=None):
    result = make_result().replace(t_start=10.0, final_state=_final_state())
    if record_every is not None:
        m = int(round(record_every / result.dt))
        records = {k: v[m - 1::m] for k, v in result.records.items()}
        result = result.replace(records=records,
                                options={**result.options, "record_every": record_every})
    return result


def test_final_state_and_t_start_round_trip_exactly(tmp_path):
    result = _continued()
    result.save(tmp_path / "r.nc")
    back = snnreduce.load(tmp_path / "r.nc")
    assert back.t_start == 10.0
    np.testing.assert_array_equal(back.time, result.time)
    assert back.time[0] == 10.0
    assert list(back.final_state) == list(result.final_state)
    for key, value in result.final_state.items():
        got = back.final_state[key]
        if isinstance(value, np.ndarray):
            assert isinstance(got, np.ndarray) and got.dtype == value.dtype, key
            assert got.shape == value.shape and np.array_equal(got, value), key
        else:
            assert type(got) is type(value) and got == value, key
    # the random stream resumes where it was
    import json

    state = np.random.default_rng(0).bit_generator
    state.state = json.loads(back.final_state["rng"])
    ref = np.random.default_rng(8)
    ref.random(5)
    assert np.random.Generator(state).random() == ref.random()


def test_final_state_is_labelled_and_prefixed_in_the_file():
    ds = _continued().to_xarray()
    assert ds.attrs["t_start"] == 10.0
    assert ds.attrs["final_state_engine"] == "stepped" and "final_state_rng" in ds.attrs
    for name, var in ds.data_vars.items():
        if name.startswith("final_state_"):
            assert var.attrs["long_name"].startswith("final state of the stepped run"), name
            assert "units" in var.attrs, name
    assert ds["final_state_refractory_left"].attrs["units"] == "ms"
    assert ds["final_state_voltage"].dims == ("final_state_voltage_0",)
    # runs combined along a parameter leave the state out (its sizes differ between runs)
    assert not any(n.startswith("final_state") for n in _continued().to_xarray(expand=("p_ei",)))


def test_sampled_records_lie_on_a_record_time_dimension(tmp_path):
    result = _continued(record_every=0.5)  # 50 steps of 0.1 ms: 10 rows
    ds = result.to_xarray()
    assert ds["pending"].dims == ("record_time", "pathway")
    assert ds["voltage"].dims == ("record_time", "neuron")
    assert ds["population_counts"].dims == ("time", "population")
    # the end of each sampled step, absolute: t_start + (k + 1) record_every
    np.testing.assert_allclose(ds["record_time"].values, 10.0 + 0.5 * np.arange(1, 11))
    assert ds["record_time"].attrs["units"] == "ms" and ds.attrs["record_every"] == 0.5
    result.save(tmp_path / "s.nc")
    back = snnreduce.load(tmp_path / "s.nc")
    assert back.record_every == 0.5
    np.testing.assert_array_equal(back.record_time, ds["record_time"].values)
    for name, values in result.records.items():
        np.testing.assert_array_equal(back.records[name], values)


def test_sampled_records_of_the_wrong_length_are_refused():
    result = _continued(record_every=0.5)
    bad = result.replace(records={**result.records, "pending": result.records["pending"][:-1]})
    with pytest.raises(ValueError, match="record 'pending' has 9 rows; sampled every 0.5 ms"):
        bad.to_xarray()


def test_files_without_t_start_or_final_state_load_as_fresh_runs(tmp_path):
    ds = make_result().to_xarray()
    del ds.attrs["t_start"]  # a file of this layout written before continued runs
    ds.to_netcdf(tmp_path / "before.nc", engine="h5netcdf")
    back = snnreduce.load(tmp_path / "before.nc")
    assert back.t_start == 0.0 and back.final_state == {} and back.record_every is None
    write_v1(make_result(), tmp_path / "v1.nc")
    back = snnreduce.load(tmp_path / "v1.nc")
    assert back.t_start == 0.0 and back.final_state == {}
