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


# ----------------------------------------------------------------------------- exactness
#: Every model that resumes, with the records it can keep.
RESUMING = {
    "snn": ("voltage", "pending", "refractory"),
    "markov": ("voltage", "pending", "refractory"),
    "surrogate": ("voltage", "pending", "pending_var", "refractory"),
    "dsode": ("bin_count", "bin_mean", "pending", "pending_var", "refractory"),
    "dsode-fs": ("bin_count", "bin_mean", "pending", "pending_var", "refractory"),
    "fp": ("refractory", "pending", "bin_count", "bin_mean"),
    "fp-fs": ("refractory", "pending", "bin_count", "bin_mean"),
}
NETWORKS = [m for m in RESUMING if snnreduce.models.get(m).kind == "network"
            or m == "surrogate"]
T_END = 40.0


def assert_same_run(got: Result, want: Result):
    """Bit for bit: counts, spikes, records; the same span and provenance.

    Final states are compared by what they do (:func:`assert_same_future`): an engine may
    keep per-call bookkeeping in them (the markov engine's step counters) that differs
    between one run and two without changing what follows.
    """
    assert (got.engine, got.seed, got.t_start, got.status) == (want.engine, want.seed,
                                                               want.t_start, want.status)
    assert got.t_end == pytest.approx(want.t_end, abs=1e-9) and got.n_steps == want.n_steps
    np.testing.assert_array_equal(got.population_counts, want.population_counts)
    assert got.has_spikes == want.has_spikes
    if want.has_spikes:
        np.testing.assert_array_equal(got.spike_times, want.spike_times)
        np.testing.assert_array_equal(got.spike_neurons, want.spike_neurons)
    assert sorted(got.records) == sorted(want.records)
    for name, values in want.records.items():
        np.testing.assert_array_equal(got.records[name], values, err_msg=name)
    assert list(got.final_state) == list(want.final_state)


def assert_same_future(model, got: Result, want: Result, t_end: float = 5.0):
    """Continuing either run for ``t_end`` ms gives the same run."""
    assert_same_run(_run(model, None, t_end, continue_from=got),
                    _run(model, None, t_end, continue_from=want))


def _run(model, seed, t_end, **kwargs):
    options = {"record": RESUMING[model], **kwargs.pop("options", {})}
    return run_model(SMALL, model, seed=seed, t_end=t_end, options=options, **kwargs)


@pytest.mark.parametrize("model, seed", [
    (m, s) for m in RESUMING for s in ((0,) if snnreduce.models.get(m).deterministic else (0, 1))])
def test_half_then_continued_equals_one_run(model, seed, tmp_path):
    whole = _run(model, seed, T_END)
    first = _run(model, seed, T_END / 2)
    second = _run(model, None, T_END / 2, continue_from=first)
    assert second.t_start == T_END / 2 and second.seed == first.seed
    assert second.time[0] == T_END / 2  # absolute times
    assert_same_run(first.concat(second), whole)
    assert_same_future(model, first.concat(second), whole)
    # the same through a saved file of the first half
    first.save(tmp_path / "first.nc")
    again = _run(model, None, T_END / 2, continue_from=snnreduce.load(tmp_path / "first.nc"))
    assert_same_run(first.concat(again), whole)


@pytest.mark.parametrize("model", list(RESUMING))
def test_sampled_records_continue_on_the_same_grid(model, tmp_path):
    whole = _run(model, 2, T_END, options={"record_every": 0.5})
    first = _run(model, 2, T_END / 2, options={"record_every": 0.5})
    first.save(tmp_path / "first.nc")
    # record_every is taken from the run continued
    second = _run(model, None, T_END / 2, continue_from=snnreduce.load(tmp_path / "first.nc"))
    assert second.record_every == 0.5
    np.testing.assert_allclose(second.record_time, T_END / 2 + 0.5 * np.arange(1, 41))
    both = first.concat(second)
    assert_same_run(both, whole)
    np.testing.assert_array_equal(both.record_time, whole.record_time)


def test_cli_continues_a_saved_run(tmp_path):
    base = ["--model", "snn", "--set", "n_e=40", "--set", "n_i=15", "--seed", "5",
            "--record", "pending", "--record-every", "0.5", "--quiet"]
    for args, out in ((["--t-end", "40"], "whole.nc"), (["--t-end", "20"], "first.nc")):
        proc = cli("run", *base, *args, "--out", str(tmp_path / out))
        assert proc.returncode == 0, proc.stderr
    proc = cli("run", "--continue-from", str(tmp_path / "first.nc"), "--t-end", "20", "--quiet",
               "--out", str(tmp_path / "second.nc"))
    assert proc.returncode == 0, proc.stderr
    assert "20–40 ms" in proc.stderr
    second = snnreduce.load(tmp_path / "second.nc")
    assert second.t_start == 20.0 and second.seed == 5 and second.record_every == 0.5
    assert list(second.records) == ["pending"]  # what the continued run recorded
    assert_same_run(snnreduce.load(tmp_path / "first.nc").concat(second),
                    snnreduce.load(tmp_path / "whole.nc"))


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


