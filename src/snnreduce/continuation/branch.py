"""Pseudo-arclength continuation of fixed points of a map, with bifurcation detection.

A branch is a curve of solutions ``(u, p)`` of ``G(u, p) = Φ(u, p) - u = 0`` for a problem of
:mod:`.problems`. Steps: tangent predictor, chord-Newton corrector on the bordered system
``[G; τ_w · (z - z_k) - ds] = 0`` (``z = (u, t)``, ``t = p / p_unit``, weighted norm
``|z|_w² = t² + |u|²/n`` so that the step size is mostly a parameter step), step halving on
failure and growth on easy convergence.

At every point the multipliers (eigenvalues of ``DΦ``) are computed. A change in the number
of multipliers outside the unit circle marks a special point, classified by the test function
that changes sign (:func:`test_values`): for a fold (on a doubled branch: branch point) and a
period doubling the signed determinants ``det(I ∓ DΦ)`` (their sign flips exactly when a
real multiplier passes +1 / -1, however far it moves in one step), for a Neimark-Sacker point
(for the step map of a stationary state: a Hopf point of the flow) ``|μ*| - 1`` of the
complex multiplier nearest the circle. It is then located by regula falsi in the arclength;
where no test function changes sign (a complex test whose nearest multiplier switched), the
stability change is first narrowed by bisection on the count of unstable multipliers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..params import ParameterError
from .newton import DEFAULT_STEP, newton, stability_counts
from .subspace import SUBSPACE_SIZE, dense_linearisation, dominant_subspace

__all__ = ["BranchPoint", "SpecialPoint", "Branch", "continue_branch", "switch_period_doubling",
           "test_values"]

_IMAG_TOL = 1e-7
#: Multiplier of a fold / period doubling.
_TARGET = {"fold": 1.0, "period-doubling": -1.0}
#: A located fold / period doubling whose multiplier is farther than this from ±1 is a sign
#: change of det(I ∓ DΦ) through a pole (a multiplier through infinity), not a crossing.
_NOT_A_CROSSING = 0.1


@dataclass
class BranchPoint:
    """One solution on a branch.

    Attributes
    ----------
    parameter : float
        Value of the continued parameter.
    u : ndarray
        Solution (scaled coordinates of its problem).
    multipliers : ndarray of complex
        Eigenvalues of the map's Jacobian, by decreasing modulus.
    info : dict
        Problem-specific quantities (rates, period, peak-difference amplitude).
    """

    parameter: float
    u: np.ndarray
    multipliers: np.ndarray
    info: dict = field(default_factory=dict)

    @property
    def stable(self) -> bool:
        """All multipliers strictly inside the unit circle."""
        return bool(np.all(np.abs(self.multipliers) < 1.0))


@dataclass
class SpecialPoint:
    """A located bifurcation point.

    Attributes
    ----------
    kind : str
        "fold", "branch point", "period-doubling", "neimark-sacker" or "hopf".
    parameter : float
        Where it is.
    multiplier : complex
        The critical multiplier there (``|μ| ≈ 1``).
    u : ndarray
        The solution there (scaled coordinates).
    eigenvector : ndarray
        Eigenvector of the critical multiplier (scaled coordinates, max-norm 1).
    index : int
        Index of the branch point just before it.
    """

    kind: str
    parameter: float
    multiplier: complex
    u: np.ndarray
    eigenvector: np.ndarray
    index: int


@dataclass
class Branch:
    """A continued branch: its points, special points and why it stopped."""

    kind: str
    parameter_name: str
    points: list
    special: list
    stop_reason: str
    problem: object = None

    @property
    def parameters(self) -> np.ndarray:
        return np.array([pt.parameter for pt in self.points])

    @property
    def stable(self) -> np.ndarray:
        return np.array([pt.stable for pt in self.points])


def test_values(mu: np.ndarray) -> dict:
    """Test functions of each kind of special point; each is < 0 before and > 0 after an
    odd number of crossings of its kind (NaN if it has no candidate).

    ``fold``: ``-sign(det(I - DΦ)) · min_i |1 - μ_i|``; ``period-doubling``:
    ``-sign(det(I + DΦ)) · min_i |1 + μ_i|``. The sign of ``det(I ∓ DΦ) = Π (1 ∓ μ_i)`` is
    ``(-1)^(real multipliers beyond ±1)`` (a complex pair contributes ``|1 ∓ μ|² > 0``), so it
    flips exactly when a real multiplier passes ±1 and the function is continuous (zero
    there). Unlike ``|μ*| - 1`` of the real multiplier nearest ±1, it cannot miss a multiplier
    that moves from -0.6 to -2.1 in one step while another one sits at -0.05 (closure "ou",
    docs/continuation.md). ``neimark-sacker``: ``|μ*| - 1`` of the complex multiplier nearest
    the unit circle.
    """
    mu = np.asarray(mu)
    real = np.abs(mu.imag) <= _IMAG_TOL * np.maximum(1.0, np.abs(mu))
    out = {"fold": _signed_determinant(1.0 - mu),
           "period-doubling": _signed_determinant(1.0 + mu)}
    cand = mu[~real & (mu.imag > 0)]
    out["neimark-sacker"] = float(np.abs(cand[np.argmin(np.abs(np.abs(cand) - 1.0))]) - 1.0) \
        if cand.size else float("nan")
    return out


def _signed_determinant(factors: np.ndarray) -> float:
    """``-sign(Π f_i) · min_i |f_i|`` for the factors ``f_i = 1 ∓ μ_i`` of ``det(I ∓ DΦ)``.

    The sign is taken from the product of the phases ``f_i / |f_i|`` (no overflow for a few
    hundred factors; conjugate pairs cancel to round-off).
    """
    if not factors.size:
        return float("nan")
    size = np.abs(factors)
    smallest = float(size.min())
    if smallest == 0.0:
        return 0.0
    sign = np.sign(np.prod(factors / size).real)
    return float(-sign * smallest)


def _critical(mu, kind):
    real = np.abs(mu.imag) <= _IMAG_TOL * np.maximum(1.0, np.abs(mu))
    idx = np.arange(mu.size)
    if kind == "fold":
        cand = idx[real & (mu.real > 0)]
        return cand[np.argmin(np.abs(mu[cand] - 1.0))]
    if kind == "period-doubling":
        cand = idx[real & (mu.real < 0)]
        return cand[np.argmin(np.abs(mu[cand] + 1.0))]
    cand = idx[~real & (mu.imag > 0)]
    return cand[np.argmin(np.abs(np.abs(mu[cand]) - 1.0))]


#: Maps of at most this many coordinates always get dense Jacobians (cheaper than subspace
#: iteration there, and exact).
DENSE_MAX = 3 * SUBSPACE_SIZE
#: Fresh linearisations one corrector may compute before the step is shortened instead.
_CORRECTOR_JACOBIANS = 2


class _Stepper:
    """The bordered Newton system and linearisations of one branch.

    A linearisation (:class:`~snnreduce.continuation.subspace.Linearisation`) is dense (the
    forward-difference Jacobian: the first point of a branch, maps of at most
    :data:`DENSE_MAX` coordinates, and the fallback) or the dominant invariant subspace of
    the map's Jacobian, warm-started from the previous point's (``subspace=True``).
    """

    def __init__(self, problem, p_unit, tol, jac_step, subspace=True):
        self.problem = problem
        self.p_unit = p_unit
        self.tol = tol
        self.jac_step = jac_step
        self.subspace = subspace
        self.evaluations = 0  # map evaluations spent on linearisations

    def g(self, u, p):
        try:
            self.problem.check_parameter(p)
        except ParameterError:
            return np.full(u.shape, np.nan)
        return self.problem.image(u, p) - u

    def linearise(self, u, p, near=None):
        """The linearisation at ``(u, p)`` with its parameter column ``G_t``.

        ``near``: a nearby point's linearisation (subspace iteration from its basis; None:
        from random columns). A small map, ``subspace=False`` or a subspace iteration that
        does not converge: the dense forward-difference Jacobian.
        """
        f0 = self.problem.image(u, p)
        lin = None
        if self.subspace and u.size > DENSE_MAX:
            start = None if near is None else near.start_basis()
            lin = dominant_subspace(lambda v: self.problem.image(v, p), u, f0, start,
                                    step=self.jac_step)
            self.evaluations += lin.evaluations
            if not lin.converged:
                lin = None
        if lin is None:
            jac = self.problem.jacobian(u, p, f0, step=self.jac_step)
            lin = dense_linearisation(jac, evaluations=u.size)
            self.evaluations += u.size
        h = self.jac_step * max(1.0, abs(p) / self.p_unit)
        sign = 1.0
        try:
            self.problem.check_parameter(p + h * self.p_unit)
        except ParameterError:  # at a bound: difference backwards
            sign = -1.0
        lin.g_t = (self.g(u, p + sign * h * self.p_unit) - (f0 - u)) / (sign * h)
        self.evaluations += 1
        return lin

    def correct(self, z_from, tangent, w, ds, lin0):
        """Newton on ``[G(z); (w τ)·(z - z_from) - ds]`` from the predictor (chord steps with
        ``lin0``; at most :data:`_CORRECTOR_JACOBIANS` fresh linearisations)."""
        n = z_from.size - 1
        wt = w * tangent

        def residual(z):
            return np.append(self.g(z[:n], z[n] * self.p_unit), wt @ (z - z_from) - ds)

        def jacobian(z):
            return self.linearise(z[:n], z[n] * self.p_unit, lin0).solver(wt)

        return newton(residual, z_from + ds * tangent, jacobian=jacobian,
                      jac0=lin0.solver(wt), tol=self.tol, max_jacobians=_CORRECTOR_JACOBIANS)


def _tangent(lin, previous, w):
    """Unit tangent (weighted norm) of the branch at a point with linearisation ``lin``,
    oriented along ``previous``."""
    n = lin.size
    rhs = np.zeros(n + 1)
    rhs[n] = 1.0
    tau = lin.solver(w * previous)(rhs)
    tau /= np.sqrt(np.sum(w * tau * tau))
    return tau if np.sum(w * tau * previous) >= 0 else -tau


def continue_branch(problem, u0, p0: float, p_stop: float, *, kind: str | None = None,
                    parameter_name: str = "p", step: float = 0.02, step_min: float = 1e-4,
                    step_max: float = 0.05, max_points: int = 400, tol: float = 1e-9,
                    jacobian_step: float = DEFAULT_STEP, locate: bool = True,
                    locate_tol: float = 1e-5, stop=None, describe: bool = True,
                    away_from=None, subspace: bool = True) -> Branch:
    """Continue fixed points of ``problem`` from ``(u0, p0)`` towards ``p_stop``.

    Parameters
    ----------
    problem : FunctionMap, StepProblem or ReturnProblem
        The map (see :mod:`snnreduce.continuation.problems`).
    u0 : ndarray
        A solution or a good guess at ``p0`` (scaled coordinates of ``problem``); it is
        corrected at fixed ``p0`` first.
    p0, p_stop : float
        Start and end of the parameter range.
    kind : str, optional
        Label of the branch ("fixed point", "cycle", "period-2 cycle", ...).
    parameter_name : str
        Name of the parameter (for the record).
    step, step_min, step_max : float
        Arclength step (first, smallest, largest), in units of ``|p_stop - p0|`` (a step is
        about this fraction of the range where the solution changes slowly).
    max_points : int
        Points at most.
    tol : float
        Newton tolerance, max |Φ(u) - u| in scaled coordinates.
    jacobian_step : float
        Forward-difference step (scaled coordinates).
    locate : bool
        Locate special points by regula falsi.
    locate_tol : float
        Location accuracy in the parameter.
    stop : callable, optional
        ``stop(u, p) -> str or None``: a reason to end the branch at an accepted point.
    describe : bool
        Store ``problem.describe(u, p)`` with each point.
    away_from : (ndarray, float), optional
        A solution ``(u, p)`` to move away from first (a bifurcation point the branch starts
        next to, where the branch may be vertical in ``p``); default: move towards ``p_stop``.
    subspace : bool
        Linearise maps of more than :data:`DENSE_MAX` coordinates by their dominant invariant
        subspace (Newton–Picard, :mod:`.subspace`) where the problem allows it (its
        ``subspace`` attribute: return maps yes, the step map of stationary states no); False:
        a dense Jacobian at every point (the multipliers are then all of them).

    Returns
    -------
    Branch
    """
    p0 = float(p0)
    p_unit = max(abs(float(p_stop) - p0), 1e-12)
    direction = 1.0 if p_stop >= p0 else -1.0
    stepper = _Stepper(problem, p_unit, tol, jacobian_step,
                       subspace and getattr(problem, "subspace", True))
    kind = kind or getattr(problem, "kind", "branch")
    first = newton(lambda v: stepper.g(v, p0), np.asarray(u0, dtype=np.float64), tol=tol,
                   jacobian=lambda v: problem.jacobian(v, p0, step=jacobian_step)
                   - np.eye(v.size))
    if not first.converged:
        return Branch(kind, parameter_name, [], [],
                      f"no solution at {parameter_name} = {p0:g} (Newton residual "
                      f"{first.residual:.2g})", problem)
    n = first.u.size
    w = np.full(n + 1, 1.0 / n)
    w[n] = 1.0
    z = np.append(first.u, p0 / p_unit)
    previous = np.zeros(n + 1)
    previous[n] = direction
    if away_from is not None:
        previous = z - np.append(away_from[0], away_from[1] / p_unit)
        previous /= np.sqrt(np.sum(w * previous * previous))

    def accept(z_new, from_z=None, from_lin=None):
        """The point ``z_new`` with its linearisation, multipliers and description; the
        special points between it and the previous point (reached from ``from_z`` along
        ``tangent``, linearisation ``from_lin``) are located *before* the section may move
        (the bracket and the corrector live in the coordinates of the old section)."""
        u, p = z_new[:n], z_new[n] * p_unit
        lin = stepper.linearise(u, p, None if from_lin is None else from_lin)
        mu = lin.multipliers
        found = []
        if from_z is not None and _unstable(stability_counts(points[-1].multipliers)) \
                != _unstable(stability_counts(mu)):
            here = BranchPoint(p, u.copy(), mu)
            if locate:
                found = _locate(stepper, from_z, tangent, w,
                                _step_length(from_z, z_new, tangent, w), from_lin,
                                points[-1], here, len(points) - 1, p_unit, locate_tol,
                                problem, kind)
            else:
                found = _bracketed(points[-1], here, len(points) - 1, problem, kind)
        moved = problem.reanchor(u, p)
        if moved is not None:  # a new section: same orbit, new coordinates
            u = moved
            z_new = np.append(u, z_new[n])
            lin = stepper.linearise(u, p, lin)
            mu = lin.multipliers
        info = problem.describe(u, p) if describe else {}
        return z_new, lin, BranchPoint(p, u.copy(), mu, info), found

    points = []
    z, lin, point, _ = accept(z)
    points.append(point)
    special = []
    tangent = _tangent(lin, previous, w)
    ds = step
    reason = f"reached {parameter_name} = {p_stop:g}"
    while len(points) < max_points:
        p_now = z[n] * p_unit
        remaining = direction * (p_stop - p_now) / p_unit
        if remaining <= 1e-9:
            break
        to_end = ds
        if tangent[n] * direction > 0:
            to_end = remaining / (tangent[n] * direction)
            ds = min(ds, 1.02 * to_end)
        if ds >= to_end and len(points) > 1:  # last step: solve at p_stop itself
            fix = newton(lambda v: stepper.g(v, p_stop), z[:n] + to_end * tangent[:n],
                         tol=tol, jac0=lin.solver(), max_jacobians=_CORRECTOR_JACOBIANS,
                         jacobian=lambda v: stepper.linearise(v, p_stop,
                                                              lin).solver())
            if fix.converged:
                _, _, point, found = accept(np.append(fix.u, p_stop / p_unit), z, lin)
                special += found
                points.append(point)
                break
        res = stepper.correct(z, tangent, w, ds, lin)
        if res.converged and np.sqrt(np.sum(w * (res.u - z - ds * tangent) ** 2)) > 0.5 * ds:
            res.converged = False  # the corrector went far from the predictor: maybe
            # another branch; a shorter step keeps to this one
        if not res.converged:
            ds *= 0.5
            if ds < step_min:
                reason = (f"no convergence at {parameter_name} ≈ {p_now:.6g} "
                          f"(residual {res.residual:.2g})")
                break
            continue
        z_new, lin_new, point, found = accept(res.u, z, lin)
        special += found
        points.append(point)
        new_tangent = _tangent(lin_new, tangent, w)
        z, lin, tangent = z_new, lin_new, new_tangent
        if res.iterations <= 3:
            ds = min(ds * 1.5, step_max)
        if stop is not None:
            why = stop(point.u, point.parameter)
            if why:
                reason = why
                break
    else:
        reason = f"{max_points} points"
    return Branch(kind, parameter_name, points, special, reason, problem)


def _step_length(z, z_new, tangent, w):
    """Arclength of the accepted step along the old tangent."""
    return float(np.sum(w * tangent * (z_new - z)))


def _unstable(counts):
    n_plus, n_minus, n_complex = counts
    return n_plus + n_minus + 2 * n_complex


def _label(kind, branch_kind, problem):
    if kind == "fold" and getattr(problem, "iterates", 1) > 1:
        return "branch point"  # +1 of the composed map: period doubling of the simple one
    if kind == "neimark-sacker" and getattr(problem, "flow_step", False):
        return "hopf"  # complex pair of the step map of a stationary state
    return kind


def _eigvec(lin, index_mu):
    """The (Ritz) eigenvector of ``lin`` whose value is nearest ``index_mu``, max-norm 1."""
    mu, vec = lin.multipliers, lin.vectors
    j = int(np.argmin(np.abs(mu - index_mu)))
    v = vec[:, j]
    v = v / v[np.argmax(np.abs(v))]
    return mu[j], (v.real if abs(mu[j].imag) <= _IMAG_TOL else v)


def _crossing_kinds(a, b):
    ta, tb = test_values(a.multipliers), test_values(b.multipliers)
    return [k for k in ta if np.isfinite(ta[k]) and np.isfinite(tb[k])
            and np.sign(ta[k]) != np.sign(tb[k])], ta, tb


def _bracketed(a, b, index, problem, branch_kind):
    """Special points between two points, placed by linear interpolation (no location)."""
    kinds, ta, tb = _crossing_kinds(a, b)
    out = []
    for k in kinds:
        f = ta[k] / (ta[k] - tb[k])
        p = a.parameter + f * (b.parameter - a.parameter)
        mu = b.multipliers[_critical(b.multipliers, k)]
        out.append(SpecialPoint(_label(k, branch_kind, problem), float(p), complex(mu),
                                b.u, np.zeros(b.u.size), index))
    return out


def _locate(stepper, z, tangent, w, ds, lin, a, b, index, p_unit, locate_tol, problem,
            branch_kind):
    """Regula falsi (Illinois) in the arclength σ ∈ [0, ds] on each test function that
    changes sign between points ``a`` (at σ = 0, ``z``) and ``b`` (σ = ds).

    If the number of unstable multipliers changes but no test function changes sign (the
    Neimark-Sacker test follows the complex multiplier nearest the circle, which can switch
    within one step), the bracket is first narrowed by bisection on that number; the test
    functions are then compared across the narrow bracket."""
    n = z.size - 1
    kinds, ta, tb = _crossing_kinds(a, b)
    s_a, s_b = 0.0, ds
    if not kinds:
        s_a, a, s_b, b = _bisect_stability(stepper, z, tangent, w, lin, s_a, a, s_b, b,
                                           p_unit, locate_tol)
        kinds, ta, tb = _crossing_kinds(a, b)
    out = []
    for kind in kinds:
        s_lo, f_lo, s_hi, f_hi = s_a, ta[kind], s_b, tb[kind]
        best = None
        side = 0
        for _ in range(12):
            s = s_lo - f_lo * (s_hi - s_lo) / (f_hi - f_lo)
            res = stepper.correct(z, tangent, w, s, lin)
            if not res.converged:
                break
            u, p = res.u[:n], res.u[n] * p_unit
            here = stepper.linearise(u, p, lin)
            mu = here.multipliers
            f = test_values(mu)[kind]
            best = (u, p, here, mu)
            if not np.isfinite(f):
                break
            if np.sign(f) == np.sign(f_lo):
                s_lo, f_lo = s, f
                if side == -1:
                    f_hi *= 0.5
                side = -1
            else:
                s_hi, f_hi = s, f
                if side == 1:
                    f_lo *= 0.5
                side = 1
            if abs(s_hi - s_lo) * abs(tangent[n]) * p_unit < locate_tol or abs(f) < 1e-10:
                break
        if best is None:
            out += [sp for sp in _bracketed(a, b, index, problem, branch_kind)
                    if sp.kind == _label(kind, branch_kind, problem)]
            continue
        u, p, here, mu = best
        crit, vec = _eigvec(here, mu[_critical(mu, kind)])
        if kind in _TARGET and abs(crit - _TARGET[kind]) > _NOT_A_CROSSING:
            # det(I ∓ DΦ) also changes sign where a real multiplier passes through infinity
            # (a nearly singular return map): the sign change is then no bifurcation
            continue
        out.append(SpecialPoint(_label(kind, branch_kind, problem), float(p), complex(crit),
                                u.copy(), vec, index))
    return out


def _bisect_stability(stepper, z, tangent, w, lin, s_a, a, s_b, b, p_unit, locate_tol):
    """Bisection in the arclength on the number of unstable multipliers, from the bracket
    ``[s_a, s_b]`` (points ``a``, ``b``) down to ``locate_tol`` in the parameter (or until a
    corrector fails); returns the narrowed ``(s_a, a, s_b, b)``."""
    n = z.size - 1
    count_a = _unstable(stability_counts(a.multipliers))
    while abs(s_b - s_a) * abs(tangent[n]) * p_unit >= locate_tol:
        s = 0.5 * (s_a + s_b)
        res = stepper.correct(z, tangent, w, s, lin)
        if not res.converged:
            break
        u, p = res.u[:n], res.u[n] * p_unit
        mid = BranchPoint(p, u.copy(), stepper.linearise(u, p, lin).multipliers)
        if _unstable(stability_counts(mid.multipliers)) == count_a:
            s_a, a = s, mid
        else:
            s_b, b = s, mid
    return s_a, a, s_b, b


def switch_period_doubling(problem, special: SpecialPoint, p_stop: float, *,
                           offset: float = 5e-3, parameter_name: str = "p", **kwargs) -> Branch:
    """Continue the period-doubled branch born at a located period-doubling point.

    The doubled branch is a branch of fixed points of ``Φ∘Φ`` (``problem.doubled()``). Its
    first point is sought at ``p* ± offset |p_stop - p*|`` (the side where it exists is not
    known beforehand: both are tried) from ``u* + ε v``, ``v`` the eigenvector of the
    multiplier -1 and ``ε ∝ sqrt(offset)`` (the amplitude of a period-doubled orbit grows as
    the square root of the distance to the bifurcation); if Newton fails there, the guess is
    first iterated a few times under ``Φ∘Φ`` (which converges where the doubled orbit is
    stable). A solution counts only if it is not the period-1 one (``|Φ(u) - u| > 1e-6``).

    Returns the branch continued towards ``p_stop`` (or away from it, if the doubled branch
    lies on the other side); ``stop_reason`` says when no doubled solution was found.
    """
    doubled = problem.doubled()
    p_pd = special.parameter
    span = max(abs(p_stop - p_pd), 1e-9)
    v = np.real(special.eigenvector)
    tol = kwargs.get("tol", 1e-9)
    towards = 1.0 if p_stop >= p_pd else -1.0
    for side in (towards, -towards):
        p1 = p_pd + side * offset * span
        try:
            problem.check_parameter(p1)
        except ParameterError:
            continue
        for eps in (0.05, 0.15, 0.5, 1.5):  # small first: Newton may jump to far orbits
            guess = special.u + eps * np.sqrt(offset) * v
            for attempt in range(2):
                if attempt:  # iterate towards a stable doubled orbit, then Newton
                    for _ in range(10):
                        nxt = doubled.image(guess, p1)
                        if not np.all(np.isfinite(nxt)):
                            break
                        guess = nxt
                res = newton(lambda w: doubled.image(w, p1) - w, guess, tol=tol,
                             jacobian=lambda w: doubled.jacobian(w, p1) - np.eye(w.size))
                if res.converged and _distinct(doubled, res.u, p1):
                    end = p_stop if side == towards else p_pd - towards * span
                    return continue_branch(doubled, res.u, p1, end,
                                           parameter_name=parameter_name,
                                           stop=_merge_rule(doubled, kwargs.pop("stop", None)),
                                           away_from=(special.u, p_pd), **kwargs)
    return Branch(getattr(doubled, "kind", "doubled"), parameter_name, [], [],
                  f"no period-doubled solution found near {parameter_name} = {p_pd:g}",
                  doubled)


def _distinct(doubled, u, p, tol=1e-6):
    """Whether ``u`` (a fixed point of the doubled map) is not one of the simple map."""
    half = doubled.image(u, p, iterates=doubled.iterates // 2)
    return bool(np.all(np.isfinite(half)) and np.max(np.abs(half - u)) > tol)


def _merge_rule(doubled, other):
    """Stop rule of a doubled branch: it ends where it merges back with the simple branch
    (and wherever ``other`` says)."""
    def stop(u, p):
        if not _distinct(doubled, u, p, 1e-5):
            return f"merged with the period-1 branch at {p:.6g}"
        return other(u, p) if other is not None else None

    return stop
