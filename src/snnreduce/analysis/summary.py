"""The summary that ``snnreduce stats`` prints and the comparison report tabulates."""

from __future__ import annotations

import math

import numpy as np

from ..params import POPULATIONS
from ..result import Result
from .events import mfe
from .rates import firing_rate
from .spectral import spectrum
from .synchrony import ssi

__all__ = ["summarize"]


def _plain(value):
    """A JSON-able float, or None for NaN/inf."""
    value = float(value)
    return value if math.isfinite(value) else None


def summarize(result: Result, discard: float = 100.0) -> dict:
    """Rates, SSI, gamma peak and power, and MFE summary of both populations.

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
    out = {key: {} for key in ("rate_hz", "ssi", "gamma_peak_hz", "gamma_power", "mfe")}
    finished = result.status == "ok" and result.n_steps * result.dt > discard
    for pop in POPULATIONS:
        counts = np.asarray(result.population_counts)[:, POPULATIONS.index(pop)]
        if not finished or not np.all(np.isfinite(counts)):
            for key in ("rate_hz", "ssi", "gamma_peak_hz", "gamma_power"):
                out[key][pop] = None
            out["mfe"][pop] = {"count": None, "mean_size": None, "mean_interval_ms": None}
            continue
        spec = spectrum(result, pop, discard)
        events = mfe(result, pop, discard=discard)
        out["rate_hz"][pop] = _plain(firing_rate(result, pop, discard))
        out["ssi"][pop] = _plain(ssi(result, pop, discard=discard))
        out["gamma_peak_hz"][pop] = _plain(spec.peak_hz)
        out["gamma_power"][pop] = _plain(spec.band_power)
        out["mfe"][pop] = {"count": events.count, "mean_size": _plain(events.mean_size),
                           "mean_interval_ms": _plain(events.mean_interval_ms)}
    return out
