"""Shared plumbing: pick one population's count series out of a Result or an array.

Every statistic works on the population spike count per step, ``c_t`` (spikes of one
population in the step ``[t dt, (t+1) dt)``). Network results hold integers, the dsODE
holds expected (real) counts; the formulas are the same for both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import validation
from ..params import POPULATIONS
from ..result import Result

__all__ = ["Series", "population_series", "check_population", "check_number",
           "window_half_steps", "centred_box_sum", "centred_box_mean"]

# Times on the step grid (k * dt) are compared with this slack, so that 5 * 0.1 <= 0.5 holds.
TIME_EPS = 1e-9


@dataclass(frozen=True, eq=False)
class Series:
    """One population's counts over the analysed interval.

    Attributes
    ----------
    counts : ndarray of float, shape (n_kept,)
        Spikes (or expected spikes) per step, steps ``first .. first + n_kept - 1``.
    dt : float
        Step width, ms.
    n : int or None
        Number of neurons of the population (None if unknown).
    first : int
        Index of the first kept step; it starts at ``t0 = first * dt``.
    population : str
        "E", "I" or "" for an unlabelled 1-D array.
    """

    counts: np.ndarray
    dt: float
    n: int | None
    first: int
    population: str

    @property
    def t0(self) -> float:
        """Start of the analysed interval, ms."""
        return self.first * self.dt

    @property
    def duration(self) -> float:
        """Length of the analysed interval, ms (``n_kept * dt``)."""
        return self.counts.size * self.dt

    @property
    def time(self) -> np.ndarray:
        """Start time (ms) of each kept step."""
        return (self.first + np.arange(self.counts.size)) * self.dt

    def require_finite(self) -> None:
        if not np.all(np.isfinite(self.counts)):
            raise ValueError("population counts are not finite (did the run diverge?)")

    def require_n(self, what: str) -> int:
        if self.n is None:
            raise ValueError(f"{what} needs the population size: pass n= (neurons) with a plain array")
        return self.n


def check_number(name: str, value, allowed: str, ok) -> float:
    """``float(value)`` if it is a finite real number with ``ok(value)``; otherwise a
    one-line ``ValueError`` "NAME must be ALLOWED, got VALUE" (:mod:`snnreduce.validation`)."""
    return validation.check_number(name, value, ok, allowed, error=ValueError)


def check_population(population) -> str:
    if population not in POPULATIONS:
        raise ValueError(f"population must be 'E' or 'I', got {population!r}")
    return population


def discard_steps(discard: float, dt: float, n_steps: int) -> int:
    """Number of leading steps dropped: those starting before ``discard`` ms."""
    check_number("discard", discard, "a number of ms >= 0", lambda x: x >= 0)
    first = int(math.ceil(discard / dt - TIME_EPS))
    if first >= n_steps:
        raise ValueError(f"discard={discard:g} ms leaves no data in a run of "
                         f"{n_steps * dt:g} ms")
    return first


def population_series(source, population: str | None, *, discard: float,
                      dt: float | None = None, n=None) -> Series:
    """The counts of ``population`` after dropping the first ``discard`` ms.

    Parameters
    ----------
    source : Result or array_like
        A :class:`~snnreduce.Result`, an array of shape (n_steps, 2) (columns E, I), or
        an array of shape (n_steps,) holding one population's counts.
    population : {"E", "I"} or None
        Which population; may be None only for a 1-D array.
    discard : float
        Initial time to drop, ms.
    dt : float, optional
        Step width (ms); required for arrays, must be omitted for a Result.
    n : int or (int, int), optional
        Population size(s) for arrays: an int for a 1-D array, ``(n_e, n_i)`` or an int
        for a 2-D array. Must be omitted for a Result.
    """
    if isinstance(source, Result):
        if dt is not None or n is not None:
            raise ValueError("dt= and n= are taken from the Result; pass them only with plain arrays")
        check_population(population)
        col = POPULATIONS.index(population)
        counts = np.asarray(source.population_counts, dtype=np.float64)
        if counts.ndim != 2 or counts.shape[1] != 2:
            raise ValueError(f"population_counts must have shape (n_steps, 2), got {counts.shape}")
        counts, dt, size = counts[:, col], float(source.dt), source.params.n[col]
    else:
        counts = np.asarray(source, dtype=np.float64)
        if dt is None:
            raise ValueError("pass dt= (step width, ms) with a plain array of counts")
        dt = check_number("dt", dt, "a positive number of ms", lambda x: x > 0)
        if counts.ndim == 1:
            if population is not None:
                check_population(population)
            size = n
        elif counts.ndim == 2 and counts.shape[1] == 2:
            check_population(population)
            col = POPULATIONS.index(population)
            counts = counts[:, col]
            size = n[col] if isinstance(n, (tuple, list, np.ndarray)) else n
        else:
            raise ValueError(f"counts must have shape (n_steps,) or (n_steps, 2), got {counts.shape}")
        if size is not None:
            if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
                raise ValueError(f"n must be a positive integer number of neurons, got {size!r}")
            size = int(size)
    if counts.size == 0:
        raise ValueError("no population counts to analyse")
    first = discard_steps(discard, dt, counts.size)
    return Series(counts=counts[first:], dt=dt, n=size, first=first, population=population or "")


def window_half_steps(width: float, dt: float, name: str = "window") -> int:
    """``m`` such that steps ``s`` with ``|s - t| dt <= width / 2`` are ``t - m .. t + m``."""
    check_number(name, width, "a number of ms >= 0", lambda x: x >= 0)
    return int(math.floor(width / (2.0 * dt) + TIME_EPS))


def centred_box_sum(x: np.ndarray, m: int) -> np.ndarray:
    """``y_t = sum_{|s - t| <= m} x_s``, windows clipped at the ends of ``x``."""
    if m == 0:
        return x.copy()
    return np.convolve(x, np.ones(2 * m + 1), mode="full")[m:m + x.size]


def centred_box_mean(x: np.ndarray, m: int) -> np.ndarray:
    """Centred moving average over ``2m + 1`` steps; near the ends, over the steps present."""
    if m == 0:
        return x.copy()
    return centred_box_sum(x, m) / centred_box_sum(np.ones_like(x), m)
