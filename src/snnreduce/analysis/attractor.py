"""Shared coordinates for comparing network and dsODE trajectories (attractor geometry)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..params import PATHWAYS
from ..result import Result
from ._common import discard_steps

__all__ = ["AttractorCoordinates", "attractor_coordinates", "count_above"]


@dataclass(frozen=True, eq=False)
class AttractorCoordinates:
    """A trajectory in shared coordinates (see :func:`attractor_coordinates`).

    Attributes
    ----------
    time : ndarray, shape (n,)
        ms (start of each recorded step).
    pending_excitatory : ndarray, shape (n,)
        Total pending excitatory kicks, pathways ee + ie (post-pre: from E spikes,
        held by E and I neurons).
    pending_inhibitory : ndarray, shape (n,)
        Total pending inhibitory kicks, pathways ei + ii (from I spikes).
    above_gate : ndarray, shape (n,)
        Number of E neurons with voltage >= ``gate`` (real-valued for the dsODE).
    gate : float
        Gate voltage (dimensionless).
    """

    time: np.ndarray
    pending_excitatory: np.ndarray
    pending_inhibitory: np.ndarray
    above_gate: np.ndarray
    gate: float

    def as_array(self) -> np.ndarray:
        """Shape (n, 3): columns pending_excitatory, pending_inhibitory, above_gate."""
        return np.column_stack((self.pending_excitatory, self.pending_inhibitory, self.above_gate))


def _missing(result: Result, needed: tuple[str, ...]) -> None:
    lacking = [name for name in needed if name not in result.records]
    if not lacking:
        return
    if result.spike_times is None:
        how, cli = 'reduce(..., record=("pending", "bin_count", "bin_mean"))', "pending,bin_count,bin_mean"
    else:
        how, cli = 'simulate(..., record=("pending", "voltage"))', "pending,voltage"
    raise ValueError(f"attractor_coordinates needs the record(s) {', '.join(map(repr, lacking))} "
                     f"that this {result.engine} result lacks; rerun with {how} "
                     f"(snnreduce run ... --record {cli})")


def count_above(gate: float, counts: np.ndarray, means: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Neurons at or above ``gate`` in a binned voltage density.

    Bins entirely at or above the gate count fully; the bin that straddles it counts
    the fraction of its neurons above the gate under the dsODE's own assumption that
    they are uniform on the widest interval ``[a, b]`` inside the bin with mean ``v̄``
    (``a`` = lower edge and ``b = 2 v̄ - a`` if ``v̄`` is in the lower half, otherwise
    ``b`` = upper edge and ``a = 2 v̄ - b``): fraction ``clip((b - gate) / (b - a), 0, 1)``.
    A bin whose mean is missing (NaN) is taken as uniform over the whole bin.

    Parameters
    ----------
    gate : float
    counts, means : ndarray, shape (..., n_bins)
        Neurons per bin and their mean voltage.
    edges : ndarray, shape (n_bins + 1,)
        Bin edges, increasing.

    Returns
    -------
    ndarray, shape (...)
    """
    lower, upper = edges[:-1], edges[1:]
    mid = 0.5 * (lower + upper)
    v = np.where(np.isfinite(means), np.clip(means, lower, upper), mid)
    a = np.where(v <= mid, lower, 2.0 * v - upper)
    b = np.where(v <= mid, 2.0 * v - lower, upper)
    width = b - a
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(width > 1e-12 * (upper - lower), (b - gate) / width,
                        (v >= gate).astype(float))
    frac = np.clip(frac, 0.0, 1.0)
    return np.sum(np.where(np.isfinite(counts), counts, 0.0) * frac, axis=-1)


def attractor_coordinates(result: Result, gate: float | None = None,
                          discard: float = 100.0) -> AttractorCoordinates:
    """Project a network or dsODE trajectory on shared coordinates.

    Coordinates at each recorded step: total pending excitatory kicks
    (``pending[:, ee] + pending[:, ie]``), total pending inhibitory kicks
    (``pending[:, ei] + pending[:, ii]``) — pathways post-pre — and the number of E
    neurons with voltage at or above ``gate``.

    A network result needs the records ``"pending"`` and ``"voltage"``
    (``simulate(..., record=("pending", "voltage"))``); the count is
    ``#{n < n_e : V_n >= gate}``. A dsODE result (any result without individual
    spikes) needs ``"pending"``, ``"bin_count"`` and ``"bin_edges"`` (and uses
    ``"bin_mean"`` when present); the count is the number
    of E neurons in bins above the gate plus the part of the straddling bin above it
    (see :func:`count_above`). Refractory neurons sit at 0 and are below any positive
    gate in both.

    Parameters
    ----------
    result : Result
    gate : float, optional
        Gate voltage; default ``0.7 * threshold`` (70 for the reference set).
    discard : float
        Initial time to drop, ms.

    Returns
    -------
    AttractorCoordinates
    """
    if not isinstance(result, Result):
        raise ValueError(f"attractor_coordinates needs a Result, got {type(result).__name__}")
    gate = 0.7 * result.params.threshold if gate is None else float(gate)
    binned = result.spike_times is None       # dsODE (or another density model)
    if binned:
        _missing(result, ("pending", "bin_count", "bin_edges"))
    else:
        _missing(result, ("pending", "voltage"))
    pending = np.asarray(result.records["pending"], dtype=np.float64)
    if pending.ndim != 2 or pending.shape[1] != len(PATHWAYS):
        raise ValueError(f"record 'pending' must have shape (time, {len(PATHWAYS)}), got {pending.shape}")
    col = {name: i for i, name in enumerate(PATHWAYS)}
    excitatory = pending[:, col["ee"]] + pending[:, col["ie"]]
    inhibitory = pending[:, col["ei"]] + pending[:, col["ii"]]
    if binned:
        counts = np.asarray(result.records["bin_count"], dtype=np.float64)[:, 0, :]
        edges = np.asarray(result.records["bin_edges"], dtype=np.float64)
        if edges.shape != (counts.shape[-1] + 1,):
            raise ValueError(f"record 'bin_edges' must hold n_bins + 1 = {counts.shape[-1] + 1} "
                             f"edges, got shape {edges.shape}")
        if "bin_mean" in result.records:
            means = np.asarray(result.records["bin_mean"], dtype=np.float64)[:, 0, :]
        else:
            means = np.full_like(counts, np.nan)
        above = count_above(gate, counts, means, edges)
    else:
        voltage = np.asarray(result.records["voltage"])
        above = (voltage[:, : result.params.n_e] >= gate).sum(axis=1).astype(np.float64)
    n = pending.shape[0]
    if above.shape[0] != n:
        raise ValueError(f"records 'pending' and voltage have different lengths ({n}, {above.shape[0]})")
    first = discard_steps(discard, result.dt, n)
    time = np.arange(n) * result.dt
    return AttractorCoordinates(time=time[first:], pending_excitatory=excitatory[first:],
                                pending_inhibitory=inhibitory[first:], above_gate=above[first:],
                                gate=gate)
