"""One entry point per job: :func:`simulate` for spiking engines, :func:`reduce` for the dsODE,
:func:`run_model` for any model of the registry (:mod:`snnreduce.models`) by name.

Every run goes through :func:`_run`: check the common arguments, normalise the seed into the
run's Generator, call the engine, and build the :class:`~snnreduce.Result` from its dict.
A run that continues another (``continue_from``) takes its seed, options, stimulus, start
time and state from it first (:func:`_continuation`).
"""

from __future__ import annotations

import dataclasses
import time

from . import models as _models
from ._version import __version__
from .params import NetworkParams, ParameterError
from .resources import check_run
from .result import Result, model_of
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
              options={**model.fixed, **options}, check_memory=check_memory,
              stimulus=stimulus)
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
    return Result.from_run(out, params=params, engine=model.engine, seed=seed, t_end=t_end,
                           wall_time=time.perf_counter() - start,
                           t_start=options.get("t_start", 0.0),
                           stimulus=None if stimulus is None else stimulus.to_dict(),
                           record_every=options.get("record_every"))


def _continuation(model: _models.Model, params, *, seed, options: dict, initial_state,
                  continue_from, stimulus=None, named: bool = True):
    """The seed, engine options and stimulus of a run starting from ``initial_state`` or
    continuing ``continue_from`` (a Result): ``(seed, options, stimulus)``.

    A continued run is the same model on the same parameters, with the seed and the engine
    options of ``continue_from`` (an option given again must be equal; ``record_every`` and
    the stimulus are taken from it unless given), starts where it ended, ``t_start =
    continue_from.t_start + n_steps dt``, from its ``final_state``. ``named``: the model was chosen by name
    (run_model, reduce), so it must be the one that made ``continue_from``; simulate() checks
    the engine and takes the options the other run's model name implied.
    """
    options = dict(options)
    if continue_from is None:
        if isinstance(initial_state, Result):
            raise ParameterError("initial_state must be an array or a final_state dict; to "
                                 "continue a Result pass continue_from=result")
        if initial_state is not None:
            options["initial_state"] = initial_state
        return seed, options, stimulus
    prev = continue_from
    if initial_state is not None:
        raise ParameterError("give initial_state or continue_from, not both: a continued run "
                             "starts from the final_state of continue_from")
    if not isinstance(prev, Result):
        raise ParameterError("continue_from must be a Result (a run of this session, or "
                             f"snnreduce.load(path)), got {type(prev).__name__}")
    made_by = model_of(prev)
    if prev.engine != model.engine or (named and made_by != model.name):
        raise ParameterError(f"continue_from is a run of the {made_by!r} model; only that "
                             f"model can continue it, not {model.name!r}")
    if prev.params != params:
        changed = sorted(k for k, v in params.to_dict().items() if prev.params.to_dict()[k] != v)
        raise ParameterError("continue_from was run with other parameters (differing: "
                             f"{', '.join(changed)}); continue it with continue_from.params")
    if prev.status != "ok":
        raise ParameterError(f"continue_from stopped early ({prev.status}); a run that did "
                             "not finish cannot be continued")
    if not prev.final_state:
        raise ParameterError(f"continue_from holds no final state: the {made_by} model cannot "
                             "resume a run exactly (or the run is from a version before "
                             "continued runs); rerun it from the start instead")
    if model.seeded and seed is not None and seed != prev.seed:
        raise ParameterError(f"seed: a continued run keeps the seed of continue_from "
                             f"({prev.seed}); leave seed out, got {seed!r}")
    inherited = {k: prev.options[k] for k in model.options if k in prev.options}
    if not named:
        inherited.update(_models.get(made_by).fixed)
    for key, value in options.items():
        if key in inherited and value != inherited[key]:
            raise ParameterError(f"{key}: a continued run keeps the options of continue_from "
                                 f"({key}={inherited[key]!r}), got {value!r}")
    if prev.record_every is not None:
        inherited["record_every"] = prev.record_every
    # the end of the last simulated step: t_end rounds up to whole steps in every engine
    options = {**inherited, **options, "t_start": prev.t_start + prev.n_steps * prev.dt,
               "initial_state": prev.final_state}
    if stimulus is None:  # the drive goes on as it was (a dict: Stimulus.to_dict)
        stimulus = prev.options.get("stimulus")
    return prev.seed, options, stimulus


