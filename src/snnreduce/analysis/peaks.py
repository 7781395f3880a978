"""Bifurcation signature: peaks of the smoothed population count and their differences."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import find_peaks

from ._common import centred_box_mean, check_number, population_series, window_half_steps

__all__ = ["PeakSequence", "peak_sequence", "peak_differences", "period2_alternation",
           "sweep_peak_heights", "pooled_peak_differences"]


@dataclass(frozen=True, eq=False)
class PeakSequence:
    """Successive peaks of a smoothed population count (see :func:`peak_sequence`).

    Attributes
    ----------
    population : str
        "E" or "I" ("" for an unlabelled array).
    times : ndarray, shape (n_peaks,)
        Peak times, ms (start of the peak step; the middle of a flat top).
    heights : ndarray, shape (n_peaks,)
        Smoothed population count at the peaks, spikes per ms (whole population).
    height : float
        Minimum height used, spikes per ms.
    """

    population: str
    times: np.ndarray
    heights: np.ndarray
    height: float

    @property
    def differences(self) -> np.ndarray:
        """``heights[k+1] - heights[k]``, shape (n_peaks - 1,), spikes per ms."""
        return np.diff(self.heights)


def peak_sequence(source, population: str | None = "E", smooth: float = 1.0,
                  distance_ms: float = 9.0, height: float | None = None,
                  discard: float = 100.0, *, dt: float | None = None, n=None) -> PeakSequence:
    """Peaks of the smoothed population count.

    The signal is the centred moving average of the counts over the steps with
    ``|s - t| dt <= smooth / 2`` (11 steps for 1 ms at dt = 0.1), divided by ``dt``:
    population spikes per ms. Peaks are :func:`scipy.signal.find_peaks` of it with
    ``distance = round(distance_ms / dt)`` steps (a lower peak closer than that to a
    higher one is dropped) and a minimum height.

    Parameters
    ----------
    source : Result or array_like
        A Result, counts of shape (n_steps, 2), or one population's counts (n_steps,).
    population : {"E", "I"}
        Which population (may be None for a 1-D array).
    smooth : float
        Smoothing window width, ms.
    distance_ms : float
        Minimum time between peaks, ms (default 9, about half a gamma cycle).
    height : float, optional
        Minimum peak height, population spikes per ms. Default: the mean of the smoothed
        signal (the mean population rate), so that every burst counts and the
        fluctuations of a flat (asynchronous) rate give a smeared sequence.
    discard : float
        Initial time to drop, ms.
    dt : float, optional
        Step width, ms (plain arrays only).
    n : int or (int, int), optional
        Neurons in the population (plain arrays only; not needed here).

    Returns
    -------
    PeakSequence

    Raises
    ------
    ValueError
        For invalid settings, or counts that are not finite (a diverged run).
    """
    series = population_series(source, population, discard=discard, dt=dt, n=n)
    series.require_finite()
    check_number("distance_ms", distance_ms, "a number of ms >= 0", lambda x: x >= 0)
    if height is not None:
        check_number("height", height, "a number of spikes per ms or None", lambda x: True)
    x = centred_box_mean(series.counts, window_half_steps(smooth, series.dt, "smooth")) / series.dt
    level = float(x.mean()) if height is None else float(height)
    distance = max(1, int(round(distance_ms / series.dt)))
    index, props = find_peaks(x, height=level, distance=distance)
    return PeakSequence(population=series.population, times=(series.first + index) * series.dt,
                        heights=props["peak_heights"], height=level)


def peak_differences(source, population: str | None = "E", **kwargs) -> np.ndarray:
    """Differences of successive peak heights, spikes per ms.

    Period-1 activity gives one band at 0; period-2 two symmetric branches ``±d``
    (alternating signs); chaos smears the values.

    Parameters
    ----------
    source : PeakSequence, Result or array_like
        Peaks already found, or anything :func:`peak_sequence` accepts.
    population, **kwargs
        Passed to :func:`peak_sequence` (ignored for a PeakSequence).

    Returns
    -------
    ndarray, shape (n_peaks - 1,)
    """
    if isinstance(source, PeakSequence):
        return source.differences
    return peak_sequence(source, population, **kwargs).differences


def period2_alternation(source, population: str | None = "E", *, big: float = 0.25,
                        **kwargs) -> float:
    """Fraction of successive peak-height differences that flip sign while both exceed
    ``big`` times the mean peak height: near 1 for a period-2 cycle, small for period 1 or
    noise (the definition docs/validation.md uses). NaN with fewer than 4 peaks.

    ``source`` is a PeakSequence (e.g. from :func:`sweep_peak_heights`) or anything
    :func:`peak_sequence` accepts, with its ``kwargs``.
    """
    if not isinstance(source, PeakSequence):
        source = peak_sequence(source, population, **kwargs)
    heights = source.heights
    d = np.diff(heights)
    if d.size < 3:
        return float("nan")
    large = np.abs(d) > big * np.mean(heights)
    flips = (np.sign(d[1:]) != np.sign(d[:-1])) & large[1:] & large[:-1]
    return float(np.mean(flips))


def sweep_peak_heights(ds, param: str, model: str) -> list[list[np.ndarray]]:
    """E peak heights of a sweep file's runs: ``[value of param][seed]`` -> 1-D array,
    spikes per ms (the NaN padding of the file's ``peak`` dimension removed; any other grid
    dimension at its first value)."""
    heights = ds["peak_height"].sel(model=model)
    other = [d for d in heights.dims if d not in (param, "seed", "peak")]
    heights = heights.isel({d: 0 for d in other}).transpose(param, "seed", "peak").values
    return [[h[np.isfinite(h)] for h in per_value] for per_value in heights]


def pooled_peak_differences(ds, param: str, model: str) -> list[np.ndarray]:
    """For each value of ``param`` of a sweep file: the successive E peak-height differences
    of every seed's run, pooled (spikes per ms)."""
    return [np.concatenate([np.diff(h) for h in per_value]) if per_value else np.empty(0)
            for per_value in sweep_peak_heights(ds, param, model)]

