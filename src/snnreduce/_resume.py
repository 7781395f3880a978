"""Where a run lies in absolute time and how its final state is handed back in: the one copy
of the resume helpers every engine uses (bottom layer: imports only
:mod:`snnreduce.validation`, its layer-0 peer).

**The clock.** Every run lies on a grid of steps ``t_origin + k dt`` (absolute ms). A fresh
run has ``t_origin = t_start`` and starts at ``k = 0``; a run that continues another keeps
that run's ``t_origin`` and starts at the step where it ended (``final_state["step"]``). All
times (spike stamps, step edges of the stimulus, event times) are computed as
``t_origin + k dt`` with the global ``k``, never as ``t_start + (local k) dt``: the two differ
in the last bits, and a continued run must reproduce one long run bit for bit.

**Final states** are dicts of str -> ndarray or str (the engine contract's
``out["final_state"]``): ``"engine"`` (which engine wrote it), ``"step"`` and ``"t_origin"``
(the clock), the engine's own arrays (checked here when a run resumes from them) and the
random streams as JSON text (:func:`rng_text` / :func:`rng_from_text`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .validation import ParameterError

__all__ = ["Clock", "step_bounds", "clock_of", "grid_of", "clock_state", "is_state",
           "state_arrays", "state_array", "resumed_step", "state_scalar", "rng_text", "rng_from_text",
           "record_stride", "sampled_rows"]


# ------------------------------------------------------------------------------ clock
def step_bounds(t_origin: float, first: int, dt: float,
                n_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (ms, absolute) of the ``n_steps`` steps of a run whose first step is the
    global step ``first`` of the grid ``t_origin + k dt``: ``t_origin + (first + i) dt`` and
    ``t_origin + (first + i + 1) dt``, shape (n_steps,) each.

    ``t_origin`` is where the first run of a chain started (its ``t_start``) and ``first`` the
    steps done before this run, so that a run continued from a final state computes exactly
    the numbers of one run over the whole span (``t_start + i dt`` would differ from them in
    the last bit for most i). A fresh run (``first = 0``) gets ``t_start + i dt``.
    """
    k = np.arange(first, first + n_steps, dtype=np.float64)
    return t_origin + k * dt, t_origin + (k + 1.0) * dt


@dataclass(frozen=True)
class Clock:
    """The run's place on the absolute step grid: step ``k`` (global) is
    ``[t_origin + k dt, t_origin + (k + 1) dt)``; the run's first step is ``first``."""

    t_origin: float
    first: int
    dt: float

    def midpoints(self, steps: np.ndarray) -> np.ndarray:
        """Spike stamps (ms) of the run's local step indices: the step midpoints."""
        return self.t_origin + ((self.first + steps) + 0.5) * self.dt


def clock_of(params, t_start, state) -> Clock:
    """The clock of a run of ``params`` (its ``dt``) from ``t_start`` (ms), continuing
    ``state`` (a final state) or not (None).

    A continued run must start where its state ended: ``t_start`` has to equal the state's
    ``t_origin + step dt`` (to 1e-6 of a step), else a ParameterError names ``t_start``.
    """
    try:
        t_start = float(t_start)
    except (TypeError, ValueError):
        raise ParameterError(f"t_start must be a number of ms >= 0, got {t_start!r}") from None
    if not (math.isfinite(t_start) and t_start >= 0):
        raise ParameterError(f"t_start must be a finite number of ms >= 0, got {t_start!r}")
    if state is None:
        return Clock(t_start, 0, params.dt)
    origin = state_scalar(state, "t_origin", float)
    step = state_scalar(state, "step", int)
    end = origin + step * params.dt
    if abs(end - t_start) > 1e-6 * params.dt:
        raise ParameterError(f"initial_state ends at t = {end:.10g} ms, but t_start = "
                             f"{t_start:.10g} ms: a continued run starts where its state ended "
                             "(t_start = previous t_start + previous t_end, a whole number of "
                             "steps)")
    return Clock(origin, step, params.dt)


def grid_of(initial_state, t_start: float) -> tuple[float, int]:
    """``(t_origin, first)`` read without checks: a final state's grid origin and step (its
    ``t_origin``, default 0, and ``step``), else ``(t_start, 0)``. For engines that check the
    state later, once they have built the tables its arrays are checked against."""
    if isinstance(initial_state, Mapping) and "step" in initial_state:
        try:
            first = int(np.asarray(initial_state["step"]))
            origin = float(np.asarray(initial_state.get("t_origin", 0.0)))
        except (TypeError, ValueError):
            raise ParameterError("initial_state: step and t_origin must be numbers") from None
        return origin, first
    return t_start, 0


def clock_state(clock: Clock, n_steps: int) -> dict:
    """The clock entries of a final state after ``n_steps`` steps of ``clock``'s run."""
    return {"step": np.array(clock.first + n_steps, np.int64),
            "t_origin": np.array(clock.t_origin, np.float64)}


# ----------------------------------------------------------------------- final states
def is_state(initial_state) -> bool:
    """True if ``initial_state`` is a final state (a dict), not an array or None."""
    return isinstance(initial_state, Mapping)


