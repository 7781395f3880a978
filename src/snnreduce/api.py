"""One entry point per job: :func:`simulate` for spiking engines, :func:`reduce` for the dsODE,
:func:`run_model` for any model of the registry (:mod:`snnreduce.models`) by name.

Every run goes through :func:`_run`: check the common arguments, normalise the seed into the
run's Generator, call the engine, and build the :class:`~snnreduce.Result` from its dict.
"""

from __future__ import annotations

import dataclasses
import time

from . import models as _models
from ._version import __version__
from .params import NetworkParams, ParameterError
from .resources import check_run
from .result import Result
from .stimulus import as_stimulus
from .validation import check_record, check_t_end, generator, normalise_seed

__all__ = ["simulate", "reduce", "run_model", "check_run_arguments", "MODELS", "MODEL_OPTIONS",
           "ENGINES", "DETERMINISTIC", "normalise_seed", "__version__"]

# Views of the registry kept for callers of the former tables (read-only snapshots of the
# built-in models; code in the package reads snnreduce.models).
#: Spiking engines by name -> "module:function".
ENGINES = {m.engine: m.entry for m in _models.MODELS.values() if m.engine != "dsode"}
#: Model name -> ("simulate" or "reduce", engine or noise).
MODELS: dict[str, tuple[str, str | None]] = {
    m.name: ("reduce", m.fixed["noise"]) if m.engine == "dsode" else ("simulate", m.engine)
    for m in _models.MODELS.values()}
#: Options a model name implies.
MODEL_OPTIONS: dict[str, dict] = {m.name: dict(m.fixed) for m in _models.MODELS.values()
                                  if m.fixed and m.engine != "dsode"}
#: Models without randomness.
DETERMINISTIC = frozenset(m.name for m in _models.MODELS.values() if m.deterministic)


def check_run_arguments(params, t_end) -> float:
    """Validate what every run needs: a NetworkParams and ``t_end`` in ms; returns ``t_end``."""
    if not isinstance(params, NetworkParams):
        raise ParameterError(f"params must be a NetworkParams, got {type(params).__name__}")
    return check_t_end(t_end)


def _run(model: _models.Model, params, *, t_end, seed, record, progress, options,
         check_memory=True, stimulus=None) -> Result:
    t_end = check_run_arguments(params, t_end)
    record = check_record(record, model.records, model.record_owner or f"the {model.name} model")
    stimulus = as_stimulus(stimulus)
    if stimulus is not None:
        # checked here, before any engine work; t_start is where a continued run begins
        stimulus.check(params, t_end, t_start=options.get("t_start", 0.0))
    check_run(params, model.engine, t_end=t_end, record=record,
              options={**model.fixed, **options}, check_memory=check_memory)
    if model.seeded:
        seed = normalise_seed(seed)
        rng = generator(seed)
    else:
        seed, rng = None, None
    run = model.load()
    start = time.perf_counter()
    # engines get stimulus= only when there is one, so engines without it keep working
    extra = {} if stimulus is None else {"stimulus": stimulus}
    out = run(params, t_end=t_end, rng=rng, record=record, progress=progress,
              **{**model.fixed, **options}, **extra)
    if stimulus is not None:  # provenance: the api, not the engine, records the stimulus
        out = {**out, "options": {**out.get("options", {}), "stimulus": stimulus.to_dict()}}
    return Result.from_run(out, params=params, engine=model.engine, seed=seed, t_end=t_end,
                           wall_time=time.perf_counter() - start)


def run_model(params: NetworkParams, model: str, *, seed: int | None, t_end: float,
              options: dict | None = None) -> Result:
    """Run one model by its registry name (:mod:`snnreduce.models`) and return its Result.

    ``snn``/``markov``/``surrogate`` are the spiking engines stepped, markov, surrogate;
    ``dsode``/``dsode-fs`` the reduction without / with finite-size noise; the baselines
    ``fp``/``fp-fs`` (Fokker-Planck, ``finite_size`` False / True) and ``rdm`` (refractory
    density, needs NEST and ``tau_m > 0``). Nothing is recorded beyond population counts (and
    spikes) unless ``options["record"]`` asks for it; ``options["stimulus"]`` is a stimulus
    as :func:`simulate` takes it. A deterministic model given no seed
    records seed 0 (its seed is unused; a fixed value keeps the provenance reproducible).
    """
    entry = _models.get(model)
    options = dict(options or {})
    record = options.pop("record", ())
    progress = options.pop("progress", False)
    check_memory = options.pop("check_memory", True)
    stimulus = options.pop("stimulus", None)
    if entry.deterministic and entry.seeded and seed is None:
        seed = 0
    return _run(entry, params, t_end=t_end, seed=seed, record=record, progress=progress,
                check_memory=check_memory, options=options, stimulus=stimulus)