# ----------------------------------------------------------------------------- initial_state
@pytest.mark.parametrize("model", NETWORKS)
def test_network_starts_from_given_voltages(model):
    # every neuron one unit kick below threshold fires within the first ms; from rest none can
    # (a spike needs M = 100 unit kicks at about 0.7 kicks per 0.1 ms step)
    near = np.full(SMALL.n_e + SMALL.n_i, SMALL.threshold - 1.0)
    started = run_model(SMALL, model, seed=0, t_end=2.0, initial_state=near)
    rest = run_model(SMALL, model, seed=0, t_end=2.0)
    first_ms = slice(0, 10)
    assert started.population_counts[first_ms].sum() > 0.5 * (SMALL.n_e + SMALL.n_i)
    assert rest.population_counts[first_ms].sum() == 0


@pytest.mark.parametrize("bad", [np.zeros(7), np.full(55, np.nan), np.full(55, 100.0)])
def test_bad_voltage_arrays_name_initial_state(bad):
    with pytest.raises(ParameterError, match="initial_state"):
        snnreduce.simulate(SMALL, t_end=1.0, seed=0, initial_state=bad)


def test_dsode_starts_from_given_bins():
    # everybody in the top bin fires at once; from rest nobody can within 1 ms
    n_bins = snnreduce.reduce(SMALL, t_end=0.1, record=("bin_count",)).records["bin_count"].shape[-1]
    bins = np.zeros((2, n_bins))
    bins[:, -1] = SMALL.n_e, SMALL.n_i
    started = snnreduce.reduce(SMALL, t_end=2.0, initial_state=bins)
    rest = snnreduce.reduce(SMALL, t_end=2.0)
    assert started.population_counts[:10].sum() > 0.5 * (SMALL.n_e + SMALL.n_i)
    assert rest.population_counts[:10].sum() < 1e-3
    with pytest.raises(ParameterError, match="initial_state"):
        snnreduce.reduce(SMALL, t_end=1.0, initial_state=bins[:, :-1] * 0.5)


# ----------------------------------------------------------------------------- stimulus
@pytest.mark.parametrize("model", ["snn", "dsode"])
def test_a_stimulus_goes_on_in_the_continued_run(model):
    # a step in the second half: the first half holds it in its options, the continuation
    # takes it from there and evaluates it at absolute time
    step = "E:lambda+step(at=25,amp=3)"
    whole = _run(model, 4, T_END, options={"stimulus": step})
    first = _run(model, 4, T_END / 2, options={"stimulus": step})
    second = _run(model, None, T_END / 2, continue_from=first)
    assert second.options["stimulus"] == first.options["stimulus"]
    assert_same_run(first.concat(second), whole)
    # and the step changes the second half (the run without it differs)
    plain = _run(model, None, T_END / 2, continue_from=_run(model, 4, T_END / 2))
    assert not np.array_equal(plain.population_counts, second.population_counts)


def test_a_stimulus_given_again_replaces_the_previous_one():
    first = _run("dsode", None, T_END / 2)
    second = _run("dsode", None, T_END / 2, continue_from=first,
                  options={"stimulus": "E:lambda+step(at=25,amp=3)"})
    assert "stimulus" not in first.options and "step" in str(second.options["stimulus"])


def test_a_run_whose_t_end_is_not_whole_steps_continues_from_the_end_of_its_last_step():
    # t_end = 20.05 ms is 201 steps of 0.1 ms: the next run starts at 20.1 ms, not 20.05
    first = run_model(SMALL, "dsode", seed=None, t_end=20.05, options={"record": ()})
    later = run_model(SMALL, "dsode", seed=None, t_end=20.0, options={"record": ()},
                      continue_from=first)
    assert later.t_start == pytest.approx(20.1, abs=1e-9)
    whole = run_model(SMALL, "dsode", seed=None, t_end=40.1, options={"record": ()})
    joined = first.concat(later)
    assert joined.n_steps == whole.n_steps == 401
    np.testing.assert_array_equal(joined.population_counts, whole.population_counts)
