"""Time grid and progress bar shared by every engine (bottom layer: snnreduce imports only
:mod:`snnreduce.validation`, its layer-0 peer)."""

from __future__ import annotations

import math

import numpy as np

from .validation import ParameterError

__all__ = ["n_steps_of", "progress_bar", "first_step", "step_bounds", "record_stride",
           "external_drive"]


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


def first_step(t_start: float, dt: float) -> int | None:
    """The global index ``k`` with ``t_start == k dt`` (to 1e-9 of a step), or None if
    ``t_start`` is not on the step grid."""
    k = round(t_start / dt)
    return int(k) if abs(t_start / dt - k) <= 1e-9 * max(1.0, abs(k)) else None


def step_bounds(t_start: float, dt: float, n_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (ms, absolute) of the ``n_steps`` steps of a run from ``t_start``.

    On the step grid (``t_start = k dt``) they are ``(k + i) dt`` and ``(k + i + 1) dt``, so a
    run split in two and continued computes exactly the numbers of one run over the whole span
    (``t_start + i dt`` would differ from ``(k + i) dt`` in the last bit for most ``i``); from 0
    they equal :meth:`snnreduce.stimulus.Shape.step_means`'s ``i dt``, ``(i + 1) dt``. Off the
    grid: ``t_start + i dt``, ``t_start + (i + 1) dt``.
    """
    k = first_step(t_start, dt)
    i = np.arange(n_steps, dtype=np.float64)
    if k is None:
        return t_start + i * dt, t_start + (i + 1.0) * dt
    i += k
    return i * dt, (i + 1.0) * dt


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


def external_drive(stimulus, params, t_end: float, t_start: float = 0.0):
    """What a stepped engine drives with: ``(params, rates)``.

    ``stimulus`` is a :class:`snnreduce.stimulus.Stimulus` or None. None or a constant
    stimulus: ``(params with λ_E, λ_I of the stimulus, None)`` — the engine runs its
    constant-drive code, bit for bit what it did before stimuli (``params`` itself when there
    is no stimulus). Otherwise ``(params, rates)``: ``rates`` (n_steps, 2) float64, kicks/ms,
    the exact mean of λ_Q over each step of :func:`step_bounds` (validated by
    ``stimulus.check``; round-off below 0 set to 0).
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
    a, b = step_bounds(t_start, params.dt, n_steps_of(t_end, params.dt))
    # resolved() is ordered like the populations (E, I)
    rates = np.stack([shape.mean_over(a, b) for shape in stimulus.resolved(params).values()],
                     axis=1)
    return params, np.ascontiguousarray(np.maximum(rates, 0.0))
