"""The ``snnreduce response`` job: gain and phase of the E and I rates against the frequency of
a sinusoidal modulation of the external drive, for the network over seeds and each reduction.

For every frequency ``f`` of ``freqs`` each model runs with the stimulus
``Q:lambda+sine(amp=AMP,hz=f)`` for every target population Q (the drive keeps its constant
``λ_Q`` and gains a modulation of ``AMP`` kicks/ms), once per seed (once for a deterministic
model). :func:`snnreduce.analysis.response.linear_response` fits each run's unsmoothed E and I
rate; seeds are combined by :func:`~snnreduce.analysis.response.combine_linear_responses` (the
mean complex coefficient). :func:`write_response` writes ``response.json`` (numbers and
provenance), ``response.md`` (tables) and ``response.png`` (Bode figure,
:func:`snnreduce.plot.bode_figure`). Definitions: ``docs/stimuli.md``.
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
from .analysis import population_rate
from .analysis.response import LinearResponse, combine_linear_responses, linear_response
from .analysis.statistics import plain_or_none
from .api import run_model
from .params import POPULATIONS, NetworkParams, ParameterError
from .parallel import run_tasks
from .resources import check_compare
from .stimulus import Baseline, Sine, Stimulus
from .validation import check_number, seed_labels

__all__ = ["Response", "response", "response_stimulus", "write_response", "response_figure"]


@dataclass(frozen=True)
class Response:
    """Linear responses of every model at every frequency.

    Attributes
    ----------
    params : NetworkParams
    freqs : list of float
        Stimulus frequencies, Hz, ascending.
    amp : float
        Modulation amplitude, kicks/ms.
    targets : tuple of str
        Populations whose drive is modulated (in phase).
    seeds : list of int
        Seeds of the stochastic models.
    t_end : float
        Simulated time of every run, ms.
    transient : float or None
        Time dropped at the start of every run, ms (None: per frequency the larger of
        100 ms and one period).
    curves : dict
        ``{model: {pop: [[LinearResponse per run] per frequency]}}``.
    options : dict
        Options given to each model.
    wall_time : float
        Seconds for all runs.
    """

    params: NetworkParams
    freqs: list
    amp: float
    targets: tuple
    seeds: list
    t_end: float
    transient: float | None
    curves: dict = field(repr=False)
    options: dict = field(default_factory=dict)
    wall_time: float = 0.0

    def combined(self, model: str, pop: str) -> list[LinearResponse]:
        """One response per frequency (seeds combined) of ``model``'s ``pop`` rate."""
        return [combine_linear_responses(runs) for runs in self.curves[model][pop]]


def response_stimulus(targets, amp: float, hz: float) -> Stimulus:
    """``Q:lambda+sine(amp=AMP,hz=HZ)`` for every target population Q."""
    return Stimulus({pop: Baseline() + Sine(amp=amp, hz=hz) for pop in targets})


def _transient(transient, hz: float) -> float:
    return max(100.0, 1000.0 / hz) if transient is None else transient


