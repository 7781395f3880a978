"""Populations and pathways as data: the one step from a network description to its tables.

A network has ``K`` populations (today E and I, ``K = 2``) and ``K x K`` pathways, indexed by
``(post, pre)`` population index: ``kick[post, pre]`` is the kick a spike of ``pre`` gives a
neuron of ``post`` (``kick[0, 1]`` is ``s_ei``, I -> E). Neurons are numbered population by
population (E first): population ``q`` holds the neurons ``offsets[q] .. offsets[q+1] - 1``.

:func:`tables` is the one place a :class:`~snnreduce.NetworkParams` is read population by
population; the engines' kernel tables (``network._common.population_table``,
``dsode.moments.population_table`` / ``pathway_table``) are built from it, and neuron ->
population is :meth:`PopulationTables.population_of`, never a comparison with ``n_e``.
docs/architecture.md says what else a third population needs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .params import PATHWAYS, POPULATIONS

__all__ = ["PopulationTables", "tables", "population_offsets", "population_of", "PATHWAY_POST",
           "PATHWAY_PRE", "INHIBITORY"]

#: Whether the kicks a population sends are inhibitory (pull towards -inhibitory_reversal).
INHIBITORY = {"E": False, "I": True}
#: Index of the post / pre population of each pathway of ``PATHWAYS`` (the order of records).
PATHWAY_POST = np.array([POPULATIONS.index(pw[0].upper()) for pw in PATHWAYS], dtype=np.int64)
PATHWAY_PRE = np.array([POPULATIONS.index(pw[1].upper()) for pw in PATHWAYS], dtype=np.int64)


def population_offsets(params) -> np.ndarray:
    """``(K + 1,)`` int64: first neuron index of each population, then the number of neurons."""
    return np.concatenate([[0], np.cumsum(params.n)]).astype(np.int64)


def population_of(neurons, params) -> np.ndarray:
    """Population index (0 = E, 1 = I, ...) of each global neuron index, same shape."""
    offsets = population_offsets(params)
    return np.searchsorted(offsets, np.asarray(neurons), side="right") - 1


@dataclass(frozen=True, eq=False)
class PopulationTables:
    """The network as arrays indexed by population (and by ``(post, pre)`` for pathways).

    Attributes
    ----------
    names : tuple of str
        Population names, in index order ("E", "I").
    sizes : ndarray of int64, shape (K,)
        Neurons per population.
    offsets : ndarray of int64, shape (K + 1,)
        See :func:`population_offsets`.
    inhibitory : ndarray of bool, shape (K,)
        Whether the population's kicks are inhibitory (conductance-like, towards the reversal).
    external_rate : ndarray, shape (K,)
        Unit external kicks per ms of each neuron of the population.
    kick, tau, prob : ndarray, shape (K, K)
        Kick size, pending-kick time constant (ms) and connection probability, ``[post, pre]``.
    threshold, reversal, tau_m : float
        Threshold M, inhibitory reversal M_r (at ``-M_r``), membrane leak time (ms, 0: none).
    """

    names: tuple
    sizes: np.ndarray
    offsets: np.ndarray
    inhibitory: np.ndarray
    external_rate: np.ndarray
    kick: np.ndarray
    tau: np.ndarray
    prob: np.ndarray
    threshold: float
    reversal: float
    tau_m: float

    @property
    def n_populations(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        """Index of the population called ``name``."""
        return self.names.index(name)

    def population_of(self, neurons) -> np.ndarray:
        """Population index of each global neuron index."""
        return np.searchsorted(self.offsets, np.asarray(neurons), side="right") - 1


def tables(params) -> PopulationTables:
    """The tables of ``params`` (a :class:`~snnreduce.NetworkParams`), pathways ``[post, pre]``."""
    k = len(POPULATIONS)
    kick, tau, prob = np.empty((k, k)), np.empty((k, k)), np.empty((k, k))
    for pw, post, pre in zip(PATHWAYS, PATHWAY_POST, PATHWAY_PRE):
        kick[post, pre], tau[post, pre], prob[post, pre] = params.s(pw), params.tau(pw), params.p(pw)
    return PopulationTables(
        names=POPULATIONS, sizes=np.array(params.n, dtype=np.int64),
        offsets=population_offsets(params),
        inhibitory=np.array([INHIBITORY[q] for q in POPULATIONS]),
        external_rate=np.array([params.lam(q) for q in POPULATIONS], dtype=np.float64),
        kick=kick, tau=tau, prob=prob, threshold=params.threshold,
        reversal=params.inhibitory_reversal, tau_m=params.tau_m)
