"""Figures: raster, rate traces, average cycle, PSD, voltage density, attractor projection,
the bifurcation diagram, and the stimulus-response figures.

Every figure draws a model in its registry colour (:attr:`snnreduce.models.Model.colour`) and
tells the populations apart by line style: E solid, I dashed. Rasters draw the network's spikes
in the network's colour with the E/I boundary as a dashed line, so no population colour
competes with a model colour.

matplotlib is imported inside the functions so that ``import snnreduce`` stays light and
headless machines need no display (the Agg backend is selected when none is configured).
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from . import models as registry
from ._files import atomic_write
from .analysis import peak_sequence, pooled_peak_differences, population_rate, spectrum
from .analysis.response import combine_linear_responses
from .result import model_of

__all__ = ["result_figure", "compare_figure", "bifurcation_figure", "save_figure", "plot_raster",
           "plot_rates", "plot_cycle", "plot_psd", "plot_density", "plot_attractor",
           "large_events", "occupied_voltage_range", "bode_figure", "bode_grid",
           "step_response_figure", "POPULATION_STYLES", "LARGE_EVENT_FRACTION",
           "LARGE_EVENT_OVER_MEAN"]

#: Line style of each population in every figure.
POPULATION_STYLES = {"E": "-", "I": "--"}
#: A "large event" is an E peak (1 ms-smoothed count) at least this fraction of the run's
#: highest one after the transient: what rate traces align on and average cycles centre on.
LARGE_EVENT_FRACTION = 0.5
#: ... and at least this many times the mean of the smoothed count, so that a flat rate (a
#: fixed point, whose round-off wiggles are peaks too) has no large event.
LARGE_EVENT_OVER_MEAN = 1.5
#: A voltage bin is drawn when its density ever exceeds this fraction of the panel's maximum.
_OCCUPIED = 1e-3
#: Legend frame opacity of legends drawn inside axes ("best" location).
_FRAME_ALPHA = 0.8


def _colour(model: str):
    """The registry's colour of ``model`` (None: matplotlib's cycle, for labels of no model)."""
    entry = registry.MODELS.get(model)
    return None if entry is None else entry.colour


def _label(model: str) -> str:
    entry = registry.MODELS.get(model)
    return model if entry is None else entry.label


def _seed_text(result) -> str:
    return "" if result.seed is None else f", seed {result.seed}"


def _pyplot():
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "pdf", "svg", "cairo") and not _has_display():
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _has_display():
    import os

    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _end(result) -> float:
    """Absolute time (ms) of the end of the run."""
    return result.t_start + result.t_end


def _window(result, window):
    """(start, stop) in absolute ms: the last 300 ms of the run by default."""
    if window is None:
        stop = _end(result)
        return max(result.t_start, stop - 300.0), stop
    return window


def _as_seeds(entry) -> list:
    """A list of runs (or responses) from one of them or a list of them."""
    return list(entry) if isinstance(entry, (list, tuple)) else [entry]


def _rate(result, population: str, smooth: float = 1.0):
    """Absolute step times (ms) and the smoothed per-neuron rate (Hz) of one population."""
    # computed on the plain counts so that the times are those of this run's steps,
    # offset by the run's own t_start (a continued run is drawn at its absolute times)
    t, rate = population_rate(result.population_counts, population, smooth, dt=result.dt,
                              n=tuple(result.params.n))
    return result.t_start + t, rate


def large_events(result, discard: float = 100.0) -> np.ndarray:
    """Absolute times (ms) of the large E events after ``discard`` ms of the run.

    A large event is a peak of the 1 ms-smoothed E count
    (:func:`~snnreduce.analysis.peak_sequence`) at least :data:`LARGE_EVENT_FRACTION` of the
    highest peak after ``discard`` and :data:`LARGE_EVENT_OVER_MEAN` times the mean count;
    the small peaks of a period-2 cycle are left out, and a flat rate has none. Empty for a
    run with no peak or non-finite counts (a diverged run).
    """
    try:
        peaks = peak_sequence(result.population_counts, "E", discard=discard, dt=result.dt)
    except ValueError:  # non-finite counts, or nothing left after discard
        return np.empty(0)
    if peaks.heights.size == 0:
        return np.empty(0)
    # peaks.height is the mean of the smoothed count (peak_sequence's default minimum)
    big = peaks.heights >= max(LARGE_EVENT_FRACTION * peaks.heights.max(),
                               LARGE_EVENT_OVER_MEAN * peaks.height)
    return result.t_start + peaks.times[big]


def _legend_inside(ax, **kwargs):
    """A legend where it hides least, on a translucent frame (empty axes get none)."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", fontsize=8, framealpha=_FRAME_ALPHA, **kwargs)