def response(params: NetworkParams, *, freqs, amp: float = 0.5, seeds=5,
             models=("snn", "dsode"), t_end: float = 2000.0, targets=("E", "I"),
             transient: float | None = None, options: dict | None = None,
             n_jobs: int | None = None, progress: bool = True,
             check_memory: bool = True) -> Response:
    """Run every model at every frequency and fit gain and phase of its E and I rates.

    Parameters
    ----------
    params : NetworkParams
        The network (pathways post-pre); ``lambda_e``, ``lambda_i`` are the baselines.
    freqs : sequence of float
        Frequencies, Hz (> 0, at most the Nyquist limit ``500 / dt``; each is analysed over
        whole periods after the transient, at least 2).
    amp : float
        Modulation amplitude, kicks/ms (> 0; at most ``λ_Q`` of every target, so the rate
        stays >= 0).
    seeds : int or list of int
        Network seeds (``n``: 0 .. n-1); a deterministic model runs once.
    models : sequence of str
        Registry names (:mod:`snnreduce.models`), e.g. ``("snn", "surrogate", "dsode")``.
    t_end : float
        Simulated time of every run, ms.
    targets : sequence of str
        Populations whose drive is modulated (both by default, in phase).
    transient : float, optional
        Time dropped at the start, ms; default per frequency max(100 ms, one period).
    options : dict, optional
        ``{model: {option: value}}`` passed to the runs (e.g. ``{"dsode": {"dv": 2}}``).
    n_jobs : int, optional
        Parallel processes (None: all cores).
    progress : bool
        Progress bar on stderr.
    check_memory : bool
        Refuse a job above the available memory (docs/resources.md), as ``compare`` does.

    Raises
    ------
    ParameterError
        Bad arguments (named), a stimulus that fails its check at some frequency, a run too
        short for two periods after the transient, or not enough memory; nothing is run.
    """
    if not isinstance(params, NetworkParams):
        raise ParameterError(f"params must be a NetworkParams, got {type(params).__name__}")
    freqs = _frequencies(freqs)
    amp = check_number("amp", amp, lambda x: x > 0, "a modulation amplitude > 0 (kicks/ms)")
    targets = tuple(targets.split(",") if isinstance(targets, str) else targets)
    targets = tuple(t.strip() for t in targets)
    if not targets or any(t not in POPULATIONS for t in targets) or len(set(targets)) < len(targets):
        raise ParameterError(f"targets must be distinct populations among E, I, got {targets!r}")
    seeds = list(seed_labels(seeds))
    models = [m.strip() for m in (models.split(",") if isinstance(models, str) else models)
              if m.strip()]
    if not models or len(set(models)) < len(models):
        raise ParameterError(f"models must name distinct models, got {models!r}")
    for model in models:
        registry.get(model).check_ready(params)
    options = dict(options or {})
    for model in options:
        if model not in models:
            raise ParameterError(f"options names {model!r}, which is not among {models}")
    if transient is not None:
        check_number("transient", transient, lambda x: x >= 0, "a number of ms >= 0")
    for hz in freqs:
        response_stimulus(targets, amp, hz).check(params, t_end)
        span = t_end - _transient(transient, hz)
        if span < 2 * 1000.0 / hz:
            raise ParameterError(
                f"t_end = {t_end:g} ms leaves {max(span, 0):g} ms after the transient: fewer "
                f"than 2 periods of {hz:g} Hz ({2000.0 / hz:g} ms); raise t_end or drop the "
                f"frequency")
    jobs = [(model, seed) for model in models
            for seed in ([None] if registry.get(model).deterministic else seeds)]
    check_compare(params, jobs * len(freqs), t_end=t_end,
                  discard=_transient(transient, max(freqs)), records={m: () for m in models},
                  options={m: options.get(m, {}) for m in models}, n_jobs=n_jobs,
                  check_memory=check_memory)
    tasks = [(params, model, seed, t_end, hz, amp, targets, transient, options.get(model, {}))
             for hz in freqs for model, seed in jobs]
    start = time.perf_counter()
    outputs = run_tasks(_run_one, tasks, n_jobs=n_jobs, progress=progress, desc="response")
    curves = {m: {pop: [[] for _ in freqs] for pop in POPULATIONS} for m in models}
    for (_, model, _, _, hz, *_rest), fits in zip(tasks, outputs):
        for pop in POPULATIONS:
            curves[model][pop][freqs.index(hz)].append(fits[pop])
    return Response(params=params, freqs=freqs, amp=amp, targets=targets, seeds=seeds,
                    t_end=float(t_end), transient=transient, curves=curves, options=options,
                    wall_time=time.perf_counter() - start)


def _frequencies(freqs) -> list[float]:
    if isinstance(freqs, str):
        freqs = [f for f in freqs.split(",") if f.strip()]
    try:
        values = [float(f) for f in freqs]
    except (TypeError, ValueError):
        raise ParameterError(f"freqs must be frequencies in Hz, e.g. 2,5,10, got {freqs!r}") from None
    if not values or any(not (math.isfinite(f) and f > 0) for f in values):
        raise ParameterError(f"freqs must be frequencies > 0 (Hz), got {freqs!r}")
    if len(set(values)) < len(values):
        raise ParameterError(f"freqs repeat a value: {freqs!r}")
    return sorted(values)


def _run_one(params, model, seed, t_end, hz, amp, targets, transient, options):
    # module-level so loky can pickle it
    run_options = {**options, "record": (), "check_memory": False,
                   "stimulus": response_stimulus(targets, amp, hz).to_dict()}
    result = run_model(params, model, seed=seed, t_end=t_end, options=run_options)
    if result.status != "ok":
        raise RuntimeError(f"{model} (seed {seed}) at {hz:g} Hz stopped: {result.status}")
    fits = {}
    for pop in POPULATIONS:
        t, r = population_rate(result, pop, smooth=0.0)   # raw per-step rates: no filtering
        fits[pop] = linear_response(t, r, hz=hz, amp=amp, transient=_transient(transient, hz))
    return fits


