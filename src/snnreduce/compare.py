"""How faithful is the reduction for these parameters? Network vs surrogate vs dsODE.

:func:`compare` runs the spiking network over several seeds (in parallel), the Markov
surrogate over the same seeds and the deterministic dsODE once, and summarises each with
:func:`snnreduce.analysis.summarize` — the very function behind ``snnreduce stats`` — so the
report's numbers equal what ``stats`` prints on the saved results.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import models as registry
from ._files import atomic_write_text
from ._version import __version__
from .api import run_model
from .params import NetworkParams, ParameterError
from .parallel import run_tasks
from .resources import check_compare
from .result import Result
from .stimulus import Stimulus, as_stimulus
from .analysis.statistics import STATISTICS, flatten_summary, unflatten
from .validation import seed_labels

__all__ = ["compare", "Comparison", "write_report", "flatten_summary", "unflatten",
           "TOLERANCE_FLOOR", "TOLERANCE_SDS", "FLAG"]

#: A relative error is flagged when it exceeds the larger of this floor and
#: ``TOLERANCE_SDS`` times the network's coefficient of variation over seeds (sd / |mean|)
#: of that statistic: differences within the network's own seed-to-seed spread are not
#: evidence against the reduction, and below 5 % nobody should act on them either.
TOLERANCE_FLOOR = 0.05
TOLERANCE_SDS = 2.0
#: Mark of a relative error beyond its tolerance in report.md.
FLAG = "⚠"

# What each model records here is its registry entry's ``compare_record``: the network side
# needs pending and voltage for the attractor projection; the Fokker-Planck density (bin_count)
# would be hundreds of MB for a 2 s run, so no attractor projection for it; the mesoscopic NEST
# model records nothing.


@dataclass(frozen=True)
class Comparison:
    """Summaries of every model, and the runs themselves for the figure.

    Attributes
    ----------
    params : NetworkParams
    seeds : list of int
        Seeds of the stochastic models (one run per seed).
    summaries : dict
        model -> list of :func:`~snnreduce.analysis.summarize` dicts (one per run).
    results : dict
        model -> list of :class:`Result` (same order as ``summaries``).
    wall_time : float
        Seconds for the whole comparison.
    stimulus : Stimulus or None
        The stimulus every model ran under.
    step : snnreduce.step_report.StepWindow or None
        Where the step response is measured (None: no step to measure).
    """

    params: NetworkParams
    seeds: list[int]
    summaries: dict[str, list[dict]]
    results: dict[str, list[Result]] = field(repr=False)
    attractors: dict = field(default_factory=dict, repr=False)
    discard: float = 100.0
    wall_time: float = 0.0
    stimulus: Stimulus | None = None
    step: StepWindow | None = None

    def statistics(self) -> dict:
        """``{"models": {model: {"mean", "sd", "n_runs"}}, "errors", "tolerance", "beyond"}``.

        ``errors`` holds, for every model but the reference network ``snn``, the relative
        error ``(model - snn) / |snn|`` of each statistic against the network's mean;
        ``tolerance`` the relative tolerance of each statistic, ``max(TOLERANCE_FLOOR,
        TOLERANCE_SDS * sd / |mean|)`` of the network over its seeds (the floor alone with
        one seed); ``beyond`` (like ``errors``) True where ``|error| > tolerance``. The last
        three are empty without the reference network.
        """
        models = {}
        for model, summaries in self.summaries.items():
            flat = [flatten_summary(s) for s in summaries]
            keys = flat[0].keys()
            mean = {k: _nanmean([f[k] for f in flat]) for k in keys}
            sd = {k: _nansd([f[k] for f in flat]) for k in keys} if len(flat) > 1 else None
            models[model] = {"mean": unflatten(mean), "sd": None if sd is None else unflatten(sd),
                             "n_runs": len(flat)}
        errors = {}
        if registry.REFERENCE in models:
            ref = flatten_summary(models[registry.REFERENCE]["mean"])
            for model in models:
                if model == registry.REFERENCE:
                    continue
                got = flatten_summary(models[model]["mean"])
                errors[model] = unflatten({k: _relative_error(got[k], ref[k]) for k in ref})
        tolerance, beyond = {}, {}
        if errors:
            ref_sd = models[registry.REFERENCE]["sd"]
            ref_sd = flatten_summary(ref_sd) if ref_sd is not None else {}
            tol = {k: _tolerance(ref[k], ref_sd.get(k)) for k in ref}
            tolerance = unflatten(tol)
            for model, err in errors.items():
                beyond[model] = unflatten({k: e is not None and abs(e) > tol[k]
                                           for k, e in flatten_summary(err).items()})
        return {"models": models, "errors": errors, "tolerance": tolerance, "beyond": beyond}


def compare(params: NetworkParams, *, seeds: int | list[int] = 5, t_end: float = 2000.0,
            models=("snn", "surrogate", "dsode"), n_jobs: int | None = None, discard: float = 100.0,
            progress: bool = True, dsode_options: dict | None = None, baselines=(),
            check_memory: bool = True, stimulus=None, step_smooth: float | None = None
            ) -> Comparison:
    """Run the network, the surrogate and the dsODE on ``params`` and summarise each.

    Parameters
    ----------
    params : NetworkParams
    seeds : int or list of int
        Number of network seeds (0, 1, ..., n-1) or the seeds themselves.
    t_end : float
        Simulated time per run, ms.
    models : sequence of str
        Model names of :mod:`snnreduce.models`: "snn" (stepped network, the reference),
        "markov", "surrogate", "dsode", "dsode-fs" (finite-size dsODE), ...
    n_jobs : int or None
        Parallel processes for the stochastic runs (joblib/loky); None uses every core.
    discard : float
        Initial transient dropped from every statistic, ms.
    dsode_options : dict, optional
        Options for :func:`snnreduce.reduce` (e.g. ``{"refractory_rule": "paper"}``).
    baselines : sequence of str
        Among "rdm" (refractory density, NEST's ``gif_pop_psc_exp``; needs NEST and
        ``tau_m > 0``), "fp" (Fokker-Planck, deterministic), "fp-fs" (Fokker-Planck with
        finite-size noise); appended to ``models``. Each runs once per seed with its default
        mapping from ``params`` (docs/baselines.md).
    check_memory : bool
        Refuse (ParameterError) a comparison whose memory estimate (the runs executing at once
        and the results it keeps; docs/resources.md) exceeds the available memory.
    stimulus : Stimulus, str, list of str or dict, optional
        The external drive of every run (docs/stimuli.md), checked before any run. With a
        step in it, the report adds the step response of every model (:mod:`snnreduce.step_report`).
    step_smooth : float, optional
        Box (ms) the rates of the step response are smoothed with; default
        :data:`snnreduce.step_report.SMOOTH_MS`, 0 for the raw per-step rates.

    Raises
    ------
    ParameterError
        Bad arguments, ``t_end`` not longer than ``discard``, or not enough memory (nothing
        is run).
    """
    if not isinstance(params, NetworkParams):
        raise ParameterError(f"params must be a NetworkParams, got {type(params).__name__}")
    seeds = list(seed_labels(seeds))
    if isinstance(baselines, str):
        baselines = [b.strip() for b in baselines.split(",") if b.strip()]
    known_baselines = [m.name for m in registry.MODELS.values() if m.kind == "baseline"]
    bad = [b for b in baselines if b not in known_baselines]
    if bad:
        raise ParameterError(f"baselines must be among {', '.join(known_baselines)}, got {bad[0]!r}")
    models = list(models) + [b for b in baselines if b not in models]
    unknown = [m for m in models if m not in registry.MODELS]
    if unknown or not models:
        raise ParameterError(f"models must be among {', '.join(registry.MODELS)}, "
                             f"got {list(models)!r}")
    for model in models:  # fail now, with the install hint, rather than inside a worker
        registry.get(model).check_ready(params)
    dsode_options = dict(dsode_options or {})
    stimulus = as_stimulus(stimulus)
    if stimulus is not None:
        stimulus.check(params, t_end)
    from .step_report import SMOOTH_MS, step_window

    step_smooth = SMOOTH_MS if step_smooth is None else step_smooth
    step = step_window(stimulus, t_end=t_end, discard=discard, dt=params.dt, smooth=step_smooth)
    jobs = []
    for model in models:
        for seed in ([None] if registry.get(model).deterministic else seeds):
            jobs.append((model, seed))
    check_compare(params, jobs, t_end=t_end, discard=discard,
                  records={m: registry.get(m).compare_record for m in models},
                  options={m: dsode_options for m in models if registry.get(m).engine == "dsode"},
                  n_jobs=n_jobs, check_memory=check_memory)
    start = time.perf_counter()
    stimulus_dict = None if stimulus is None else stimulus.to_dict()
    outputs = run_tasks(_run_one, [(params, model, seed, t_end, discard, dsode_options,
                                    stimulus_dict) for model, seed in jobs],
                        n_jobs=n_jobs, progress=progress, desc="compare")
    results, summaries, attractors = {}, {}, {}
    for (model, _), (result, summary, attractor) in zip(jobs, outputs):
        results.setdefault(model, []).append(result)
        summaries.setdefault(model, []).append(summary)
        if attractor is not None:
            attractors.setdefault(model, attractor)
    return Comparison(params=params, seeds=seeds, summaries=summaries, results=results,
                      attractors=attractors, discard=discard, wall_time=time.perf_counter() - start,
                      stimulus=stimulus, step=step)


def _run_one(params, model, seed, t_end, discard, dsode_options, stimulus=None):
    # Module-level so loky can pickle it; each worker imports the package (and numba's cache).
    from .analysis import attractor_coordinates, summarize

    entry = registry.get(model)
    options = {"record": entry.compare_record, "check_memory": False}  # compare checked them all
    if entry.engine == "dsode":
        options.update(dsode_options)
    if stimulus is not None:
        options["stimulus"] = stimulus
    result = run_model(params, model, seed=seed, t_end=t_end, options=options)
    try:
        attractor = attractor_coordinates(result, discard=discard)
    except ValueError:  # e.g. a baseline without the records the projection needs
        if entry.attractor:
            raise
        attractor = None
    # Per-neuron voltages were needed only for the attractor's gate count; dropping them
    # keeps the saved runs small (a 2 s run of 400 neurons would otherwise be 32 MB).
    records = {k: v for k, v in result.records.items() if k != "voltage"}
    result = result.replace(records=records)
    return result, summarize(result, discard=discard), attractor


def write_report(comparison: Comparison, out_dir: str | Path, *, figure: bool = True) -> dict:
    """Write ``report.md``, ``report.json``, ``compare.png`` and every run's NetCDF to ``out_dir``;
    with a stimulus step, also the step-response rows and ``step_response.png``.

    Returns the statistics dict written to ``report.json``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stats = comparison.statistics()
    files = {}
    for model, results in comparison.results.items():
        for i, result in enumerate(results):
            name = f"{model}.nc" if len(results) == 1 else f"{model}_seed{result.seed}.nc"
            result.save(out_dir / name)
            files.setdefault(model, []).append(name)
    payload = {**stats, "params": comparison.params.to_dict(), "seeds": comparison.seeds,
               "t_end": comparison.results[next(iter(comparison.results))][0].t_end,
               "discard_ms": comparison.discard, "files": files,
               "wall_time": comparison.wall_time, "version": __version__,
               "figure": "compare.png" if figure else None}
    where = comparison.step
    if comparison.stimulus is not None:
        payload["stimulus"] = comparison.stimulus.to_dict()
    if where is not None:
        from .step_report import step_rates, step_summary

        rate_time, rates = step_rates(comparison.results, where)
        payload["step_response"] = {"t_step": where.t_step, "population": where.population,
                                    "before_ms": where.before, "window_ms": where.window,
                                    "smooth_ms": where.smooth,
                                    "models": step_summary(rate_time, rates, where)}
        payload["step_figure"] = "step_response.png" if figure else None
    atomic_write_text(out_dir / "report.json", json.dumps(payload, indent=2, allow_nan=False,
                                                          default=_json_default) + "\n")
    atomic_write_text(out_dir / "report.md", _markdown(comparison, stats, payload))
    if figure:
        from .plot import compare_figure, save_figure

        save_figure(compare_figure(comparison), out_dir / "compare.png")
        if where is not None:
            from .plot import step_response_figure
            from .step_report import step_traces

            save_figure(step_response_figure(rate_time, step_traces(rates), where.t_step,
                                             window=(-where.before, where.window),
                                             title=f"step response: {comparison.stimulus}"),
                        out_dir / "step_response.png")
    return payload


