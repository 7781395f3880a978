"""Pieces shared by the spiking engines (stepped, markov, and any engine that wants them).

Everything here is engine-agnostic; pathway names are **post, pre** (``"ei"`` is I -> E).

Reusable pieces
---------------
:func:`check_no_unknown`, :func:`check_engine_record`
    Option validation with one-line :class:`~snnreduce.params.ParameterError` messages
    (the rules themselves live in :mod:`snnreduce.validation`).
``COL_*``, ``N_COLUMNS``
    The network kernels' names for the columns of
    :func:`snnreduce.populations.kernel_population_table` (external rate, threshold, ...; a
    row per post population), the one per-population layout every kernel, network and
    dsODE, reads (what a population receives from each sender is in the pathway table).
:func:`refractory_rule`
    The discrete-time refractory rule of time-stepped engines (exit probability per step or
    number of steps), one definition for every stepped engine.
:func:`quenched_adjacency`
    The fixed random adjacency of ``connectivity="quenched"``, CSR by *presynaptic* neuron
    with global indices (E first), drawn from the run's numpy Generator.
:func:`initial_voltages`, :func:`start_voltages`
    ``params.initial_state`` as an array of voltages; a run's ``initial_state`` (None or
    voltages, checked) as one.
:class:`SpikeBuffer`
    Growable storage for (step-or-time, neuron) spike pairs filled by chunked kernels.
:func:`progress_bar`, :func:`n_steps_of`
    Re-exported from :mod:`snnreduce._steps` (shared with the dsODE and the baselines).

Numba kernels get the Generator passed in, so the same seed gives the same spikes on every
machine with the same numpy/numba versions, and chunking (and the progress bar) never
changes the random stream.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from .._steps import n_steps_of, progress_bar
from ..params import POPULATIONS
from ..populations import POPULATION_COLUMNS, tables
from ..validation import ParameterError, check_choice, check_flag, check_record

__all__ = [
    "COL_LAMBDA", "N_COLUMNS", "N_POPULATIONS", "NETWORK_RECORDS", "check_choice", "check_flag",
    "check_engine_record", "check_no_unknown",
    "refractory_rule", "quenched_adjacency", "initial_voltages", "start_voltages",
    "SpikeBuffer", "progress_bar", "n_steps_of",
]

# Columns of the one kernel population table, populations.kernel_population_table (row q is
# the *post* population; what its input gets from each sender is in the pathway table), under
# the names the network kernels read. numba inlines these constants into the engines' cached
# kernels and does not see a change here (its cache is keyed on the content of the kernel's
# own file, so a `touch` does not help): change stepped.py, markov.py and surrogate.py, or
# clear their caches, after changing POPULATION_COLUMNS.
COL_LAMBDA = POPULATION_COLUMNS.index("external_rate")   # lambda_q, unit kicks per ms
N_COLUMNS = len(POPULATION_COLUMNS)

#: Number of populations the kernels are compiled for (``params.POPULATIONS``): loops over
#: populations and pathway rows run to this compile-time constant, which numba unrolls (a
#: run-time count cost the Markov engine 10 % per event); every table is sized by it.
N_POPULATIONS = len(POPULATIONS)

#: Records a spiking network engine can produce (see ``snnreduce.result.RECORD_DIMS``).
NETWORK_RECORDS = ("voltage", "pending", "refractory")


def check_no_unknown(unknown: dict, engine: str, allowed) -> None:
    """Reject engine options that do not exist (one line, naming the allowed ones)."""
    if unknown:
        raise ParameterError(f"unknown option {sorted(unknown)[0]!r} for the {engine} engine; "
                             f"options: {', '.join(allowed)}")


def check_engine_record(record, engine: str, allowed=NETWORK_RECORDS) -> tuple[str, ...]:
    """Validate the names in ``record`` for a spiking engine."""
    return check_record(record, allowed, f"the {engine} engine")


def refractory_rule(params) -> tuple[int, float, int]:
    """The refractory rule of a time-stepped engine.

    Returns ``(fixed, exit_probability, steps)``. A neuron that spikes in step i is reset and
    marked refractory; at the end of every step, the spike step i included, each refractory
    neuron may exit, and a neuron that exits at the end of step j receives input again from
    step j + 1 on. With K the number of step ends from i at which the neuron is refractory
    (the exit happens at the end of step i + K - 1), the next spike comes at the earliest in
    step i + K, so the inter-spike interval is ``(K + N - 1) dt`` with N the number of input
    steps needed to cross threshold again.

    - ``refractory == "exponential"``: ``fixed = 0``; exit with probability
      ``exit_probability = 1 - exp(-dt / tau_r)`` at each step end (1 if ``tau_r == 0``):
      K is geometric on {1, 2, ...} with mean ``1 / exit_probability`` (about tau_r/dt + 1/2).
    - ``refractory == "fixed"``: ``fixed = 1``; a counter set to ``steps = max(1,
      round(tau_r / dt))`` at the spike is decremented at each step end and the neuron exits
      when it reaches 0: K = steps, and the shortest inter-spike interval is ``steps * dt``
      (= tau_r when tau_r is a multiple of dt).
    """
    if params.refractory == "fixed":
        return 1, 1.0, max(1, round(params.tau_r / params.dt))
    p_exit = 1.0 if params.tau_r == 0 else -math.expm1(-params.dt / params.tau_r)
    return 0, p_exit, 1


def initial_voltages(params, rng: np.random.Generator, integer: bool = False) -> np.ndarray:
    """Voltages at t = 0 from ``params.initial_state`` ("rest": 0; "uniform": U[0, M)).

    With ``integer=True`` the uniform state draws integers uniformly from {0, ..., ceil(M) - 1}.
    """
    n = params.n_e + params.n_i
    if params.initial_state == "rest":
        return np.zeros(n)
    if integer:
        return rng.integers(0, max(1, math.ceil(params.threshold)), size=n).astype(np.float64)
    return rng.uniform(0.0, params.threshold, size=n)


def start_voltages(params, rng, initial_state, *, integer: bool = False) -> np.ndarray:
    """Voltages at the run's start, float64 (N,): :func:`initial_voltages` when
    ``initial_state`` is None, else the given array, checked: shape (n_e + n_i,) (E first),
    finite, ``-inhibitory_reversal <= V < threshold`` (and integers for ``integer``)."""
    n = params.n_e + params.n_i
    if initial_state is None:
        return initial_voltages(params, rng, integer=integer)
    try:
        v = np.array(initial_state, dtype=np.float64)
    except (TypeError, ValueError):
        raise ParameterError("initial_state must be 'rest'/'uniform' in the parameters, an array "
                             f"of {n} voltages, or a previous final_state, got "
                             f"{type(initial_state).__name__}") from None
    if v.shape != (n,):
        raise ParameterError(f"initial_state must hold one voltage per neuron, shape ({n},) "
                             f"(E first), got shape {v.shape}")
    if not np.isfinite(v).all():
        raise ParameterError("initial_state voltages must be finite (NaN or inf found)")
    low, high = -params.inhibitory_reversal, params.threshold
    bad = (v < low) | (v >= high)
    if bad.any():
        k = int(np.argmax(bad))
        raise ParameterError(f"initial_state voltages must lie in [-inhibitory_reversal, "
                             f"threshold) = [{low:g}, {high:g}), got {v[k]:g} for neuron {k}")
    if integer and not np.array_equal(v, np.round(v)):
        raise ParameterError("initial_state voltages must be integers with voltage='integer'")
    return v


@numba.njit(cache=True)
def _sample_subset(rng, n, d, skip, marker, out, pos):
    """Write ``d`` distinct uniform picks from {0..n-1} minus {skip} (skip < 0: none) to out[pos:].

    Floyd's algorithm on a pool of size ``m = n - (skip >= 0)``; picks at or above ``skip``
    shift up by one. ``marker`` is a zeroed bool scratch array of length >= n, left zeroed.
    """
    m = n - 1 if skip >= 0 else n
    start = pos
    for j in range(m - d, m):
        t = int(rng.random() * (j + 1))
        if t > j:
            t = j
        if marker[t]:
            t = j
        marker[t] = True
        out[pos] = t
        pos += 1
    for k in range(start, pos):
        marker[out[k]] = False
        if skip >= 0 and out[k] >= skip:
            out[k] += 1
    return pos


@numba.njit(cache=True)
def _adjacency_kernel(rng, offsets, pop_of, prob, fixed_indegree):
    """Edges (pre, post) with global indices, population by population (``offsets``, neuron
    -> population ``pop_of``); ``prob[q_post, q_pre]``.

    Bernoulli mode: for each pre neuron and post population, the out-degree is
    Binomial(pool, P) and the targets a uniform subset of that size, which is the same law as
    an independent Bernoulli(P) per ordered pair. Fixed in-degree: each post neuron draws
    exactly round(P * pool) distinct partners from each pre population. Self-pairs are
    excluded from the pool in both modes.
    """
    n_pop = offsets.size - 1
    n_tot = offsets[n_pop]
    sizes = offsets[1:] - offsets[:-1]
    # degrees: deg[x, q] = edges of neuron x (pre in Bernoulli mode, post in fixed in-degree)
    # towards/from population q
    deg = np.zeros((n_tot, n_pop), dtype=np.int64)
    for x in range(n_tot):
        qx = pop_of[x]
        for q in range(n_pop):
            pool = sizes[q] - (1 if q == qx else 0)
            if fixed_indegree:
                d = int(math.floor(prob[qx, q] * pool + 0.5))
            else:
                p = prob[q, qx]
                if p >= 1.0:
                    d = pool
                elif pool > 0 and p > 0.0:
                    d = rng.binomial(pool, p)
                else:
                    d = 0
            deg[x, q] = d
    n_edges = deg.sum()
    other = np.empty(n_edges, dtype=np.int64)
    owner = np.empty(n_edges, dtype=np.int64)
    marker = np.zeros(sizes.max(), dtype=np.bool_)
    pos = 0
    for x in range(n_tot):
        qx = pop_of[x]
        for q in range(n_pop):
            skip = (x - offsets[q]) if q == qx else -1
            start = pos
            pos = _sample_subset(rng, sizes[q], deg[x, q], skip, marker, other, pos)
            for k in range(start, pos):
                other[k] += offsets[q]
                owner[k] = x
    if fixed_indegree:
        pre, post = other, owner
    else:
        pre, post = owner, other
    # CSR by pre neuron, targets sorted within each row (deterministic, cache friendly)
    indptr = np.zeros(n_tot + 1, dtype=np.int64)
    for k in range(n_edges):
        indptr[pre[k] + 1] += 1
    for x in range(n_tot):
        indptr[x + 1] += indptr[x]
    fill = indptr[:-1].copy()
    indices = np.empty(n_edges, dtype=np.int32)
    for k in range(n_edges):
        indices[fill[pre[k]]] = post[k]
        fill[pre[k]] += 1
    for x in range(n_tot):
        indices[indptr[x]:indptr[x + 1]].sort()
    return indptr, indices


# ----------------------------------------------------------------------------- adjacency
def quenched_adjacency(params, rng: np.random.Generator,
                       fixed_indegree: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The fixed random adjacency of a quenched network, CSR by presynaptic neuron.

    Parameters
    ----------
    params : NetworkParams
        Sizes and connection probabilities ``p_xy`` (post x, pre y).
    rng : numpy.random.Generator
        The run's random stream; the adjacency is drawn from it once.
    fixed_indegree : bool
        False: an independent Bernoulli(P^{QQ'}) per ordered pair (pre in Q', post in Q).
        True: every post neuron of Q has exactly ``floor(P^{QQ'} * pool + 1/2)`` distinct
        partners in Q', where ``pool`` is ``N_{Q'}``, less one when Q' = Q.
        There are no self-connections in either case.

    Returns
    -------
    indptr : ndarray of int64, shape (N + 1,)
    indices : ndarray of int32, shape (n_synapses,)
        The targets of pre neuron ``j`` (global indices, E first, sorted) are
        ``indices[indptr[j]:indptr[j + 1]]``. Memory is ``O(P N^2)``.
    """
    t = tables(params)
    pop_of = t.population_of(np.arange(t.offsets[-1])).astype(np.int64)
    return _adjacency_kernel(rng, t.offsets, pop_of, t.prob, bool(fixed_indegree))


# ------------------------------------------------------------------------ bookkeeping
class SpikeBuffer:
    """Growable (key, neuron) storage for chunked kernels.

    A kernel fills ``self.key[self.n:]`` / ``self.neuron[self.n:]`` and returns the new fill
    level; :meth:`reserve` guarantees free room before each call.
    """

    def __init__(self, capacity: int, key_dtype=np.int64):
        self.key = np.empty(max(capacity, 16), dtype=key_dtype)
        self.neuron = np.empty(max(capacity, 16), dtype=np.int32)
        self.n = 0

    def reserve(self, room: int) -> None:
        if self.key.size - self.n < room:
            new = max(2 * self.key.size, self.n + room)
            self.key = np.concatenate([self.key[:self.n], np.empty(new - self.n, self.key.dtype)])
            self.neuron = np.concatenate([self.neuron[:self.n],
                                          np.empty(new - self.n, self.neuron.dtype)])

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return self.key[:self.n].copy(), self.neuron[:self.n].copy()


def asked_records(record, **filled) -> dict:
    """The recordings named in ``record``, taken from the arrays a kernel ``filled``."""
    return {name: values for name, values in filled.items() if name in record}