def state_arrays(state, engine: str, spec: dict) -> dict:
    """The arrays of a final state, checked against ``spec``: name -> (shape, dtype) (a shape
    entry None: any length). Returns fresh writable copies; a missing key, another engine's
    state or a wrong shape is a ParameterError naming ``initial_state``."""
    if state.get("engine") != engine:
        raise ParameterError(f"initial_state is a final state of the {state.get('engine')!r} "
                             f"engine; the {engine} engine resumes only its own")
    out = {}
    for name, (shape, dtype) in spec.items():
        if name not in state:
            raise ParameterError(f"initial_state lacks {name!r}: pass a previous final_state "
                                 f"of the {engine} engine unchanged")
        a = np.array(state[name], dtype=dtype)
        if a.size == 0 and None not in shape and 0 in shape:
            a = a.reshape(shape)  # an empty array loses its shape in some files (JSON lists)
        if a.ndim != len(shape) or any(s is not None and s != d for s, d in zip(shape, a.shape)):
            raise ParameterError(f"initial_state[{name!r}] has shape {a.shape}, expected "
                                 f"{tuple('any' if s is None else s for s in shape)} for this "
                                 "network (same parameters and options as the run it continues)")
        out[name] = a
    return out


def state_array(value, name: str, shape: tuple, *, nonnegative: bool = False) -> np.ndarray:
    """One float64 array of an initial or final state, checked: ``shape``, finite (and
    ``>= 0`` with ``nonnegative``); a fresh C-contiguous copy (the kernels write into it).
    A bad one is a ParameterError "initial_state: <name> ..."."""
    def bad(message):
        raise ParameterError(f"initial_state: {name} {message}")

    try:
        a = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        bad(f"must be a numeric array of shape {shape}, got {type(value).__name__}")
    if a.shape != shape:
        bad(f"must have shape {shape}, got {a.shape}")
    if not np.all(np.isfinite(a)):
        bad("must be finite (no NaN or inf)")
    if nonnegative and a.min(initial=0.0) < 0.0:
        bad("must be >= 0")
    return np.ascontiguousarray(a)


def resumed_step(state, t_start: float, dt: float) -> int:
    """The global step a final state ended at (``state["step"]``, an integer >= 0), checked
    against ``t_start``: where a final state records its end (``"time"``, ms), the run must
    start there (to 1e-9 of a step). ParameterErrors name ``initial_state`` / ``t_start``."""
    step = np.asarray(state["step"])
    if step.shape != () or not float(step).is_integer() or float(step) < 0:
        raise ParameterError(f"initial_state: step must be an integer >= 0, got "
                             f"{state['step']!r}")
    if "time" in state:
        t_state = float(np.asarray(state["time"]))
        if not math.isclose(t_state, t_start, rel_tol=1e-12, abs_tol=1e-9 * dt):
            raise ParameterError(f"t_start must be where the final_state ended, "
                                 f"{t_state:.12g} ms, got {t_start:.12g} ms")
    return int(step)


def state_scalar(state, name: str, kind):
    """A scalar entry of a final state (a 0-d array, a number or a 1-element array)."""
    if name not in state:
        raise ParameterError(f"initial_state lacks {name!r}: pass a previous final_state "
                             "unchanged")
    a = np.asarray(state[name])
    if a.size != 1:
        raise ParameterError(f"initial_state[{name!r}] must be a scalar, got shape {a.shape}")
    return kind(a.reshape(()).item())


# --------------------------------------------------------------------------- random streams
def rng_text(rng: np.random.Generator) -> str:
    """The state of a numpy Generator's bit generator as JSON text."""
    return json.dumps(rng.bit_generator.state)


def rng_from_text(text: str, name: str = "rng") -> np.random.Generator:
    """A Generator whose bit generator is in the state of :func:`rng_text`'s ``text``."""
    try:
        state = json.loads(str(text))
        bit_generator = getattr(np.random, state["bit_generator"])()
        bit_generator.state = state
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ParameterError(f"initial_state[{name!r}] is not the JSON state of a numpy bit "
                             "generator (a saved random stream); pass a previous final_state "
                             "unchanged") from None
    return np.random.Generator(bit_generator)


# ------------------------------------------------------------------------------ records
def record_stride(record_every, dt: float) -> int:
    """Steps ``m = round(record_every / dt)`` between two kept rows of the time-sampled
    records (``record_every`` ms, a positive multiple of ``dt``; None: every step, 1); a
    ParameterError naming ``record_every`` otherwise."""
    if record_every is None:
        return 1
    # a number (not a bool, not text): a string "1" is refused like "1 ms" is
    number = (isinstance(record_every, (int, float, np.integer, np.floating))
              and not isinstance(record_every, (bool, np.bool_)))
    value = float(record_every) if number else math.nan
    m = round(value / dt) if math.isfinite(value) else 0
    if not (value > 0 and m >= 1 and abs(m * dt - value) <= 1e-9 * max(value, dt)):
        raise ParameterError(f"record_every must be a positive multiple of dt = {dt:g} ms or "
                             f"None, got {record_every!r}")
    return int(m)


def sampled_rows(n_steps: int, stride: int) -> int:
    """Rows of a record sampled every ``stride`` steps (end of steps i with (i+1) % m == 0)."""
    return n_steps // stride
