"""Finite-difference Jacobians, Newton's method and multipliers for maps x -> Φ(x).

Everything here works in *scaled* coordinates ``u = x / scale`` so that every coordinate is
O(1) and one difference step ``h`` fits all of them (see docs/continuation.md for the step
study). Dense Jacobians (one evaluation per column) serve small maps, the step map of
stationary states and first points; cycle branches are linearised by their dominant subspace
(:mod:`.subspace`), whose solver :func:`newton` takes in place of a matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["fd_jacobian", "NewtonResult", "newton", "as_solver", "multipliers", "stability_counts"]

#: Default forward-difference step in scaled coordinates (see docs/continuation.md: 1e-5 ..
#: 1e-8 give the same leading multipliers to ~1e-6; round-off of one map evaluation is ~1e-13).
DEFAULT_STEP = 1e-7


def fd_jacobian(func, u, f0=None, *, step: float = DEFAULT_STEP, directions=None):
    """Forward-difference derivatives of ``func`` at ``u`` along given directions.

    Parameters
    ----------
    func : callable
        ``func(u) -> ndarray (m,)``.
    u : ndarray, shape (n,)
        Point (scaled coordinates).
    f0 : ndarray, optional
        ``func(u)`` if already known.
    step : float
        Difference step along each direction.
    directions : ndarray, shape (n, n), optional
        Column j is the direction of column j of the result (default: the unit vectors, i.e.
        the Jacobian itself). With other directions the result is ``J @ directions``.

    Returns
    -------
    ndarray, shape (m, n)
    """
    u = np.asarray(u, dtype=np.float64)
    if f0 is None:
        f0 = func(u)
    jac = np.empty((f0.size, u.size))
    for j in range(u.size):
        if directions is None:
            v = u.copy()
            v[j] += step
        else:
            v = u + step * directions[:, j]
        jac[:, j] = (func(v) - f0) / step
    return jac


@dataclass
class NewtonResult:
    """Outcome of :func:`newton`.

    Attributes
    ----------
    u : ndarray
        Last iterate (scaled coordinates).
    converged : bool
        Whether ``max|G(u)| <= tol`` was reached.
    residual : float
        ``max|G(u)|`` at ``u``.
    iterations : int
        Newton steps taken.
    jacobians : int
        Jacobians evaluated.
    """

    u: np.ndarray
    converged: bool
    residual: float
    iterations: int
    jacobians: int


def as_solver(jac):
    """``solve(rhs) -> x`` of ``jac x = rhs``: ``jac`` itself if it is a solver already (e.g.
    :meth:`~snnreduce.continuation.subspace.Linearisation.solver`), else the LU factors of
    the matrix ``jac`` (factorised once, reused by every chord step)."""
    if callable(jac):
        return jac
    from scipy.linalg import lu_factor, lu_solve

    factors = lu_factor(np.asarray(jac, dtype=np.float64), check_finite=False)
    return lambda rhs: lu_solve(factors, rhs, check_finite=False)


def newton(residual, u0, *, jacobian=None, jac0=None, tol: float = 1e-9, max_iter: int = 30,
           refresh: int = 6, max_jacobians: int | None = None) -> NewtonResult:
    """Chord-Newton iteration for ``residual(u) = 0`` (square or bordered systems).

    The Jacobian ``jac0`` (or ``jacobian(u0)``) is reused while the residual falls by at
    least a factor of 2 per step (cheap: one map evaluation per step); otherwise, or after
    ``refresh`` steps, it is recomputed at the current iterate.

    Parameters
    ----------
    residual : callable
        ``residual(u) -> ndarray``.
    u0 : ndarray
        Starting point.
    jacobian : callable, optional
        ``jacobian(u)``: a matrix, or a solver ``x = solve(rhs)`` of the Newton equation (see
        :func:`as_solver`); default: forward differences of ``residual``.
    jac0 : ndarray or callable, optional
        A Jacobian (or solver) to start with (e.g. from the previous continuation point).
    tol : float
        Convergence: max |residual| (scaled units).
    max_iter : int
        Newton steps at most.
    refresh : int
        Steps after which the Jacobian is recomputed even when converging.
    max_jacobians : int, optional
        Give up (not converged) rather than compute more fresh Jacobians than this: where
        fresh Jacobians do not help (a non-smooth spot, a predictor off the branch) a shorter
        continuation step is cheaper than more of them.
    """
    if jacobian is None:
        def jacobian(v):
            return fd_jacobian(residual, v)
    u = np.array(u0, dtype=np.float64)
    r = residual(u)
    res = float(np.max(np.abs(r)))
    solve = None if jac0 is None else as_solver(jac0)
    fresh = False  # solve was set up at the current iterate
    n_jac = 0
    since = 0

    def out_of_jacobians():
        return max_jacobians is not None and n_jac >= max_jacobians

    for it in range(max_iter):
        if not np.isfinite(res):
            return NewtonResult(u, False, res, it, n_jac)
        if res <= tol:
            return NewtonResult(u, True, res, it, n_jac)
        if solve is None or since >= refresh:
            if out_of_jacobians():
                return NewtonResult(u, False, res, it, n_jac)
            solve, fresh, since = as_solver(jacobian(u)), True, 0
            n_jac += 1
        try:
            du = solve(-r)
            u_new = u + du
            r_new = residual(u_new)
            res_new = float(np.max(np.abs(r_new)))
            if not res_new < 0.5 * res and not fresh:  # chord step too weak: fresh Jacobian
                if out_of_jacobians():
                    return NewtonResult(u, False, res, it, n_jac)
                solve, fresh, since = as_solver(jacobian(u)), True, 0
                n_jac += 1
                du = solve(-r)
                u_new = u + du
                r_new = residual(u_new)
                res_new = float(np.max(np.abs(r_new)))
            for _ in range(6):  # damping: a full step may leave the map's domain (no return)
                if np.isfinite(res_new) and res_new < 2.0 * res:
                    break
                du = 0.5 * du
                u_new = u + du
                r_new = residual(u_new)
                res_new = float(np.max(np.abs(r_new)))
        except (np.linalg.LinAlgError, ValueError):  # singular / non-finite system
            return NewtonResult(u, False, res, it, n_jac)
        u, r, res = u_new, r_new, res_new
        fresh = False
        since += 1
    return NewtonResult(u, bool(res <= tol), res, max_iter, n_jac)


def multipliers(map_jacobian: np.ndarray) -> np.ndarray:
    """Eigenvalues of a map's Jacobian, sorted by decreasing modulus (the multipliers)."""
    mu = np.linalg.eigvals(map_jacobian)
    return mu[np.argsort(-np.abs(mu), kind="stable")]


def stability_counts(mu: np.ndarray, *, imag_tol: float = 1e-9) -> tuple[int, int, int]:
    """``(n_plus, n_minus, n_complex)``: multipliers outside the unit circle that are real
    > 1, real < -1, and complex (counted singly per pair) — their changes along a branch mark
    folds (+1), period doublings (-1) and Neimark-Sacker points."""
    out = np.abs(mu) > 1.0
    real = np.abs(mu.imag) <= imag_tol * np.maximum(1.0, np.abs(mu))
    n_plus = int(np.sum(out & real & (mu.real > 0)))
    n_minus = int(np.sum(out & real & (mu.real < 0)))
    n_complex = int(np.sum(out & ~real & (mu.imag > 0)))
    return n_plus, n_minus, n_complex