def plot_raster(ax, result, window=None, max_neurons: int = 400):
    """Spike raster of a network result, in the model's colour; E below the dashed line, I above."""
    start, stop = _window(result, window)
    p = result.params
    keep = (result.spike_times >= start) & (result.spike_times < stop)
    times, neurons = result.spike_times[keep], result.spike_neurons[keep]
    # Show at most max_neurons neurons, in the E:I proportion, so big networks stay legible.
    stride = max(1, (p.n_e + p.n_i) // max_neurons)
    shown = neurons % stride == 0
    model = model_of(result)
    ax.scatter(times[shown], neurons[shown], s=1.0, c=_colour(model) or "black", marker="|",
               linewidths=0.6, rasterized=True)
    ax.axhspan(p.n_e, p.n_e + p.n_i, color="0.93", lw=0, zorder=0)  # the I rows
    ax.axhline(p.n_e, color="0.45", lw=0.9, ls="--")
    ax.set(xlim=(start, stop), ylim=(0, p.n_e + p.n_i), xlabel="time (ms)",
           ylabel="neuron (E below, I shaded)",
           title=f"raster — {_label(model)}{_seed_text(result)}")


def plot_rates(ax, results: dict, population="E", window=None, smooth=1.0, *,
               align: bool = False, discard: float = 100.0, legend: bool = True):
    """Population rate traces (Hz per neuron) of several results overlaid.

    Parameters
    ----------
    results : mapping model -> Result (or list of Results: the first is drawn)
    population : {"E", "I"}
        Drawn with its line style (:data:`POPULATION_STYLES`).
    window : (float, float), optional
        Times shown, ms: absolute, or relative to the aligning event with ``align``.
        Default: the last 300 ms of the first run; with ``align``, -10 to 150 ms.
    smooth : float
        Smoothing window, ms.
    align : bool
        Shift each trace so that its first large event after ``discard``
        (:func:`large_events`) is at 0 ms: the phases of stochastic runs drift apart,
        so unaligned overlays cannot be compared cycle by cycle.
    discard : float
        Transient (ms from the start of each run) before the aligning event.
    legend : bool
        Draw a legend inside the axes (best location, translucent frame).
    """
    runs = {label: _as_seeds(r)[0] for label, r in results.items()}
    first = next(iter(runs.values()))
    if align:
        start, stop = window if window is not None else (-10.0, 150.0)
    else:
        start, stop = _window(first, window)
    for label, result in _draw_order(runs.items()):
        t, rate = _rate(result, population, smooth)
        text = _label(label)
        if align:
            events = large_events(result, discard)
            # nothing to align on (a flat rate, e.g. a fixed point): from the end of the transient
            t = t - (events[0] if events.size else result.t_start + discard)
            text += "" if events.size else " (no large event: from the end of the transient)"
        keep = (t >= start) & (t < stop)
        ax.plot(t[keep], rate[keep], POPULATION_STYLES[population], lw=0.9,
                color=_colour(label), label=text, zorder=_zorder(label))
    xlabel = "time from the first large E event (ms)" if align else "time (ms)"
    ax.set(xlim=(start, stop), xlabel=xlabel,
           ylabel=f"{population} rate (Hz/neuron, {smooth:g} ms smoothing)",
           title=f"{population} rate, aligned on the first large E event" if align
           else f"{population} population rate")
    if legend:
        _legend_inside(ax)


def _zorder(model: str) -> float:
    # deterministic models (one smooth line) are drawn above the stochastic ones
    entry = registry.MODELS.get(model)
    return 3.0 if entry is not None and entry.deterministic else 2.0


def _draw_order(items):
    """Stochastic models first, deterministic ones last (drawn on top)."""
    return sorted(items, key=lambda item: _zorder(item[0]))


def _cycles(result, discard, before, after, smooth):
    """Mean E and I rate around the large E events of one run: shape (2, n_lag), or None."""
    steps_before, steps_after = int(round(before / result.dt)), int(round(after / result.dt))
    index = np.round((large_events(result, discard) - result.t_start) / result.dt).astype(int)
    index = index[(index >= steps_before) & (index + steps_after < result.n_steps)]
    if index.size == 0:
        return None
    lags = np.arange(-steps_before, steps_after + 1)
    rates = np.stack([_rate(result, pop, smooth)[1] for pop in POPULATION_STYLES])
    return rates[:, index[:, None] + lags[None, :]].mean(axis=1)


def plot_cycle(ax, results: dict, *, discard: float = 100.0, before: float = 20.0,
               after: float = 40.0, smooth: float = 1.0, legend: bool = True):
    """Peak-aligned average cycle: E (solid) and I (dashed) rates around the large E events.

    Each run's rates are averaged over windows centred on its large E events
    (:func:`large_events`) after ``discard``; a model with several runs (seeds) is drawn as
    the mean of its runs' average cycles with a band of ± 1 sd over runs.

    Parameters
    ----------
    results : mapping model -> Result or list of Results
    discard : float
        Transient, ms from the start of each run.
    before, after : float
        Window around each event, ms.
    smooth : float
        Smoothing of the rates, ms.
    legend : bool
        Draw a legend inside the axes.
    """
    for label, entry in _draw_order(results.items()):
        per_run = [c for c in (_cycles(r, discard, before, after, smooth) for r in _as_seeds(entry))
                   if c is not None]
        if not per_run:
            _flat_cycle(ax, label, _as_seeds(entry), discard, smooth)
            continue
        dt = _as_seeds(entry)[0].dt
        cycles = np.stack(per_run)  # (n_runs, 2, n_lag)
        lag = np.arange(cycles.shape[-1]) * dt - round(before / dt) * dt
        mean = cycles.mean(axis=0)
        colour = _colour(label)
        for q, (pop, style) in enumerate(POPULATION_STYLES.items()):
            line = ax.plot(lag, mean[q], style, lw=1.1, color=colour, zorder=_zorder(label),
                           label=f"{_label(label)} {pop}")[0]
            if len(per_run) > 1:
                sd = cycles[:, q].std(axis=0, ddof=1)
                ax.fill_between(lag, mean[q] - sd, mean[q] + sd, color=line.get_color(),
                                alpha=0.2, lw=0, zorder=1)
    ax.axvline(0.0, color="0.6", lw=0.6)
    ax.set(xlim=(-before, after), xlabel="time from a large E event (ms)",
           ylabel=f"rate (Hz/neuron, {smooth:g} ms smoothing)",
           title="average cycle around large E events (± sd over seeds)")
    if legend:
        _legend_inside(ax, ncol=2)


def _flat_cycle(ax, label, runs, discard, smooth):
    """A model without large events (a flat rate): its mean E and I rates as level lines."""
    first = int(np.ceil(discard / runs[0].dt - 1e-9))
    for pop, style in POPULATION_STYLES.items():
        level = np.mean([np.mean(_rate(r, pop, smooth)[1][first:]) for r in runs])
        ax.axhline(level, ls=style, lw=1.1, color=_colour(label), zorder=_zorder(label),
                   label=f"{_label(label)} {pop} (no large events: mean rate)")


def plot_psd(ax, results: dict, population="E", discard=100.0, *, legend: bool = True):
    """Welch PSD of the population rate, gamma band shaded.

    ``results`` maps model -> Result or list of Results; several runs (seeds) are drawn as
    their mean PSD with a band of ± 1 sd over runs.
    """
    band = None
    for label, entry in _draw_order(results.items()):
        spectra = [spectrum(r, population, discard=discard) for r in _as_seeds(entry)]
        f = spectra[0].frequencies
        keep = f > 0
        psd = np.stack([s.psd for s in spectra])
        mean = psd.mean(axis=0)
        peaks = [s.peak_hz for s in spectra if np.isfinite(s.peak_hz)]
        text = f"{_label(label)} (peak {np.mean(peaks):.0f} Hz)" if peaks else _label(label)
        line = ax.semilogy(f[keep], np.maximum(mean[keep], 1e-12), POPULATION_STYLES[population],
                           lw=1.0, color=_colour(label), label=text, zorder=_zorder(label))[0]
        if len(spectra) > 1:
            sd = psd.std(axis=0, ddof=1)
            ax.fill_between(f[keep], np.maximum(mean - sd, mean * 1e-2)[keep], (mean + sd)[keep],
                            color=line.get_color(), alpha=0.2, lw=0, zorder=1)
        band = spectra[0].band
    if band is not None:
        ax.axvspan(*band, color="0.92", zorder=0)
    # A deterministic limit cycle has troughs many decades deep; keep the noise floor of
    # the stochastic models readable.
    top = ax.get_ylim()[1]
    ax.set_ylim(max(ax.get_ylim()[0], top * 1e-7), top)
    ax.set(xlim=(0, 200), xlabel="frequency (Hz)", ylabel="PSD (Hz²/Hz)",
           title=f"{population} rate spectrum (± sd over seeds; gamma band grey)")
    if legend:
        _legend_inside(ax)


def occupied_voltage_range(density: np.ndarray, edges: np.ndarray) -> tuple[float, float]:
    """(low, high) voltage edges of the bins whose density ever exceeds a thousandth of its maximum.

    ``density`` has shape (n_times, n_bins), ``edges`` (n_bins + 1,).
    """
    peak = np.nanmax(density, axis=0) if density.size else np.zeros(edges.size - 1)
    used = np.flatnonzero(peak > _OCCUPIED * max(float(np.nanmax(peak, initial=0.0)), 1e-300))
    if used.size == 0:
        return float(edges[0]), float(edges[-1])
    return float(edges[used[0]]), float(edges[used[-1] + 1])


def plot_density(ax, result, population="E", window=None, fig=None):
    """Voltage density of a dsODE result over time, on the voltage range it occupies."""
    if "bin_count" not in result.records or "bin_edges" not in result.records:
        raise ValueError("plot_density needs a dsODE result recorded with bin_count and bin_edges")
    start, stop = _window(result, window)
    edges = np.asarray(result.records["bin_edges"], dtype=float)
    counts = np.asarray(result.records["bin_count"], dtype=float)[:, 0 if population == "E" else 1]
    # row k: the state at the end of step k, or of the k-th sampled interval (record_every)
    width = result.dt if result.record_every is None else result.record_every
    t = result.record_time if result.record_every is None else result.record_time - width
    keep = (t >= start) & (t < stop)
    n = result.params.n_e if population == "E" else result.params.n_i
    density = counts[keep] / (n * np.diff(edges))
    t_edges = np.append(t[keep], t[keep][-1] + width)
    mesh = ax.pcolormesh(t_edges, edges, density.T, shading="flat", cmap="viridis", rasterized=True)
    ax.set(xlabel="time (ms)", ylim=occupied_voltage_range(density, edges),
           ylabel="voltage (reset 0, threshold M)",
           title=f"{_label(model_of(result))} {population} voltage density{_seed_text(result)}")
    if fig is not None:
        fig.colorbar(mesh, ax=ax, label=f"fraction of {population} neurons per unit voltage")


def plot_attractor(ax, coordinates: dict, *, legend: bool = True):
    """Trajectories on (pending E kicks, pending I kicks), coloured by model.

    Stochastic models are drawn thin and translucent, deterministic ones (a limit cycle)
    thick on top with a white outline, so that the cycle stays visible inside the cloud.
    """
    from matplotlib import patheffects

    for label, c in _draw_order(coordinates.items()):
        if _zorder(label) > 2.0:
            ax.plot(c.pending_excitatory, c.pending_inhibitory, lw=1.6, color=_colour(label),
                    label=_label(label), zorder=4,
                    path_effects=[patheffects.withStroke(linewidth=3.2, foreground="white")])
        else:
            ax.plot(c.pending_excitatory, c.pending_inhibitory, lw=0.4, alpha=0.5,
                    color=_colour(label), label=_label(label), zorder=2)
    ax.set(xlabel="total pending E kicks", ylabel="total pending I kicks",
           title="attractor projection (first run of each model)")
    if legend:
        _legend_inside(ax)


def _model_legend(fig, comparison, models):
    """One legend below the panels: a line per model (colour) and the population styles."""
    from matplotlib.lines import Line2D

    handles = []
    for model in models:
        n = len(comparison.results[model])
        peaks = [s["gamma_peak_hz"]["E"] for s in comparison.summaries.get(model, [])
                 if s["gamma_peak_hz"]["E"] is not None]
        text = _label(model) + (f", {n} seeds" if n > 1 else "")
        if peaks:
            text += f", E gamma peak {np.mean(peaks):.0f} Hz"
        handles.append(Line2D([], [], color=_colour(model), lw=2, label=text))
    handles += [Line2D([], [], color="0.3", ls=style, lw=1.2, label=f"{pop} population")
                for pop, style in POPULATION_STYLES.items()]
    return fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 5),
                      fontsize=9, frameon=False)


