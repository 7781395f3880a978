"""The step-response part of a comparison: when the stimulus holds a step, the rate before and
after it, the latency to half the change, the overshoot and the settling time of every model
(:func:`snnreduce.analysis.response.step_response`), network mean ± sd over seeds.

:func:`snnreduce.compare.write_report` puts these rows in ``report.md``/``report.json`` and the
traces in ``step_response.png``; the definitions are in ``docs/stimuli.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .analysis import population_rate
from .analysis.response import across_seeds, step_response
from .analysis.statistics import plain_or_none
from .params import POPULATIONS
from .stimulus import Step, Stimulus
from .validation import check_number

__all__ = ["StepWindow", "step_window", "step_summary", "step_traces", "step_markdown",
           "STEP_FIELDS"]

#: The reported quantities: field of StepResponse -> (label, units).
STEP_FIELDS = {"rate_before": ("rate before", "Hz"), "rate_after": ("rate after", "Hz"),
               "change": ("change", "Hz"), "latency": ("latency to half-change", "ms"),
               "overshoot": ("overshoot", "fraction of change"),
               "settling_time": ("settling time (10 %)", "ms")}

#: Longest baseline before the step and analysis window after it, ms (shortened to fit the run).
BEFORE_MS, WINDOW_MS = 200.0, 300.0
#: Default smoothing of the rate traces (ms, a centred box: no delay). Latency and settling
#: need a trace whose noise is small against 10 % of the change; in a gamma-oscillating network
#: (the reference preset) the multiple-firing events 15-25 ms apart would otherwise make the
#: overshoot their peaks and the settling time never. A 10 ms box passes half of a 60 Hz
#: oscillation, and a step's half-change time is blurred by at most ±5 ms.
SMOOTH_MS = 10.0


@dataclass(frozen=True)
class StepWindow:
    """Where the step response is measured: the step at ``t_step`` (ms, of population
    ``population``), ``before`` ms of baseline, ``window`` ms after it."""

    t_step: float
    population: str
    before: float
    window: float
    smooth: float = SMOOTH_MS


def step_window(stimulus: Stimulus | None, *, t_end: float, discard: float,
                dt: float, smooth: float = SMOOTH_MS) -> StepWindow | None:
    """The window of the first step onset of ``stimulus`` (its earliest :class:`Step` term),
    or None when there is no step, or too little run before or after it to measure one.

    The baseline is at most :data:`BEFORE_MS` and starts after ``discard``; the window is at
    most :data:`WINDOW_MS`, the step's duration and what is left of the run. ``smooth``: the
    box (ms, >= 0; 0 for the raw per-step rates) the traces are smoothed with.
    """
    check_number("step_smooth", smooth, lambda x: x >= 0, "a number of ms >= 0")
    if stimulus is None:
        return None
    steps = [(term.at, pop, term) for pop, shape in stimulus.shapes for term in shape.terms
             if isinstance(term, Step)]
    if not steps:
        return None
    t_step, pop, term = min(steps, key=lambda s: s[0])
    before = min(BEFORE_MS, t_step - discard)
    window = min(WINDOW_MS, term.duration, t_end - t_step)
    if before < 10 * dt or window < 10 * dt:
        return None
    return StepWindow(float(t_step), pop, float(before), float(window), float(smooth))


def step_rates(results: dict, where: StepWindow):
    """``(time, {model: {pop: [rates per run]}})``: every run's population rates (Hz,
    smoothed with ``where.smooth``), computed once for the summary and the figure; ``time``
    (ms, from the run's start) is shared by the runs of one comparison (same dt and t_end)."""
    time, rates = None, {}
    for model, runs in results.items():
        rates[model] = {pop: [] for pop in POPULATIONS}
        for result in runs:
            for pop in POPULATIONS:
                time, r = population_rate(result, pop, smooth=where.smooth)
                rates[model][pop].append(r)
    return time, rates


def step_summary(time, rates: dict, where: StepWindow) -> dict:
    """``{model: {pop: {field: {"mean", "sd", "n"}}}}`` over the runs of each model, from
    :func:`step_rates`.

    A model with one run (a deterministic one) has ``sd`` None. NaN (e.g. a seed that did
    not settle within the window) is left out of the mean and ``n`` counts what remains;
    values that do not exist are None.
    """
    out = {}
    for model, by_pop in rates.items():
        out[model] = {}
        for pop in POPULATIONS:
            responses = [step_response(time, r, where.t_step, before=where.before,
                                       window=where.window) for r in by_pop[pop]]
            stats = across_seeds(responses)
            out[model][pop] = {name: {"mean": plain_or_none(stats[name].mean),
                                      "sd": plain_or_none(stats[name].sd), "n": stats[name].n}
                               for name in STEP_FIELDS}
    return out


def step_traces(rates: dict) -> dict:
    """``{pop: {model: rates}}`` for :func:`snnreduce.plot.step_response_figure`, from
    :func:`step_rates`: shape (n_seeds, n) for a model with several runs, (n,) for one."""
    return {pop: {model: np.stack(by_pop[pop]) if len(by_pop[pop]) > 1 else by_pop[pop][0]
                  for model, by_pop in rates.items()} for pop in POPULATIONS}


def step_markdown(summary: dict, where: StepWindow, labels: dict) -> list[str]:
    """Markdown lines of the step-response table (mean ± sd over seeds, n if some are NaN)."""
    models = list(summary)
    lines = ["## Step response", "",
             f"Step of the {where.population} input at {where.t_step:g} ms: baseline "
             f"{where.before:g} ms before it, window {where.window:g} ms after it (rate after: "
             f"its second half), rates smoothed over {where.smooth:g} ms. Stochastic models: "
             "mean ± sd over seeds (n: seeds with a value, when fewer). Definitions: "
             "docs/stimuli.md.", "",
             "| quantity | pop | " + " | ".join(labels.get(m, m) for m in models) + " |",
             "|---|---|" + "---|" * len(models)]
    for name, (label, units) in STEP_FIELDS.items():
        for pop in POPULATIONS:
            cells = [_cell(summary[m][pop][name], max(_runs_of(summary[m]), 1))
                     for m in models]
            lines.append(f"| {label} ({units}) | {pop} | " + " | ".join(cells) + " |")
    return lines + [""]


def _runs_of(by_pop: dict) -> int:
    """Largest count of runs behind any quantity of one model."""
    return max(entry["n"] for fields in by_pop.values() for entry in fields.values())


def _cell(entry: dict, runs: int) -> str:
    mean, sd, n = entry["mean"], entry["sd"], entry["n"]
    if mean is None:
        return "—"
    text = f"{mean:.4g}" if sd is None else f"{mean:.4g} ± {sd:.2g}"
    return text if n == runs else f"{text} (n = {n})"
