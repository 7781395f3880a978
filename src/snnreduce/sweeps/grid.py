"""Sweep grids: parsing ``name=values`` entries, validating values, and per-run seeds.

Pathway names are **post, pre**: ``p_ei`` is the probability that an I spike reaches a given
E neuron.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Iterable

import numpy as np

from ..params import NetworkParams, ParameterError, parse_value

__all__ = ["parse_grid", "parse_values", "normalise_grid", "run_seed", "is_stimulus_name",
           "point_stimulus"]

_RANGE_DIGITS = 12  # significant digits kept for values generated from "start:stop:num"


def parse_grid(entries: str | Iterable[str]) -> dict[str, list]:
    """Parse command-line grid entries into a grid for :func:`sweep`.

    Parameters
    ----------
    entries : str or iterable of str
        Each ``"name=values"`` where values is a single value (``tau_ee=4``), a comma list
        (``s_ee=0.9,0.95``, ``refractory=exponential,fixed``) or an inclusive range
        ``start:stop:num`` (``p_ei=0.5:1.0:51``, i.e. ``numpy.linspace(0.5, 1.0, 51)``).

    Returns
    -------
    dict of str to list
        Parameter name -> values, in the order given. Names and values are validated
        by :func:`sweep`, not here.

    Raises
    ------
    ParameterError
        On malformed entries or a name given twice.
    """
    if isinstance(entries, str):
        entries = [entries]
    grid: dict[str, list] = {}
    for entry in entries:
        if not isinstance(entry, str) or "=" not in entry:
            raise ParameterError(f"grid entries must look like name=values, got {entry!r}")
        name, _, text = entry.partition("=")
        name = name.strip()
        if not name:
            raise ParameterError(f"grid entry {entry!r} has no parameter name")
        if name in grid:
            raise ParameterError(f"grid parameter {name!r} is given twice")
        grid[name] = parse_values(name, text.strip())
    return grid


def parse_values(name: str, text: str) -> list:
    if not text:
        raise ParameterError(f"{name}: no values given")
    if ":" in text:
        parts = text.split(":")
        if len(parts) != 3:
            raise ParameterError(f"{name}: a range is start:stop:num, got {text!r}")
        start, stop = (parse_value(p.strip()) for p in parts[:2])
        num = parse_value(parts[2].strip())
        if not all(isinstance(x, (int, float)) for x in (start, stop)):
            raise ParameterError(f"{name}: range ends must be numbers, got {text!r}")
        if not isinstance(num, int) or num < 1:
            raise ParameterError(f"{name}: the number of range values must be an integer >= 1, "
                                 f"got {parts[2].strip()!r}")
        return [_tidy(v) for v in np.linspace(start, stop, num)]
    values = [parse_value(part.strip()) for part in text.split(",")]
    if any(v == "" for v in values):
        raise ParameterError(f"{name}: empty value in {text!r}")
    return values


def _tidy(value: float):
    # linspace gives 0.5 + 4 * 0.01 = 0.54000000000000004; keep the value users would type,
    # so that ds.sel(p_ei=0.54) works.
    value = float(f"{float(value):.{_RANGE_DIGITS}g}")
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def is_stimulus_name(name: str) -> bool:
    """Whether a grid name is a stimulus field (``stimulus.E.sine.hz``), not a parameter."""
    return name.startswith("stimulus.")


def normalise_grid(base: NetworkParams, grid, stimulus=None) -> dict[str, list]:
    """The grid with every value validated (and made the canonical type): parameter names by
    ``NetworkParams.replace``, stimulus names (``stimulus.<POP>.<shape>.<field>``) by
    :meth:`~snnreduce.stimulus.Stimulus.with_value` on ``stimulus``."""
    if not isinstance(grid, dict) or not grid:
        raise ParameterError("grid must be a non-empty dict of parameter name -> values")
    out: dict[str, list] = {}
    for name, raw in grid.items():
        if not isinstance(name, str):
            raise ParameterError(f"grid names must be parameter names (str), got {name!r}")
        if isinstance(raw, str):
            raw = parse_values(name, raw)
        elif isinstance(raw, np.ndarray):
            raw = raw.ravel().tolist()
        elif isinstance(raw, (list, tuple, range)):
            raw = [v.item() if isinstance(v, np.generic) else v for v in raw]
        else:
            raw = [raw.item() if isinstance(raw, np.generic) else raw]
        if not raw:
            raise ParameterError(f"grid parameter {name!r} has no values")
        if is_stimulus_name(name):
            values = [_stimulus_value(stimulus, name, v) for v in raw]
        else:
            # NetworkParams.replace names the parameter in its error (unknown name, bad value)
            values = [getattr(base.replace(**{name: v}), name) for v in raw]
        seen = set()
        for v in values:
            if v in seen:
                raise ParameterError(f"grid parameter {name!r} repeats the value {v!r}")
            seen.add(v)
        out[name] = values
    return out


def _stimulus_value(stimulus, name: str, value) -> float:
    """``value`` of stimulus field ``name``, validated by ``with_value`` (which names the field
    and the allowed values in its error)."""
    if stimulus is None:
        raise ParameterError(f"grid parameter {name!r} is a stimulus field, but the sweep has no "
                             f"stimulus (give one: --stimulus / stimulus=)")
    stimulus.with_value(name, value)  # refuses a bad value, naming the field
    return float(value)


def point_stimulus(stimulus, point: dict):
    """The stimulus of one grid point: ``stimulus`` with the point's stimulus fields set."""
    for name, value in point.items():
        if is_stimulus_name(name):
            stimulus = stimulus.with_value(name, value)
    return stimulus


def run_seed(seed: int, model: str, point: dict[str, Any]) -> int:
    """The seed of one run: a stable function of the seed label, model and grid point.

    ``numpy.random.SeedSequence(seed, spawn_key=sha256(model, point))``, so it depends
    neither on completion order nor on the rest of the grid, and differs between models.
    """
    key = json.dumps([model, sorted(point.items())], separators=(",", ":"))
    words = np.frombuffer(hashlib.sha256(key.encode()).digest()[:16], dtype="<u4")
    state = np.random.SeedSequence(seed, spawn_key=tuple(int(w) for w in words))
    return int(state.generate_state(1, np.uint64)[0] >> np.uint64(1))
