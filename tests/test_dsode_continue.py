"""Initial states, exact continuation and sampled records of the dsODE and Fokker-Planck:
run(0 -> T) equals run(0 -> T/2) continued from its final_state, bit for bit."""

import json

import numpy as np
import pytest

import snnreduce as sr
from snnreduce.baselines import fokker_planck as fp
from snnreduce.dsode import run, run_batch
from snnreduce.stimulus import parse_stimulus

ALL = ("bin_count", "bin_mean", "pending", "pending_var", "refractory")
FP_RECORDS = ("refractory", "pending", "bin_count", "bin_mean")
SINE = "E:lambda+sine(amp=2,hz=40); I:lambda+step(at=35,amp=1.5,duration=20)"


def _joined(first, second):
    out = {"population_counts": np.concatenate([first["population_counts"],
                                                second["population_counts"]])}
    for key, value in first["records"].items():
        out[key] = value if key == "bin_edges" else np.concatenate([value,
                                                                    second["records"][key]])
    return out


def _assert_same(whole, joined):
    assert np.array_equal(whole["population_counts"], joined["population_counts"])
    for key, value in whole["records"].items():
        assert np.array_equal(value, joined[key]), key


# ------------------------------------------------------------------- exact continuation
@pytest.mark.parametrize("stimulus", [None, SINE])
@pytest.mark.parametrize("noise, seed", [(None, None), ("finite-size", 0), ("finite-size", 1)])
@pytest.mark.parametrize("preset, extra", [("reference", {}),
                                           ("lcy-regular", {"refractory": "fixed"})])
def test_continuing_from_final_state_is_one_run_bit_for_bit(stimulus, noise, seed, preset,
                                                            extra):
    params = sr.NetworkParams.preset(preset, **extra)
    stim = None if stimulus is None else parse_stimulus(stimulus)
    kw = dict(noise=noise, record=ALL, stimulus=stim)

    def gen():
        return None if seed is None else np.random.default_rng(seed)

    whole = run(params, t_end=80.0, rng=gen(), **kw)
    first = run(params, t_end=40.0, rng=gen(), **kw)
    state = first["final_state"]
    assert state["engine"] == "dsode" and int(state["step"]) == 400
    assert float(state["time"]) == pytest.approx(40.0)
    assert ("rng" in state) == (noise is not None)
    # the continued run rebuilds its stream from the state: the rng argument is ignored
    second = run(params, t_end=40.0, rng=np.random.default_rng(12345) if noise else None,
                 t_start=40.0, initial_state=state, **kw)
    assert second["options"]["initial_state"] == "final_state"
    _assert_same(whole, _joined(first, second))
    for key in ("n", "vm", "h", "var", "eta", "eta_r", "line", "refr"):
        assert np.array_equal(whole["final_state"][key], second["final_state"][key]), key
    # the given state was not modified by the continued run
    assert np.array_equal(state["n"], first["final_state"]["n"])


def test_final_state_holds_plain_types():
    out = run(sr.NetworkParams.preset("reference"), t_end=5.0, noise="finite-size",
              rng=np.random.default_rng(3))
    for key, value in out["final_state"].items():
        assert isinstance(value, (np.ndarray, str)), key
    assert json.loads(out["final_state"]["rng"])["bit_generator"] == "PCG64"


def test_batch_continues_like_single_runs():
    sets = [sr.NetworkParams.preset("reference"),
            sr.NetworkParams.preset("reference", threshold=60.0, refractory="fixed")]
    firsts = run_batch(sets, t_end=20.0, record=("bin_count",))
    seconds = run_batch(sets, t_end=20.0, record=("bin_count",), t_start=20.0,
                        initial_state=[f["final_state"] for f in firsts])
    for params, a, b in zip(sets, firsts, seconds):
        whole = run(params, t_end=40.0, record=("bin_count",))
        _assert_same(whole, _joined(a, b))


@pytest.mark.parametrize("finite_size", [False, True])
@pytest.mark.parametrize("case", [dict(preset="reference"),
                                  dict(preset="reference", refractory="fixed", tau_r=2.35,
                                       delay=1.0)])
