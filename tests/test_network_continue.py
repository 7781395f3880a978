"""Initial states, exact continuation and sampled records of the network engines
(issue 15 item 5, contract items 3-5): run(0 -> T) equals run(0 -> T/2) then run(T/2 -> T)
from its final_state, bit for bit, for stepped, markov and surrogate."""

import json

import numpy as np
import pytest

from snnreduce import NetworkParams, ParameterError, models, validation
from snnreduce.stimulus import parse_stimulus

SMALL = NetworkParams.preset("reference", n_e=150, n_i=50)
# (model, params, options): every engine, and the variants whose state differs
CASES = [
    ("snn", SMALL, {}),
    ("snn", SMALL.replace(connectivity="quenched", initial_state="uniform"),
     {"drive": "poisson", "recurrent": "sampled", "consumption": "binomial"}),
    ("snn", SMALL.replace(refractory="fixed", tau_m=20.0), {}),
    ("snn", NetworkParams.preset("reference"), {}),  # 400 neurons: the worker pool may run
    ("markov", SMALL.replace(initial_state="uniform"), {}),
    ("markov", SMALL.replace(connectivity="quenched", refractory="fixed", tau_m=15.0),
     {"fixed_indegree": True}),
    ("markov", SMALL.replace(threshold=100.0, inhibitory_reversal=66.0, tau_m=20.0,
                             initial_state="uniform", lambda_e=30.0, lambda_i=30.0),
     {"voltage": "integer"}),
    ("surrogate", SMALL.replace(initial_state="uniform"), {}),
    ("surrogate", SMALL.replace(refractory="fixed"), {"closure": "paper"}),
]
IDS = [f"{m}-{i}" for i, (m, _, _) in enumerate(CASES)]
RECORDS = {"snn": ("voltage", "pending", "refractory"),
           "markov": ("voltage", "pending", "refractory"),
           "surrogate": ("voltage", "pending", "pending_var", "refractory")}
STIMULUS = "E:lambda+sine(amp=3,hz=25); I:lambda+step(at=70,amp=-2,duration=40)"


def run(model, params, *, t_end, seed=0, rng=None, **kw):
    if rng is None and not isinstance(kw.get("initial_state"), dict):
        rng = validation.generator(seed)
    return models.get(model).load()(params, t_end=t_end, rng=rng, **kw)


def assert_same_run(full, first, second, record):
    for key in ("spike_times", "spike_neurons", "population_counts"):
        assert np.array_equal(full[key], np.concatenate([first[key], second[key]])), key
    for name in record:
        assert np.array_equal(full["records"][name], np.concatenate(
            [first["records"][name], second["records"][name]])), name


def through_json(state):
    """A final state as a file would give it back: arrays rebuilt from lists, text as text."""
    out = {}
    for k, v in state.items():
        if isinstance(v, str):
            out[k] = v
        else:
            assert isinstance(v, np.ndarray) and v.dtype.kind in "iuf", (k, type(v))
            out[k] = np.array(json.loads(json.dumps(v.tolist())), dtype=v.dtype)
    return out


@pytest.mark.parametrize("stimulus", [None, STIMULUS], ids=["constant", "stimulus"])
@pytest.mark.parametrize("model,params,options", CASES, ids=IDS)
@pytest.mark.parametrize("seed", [0, 1])
def test_two_halves_are_the_whole_run(model, params, options, stimulus, seed):
    record = RECORDS[model]
    kw = dict(options, record=record, stimulus=parse_stimulus(stimulus) if stimulus else None)
    t_end = 120.0
    full = run(model, params, t_end=t_end, seed=seed, **kw)
    assert full["population_counts"].sum() > 50
    first = run(model, params, t_end=t_end / 2, seed=seed, **kw)
    # the rng argument is ignored when resuming: the streams come from the state
    second = run(model, params, t_end=t_end / 2, rng=validation.generator(seed + 99),
                 initial_state=through_json(first["final_state"]), t_start=t_end / 2, **kw)
    assert_same_run(full, first, second, record)
    assert second["spike_times"].size == 0 or second["spike_times"].min() >= t_end / 2
    assert int(full["final_state"]["step"]) == int(second["final_state"]["step"]) == 1200


@pytest.mark.parametrize("model", ["snn", "markov", "surrogate"])
def test_three_pieces_and_a_continued_continuation(model):
    params = SMALL.replace(initial_state="uniform")
    full = run(model, params, t_end=90.0, seed=4, record=("refractory",))
    pieces, state, t = [], None, 0.0
    for span in (30.0, 20.0, 40.0):
        kw = {"initial_state": state} if state is not None else {"seed": 4}
        out = run(model, params, t_end=span, t_start=t, record=("refractory",), **kw)
        pieces.append(out)
        state, t = out["final_state"], t + span
    for key in ("spike_times", "population_counts"):
        assert np.array_equal(full[key], np.concatenate([p[key] for p in pieces]))
    assert np.array_equal(full["records"]["refractory"],
                          np.concatenate([p["records"]["refractory"] for p in pieces]))


