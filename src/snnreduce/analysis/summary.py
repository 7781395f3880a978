"""The summary that ``snnreduce stats`` prints and the comparison report tabulates."""

from __future__ import annotations

import numpy as np

from ..params import POPULATIONS
from ..result import Result
from .statistics import STATISTICS, Measures

__all__ = ["summarize"]


def _put(out: dict, key: str, population: str, value) -> None:
    """``out["rate_hz"]["E"] = value`` or, for ``"mfe.count"``, ``out["mfe"]["E"]["count"]``."""
    head, _, sub = key.partition(".")
    if sub:
        out.setdefault(head, {}).setdefault(population, {})[sub] = value
    else:
        out.setdefault(head, {})[population] = value


def summarize(result: Result, discard: float = 100.0) -> dict:
    """Rates, SSI, gamma peak and power, and MFE summary of both populations.

    Generated from the statistics registry (:data:`snnreduce.analysis.statistics.STATISTICS`).

    Every statistic uses its defaults (see ``docs/analysis.md``) after dropping the
    first ``discard`` ms; the output depends only on the result, so it is
    deterministic.

    Returns
    -------
    dict
        ``{"rate_hz": {"E", "I"}, "ssi": {"E", "I"}, "gamma_peak_hz": {"E", "I"},
        "gamma_power": {"E", "I"}, "mfe": {"E": {"count", "mean_size",
        "mean_interval_ms"}, "I": {...}}}`` with plain floats (``count`` an int).

        - ``rate_hz``: :func:`firing_rate`, Hz per neuron.
        - ``ssi``: :func:`ssi`, counts method, window 1 ms.
        - ``gamma_peak_hz``: :attr:`Spectrum.peak_hz`, PSD peak in 30-90 Hz.
        - ``gamma_power``: :attr:`Spectrum.band_power`, power of the per-neuron rate in
          30-90 Hz, Hz².
        - ``mfe``: :func:`mfe` event count, mean size as a fraction of N_Q, mean
          peak-to-peak interval in ms.

        None where a value is undefined (NaN), and for every entry of a population when
        the run did not finish (``status != "ok"``, e.g. a diverged dsODE, whose counts
        stop early), is not longer than ``discard``, or has non-finite counts.
    """
    if not isinstance(result, Result):
        raise ValueError(f"summarize needs a Result, got {type(result).__name__}")
    out: dict = {}
    finished = result.status == "ok" and result.n_steps * result.dt > discard
    for pop in POPULATIONS:
        counts = np.asarray(result.population_counts)[:, POPULATIONS.index(pop)]
        usable = finished and np.all(np.isfinite(counts))
        measures = Measures(result, pop, discard)
        for key, statistic in STATISTICS.items():
            _put(out, key, pop, statistic.value(measures) if usable else None)
    return out
