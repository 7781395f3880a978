"""The Result of any model run: spiking engines and the reduced system alike."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import models as registry
from ._resume import record_stride, sampled_rows
from ._version import __version__
from .dataset import result_to_dataset, save_result
from .metadata import RECORD_DIMS, SAMPLED_RECORDS
from .params import POPULATIONS, NetworkParams, ParameterError
from .populations import population_offsets

__all__ = ["Result", "RECORD_DIMS", "SAMPLED_RECORDS", "model_of"]

#: Dimensions of each optional record. Pathways are post-pre ("ei" = I -> E).
def _same_option(given, fixed) -> bool:
    # engines spell "no noise" as the string "none" where the registry fixes None
    if given in (None, "none") and fixed in (None, "none"):
        return True
    return given == fixed


def model_of(result: "Result") -> str:
    """Registry name (:mod:`snnreduce.models`) of the model that made ``result``.

    The models sharing ``result.engine`` are tried with the most options fixed first
    (``dsode-fs`` before ``dsode``, ``fp-fs`` before ``fp``); the first whose fixed options
    the run used wins. A result of no registered engine is named by its engine.
    """
    candidates = sorted((m for m in registry.MODELS.values() if m.engine == result.engine),
                        key=lambda m: -len(m.fixed))
    for model in candidates:
        if all(_same_option(result.options.get(k), v) for k, v in model.fixed.items()):
            return model.name
    return candidates[-1].name if candidates else result.engine


@dataclass(frozen=True, eq=False)
class Result:
    """What one run of a model produced, with its provenance.

    Attributes
    ----------
    params : NetworkParams
        The network the run describes.
    engine : str
        "stepped", "markov", "surrogate" or "dsode".
    seed : int or None
        The seed the run's random stream was made from (None only for deterministic runs).
    t_end : float
        Simulated time, ms.
    dt : float
        Width of one step / count bin, ms.
    population_counts : ndarray, shape (n_steps, 2)
        Spikes of E and I in each step ``[i dt, (i+1) dt)``; expected (real) counts
        for the deterministic reduced system.
    spike_times : ndarray, shape (n_spikes,), optional
        Spike times, ms, sorted. None for the reduced system.
    spike_neurons : ndarray of int, shape (n_spikes,), optional
        Index of the neuron that spiked: ``0 .. n_e-1`` excitatory, then inhibitory.
    records : dict of str to ndarray
        Optional recordings; names and dimensions in :data:`RECORD_DIMS`.
    options : dict
        Engine options the run used (drive, recurrent input, bins, ...).
    status : str
        "ok", or a message when the run stopped early (e.g. diverged).
    wall_time : float
        Seconds the run took.
    version : str
        snnreduce version that made it.
    t_start : float
        Absolute time of the first step, ms: 0, or where the run it continues ended
        (``continue_from``). Spike times and :attr:`time` are absolute.
    final_state : dict of str to ndarray or str
        What the engine needs to resume exactly where this run ended (voltages, pending
        kicks, random-stream state as JSON text, ...; engine-specific keys); empty when the
        engine cannot resume.
    """

    params: NetworkParams
    engine: str
    seed: int | None
    t_end: float
    dt: float
    population_counts: np.ndarray
    spike_times: np.ndarray | None = None
    spike_neurons: np.ndarray | None = None
    records: dict[str, np.ndarray] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    status: str = "ok"
    wall_time: float = 0.0
    version: str = ""
    t_start: float = 0.0
    final_state: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_run(cls, out: dict, *, params: NetworkParams, engine: str, seed: int | None,
                 t_end: float, wall_time: float, t_start: float = 0.0, stimulus=None,
                 record_every=None) -> "Result":
        """The Result of one engine run: the engine's dict plus the run's provenance.

        The one place a run becomes a Result (:func:`snnreduce.simulate`,
        :func:`snnreduce.reduce`, the sweep's batched dsODE and the baselines' own entry
        points call it). ``out`` is what an engine returns (see :mod:`snnreduce.models`);
        ``params`` are the parameters as the caller gave them; ``dt`` is ``params.dt``.
        ``stimulus`` (its ``to_dict`` form) and ``record_every`` (ms), when given, go into the
        options: the caller, not the engine, records them.
        """
        extra = {}
        if stimulus is not None:
            extra["stimulus"] = stimulus
        if record_every is not None:  # the file's record_time needs it
            extra["record_every"] = float(record_every)
        if extra:
            out = {**out, "options": {**out.get("options", {}), **extra}}
        return cls(params=params, engine=engine, seed=seed, t_end=float(t_end), dt=params.dt,
                   wall_time=wall_time, version=__version__, t_start=float(t_start), **out)

    @property
    def n_steps(self) -> int:
        return int(self.population_counts.shape[0])

    @property
    def time(self) -> np.ndarray:
        """Start time (ms, absolute: from :attr:`t_start`) of each step, shape (n_steps,)."""
        return self.t_start + np.arange(self.n_steps) * self.dt

    @property
    def record_every(self) -> float | None:
        """Sampling interval (ms) of the time-sampled records, None when every step is kept."""
        value = self.options.get("record_every")
        return None if value is None else float(value)

    @property
    def record_time(self) -> np.ndarray:
        """Absolute times (ms) of the rows of the time-sampled records (:data:`SAMPLED_RECORDS`).

        Every step (``record_every`` None): :attr:`time`, the start of each step, as before.
        Sampled every ``m = round(record_every / dt)`` steps: the end of each sampled step,
        ``t_start + (k + 1) m dt`` for ``k = 0 .. n_steps // m - 1``.
        """
        if self.record_every is None:
            return self.time
        m = self.record_stride
        return self.t_start + (np.arange(sampled_rows(self.n_steps, m)) + 1.0) * m * self.dt

    @property
    def record_stride(self) -> int:
        """Steps between two rows of the time-sampled records (1: every step)."""
        return record_stride(self.record_every, self.dt)

    @property
    def has_spikes(self) -> bool:
        return self.spike_times is not None

    def spikes_of(self, population: str) -> tuple[np.ndarray, np.ndarray]:
        """Spike times (ms) and within-population neuron indices of "E" or "I"."""
        if self.spike_times is None:
            raise ValueError(f"a {self.engine} result has no individual spikes")
        if population not in POPULATIONS:
            raise ValueError(f"population must be one of {', '.join(POPULATIONS)}, got {population!r}")
        q = POPULATIONS.index(population)
        first, stop = (int(x) for x in population_offsets(self.params)[q:q + 2])
        mask = (self.spike_neurons >= first) & (self.spike_neurons < stop)
        return self.spike_times[mask], self.spike_neurons[mask] - first

    def replace(self, **changes) -> "Result":
        return dataclasses.replace(self, **changes)

    def concat(self, later: "Result") -> "Result":
        """This run followed by ``later``, a run continuing it (``continue_from=self``).

        One Result over both spans: counts, spikes and records joined in time, the final
        state and status of ``later``, wall times added. For a run continued exactly this
        equals the one run over the whole span (tests/test_continue.py).

        Raises
        ------
        ParameterError
            If ``later`` does not start where this run ends, or differs in engine, model,
            parameters, seed, time step, record sampling or recordings.
        """
        if not isinstance(later, Result):
            raise ParameterError(f"concat needs a Result, got {type(later).__name__}")
        span = self.n_steps * self.dt  # t_end rounded up to whole steps, as the engines ran it
        end = self.t_start + span
        checks = (("engine", self.engine, later.engine),
                  ("model", model_of(self), model_of(later)),
                  ("params", self.params, later.params), ("seed", self.seed, later.seed),
                  ("dt", self.dt, later.dt), ("record_every", self.record_every, later.record_every),
                  ("records", sorted(self.records), sorted(later.records)),
                  ("spikes", self.has_spikes, later.has_spikes))
        for what, mine, theirs in checks:
            if mine != theirs:
                raise ParameterError(f"concat: the later run differs in {what} "
                                     f"({theirs!r}, this run {mine!r})")
        if abs(later.t_start - end) > 1e-6 * self.dt:
            raise ParameterError(f"concat: the later run starts at t = {later.t_start:g} ms, "
                                 f"not where this one ends ({end:g} ms)")
        if self.n_steps % self.record_stride:
            raise ParameterError("concat: this run's length is not a whole number of "
                                 "record_every intervals, so its sampled records do not join")
        records = {}
        for name, values in self.records.items():
            if name in SAMPLED_RECORDS:
                records[name] = np.concatenate([values, later.records[name]])
            elif not np.array_equal(values, later.records[name]):
                raise ParameterError(f"concat: the runs differ in {name}")
            else:
                records[name] = values
        spikes = {}
        if self.has_spikes and later.has_spikes:
            spikes = {"spike_times": np.concatenate([self.spike_times, later.spike_times]),
                      "spike_neurons": np.concatenate([self.spike_neurons, later.spike_neurons])}
        return self.replace(
            t_end=span + later.t_end,
            population_counts=np.concatenate([self.population_counts, later.population_counts]),
            records=records, status=later.status, wall_time=self.wall_time + later.wall_time,
            final_state=later.final_state, **spikes)

    # the file format lives in dataset.py (writing) and io.py (reading); these are the
    # documented entry points
    def to_xarray(self, *, expand=()):
        """This result as a CF-style labelled :class:`xarray.Dataset` (provenance in attrs).

        ``expand`` names parameters to add as length-1 dimensions, so that runs combine with
        :func:`xarray.combine_by_coords` (see :func:`snnreduce.io.result_to_dataset`).
        """
        return result_to_dataset(self, expand=expand)

    def save(self, path, **options) -> None:
        """Write to NetCDF atomically (a half-written file never replaces a good one).

        ``compression`` (zlib level 0..9, None or 0 for none; default 1) as in
        :func:`snnreduce.io.save_result`.
        """
        save_result(self, path, **options)
