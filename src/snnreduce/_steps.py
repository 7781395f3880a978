"""Time grid and progress bar shared by every engine (bottom layer: snnreduce imports only
:mod:`snnreduce.validation`, its layer-0 peer)."""

from __future__ import annotations

import math

import numpy as np

from .validation import ParameterError

__all__ = ["n_steps_of", "progress_bar", "step_bounds", "record_stride", "external_drive"]


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


def step_bounds(t_origin: float, first: int, dt: float,
                n_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (ms, absolute) of the ``n_steps`` steps of a run whose first step is the
    global step ``first`` of the grid ``t_origin + k dt``: ``t_origin + (first + i) dt`` and
    ``t_origin + (first + i + 1) dt``.

    ``t_origin`` is where the first run of a chain started (its ``t_start``) and ``first`` the
    steps done before this run, so that a run continued from a final state computes exactly
    the numbers of one run over the whole span (``t_start + i dt`` would differ from them in
    the last bit for most i). A fresh run (``first = 0``) gets ``t_start + i dt``,
    ``t_start + (i + 1) dt``: :meth:`snnreduce.stimulus.Shape.step_means`'s grid.
    """
    k = np.arange(first, first + n_steps, dtype=np.float64)
    return t_origin + k * dt, t_origin + (k + 1.0) * dt


def record_stride(record_every, dt: float) -> int:
    """Steps ``m`` between two kept rows of the time-sampled records (``record_every`` ms, a
    positive multiple of ``dt``; None: every step, ``m = 1``)."""
    if record_every is None:
        return 1
    if isinstance(record_every, (bool, np.bool_)) or not isinstance(
            record_every, (int, float, np.integer, np.floating)) \
            or not math.isfinite(record_every) or record_every <= 0:
        raise ParameterError(f"record_every must be a positive multiple of dt = {dt:g} ms or "
                             f"None, got {record_every!r}")
    m = round(record_every / dt)
    if m < 1 or abs(record_every / dt - m) > 1e-9 * m:
        raise ParameterError(f"record_every must be a positive multiple of dt = {dt:g} ms, "
                             f"got {record_every!r}")
    return int(m)


def external_drive(stimulus, params, t_end: float, t_start: float = 0.0, *,
                   t_origin: float | None = None, first: int = 0):
    """What a stepped engine drives with: ``(params, rates)``.

    ``stimulus`` is a :class:`snnreduce.stimulus.Stimulus` or None. None or a constant
    stimulus: ``(params with λ_E, λ_I of the stimulus, None)`` — the engine runs its
    constant-drive code, bit for bit what it did before stimuli (``params`` itself when there
    is no stimulus). Otherwise ``(params, rates)``: ``rates`` (n_steps, 2) float64, kicks/ms,
    the exact mean of λ_Q over each step of :func:`step_bounds` (``t_origin``: default
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
