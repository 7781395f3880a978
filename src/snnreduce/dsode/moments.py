"""The Markov approximation of SPEC §3: pending-kick moments and the Gaussian input they imply.

Pathway order everywhere in this module is ``PATHWAYS = ("ee", "ie", "ei", "ii")``, names
**post, pre**: ``"ei"`` is the pathway from I to E (an I spike gives an E neuron a pending
kick of size S^{EI}). Related code often uses the opposite order.

For pathway QQ' the mean ``h`` and variance ``σ²`` across the neurons of Q of the pending
kick count obey (r_{Q'} = population spike count of Q' per ms)::

    dh/dt  = -h/τ + P r_{Q'}
    dσ²/dt = -2σ²/τ + h/τ + P(1-P) r_{Q'}

With ``r`` constant over a step the system is linear with constant forcing and has the exact
solution used by the default integrator (``e = exp(-dt/τ)``)::

    h*  = τ P r,               σ²* = τ P r (2 - P) / 2
    h(dt)  = h* + (h0 - h*) e
    σ²(dt) = σ²* + (h0 - h*) e + (σ²0 - σ²* - (h0 - h*)) e²

The Euler option is ``h += dt (-h/τ + P r)``, ``σ² += dt (-2σ²/τ + h/τ + P(1-P) r)`` with
the old ``h``; it reproduces the mean update of the stepped network exactly but is unstable
for ``dt > 2τ`` (moments are clipped at 0 so it cannot go negative).

The input of a neuron of Q at voltage v over one step (SPEC §3)::

    μ(v)  = dt [λ_Q + S^{QE} h^{QE}/τ^{QE} - S^{QI} g(v) h^{QI}/τ^{QI}] - v dt/τ_m
    s²(v) = dt [λ_Q + (S^{QE})² σ²^{QE}/(τ^{QE})² + (S^{QI} g(v))² σ²^{QI}/(τ^{QI})²]

with ``g(v) = (v + M_r)/(M + M_r)``; the leak term is present only when ``τ_m > 0`` and
external kicks keep unit size. Written for E-I; in general each term is a sum over the
senders Q' of Q (the pathway table's rows with post Q): an excitatory Q' adds
``S h/τ`` to the mean and ``S² σ²/τ²`` to the variance, an inhibitory one ``- S g(v) h/τ``
and ``(S g(v))² σ²/τ²``. (The recurrent variance terms are the paper's, taken as
written: ``dt · S² σ²/τ²``.)

Closures (``closure=``; docs/dsode.md §1; default :data:`DEFAULT_CLOSURE`,
"ou-cond-linear") change only how the across-neuron spread σ² of the pending kicks enters
the input. Each recurrent
variance term is multiplied by a factor ``f`` of its pathway (column ``TAB_VAR`` of the
pathway table)::

    "paper"      f = 1          dt S² σ²/τ²   (SPEC §3 as the paper's code has it)
    "diffusion"  f = 2τ / 1 ms  2 dt S² σ²/τ  (white-noise limit of a fluctuation with
                                              correlation time τ)
    "ou"         f = 0          the fluctuation is carried as a state instead (surrogate:
                                one Ornstein–Uhlenbeck deviation per neuron and pathway,
                                :func:`advance_deviation`; dsODE: its conditional mean per
                                bin, snnreduce.dsode.kernel)
    "ou-cond"    f = 0          "ou", and the dsODE passes on the exact conditional mean
                                of the deviation given the landing bin instead of the best
                                linear predictor in the landing voltage (kernel
                                ._conditionals); in the surrogate (no bins) it is "ou"
    "ou-cond-linear"  f = 0     "ou-cond", and the dsODE reconstructs each bin with the
                                linear density of its mass and mean instead of the widest
                                uniform law (snnreduce.dsode.transport.reconstruct_linear);
                                in the surrogate, which has no bins, it is "ou"
"""

from __future__ import annotations

import math

import numba
import numpy as np

from ..params import PATHWAYS
from ..populations import (PATHWAY_COLUMNS, PATHWAY_POST, PATHWAY_PRE, POPULATION_COLUMNS,
                           kernel_pathway_table, kernel_population_table)

