"""Spike synchrony index (SSI)."""

from __future__ import annotations

import numpy as np

from ..params import POPULATIONS
from ..result import Result
from ._common import TIME_EPS, centred_box_sum, discard_steps, population_series, window_half_steps

__all__ = ["ssi"]


def ssi(source, population: str | None = "E", window: float = 1.0, discard: float = 100.0, *,
        method: str = "counts", dt: float | None = None, n=None) -> float:
    """Spike synchrony index of one population.

    For each spike of population Q, count the spikes of Q (itself included) in a
    window of width ``w = window`` centred on it; average over spikes; divide by N_Q.

    ``method="counts"`` (default; the only one for the dsODE) works on the population
    counts per step ``c_t`` of the analysed interval::

        SSI = sum_t c_t * W_t / (N_Q * sum_t c_t),   W_t = sum_{s : |s - t| dt <= w/2} c_s

    i.e. the window holds the ``2m + 1`` steps ``t - m .. t + m`` with
    ``m = floor(w / (2 dt))`` (11 steps = 1.1 ms for w = 1, dt = 0.1), clipped at the
    ends of the analysed interval. Every spike is placed at its step, so a spike
    counts itself and every other spike of its own step.

    ``method="spikes"`` (network results only) uses the individual spike times:
    ``W_i = #{j : |t_j - t_i| <= w/2}``; it equals the counts method when spike times
    lie on the step grid (the stepped engines) and uses a window of exactly ``w`` for
    event-driven spike times.

    Reference values. Independent Poisson firing with mean count ``c̄`` per step gives
    ``E[SSI] ≈ (1 + (2m + 1) c̄) / N_Q`` (≈ 11 c̄ / N_Q, plus the spike itself), and
    ``(1 + N_Q r w) / N_Q`` for the spikes method at rate r per ms per neuron; a
    constant expected count (the dsODE at a fixed point) gives ``(2m + 1) c̄ / N_Q``
    exactly (no self term). Full synchrony — every neuron fires within the same
    window, volleys further apart than ``w`` — gives 1.

    Parameters
    ----------
    source : Result or array_like
        A Result, counts of shape (n_steps, 2), or one population's counts (n_steps,).
    population : {"E", "I"}
        Which population (may be None for a 1-D array).
    window : float
        Window width w, ms (default 1).
    discard : float
        Initial time to drop, ms; spikes before it are neither centres nor neighbours.
    method : {"counts", "spikes"}
        See above.
    dt : float, optional
        Step width, ms (plain arrays only).
    n : int or (int, int), optional
        Neurons in the population (plain arrays only).

    Returns
    -------
    float
        Dimensionless index; NaN when no spikes are left after ``discard``.
    """
    if method == "counts":
        series = population_series(source, population, discard=discard, dt=dt, n=n)
        size = series.require_n("ssi")
        m = window_half_steps(window, series.dt)
        c = series.counts
        total = c.sum()
        if not total > 0:
            return float("nan")
        return float(np.dot(c, centred_box_sum(c, m)) / (size * total))
    if method == "spikes":
        if not isinstance(source, Result):
            raise ValueError("method='spikes' needs a network Result with individual spikes")
        if source.spike_times is None:
            raise ValueError(f"a {source.engine} result has no individual spikes; "
                             "use method='counts'")
        if population not in POPULATIONS:
            raise ValueError(f"population must be 'E' or 'I', got {population!r}")
        window_half_steps(window, source.dt)  # validates window
        times, _ = source.spikes_of(population)
        first = discard_steps(discard, source.dt, source.n_steps)
        times = np.sort(np.asarray(times, dtype=np.float64))
        times = times[times >= first * source.dt - TIME_EPS]
        if times.size == 0:
            return float("nan")
        half = window / 2.0 + TIME_EPS
        inside = (np.searchsorted(times, times + half, side="right")
                  - np.searchsorted(times, times - half, side="left"))
        size = source.params.n[POPULATIONS.index(population)]
        return float(inside.mean() / size)
    raise ValueError(f"method must be 'counts' or 'spikes', got {method!r}")
