"""Where a network run starts and how it ends: the step grid in absolute time, the stimulus
on that grid, the initial state, and the final state a later run resumes from exactly.

Shared by the stepped, markov and surrogate engines (the contract in docs/network.md,
"Stimuli, initial states and continued runs").

**The clock.** Every run lies on a grid of steps ``t_origin + k dt`` (absolute ms). A fresh
run has ``t_origin = t_start`` and starts at ``k = 0``; a run that continues another keeps
that run's ``t_origin`` and starts at the step where it ended (``final_state["step"]``). All
times (spike stamps, step edges of the stimulus, the Markov engine's event times) are computed
as ``t_origin + k dt`` with the global ``k``, never as ``t_start + (local k) dt``: the two
differ in the last bits, and a continued run must reproduce one long run bit for bit.

**Final states** are dicts of str -> ndarray or str (the contract's ``out["final_state"]``):
``"engine"`` (which engine wrote it), ``"step"`` and ``"t_origin"`` (the clock), and the
engine's own arrays, checked by :func:`state_arrays` when a run resumes from them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .._steps import n_steps_of
from ..params import POPULATIONS
from ..stimulus import Stimulus, parse_stimulus
from ..validation import ParameterError

__all__ = ["Clock", "clock_of", "drive_of", "stimulus_grid", "start_voltages", "is_state",
           "state_arrays", "state_scalar", "clock_state", "rng_text", "rng_from_text",
           "record_stride", "sampled_rows"]


# ------------------------------------------------------------------------------ clock
@dataclass(frozen=True)
class Clock:
    """The run's place on the absolute step grid: step ``k`` (global) is
    ``[t_origin + k dt, t_origin + (k + 1) dt)``; the run's first step is ``first``."""

    t_origin: float
    first: int
    dt: float

    def edges(self, n_steps: int) -> tuple[np.ndarray, np.ndarray]:
        """Start and end (ms) of the run's steps 0 .. n_steps-1, shape (n_steps,) each."""
        k = np.arange(self.first, self.first + n_steps, dtype=np.float64)
        return self.t_origin + k * self.dt, self.t_origin + (k + 1.0) * self.dt

    def midpoints(self, steps: np.ndarray) -> np.ndarray:
        """Spike stamps (ms) of the run's local step indices: the step midpoints."""
        return self.t_origin + ((self.first + steps) + 0.5) * self.dt


def clock_of(params, t_start, state) -> Clock:
    """The clock of a run from ``t_start`` (ms), continuing ``state`` (a final state) or not.

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


def clock_state(clock: Clock, n_steps: int) -> dict:
    """The clock entries of a final state after ``n_steps`` steps of ``clock``'s run."""
    return {"step": np.array(clock.first + n_steps, np.int64),
            "t_origin": np.array(clock.t_origin, np.float64)}


# ---------------------------------------------------------------------------- stimulus
def drive_of(params, stimulus):
    """``(params, stimulus or None)`` for an engine: a constant stimulus (or none) becomes the
    constant rates of ``params`` (``Stimulus.constant_rates``), so the engine runs its
    constant-drive code; a time-varying one is returned as a :class:`Stimulus`.

    ``stimulus`` may also be grammar text or a dict (``Stimulus.from_dict``), for direct engine
    calls; the api passes a Stimulus.
    """
    if stimulus is None:
        return params, None
    if isinstance(stimulus, str) or (isinstance(stimulus, (list, tuple))
                                     and all(isinstance(s, str) for s in stimulus)):
        stimulus = parse_stimulus(stimulus)
    elif not isinstance(stimulus, Stimulus):
        if not isinstance(stimulus, Mapping):
            raise ParameterError("stimulus must be a Stimulus, grammar text or a dict, got "
                                 f"{type(stimulus).__name__}")
        stimulus = Stimulus.from_dict(stimulus)
    if stimulus.is_constant():
        lam_e, lam_i = stimulus.constant_rates(params)
        return params.replace(lambda_e=lam_e, lambda_i=lam_i), None
    return params, stimulus


