"""Time grid and progress bar shared by every engine (bottom layer: snnreduce imports only
:mod:`snnreduce.validation` and :mod:`snnreduce._resume`, its layer-0 peers)."""

from __future__ import annotations

import math

import numpy as np

from ._resume import step_bounds
from .validation import ParameterError

__all__ = ["n_steps_of", "progress_bar", "external_drive"]


def n_steps_of(t_end: float, dt: float) -> int:
    """Number of steps of width ``dt`` covering ``[0, t_end)`` (``t_end`` rounded up to a step)."""
    return max(1, math.ceil(t_end / dt - 1e-9))


class _NoBar:
    def update(self, n):  # noqa: D401 - trivial
        pass

    def close(self):
        pass


def progress_bar(show: bool, total: float, desc: str):
    """A tqdm bar over simulated ms if ``show``, else a no-op object with the same methods."""
    if not show:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="ms", leave=True)


def external_drive(stimulus, params, t_end: float, t_start: float = 0.0, *,
                   t_origin: float | None = None, first: int = 0):
    """What a stepped engine drives with: ``(params, rates)``.

    ``stimulus`` is a :class:`snnreduce.stimulus.Stimulus` or None. None or a constant
    stimulus: ``(params with λ_E, λ_I of the stimulus, None)`` — the engine runs its
    constant-drive code, bit for bit what it did before stimuli (``params`` itself when there
    is no stimulus). Otherwise ``(params, rates)``: ``rates`` (n_steps, 2) float64, kicks/ms,
    the exact mean of λ_Q over each step of :func:`snnreduce._resume.step_bounds` (``t_origin``: default
    ``t_start``; ``first``: the global index of the run's first step), validated by
    ``stimulus.check`` over the run; round-off below 0 set to 0.
    """
    if stimulus is None:
        return params, None
    if not (hasattr(stimulus, "is_constant") and hasattr(stimulus, "resolved")):
        raise ParameterError(f"stimulus must be a snnreduce.stimulus.Stimulus or None, got "
                             f"{type(stimulus).__name__}")
    stimulus.check(params, t_end, t_start=t_start)
    if stimulus.is_constant():
        lam_e, lam_i = stimulus.constant_rates(params)
        if (lam_e, lam_i) == (params.lambda_e, params.lambda_i):
            return params, None
        return params.replace(lambda_e=lam_e, lambda_i=lam_i), None
    origin = t_start if t_origin is None else t_origin
    a, b = step_bounds(origin, first, params.dt, n_steps_of(t_end, params.dt))
    # resolved() is ordered like the populations (E, I)
    rates = np.stack([shape.mean_over(a, b) for shape in stimulus.resolved(params).values()],
                     axis=1)
    return params, np.ascontiguousarray(np.maximum(rates, 0.0))
