"""Continued runs from the user's side: ``continue_from`` through the api, files and the CLI.

The engines' own bit-for-bit checks live beside them; here a run 0 -> T must equal the run
0 -> T/2 continued (``continue_from``) to T, through the api and through a saved file of the
first half, for every model that can resume; and what cannot be continued is refused with one
clear ParameterError (exit status 2 from the command).
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import snnreduce
from snnreduce import NetworkParams, ParameterError, Result
from snnreduce.api import run_model

SMALL = NetworkParams(n_e=40, n_i=15)


def _fake(engine="stepped", *, final_state=None, params=SMALL, seed=3, options=None,
          status="ok", t_end=1.0):
    """A Result as an engine would return it (counts only), with the given final state."""
    n = int(round(t_end / params.dt))
    return Result(params=params, engine=engine, seed=seed, t_end=t_end, dt=params.dt,
                  population_counts=np.zeros((n, 2)), options=dict(options or {}),
                  status=status,
                  final_state={"engine": engine, "step": np.array(n)} if final_state is None
                  else final_state)


def cli(*args):
    return subprocess.run([sys.executable, "-m", "snnreduce.cli", *args], capture_output=True,
                          text=True)


# ----------------------------------------------------------------------------- refusals
@pytest.mark.parametrize("call, message", [
    (lambda prev: run_model(SMALL.replace(p_ei=0.5), "snn", seed=None, t_end=1.0,
                            continue_from=prev),
     r"continue_from was run with other parameters \(differing: p_ei\)"),
    (lambda prev: run_model(SMALL, "markov", seed=None, t_end=1.0, continue_from=prev),
     "continue_from is a run of the 'snn' model; only that model can continue it, not 'markov'"),
    (lambda prev: snnreduce.reduce(SMALL, t_end=1.0, continue_from=prev),
     "only that model can continue it, not 'dsode'"),
    (lambda prev: run_model(SMALL, "snn", seed=4, t_end=1.0, continue_from=prev),
     r"seed: a continued run keeps the seed of continue_from \(3\)"),
    (lambda prev: snnreduce.simulate(SMALL, t_end=1.0, continue_from=prev, drive="poisson"),
     "drive: a continued run keeps the options of continue_from"),
    (lambda prev: snnreduce.simulate(SMALL, t_end=1.0, continue_from=prev,
                                     initial_state=np.zeros(55)),
     "give initial_state or continue_from, not both"),
    (lambda prev: snnreduce.simulate(SMALL, t_end=1.0, continue_from="run.nc"),
     "continue_from must be a Result"),
    (lambda prev: snnreduce.simulate(SMALL, t_end=1.0, initial_state=prev),
     "initial_state must be an array or a final_state dict; to continue a Result pass "
     "continue_from=result"),
])
def test_refusals_name_what_differs(call, message):
    prev = _fake(options={"drive": "gaussian"})
    with pytest.raises(ParameterError, match=message):
        call(prev)


def test_dsode_and_its_finite_size_variant_do_not_continue_each_other():
    det = _fake("dsode", seed=None, options={"noise": "none"})
    with pytest.raises(ParameterError, match="of the 'dsode' model; .* not 'dsode-fs'"):
        snnreduce.reduce(SMALL, t_end=1.0, noise="finite-size", continue_from=det)
    fs = _fake("dsode", options={"noise": "finite-size"})
    with pytest.raises(ParameterError, match="of the 'dsode-fs' model; .* not 'dsode'"):
        snnreduce.reduce(SMALL, t_end=1.0, continue_from=fs)


def test_a_run_without_final_state_is_refused():
    # NEST's refractory-density model cannot hand its state back: its runs have none
    rdm = _fake("rdm", final_state={}, params=SMALL.replace(tau_m=20.0))
    with pytest.raises(ParameterError, match="continue_from holds no final state: the rdm model "
                                             "cannot resume a run exactly"):
        run_model(rdm.params, "rdm", seed=None, t_end=1.0, continue_from=rdm)


def test_a_run_that_stopped_early_is_refused():
    with pytest.raises(ParameterError, match=r"continue_from stopped early \(diverged"):
        snnreduce.simulate(SMALL, t_end=1.0, continue_from=_fake(status="diverged at 3 ms"))


@pytest.mark.parametrize("prev, args, message", [
    (_fake(), ["--set", "p_ei=0.5"], "continue_from was run with other parameters (differing: p_ei)"),
    (_fake("rdm", final_state={}, params=SMALL.replace(tau_m=20.0)), [],
     "continue_from holds no final state: the rdm model cannot resume"),
    (_fake(), ["--model", "markov"], "only that model can continue it, not 'markov'"),
])
def test_cli_refusals_are_one_line_and_exit_2(tmp_path, prev, args, message):
    prev.save(tmp_path / "prev.nc")
    proc = cli("run", "--continue-from", str(tmp_path / "prev.nc"), "--t-end", "1", *args,
               "--out", str(tmp_path / "next.nc"))
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("snnreduce: error: ") and message in lines[0]
    assert not (tmp_path / "next.nc").exists()


# ----------------------------------------------------------------------------- Result.concat
def _piece(t_start, counts, spikes, *, record_every=None, final=None):
    n = counts.shape[0]
    records = {"pending": np.arange(n * 4, dtype=float).reshape(n, 4) + t_start}
    options = {"drive": "gaussian"}
    if record_every is not None:
        m = int(round(record_every / 0.1))
        records = {"pending": records["pending"][m - 1::m]}
        options["record_every"] = record_every
    return Result(params=SMALL, engine="stepped", seed=1, t_end=n * 0.1, dt=0.1,
                  population_counts=counts, spike_times=spikes[0], spike_neurons=spikes[1],
                  records=records, options=options, t_start=t_start, wall_time=1.0,
                  final_state=final or {})


def test_concat_joins_counts_spikes_records_and_keeps_the_later_state():
    rng = np.random.default_rng(2)
    first = _piece(0.0, rng.poisson(1.0, (20, 2)), (np.array([0.05, 1.15]), np.array([1, 44])),
                   record_every=0.5, final={"step": np.array(20)})
    later = _piece(2.0, rng.poisson(1.0, (30, 2)), (np.array([2.05]), np.array([7])),
                   record_every=0.5, final={"step": np.array(50)})
    both = first.concat(later)
    assert both.t_start == 0.0 and both.t_end == pytest.approx(5.0) and both.n_steps == 50
    np.testing.assert_array_equal(both.population_counts,
                                  np.concatenate([first.population_counts,
                                                  later.population_counts]))
    np.testing.assert_array_equal(both.spike_times, [0.05, 1.15, 2.05])
    np.testing.assert_array_equal(both.spike_neurons, [1, 44, 7])
    assert both.records["pending"].shape == (10, 4)
    np.testing.assert_allclose(both.record_time, 0.5 * np.arange(1, 11))
    assert both.final_state["step"] == 50 and both.wall_time == 2.0


@pytest.mark.parametrize("change, message", [
    (lambda r: r.replace(t_start=2.5), "starts at t = 2.5 ms, not where this one ends"),
    (lambda r: r.replace(seed=2), "differs in seed"),
    (lambda r: r.replace(params=SMALL.replace(p_ee=0.5)), "differs in params"),
    (lambda r: r.replace(options={"drive": "gaussian", "record_every": 1.0},
                         records={"pending": np.zeros((3, 4))}), "differs in record_every"),
    (lambda r: r.replace(spike_times=None, spike_neurons=None), "differs in spikes"),
])
def test_concat_refuses_runs_that_do_not_join(change, message):
    first = _piece(0.0, np.zeros((20, 2)), (np.array([0.05]), np.array([1])))
    later = _piece(2.0, np.zeros((30, 2)), (np.array([2.05]), np.array([7])))
    with pytest.raises(ParameterError, match=message):
        first.concat(change(later))
