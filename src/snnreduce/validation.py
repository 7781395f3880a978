"""One place for checking user input: numbers, choices, flags, option names, records, seeds.

Every check raises :class:`ParameterError` (a ``ValueError``) with one line in the
scikit-learn style, naming the parameter, what is allowed and what was given:
``"p_ei must be in [0, 1], got 1.3"``. Rules are data (:class:`Interval`, :class:`Choice`), so
a table of them (``NetworkParams``, each model's options in :mod:`snnreduce.models`) is the
documentation of what is allowed as well as its check.

This module is the bottom layer of the package: it imports nothing from snnreduce.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np

__all__ = ["ParameterError", "Interval", "Choice", "Flag", "check_number", "check_choice",
           "check_flag", "check_unknown", "check_record", "check_t_end", "normalise_seed",
           "generator", "seed_labels", "MAX_T_END"]

#: Longest simulated time accepted by the entry points, ms.
MAX_T_END = 1e9


class ParameterError(ValueError):
    """An invalid parameter value; the message names the parameter and what is allowed."""


def _is_real(value) -> bool:
    return not isinstance(value, (bool, np.bool_)) and isinstance(value, (int, float, np.number))


@dataclass(frozen=True)
class Interval:
    """A range of numbers, e.g. ``Interval(0, 1, closed="both")`` for a probability.

    Parameters
    ----------
    low, high : float or None
        Ends of the interval; None means unbounded on that side.
    closed : {"left", "right", "both", "neither"}
        Which ends belong to the interval.
    integer : bool
        Only whole numbers (returned as int).
    units : str
        Shown in parentheses after the interval, e.g. "ms".
    """

    low: float | None = None
    high: float | None = None
    closed: str = "left"
    integer: bool = False
    units: str = ""

    def contains(self, x: float) -> bool:
        left = self.closed in ("left", "both")
        right = self.closed in ("right", "both")
        if self.low is not None and not (x >= self.low if left else x > self.low):
            return False
        return self.high is None or (x <= self.high if right else x < self.high)

    def describe(self) -> str:
        """``"in [0, 1]"``, ``"> 0 (ms)"``, ``"an integer >= 1"``..."""
        left = self.closed in ("left", "both")
        right = self.closed in ("right", "both")
        if self.low is not None and self.high is not None:
            text = f"in {'[' if left else '('}{self.low:g}, {self.high:g}{']' if right else ')'}"
        elif self.low is not None:
            text = f"{'>=' if left else '>'} {self.low:g}"
        elif self.high is not None:
            text = f"{'<=' if right else '<'} {self.high:g}"
        else:
            text = "a finite number"
        if self.integer:
            text = f"an integer {text}"
        return f"{text} ({self.units})" if self.units else text

    def check(self, name: str, value, *, error=None):
        """``value`` as float (int if ``integer``) if it lies in the interval, else raise."""
        error = error or ParameterError
        allowed = self.describe()
        if getattr(value, "ndim", 0) != 0:  # numpy arrays have __float__ but only 0-d ones convert
            raise error(f"{name} must be a single number {allowed}, got an array of shape "
                        f"{getattr(value, 'shape', '?')}")
        # numbers of any kind (numpy scalars, Fraction, Decimal), but no bools or strings
        if not _is_real(value) and (isinstance(value, (bool, np.bool_, str))
                                    or not hasattr(value, "__float__")):
            kind = allowed if allowed.startswith("a finite number") else f"a number {allowed}"
            raise error(f"{name} must be {kind}, got {value!r}")
        as_float = float(value)
        if not math.isfinite(as_float):
            finite = allowed if allowed.startswith("a finite number") else f"finite and {allowed}"
            raise error(f"{name} must be {finite}, got {value!r}")
        if self.integer:
            if not as_float.is_integer():
                raise error(f"{name} must be {allowed}, got {value!r}")
            value = int(as_float)
        else:
            value = as_float
        if not self.contains(value):
            raise error(f"{name} must be {allowed}, got {value!r}")
        return value


@dataclass(frozen=True)
class Choice:
    """One of a few strings (or None when ``None`` is among ``options``)."""

    options: tuple

    def describe(self) -> str:
        shown = [repr(o) for o in self.options]
        return " or ".join(shown) if len(shown) == 2 else "one of " + ", ".join(shown)

    def check(self, name: str, value, *, error=None):
        if value is None:
            ok = None in self.options
        else:
            ok = isinstance(value, str) and value in self.options
        if not ok:
            raise (error or ParameterError)(f"{name} must be {self.describe()}, got {value!r}")
        return value


@dataclass(frozen=True)
class Flag:
    """True or False."""

    def describe(self) -> str:
        return "True or False"

    def check(self, name: str, value, *, error=None) -> bool:
        return check_flag(name, value, error=error)


def check_number(name: str, value, ok, allowed: str, *, error=None) -> float:
    """``float(value)`` if it is a finite real number with ``ok(value)``, else one line
    "NAME must be ALLOWED, got VALUE" (for rules that are not an interval)."""
    if not _is_real(value) or not math.isfinite(value) or not ok(value):
        raise (error or ParameterError)(f"{name} must be {allowed}, got {value!r}")
    return float(value)


def check_choice(name: str, value, allowed, *, error=None) -> str:
    """``value`` if it is one of the strings ``allowed``."""
    return Choice(tuple(allowed)).check(name, value, error=error)


def check_flag(name: str, value, *, error=None) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise (error or ParameterError)(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_unknown(given: Iterable[str], allowed: Iterable[str], where: str) -> None:
    """Reject option names not in ``allowed``: "unknown WHERE option 'x'; allowed: a, b"."""
    allowed = tuple(allowed)
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise ParameterError(f"unknown {where} option {unknown[0]!r}; allowed: "
                             f"{', '.join(allowed) if allowed else 'none'}")


def check_record(record, allowed: Iterable[str], who: str) -> tuple[str, ...]:
    """The names of ``record`` (a string or iterable) as a tuple, each among ``allowed``.

    The message reads "WHO can record A, B; got 'x'" (``who``: e.g. "the dsODE").
    """
    if isinstance(record, str):
        record = (record,)
    record = tuple(record or ())
    allowed = tuple(allowed)
    for name in record:
        if name not in allowed:
            raise ParameterError(f"{who} can record {', '.join(allowed) if allowed else 'nothing'}; "
                                 f"got {name!r}")
    return record


def check_t_end(t_end) -> float:
    """Simulated time in ms as a float, in (0, 1e9)."""
    if not _is_real(t_end) or not 0 < t_end < MAX_T_END:
        raise ParameterError(f"t_end must be a number of ms in (0, 1e9), got {t_end!r}")
    return float(t_end)


# ------------------------------------------------------------------------------------ seeds
def normalise_seed(seed) -> int:
    """An int seed; ``None`` draws fresh entropy, so that the Result can record it."""
    if seed is None:
        return int(np.random.SeedSequence().entropy % (2**63))
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ParameterError(f"seed must be a non-negative integer or None, got {seed!r}")
    return int(seed)


def generator(seed: int) -> np.random.Generator:
    """The single random stream of a run with this (normalised) seed."""
    return np.random.default_rng(seed)


def seed_labels(seeds: Any) -> tuple[int, ...]:
    """The seeds of a multi-run job (compare, sweep) from a count or a list.

    ``n`` means ``0 .. n-1``. A list must hold distinct non-negative integers: a repeated
    seed would repeat an identical run and count it twice in every mean and spread, and a
    sweep's ``seed`` coordinate must be unique (one rule for compare and sweep).
    """
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, (bool, np.bool_)):
        if seeds < 1:
            raise ParameterError(f"seeds must be >= 1 (a count) or a list of seeds, got {seeds}")
        return tuple(range(int(seeds)))
    if isinstance(seeds, (str, bytes)):
        raise ParameterError(f"seeds must be a count or a list of integers, got {seeds!r}")
    try:
        seeds = tuple(seeds)
    except TypeError:
        raise ParameterError(f"seeds must be a count or a list of integers, got {seeds!r}") from None
    if not seeds:
        raise ParameterError("seeds must not be empty")
    for s in seeds:
        if isinstance(s, (bool, np.bool_)) or not isinstance(s, (int, np.integer)):
            raise ParameterError(f"seeds must be a count or a list of integers, got {list(seeds)!r}")
        if s < 0:
            raise ParameterError(f"seeds must be non-negative integers, got {s!r}")
    seeds = tuple(int(s) for s in seeds)
    if len(set(seeds)) != len(seeds):
        raise ParameterError(f"seeds repeat a value: {list(seeds)}")
    return seeds
