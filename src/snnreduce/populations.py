"""Populations and pathways as data: the one step from a network description to its tables.

A network has ``K`` populations (today E and I, ``K = 2``) and ``K x K`` pathways, indexed by
``(post, pre)`` population index: ``kick[post, pre]`` is the kick a spike of ``pre`` gives a
neuron of ``post`` (``kick[0, 1]`` is ``s_ei``, I -> E). Neurons are numbered population by
population (E first): population ``q`` holds the neurons ``offsets[q] .. offsets[q+1] - 1``.

:func:`tables` is the one place a :class:`~snnreduce.NetworkParams` is read population by
population; the numba kernels read two float tables made from it here, in one layout for
every engine: :func:`kernel_population_table` (a row per post population, the columns of
:data:`POPULATION_COLUMNS`) and :func:`kernel_pathway_table` (a row per pathway, the columns
of :data:`PATHWAY_COLUMNS`, with the post and pre population of each row). Neuron ->
population is :meth:`PopulationTables.population_of`, never a comparison with ``n_e``.
docs/architecture.md says what else a third population needs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .params import PATHWAYS, POPULATIONS

__all__ = ["PopulationTables", "tables", "population_offsets", "population_of", "PATHWAY_POST",
           "PATHWAY_PRE", "INHIBITORY", "POPULATION_COLUMNS", "PATHWAY_COLUMNS",
           "kernel_population_table", "kernel_pathway_table"]

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


#: Columns of :func:`kernel_population_table`, one row per *post* population Q. "exc" / "inh"
#: are the pathways from Q's excitatory and from its inhibitory sender (the kernels' input
#: has one of each: a conductance-like inhibitory term and a current-like excitatory one);
#: "pathway_*" are those pathways' rows in :func:`kernel_pathway_table` (stored as floats).
#: "var_*" are the factors of an input closure (1: the paper's; ``dsode.moments`` sets them).
POPULATION_COLUMNS = ("external_rate", "kick_exc", "kick_inh", "tau_exc", "tau_inh",
                      "threshold", "reversal", "tau_m", "size", "var_exc", "var_inh",
                      "prob_exc", "prob_inh", "pathway_exc", "pathway_inh")
#: Columns of :func:`kernel_pathway_table`, one row per pathway in ``PATHWAYS`` order
#: (post-pre): time constant (ms), connection probability, post and pre population index.
PATHWAY_COLUMNS = ("tau", "prob", "post", "pre")


def _senders(t: PopulationTables) -> tuple[int, int]:
    """The excitatory and the inhibitory sender population (one of each is what the kernels'
    input terms are written for; a K-population description with several of a kind needs a
    sum over senders there: docs/architecture.md)."""
    excitatory = [k for k in range(t.n_populations) if not t.inhibitory[k]]
    inhibitory = [k for k in range(t.n_populations) if t.inhibitory[k]]
    if len(excitatory) != 1 or len(inhibitory) != 1:
        raise NotImplementedError("the kernels' input terms take one excitatory and one "
                                  "inhibitory sender population")
    return excitatory[0], inhibitory[0]


def kernel_population_table(params) -> np.ndarray:
    """``(K, len(POPULATION_COLUMNS))`` float64: the per-population constants the kernels
    read, row = post population (var factors 1, the paper closure's)."""
    t = tables(params)
    e, i = _senders(t)
    rows = [pw for pw in zip(PATHWAY_POST.tolist(), PATHWAY_PRE.tolist())]
    col = {name: j for j, name in enumerate(POPULATION_COLUMNS)}
    table = np.empty((t.n_populations, len(POPULATION_COLUMNS)))
    table[:, col["external_rate"]] = t.external_rate
    table[:, col["kick_exc"]] = t.kick[:, e]
    table[:, col["kick_inh"]] = t.kick[:, i]
    table[:, col["tau_exc"]] = t.tau[:, e]
    table[:, col["tau_inh"]] = t.tau[:, i]
    table[:, col["threshold"]] = t.threshold
    table[:, col["reversal"]] = t.reversal
    table[:, col["tau_m"]] = t.tau_m
    table[:, col["size"]] = t.sizes
    table[:, col["var_exc"]] = 1.0
    table[:, col["var_inh"]] = 1.0
    table[:, col["prob_exc"]] = t.prob[:, e]
    table[:, col["prob_inh"]] = t.prob[:, i]
    table[:, col["pathway_exc"]] = [rows.index((q, e)) for q in range(t.n_populations)]
    table[:, col["pathway_inh"]] = [rows.index((q, i)) for q in range(t.n_populations)]
    return table


def kernel_pathway_table(params) -> np.ndarray:
    """``(n_pathways, len(PATHWAY_COLUMNS))`` float64, rows in ``PATHWAYS`` order (post-pre):
    τ, P, post and pre population index of each pathway."""
    t = tables(params)
    return np.column_stack([t.tau[PATHWAY_POST, PATHWAY_PRE], t.prob[PATHWAY_POST, PATHWAY_PRE],
                            PATHWAY_POST.astype(np.float64), PATHWAY_PRE.astype(np.float64)])
