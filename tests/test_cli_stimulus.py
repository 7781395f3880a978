"""--stimulus on the command line: bad stimuli are one line and exit status 2 on every command
that takes one; the grammar is in --help."""

import subprocess
import sys

import pytest

from snnreduce.cli import main

SMALL = ["--set", "n_e=60", "--set", "n_i=20", "--t-end", "300"]


def cli(*args):
    return subprocess.run([sys.executable, "-m", "snnreduce.cli", *args], capture_output=True,
                          text=True, timeout=300)


BAD = [
    ("E:const(1)+sine(amp=2,hz=10)", "the rate must stay >= 0 kicks/ms"),
    ("X:const(7)", "expected a population E or I"),
    ("E:const(nan)", "const.rate must be"),
    ("E:lambda+sine(amp=1,hz=6000)", "above the Nyquist limit 5000 Hz"),
    ("E:sin(amp=1,hz=10)", "unknown stimulus shape 'sin'"),
    ("E:step(at=500,to=9)", "not to=9"),
    ("E:lambda+sine(amp=1)", "sine needs hz="),
    ("E:lambda+", "bad stimulus"),
]


@pytest.mark.parametrize("text, message", BAD)
def test_a_bad_stimulus_is_one_line_and_exit_2(text, message, capsys):
    # in process: the same main() the console script runs
    with pytest.raises(SystemExit) as exit_:
        main(["run", "--model", "dsode", *SMALL, "--stimulus", text, "--out", "never.nc"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("snnreduce: error: ") and message in err, err


@pytest.mark.parametrize("command", [
    ["run", "--model", "snn", "--out", "x.nc"],
    ["compare", "--seeds", "1", "--out", "outdir"],
    ["sweep", "--set", "p_ei=0.8,0.9", "--out", "x.nc"],
])
def test_every_command_refuses_a_bad_stimulus_in_one_line(command, tmp_path):
    proc = cli(*command[:-1], str(tmp_path / command[-1]), *SMALL,
               "--stimulus", "E:const(1)+sine(amp=2,hz=10)")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "must stay >= 0" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not any(tmp_path.iterdir())


def test_a_bad_stimulus_table_in_a_parameter_file_is_one_line(tmp_path, capsys):
    path = tmp_path / "p.toml"
    path.write_text('[stimulus]\nE = "lambda+sine(amp=1,hz=6000)"\n')
    with pytest.raises(SystemExit) as exit_:
        main(["run", "--model", "dsode", *SMALL, "--params", str(path), "--out", "x.nc"])
    assert exit_.value.code == 2
    assert "Nyquist" in capsys.readouterr().err


def test_sweep_names_a_stimulus_field_without_a_stimulus(capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_:
        main(["sweep", "--set", "stimulus.E.step.amp=1,2", *SMALL, "--out",
              str(tmp_path / "s.nc")])
    assert exit_.value.code == 2
    assert "no stimulus" in capsys.readouterr().err


def test_the_grammar_is_in_the_help():
    for command in ("run", "compare", "sweep"):
        text = cli(command, "--help").stdout
        assert "--stimulus" in text and "sine(amp=RATE,hz=HZ" in text and "step(at=MS" in text
    assert "stimulus.POP.SHAPE.FIELD" in cli("sweep", "--help").stdout
    text = cli("response", "--help").stdout
    assert "--freqs" in text and "--amp" in text and "Bode" in text
