"""Multiple firing events (MFEs): bursts of population spikes."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import poisson

from ._common import (TIME_EPS, centred_box_mean, check_number, population_series,
                      window_half_steps)

__all__ = ["MFE", "mfe"]


_MAX_ITER = 100


def _levels(base, m, threshold, release, alpha, release_alpha):
    """Detection and release levels (spikes per step) for a baseline count per step."""
    high, low = threshold * base, release * base
    if base > 0:
        # Poisson floors: for asynchronous firing at the baseline rate the window sum is
        # ~ Poisson((2m + 1) base); detection needs p < alpha, staying in p < release_alpha.
        lam = (2 * m + 1) * base
        high = max(high, float(poisson.isf(alpha, lam)) / (2 * m + 1))
        low = max(low, float(poisson.isf(release_alpha, lam)) / (2 * m + 1))
    return high, low


def _event_runs(x, cum, high, low, smallest, gap):
    """[start, stop) of the runs with x > low (joined across gaps < ``gap`` steps) that
    reach x > high and hold >= smallest spikes."""
    above = np.concatenate(([False], x > low, [False]))
    edges = np.flatnonzero(np.diff(above.astype(np.int8)))
    if edges.size == 0:
        return edges, edges
    joined = np.flatnonzero(edges[2::2] - edges[1:-1:2] < gap)   # gap after run k is short
    edges = np.delete(edges, np.concatenate((2 * joined + 1, 2 * joined + 2)))
    starts, stops = edges[0::2], edges[1::2]
    # per-run maximum: reduceat over the [start, stop) pairs (x padded so stop may be len(x))
    run_max = np.maximum.reduceat(np.append(x, -np.inf), edges)[0::2]
    keep = (run_max > high) & (cum[stops] - cum[starts] >= smallest)
    return starts[keep], stops[keep]


def _mean(x: np.ndarray) -> float:
    return float(x.mean()) if x.size else float("nan")


@dataclass(frozen=True, eq=False)
class MFE:
    """The multiple firing events of one population (see :func:`mfe`).

    Attributes
    ----------
    population : str
        "E" or "I" ("" for an unlabelled array).
    n_neurons : int
        N_Q.
    onsets : ndarray, shape (count,)
        Start of each event (first step of the excursion), ms.
    peak_times : ndarray, shape (count,)
        Time of the maximum of the smoothed count within each event, ms.
    durations : ndarray, shape (count,)
        Length of each excursion, ms (it includes the smoothing; see :func:`mfe`).
    sizes : ndarray, shape (count,)
        Spikes (expected spikes for the dsODE) in each event.
    relative_sizes : ndarray, shape (count,)
        ``sizes / N_Q``.
    intervals : ndarray, shape (count - 1,)
        Intervals between the peak times of successive events, ms.
    baseline : float
        Mean count per step outside events, spikes per step.
    threshold : float
        Detection level used, spikes per step.
    release : float
        Level that delimits an event, spikes per step.
    duration : float
        Length of the analysed interval, ms.
    """

    population: str
    n_neurons: int
    onsets: np.ndarray
    peak_times: np.ndarray
    durations: np.ndarray
    sizes: np.ndarray
    relative_sizes: np.ndarray
    intervals: np.ndarray
    baseline: float
    threshold: float
    release: float
    duration: float

    @property
    def count(self) -> int:
        """Number of events."""
        return int(self.onsets.size)

    @property
    def mean_size(self) -> float:
        """Mean event size as a fraction of N_Q (NaN without events)."""
        return _mean(self.relative_sizes)

    @property
    def mean_size_spikes(self) -> float:
        """Mean event size in spikes (NaN without events)."""
        return _mean(self.sizes)

    @property
    def mean_duration_ms(self) -> float:
        """Mean event duration, ms (NaN without events)."""
        return _mean(self.durations)

    @property
    def mean_interval_ms(self) -> float:
        """Mean peak-to-peak interval, ms (NaN with fewer than two events)."""
        return _mean(self.intervals)

    @property
    def frequency_hz(self) -> float:
        """Events per second over the analysed interval."""
        return 1000.0 * self.count / self.duration


def mfe(source, population: str | None = "E", smooth: float = 1.0, threshold: float = 2.0,
        min_size: float = 0.1, discard: float = 100.0, *, release: float = 1.0,
        alpha: float = 1e-5, release_alpha: float = 0.05, merge: float = 0.0,
        dt: float | None = None, n=None) -> MFE:
    """Detect multiple firing events (bursts) in a population count.

    1. Smooth the counts ``c_t`` of the analysed interval with a centred moving
       average over the ``2m + 1`` steps with ``|s - t| dt <= smooth / 2``
       (``m = floor(smooth / (2 dt))``; 11 steps for 1 ms at dt = 0.1; near the ends,
       over the steps present): ``x_t``, spikes per step.
    2. Levels, from a baseline count per step ``b`` and ``λ = (2m + 1) b``, with
       ``q(p)`` the smallest k such that ``P(Poisson(λ) > k) <= p``::

           detect  = max(threshold * b, q(alpha) / (2m + 1))
           release = max(release * b,   q(release_alpha) / (2m + 1))

       The Poisson terms make independent (asynchronous) firing at rate ``b`` cross
       the detection level in at most a fraction ``alpha`` of the steps, whatever the
       rate or N; they dominate for sparse counts.
    3. An event is a maximal run of steps with ``x_t > release`` (runs separated by
       gaps shorter than ``merge`` ms are joined) that reaches ``x_t > detect`` and
       holds at least ``min_size * N_Q`` spikes (sum of the raw ``c_t`` over the run).
    4. The baseline ``b`` is the mean count per step outside events: start from the
       mean of all steps, detect, recompute ``b`` over the steps outside events, and
       repeat until the events stop changing (the between-burst activity of a
       synchronous regime is far below its mean, so this reveals smaller events;
       asynchronous activity has no events and keeps the mean).
    5. Events cut off by either end of the analysed interval are not reported.

    Onset is the start of the first step of the run, duration the run's length
    (``steps * dt``; it includes the smoothing, which widens a run by up to
    ``smooth`` ms in all, and the burst's tails above the release level), peak time
    the start of the step of the largest ``x_t`` (first if tied), intervals the
    differences of successive peak times (steadier than onsets, which move with a
    burst's leading tail). The same rules apply to the dsODE's expected counts.

    Parameters
    ----------
    source : Result or array_like
        A Result, counts of shape (n_steps, 2), or one population's counts (n_steps,).
    population : {"E", "I"}
        Which population (may be None for a 1-D array).
    smooth : float
        Width of the smoothing window, ms (default 1).
    threshold : float
        Detection level as a multiple of the baseline (default 2).
    min_size : float
        Smallest event, as a fraction of N_Q (default 0.1).
    discard : float
        Initial time to drop, ms (default 100).
    release : float
        Release level as a multiple of the baseline (default 1); at most ``threshold``.
    alpha : float
        Poisson significance of the detection level (default 1e-5 per step).
    release_alpha : float
        Poisson significance of the release level (default 0.05); at least ``alpha``.
    merge : float
        Join runs separated by less than this, ms (default 0: no joining).
    dt : float, optional
        Step width, ms (plain arrays only).
    n : int or (int, int), optional
        Neurons in the population (plain arrays only).

    Returns
    -------
    MFE

    Raises
    ------
    ValueError
        For invalid settings, or counts that are not finite (a diverged run).
    """
    series = population_series(source, population, discard=discard, dt=dt, n=n)
    size = series.require_n("mfe")
    for name, value in (("alpha", alpha), ("release_alpha", release_alpha)):
        check_number(name, value, "in (0, 1)", lambda x: 0 < x < 1)
    if alpha > release_alpha:
        raise ValueError(f"alpha must not exceed release_alpha, got {alpha!r} > {release_alpha!r}")
    for name, value in (("threshold", threshold), ("release", release), ("min_size", min_size),
                        ("merge", merge)):
        check_number(name, value, "a finite number >= 0", lambda x: x >= 0)
    if release > threshold:
        raise ValueError(f"release must not exceed threshold, got release={release!r} > "
                         f"threshold={threshold!r}")
    series.require_finite()
    c = series.counts
    m = window_half_steps(smooth, series.dt, "smooth")
    x = centred_box_mean(c, m)
    gap = int(math.ceil(merge / series.dt - TIME_EPS))
    cum = np.concatenate(([0.0], np.cumsum(c)))
    # Baseline: the mean count outside events. Start from the mean of all steps and
    # iterate (events lower the baseline, which can reveal smaller events) until the
    # event set, and with it the baseline, stops changing.
    base = float(c.mean())
    for _ in range(_MAX_ITER):
        high, low = _levels(base, m, threshold, release, alpha, release_alpha)
        starts, stops = _event_runs(x, cum, high, low, min_size * size, gap)
        marks = np.zeros(c.size + 1)
        marks[starts] += 1.0                          # runs are disjoint: no repeated index
        marks[stops] -= 1.0
        outside = np.cumsum(marks)[:-1] == 0
        new = float(c[outside].mean()) if outside.any() else base
        if new == base:
            break
        base = new
    else:  # no fixed point within _MAX_ITER: report the events of the last baseline
        high, low = _levels(base, m, threshold, release, alpha, release_alpha)
        starts, stops = _event_runs(x, cum, high, low, min_size * size, gap)
    interior = (starts > 0) & (stops < c.size)       # drop events cut off at either end
    keep_start, keep_stop = starts[interior], stops[interior]
    peaks = np.asarray([s + int(np.argmax(x[s:e])) for s, e in zip(keep_start, keep_stop)],
                       dtype=np.int64)
    sizes = cum[keep_stop] - cum[keep_start]
    onsets = (series.first + keep_start) * series.dt
    return MFE(
        population=series.population,
        n_neurons=size,
        onsets=onsets,
        peak_times=(series.first + peaks) * series.dt,
        durations=(keep_stop - keep_start) * series.dt,
        sizes=sizes,
        relative_sizes=sizes / size,
        intervals=np.diff((series.first + peaks) * series.dt),
        baseline=base,
        threshold=high,
        release=low,
        duration=series.duration,
    )
