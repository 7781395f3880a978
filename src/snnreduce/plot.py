"""Figures: raster, rate traces, PSD, voltage density, attractor projection.

matplotlib is imported inside the functions so that ``import snnreduce`` stays light and
headless machines need no display (the Agg backend is selected when none is configured).
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from . import models as registry
from ._files import atomic_write
from .analysis import population_rate, spectrum
from .analysis.response import combine_linear_responses
from .params import POPULATIONS
from .populations import population_of

__all__ = ["result_figure", "compare_figure", "bifurcation_figure", "save_figure", "plot_raster",
           "plot_rates", "plot_psd", "plot_density", "plot_attractor", "bode_figure",
           "bode_grid", "step_response_figure"]

_POP_COLOURS = {"E": "tab:red", "I": "tab:blue"}


def _colour(model: str):
    """The registry's colour of ``model`` (None: matplotlib's cycle, for labels of no model)."""
    entry = registry.MODELS.get(model)
    return None if entry is None else entry.colour


def _label(model: str) -> str:
    entry = registry.MODELS.get(model)
    return model if entry is None else entry.label


def _pyplot():
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "pdf", "svg", "cairo") and not _has_display():
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _has_display():
    import os

    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _window(result, window):
    """(start, stop) in ms: the last ``window`` ms of the run by default view."""
    if window is None:
        stop = result.t_end
        return max(0.0, stop - 300.0), stop
    return window


def plot_raster(ax, result, window=None, max_neurons: int = 400):
    """Spike raster of a network result (E red below, I blue above)."""
    start, stop = _window(result, window)
    p = result.params
    keep = (result.spike_times >= start) & (result.spike_times < stop)
    times, neurons = result.spike_times[keep], result.spike_neurons[keep]
    # Show at most max_neurons neurons, in the E:I proportion, so big networks stay legible.
    stride = max(1, (p.n_e + p.n_i) // max_neurons)
    shown = neurons % stride == 0
    population = population_of(neurons, p)
    for q, pop in enumerate(POPULATIONS):
        mask = (population == q) & shown
        ax.scatter(times[mask], neurons[mask], s=1.0, c=_POP_COLOURS[pop], marker="|",
                   linewidths=0.6, label=pop, rasterized=True)
    ax.set(xlim=(start, stop), ylim=(0, p.n_e + p.n_i), xlabel="time (ms)",
           ylabel="neuron (E below, I above)", title=f"raster ({result.engine}, seed {result.seed})")


def plot_rates(ax, results: dict, population="E", window=None, smooth=1.0):
    """Population rate traces (Hz per neuron) of several results overlaid."""
    first = next(iter(results.values()))
    start, stop = _window(first, window)
    for label, result in results.items():
        t, rate = population_rate(result, population, smooth)
        keep = (t >= start) & (t < stop)
        ax.plot(t[keep], rate[keep], lw=0.9, color=_colour(label), label=label)
    ax.set(xlim=(start, stop), xlabel="time (ms)",
           ylabel=f"{population} rate (Hz/neuron, {smooth:g} ms smoothing)",
           title=f"{population} population rate")
    ax.legend(loc="upper right", fontsize=8)


def plot_psd(ax, results: dict, population="E", discard=100.0):
    """Welch PSD of the population rate, gamma band shaded."""
    for label, result in results.items():
        s = spectrum(result, population, discard=discard)
        keep = s.frequencies > 0
        ax.semilogy(s.frequencies[keep], np.maximum(s.psd[keep], 1e-12), lw=1.0,
                    color=_colour(label),
                    label=f"{label} (peak {s.peak_hz:.0f} Hz)" if np.isfinite(s.peak_hz) else label)
        band = s.band
    ax.axvspan(*band, color="0.9", zorder=0)
    # A deterministic limit cycle has troughs many decades deep; keep the noise floor of
    # the stochastic models readable.
    top = ax.get_ylim()[1]
    ax.set_ylim(max(ax.get_ylim()[0], top * 1e-7), top)
    ax.set(xlim=(0, 200), xlabel="frequency (Hz)", ylabel="PSD (Hz²/Hz)",
           title=f"{population} rate spectrum (gamma band shaded)")
    ax.legend(loc="upper right", fontsize=8)


def plot_density(ax, result, population="E", window=None, fig=None):
    """Voltage density of a dsODE result: neurons per unit voltage over time."""
    if "bin_count" not in result.records or "bin_edges" not in result.records:
        raise ValueError("plot_density needs a dsODE result recorded with bin_count and bin_edges")
    start, stop = _window(result, window)
    edges = np.asarray(result.records["bin_edges"], dtype=float)
    counts = np.asarray(result.records["bin_count"], dtype=float)[:, 0 if population == "E" else 1]
    t = result.time
    keep = (t >= start) & (t < stop)
    n = result.params.n_e if population == "E" else result.params.n_i
    density = counts[keep] / (n * np.diff(edges))
    t_edges = np.append(t[keep], t[keep][-1] + result.dt)
    mesh = ax.pcolormesh(t_edges, edges, density.T, shading="flat", cmap="viridis", rasterized=True)
    ax.set(xlabel="time (ms)", ylabel="voltage", title=f"dsODE {population} voltage density")
    if fig is not None:
        fig.colorbar(mesh, ax=ax, label="fraction per unit voltage")


def plot_attractor(ax, coordinates: dict):
    """Trajectories on (pending E kicks, pending I kicks), coloured by model."""
    for label, c in coordinates.items():
        ax.plot(c.pending_excitatory, c.pending_inhibitory, lw=0.4, alpha=0.8,
                color=_colour(label), label=label)
    ax.set(xlabel="total pending E kicks", ylabel="total pending I kicks",
           title="attractor projection")
    ax.legend(loc="upper left", fontsize=8)


def compare_figure(comparison):
    """Six panels: raster, E and I rate traces, PSD, attractor projection, dsODE density."""
    plt = _pyplot()
    runs = {m: rs[0] for m, rs in comparison.results.items()}
    fig, axes = plt.subplots(2, 3, figsize=(16, 9), constrained_layout=True)
    # the raster shows the first spiking network of the comparison (registry order)
    network = next((runs[m] for m in registry.MODELS
                    if m in runs and registry.MODELS[m].kind == "network"), None)
    if network is not None:
        plot_raster(axes[0, 0], network)
    else:
        axes[0, 0].set_axis_off()
    plot_rates(axes[0, 1], runs, "E")
    plot_rates(axes[0, 2], runs, "I")
    plot_psd(axes[1, 0], runs, "E", discard=comparison.discard)
    if comparison.attractors:
        plot_attractor(axes[1, 1], comparison.attractors)
    else:
        axes[1, 1].set_axis_off()
    if "dsode" in runs:
        plot_density(axes[1, 2], runs["dsode"], "E", fig=fig)
    else:
        axes[1, 2].set_axis_off()
    p = comparison.params
    fig.suptitle(f"network vs reductions — N_E={p.n_e}, N_I={p.n_i}, p_ei={p.p_ei:g}, "
                 f"tau_ee={p.tau_ee:g} ms (first run of each model)")
    return fig


def result_figure(result, window=None):
    """Raster (network) or voltage density (dsODE) above the E and I rate traces."""
    plt = _pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 7), sharex=True, constrained_layout=True)
    if result.has_spikes:
        plot_raster(top, result, window)
    elif "bin_count" in result.records:
        plot_density(top, result, "E", window, fig=fig)
    else:
        top.set_axis_off()
    start, stop = _window(result, window)
    for pop in ("E", "I"):
        t, rate = population_rate(result, pop)
        keep = (t >= start) & (t < stop)
        bottom.plot(t[keep], rate[keep], lw=0.9, color=_POP_COLOURS[pop], label=pop)
    bottom.set(xlabel="time (ms)", ylabel="rate (Hz/neuron, 1 ms smoothing)")
    bottom.legend(loc="upper right")
    top.set_xlabel("")
    fig.suptitle(f"{result.engine} — T = {result.t_end:g} ms, seed {result.seed}")
    return fig


def _peak_differences_by_value(ds, param, model):
    """For each value of ``param``: successive E peak-height differences pooled over seeds."""
    heights = ds["peak_height"].sel(model=model)
    other = [d for d in heights.dims if d not in (param, "seed", "peak")]
    heights = heights.isel({d: 0 for d in other}).transpose(param, "seed", "peak").values
    out = []
    for per_value in heights:
        diffs = [np.diff(h[np.isfinite(h)]) for h in per_value]
        out.append(np.concatenate(diffs) if diffs else np.empty(0))
    return out


def bifurcation_figure(ds, param: str, network: str | None = None, reduction: str = "dsode"):
    """The paper's bifurcation diagram from a sweep Dataset.

    Left: for each value of ``param``, the distribution of successive differences of E
    peak heights (1 ms-smoothed population count, whole population, spikes/ms), log colour
    scale — network on top, reduction below, same axes. A period-1 rhythm is one band at
    0, period 2 two symmetric branches, chaos a smear. Right: E and I rates and SSI of both
    models against ``param``, the network as mean ± sd over seeds.
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
    diffs = {m: _peak_differences_by_value(ds, param, m) for m in rows}
    pooled = np.concatenate([d for m in rows for d in diffs[m]] or [np.zeros(1)])
    span = max(np.nanmax(np.abs(pooled)) if pooled.size else 1.0, 1e-9) * 1.05
    y_edges = np.linspace(-span, span, 121)
    x_edges = _centres_to_edges(x)
    fig, axes = plt.subplots(2, 2, figsize=(14, 8.5), constrained_layout=True,
                             gridspec_kw={"width_ratios": [1.3, 1]})
    for row, model in enumerate(rows):
        ax = axes[row, 0]
        hist = np.array([np.histogram(d, bins=y_edges)[0] for d in diffs[model]], dtype=float)
        hist[hist == 0] = np.nan
        mesh = ax.pcolormesh(x_edges, y_edges, hist.T, shading="flat", cmap="magma_r",
                             norm=LogNorm(vmin=1, vmax=max(np.nanmax(hist), 1.0) if np.isfinite(hist).any() else 10))
        fig.colorbar(mesh, ax=ax, label="successive peaks (count, log)")
        ax.set(ylim=(-span, span), xlim=(x_edges[0], x_edges[-1]), xlabel=param,
               ylabel="Δ E peak height (spikes/ms)", title=f"{_label(model)}")
    for row in range(len(rows), 2):
        axes[row, 0].set_axis_off()
    for ax, stat, label in ((axes[0, 1], "rate_hz", "rate (Hz/neuron)"), (axes[1, 1], "ssi", "SSI (1 ms)")):
        for model in rows:
            values = ds[stat].sel(model=model)
            other = [d for d in values.dims if d not in (param, "seed", "population")]
            values = values.isel({d: 0 for d in other})
            for pop, style in (("E", "-"), ("I", "--")):
                v = values.sel(population=pop).transpose(param, "seed").values
                mean = np.nanmean(v, axis=1)
                colour = _colour(model)
                ax.plot(x, mean, style, color=colour, label=f"{_label(model)} {pop}")
                if v.shape[1] > 1:
                    sd = np.nanstd(v, axis=1, ddof=1)
                    ax.fill_between(x, mean - sd, mean + sd, color=colour, alpha=0.2, lw=0)
        ax.set(xlabel=param, ylabel=label)
        ax.legend(fontsize=8)
    axes[0, 1].set_title("rates (network: mean ± sd over seeds)")
    axes[1, 1].set_title("spike synchrony index")
    fig.suptitle(f"bifurcation diagram over {param} — T = {ds.attrs.get('t_end', '?')} ms")
    return fig


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

def _as_seeds(entry) -> list:
    return list(entry) if isinstance(entry, (list, tuple)) else [entry]


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