# ------------------------------------------------------------------------------- output
def write_response(resp: Response, out_dir, *, figure: bool = True) -> dict:
    """Write ``response.json``, ``response.md`` and ``response.png`` into ``out_dir``
    (atomically, each); returns the JSON payload."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    payload = _payload(resp, figure)
    atomic_write_text(out_dir / "response.json",
                      json.dumps(payload, indent=2, allow_nan=False) + "\n")
    atomic_write_text(out_dir / "response.md", _markdown(resp, payload))
    if figure:
        from .plot import save_figure

        save_figure(response_figure(resp), out_dir / "response.png")
    return payload


def _entry(fit: LinearResponse, runs: list[LinearResponse], seeds) -> dict:
    entry = {"hz": fit.hz, "gain": plain_or_none(fit.gain), "phase": plain_or_none(fit.phase),
             "gain_se": plain_or_none(fit.gain_se), "phase_se": plain_or_none(fit.phase_se),
             "se_from": fit.se_from, "mean_rate": plain_or_none(fit.mean_rate),
             "n_periods": fit.n_periods, "window_ms": [fit.t_start, fit.t_stop]}
    if len(runs) > 1:
        entry["gain_sd"] = plain_or_none(float(np.std([x.gain for x in runs], ddof=1)))
        entry["runs"] = [{"seed": s, "gain": plain_or_none(x.gain), "phase": plain_or_none(x.phase),
                          "coefficient": [x.coefficient.real, x.coefficient.imag]}
                         for s, x in zip(seeds, runs)]
    return entry


def _payload(resp: Response, figure: bool) -> dict:
    models = {}
    for model, by_pop in resp.curves.items():
        deterministic = registry.get(model).deterministic
        seeds = [None] if deterministic else resp.seeds
        models[model] = {"label": registry.get(model).label, "runs": len(seeds),
                         **{pop: [_entry(fit, runs, seeds)
                                  for fit, runs in zip(resp.combined(model, pop), by_pop[pop])]
                            for pop in POPULATIONS}}
    return {"freqs_hz": resp.freqs, "amp": resp.amp, "targets": list(resp.targets),
            "stimulus": "; ".join(f"{q}:lambda+sine(amp={resp.amp:g},hz=F)"
                                  for q in resp.targets),
            "units": {"gain": "Hz per kicks/ms", "phase": "degrees (< 0: the rate lags)",
                      "mean_rate": "Hz", "amp": "kicks/ms"},
            "models": models, "params": resp.params.to_dict(), "seeds": resp.seeds,
            "t_end": resp.t_end, "transient_ms": resp.transient, "options": resp.options,
            "version": __version__, "wall_time": resp.wall_time,
            "figure": "response.png" if figure else None}


def _markdown(resp: Response, payload: dict) -> str:
    p = resp.params
    lines = ["# snnreduce linear response", "",
             f"N_E = {p.n_e}, N_I = {p.n_i}, λ_E = {p.lambda_e:g}, λ_I = {p.lambda_i:g} kicks/ms; "
             f"stimulus `{payload['stimulus']}` (F = each frequency, amplitude {resp.amp:g} "
             f"kicks/ms); T = {resp.t_end:g} ms per run, transient "
             + ("max(100 ms, one period)" if resp.transient is None else f"{resp.transient:g} ms")
             + f"; network seeds {resp.seeds}; snnreduce {__version__}, "
             f"{resp.wall_time:.1f} s wall.", "",
             "Gain: Hz of rate modulation per kicks/ms of input modulation; phase: degrees, "
             "negative when the rate lags the stimulus. Several seeds: mean complex coefficient "
             "± standard error across seeds; one run: ± standard error across periods. "
             "Definitions: docs/stimuli.md.", ""]
    models = list(payload["models"])
    for pop in POPULATIONS:
        lines += [f"## {pop} rate", "",
                  "| Hz | " + " | ".join(f"{payload['models'][m]['label']} gain | phase"
                                          for m in models) + " |",
                  "|---|" + "---|---|" * len(models)]
        for i, hz in enumerate(resp.freqs):
            cells = []
            for m in models:
                e = payload["models"][m][pop][i]
                cells += [_pm(e["gain"], e["gain_se"], 4), _pm(e["phase"], e["phase_se"], 3)]
            lines.append(f"| {hz:g} | " + " | ".join(cells) + " |")
        lines.append("")
    if payload.get("figure"):
        lines += [f"![Bode figure]({payload['figure']})", ""]
    lines += ["Parameters (pathways post-pre):", "", "```json",
              json.dumps(p.to_dict(), indent=1), "```", ""]
    return "\n".join(lines)


def _pm(value, se, digits) -> str:
    if value is None:
        return "—"
    return f"{value:.{digits}g}" if se is None else f"{value:.{digits}g} ± {se:.2g}"


def response_figure(resp: Response):
    """Bode figure of E (left) and I (right): gain above phase against frequency; the network
    (several seeds) as its mean with a ± 1 sd band, each reduction as a line."""
    from .plot import bode_grid

    targets = " and ".join(resp.targets)
    return bode_grid({pop: {m: resp.curves[m][pop] for m in resp.curves} for pop in POPULATIONS},
                     title=f"Rate response to a {resp.amp:g} kicks/ms sinusoidal modulation of "
                           f"the {targets} drive (λ_E = {resp.params.lambda_e:g}, λ_I = "
                           f"{resp.params.lambda_i:g} kicks/ms)")