def simulate(params: NetworkParams, engine: str = "stepped", *, t_end: float = 2000.0,
             seed: int | None = None, record=(), progress: bool = False,
             check_memory: bool = True, stimulus=None, **options) -> Result:
    """Simulate the spiking network.

    Parameters
    ----------
    params : NetworkParams
        The network (pathways post-pre).
    engine : {"stepped", "markov", "surrogate", "fokker-planck", "rdm"}
        ``stepped``: time-stepped network (the paper's reference). ``markov``: exact
        event-driven jump process. ``surrogate``: every neuron receives the Gaussian
        input of the Markov approximation (SPEC §3). The baselines (docs/baselines.md):
        ``fokker-planck``: population density solver (no individual spikes; counts are
        expected spikes per step unless ``finite_size=True``); ``rdm``: NEST's mesoscopic
        ``gif_pop_psc_exp`` mapped from ``params`` (needs ``tau_m > 0`` and NEST). Any
        registered model's engine name works (:func:`snnreduce.models.by_engine`).
    t_end : float
        Simulated time, ms.
    seed : int or None
        Seed of the single random stream; the same seed gives identical spikes.
    record : iterable of str
        Optional recordings, e.g. ``("voltage", "pending")``; see ``RECORD_DIMS``.
    progress : bool
        Show a progress bar.
    check_memory : bool
        Refuse (ParameterError) a run whose memory estimate exceeds the available memory
        (docs/resources.md); False skips the check.
    stimulus : Stimulus, str, list of str or dict, optional
        Time-varying external drive (docs/stimuli.md): a :class:`~snnreduce.stimulus.Stimulus`,
        its grammar (``"E:lambda+step(at=500,amp=2)"``, or a list of such strings), or its
        :meth:`~snnreduce.stimulus.Stimulus.to_dict` form. Checked against ``params`` and
        ``t_end`` before the run (one ParameterError); recorded in ``Result.options["stimulus"]``.
        None: the constant ``lambda_e``, ``lambda_i``.
    **options
        Engine options; each engine documents its own (e.g. ``drive="poisson"``).

    Returns
    -------
    Result
    """
    if not isinstance(engine, str) or engine == "dsode":
        raise ParameterError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    model = _models.by_engine(engine)
    # simulate() runs the engine as asked: the options a model *name* implies do not apply
    model = dataclasses.replace(model, fixed={}, seeded=True)
    return _run(model, params, t_end=t_end, seed=seed, record=record, progress=progress,
                check_memory=check_memory, options=options, stimulus=stimulus)


def reduce(params: NetworkParams, *, t_end: float = 2000.0, noise: str | None = None,
           seed: int | None = None, record=_models.DSODE_DENSITY, progress: bool = False,
           check_memory: bool = True, stimulus=None, **options) -> Result:
    """Run the reduced system (dsODE) of ``params``.

    Parameters
    ----------
    params : NetworkParams
        The network to reduce (pathways post-pre).
    t_end : float
        Simulated time, ms.
    noise : {None, "finite-size"}
        None: the deterministic dsODE. "finite-size": sampling noise for the finite
        population sizes (seeded).
    seed : int or None
        Seed of the finite-size noise (ignored, and recorded as None, when ``noise`` is None).
    record : iterable of str
        Recordings (voltage density by default, so it can be plotted).
    check_memory : bool
        Refuse (ParameterError) a run whose memory estimate exceeds the available memory
        (docs/resources.md); False skips the check.
    stimulus : Stimulus, str, list of str or dict, optional
        Time-varying external drive (docs/stimuli.md): a :class:`~snnreduce.stimulus.Stimulus`,
        its grammar (``"E:lambda+step(at=500,amp=2)"``, or a list of such strings), or its
        :meth:`~snnreduce.stimulus.Stimulus.to_dict` form. Checked against ``params`` and
        ``t_end`` before the run (one ParameterError); recorded in ``Result.options["stimulus"]``.
        None: the constant ``lambda_e``, ``lambda_i``.
    **options
        Reduction options (bin width ``dv``, ``v_low``, ``refractory_rule``, ...);
        see :func:`snnreduce.dsode.run`.

    Returns
    -------
    Result
        ``engine == "dsode"``; population counts are expected spikes per step.
    """
    if noise not in (None, "finite-size"):
        raise ParameterError(f"noise must be None or 'finite-size', got {noise!r}")
    model = _models.get("dsode" if noise is None else "dsode-fs")
    return _run(model, params, t_end=t_end, seed=seed, record=record, progress=progress,
                check_memory=check_memory, options=options, stimulus=stimulus)
