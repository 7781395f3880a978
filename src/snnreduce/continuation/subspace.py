"""Linearisations of a map by its dominant invariant subspace (Newton–Picard).

A return map of a strongly contracting system has a few multipliers of size O(0.1 – 10) and
hundreds near 0. Its Jacobian ``J`` (n × n) is then well represented by ``J ≈ (J V) Vᵀ`` with
``V`` (n × m, orthonormal, m ≈ 12) spanning the invariant subspace of the m largest
multipliers: ``J V`` costs m directional derivatives (m map evaluations) instead of the n of a
dense forward-difference Jacobian. :func:`dominant_subspace` finds ``V`` by subspace iteration
with Rayleigh–Ritz (warm-started from the previous point of a branch, where the subspace has
hardly moved, it converges in one or two sweeps); its Ritz values are the leading multipliers.

:class:`Linearisation` solves the Newton equation of a fixed point (optionally bordered by a
parameter column and an arclength row) with that approximation: Newton on the dominant part,
one fixed-point ("Picard") step on the complement, whose multipliers are small (Lust, Roose,
Spence & Champneys 1998, SIAM J. Sci. Comput. 19:1188, "An adaptive Newton–Picard algorithm
with subspace iteration for computing periodic solutions"). Iterated as a chord method it
converges at the rate of the largest neglected multiplier. With ``V = I`` (small maps, or the
first point of a branch) it is exactly the dense Newton step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Linearisation", "dense_linearisation", "dominant_subspace",
           "directional_derivatives", "SUBSPACE_SIZE", "NEGLECT"]

#: Starting size m of the dominant subspace.
SUBSPACE_SIZE = 12
#: Multipliers below this modulus may be left out of the subspace (the subspace grows while
#: its smallest Ritz value is above it; the Picard part then contracts at least this fast).
NEGLECT = 0.2


def directional_derivatives(func, u, f0, directions, step):
    """Forward differences of ``func`` at ``u`` along the columns of ``directions``.

    Each column ``v`` is differenced with the step ``step / max|v|`` (so that no coordinate
    moves by more than ``step``, the step of a dense Jacobian column).

    Returns
    -------
    ndarray, shape (m_out, k)
        ``J @ directions`` (approximately).
    """
    out = np.empty((f0.size, directions.shape[1]))
    for j in range(directions.shape[1]):
        v = directions[:, j]
        h = step / max(float(np.max(np.abs(v))), 1e-300)
        out[:, j] = (func(u + h * v) - f0) / h
    return out


@dataclass
class Linearisation:
    """``J ≈ image @ basis.T`` at one point, its leading multipliers and the parameter column.

    Attributes
    ----------
    basis : ndarray, shape (n, m), or None
        Orthonormal basis ``V`` of the dominant invariant subspace (None: the identity, the
        dense Jacobian).
    image : ndarray, shape (n, m)
        ``J V``.
    ritz : ndarray of complex, shape (m,)
        Eigenvalues of ``H = Vᵀ J V`` by decreasing modulus: the leading multipliers (all
        multipliers when ``m = n``).
    vectors_ : ndarray of complex, shape (n, m), or None
        The Ritz vectors ``V s_i`` (eigenvectors of ``J`` for a dense one; None until
        :attr:`vectors` is first read).
    g_t : ndarray, shape (n,), or None
        Derivative of ``Φ(u, p) - u`` in the scaled parameter (bordered systems only).
    converged : bool
        Whether the Ritz pairs above :data:`NEGLECT` met the tolerance (always True for a
        dense Jacobian).
    evaluations : int
        Map evaluations spent on it.
    """

    basis: np.ndarray | None
    image: np.ndarray
    ritz: np.ndarray
    vectors_: np.ndarray | None
    g_t: np.ndarray | None = None
    converged: bool = True
    evaluations: int = 0

    @property
    def dense(self) -> bool:
        """Whether ``image`` is the whole Jacobian (``basis`` is then None: the identity)."""
        return self.basis is None

    @property
    def vectors(self) -> np.ndarray:
        """The Ritz vectors (for a dense Jacobian computed on first use: an eigen-
        decomposition with vectors costs ~3× the eigenvalues alone, and only located special
        points need them)."""
        if self.vectors_ is None:
            mu, vec = np.linalg.eig(self.image)
            order = np.argsort(-np.abs(mu), kind="stable")
            self.vectors_ = vec[:, order]
        return self.vectors_

    @property
    def size(self) -> int:
        """Number of coordinates n."""
        return self.image.shape[0]

    @property
    def multipliers(self) -> np.ndarray:
        return self.ritz

    def start_basis(self, size: int = SUBSPACE_SIZE, neglect: float = NEGLECT,
                    rng=None) -> np.ndarray:
        """A basis to warm-start :func:`dominant_subspace` at a nearby point.

        A subspace linearisation gives its own basis. A dense one gives the real and
        imaginary parts of its eigenvectors of modulus above ``neglect`` filled up with
        random columns to ``size``: not its other eigenvectors, which for the dsODE include
        directions concentrated on the pending-kick deviations of (nearly) empty bins, where
        a difference step changes a deviation per neuron by orders of magnitude (the map is
        far from linear along them, see docs/continuation.md).
        """
        if not self.dense:
            return self.basis
        n = self.size
        cols = []
        for j in np.nonzero(np.abs(self.ritz) > neglect)[0]:
            v = self.vectors[:, j]
            if self.ritz[j].imag > 0:
                cols += [v.real, v.imag]
            elif self.ritz[j].imag == 0:
                cols.append(v.real)
        rng = np.random.default_rng(54321) if rng is None else rng
        want = min(n, max(size, len(cols) + 4))
        fill = rng.standard_normal((n, want - len(cols)))
        q, _ = np.linalg.qr(np.hstack([np.array(cols).reshape(len(cols), n).T, fill]))
        return q

    def matrix(self) -> np.ndarray:
        """``J`` (dense, or its rank-m approximation ``J V Vᵀ``)."""
        return self.image if self.dense else self.image @ self.basis.T

    def _complement(self, x):
        """``(I - V Vᵀ) x`` for a vector or the columns of a matrix."""
        return x - self.basis @ (self.basis.T @ x)

    def solver(self, border=None):
        """A solver of the (bordered) Newton equation with this linearisation.

        Parameters
        ----------
        border : ndarray, shape (n + 1,), optional
            The arclength row ``(w_u, w_t)``; with it the unknown is ``(du, dt)`` and the
            parameter column is :attr:`g_t`.

        Returns
        -------
        callable
            ``solve(rhs) -> x`` for ``[J - I, g_t; w_u, w_t] x = rhs`` (``(J - I) x = rhs``
            without a border), ``J`` replaced by ``J V Vᵀ`` on the complement of ``V`` — the
            Newton–Picard step: with ``x_u = V a + b``, ``Vᵀ b = 0``,
            ``(H - I) a + Vᵀ g_t x_t = Vᵀ rhs_u``, ``b = -(I - V Vᵀ)(rhs_u - J V a - g_t x_t)``.
        """
        if self.dense:
            return self._dense_solver(border)
        v, jv = self.basis, self.image
        m = v.shape[1]
        h = v.T @ jv
        p_jv = self._complement(jv)
        size = m + (border is not None)
        a = np.empty((size, size))
        a[:m, :m] = h - np.eye(m)
        if border is not None:
            w_u, w_t = border[:-1], border[-1]
            p_gt = self._complement(self.g_t)
            a[:m, m] = v.T @ self.g_t
            # the border row of x_u = V a + b: w_u (V + P J V) a + (w_t + w_u P g_t) x_t
            a[m, :m] = w_u @ v + w_u @ p_jv
            a[m, m] = w_t + w_u @ p_gt
        lu = _lu(a)

        def solve(rhs):
            rhs = np.asarray(rhs, dtype=np.float64)
            r_u = rhs[:v.shape[0]]
            p_r = self._complement(r_u)
            b = v.T @ r_u
            if border is not None:
                b = np.append(b, rhs[-1] + w_u @ p_r)
            x = _lu_solve(lu, b)
            coef = x[:m]
            rest = -p_r + p_jv @ coef
            if border is not None:
                rest += p_gt * x[m]
                return np.append(v @ coef + rest, x[m])
            return v @ coef + rest

        return solve


    def _dense_solver(self, border):
        """The plain (bordered) Newton solve with the whole Jacobian."""
        n = self.size
        size = n + (border is not None)
        a = np.empty((size, size))
        a[:n, :n] = self.image
        a[np.arange(n), np.arange(n)] -= 1.0
        if border is not None:
            a[:n, n] = self.g_t
            a[n] = border
        lu = _lu(a)
        return lambda rhs: _lu_solve(lu, np.asarray(rhs, dtype=np.float64))


def _lu(a):
    from scipy.linalg import lu_factor

    return lu_factor(a, check_finite=False)


def _lu_solve(lu, b):
    from scipy.linalg import lu_solve

    return lu_solve(lu, b, check_finite=False)


def _ritz(basis, image):
    """Ritz values (by decreasing modulus) and vectors of ``J`` on ``span(basis)``."""
    h = basis.T @ image
    theta, s = np.linalg.eig(h)
    order = np.argsort(-np.abs(theta), kind="stable")
    return theta[order], s[:, order]


def dense_linearisation(jac: np.ndarray, g_t=None, evaluations: int = 0) -> Linearisation:
    """The exact linearisation of a dense Jacobian (``V = I``)."""
    mu = np.linalg.eigvals(jac)
    order = np.argsort(-np.abs(mu), kind="stable")
    return Linearisation(None, jac, mu[order], None, g_t, True, evaluations)


def dominant_subspace(func, u, f0, start, *, step: float, tol: float = 1e-6,
                      max_sweeps: int = 6, size: int = SUBSPACE_SIZE,
                      neglect: float = NEGLECT, rng=None) -> Linearisation:
    """Dominant invariant subspace of the Jacobian of ``func`` at ``u`` by subspace iteration.

    Each sweep applies ``J`` to the basis (forward differences, one evaluation per column),
    computes the Ritz pairs of ``Vᵀ J V`` and stops when every Ritz pair of modulus above
    ``neglect`` (and the leading one) has the relative residual ``|J x - θ x| / |x| ≤ tol ·
    max(1, |θ|)`` (from a random start: not before the third sweep); otherwise
    the basis becomes the orthonormalised ``J V``. While the smallest Ritz value is above
    ``neglect`` (the subspace may miss multipliers of that size) the basis grows by 4.

    Parameters
    ----------
    func : callable
        The map, ``func(u) -> ndarray (n,)``.
    u, f0 : ndarray, shape (n,)
        The point and ``func(u)``.
    start : ndarray, shape (n, k), or None
        Starting basis (e.g. the previous point's); random columns fill it up to ``size``.
    step : float
        Forward-difference step (max-norm of a perturbation).
    tol : float
        Residual tolerance of the leading Ritz pairs (forward differences are accurate to
        ~1e-6 relative, see docs/continuation.md).
    max_sweeps : int
        Sweeps at most (the result says whether it converged).
    size : int
        Basis size to start with (at least ``start``'s).
    neglect : float
        Modulus below which multipliers need not be in the subspace.
    rng : numpy.random.Generator, optional
        For the random columns (default: seeded, so runs are reproducible).
    """
    n = u.size
    rng = np.random.default_rng(12345) if rng is None else rng
    m = min(n, max(size, 0 if start is None else start.shape[1]))
    cols = [] if start is None else [np.asarray(start, dtype=np.float64)[:, :m]]
    have = 0 if start is None else cols[0].shape[1]
    if have < m:
        cols.append(rng.standard_normal((n, m - have)))
    basis, _ = np.linalg.qr(np.hstack(cols))
    evaluations = 0
    theta = vec = image = None
    ok = False
    used = basis
    # a random start needs a few sweeps before its Ritz pairs mean anything
    min_sweeps = 1 if start is not None else 3
    for sweep in range(max_sweeps):
        used = basis
        image = directional_derivatives(func, u, f0, basis, step)
        evaluations += basis.shape[1]
        theta, s = _ritz(basis, image)
        vec = basis @ s
        res = np.linalg.norm(image @ s - vec * theta, axis=0) / np.linalg.norm(vec, axis=0)
        lead = np.abs(theta) > neglect
        lead[0] = True  # the leading pair always (a Ritz value from a poor subspace can be
        # far below the true leading multiplier, which would make the test vacuous)
        ok = bool(np.all(res[lead] <= tol * np.maximum(1.0, np.abs(theta[lead])))) \
            and sweep >= min_sweeps - 1
        too_small = basis.shape[1] < n and np.abs(theta[-1]) > neglect
        if ok and not too_small:
            break
        nxt = image
        if too_small:  # the subspace may miss multipliers of this size: enlarge it
            extra = min(4, n - basis.shape[1])
            nxt = np.hstack([image, rng.standard_normal((n, extra))])
        basis, _ = np.linalg.qr(nxt)
        ok = False
    return Linearisation(used, image, theta, vec, None, ok, evaluations)
