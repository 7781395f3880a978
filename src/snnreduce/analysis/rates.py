"""Firing rates: spikes per neuron per second after the initial transient."""

from __future__ import annotations

import numpy as np

from ..params import POPULATIONS
from ._common import centred_box_mean, population_series, window_half_steps

__all__ = ["firing_rate", "firing_rates", "population_rate"]


def firing_rate(source, population: str | None = "E", discard: float = 100.0, *,
                dt: float | None = None, n=None) -> float:
    """Mean firing rate of one population, Hz (spikes per neuron per second).

    ``rate = 1000 * sum_t c_t / (N_Q * n_kept * dt)``, summing the population counts
    ``c_t`` over the steps that start at or after ``discard`` ms (``n_kept`` of them).
    Works unchanged for the dsODE's expected counts.

    Parameters
    ----------
    source : Result or array_like
        A Result, counts of shape (n_steps, 2) (columns E, I), or one population's
        counts of shape (n_steps,).
    population : {"E", "I"}
        Which population (may be None for a 1-D array).
    discard : float
        Initial time to drop, ms (default 100: every neuron starts at V = 0, which
        makes a large first event).
    dt : float, optional
        Step width, ms (plain arrays only).
    n : int or (int, int), optional
        Neurons in the population (plain arrays only).

    Returns
    -------
    float
        Rate in Hz; NaN if the counts contain NaN (a diverged run).
    """
    series = population_series(source, population, discard=discard, dt=dt, n=n)
    size = series.require_n("firing_rate")
    return float(1000.0 * series.counts.sum() / (size * series.duration))


def firing_rates(source, discard: float = 100.0, *, dt: float | None = None,
                 n=None) -> dict[str, float]:
    """Mean firing rates of E and I, Hz: ``{"E": rate_E, "I": rate_I}``.

    See :func:`firing_rate` for the definition. ``source`` is a Result or an array of
    shape (n_steps, 2) with ``dt=`` (ms) and ``n=(n_e, n_i)``.
    """
    return {pop: firing_rate(source, pop, discard, dt=dt, n=n) for pop in POPULATIONS}


def population_rate(source, population: str | None = "E", smooth: float = 1.0,
                    discard: float = 0.0, *, dt: float | None = None,
                    n=None) -> tuple[np.ndarray, np.ndarray]:
    """Smoothed population rate per neuron, Hz, for plotting.

    ``r_t = 1000 x_t / (N_Q dt)`` where ``x_t`` is the centred moving average of the
    counts over the steps with ``|s - t| dt <= smooth / 2`` (11 steps for 1 ms at
    dt = 0.1; near the ends, over the steps present) — the same smoothing as
    :func:`~snnreduce.analysis.mfe` and :func:`~snnreduce.analysis.peak_sequence`.

    Returns
    -------
    time : ndarray, shape (n_kept,)
        Start of each step, ms.
    rate : ndarray, shape (n_kept,)
        Hz per neuron (per population if ``n`` is not known for a plain array).
    """
    series = population_series(source, population, discard=discard, dt=dt, n=n)
    per = series.n if series.n is not None else 1
    x = centred_box_mean(series.counts, window_half_steps(smooth, series.dt, "smooth"))
    return series.time, 1000.0 * x / (per * series.dt)
