"""One entry point per job: :func:`simulate` for spiking engines, :func:`reduce` for the dsODE."""

from __future__ import annotations

import time
from importlib.metadata import PackageNotFoundError, version as _pkg_version

import numpy as np

from .params import NetworkParams, ParameterError
from .resources import check_run
from .result import Result

__all__ = ["simulate", "reduce", "run_model", "MODELS", "MODEL_OPTIONS", "ENGINES", "normalise_seed",
           "__version__"]

try:
    __version__ = _pkg_version("snnreduce")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0+unknown"

#: Spiking engines by name; values are "module:function" run lazily so importing is cheap.
ENGINES = {
    "stepped": "snnreduce.network.stepped:run",
    "markov": "snnreduce.network.markov:run",
    "surrogate": "snnreduce.network.surrogate:run",
    # the paper's baselines (docs/baselines.md), same engine contract
    "fokker-planck": "snnreduce.baselines.fokker_planck:run",
    "rdm": "snnreduce.baselines.refractory_density:run",
}


#: Model names of compare/sweep/CLI -> (entry point, engine or noise). "snn" is the stepped engine;
#: "fp"/"fp-fs" the Fokker-Planck solver (deterministic / finite-size noise), "rdm" the
#: refractory-density (mesoscopic GIF) model through NEST.
MODELS: dict[str, tuple[str, str | None]] = {
    "snn": ("simulate", "stepped"),
    "markov": ("simulate", "markov"),
    "surrogate": ("simulate", "surrogate"),
    "dsode": ("reduce", None),
    "dsode-fs": ("reduce", "finite-size"),
    "fp": ("simulate", "fokker-planck"),
    "fp-fs": ("simulate", "fokker-planck"),
    "rdm": ("simulate", "rdm"),
}
#: Options a model name implies (given options override them).
MODEL_OPTIONS: dict[str, dict] = {"fp-fs": {"finite_size": True}}
#: Models without randomness: run once, whatever the number of seeds (their seed is unused).
DETERMINISTIC = frozenset({"dsode", "fp"})


def run_model(params: NetworkParams, model: str, *, seed: int | None, t_end: float,
              options: dict | None = None):
    """Run one model by its compare/sweep name and return its :class:`~snnreduce.Result`.

    ``snn``/``markov``/``surrogate`` go through :func:`snnreduce.simulate` (engines stepped,
    markov, surrogate), ``dsode``/``dsode-fs`` through :func:`snnreduce.reduce` (noise None,
    "finite-size"); the baselines ``fp``/``fp-fs`` (engine "fokker-planck", ``finite_size``
    False / True) and ``rdm`` (engine "rdm", needs NEST and ``tau_m > 0``) through
    :func:`snnreduce.simulate`. Nothing is recorded beyond population counts (and spikes)
    unless ``options["record"]`` asks for it.
    """
    entry, variant = MODELS[model]
    options = {"record": (), **MODEL_OPTIONS.get(model, {}), **(options or {})}
    if entry == "simulate":
        if model in DETERMINISTIC and seed is None:
            seed = 0  # unused by the engine; a fixed value keeps the provenance reproducible
        return simulate(params, variant, t_end=t_end, seed=seed, **options)
    return reduce(params, t_end=t_end, noise=variant, seed=seed if variant else None, **options)


def normalise_seed(seed) -> int:
    """Return an int seed; ``None`` draws fresh entropy (recorded in the Result)."""
    if seed is None:
        return int(np.random.SeedSequence().entropy % (2**63))
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ParameterError(f"seed must be a non-negative integer or None, got {seed!r}")
    return int(seed)


def _check_common(params, t_end):
    if not isinstance(params, NetworkParams):
        raise ParameterError(f"params must be a NetworkParams, got {type(params).__name__}")
    if isinstance(t_end, bool) or not isinstance(t_end, (int, float, np.number)) or not 0 < t_end < 1e9:
        raise ParameterError(f"t_end must be a number of ms in (0, 1e9), got {t_end!r}")
    return float(t_end)


def _load_engine(spec: str):
    import importlib

    module, func = spec.split(":")
    return getattr(importlib.import_module(module), func)


def simulate(params: NetworkParams, engine: str = "stepped", *, t_end: float = 2000.0,
             seed: int | None = None, record=(), progress: bool = False,
             check_memory: bool = True, **options) -> Result:
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
        ``gif_pop_psc_exp`` mapped from ``params`` (needs ``tau_m > 0`` and NEST).
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
    **options
        Engine options; each engine documents its own (e.g. ``drive="poisson"``).

    Returns
    -------
    Result
    """
    t_end = _check_common(params, t_end)
    if engine not in ENGINES:
        raise ParameterError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    seed = normalise_seed(seed)
    record = _check_record(record)
    check_run(params, engine, t_end=t_end, record=record, options=options,
              check_memory=check_memory)
    run = _load_engine(ENGINES[engine])
    start = time.perf_counter()
    out = run(params, t_end=t_end, rng=np.random.default_rng(seed), record=record,
              progress=progress, **options)
    return Result(params=params, engine=engine, seed=seed, t_end=t_end, dt=params.dt,
                  wall_time=time.perf_counter() - start, version=__version__, **out)


def reduce(params: NetworkParams, *, t_end: float = 2000.0, noise: str | None = None,
           seed: int | None = None, record=("bin_count", "bin_mean", "pending", "refractory"),
           progress: bool = False, check_memory: bool = True, **options) -> Result:
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
    **options
        Reduction options (bin width ``dv``, ``v_low``, ``refractory_rule``, ...);
        see :func:`snnreduce.dsode.run`.

    Returns
    -------
    Result
        ``engine == "dsode"``; population counts are expected spikes per step.
    """
    t_end = _check_common(params, t_end)
    if noise not in (None, "finite-size"):
        raise ParameterError(f"noise must be None or 'finite-size', got {noise!r}")
    seed = normalise_seed(seed) if noise is not None else None
    record = _check_record(record)
    check_run(params, "dsode", t_end=t_end, record=record,
              options={**options, "noise": noise}, check_memory=check_memory)
    from .dsode import run

    start = time.perf_counter()
    rng = np.random.default_rng(seed) if seed is not None else None
    out = run(params, t_end=t_end, noise=noise, rng=rng, record=record, progress=progress, **options)
    return Result(params=params, engine="dsode", seed=seed, t_end=t_end, dt=params.dt,
                  wall_time=time.perf_counter() - start, version=__version__, **out)


def _check_record(record) -> tuple[str, ...]:
    from .result import RECORD_DIMS

    if isinstance(record, str):
        record = (record,)
    record = tuple(record)
    for name in record:
        if name not in RECORD_DIMS or name == "bin_edges":
            allowed = ", ".join(n for n in RECORD_DIMS if n != "bin_edges")
            raise ParameterError(f"record must name some of {allowed}; got {name!r}")
    return record