__all__ = ["PATHWAYS", "PRE", "POST", "CLOSURES", "pathway_table", "population_table",
           "advance_moments", "stationary_moments", "input_mean_var", "input_coefficients",
           "input_coefficients_at", "sender_rows",
           "TAB_TAU", "TAB_P", "TAB_POST", "TAB_PRE", "TAB_KICK", "TAB_INHIBITORY", "TAB_VAR",
           "POP_LAMBDA", "POP_THRESHOLD", "POP_REVERSAL", "POP_TAU_M", "POP_N",
           "DEFAULT_CLOSURE", "SURROGATE_DEFAULT_CLOSURE", "check_closure", "variance_factor",
           "advance_deviation", "DEVIATION_CLOSURES", "LINEAR_LAW_CLOSURES",
           "CONDITIONAL_CLOSURES"]

#: Input closures (how the across-neuron spread of pending kicks enters the input; see the
#: module docstring). "paper" is SPEC §3 as published.
CLOSURES = ("paper", "diffusion", "ou", "ou-cond", "ou-cond-linear")

#: Closures that carry each neuron's (surrogate) or each bin's (dsODE) pending-kick deviation.
DEVIATION_CLOSURES = ("ou", "ou-cond", "ou-cond-linear")

#: Closures whose dsODE bins pass on the exact conditional mean deviation of their arrivals.
CONDITIONAL_CLOSURES = ("ou-cond", "ou-cond-linear")

#: Closures whose dsODE bins hold the linear in-bin law instead of the uniform one.
LINEAR_LAW_CLOSURES = ("ou-cond-linear",)

#: Closure of the dsODE when none is given: "ou-cond-linear" loses the least against the
#: network on the regime suite (docs/validation.md); "paper" stays available unchanged.
DEFAULT_CLOSURE = "ou-cond-linear"
#: The surrogate's default: the default closure without the parts that only concern bins
#: ("ou-cond" and "ou-cond-linear" run as "ou" where there are no bins).
SURROGATE_DEFAULT_CLOSURE = "ou"

#: Index of the pre / post population (0 = E, 1 = I) of each pathway in ``PATHWAYS``.
PRE = PATHWAY_PRE
POST = PATHWAY_POST

# Columns of the pathway table (one row per pathway, PATHWAYS order): the one layout of
# snnreduce.populations.PATHWAY_COLUMNS. A population's input sums over the rows whose post
# population it is (its senders).
TAB_TAU = PATHWAY_COLUMNS.index("tau")
TAB_P = PATHWAY_COLUMNS.index("prob")
TAB_POST = PATHWAY_COLUMNS.index("post")   # post population index
TAB_PRE = PATHWAY_COLUMNS.index("pre")     # pre population index
TAB_KICK = PATHWAY_COLUMNS.index("kick")   # S^{QQ'}
TAB_INHIBITORY = PATHWAY_COLUMNS.index("inhibitory")  # 1.0: the pre population inhibits
TAB_VAR = PATHWAY_COLUMNS.index("var")     # closure factor f of the pathway's variance term

# Columns of the population table (a row per *post* population): the one layout of
# snnreduce.populations.POPULATION_COLUMNS.
POP_LAMBDA = POPULATION_COLUMNS.index("external_rate")   # λ_Q, unit external kicks per ms
POP_THRESHOLD = POPULATION_COLUMNS.index("threshold")     # M
POP_REVERSAL = POPULATION_COLUMNS.index("reversal")       # M_r
POP_TAU_M = POPULATION_COLUMNS.index("tau_m")             # τ_m, ms (0: no leak)
POP_N = POPULATION_COLUMNS.index("size")                  # N_Q
# (numba's cache of a module that inlines these constants, or the functions below, does not
# see a change here, and it is keyed on the content of that module's file, so a `touch` does
# not help: change dsode/kernel.py and network/surrogate.py, or clear their caches, along)


def check_closure(closure) -> str:
    """``closure`` if it is one of :data:`CLOSURES`, else a ParameterError naming them."""
    if not isinstance(closure, str) or closure not in CLOSURES:
        from ..params import ParameterError

        raise ParameterError(f"closure must be one of {', '.join(map(repr, CLOSURES))}, "
                             f"got {closure!r}")
    return closure