def test_fokker_planck_continues_bit_for_bit(finite_size, case):
    case = dict(case)
    delay = case.pop("delay", 0.0)
    params = sr.NetworkParams.preset(case.pop("preset"), tau_m=20.0, **case)
    kw = dict(finite_size=finite_size, delay=delay, record=FP_RECORDS,
              stimulus=parse_stimulus(SINE))
    whole = fp.run(params, t_end=60.0, rng=np.random.default_rng(4), **kw)
    first = fp.run(params, t_end=30.0, rng=np.random.default_rng(4), **kw)
    second = fp.run(params, t_end=30.0, rng=np.random.default_rng(99), t_start=30.0,
                    initial_state=first["final_state"], **kw)
    _assert_same(whole, _joined(first, second))


# ------------------------------------------------------------------------ array states
def test_a_bin_array_starts_the_run_like_the_same_parameter_state():
    """The deterministic "uniform" state of the reference preset is N_Q M-th of the
    neurons in each bin of [0, M), at the bin centres: as an array it gives the same run."""
    params = sr.NetworkParams.preset("reference", initial_state="uniform")
    ref = run(params, t_end=20.0, record=("bin_count",))
    edges = ref["records"]["bin_edges"]
    share = np.clip(np.minimum(edges[1:], params.threshold) - np.maximum(edges[:-1], 0), 0, None)
    cells = np.outer(params.n, share / params.threshold)
    got = run(params.replace(initial_state="rest"), t_end=20.0, record=("bin_count",),
              initial_state=cells)
    assert got["options"]["initial_state"] == "array"
    assert np.allclose(got["population_counts"], ref["population_counts"], rtol=1e-12,
                       atol=1e-12)


@pytest.mark.parametrize("bad, match", [
    (np.ones((2, 5)), r"initial_state: neurons per bin must have shape \(2, 35\)"),
    (np.full((2, 35), np.nan), "initial_state: neurons per bin must be finite"),
    (np.full((2, 35), -1.0), "initial_state: neurons per bin must be >= 0"),
    (np.ones((2, 35)), "initial_state: the bins of population E must hold its 300 neurons"),
    ("uniform", "initial_state: a string initial state is a parameter"),
    ({"engine": "stepped"}, "a final_state of the 'stepped' engine cannot start a dsODE run"),
    ({"n": np.zeros((2, 35))}, "a dsODE final_state needs"),
])
def test_bad_initial_states_are_one_parameter_error(bad, match):
    with pytest.raises(sr.ParameterError, match=match):
        run(sr.NetworkParams.preset("reference"), t_end=1.0, initial_state=bad)


def test_final_state_of_other_options_or_time_is_refused():
    params = sr.NetworkParams.preset("reference")
    state = run(params, t_end=10.0)["final_state"]
    with pytest.raises(sr.ParameterError, match=r"initial_state: n must have shape \(2, 70\)"):
        run(params, t_end=10.0, t_start=10.0, initial_state=state, dv=2.0)
    with pytest.raises(sr.ParameterError, match="t_start must be where the final_state ended, 10 ms"):
        run(params, t_end=10.0, t_start=5.0, initial_state=state)
    with pytest.raises(sr.ParameterError, match="t_start must be"):
        run(params, t_end=10.0, t_start=-1.0)
    fp_state = fp.run(params.replace(tau_m=20.0), t_end=5.0)["final_state"]
    with pytest.raises(sr.ParameterError, match="'fokker-planck' engine cannot start a dsODE"):
        run(params, t_end=1.0, t_start=5.0, initial_state=fp_state)
    with pytest.raises(sr.ParameterError, match="initial_state: neurons per cell must have"):
        fp.run(params.replace(tau_m=20.0), t_end=1.0, initial_state=np.ones((2, 3)))


def test_fokker_planck_cell_array_is_a_start():
    params = sr.NetworkParams.preset("reference", tau_m=20.0)
    ref = fp.run(params, t_end=10.0, record=("bin_count",))
    cells = ref["records"]["bin_count"][0]          # the density after one step, as a start
    out = fp.run(params, t_end=5.0, record=("bin_count",), initial_state=cells)
    assert out["options"]["initial_state"] == "array"
    assert np.allclose(out["records"]["bin_count"].sum(axis=2), np.array(params.n, float))