# ----------------------------------------------------------------------------- tables
def _markdown(comparison, stats, payload) -> str:
    models = list(stats["models"])
    others = [m for m in models if m != registry.REFERENCE]
    has_errors = bool(stats["errors"])
    p = comparison.params
    lines = [
        "# snnreduce comparison report", "",
        f"N_E = {p.n_e}, N_I = {p.n_i}, T = {payload['t_end']:g} ms (first {comparison.discard:g} ms "
        f"dropped), network seeds {comparison.seeds}, snnreduce {payload['version']}, "
        f"{comparison.wall_time:.1f} s wall.", "",
        "Stochastic models: mean ± sd over seeds. Relative error is against the network mean.",
    ]
    if has_errors:
        n_ref = stats["models"][registry.REFERENCE]["n_runs"]
        spread = (f"{TOLERANCE_SDS:g} sd / |mean| of the network over its {n_ref} seeds"
                  if n_ref > 1 else "(one network seed: no spread to judge by)")
        lines += ["", f"Tolerance of each statistic (last column): the larger of "
                      f"{100 * TOLERANCE_FLOOR:g} % and {spread}. {FLAG} marks a relative "
                      f"error beyond it."]
    lines += [
        "",
        "| statistic | units | pop | " + " | ".join(registry.get(m).label for m in models)
        + "".join(f" | err {m}" for m in others) + (" | tolerance" if has_errors else "") + " |",
        "|---|---|---|" + "---|" * (len(models) + len(others) + has_errors),
    ]
    for stat in STATISTICS.values():
        for pop in ("E", "I"):
            cells = []
            for m in models:
                mean = _leaf(stats["models"][m]["mean"], stat.key, pop)
                sd = stats["models"][m]["sd"]
                cells.append(_pm(mean, None if sd is None else _leaf(sd, stat.key, pop)))
            # no errors without the reference network among the models
            errs = [_flagged(_leaf(stats["errors"][m], stat.key, pop),
                             _leaf(stats["beyond"][m], stat.key, pop))
                    if m in stats["errors"] else "—" for m in others]
            if has_errors:
                errs.append(f"{100 * _leaf(stats['tolerance'], stat.key, pop):.1f} %")
            lines.append(f"| {stat.label} | {_units(stat.units)} | {pop} | "
                         + " | ".join(cells + errs) + " |")
    lines += ["", "Statistics (units; 1 = dimensionless):", ""]
    lines += [f"- {stat.label}: {stat.description} [{_units(stat.units)}]"
              for stat in STATISTICS.values()]
    lines += ["", "Files: " + ", ".join(f"`{f}`" for fs in payload["files"].values() for f in fs)
              + ". `snnreduce stats FILE --json` prints the same per-run numbers.", ""]
    if payload.get("figure"):
        lines += [f"![comparison]({payload['figure']})", "",
                  "Figure: raster of the first network run; E rate of the first run of each "
                  "model aligned on its first large E event (a peak at least half the highest); "
                  "the average E (solid) and I (dashed) cycle around the large E events and the "
                  "E rate spectrum, mean ± sd over seeds; the attractor projection (deterministic "
                  "cycle on top); the dsODE E voltage density.", ""]
    if "stimulus" in payload:
        lines += [f"Stimulus: `{comparison.stimulus}` (docs/stimuli.md).", ""]
    if "step_response" in payload:
        from .step_report import step_markdown

        step_models = payload["step_response"]["models"]
        lines += step_markdown(step_models, comparison.step,
                               {m: registry.get(m).label for m in step_models})
        if payload.get("step_figure"):
            lines += [f"![step response]({payload['step_figure']})", ""]
    lines += ["Parameters (pathways post-pre):", "", "```json",
              json.dumps(comparison.params.to_dict(), indent=1), "```", ""]
    return "\n".join(lines)


