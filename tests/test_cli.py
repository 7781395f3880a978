"""The snnreduce command: runs, stats, plots, and one-line errors with exit status 2."""

import json
import subprocess
import sys

import pytest

import snnreduce
from snnreduce.analysis import summarize

SMALL = ["--set", "n_e=60", "--set", "n_i=20", "--t-end", "300"]


def cli(*args, check=True):
    proc = subprocess.run([sys.executable, "-m", "snnreduce.cli", *args], capture_output=True,
                          text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}: {proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def network_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "net.nc"
    cli("run", "--model", "snn", *SMALL, "--seed", "3", "--quiet", "--out", str(path))
    return path


def test_run_writes_a_result_with_provenance(network_file):
    result = snnreduce.load(network_file)
    assert result.engine == "stepped" and result.seed == 3
    assert (result.params.n_e, result.params.n_i) == (60, 20)
    assert result.population_counts.shape == (3000, 2)
    assert result.population_counts.sum() == len(result.spike_times) > 0


def test_stats_json_matches_the_python_summary(network_file):
    out = json.loads(cli("stats", str(network_file), "--json").stdout)
    assert out == json.loads(json.dumps(summarize(snnreduce.load(network_file))))
    for key in ("rate_hz", "ssi", "gamma_peak_hz", "gamma_power", "mfe"):
        assert set(out[key]) == {"E", "I"}
    table = cli("stats", str(network_file)).stdout
    assert "rate (Hz/neuron)" in table and "SSI" in table


def test_plot_writes_a_png(network_file, tmp_path):
    fig = tmp_path / "fig.png"
    cli("plot", str(network_file), "--out", str(fig))
    assert fig.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("args, message", [
    (["run", "--preset", "nope", "--out", "x.nc"], "preset must be one of"),
    (["run", "--set", "p_ei=1.3", "--out", "x.nc"], r"p_ei must be in [0, 1], got 1.3"),
    (["run", "--set", "p_ei", "--out", "x.nc"], "--set expects KEY=VALUE"),
    (["run", "--set", "bogus=1", "--out", "x.nc"], "unknown parameter 'bogus'"),
    (["run", "--model", "rate", "--out", "x.nc"], "--model must be one of"),
    (["run", "--t-end", "-5", "--out", "x.nc"], "t_end must be"),
    (["run", "--option", "drive=laplace", *SMALL, "--out", "x.nc"], "drive"),
    (["run", "--model", "surrogate", "--option", "voltage=integer", *SMALL, "--out", "x.nc"],
     "unknown option 'voltage' for the surrogate engine"),
    (["run", "--model", "dsode", "--option", "dv=-1", *SMALL, "--out", "x.nc"], "dv"),
    (["run", "--model", "dsode", "--option", "colour=red", *SMALL, "--out", "x.nc"], "colour"),
    (["run", "--model", "snn", "--noise", "finite-size", *SMALL, "--out", "x.nc"], "--noise applies"),
    (["sweep", "--set", "p_ei=0.5:1.0:x", "--out", "s.nc"], "number of range values"),
    (["sweep", "--set", "p_ei=0.9", "--out", "s.nc"], "sweep needs at least one"),
    (["sweep", "--set", "p_ei=0.5,1.5", "--out", "s.nc"], "p_ei must be in [0, 1], got 1.5"),
    (["sweep", "--set", "p_ei=0.5,0.6", "--model", "rate", "--out", "s.nc"], "rate"),
    (["bifurcation", "missing.nc", "--param", "p_ei", "--out", "b.png"], "no such sweep file"),
    (["plot", "missing.nc", "--out", "f.jpg"], "--out must end in .png"),
    (["run", "--out", "x.nc", "--t-end", "abc"], "'abc' is not a valid float"),
    (["run", "--params", "missing.toml", "--out", "x.nc"], "cannot read parameter file"),
    (["stats", "missing.nc"], "no such result file"),
    (["plot", "missing.nc", "--out", "f.png"], "no such result file"),
    (["frobnicate"], "No such command"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
    proc = subprocess.run([sys.executable, "-m", "snnreduce.cli", *args], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert message in lines[0]
    assert "Traceback" not in proc.stderr


def test_corrupt_file_is_one_line_and_exit_2(tmp_path):
    bad = tmp_path / "bad.nc"
    bad.write_bytes(b"\x00garbage")
    proc = cli("stats", str(bad), check=False)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "cannot read" in proc.stderr


def test_presets_lists_every_preset():
    out = cli("presets").stdout
    for name in snnreduce.PRESETS:
        assert name in out


def test_sweep_option_goes_to_the_models_that_take_it(tmp_path):
    from snnreduce.cli import InputError, options_per_model

    assert options_per_model(["closure=paper", "dsode:dv=2"], "dsode,surrogate,snn") == {
        "dsode": {"closure": "paper", "dv": 2}, "surrogate": {"closure": "paper"}}
    assert options_per_model([], "dsode") is None
    with pytest.raises(InputError, match="bogus is not an option of any of dsode"):
        options_per_model(["bogus=1"], "dsode")
    with pytest.raises(InputError, match="names model 'snn', which is not among"):
        options_per_model(["snn:drive=poisson"], "dsode")
    out = tmp_path / "s.nc"
    cli("sweep", "--set", "p_ei=0.6,0.8", "--model", "dsode", "--option", "closure=paper",
        "--t-end", "150", "--quiet", "--out", str(out))
    from snnreduce.sweep import load_sweep

    assert json.loads(load_sweep(out).attrs["spec"])["model_options"] == {
        "dsode": {"closure": "paper"}}


def test_python_dash_m_runs_the_same_command_line():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "snnreduce", "run", "--preset", "no-such",
                          "--out", "unused.nc"],
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert "preset" in out.stderr and "Traceback" not in out.stderr