def stimulus_grid(stimulus: Stimulus, params, t_end: float, t_start: float, clock: Clock,
                  *, bounds: bool = False) -> np.ndarray:
    """Per-step means of λ_Q over the run's steps on the clock's grid, shape (n_steps, 2),
    kicks/ms, columns E, I; validated by ``stimulus.check``. With ``bounds=True`` the lower
    and upper bounds of λ_Q over each step instead, shape (n_steps, 4): columns lower E,
    lower I, upper E, upper I. The same numbers as ``Stimulus.step_rates`` / ``step_bounds``
    up to round-off of the step edges, which here are global (see the module docstring)."""
    stimulus.check(params, t_end, t_start=t_start)
    a, b = clock.edges(n_steps_of(t_end, params.dt))
    shapes = stimulus.resolved(params)
    if bounds:
        pairs = [shapes[p].bounds(a, b) for p in POPULATIONS]
        cols = [low for low, _ in pairs] + [high for _, high in pairs]
    else:
        cols = [shapes[p].mean_over(a, b) for p in POPULATIONS]
    # the check allows round-off below 0 (a sine touching 0); engines take sqrt(λ dt)
    return np.maximum(np.stack(cols, axis=1), 0.0)


# ----------------------------------------------------------------------- initial states
def is_state(initial_state) -> bool:
    """True if ``initial_state`` is a final state (a dict), not voltages or None."""
    return isinstance(initial_state, Mapping)


def start_voltages(params, rng, initial_state, *, integer: bool = False,
                   default=None) -> np.ndarray:
    """Voltages at the run's start, float64 (N,): ``default(params, rng)`` when
    ``initial_state`` is None, else the given array, checked: shape (n_e + n_i,) (E first),
    finite, ``-inhibitory_reversal <= V < threshold`` (and integers for ``integer``)."""
    n = params.n_e + params.n_i
    if initial_state is None:
        return default(params, rng)
    try:
        v = np.array(initial_state, dtype=np.float64)
    except (TypeError, ValueError):
        raise ParameterError("initial_state must be 'rest'/'uniform' in the parameters, an array "
                             f"of {n} voltages, or a previous final_state, got "
                             f"{type(initial_state).__name__}") from None
    if v.shape != (n,):
        raise ParameterError(f"initial_state must hold one voltage per neuron, shape ({n},) "
                             f"(E first), got shape {v.shape}")
    if not np.isfinite(v).all():
        raise ParameterError("initial_state voltages must be finite (NaN or inf found)")
    low, high = -params.inhibitory_reversal, params.threshold
    bad = (v < low) | (v >= high)
    if bad.any():
        k = int(np.argmax(bad))
        raise ParameterError(f"initial_state voltages must lie in [-inhibitory_reversal, "
                             f"threshold) = [{low:g}, {high:g}), got {v[k]:g} for neuron {k}")
    if integer and not np.array_equal(v, np.round(v)):
        raise ParameterError("initial_state voltages must be integers with voltage='integer'")
    return v


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
                             "generator; pass a previous final_state unchanged") from None
    return np.random.Generator(bit_generator)


# ------------------------------------------------------------------------------ records
def record_stride(record_every, dt: float) -> int:
    """Steps between stored records, ``m = round(record_every / dt)`` (1 for None); a
    ParameterError unless ``record_every`` is a positive multiple of ``dt``."""
    if record_every is None:
        return 1
    try:
        value = float(record_every)
    except (TypeError, ValueError):
        raise ParameterError(f"record_every must be a number of ms, got {record_every!r}") from None
    m = round(value / dt) if math.isfinite(value) else 0
    if not (value > 0 and m >= 1 and abs(m * dt - value) <= 1e-9 * max(value, dt)):
        raise ParameterError(f"record_every must be a positive multiple of dt = {dt:g} ms, "
                             f"got {record_every!r}")
    return int(m)


def sampled_rows(n_steps: int, stride: int) -> int:
    """Rows of a record sampled every ``stride`` steps (end of steps i with (i+1) % m == 0)."""
    return n_steps // stride
