"""The engine contract, checked for every model of the registry (snnreduce.models)."""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest

import snnreduce
from snnreduce import NetworkParams, ParameterError, Result
from snnreduce import models as registry
from snnreduce.api import run_model
from snnreduce.result import RECORD_DIMS

# leaky (rdm needs tau_m > 0), small and short: the contract, not the science
PARAMS = NetworkParams(n_e=40, n_i=20, tau_m=20.0)
T_END = 50.0
N_STEPS = math.ceil(T_END / PARAMS.dt - 1e-9)
HAVE_NEST = importlib.util.find_spec("nest") is not None
# options under which a model offers its recordings (the GIF network records voltage)
RECORD_OPTIONS = {"rdm": {"level": "micro"}}


def _models():
    for name, model in registry.MODELS.items():
        marks = [pytest.mark.skipif(not HAVE_NEST, reason="needs NEST")] if name == "rdm" else []
        yield pytest.param(name, marks=marks, id=name)


def _counts(result):
    return np.nan_to_num(np.asarray(result.population_counts, dtype=float), nan=-1.0)


@pytest.mark.parametrize("name", list(_models()))
def test_engine_contract(name):
    model = registry.get(name)
    first = run_model(PARAMS, name, seed=5, t_end=T_END)

    # dims and provenance
    assert isinstance(first, Result)
    assert first.engine == model.engine and first.params is PARAMS
    assert first.t_end == T_END and first.dt == PARAMS.dt and first.status == "ok"
    assert first.version == snnreduce.__version__ and first.wall_time > 0
    assert first.population_counts.shape == (N_STEPS, 2)
    assert np.all(np.isfinite(first.population_counts)) and np.all(first.population_counts >= 0)
    if first.has_spikes:
        assert np.all(np.diff(first.spike_times) >= 0)
        assert first.spike_times.min() >= 0 and first.spike_times.max() < T_END
        assert 0 <= first.spike_neurons.min() and first.spike_neurons.max() < PARAMS.n_e + PARAMS.n_i
        assert first.population_counts.sum() == first.spike_times.size

    # seed semantics: recorded, reproducible, and used exactly when the model is stochastic
    assert first.seed == (5 if model.seeded else None)
    again = run_model(PARAMS, name, seed=5, t_end=T_END)
    assert np.array_equal(_counts(again), _counts(first))
    other = run_model(PARAMS, name, seed=6, t_end=T_END)
    assert np.array_equal(_counts(other), _counts(first)) == model.deterministic
    fresh = run_model(PARAMS, name, seed=None, t_end=T_END)
    if not model.seeded:
        assert fresh.seed is None
    elif model.deterministic:
        assert fresh.seed == 0
    else:
        assert isinstance(fresh.seed, int) and fresh.seed >= 0

    # every recording it offers, with the dimensions of RECORD_DIMS
    options = {**RECORD_OPTIONS.get(name, {}), "record": model.records}
    recorded = run_model(PARAMS, name, seed=5, t_end=T_END, options=options)
    for record in model.records:
        values = recorded.records[record]
        assert values.ndim == len(RECORD_DIMS[record]) and values.shape[0] == N_STEPS, record

    # bad options and records: one clear ParameterError naming them
    with pytest.raises(ParameterError, match="no_such_option"):
        run_model(PARAMS, name, seed=5, t_end=T_END, options={"no_such_option": 1})
    with pytest.raises(ParameterError, match="can record"):
        run_model(PARAMS, name, seed=5, t_end=T_END, options={"record": ("bin_edges",)})


def test_registry_records_are_what_the_engines_offer():
    from snnreduce.baselines import fokker_planck
    from snnreduce.dsode import DSODE_RECORDS
    from snnreduce.network._common import NETWORK_RECORDS
    from snnreduce.network.surrogate import SURROGATE_RECORDS

    offered = {"snn": NETWORK_RECORDS, "markov": NETWORK_RECORDS, "surrogate": SURROGATE_RECORDS,
               "dsode": DSODE_RECORDS, "dsode-fs": DSODE_RECORDS, "fp": fokker_planck.RECORDS,
               "fp-fs": fokker_planck.RECORDS}
    for name, records in offered.items():
        assert set(registry.get(name).records) == set(records), name
    assert all(r in RECORD_DIMS for m in registry.MODELS.values() for r in m.records)


def test_unknown_model_and_engine_names():
    with pytest.raises(ParameterError, match="model must be one of snn, markov"):
        registry.get("lif")
    with pytest.raises(ParameterError, match="engine must be one of stepped"):
        snnreduce.simulate(PARAMS, "lif", t_end=1.0)
    with pytest.raises(ParameterError, match="built-in"):
        registry.unregister("snn")
    with pytest.raises(ParameterError, match="already registered"):
        registry.register(registry.get("snn"))


def test_registry_options_are_the_engines_options():
    """The help texts list each model's options from the registry: they must be the engine's."""
    import inspect

    from snnreduce.baselines import fokker_planck, refractory_density

    # the run contract's keywords (every engine takes them; docs/architecture.md)
    contract = {"params", "t_end", "rng", "record", "progress", "noise", "unknown", "options",
                "stimulus", "t_start", "initial_state", "record_every"}
    for name in ("snn", "markov", "surrogate", "dsode", "dsode-fs"):
        model = registry.get(name)
        signature = inspect.signature(model.load()).parameters
        assert set(model.options) == set(signature) - contract, name
    fp_options = set(fokker_planck.DEFAULTS) - {"finite_size"}  # implied by the model name
    assert set(registry.get("fp").options) == set(registry.get("fp-fs").options) == fp_options
    assert set(registry.get("rdm").options) == {"level", *refractory_density.RUN_DEFAULTS,
                                                *refractory_density.MAPPING_DEFAULTS}


def test_compare_and_sweep_share_one_seed_rule():
    from snnreduce.compare import compare
    from snnreduce.sweep import sweep
    from snnreduce.validation import seed_labels

    assert seed_labels(3) == (0, 1, 2) and seed_labels([5, 2]) == (5, 2)
    for bad, message in (([3, 3], "seeds repeat a value"), (0, "seeds must be >= 1"),
                         ([True], "a list of integers"), ("12", "a list of integers")):
        with pytest.raises(ParameterError, match=message):
            seed_labels(bad)
        with pytest.raises(ParameterError, match=message):
            compare(PARAMS, seeds=bad, t_end=200.0, progress=False)
        with pytest.raises(ParameterError, match=message):
            sweep(PARAMS, {"p_ei": [0.7]}, models="snn", seeds=bad, t_end=200.0,
                  backend="serial", progress=False)
