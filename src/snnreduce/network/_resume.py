"""Where a network run starts: the stimulus on the run's step grid and the initial voltages.

Shared by the stepped, markov and surrogate engines (the contract in docs/network.md,
"Stimuli, initial states and continued runs"). The clock (the absolute step grid), the final
state's checks and the random streams as JSON are the package's one copy in
:mod:`snnreduce._resume`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .._resume import Clock
from .._steps import n_steps_of
from ..params import POPULATIONS
from ..stimulus import Stimulus, parse_stimulus
from ..validation import ParameterError

__all__ = ["drive_of", "stimulus_grid", "start_voltages"]


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


