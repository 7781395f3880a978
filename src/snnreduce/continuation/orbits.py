"""Stationary states and cycles of the deterministic dsODE, found by Newton's method.

- :func:`find_fixed_point`: Newton on ``F(x) - x`` for the one-step map ``F`` (the state
  after one step of dt): a stationary (asynchronous) state.
- :func:`find_cycle`: Newton on ``P(x) - x`` for the return map of the section
  ``h^{EE} = level`` (see :class:`~snnreduce.continuation.problems.ReturnProblem`) from a
  simulated transient: the period-1 cycle (``iterates=2``: the period-doubled one).

Both return an object with the state, multipliers, stability and a ``result()`` that runs the
dsODE from it with records, a real :class:`snnreduce.Result` that every analysis accepts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..dsode.state import StateMap, map_options
from ..params import NetworkParams, ParameterError
from ..result import Result
from .newton import multipliers, newton
from .problems import ReturnProblem, StepProblem

__all__ = ["FixedPoint", "Cycle", "find_fixed_point", "find_cycle", "transient",
           "orbit_result"]

#: Records of an orbit's Result (those of :func:`snnreduce.reduce` by default).
ORBIT_RECORDS = ("bin_count", "bin_mean", "pending", "refractory")


def orbit_result(params: NetworkParams, options: dict, x, t_end: float,
                 record=ORBIT_RECORDS, note: str = "") -> Result:
    """Run the dsODE for ``t_end`` ms from flat state ``x`` and return it as a Result.

    Parameters
    ----------
    params : NetworkParams
    options : dict
        dsODE options (as for :func:`snnreduce.reduce`).
    x : ndarray
        Flat state (:class:`snnreduce.dsode.state.StateMap` coordinates).
    t_end : float
        Simulated time, ms (``ceil(t_end / dt)`` steps).
    record : iterable of str
        dsODE records.
    note : str
        Recorded as ``options["initial_state"]`` (where the run started).
    """
    start = time.perf_counter()
    m = StateMap(params, **options)
    n_steps = int(np.ceil(t_end / params.dt - 1e-9))
    counts, records = m.advance(m.from_vector(x), n_steps, record=record)
    opts = {**m.setup.options, "initial_state": note or "given state"}
    out = {"population_counts": counts, "spike_times": None, "spike_neurons": None,
           "records": records, "options": opts, "status": "ok"}
    return Result.from_run(out, params=params, engine="dsode", seed=None,
                           t_end=n_steps * params.dt, wall_time=time.perf_counter() - start)


def transient(params: NetworkParams, t_transient: float = 1000.0, x=None, **options):
    """Flat state after ``t_transient`` ms of the deterministic dsODE (from ``x`` or the
    initial state), and ``h^{EE}`` (pending E->E kicks per E neuron) over the last 100 ms."""
    m = StateMap(params, **options)
    state = m.initial_state() if x is None else m.from_vector(x)
    n_steps = int(np.ceil(t_transient / params.dt))
    tail = min(n_steps, int(round(100.0 / params.dt)))
    m.advance(state, n_steps - tail)
    _, rec = m.advance(state, tail, record=("pending",))
    return m.to_vector(state), rec["pending"][:, 0] / params.n[0]


@dataclass
class FixedPoint:
    """A stationary state of the deterministic dsODE.

    Attributes
    ----------
    params : NetworkParams
    options : dict
        dsODE options used.
    state : ndarray
        Flat state (:class:`snnreduce.dsode.state.StateMap` coordinates).
    multipliers : ndarray of complex
        Eigenvalues of the one-step map's Jacobian, by decreasing modulus (``≈ 1 + λ dt``).
    residual : float
        max |F(x) - x| in scaled coordinates (fractions of N_Q for counts).
    converged : bool
    info : dict
        Rates (Hz per neuron).
    """

    params: NetworkParams
    options: dict
    state: np.ndarray
    multipliers: np.ndarray
    residual: float
    converged: bool
    info: dict = field(default_factory=dict)

    @property
    def stable(self) -> bool:
        return bool(np.all(np.abs(self.multipliers) < 1.0))

    def result(self, t_end: float = 200.0, record=ORBIT_RECORDS) -> Result:
        """The dsODE run for ``t_end`` ms from this state."""
        return orbit_result(self.params, self.options, self.state, t_end, record,
                            "fixed point (continuation)")


@dataclass
class Cycle:
    """A cycle of the deterministic dsODE: a fixed point of its section's return map.

    Attributes
    ----------
    params : NetworkParams
    options : dict
    state : ndarray
        Flat state on the section (``h^{EE} = level``).
    level : float
        Section level, pending E->E kicks per E neuron.
    iterates : int
        Returns per period (2: period-doubled cycle).
    period_ms : float
        Period (sum of the ``iterates`` return times, interpolated between steps), ms.
    multipliers : ndarray of complex
        Nontrivial Floquet multipliers (eigenvalues of the return map's Jacobian).
    residual : float
    converged : bool
    info : dict
        Rates, peak heights and peak difference along the cycle.
    """

    params: NetworkParams
    options: dict
    state: np.ndarray
    level: float
    iterates: int
    period_ms: float
    multipliers: np.ndarray
    residual: float
    converged: bool
    info: dict = field(default_factory=dict)

    @property
    def stable(self) -> bool:
        return bool(np.all(np.abs(self.multipliers) < 1.0))

    def result(self, n_periods: float = 4.0, record=ORBIT_RECORDS) -> Result:
        """The dsODE run for ``n_periods`` periods from the cycle's section point."""
        return orbit_result(self.params, self.options, self.state, n_periods * self.period_ms,
                            record, f"cycle on section h_ee = {self.level:.6g} (continuation)")


def _oscillating(h_tail) -> bool:
    spread = float(h_tail.max() - h_tail.min())
    return spread > 1e-3 * max(float(np.abs(h_tail).mean()), 1e-12)


def find_fixed_point(params: NetworkParams, *, guess=None, t_transient: float = 2000.0,
                     tol: float = 1e-10, **options) -> FixedPoint:
    """Stationary state of the deterministic dsODE by Newton on ``F(x) - x``.

    Parameters
    ----------
    params : NetworkParams
        The network (pathways post-pre).
    guess : ndarray, optional
        Flat starting state; default: the state after ``t_transient`` ms (averaged over its
        last 100 ms when the run oscillates, which often lands near an unstable stationary
        state).
    t_transient : float
        Transient, ms.
    tol : float
        Newton tolerance (max |F(x) - x|, scaled coordinates).
    **options
        dsODE options (``dv``, ``refractory_rule``, ...).
    """
    options = map_options(options)
    if guess is None:
        guess, h_tail = transient(params, t_transient, **options)
        if _oscillating(h_tail):
            guess = _average_state(params, options, guess)
    # a single solve: the problem's parameter is only where p is read from
    prob = StepProblem(params, "p_ei", options, x_ref=guess)
    p = getattr(params, prob.parameter)
    res = newton(lambda u: prob.image(u, p) - u, prob.to_scaled(guess), tol=tol,
                 jacobian=lambda u: prob.jacobian(u, p) - np.eye(u.size), max_iter=40)
    mu = multipliers(prob.jacobian(res.u, p))
    return FixedPoint(params, options, prob.to_full(res.u), mu, res.residual, res.converged,
                      prob.describe(res.u, p))


def _average_state(params, options, x, span_ms: float = 100.0):
    """Mean of the flat state over ``span_ms`` from ``x`` (a guess for a stationary state)."""
    m = StateMap(params, **options)
    state = m.from_vector(x)
    total = np.zeros_like(x)
    n = int(round(span_ms / params.dt))
    for _ in range(n // 10):
        m.advance(state, 10)
        total += m.to_vector(state)
    return total / max(n // 10, 1)


def find_cycle(params: NetworkParams, *, t_transient: float = 1000.0, iterates: int = 1,
               tol: float = 1e-9, **options) -> Cycle:
    """Cycle of the deterministic dsODE by Newton on its return map, from a transient.

    The section is ``h^{EE} = sqrt(min · max)`` of ``h^{EE}`` over the transient's last
    100 ms (crossed upward): both bursts of a period-2 cycle cross it.

    Parameters
    ----------
    params : NetworkParams
    t_transient : float
        Transient, ms.
    iterates : int
        1: the period-1 cycle (a fixed point of the return map P); 2: the period-doubled
        cycle (a fixed point of P∘P).
    tol : float
        Newton tolerance (scaled coordinates).
    **options
        dsODE options.

    Raises
    ------
    ParameterError
        If the transient does not oscillate (use :func:`find_fixed_point`).
    """
    options = map_options(options)
    x, h_tail = transient(params, t_transient, **options)
    if not _oscillating(h_tail) or h_tail.min() <= 0:
        raise ParameterError("the dsODE does not oscillate after the transient "
                             f"(t_transient = {t_transient:g} ms); use find_fixed_point")
    problem = section_problem(params, "p_ei", options, x, h_tail, iterates)
    return _solve_cycle(problem, x, tol)


def section_problem(params, parameter, options, x, h_tail, iterates=1) -> ReturnProblem:
    """A :class:`ReturnProblem` whose section suits the oscillation ``h_tail``."""
    level = float(np.sqrt(h_tail.min() * h_tail.max()))
    up = np.nonzero((h_tail[:-1] < level) & (h_tail[1:] >= level))[0]
    period = float(np.median(np.diff(up))) if up.size > 1 else 200.0
    return ReturnProblem(params, parameter, options, x, level, period, iterates)


def _solve_cycle(problem: ReturnProblem, x, tol) -> Cycle:
    p = getattr(problem.params, problem.parameter)
    m = problem.statemap(p)
    y, _ = problem._return(m, x)  # onto the section
    res = newton(lambda u: problem.image(u, p) - u, problem.to_scaled(y), tol=tol,
                 jacobian=lambda u: problem.jacobian(u, p) - np.eye(u.size), max_iter=40)
    mu = multipliers(problem.jacobian(res.u, p))
    info = problem.describe(res.u, p)
    return Cycle(problem.params, problem.options, problem.to_full(res.u), problem.level,
                 problem.iterates, info["period_ms"], mu, res.residual, res.converged, info)
