"""The CLI's file handling: --params TOML/JSON over a preset, and `snnreduce export`."""

import subprocess
import sys

import numpy as np
import pytest

import snnreduce
from snnreduce import NetworkParams
from snnreduce.cli import build_params


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "snnreduce.cli", *args], capture_output=True,
                          text=True, timeout=300, cwd=cwd)


@pytest.mark.parametrize("suffix, text", [(".toml", "tau_ee = 2.0\ns_ee = 4.0\n"),
                                          (".json", '{"network": {"tau_ee": 2.0, "s_ee": 4.0}}')])
def test_params_file_is_applied_over_the_preset_then_k_then_set(tmp_path, suffix, text):
    path = tmp_path / f"over{suffix}"
    path.write_text(text)
    params = build_params("lcy-regular", ["p_ee=0.2"], str(path), k=2.0)
    expected = NetworkParams.preset("lcy-regular").replace(tau_ee=2.0, s_ee=4.0).scaled(2.0)
    assert params == expected.replace(p_ee=0.2)
    assert params.s_ee == 8.0 and params.p_ie == 0.5  # the file's value scaled; the preset kept


def test_run_with_params_and_preset_records_both(tmp_path):
    (tmp_path / "over.json").write_text('{"tau_ee": 2.0, "n_e": 60, "n_i": 20}')
    proc = cli("run", "--model", "dsode", "--preset", "lcy-regular", "--params", "over.json",
               "--t-end", "50", "--quiet", "--out", "r.nc", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    params = snnreduce.load(tmp_path / "r.nc").params
    assert params == NetworkParams.preset("lcy-regular").replace(tau_ee=2.0, n_e=60, n_i=20)


@pytest.mark.parametrize("name, text, message", [
    ("p.yaml", "tau_ee: 2", "parameter file must end in .toml or .json"),
    ("p.toml", "p_ei = [0.8, 0.9]\n", "p_ei must be a number"),
    ("p.toml", "[network]\ntau_ee = { a = 1 }\n", "tau_ee must be a number"),
    ("p.json", '{"p_ei": 0.9, "colour": 1}', "unknown parameter 'colour'"),
])
def test_bad_params_files_are_one_line_and_exit_2(tmp_path, name, text, message):
    (tmp_path / name).write_text(text)
    proc = cli("run", "--params", name, "--out", "x.nc", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr


def test_help_says_the_file_goes_over_the_preset():
    out = " ".join(cli("run", "--help").stdout.split())
    assert "TOML or JSON" in out and "applied over --preset" in out


@pytest.fixture(scope="module")
def run_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("export")
    small = NetworkParams(n_e=60, n_i=20)
    net = snnreduce.simulate(small, "stepped", t_end=300.0, seed=4)
    red = snnreduce.reduce(small, t_end=300.0)
    net.save(folder / "net.nc")
    red.save(folder / "red.nc")
    return folder, net, red


def test_export_neo_network_rates_match_the_firing_rates(run_files):
    neo = pytest.importorskip("neo")
    folder, net, _ = run_files
    proc = cli("export", "net.nc", "--to", "neo", "--smooth", "0", "--out", "net.pkl", cwd=folder)
    assert proc.returncode == 0, proc.stderr
    block = neo.io.PickleIO(str(folder / "net.pkl")).read_block()
    segment = block.segments[0]
    assert block.annotations["seed"] == 4 and block.annotations["engine"] == "stepped"
    assert len(segment.spiketrains) == sum(net.params.n)
    (rates,) = segment.analogsignals
    assert str(rates.units.dimensionality) == "Hz" and rates.shape == (net.n_steps, 2)
    assert float(rates.sampling_period.rescale("ms").magnitude) == net.dt
    assert list(rates.array_annotations["population"]) == ["E", "I"]
    kept = int(round(100.0 / net.dt))
    from snnreduce.analysis import firing_rates

    for q, pop in enumerate(("E", "I")):  # the mean of the per-step rate is the firing rate
        assert rates.magnitude[kept:, q].mean() == pytest.approx(firing_rates(net)[pop], rel=1e-12)


def test_export_neo_dsode_density_conserves_neurons(run_files):
    neo = pytest.importorskip("neo")
    from snnreduce.analysis import population_rate

    folder, _, red = run_files
    assert cli("export", "red.nc", "--to", "neo", "--out", "red.pkl", cwd=folder).returncode == 0
    segment = neo.io.PickleIO(str(folder / "red.pkl")).read_block().segments[0]
    assert "seed" not in segment.annotations and not segment.spiketrains
    rates, dens_e, dens_i = segment.analogsignals
    np.testing.assert_allclose(rates.magnitude[:, 1], population_rate(red, "I", smooth=1.0)[1])
    for q, signal in enumerate((dens_e, dens_i)):
        in_bins = signal.magnitude.sum(axis=1)
        assert signal.magnitude.dtype == red.records["bin_count"].dtype  # exported as recorded
        # the density is recorded in float32: conservation holds to its round-off
        np.testing.assert_allclose(in_bins + red.records["refractory"][:, q], red.params.n[q],
                                   rtol=4 * np.finfo(np.float32).eps * 35)
        np.testing.assert_array_equal(signal.array_annotations["bin_lower"],
                                      red.records["bin_edges"][:-1])


def test_export_csv_rates_and_spikes(run_files):
    folder, net, _ = run_files
    proc = cli("export", "net.nc", "--to", "csv", "--smooth", "0", "--out", "csv", cwd=folder)
    assert proc.returncode == 0, proc.stderr
    rates = np.loadtxt(folder / "csv" / "rates.csv", delimiter=",", skiprows=1)
    assert (folder / "csv" / "rates.csv").read_text().startswith(
        "time_ms,count_E,count_I,rate_E_hz,rate_I_hz\n")
    np.testing.assert_array_equal(rates[:, 1:3], net.population_counts)
    np.testing.assert_allclose(rates[:, 3], 1000 * net.population_counts[:, 0] / (60 * net.dt))
    spikes = np.loadtxt(folder / "csv" / "spikes.csv", delimiter=",", skiprows=1,
                        usecols=(0, 1))
    np.testing.assert_array_equal(spikes[:, 0], net.spike_times)
    np.testing.assert_array_equal(spikes[:, 1], net.spike_neurons)
    pops = np.loadtxt(folder / "csv" / "spikes.csv", delimiter=",", skiprows=1, usecols=2,
                      dtype=str)
    np.testing.assert_array_equal(pops == "I", net.spike_neurons >= 60)


@pytest.mark.parametrize("args, message", [
    (["red.nc", "--to", "neo", "--out", "red.nix"], "must end in .pkl or .pickle"),
    (["red.nc", "--to", "csv", "--out", "red.nc"], "goes into a directory"),
    (["red.nc", "--to", "hdf", "--out", "x"], "'hdf' is not one of"),
    (["red.nc", "--to", "csv", "--smooth", "-1", "--out", "x"], "--smooth must be >= 0"),
    (["missing.nc", "--to", "csv", "--out", "x"], "no such result file"),
])
def test_bad_export_is_one_line_and_exit_2(run_files, args, message):
    proc = cli("export", *args, cwd=run_files[0])
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr
