"""The model registry: every model (spiking engine, reduction, baseline) declared once.

:func:`snnreduce.api.run_model`, :func:`snnreduce.compare.compare`, :func:`snnreduce.sweep.sweep`,
the figures of :mod:`snnreduce.plot` and the ``snnreduce`` command read this table; none of
them lists model names of its own. Adding a model is its module (an engine function with the
contract below) plus one :class:`Model` entry in :data:`_BUILTIN` (or, from outside the
package, :func:`register`).

The engine contract
-------------------
``run(params, *, t_end, rng, record, progress, **options) -> dict`` with keys
``population_counts`` (n_steps, 2), ``spike_times`` / ``spike_neurons`` (or None), ``records``
(names of :data:`snnreduce.result.RECORD_DIMS`), ``options`` (what the run used) and
``status``. ``rng`` is the run's numpy Generator (:func:`snnreduce.validation.generator`),
None only for a deterministic model that declares ``seeded=False``. The engine validates its
own options (one-line :class:`~snnreduce.params.ParameterError`); the api builds the
:class:`~snnreduce.Result` from the dict (:meth:`snnreduce.Result.from_run`).

This module imports no engine: entry points are ``"module:function"`` strings loaded on use,
so ``import snnreduce`` stays cheap.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Callable

from .validation import ParameterError

__all__ = ["Model", "MODELS", "REFERENCE", "DSODE_DENSITY", "get", "register", "unregister",
           "names", "by_engine", "load_entry"]

#: What the dsODE records when the caller names nothing: its voltage density (for plots).
DSODE_DENSITY = ("bin_count", "bin_mean", "pending", "refractory")
#: Records a spiking network engine can produce.
_NETWORK_RECORDS = ("voltage", "pending", "refractory")


@dataclass(frozen=True)
class Model:
    """One model as compare, sweep, the CLI and the figures know it.

    Attributes
    ----------
    name : str
        The name users type (``--model snn``).
    engine : str
        ``Result.engine`` of its runs, and its name in :func:`snnreduce.simulate`.
    entry : str
        ``"module:function"`` of the engine function (the contract above).
    label : str
        Column / legend label.
    colour : str
        matplotlib colour of its traces.
    kind : {"network", "reduction", "baseline"}
        A spiking network, a reduction of it (surrogate, dsODE), or one of the paper's
        baselines (docs/baselines.md).
    deterministic : bool
        No randomness: compare and sweep run it once whatever the number of seeds.
    seeded : bool
        Whether the engine gets a Generator and the Result records a seed. False only for the
        deterministic dsODE (seed None); the deterministic Fokker-Planck solver keeps a seed
        in its provenance as before.
    records : tuple of str
        The recordings it offers (see ``RECORD_DIMS``).
    default_record : tuple of str
        What ``snnreduce run`` records when the user names nothing.
    compare_record : tuple of str
        What :func:`snnreduce.compare.compare` records (the figure's attractor needs
        ``pending`` and ``voltage`` from a network).
    fixed : dict
        Options the name implies (``fp-fs``: ``finite_size=True``); given options override.
    options : dict of str to str
        Its engine options -> one-line help (for ``--help`` and docs).
    record_owner : str
        How record errors name it: "the dsODE can record ...".
    preflight : str or None
        ``"module:function"`` called with the params before any run of a batch (compare,
        sweep), to fail early with a clear message (e.g. NEST missing).
    attractor : bool
        Compare must draw its attractor projection (an error if its records cannot give
        one). False: drawn only where its ``compare_record`` allows.
    """

    name: str
    engine: str
    entry: str
    label: str
    colour: str
    kind: str
    deterministic: bool = False
    seeded: bool = True
    records: tuple = _NETWORK_RECORDS
    default_record: tuple = ()
    compare_record: tuple = ()
    fixed: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)
    record_owner: str = ""
    preflight: str | None = None
    attractor: bool = True

    def load(self) -> Callable:
        """The engine function."""
        return load_entry(self.entry)

    def check_ready(self, params) -> None:
        """Run the model's preflight check on ``params`` (no-op when it has none)."""
        if self.preflight is not None:
            load_entry(self.preflight)(params)


def load_entry(spec: str) -> Callable:
    """Import ``"module:function"`` and return the function."""
    module, func = spec.split(":")
    return getattr(importlib.import_module(module), func)


_STEPPED_OPTIONS = {"drive": "'gaussian' or 'poisson' external drive",
                    "recurrent": "'expected' or 'sampled' recurrent kicks",
                    "consumption": "'poisson' or 'binomial' pending-kick consumption",
                    "fixed_indegree": "quenched graph with a fixed in-degree"}
_CLOSURE_HELP = ("input closure: 'ou-cond-linear' (default), 'ou-cond', 'ou', 'paper' or "
                 "'diffusion' (docs/dsode.md)")
_SURROGATE_CLOSURE_HELP = "input closure: 'ou' (default), 'paper' or 'diffusion' (docs/dsode.md)"
_DSODE_OPTIONS = {"dv": "bin width", "v_low": "lowest bin edge (< 0)",
                  "refractory_rule": "'exponential' or 'paper'",
                  "moment_integrator": "'exact' or 'euler'", "truncate_sd": "Gaussian cut, sd",
                  "pending_noise": "finite-size noise of the pending kicks too",
                  "rate_lag": "0 or 1 step",
                  "closure": _CLOSURE_HELP}