def _units(units: str) -> str:
    """CF units as a reader writes them: ``Hz^2`` -> ``Hz²``."""
    return units.replace("^2", "²")


def _tolerance(mean, sd) -> float:
    if mean is None or sd is None or mean == 0:
        return TOLERANCE_FLOOR
    return max(TOLERANCE_FLOOR, TOLERANCE_SDS * sd / abs(mean))


def _flagged(error, beyond) -> str:
    return _pct(error) + (f" {FLAG}" if beyond else "")


def _leaf(summary, key, pop):
    parts = key.split(".")
    node = summary[parts[0]][pop]
    return node[parts[1]] if len(parts) == 2 else node


def _finite(values):
    return [v for v in values if v is not None and math.isfinite(v)]


def _nanmean(values):
    good = _finite(values)
    return float(np.mean(good)) if good else None


def _nansd(values):
    good = _finite(values)
    return float(np.std(good, ddof=1)) if len(good) > 1 else None


def _relative_error(value, ref):
    if value is None or ref is None or ref == 0:
        return None
    return (value - ref) / abs(ref)


def _pm(mean, sd):
    if mean is None:
        return "—"
    return f"{mean:.4g}" if sd is None else f"{mean:.4g} ± {sd:.2g}"


def _pct(value):
    return "—" if value is None else f"{100 * value:+.1f} %"


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(type(value).__name__)