def compare_figure(comparison):
    """Six panels of a :class:`~snnreduce.compare.Comparison`.

    Raster of the first network run; E rate of the first run of each model aligned on its
    first large event; the peak-aligned average E/I cycle and the E rate spectrum (mean
    ± sd over seeds); the attractor projection (dsODE cycle on top); the dsODE E voltage
    density over the voltage range it occupies. One legend below the panels.
    """
    plt = _pyplot()
    runs = comparison.results
    first = {m: rs[0] for m, rs in runs.items()}
    fig, axes = plt.subplots(2, 3, figsize=(16, 9.5), layout="constrained")
    # the raster shows the first spiking network of the comparison (registry order)
    network = next((first[m] for m in registry.MODELS
                    if m in first and registry.MODELS[m].kind == "network"), None)
    if network is None:  # e.g. a registered toy network: any run with spikes
        network = next((r for r in first.values() if r.has_spikes), None)
    if network is not None:
        plot_raster(axes[0, 0], network)
    else:
        axes[0, 0].set_axis_off()
    plot_rates(axes[0, 1], first, "E", align=True, discard=comparison.discard, legend=False)
    plot_cycle(axes[0, 2], runs, discard=comparison.discard, legend=False)
    plot_psd(axes[1, 0], runs, "E", discard=comparison.discard, legend=False)
    if comparison.attractors:
        plot_attractor(axes[1, 1], comparison.attractors, legend=False)
    else:
        axes[1, 1].set_axis_off()
    # the deterministic dsODE's density if it ran, else the first model's that has one
    density = next((first[m] for m in sorted(first, key=lambda m: m != "dsode")
                    if "bin_count" in first[m].records and "bin_edges" in first[m].records), None)
    if density is not None:
        plot_density(axes[1, 2], density, "E", fig=fig)
    else:
        axes[1, 2].set_axis_off()
    _model_legend(fig, comparison, list(runs))
    p = comparison.params
    fig.suptitle(f"network vs reductions — N_E={p.n_e}, N_I={p.n_i}, p_ei={p.p_ei:g}, "
                 f"tau_ee={p.tau_ee:g} ms; first {comparison.discard:g} ms of each run dropped "
                 f"from the cycle and spectrum")
    return fig


