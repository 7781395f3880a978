"""The statistics registry: every summary statistic declared once.

:func:`~snnreduce.analysis.summarize` (hence ``snnreduce stats`` and ``stats --json``), the
comparison report's table, the CLI tables and the variables of a sweep Dataset are all
generated from :data:`STATISTICS` (scalars per population) and :data:`SEQUENCES` (ragged
per-run sequences of one population). Adding a statistic is one :class:`Statistic` entry
whose ``compute`` reads the per-population :class:`Measures`.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Callable

from .events import mfe
from .peaks import peak_sequence
from .rates import firing_rate
from .spectral import spectrum
from .synchrony import ssi

__all__ = ["Statistic", "Sequence", "Measures", "STATISTICS", "SEQUENCES", "flatten_summary",
           "unflatten", "plain", "plain_or_none"]


def plain(value):
    """A JSON-able float, or None for NaN/inf."""
    value = float(value)
    return value if math.isfinite(value) else None


def plain_or_none(value):
    """:func:`plain`, passing None through (a statistic that was not measured)."""
    return None if value is None else plain(value)


class Measures:
    """One population of one run, with the costly analyses computed once and shared.

    Several statistics read the same spectrum or MFE detection; this object computes each on
    first use.
    """

    def __init__(self, result, population: str, discard: float):
        self.result = result
        self.population = population
        self.discard = discard

    @functools.cached_property
    def spectrum(self):
        return spectrum(self.result, self.population, self.discard)

    @functools.cached_property
    def mfe(self):
        return mfe(self.result, self.population, discard=self.discard)


@dataclass(frozen=True)
class Statistic:
    """A scalar statistic of one population of a run.

    Attributes
    ----------
    key : str
        Its place in the :func:`summarize` dict: ``"rate_hz"``, or ``"mfe.count"`` for
        ``summary["mfe"][pop]["count"]``.
    label : str
        Row label of the tables.
    units : str
        Units (CF style: "Hz", "1", "ms", "Hz^2").
    description : str
        ``long_name`` of the sweep variable.
    compute : callable
        ``compute(measures) -> float or int`` (NaN when undefined).
    brief : str
        Label in the short console table of ``snnreduce compare`` ("" to leave it out).
    """

    key: str
    label: str
    units: str
    description: str
    compute: Callable
    brief: str = ""

    @property
    def variable(self) -> str:
        """Name of its variable in a sweep Dataset (``mfe.count`` -> ``mfe_count``)."""
        return self.key.replace(".", "_")

    def value(self, measures: Measures):
        """The statistic as stored in a summary: plain float/None (an int stays an int)."""
        value = self.compute(measures)
        return value if isinstance(value, int) else plain(value)


@dataclass(frozen=True)
class Sequence:
    """A ragged per-run sequence of one population (sweeps pad it with NaN along ``peak``)."""

    name: str
    units: str
    description: str
    population: str
    compute: Callable  # compute(result) -> 1-D array


def _peaks(result):
    return peak_sequence(result, population="E")


_STATISTICS = (
    Statistic("rate_hz", "rate (Hz/neuron)", "Hz", "firing rate, spikes per neuron per second",
              lambda m: firing_rate(m.result, m.population, m.discard), brief="rate Hz"),
    Statistic("ssi", "SSI (1 ms window)", "1", "spike synchrony index (1 ms window)",
              lambda m: ssi(m.result, m.population, discard=m.discard), brief="SSI"),
    Statistic("gamma_peak_hz", "gamma peak (Hz)", "Hz",
              "frequency of the population-count PSD peak in 30-90 Hz",
              lambda m: m.spectrum.peak_hz, brief="gamma Hz"),
    Statistic("gamma_power", "gamma power", "Hz^2",
              "power of the per-neuron rate in 30-90 Hz (Welch PSD)",
              lambda m: m.spectrum.band_power),
    Statistic("mfe.count", "MFE count", "1", "number of multiple firing events",
              lambda m: m.mfe.count),
    Statistic("mfe.mean_size", "MFE mean size", "1",
              "mean size of multiple firing events, fraction of the population",
              lambda m: m.mfe.mean_size),
    Statistic("mfe.mean_interval_ms", "MFE interval (ms)", "ms",
              "mean onset-to-onset interval of multiple firing events",
              lambda m: m.mfe.mean_interval_ms),
)
#: Scalar statistics per population, by summary key, in table order.
STATISTICS: dict[str, Statistic] = {s.key: s for s in _STATISTICS}

#: Ragged sequences a sweep stores per run (the bifurcation diagram's peaks).
SEQUENCES: dict[str, Sequence] = {
    "peak_time_ms": Sequence("peak_time_ms", "ms",
                             "times of the peaks of the 1 ms-smoothed E population count", "E",
                             lambda r: _peaks(r).times),
    "peak_height": Sequence("peak_height", "spikes/ms",
                            "heights of the peaks of the 1 ms-smoothed E population count, "
                            "whole population (bifurcation diagram; successive differences: its "
                            "signature)", "E", lambda r: _peaks(r).heights),
}


def flatten_summary(summary: dict) -> dict:
    """``{"rate_hz": {"E": x}, "mfe": {"E": {"count": n}}}`` -> ``{"rate_hz.E": x, "mfe.count.E": n}``."""
    flat = {}
    for key, per_pop in summary.items():
        for pop, value in per_pop.items():
            if isinstance(value, dict):
                for sub, v in value.items():
                    flat[f"{key}.{sub}.{pop}"] = v
            else:
                flat[f"{key}.{pop}"] = value
    return flat


def unflatten(flat: dict) -> dict:
    """Inverse of :func:`flatten_summary`."""
    out: dict = {}
    for path, value in flat.items():
        parts = path.split(".")
        if len(parts) == 2:
            out.setdefault(parts[0], {})[parts[1]] = value
        else:
            out.setdefault(parts[0], {}).setdefault(parts[2], {})[parts[1]] = value
    return out
