"""The CLI's file handling: --params TOML/JSON over a preset, and `snnreduce export`."""

import subprocess
import sys

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