def run_model(params: NetworkParams, model: str, *, seed: int | None, t_end: float,
              options: dict | None = None, initial_state=None, continue_from=None) -> Result:
    """Run one model by its registry name (:mod:`snnreduce.models`) and return its Result.

    ``snn``/``markov``/``surrogate`` are the spiking engines stepped, markov, surrogate;
    ``dsode``/``dsode-fs`` the reduction without / with finite-size noise; the baselines
    ``fp``/``fp-fs`` (Fokker-Planck, ``finite_size`` False / True) and ``rdm`` (refractory
    density, needs NEST and ``tau_m > 0``). Nothing is recorded beyond population counts (and
    spikes) unless ``options["record"]`` asks for it; ``options["stimulus"]`` is a stimulus
    as :func:`simulate` takes it. A deterministic model given no seed
    records seed 0 (its seed is unused; a fixed value keeps the provenance reproducible).
    ``initial_state`` and ``continue_from`` are those of :func:`simulate`.
    """
    entry = _models.get(model)
    options = dict(options or {})
    record = options.pop("record", ())
    progress = options.pop("progress", False)
    check_memory = options.pop("check_memory", True)
    stimulus = options.pop("stimulus", None)
    seed, options, stimulus = _continuation(entry, params, seed=seed, options=options,
                                            stimulus=stimulus, initial_state=initial_state,
                                            continue_from=continue_from)
    if entry.deterministic and entry.seeded and seed is None:
        seed = 0
    return _run(entry, params, t_end=t_end, seed=seed, record=record, progress=progress,
                check_memory=check_memory, options=options, stimulus=stimulus)


def simulate(params: NetworkParams, engine: str = "stepped", *, t_end: float = 2000.0,
             seed: int | None = None, record=(), progress: bool = False,
             check_memory: bool = True, stimulus=None, initial_state=None, continue_from=None,
             **options) -> Result:
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
    initial_state : ndarray or dict, optional
        Where the run starts instead of ``params.initial_state``: the voltages of every
        neuron, shape (n_e + n_i,), E first (network engines), or neurons per voltage bin,
        shape (2, n_bins) (the dsODE), or a previous run's ``final_state``. The engine
        checks it (ParameterError naming ``initial_state``).
    continue_from : Result, optional
        Continue this run exactly where it ended: same engine and ``params`` (else
        ParameterError), its seed, engine options, ``record_every`` and stimulus (unless
        given again), from its ``final_state``, at the end of its last step, ``t_start =
        continue_from.t_start + n_steps dt`` (absolute times in the Result). The two runs together equal
        one run over the whole span, bit for bit (:meth:`Result.concat` joins them).
        Refused for an engine that cannot resume (no ``final_state``, e.g. NEST's rdm).
    **options
        Engine options; each engine documents its own (e.g. ``drive="poisson"``;
        ``record_every`` in ms samples the records every that many ms).

    Returns
    -------
    Result
    """
    if not isinstance(engine, str) or engine == "dsode":
        raise ParameterError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    model = _models.by_engine(engine)
    # simulate() runs the engine as asked: the options a model *name* implies do not apply
    model = dataclasses.replace(model, fixed={}, seeded=True)
    seed, options, stimulus = _continuation(model, params, seed=seed, options=options,
                                            named=False, stimulus=stimulus,
                                            initial_state=initial_state,
                                            continue_from=continue_from)
    return _run(model, params, t_end=t_end, seed=seed, record=record, progress=progress,
                check_memory=check_memory, options=options, stimulus=stimulus)


def reduce(params: NetworkParams, *, t_end: float = 2000.0, noise: str | None = None,
           seed: int | None = None, record=_models.DSODE_DENSITY, progress: bool = False,
           check_memory: bool = True, stimulus=None, initial_state=None, continue_from=None,
           **options) -> Result:
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
    stimulus, initial_state, continue_from
        As in :func:`simulate`; here ``initial_state`` is neurons per bin, shape
        (2, n_bins) (each row summing to the population size), or a final_state, and
        ``continue_from`` a dsODE Result of the same ``noise``.
    **options
        Reduction options (bin width ``dv``, ``v_low``, ``refractory_rule``, ...,
        ``record_every``); see :func:`snnreduce.dsode.run`.

    Returns
    -------
    Result
        ``engine == "dsode"``; population counts are expected spikes per step.
    """
    if noise not in (None, "finite-size"):
        raise ParameterError(f"noise must be None or 'finite-size', got {noise!r}")
    model = _models.get("dsode" if noise is None else "dsode-fs")
    seed, options, stimulus = _continuation(model, params, seed=seed, options=options,
                                            stimulus=stimulus, initial_state=initial_state,
                                            continue_from=continue_from)
    return _run(model, params, t_end=t_end, seed=seed, record=record, progress=progress,
                check_memory=check_memory, options=options, stimulus=stimulus)