def result_figure(result, window=None):
    """Raster (network) or voltage density (dsODE) above the E (solid) and I (dashed) rates."""
    plt = _pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 7), sharex=True, layout="constrained")
    if result.has_spikes:
        plot_raster(top, result, window)
    elif "bin_count" in result.records and "bin_edges" in result.records:
        plot_density(top, result, "E", window, fig=fig)
    else:
        top.set_axis_off()
    start, stop = _window(result, window)
    model = model_of(result)
    for pop, style in POPULATION_STYLES.items():
        t, rate = _rate(result, pop)
        keep = (t >= start) & (t < stop)
        bottom.plot(t[keep], rate[keep], style, lw=0.9, color=_colour(model) or "black",
                    label=pop)
    bottom.set(xlim=(start, stop), xlabel="time (ms)", ylabel="rate (Hz/neuron, 1 ms smoothing)",
               title="population rates")
    # outside the data, right of the axes
    bottom.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, fontsize=9)
    top.set_xlabel("")
    span = (f"t = {result.t_start:g}–{_end(result):g} ms" if result.t_start
            else f"T = {result.t_end:g} ms")
    fig.suptitle(f"{_label(model)} — {span}{_seed_text(result)}")
    return fig


def _fractions(diffs, y_edges):
    """Histogram of each value's differences as fractions of that value's count: (n_values, n_bins)."""
    hist = np.array([np.histogram(d, bins=y_edges)[0] for d in diffs], dtype=float)
    total = hist.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(total > 0, hist / np.where(total > 0, total, 1.0), 0.0)
    frac[frac == 0] = np.nan
    return frac


