"""Populations and pathways as data: the one step from a network description to its tables.

A network has ``K`` populations (today E and I, ``K = 2``) and ``K x K`` pathways, indexed by
``(post, pre)`` population index: ``kick[post, pre]`` is the kick a spike of ``pre`` gives a
neuron of ``post`` (``kick[0, 1]`` is ``s_ei``, I -> E). Neurons are numbered population by
population (E first): population ``q`` holds the neurons ``offsets[q] .. offsets[q+1] - 1``.

:func:`tables` is the one place a :class:`~snnreduce.NetworkParams` is read population by
population; the numba kernels read two float tables made from it here, in one layout for
every engine: :func:`kernel_population_table` (a row per post population, the columns of
:data:`POPULATION_COLUMNS`) and :func:`kernel_pathway_table` (a row per pathway, the columns
of :data:`PATHWAY_COLUMNS`, with the post and pre population of each row, its kick and
whether its sender is inhibitory). A population's input is a sum over its senders (the
pathway rows with that post population): excitatory kicks add, inhibitory ones pull towards
``-inhibitory_reversal``; no kernel assumes one sender of each kind. Neuron ->
population is :meth:`PopulationTables.population_of`, never a comparison with ``n_e``.
docs/architecture.md says what else a third population needs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .params import PATHWAYS, POPULATIONS

__all__ = ["PopulationTables", "tables", "population_offsets", "population_of", "PATHWAY_POST",
           "PATHWAY_PRE", "INHIBITORY", "POPULATION_COLUMNS", "PATHWAY_COLUMNS",
           "kernel_population_table", "kernel_pathway_table", "pathway_rows"]

#: Whether the kicks a population sends are inhibitory (pull towards -inhibitory_reversal).
INHIBITORY = {"E": False, "I": True}
#: Index of the post / pre population of each pathway of ``PATHWAYS`` (the order of records).
PATHWAY_POST = np.array([POPULATIONS.index(pw[0].upper()) for pw in PATHWAYS], dtype=np.int64)
PATHWAY_PRE = np.array([POPULATIONS.index(pw[1].upper()) for pw in PATHWAYS], dtype=np.int64)
# the kernels' pathway rows are pre-major (pathway_rows): PATHWAYS is that order
assert (PATHWAY_PRE * len(POPULATIONS) + PATHWAY_POST == np.arange(len(PATHWAYS))).all()


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


#: Columns of :func:`kernel_population_table`, one row per *post* population Q: what belongs
#: to the population itself. What its input receives from each sender is in the pathway
#: table (a row per pathway, with its post and pre population).
POPULATION_COLUMNS = ("external_rate", "threshold", "reversal", "tau_m", "size")
#: Columns of :func:`kernel_pathway_table`, one row per pathway ``[post, pre]`` (rows
#: pre-major, ``pre * K + post``: the order of ``PATHWAYS`` for E, I): time constant (ms),
#: connection probability, post and pre population index, kick size S^{post pre}, whether the
#: pre population is inhibitory (1.0: the kick is conductance-like, towards the reversal; 0.0:
#: current-like) and the closure's factor of the pathway's variance term (1: the paper's;
#: ``dsode.moments.pathway_table`` sets it). A kernel's input of population q is the sum over
#: the rows with ``post == q``, in row order (for E, I: the excitatory term, then the
#: inhibitory one).
PATHWAY_COLUMNS = ("tau", "prob", "post", "pre", "kick", "inhibitory", "var")


def _tables_of(description) -> PopulationTables:
    """``description`` itself if it is a :class:`PopulationTables`, else ``tables(description)``
    (a :class:`~snnreduce.NetworkParams`)."""
    return description if isinstance(description, PopulationTables) else tables(description)


def pathway_rows(n_populations: int) -> tuple[np.ndarray, np.ndarray]:
    """Post and pre population index of each row of :func:`kernel_pathway_table` for
    ``n_populations`` populations: rows pre-major, ``pre * K + post`` (int64 arrays)."""
    k = int(n_populations)
    return np.tile(np.arange(k), k).astype(np.int64), np.repeat(np.arange(k), k).astype(np.int64)


def kernel_population_table(description) -> np.ndarray:
    """``(K, len(POPULATION_COLUMNS))`` float64: the per-population constants the kernels
    read, row = post population. ``description``: a :class:`~snnreduce.NetworkParams` or a
    :class:`PopulationTables`."""
    t = _tables_of(description)
    col = {name: j for j, name in enumerate(POPULATION_COLUMNS)}
    table = np.empty((t.n_populations, len(POPULATION_COLUMNS)))
    table[:, col["external_rate"]] = t.external_rate
    table[:, col["threshold"]] = t.threshold
    table[:, col["reversal"]] = t.reversal
    table[:, col["tau_m"]] = t.tau_m
    table[:, col["size"]] = t.sizes
    return table


def kernel_pathway_table(description) -> np.ndarray:
    """``(K * K, len(PATHWAY_COLUMNS))`` float64, a row per pathway (pre-major: for E, I the
    order of ``PATHWAYS``, post-pre): τ, P, post and pre population index, kick, the pre
    population's inhibitory flag and the variance factor (1). ``description``: a
    :class:`~snnreduce.NetworkParams` or a :class:`PopulationTables`."""
    t = _tables_of(description)
    post, pre = pathway_rows(t.n_populations)
    return np.column_stack([t.tau[post, pre], t.prob[post, pre], post.astype(np.float64),
                            pre.astype(np.float64), t.kick[post, pre],
                            t.inhibitory[pre].astype(np.float64), np.ones(post.size)])