# --------------------------------------------------------------------------- sampling
@pytest.mark.parametrize("noise", [None, "finite-size"])
def test_sampled_records_are_every_mth_row(noise):
    params = sr.NetworkParams.preset("reference")
    kw = dict(t_end=31.0, noise=noise, record=ALL)
    full = run(params, rng=np.random.default_rng(5), **kw)
    part = run(params, rng=np.random.default_rng(5), record_every=0.5, **kw)
    assert np.array_equal(full["population_counts"], part["population_counts"])
    assert part["options"]["record_every"] == pytest.approx(0.5)
    for key in ALL:
        assert part["records"][key].shape[0] == 310 // 5
        assert np.array_equal(part["records"][key], full["records"][key][4::5]), key
    assert "record_every" not in full["options"]


def test_a_20_s_run_with_default_records_shrinks_with_record_every():
    params = sr.NetworkParams.preset("reference")
    out = run(params, t_end=20000.0, record=("bin_count", "bin_mean"), record_every=10.0)
    sizes = sum(v.nbytes for k, v in out["records"].items() if k != "bin_edges")
    assert out["records"]["bin_count"].shape == (2000, 2, 35)
    assert sizes == 2 * 2000 * 2 * 35 * 4       # float32: 100x less than every step


def test_fokker_planck_sampled_records_are_every_mth_row():
    params = sr.NetworkParams.preset("reference", tau_m=20.0)
    full = fp.run(params, t_end=20.0, record=FP_RECORDS)
    part = fp.run(params, t_end=20.0, record=FP_RECORDS, record_every=1.0)
    for key in FP_RECORDS:
        assert np.array_equal(part["records"][key], full["records"][key][9::10]), key


def test_batch_samples_records_too():
    sets = [sr.NetworkParams.preset("reference"), sr.NetworkParams.preset("lcy-regular")]
    part = run_batch(sets, t_end=20.0, record=("bin_count", "refractory"), record_every=0.3)
    for params, got in zip(sets, part):
        full = run(params, t_end=20.0, record=("bin_count", "refractory"))
        assert np.array_equal(got["records"]["bin_count"], full["records"]["bin_count"][2::3])
        assert np.array_equal(got["records"]["refractory"], full["records"]["refractory"][2::3])


@pytest.mark.parametrize("every", [0.05, -1.0, 0.15, "1", True, float("nan")])
def test_bad_record_every_is_one_parameter_error(every):
    with pytest.raises(sr.ParameterError, match="record_every must be a positive multiple of dt"):
        run(sr.NetworkParams.preset("reference"), t_end=1.0, record_every=every)


def test_a_chain_started_off_the_step_grid_continues_exactly():
    """A first run from t_start = 0.05 (not a multiple of dt): its stimulus grid is
    0.05 + k dt, which the final state carries (t_origin), so the continued run evaluates the
    stimulus exactly where one run over the whole span would."""
    params = sr.NetworkParams.preset("reference")
    stim = parse_stimulus(SINE)
    whole = run(params, t_end=60.0, t_start=0.05, stimulus=stim, record=("pending",))
    first = run(params, t_end=30.0, t_start=0.05, stimulus=stim, record=("pending",))
    assert float(first["final_state"]["t_origin"]) == 0.05
    second = run(params, t_end=30.0, t_start=float(first["final_state"]["time"]),
                 stimulus=stim, record=("pending",), initial_state=first["final_state"])
    _assert_same(whole, _joined(first, second))
    fp_params = params.replace(tau_m=20.0)
    whole = fp.run(fp_params, t_end=40.0, t_start=0.05, stimulus=stim)
    a = fp.run(fp_params, t_end=20.0, t_start=0.05, stimulus=stim)
    b = fp.run(fp_params, t_end=20.0, t_start=float(a["final_state"]["time"]), stimulus=stim,
               initial_state=a["final_state"])
    _assert_same(whole, _joined(a, b))
