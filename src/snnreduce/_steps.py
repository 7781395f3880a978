"""Step count and progress bar shared by every engine (bottom layer: imports nothing of
snnreduce). The step grid in absolute time is :mod:`snnreduce._resume`'s."""

from __future__ import annotations

import math

__all__ = ["n_steps_of", "progress_bar"]


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