def variance_factor(closure: str, tau: float) -> float:
    """The factor ``f`` that multiplies the paper's recurrent variance ``dt S² σ²/τ²`` of a
    pathway with kick lifetime ``tau`` (ms) under ``closure``.

    The fluctuation ``S η(t)/τ`` of a neuron's recurrent drive (η = its pending count minus
    the population mean, variance σ², autocorrelation ``exp(-|t|/τ)`` for the
    immigration-death process of SPEC §2) adds ``2 (S/τ)² σ² τ² (T/τ - 1 + e^{-T/τ})`` to the
    voltage variance over a window T, ``→ 2 S² σ² T/τ`` for ``T ≫ τ``: per step
    ``2 dt S² σ²/τ``, i.e. ``f = 2τ`` (τ in ms) times the paper's term. ``"ou"`` and
    its variants carry the fluctuation explicitly, so their diffusion term is 0.
    """
    if closure == "paper":
        return 1.0
    if closure == "diffusion":
        return 2.0 * tau
    return 0.0


def pathway_table(params, closure: str = "paper") -> np.ndarray:
    """``(n_pathways, len(PATHWAY_COLUMNS))`` float array, rows in ``PATHWAYS`` order
    (post-pre): :func:`snnreduce.populations.kernel_pathway_table` (τ, P, post, pre, kick,
    inhibitory flag) with the variance factor of ``closure`` (:func:`variance_factor`).
    ``params``: a NetworkParams or a :class:`snnreduce.populations.PopulationTables`."""
    check_closure(closure)
    table = kernel_pathway_table(params)
    for j in range(table.shape[0]):
        table[j, TAB_VAR] = variance_factor(closure, table[j, TAB_TAU])
    return table


def population_table(params) -> np.ndarray:
    """``(K, len(POPULATION_COLUMNS))`` float array of the per-population constants (row =
    post population): :func:`snnreduce.populations.kernel_population_table`."""
    return kernel_population_table(params)


@numba.njit(cache=True, inline="always")
def advance_pathway(h, var, rate, tau, p, dt, euler):
    """One step of the moment ODEs of one pathway with ``rate`` (pre spikes/ms) held constant."""
    if euler:
        h_new = h + dt * (-h / tau + p * rate)
        var_new = var + dt * (-2.0 * var / tau + h / tau + p * (1.0 - p) * rate)
        return max(h_new, 0.0), max(var_new, 0.0)
    return advance_pathway_exact(h, var, rate, tau, p, math.exp(-dt / tau))


@numba.njit(cache=True, inline="always")
def advance_pathway_exact(h, var, rate, tau, p, e):
    """The exact step of :func:`advance_pathway` with its decay factor ``e = exp(-dt/τ)``
    given (the dsODE kernel computes it once per run)."""
    h_star = tau * p * rate
    var_star = 0.5 * h_star * (2.0 - p)
    dh = h - h_star
    h_new = h_star + dh * e
    var_new = var_star + dh * e + (var - var_star - dh) * e * e
    return max(h_new, 0.0), max(var_new, 0.0)


@numba.njit(cache=True)
def advance_moments(h, var, rates, table, dt, euler):
    """Advance all four pathways in place.

    Parameters
    ----------
    h, var : ndarray, shape (4,)
        Mean and variance across post neurons of the pending kicks (PATHWAYS order, post-pre).
    rates : ndarray, shape (K,)
        Population spike counts per ms of each population during the step.
    table : ndarray, shape (4, 4)
        :func:`pathway_table` (its pre column says whose rate drives each pathway).
    dt : float
        Step, ms.
    euler : bool
        Explicit Euler instead of the exact exponential integrator.
    """
    for j in range(table.shape[0]):
        pre = int(table[j, TAB_PRE])
        h[j], var[j] = advance_pathway(h[j], var[j], rates[pre], table[j, TAB_TAU],
                                       table[j, TAB_P], dt, euler)


def stationary_moments(rates, params) -> tuple[np.ndarray, np.ndarray]:
    """Fixed point of the moment ODEs for constant population rates (spikes/ms of E, I).

    Returns ``(h*, σ²*)`` in PATHWAYS order: ``h* = τ P r``, ``σ²* = τ P r (2 - P) / 2``.
    """
    table = pathway_table(params)
    r = np.asarray(rates, dtype=np.float64)[PRE]
    h = table[:, TAB_TAU] * table[:, TAB_P] * r
    return h, 0.5 * h * (2.0 - table[:, TAB_P])