@pytest.mark.parametrize("model", ["snn", "markov", "surrogate"])
def test_voltage_array_as_initial_state(model):
    params = SMALL.replace(initial_state="uniform")
    n = params.n_e + params.n_i
    v0 = np.linspace(-2.0, params.threshold - 1e-9, n)
    out = run(model, params, t_end=20.0, seed=0, initial_state=v0, record=("voltage",))
    again = run(model, params, t_end=20.0, seed=0, initial_state=list(v0), record=("voltage",))
    assert np.array_equal(out["spike_times"], again["spike_times"])
    # the neurons just below threshold spike first; no neuron of the array starts refractory
    first = out["spike_neurons"][out["spike_times"] < 0.3]
    assert first.size > 0 and first.min() >= n // 2
    # "rest" is the all-zero array
    rest = run(model, SMALL, t_end=20.0, seed=0)
    zeros = run(model, SMALL, t_end=20.0, seed=0, initial_state=np.zeros(n))
    assert np.array_equal(rest["spike_times"], zeros["spike_times"])


@pytest.mark.parametrize("model", ["snn", "markov", "surrogate"])
def test_bad_initial_states_are_parameter_errors(model):
    n = SMALL.n_e + SMALL.n_i
    bad = [(np.zeros(n - 1), "shape"), (np.full(n, np.nan), "finite"),
           (np.full(n, SMALL.threshold), r"\[-inhibitory_reversal, threshold\)"),
           (np.full(n, -SMALL.inhibitory_reversal - 1), "initial_state"),
           ("uniform", "initial_state"), (np.zeros((2, n)), "shape")]
    for value, message in bad:
        with pytest.raises(ParameterError, match=message):
            run(model, SMALL, t_end=5.0, initial_state=value)
    state = run(model, SMALL, t_end=5.0)["final_state"]
    with pytest.raises(ParameterError, match="t_start"):
        run(model, SMALL, t_end=5.0, initial_state=state, t_start=0.0)
    with pytest.raises(ParameterError, match="lacks"):
        run(model, SMALL, t_end=5.0, initial_state={k: v for k, v in state.items()
                                                    if k != "voltage"}, t_start=5.0)
    other = "markov" if model != "markov" else "snn"
    foreign = run(other, SMALL, t_end=5.0)["final_state"]
    with pytest.raises(ParameterError, match="resumes only its own"):
        run(model, SMALL, t_end=5.0, initial_state=foreign, t_start=5.0)
    with pytest.raises(ParameterError, match="shape"):
        run(model, SMALL.replace(n_e=151), t_end=5.0, initial_state=state, t_start=5.0)


def test_integer_voltages_need_integers():
    params = SMALL.replace(threshold=20.0, inhibitory_reversal=14.0)
    with pytest.raises(ParameterError, match="integers"):
        run("markov", params, t_end=5.0, voltage="integer",
            initial_state=np.full(params.n_e + params.n_i, 0.5))


# ------------------------------------------------------------------ record_every (item 5)
@pytest.mark.parametrize("model,params,options", CASES[:1] + CASES[4:5] + CASES[7:8],
                         ids=["snn", "markov", "surrogate"])
@pytest.mark.parametrize("every", [0.1, 0.5, 2.3])
def test_sampled_records_are_every_mth_row(model, params, options, every):
    record = RECORDS[model]
    full = run(model, params, t_end=50.0, seed=2, record=record, **options)
    sampled = run(model, params, t_end=50.0, seed=2, record=record, record_every=every,
                  **options)
    m = round(every / params.dt)
    assert np.array_equal(full["population_counts"], sampled["population_counts"])
    assert np.array_equal(full["spike_times"], sampled["spike_times"])
    for name in record:
        rows = full["records"][name][m - 1::m]
        assert sampled["records"][name].shape[0] == 500 // m
        assert np.array_equal(sampled["records"][name], rows[:500 // m]), name


@pytest.mark.parametrize("model", ["snn", "markov", "surrogate"])
def test_bad_record_every(model):
    for value in (0.0, -0.1, 0.15, float("nan"), "x"):
        with pytest.raises(ParameterError, match="record_every"):
            run(model, SMALL, t_end=5.0, record=("refractory",), record_every=value)