def _stat_values(ds, stat, param, model):
    values = ds[stat].sel(model=model)
    other = [d for d in values.dims if d not in (param, "seed", "population")]
    return values.isel({d: 0 for d in other})


def bifurcation_figure(ds, param: str, network: str | None = None, reduction: str = "dsode"):
    """The paper's bifurcation diagram from a sweep Dataset.

    Left: for each value of ``param``, the distribution of successive differences of E
    peak heights (1 ms-smoothed population count, whole population, spikes/ms), pooled over
    seeds, as the fraction of that value's differences per bin on a log colour scale shared
    by all models (one colour bar) — network on top, reduction below, same axes; a sweep of
    one model gets one tall panel. A period-1 rhythm is one band at 0, period 2 two
    symmetric branches, chaos a smear. Right: E (solid) and I (dashed) rates and SSI against
    ``param`` in each model's colour, a model with several seeds as mean ± sd over seeds.
    """
    from matplotlib.colors import LogNorm

    plt = _pyplot()
    models = list(ds["model"].values)
    if network is None:
        # the first stochastic network or reduction of the sweep, in registry order
        network = next((m for m, e in registry.MODELS.items() if m in models
                        and not e.deterministic and e.kind in ("network", "reduction")), None)
    rows = [m for m in (network, reduction) if m is not None and m in models]
    if not rows:
        raise ValueError(f"the sweep holds none of the models to draw; it has {models}")
    x = np.asarray(ds[param].values, dtype=float)
    diffs = {m: pooled_peak_differences(ds, param, m) for m in rows}
    pooled = np.concatenate([d for m in rows for d in diffs[m]] or [np.zeros(1)])
    span = max(np.nanmax(np.abs(pooled)) if pooled.size else 1.0, 1e-9) * 1.05
    y_edges = np.linspace(-span, span, 121)
    x_edges = _centres_to_edges(x)
    fractions = {m: _fractions(diffs[m], y_edges) for m in rows}
    present = np.concatenate([f[np.isfinite(f)] for f in fractions.values()] or [np.empty(0)])
    # one colour range for every histogram, so that equal colours mean equal fractions
    norm = (LogNorm(vmin=float(present.min()), vmax=float(max(present.max(), present.min() * 10)))
            if present.size else LogNorm(vmin=1e-3, vmax=1.0))
    mosaic = [["h0", "rate"], ["h1", "ssi"]] if len(rows) == 2 else [["h0", "rate"], ["h0", "ssi"]]
    fig, axd = plt.subplot_mosaic(mosaic, figsize=(14, 8.5), layout="constrained",
                                  gridspec_kw={"width_ratios": [1.3, 1]})
    hist_axes = [axd[f"h{row}"] for row in range(len(rows))]
    mesh = None
    for ax, model in zip(hist_axes, rows):
        mesh = ax.pcolormesh(x_edges, y_edges, fractions[model].T, shading="flat", cmap="magma_r",
                             norm=norm)
        n_seeds = _seed_count(ds, param, model)
        ax.set(ylim=(-span, span), xlim=(x_edges[0], x_edges[-1]), xlabel=param,
               ylabel="Δ E peak height (spikes/ms)",
               title=_label(model) + (f", {n_seeds} seeds pooled" if n_seeds > 1 else ""))
    fig.colorbar(mesh, ax=hist_axes, label="fraction of the successive differences (log)")
    banded = False
    for ax, stat, label in ((axd["rate"], "rate_hz", "rate (Hz/neuron)"),
                            (axd["ssi"], "ssi", "SSI (1 ms)")):
        for model in rows:
            values = _stat_values(ds, stat, param, model)
            colour = _colour(model)
            for pop, style in POPULATION_STYLES.items():
                v = values.sel(population=pop).transpose(param, "seed").values
                mean = np.nanmean(v, axis=1)
                ax.plot(x, mean, style, color=colour, label=f"{_label(model)} {pop}")
                if _seed_count(ds, param, model) > 1:
                    banded = True
                    sd = np.nanstd(v, axis=1, ddof=1)
                    ax.fill_between(x, mean - sd, mean + sd, color=colour, alpha=0.2, lw=0)
        ax.set(xlabel=param, ylabel=label)
        _legend_inside(ax)
    axd["rate"].set_title("rates (mean ± sd over seeds)" if banded else "rates")
    axd["ssi"].set_title("spike synchrony index")
    t_end = ds.attrs.get("t_end")
    fig.suptitle(f"bifurcation diagram over {param}"
                 + (f" — T = {float(t_end):g} ms" if t_end is not None else ""))
    return fig