@numba.njit(cache=True, inline="always")
def input_coefficients(q, h, var, pop, pw, dt):
    """Coefficients of the one-step input of population ``q`` as a function of voltage.

    Returns ``(A, B, C, D, g1, g0)`` with ``g(v) = g1 v + g0 = (v + M_r)/(M + M_r)`` and
    ``μ(v) = A - B g(v)``, ``s²(v) = C + D g(v)²`` (SPEC §3; leak not included): sums over the
    senders of ``q`` (the rows of ``pw`` with post ``q``), the excitatory ones in A and C,
    the inhibitory ones in B and D. ``h`` and ``var`` are in the rows of ``pw``
    (:func:`pathway_table`, whose closure factors multiply the recurrent variance terms: 1
    for "paper", exactly, so the paper's numbers are unchanged); ``pop`` is
    :func:`population_table`.
    """
    return input_coefficients_at(q, sender_rows(q, pw), h, var, pop, pw, dt,
                                 pop[q, POP_LAMBDA])


@numba.njit(cache=True)
def sender_rows(q, pw):
    """The rows of the pathway table ``pw`` whose post population is ``q`` (its senders'
    pathways), in row order: int64 array."""
    rows = np.empty(pw.shape[0], dtype=np.int64)
    count = 0
    for j in range(pw.shape[0]):
        if int(pw[j, TAB_POST]) == q:
            rows[count] = j
            count += 1
    return rows[:count]


@numba.njit(cache=True, inline="always")
def input_coefficients_at(q, rows, h, var, pop, pw, dt, lam):
    """:func:`input_coefficients` over the pathway rows ``rows`` of ``q``'s senders
    (:func:`sender_rows`, or a kernel's own table of them), with the external rate ``lam``
    (kicks/ms) of this step in place of the table's constant ``λ_Q`` (a time-varying
    stimulus: the step's mean rate, :mod:`snnreduce.stimulus`). λ enters the mean and the
    variance alike (``dt λ`` each: unit Poisson kicks), whatever the closure; with
    ``lam = pop[q, POP_LAMBDA]`` the numbers are those of :func:`input_coefficients` exactly.

    Every term keeps the order of its factors of the one-sender-per-kind formula
    (``dt (λ + S h/τ)``, ``dt S h/τ``, ...), and ``0.0 + t == t``: for E-I the numbers are
    those of that formula bit for bit."""
    g1 = 1.0 / (pop[q, POP_THRESHOLD] + pop[q, POP_REVERSAL])
    g0 = pop[q, POP_REVERSAL] * g1
    mean_x = lam   # λ + Σ_exc S h/τ
    var_x = lam    # λ + Σ_exc S² σ²/τ² f
    b = 0.0
    d = 0.0
    for i in range(len(rows)):
        j = rows[i]
        s = pw[j, TAB_KICK]
        t = pw[j, TAB_TAU]
        if pw[j, TAB_INHIBITORY] == 0.0:
            mean_x += s * h[j] / t
            var_x += s * s * var[j] / (t * t) * pw[j, TAB_VAR]
        else:
            b += dt * s * h[j] / t
            d += dt * s * s * var[j] / (t * t) * pw[j, TAB_VAR]
    return dt * mean_x, b, dt * var_x, d, g1, g0


@numba.njit(cache=True, inline="always")
def input_mean_var(v, q, h, var, pop, pw, dt):
    """Mean and variance (clipped at 0) of the one-step input of a neuron of population ``q``
    at voltage ``v``; see :func:`input_coefficients`. The leak ``-v dt/τ_m`` is *not*
    included (callers apply the leak to voltages themselves)."""
    a, b, c, d, g1, g0 = input_coefficients(q, h, var, pop, pw, dt)
    g = g1 * v + g0
    return a - b * g, max(c + d * g * g, 0.0)


@numba.njit(cache=True, inline="always")
def advance_deviation(eta, e, var_old, var_new, xi):
    """One exact step of a neuron's Ornstein–Uhlenbeck pending-kick deviation (closure "ou").

    ``eta`` is the neuron's deviation from the population mean ``h`` of the pending kicks of
    one pathway, ``e = exp(-dt/τ)``, ``var_old`` / ``var_new`` the across-neuron variance σ²
    before and after the step (:func:`advance_pathway`), ``xi`` a standard normal draw.
    Returns ``e η + sqrt(σ²_new - e² σ²_old) ξ``: the linear-Gaussian process with the
    autocorrelation ``exp(-|t|/τ)`` of the network's pending counts whose variance follows σ²
    exactly (``dσ²/dt = -2σ²/τ + D`` is the variance law of ``dη = -η/τ dt + sqrt(D) dW``;
    the innovation is never negative for the moment ODEs, clipped at 0 against round-off).
    """
    innovation = var_new - e * e * var_old
    return e * eta + math.sqrt(max(innovation, 0.0)) * xi