_FP_OPTIONS = {"dv": "cell width", "v_low": "lowest face", "delay": "synaptic delay, ms",
               "n_neurons": "population sizes of the noise", "synaptic_filter": "filter the input",
               "recurrent_noise": "diffusion of the recurrent input"}
_RDM_OPTIONS = {"level": "'meso' or 'micro'", "threads": "NEST threads",
                "connectivity": "micro only", "external": "external drive mapping",
                "c_m": "capacitance, pF", "v_inhibition": "linearisation voltage",
                "delta_v": "escape softness", "lambda_0": "escape rate",
                "escape_sigma": "noise folded into the escape", "delay": "delay, ms"}
_NETWORK_COMPARE = ("pending", "voltage")

_BUILTIN = (
    Model("snn", "stepped", "snnreduce.network.stepped:run", "network (stepped)", "black",
          "network", options=_STEPPED_OPTIONS, compare_record=_NETWORK_COMPARE,
          record_owner="the stepped engine"),
    Model("markov", "markov", "snnreduce.network.markov:run", "network (event-driven)", "dimgray",
          "network", options={"voltage": "'continuous' or 'integer'",
                              "fixed_indegree": "quenched graph with a fixed in-degree"},
          compare_record=_NETWORK_COMPARE, record_owner="the markov engine"),
    Model("surrogate", "surrogate", "snnreduce.network.surrogate:run", "Markov surrogate",
          "tab:blue", "reduction", records=("voltage", "pending", "pending_var", "refractory"),
          options={"moment_integrator": "'exact' or 'euler'",
                   "closure": _SURROGATE_CLOSURE_HELP},
          compare_record=_NETWORK_COMPARE,
          record_owner="the surrogate engine"),
    Model("dsode", "dsode", "snnreduce.dsode:run", "dsODE", "tab:red", "reduction",
          deterministic=True, seeded=False,
          records=("bin_count", "bin_mean", "pending", "pending_var", "refractory"),
          default_record=DSODE_DENSITY, compare_record=DSODE_DENSITY, fixed={"noise": None},
          options=_DSODE_OPTIONS, record_owner="the dsODE"),
    Model("dsode-fs", "dsode", "snnreduce.dsode:run", "dsODE finite-size", "tab:orange",
          "reduction", records=("bin_count", "bin_mean", "pending", "pending_var", "refractory"),
          default_record=DSODE_DENSITY, compare_record=DSODE_DENSITY,
          fixed={"noise": "finite-size"}, options=_DSODE_OPTIONS, record_owner="the dsODE"),
    Model("rdm", "rdm", "snnreduce.baselines.refractory_density:run", "refractory density (NEST)",
          "tab:purple", "baseline", records=("voltage",), options=_RDM_OPTIONS,
          record_owner="the refractory-density model", attractor=False,
          preflight="snnreduce.baselines.refractory_density:check_runnable"),
    Model("fp", "fokker-planck", "snnreduce.baselines.fokker_planck:run", "Fokker-Planck",
          "tab:green", "baseline", deterministic=True,
          records=("refractory", "pending", "bin_count", "bin_mean"),
          compare_record=("pending", "refractory"), options=_FP_OPTIONS, attractor=False,
          record_owner="the Fokker-Planck solver"),
    Model("fp-fs", "fokker-planck", "snnreduce.baselines.fokker_planck:run",
          "Fokker-Planck finite-size", "tab:olive", "baseline",
          records=("refractory", "pending", "bin_count", "bin_mean"),
          compare_record=("pending", "refractory"), fixed={"finite_size": True},
          options=_FP_OPTIONS, record_owner="the Fokker-Planck solver", attractor=False),
)

#: Every model by name, in the order of reports and help texts.
MODELS: dict[str, Model] = {m.name: m for m in _BUILTIN}
#: The model every other one is measured against (relative errors of compare).
REFERENCE = "snn"


def names() -> list[str]:
    """Model names in registry order."""
    return list(MODELS)


def get(name: str) -> Model:
    """The model called ``name``, or a ParameterError listing the known ones."""
    try:
        return MODELS[name]
    except (KeyError, TypeError):
        raise ParameterError(f"model must be one of {', '.join(MODELS)}, got {name!r}") from None


def by_engine(engine: str) -> Model:
    """The first model whose runs carry ``Result.engine == engine`` (for ``simulate``)."""
    for model in MODELS.values():
        if model.engine == engine:
            return model
    engines = ", ".join(dict.fromkeys(m.engine for m in MODELS.values() if m.engine != "dsode"))
    raise ParameterError(f"engine must be one of {engines}, got {engine!r}")


def register(model: Model, *, replace: bool = False) -> Model:
    """Add ``model`` to the registry (for models living outside the package, and tests)."""
    if not isinstance(model, Model):
        raise ParameterError(f"register needs a Model, got {type(model).__name__}")
    if model.name in MODELS and not replace:
        raise ParameterError(f"a model named {model.name!r} is already registered")
    MODELS[model.name] = model
    return model


def unregister(name: str) -> None:
    """Remove a model added with :func:`register`; the built-in ones stay."""
    if any(m.name == name for m in _BUILTIN):
        raise ParameterError(f"{name!r} is a built-in model and cannot be removed")
    MODELS.pop(name, None)