def _seed_count(ds, param, model) -> int:
    """Seeds with a finite rate at every value of ``param`` (1 for a deterministic model,
    whose one run a sweep may hold under every seed label)."""
    entry = registry.MODELS.get(model)
    if entry is not None and entry.deterministic:
        return 1
    v = _stat_values(ds, "rate_hz", param, model).sel(population="E").transpose(param, "seed").values
    return int(np.min(np.sum(np.isfinite(v), axis=1))) if v.size else 0


def _centres_to_edges(x):
    if x.size == 1:
        return np.array([x[0] - 0.5, x[0] + 0.5])
    mid = (x[1:] + x[:-1]) / 2
    return np.concatenate([[x[0] - (mid[0] - x[0])], mid, [x[-1] + (x[-1] - mid[-1])]])


def save_figure(fig, path) -> None:
    """Save atomically as PNG (dpi 120) and close the figure."""
    path = Path(path)
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=120, format=path.suffix.lstrip(".") or "png"))
    import matplotlib.pyplot as plt

    plt.close(fig)


# ---------------------------------------------------------------------------------------------
# figures (matplotlib imported inside)
# ---------------------------------------------------------------------------------------------

def bode_figure(curves: Mapping[str, Sequence], *, population: str = "E", title: str | None = None,
                axes=None):
    """Gain and phase against frequency, one line per model, a band over seeds.

    Parameters
    ----------
    curves : mapping label -> sequence over frequencies
        Each element a :class:`LinearResponse` or a list of them (one per seed). A model
        with several seeds is drawn as its mean (from the mean complex coefficient) with a
        band of ± 1 sd of the per-seed gains and phases (the network); a model with one
        response per frequency as a line with markers (each reduction), with error bars of
        its standard error across periods when they are finite.
    population : str
        Label of the rate ("E" or "I") for the axis titles.
    title : str, optional
    axes : (Axes, Axes), optional
        Draw into these (gain, phase) axes of an existing figure instead of a new one
        (:func:`bode_grid`); the figure's layout is then left to the caller.

    Returns
    -------
    matplotlib.figure.Figure
        Gain (Hz per kicks/ms, log-log) above phase (degrees, unwrapped, log frequency).
    """
    if axes is None:
        plt = _pyplot()
        fig, (ax_g, ax_p) = plt.subplots(2, 1, figsize=(6.4, 6.4), sharex=True)
    else:
        ax_g, ax_p = axes
        fig = ax_g.figure
    shown = set()
    for label, entries in curves.items():
        per_freq = [_as_seeds(e) for e in entries]
        if not per_freq:
            continue
        hz = np.array([seeds[0].hz for seeds in per_freq])
        order = np.argsort(hz)
        per_freq = [per_freq[i] for i in order]
        hz = hz[order]
        shown.update(hz.tolist())
        mean = [combine_linear_responses(seeds) for seeds in per_freq]
        gain = np.array([m.gain for m in mean])
        phase = np.degrees(np.unwrap(np.radians([m.phase for m in mean])))
        colour = _colour(label)
        banded = max(len(seeds) for seeds in per_freq) > 1
        name = _label(label)
        g_se = np.array([m.gain_se for m in mean])
        # error bars only where they show (not the round-off of an exact sinusoid)
        bars = not banded and bool(np.any(np.isfinite(g_se) & (g_se > 1e-6 * gain)))
        if banded:
            name = f"{name}: mean ± sd, {max(len(s) for s in per_freq)} seeds"
        elif bars:   # a deterministic model's scatter across periods: its own oscillation
            name = f"{name}: ± s.e. across periods"
        line = ax_g.plot(hz, gain, marker="o", ms=3, lw=1.2, color=colour, label=name)[0]
        colour = line.get_color()
        ax_p.plot(hz, phase, marker="o", ms=3, lw=1.2, color=colour)
        if banded:
            g_sd = np.array([np.std([x.gain for x in seeds], ddof=1) if len(seeds) > 1 else 0.0
                             for seeds in per_freq])
            p_sd = np.array([_phase_sd(seeds, m) for seeds, m in zip(per_freq, mean)])
            ax_g.fill_between(hz, np.maximum(gain - g_sd, gain * 1e-3), gain + g_sd,
                              color=colour, alpha=0.25, lw=0)
            ax_p.fill_between(hz, phase - p_sd, phase + p_sd, color=colour, alpha=0.25, lw=0)
        elif bars:
            p_se = np.array([m.phase_se for m in mean])
            ax_g.errorbar(hz, gain, yerr=np.nan_to_num(g_se), fmt="none", ecolor=colour,
                          elinewidth=0.8, capsize=2)
            ax_p.errorbar(hz, phase, yerr=np.nan_to_num(p_se), fmt="none", ecolor=colour,
                          elinewidth=0.8, capsize=2)
    ax_g.set_xscale("log")
    ax_g.set_yscale("log")
    _plain_log_ticks(ax_g, ax_p, shown)
    ax_g.set_ylabel(f"{population} gain (Hz per kicks/ms)")
    ax_g.set_title(title or f"{population} rate response to a sinusoidal input")
    ax_g.legend(fontsize=8)
    ax_g.grid(True, which="both", lw=0.3, alpha=0.5)
    ax_p.axhline(0.0, color="0.6", lw=0.6)
    ax_p.set_xlabel("stimulus frequency (Hz)")
    ax_p.set_ylabel(f"{population} phase (degrees; < 0: rate lags)")
    ax_p.grid(True, which="both", lw=0.3, alpha=0.5)
    if axes is None:
        fig.tight_layout()
    return fig


