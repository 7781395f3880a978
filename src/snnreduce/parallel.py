"""Run independent tasks in processes with a progress bar that counts them as they finish."""

from __future__ import annotations

import sys
from typing import Any, Callable, Iterable

__all__ = ["run_tasks"]


def run_tasks(func: Callable, tasks: Iterable[tuple], *, n_jobs: int | None = None,
              progress: bool = False, desc: str = "", unit: str = "run") -> list[Any]:
    """``[func(*args) for args in tasks]``, computed by joblib (loky) processes.

    Results are collected as they finish, so the bar advances with every finished task
    whatever the order and reaches its total when the last one is done (an ordered
    generator holds a fast task back behind a slow one submitted before it). The list
    returned is in the order of ``tasks``.

    Parameters
    ----------
    func : callable
        A module-level function (loky pickles it).
    tasks : iterable of tuple
        Positional arguments of each call.
    n_jobs : int or None
        Worker processes; None uses every core.
    progress : bool
        Show a tqdm bar on stderr, one step per finished task.
    desc, unit : str
        The bar's label and unit.
    """
    from joblib import Parallel, delayed
    from tqdm.auto import tqdm

    tasks = list(tasks)
    runner = Parallel(n_jobs=-1 if n_jobs is None else n_jobs, return_as="generator_unordered")
    done: list[Any] = [None] * len(tasks)
    with tqdm(total=len(tasks), desc=desc, unit=unit, disable=not progress, file=sys.stderr) as bar:
        for index, value in runner(delayed(_indexed)(i, func, args) for i, args in enumerate(tasks)):
            done[index] = value
            bar.update()
    return done


def _indexed(index: int, func: Callable, args: tuple):
    return index, func(*args)