def bode_grid(curves: Mapping[str, Mapping[str, Sequence]], *, title: str | None = None):
    """Bode figures of several populations side by side (one column each: gain above phase).

    Parameters
    ----------
    curves : mapping population -> (mapping label -> sequence over frequencies)
        For each population, the ``curves`` of :func:`bode_figure`.
    title : str, optional
        Figure title above the columns.

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _pyplot()
    pops = list(curves)
    fig, axes = plt.subplots(2, len(pops), figsize=(5.6 * len(pops), 6.8), sharex=True,
                             squeeze=False)
    for col, pop in enumerate(pops):
        bode_figure(curves[pop], population=pop, axes=(axes[0, col], axes[1, col]),
                    title=f"{pop} rate")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def _plain_log_ticks(ax_gain, ax_freq, freqs) -> None:
    """Numbers, not powers of ten, on the log axes: ticks at the stimulus frequencies (at most
    12 of them) and plain gain labels, so values read off the figure directly."""
    from matplotlib.ticker import FormatStrFormatter, LogFormatter, NullFormatter

    if 0 < len(freqs) <= 12:
        ax_freq.set_xticks(sorted(freqs))
        ax_freq.xaxis.set_minor_formatter(NullFormatter())
    ax_freq.xaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax_gain.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    # minor labels only where the gain spans little more than a decade (else they crowd)
    ax_gain.yaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False,
                                                   minor_thresholds=(1.5, 0.5)))


def _phase_sd(seeds, mean) -> float:
    """sd (degrees) of the per-seed phases about the mean phase, wrapped to ±180."""
    if len(seeds) < 2:
        return 0.0
    d = (np.array([x.phase for x in seeds]) - mean.phase + 180.0) % 360.0 - 180.0
    return float(np.sqrt(np.sum(d * d) / (len(seeds) - 1)))


def step_response_figure(time, traces: Mapping[str, Mapping[str, np.ndarray]], t_step: float, *,
                         window: tuple[float, float] = (-100.0, 300.0), title: str | None = None):
    """Rate traces around a stimulus step: one panel per population.

    Parameters
    ----------
    time : array_like, shape (n,)
        Sample times, ms.
    traces : mapping population -> (mapping label -> array)
        Rates in Hz of shape (n_seeds, n) (drawn as the mean with a ± 1 sd band: the network)
        or (n,) (one line: each reduction).
    t_step : float
        Time of the step, ms (dashed line).
    window : (float, float)
        Shown times relative to the step, ms.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _pyplot()
    t = np.asarray(time, dtype=np.float64)
    pops = list(traces)
    fig, axes = plt.subplots(len(pops), 1, figsize=(6.4, 2.8 * len(pops)), sharex=True,
                             squeeze=False)
    shown = (t >= t_step + window[0]) & (t <= t_step + window[1])
    for ax, pop in zip(axes[:, 0], pops):
        for label, values in traces[pop].items():
            v = np.asarray(values, dtype=np.float64)
            colour = _colour(label)
            if v.ndim == 2 and v.shape[0] > 1:
                mean, sd = v.mean(axis=0), v.std(axis=0, ddof=1)
                line = ax.plot(t[shown], mean[shown], lw=1.0, color=colour,
                               label=f"{_label(label)}: mean ± sd, {v.shape[0]} seeds")[0]
                ax.fill_between(t[shown], (mean - sd)[shown], (mean + sd)[shown],
                                color=line.get_color(), alpha=0.25, lw=0)
            else:
                ax.plot(t[shown], v.reshape(-1)[shown], lw=1.0, color=colour,
                        label=_label(label))
        ax.axvline(t_step, color="0.4", ls="--", lw=0.8)
        ax.set_ylabel(f"{pop} rate (Hz/neuron)")
        ax.legend(fontsize=8, loc="best")
    axes[-1, 0].set_xlabel("time (ms)")
    axes[0, 0].set_title(title or f"response to a stimulus step at {t_step:g} ms")
    fig.tight_layout()
    return fig
