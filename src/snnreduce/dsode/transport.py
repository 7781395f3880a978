"""Closed-form transport of one voltage bin over one step (SPEC §4, steps 1-2).

A bin ``[L, L + Δ)`` holding neurons with mean voltage ``v̄`` is reconstructed as the uniform
law on the widest interval ``[a, b] ⊂ [L, L + Δ]`` with mean ``v̄`` (``a = L`` if ``v̄`` is in
the lower half, else ``b = L + Δ``). After one step a neuron's voltage is
``X = U(a, b) + N(μ, s²)``. With ``w = b - a``, ``u_a = (c - a - μ)/s``, ``u_b = u_a - w/s``::

    F(c) = P(X < c)    = (s / w)  [Ψ(u_a) - Ψ(u_b)],   Ψ(u) = u Φ(u) + φ(u)
    K(c) = E[(c - X)⁺] = (s² / w) [Λ(u_a) - Λ(u_b)],   Λ(u) = ((u² + 1) Φ(u) + u φ(u)) / 2

(Ψ' = Φ, Λ' = Ψ; K' = F.) The mass landing in ``[c, d)`` is ``F(d) - F(c)`` and its mean is
``c + [(d - c) F(d) - (K(d) - K(c))] / (F(d) - F(c))``, since ``∫_c^d F = K(d) - K(c)``.
Each bin edge is evaluated once per source (two normal evaluations), and masses are
differences of one cumulative function, so destinations + fired sum to 1 by telescoping.
When ``w < 1e-4 s`` the uniform part is negligible and the point-mass forms
``F = Φ(z)``, ``K = s Ψ(z)``, ``z = (c - v̄ - μ)/s`` are used (they avoid dividing by ``w``).

Ψ and Λ at the edges come from Φ and φ at nodes ``1/2048`` apart and 3rd-order Taylor
expansions of Ψ and Λ about the node (truncation error < 1e-16; :func:`_psi_2lambda`);
the point-mass forms use Φ and φ at nodes ``1/512`` apart and a 5th-order expansion whose
coefficients are Hermite polynomials of the node (absolute error < 4e-16). ``|u| >= 10``
gives the limits (Φ(-10) ≈ 8e-24).

Speed: the kernel does this for all source bins of a population at once, in passes (see
``kernel._advance``): per-source constants (:func:`_source_setup`, vectorised over sources),
the standardised arguments of every evaluated edge (:func:`_source_fill`), the normal
integrals of all edges in one branch-free loop that LLVM vectorises with gathers
(:func:`_edge_integrals`), and the fractions assembled and accumulated source by source
(:func:`_source_assemble`; the kernel has a branch-free copy of its loop for sources that
are not points, ``kernel._flush``). :func:`transport_source` is the same for one source.
Fused multiply-adds are explicit (``_fma``) and no function allows LLVM to contract or
reorder floating-point operations, so results do not depend on how a function was
compiled or inlined (fresh and cached runs are bit-identical).

Boundaries and truncation:

- Mass at or above the threshold ``M`` (the top edge) fires.
- Mass below the lowest edge ``V_low`` is not lost: it joins the lowest bin *at voltage*
  ``V_low`` (a sticky floor), so that bin's mean stays inside it.
- Only destination bins that meet ``[a + μ - T s, b + μ + T s]`` (T = ``truncate_sd``) are
  evaluated. The skipped tails (< Φ(-T) each) are given to the nearest kept bin by setting
  ``F = 0`` at the lowest evaluated edge and ``F = 1`` (``K = c - E[X]``) at the highest one,
  which conserves mass exactly. Arriving means are clipped into their destination bin.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba.core import types
from numba.extending import intrinsic
from scipy.special import ndtr

__all__ = ["bin_edges", "reconstruct", "reconstruct_linear", "transport", "transport_source",
           "transport_source_linear", "normal_cdf_pdf", "LINEAR_MIN_WIDTH", "gaussian_part"]

# ---------------------------------------------------------------- fused multiply-add
@intrinsic
def _fma(typingctx, a, b, c):
    """``a * b + c`` rounded once (llvm.fma). Explicit, so that the numbers do not depend on
    where LLVM chooses to contract (which differs between a function compiled alone and
    the same code linked into a caller: cached and fresh runs would differ in round-off)."""
    if not all(isinstance(x, types.Float) for x in (a, b, c)):
        return None
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, signature, args):
        x, y, z = (context.cast(builder, v, t, types.float64)
                   for v, t in zip(args, signature.args))
        return builder.fma(x, y, z)

    return sig, codegen


@intrinsic
def _bits(typingctx, x):
    """The bits of a float64 as an int64 (a bitcast)."""
    if not isinstance(x, types.Float):
        return None

    def codegen(context, builder, signature, args):
        v = context.cast(builder, args[0], signature.args[0], types.float64)
        return builder.bitcast(v, context.get_value_type(types.int64))

    return types.int64(x), codegen


# Adding 1.5 * 2^52 to a double in [0, 2^51) rounds it to the nearest integer (ties to
# even, as round()) and leaves that integer in the low bits of the sum.
_ROUND_MAGIC = 6755399441055744.0


@intrinsic
def _prefer_512(typingctx):
    """Mark the calling function ``"prefer-vector-width"="512"``: LLVM then vectorises its
    loops with 512-bit registers (8 doubles) where the target has AVX-512 (elsewhere the
    attribute changes nothing). LLVM's default on AVX-512 CPUs is 256 bits (clock
    throttling on early parts); for the gather-and-FMA-bound edge loop 512 bits halves the
    instructions. Element-wise arithmetic is unchanged, so are the results. (Marking the
    whole kernel so made it slower: its short loops over sources then run mostly in their
    scalar remainders.)"""
    def codegen(context, builder, signature, args):
        # string attribute; llvmlite's AttributeSet.add accepts only its known names
        set.add(builder.function.attributes, '"prefer-vector-width"="512"')
        return context.get_dummy_value()

    return types.none(), codegen


@numba.njit(cache=True, inline="always")
def _u(i):
    """An index known to be >= 0 as unsigned: numba then skips the negative-index
    wraparound (a compare and select per access) in the hot loops."""
    return np.uint64(i)


# ---------------------------------------------------------------- normal table
# Φ and φ at nodes 1/512 apart on [-10, 10]; between nodes a 5th-order Taylor expansion
# whose coefficients come from the node values, Φ^{(j)} = (-1)^{j-1} He_{j-1}(u) φ(u)
# (probabilists' Hermite polynomials). Two table loads per evaluation instead of a row of
# Taylor coefficients: computing the Hermite polynomials is cheaper than gathering them.
# (Measured on the reference preset: 7 coefficients at 1/128 cost ~2 ms more per
# biological second.) Used for point sources and by normal_cdf_pdf; the edge integrals,
# most of the work, use the finer tables and direct expansions of Ψ and Λ below.
_TABLE_STEP = 1.0 / 512.0
_TABLE_RANGE = 10.0
_TABLE_INV_STEP = 512.0
_SQRT_2PI = math.sqrt(2.0 * math.pi)


def _build_table() -> np.ndarray:
    """``(n_nodes, 2)``: Φ and φ at the nodes ``-10, -10 + 1/512, ..., 10``."""
    u = np.arange(-_TABLE_RANGE, _TABLE_RANGE + _TABLE_STEP / 2, _TABLE_STEP)
    table = np.stack([ndtr(u), np.exp(-0.5 * u * u) / _SQRT_2PI], axis=1)
    # the end nodes hold the limits (Φ(±10) and φ(±10) are below 1e-22), so that every
    # clamped argument |u| >= 10 gives exactly (0, 0) or (1, 0) without a select
    table[0] = (0.0, 0.0)
    table[-1] = (1.0, 0.0)
    return table


_TABLE = np.ascontiguousarray(_build_table().ravel())  # flat: (Φ, φ) per node
_TABLE_LAST = _TABLE.size // 2 - 1


@numba.njit(cache=True, inline="always")
def _norm(u):
    """(Φ(u), φ(u)) of the standard normal, absolute error < 1e-15.

    Branch-free (clamped argument) so that loops over many ``u`` vectorise; ``|u| >= 10``
    gives the limits (0, 0) or (1, 0) exactly, NaN gives NaN.
    """
    uc = min(max(u, -_TABLE_RANGE), _TABLE_RANGE)
    x = (uc + _TABLE_RANGE) * _TABLE_INV_STEP
    # x >= 0, so the index is non-negative: stating it lets LLVM drop the wraparound check
    i = min(max(int(x + 0.5), 0), _TABLE_LAST)
    fi = float(i)
    d = (x - fi) * _TABLE_STEP           # |d| <= 1/1024
    u0 = fi * _TABLE_STEP - _TABLE_RANGE  # the node (exact)
    cdf0 = _TABLE[2 * i]
    pdf0 = _TABLE[2 * i + 1]
    # Φ(u0 + d) = Φ(u0) + φ(u0) Q(d), Q = Σ_{j=1..5} (-1)^{j-1} He_{j-1}(u0) d^j / j!,
    # and φ(u0 + d) = φ(u0) Q'(d); Horner for Q and (synthetic division) Q'
    he2 = _fma(u0, u0, -1.0)
    he3 = _fma(u0, he2, -2.0 * u0)
    he4 = _fma(u0, he3, -3.0 * he2)
    q = he4 * (1.0 / 120.0)
    dq = q
    q = _fma(q, d, he3 * (-1.0 / 24.0))
    dq = _fma(dq, d, q)
    q = _fma(q, d, he2 * (1.0 / 6.0))
    dq = _fma(dq, d, q)
    q = _fma(q, d, -0.5 * u0)
    dq = _fma(dq, d, q)
    q = _fma(q, d, 1.0)
    dq = _fma(dq, d, q)
    return _fma(pdf0, q * d, cdf0), pdf0 * dq


def _on_array(many, u):
    """Apply a ``many(u, out)`` kernel that writes two values per element to array-like ``u``;
    returns the two arrays."""
    u = np.atleast_1d(np.asarray(u, dtype=np.float64))
    out = np.empty((2, u.size))
    many(u, out)
    return out[0], out[1]


def normal_cdf_pdf(u):
    """Vectorised access to the tabulated (Φ, φ), for tests."""
    return _on_array(_norm_many, u)


@numba.njit(cache=True)
def _norm_many(u, out):
    for i in range(u.size):
        out[0, i], out[1, i] = _norm(u[i])


# ---------------------------------------------------------------- edge table
# The edge integrals need Ψ(u) = u Φ + φ and Λ(u) = ((u² + 1) Φ + u φ)/2 (Ψ' = Φ, Λ' = Ψ),
# not Φ and φ themselves. They come from a finer table (nodes 1/2048 apart) and short
# Taylor expansions of Ψ and Λ about the node u0, d = u - u0, |d| <= 1/4096:
#
#     Ψ(u)  = Ψ0 + d (Φ0 + φ0 d (1/2 - u0 d/6))            error <= max|He2 φ| d⁴/24 < 6e-17
#     2Λ(u) = (u0 + 2d) Ψ0 + Φ0 + d² (Φ0 + φ0 d/3)          error <= max|u φ| d⁴/12 < 8e-17
#
# (Ψ''' = -u φ, Ψ'''' = He2 φ and Λ'''' = Ψ''' = -u φ; 2Λ0 = u0 Ψ0 + Φ0.) That is ~19
# floating-point operations per argument, against ~33 for the 5th-order Φ, φ of _norm
# followed by Ψ and Λ, and the vectorised edge loop is bound by them (measured: -2 ms per
# biological second on the reference preset). Φ and φ are interleaved in one table
# (``_EDGE_TAB``: Φ0, φ0 of a node share a cache line; measured ~1 ms per biological second
# less than two separate tables, whose gathers touched twice the lines). The table (656 kB)
# is a global, which numba embeds in every cached function that uses it (~1.3 MB each:
# object code and bitcode); passed as an argument it might alias the outputs, and LLVM
# would not vectorise the loop.
_EDGE_STEP = 1.0 / 2048.0
_EDGE_INV_STEP = 2048.0


def _build_edge_tables() -> tuple[np.ndarray, np.ndarray]:
    """Φ and φ at the nodes ``-10, -10 + 1/2048, ..., 10`` (the limits at the ends)."""
    u = np.arange(-_TABLE_RANGE, _TABLE_RANGE + _EDGE_STEP / 2, _EDGE_STEP)
    cdf = ndtr(u)
    pdf = np.exp(-0.5 * u * u) / _SQRT_2PI
    cdf[0], pdf[0] = 0.0, 0.0
    cdf[-1], pdf[-1] = 1.0, 0.0
    return cdf, pdf


_EDGE_TAB = np.ascontiguousarray(np.stack(_build_edge_tables(), axis=1).ravel())  # Φ, φ
_EDGE_LAST = float(_EDGE_TAB.size // 2 - 1)


@numba.njit(cache=True, inline="always")
def _edge_node(u):
    """(u0, d, Φ(u0), φ(u0)): the edge table's node nearest to ``u`` clamped to [-10, 10],
    and ``d = u - u0`` taken from ``u`` itself (the expansions of every edge function start
    here). NaN gives NaN (its node is the first one)."""
    # max(0, NaN) is 0 (numba's max keeps its first argument unless the second is greater)
    x = min(_EDGE_LAST, max(0.0, _fma(u, _EDGE_INV_STEP, _TABLE_RANGE * _EDGE_INV_STEP)))
    # the nearest node i, in [0, _EDGE_LAST] (round() without its conversions: 3
    # instructions instead of 4 in the vectorised loop, the same node)
    y = x + _ROUND_MAGIC
    i = _bits(y) & 0xFFFFF
    u0 = _fma(y - _ROUND_MAGIC, _EDGE_STEP, -_TABLE_RANGE)  # exact
    d = u - u0  # exact for |u| <= 10
    return u0, d, _EDGE_TAB[_u(2 * i)], _EDGE_TAB[_u(2 * i + 1)]


@numba.njit(cache=True, inline="always")
def _psi_2lambda(u):
    """(Ψ(u), 2 Λ(u)), absolute error < 2e-16 plus round-off.

    Branch-free, so that loops over many ``u`` vectorise. The node is that of ``u`` clamped
    to [-10, 10], but ``d`` is taken from ``u`` itself: at the end nodes (Φ, φ) = (0, 0) or
    (1, 0), where the expansions are exact, so ``|u| > 10`` gives Ψ = Λ = 0 or Ψ = u,
    Λ = (u² + 1)/2. NaN gives NaN (its node is the first one).
    """
    u0, d, cdf0, pdf0 = _edge_node(u)
    psi0 = _fma(u0, cdf0, pdf0)
    pd = pdf0 * d
    psi = _fma(d, _fma(pd, _fma(u0 * (-1.0 / 6.0), d, 0.5), cdf0), psi0)
    lam2 = _fma(_fma(d, 2.0, u0), psi0, _fma(d * d, _fma(pd, 1.0 / 3.0, cdf0), cdf0))
    return psi, lam2


def psi_lambda(u):
    """Vectorised access to the tabulated (Ψ, Λ) of the edge integrals, for tests."""
    return _on_array(_psi_lambda_many, u)


@numba.njit(cache=True)
def _psi_lambda_many(u, out):
    for i in range(u.size):
        psi, lam2 = _psi_2lambda(u[i])
        out[0, i] = psi
        out[1, i] = 0.5 * lam2


# The linear in-bin law (closure "ou-cond-linear", :func:`reconstruct_linear`) needs one more
# antiderivative, Ω(u) = ∫Λ = ((u³ + 3u) Φ + (u² + 2) φ)/6, and Φ itself.
@numba.njit(cache=True, inline="always")
def _psi_2lambda_6omega_cdf(u):
    """(Ψ(u), 2Λ(u), 6Ω(u), Φ(u)) for the linear law's edge integrals: Ψ and 2Λ from the
    table (:func:`_psi_2lambda`), the other two from the exact identities

        Φ = 2Λ - u Ψ,        6Ω = u (2Λ) + 2Ψ

    (from Ψ = u Φ + φ, 2Λ = u Ψ + Φ, 6Ω = (u³ + 3u) Φ + (u² + 2) φ), two operations each
    instead of their own expansions: the vectorised edge loop is bound by its arithmetic
    (measured: 2.96 against 3.3 ns per edge when Ω, Φ and φ had expansions of their own). Round-off: Φ loses
    ~u² ε for u >> 0, where Ψ ≈ u; it enters only ``E[Y; X < c] = -(s²/w)(...)`` with
    ``u ≲ w/s``, an absolute error ≲ ε w. Beyond |u| = 10 the end nodes give the limits
    (Ω = 0 or (u³ + 3u)/6, Φ = 0 or 1)."""
    psi, lam2 = _psi_2lambda(u)
    return psi, lam2, _fma(u, lam2, 2.0 * psi), _fma(-u, psi, lam2)


@numba.njit(cache=True, inline="always")
def _psi_2lambda_phi(u):
    """(Ψ(u), 2Λ(u), Φ(u)) (see :func:`_psi_2lambda`; the same node and ``d``) for closure
    "ou-cond", which also needs Φ at the edges::

        Φ(u) = Φ0 + φ0 d (1 - d (u0/2 - (u0² - 1) d/6))      error <= max|He3 φ| d⁴/24 < 1e-16

    Beyond |u| = 10 the end nodes give Φ = 0 or 1 exactly."""
    u0, d, cdf0, pdf0 = _edge_node(u)
    psi0 = _fma(u0, cdf0, pdf0)
    pd = pdf0 * d
    psi = _fma(d, _fma(pd, _fma(u0 * (-1.0 / 6.0), d, 0.5), cdf0), psi0)
    lam2 = _fma(_fma(d, 2.0, u0), psi0, _fma(d * d, _fma(pd, 1.0 / 3.0, cdf0), cdf0))
    cdf = _fma(pd, _fma(-d, _fma(_fma(u0, u0, -1.0) * (-1.0 / 6.0), d, 0.5 * u0), 1.0), cdf0)
    return psi, lam2, cdf


@numba.njit(cache=True)
def _edge_integrals_cond(ua, ub, n, dpsi, dlam, dphi):
    """:func:`_edge_integrals` plus ``Φ(u_a) - Φ(u_b)`` per edge (closure "ou-cond":
    ``E[Y; X < c] = -(s²/w) (Φ(u_a) - Φ(u_b))`` for the Gaussian part Y of a step,
    :func:`_source_assemble_g`). Branch-free, vectorised with gathers."""
    _prefer_512()
    for t in range(n):
        psi_a, lam2_a, cdf_a = _psi_2lambda_phi(ua[t])
        psi_b, lam2_b, cdf_b = _psi_2lambda_phi(ub[t])
        dpsi[t] = psi_a - psi_b
        dlam[t] = 0.5 * (lam2_a - lam2_b)
        dphi[t] = cdf_a - cdf_b


@numba.njit(cache=True)
def _edge_integrals_linear_cond(ua, ub, kap, kr, n, dpsi, dlam, dphi):
    """The edge integrals of a linear law ``(1 + κ t)/w`` on ``[a, b]`` (closure
    "ou-cond-linear"), scaled so that :func:`_source_assemble` and
    :func:`_source_assemble_g` read them as they read the uniform law's
    (``F = (s/w) dpsi``, ``K = (s²/w) dlam``, ``G = E[Y; X < c] = -(s²/w) dphi``)::

        dpsi = ΔΨ - κ (Ψ(u_a) + Ψ(u_b)) + 2 κ (s/w) ΔΛ
        dlam = ΔΛ - κ (Λ(u_a) + Λ(u_b)) + 2 κ (s/w) ΔΩ
        dphi = (1 - κ) ΔΦ + 2 κ (s/w) (u_a ΔΦ + φ(u_a) - φ(u_b))

    (Δ: value at ``u_a`` minus value at ``u_b``; ``kap``, ``kr``: κ and κ s/w per edge).
    From ``F(c) = ∫ f(v) Φ((c - v - μ)/s) dv`` with ``v - a = s (u_a - u)``, since
    ``∫_{u_b}^{u_a} (u_a - u) Φ du = ΔΛ - (w/s) Ψ(u_b)``; K = ∫F adds one antiderivative;
    G from ``E[Y 1{Y < y}] = -s² φ_s(y)`` and ``∫_{u_b}^{u_a} (u_a - u) φ du = u_a ΔΦ + Δφ``.
    κ = 0 gives the uniform law's numbers. With φ = Ψ - u Φ the last bracket is
    ``ΔΨ - (u_a - u_b) Φ(u_b)``, so Φ is the only function beyond Ψ, Λ, Ω
    (:func:`_psi_2lambda_6omega_cdf`). Branch-free (vectorised with gathers). Round-off
    relative to the scaled outputs is ~1e-12 for ``w/s >= 0.05`` (a second divided
    difference, as with the expansions of Ω, Φ and φ about the node that this replaced)."""
    _prefer_512()
    for t in range(n):
        psi_a, lam2_a, om6_a, cdf_a = _psi_2lambda_6omega_cdf(ua[t])
        psi_b, lam2_b, om6_b, cdf_b = _psi_2lambda_6omega_cdf(ub[t])
        k = kap[t]
        k2 = 2.0 * kr[t]
        dl = 0.5 * (lam2_a - lam2_b)
        dp = cdf_a - cdf_b
        dps = psi_a - psi_b
        # explicit FMAs: where LLVM contracts a * b + c itself depends on the caller (the
        # batch kernel's prange loop gave other round-off than the single run)
        dpsi[t] = _fma(k2, dl, _fma(-k, psi_a + psi_b, dps))
        dlam[t] = _fma(k2, (om6_a - om6_b) * (1.0 / 6.0), _fma(-k, 0.5 * (lam2_a + lam2_b), dl))
        # u_a ΔΦ + φ(u_a) - φ(u_b) = ΔΨ - (u_a - u_b) Φ(u_b)  (φ = Ψ - u Φ)
        dphi[t] = _fma(k2, _fma(ub[t] - ua[t], cdf_b, dps), _fma(-k, dp, dp))


@numba.njit(cache=True, inline="always")
def _source_assemble_g(lo, hi, top, point, ua, du, off, rs, s, dphi, t, out_g):
    """Closure "ou-cond": ``E[Y; X in bin d]`` into ``out_g[lo..hi]`` for one source, where
    ``X = U(a, a + w) + μ + Y`` and ``Y ~ N(0, s²)`` is the step's Gaussian part, from the
    edge values ``G(c) = E[Y; X < c] = -(s²/w) (Φ(u_a) - Φ(u_b))`` (``dphi`` from index
    ``t``, in the order :func:`_source_assemble` reads its edges; a point source:
    ``G = -s φ(z)``). Same boundary rules as the masses: the mass below V_low joins bin 0
    (G starts at 0), a truncated upper tail joins bin ``hi`` (G = E[Y] = 0 above it).
    Returns ``(E[Y; fired], t_next)``; the parts sum to E[Y] = 0 by telescoping.

    (From ``E[Y 1{Y < y}] = -s² φ_s(y)`` averaged over the uniform law.)"""
    g_prev = 0.0
    if lo == 0:
        t += 0 if point else 1  # G at V_low is not needed (the mass below joins bin 0)
    last = hi if hi == top else hi - 1
    for d in range(lo, hi + 1):
        if d > last:
            g = 0.0
        elif point:
            ua += du
            g = -s * _norm(ua - 0.5 * off)[1]
        else:
            g = -rs * dphi[_u(t)]
            t += 1
        out_g[_u(d)] = g - g_prev
        g_prev = g
    return -g_prev, t


def psi_lambda_omega(u):
    """Vectorised access to the tabulated (Ψ, Λ, Ω) of the linear law's edge integrals,
    for tests; returns three arrays."""
    u = np.atleast_1d(np.asarray(u, dtype=np.float64))
    out = np.empty((3, u.size))
    _psi_lambda_omega_many(u, out)
    return out[0], out[1], out[2]


@numba.njit(cache=True)
def _psi_lambda_omega_many(u, out):
    for i in range(u.size):
        psi, lam2, om6, _ = _psi_2lambda_6omega_cdf(u[i])
        out[0, i] = psi
        out[1, i] = 0.5 * lam2
        out[2, i] = om6 * (1.0 / 6.0)


# ---------------------------------------------------------------- reconstruction
@numba.njit(cache=True, inline="always")
def reconstruct(vbar, low, width):
    """Widest ``[a, a + w] ⊂ [low, low + width]`` with mean ``vbar`` (clipped into the bin)."""
    high = low + width
    if vbar <= low:
        return low, 0.0
    if vbar >= high:
        return high, 0.0
    if vbar - low <= 0.5 * width:
        return low, 2.0 * (vbar - low)
    a = 2.0 * vbar - high
    return a, high - a


# Relative width below which a bin's uniform part is treated as a point.
POINT_WIDTH = 1e-4
# Floor of the input standard deviation (voltage units); s = 0 would divide by zero.
MIN_SD = 1e-9


@numba.njit(cache=True, inline="always")
def _reconstruct_select(vbar, low, width):
    """:func:`reconstruct` without branches (selects; the same values for every ``vbar``
    that is not NaN), for the kernel's loop over source bins."""
    high = low + width
    lower = vbar - low <= 0.5 * width
    a = low if lower else 2.0 * vbar - high
    w = 2.0 * (vbar - low) if lower else high - a
    # vbar outside the bin: a point on the nearest edge (no-ops inside)
    return min(a, high), max(w, 0.0)


# Below this width relative to the input sd the linear law falls back to the uniform one
# (closure "ou-cond-linear"): its edge integrals are second divided differences, whose round-off
# grows like (s/w)², and the shape of so narrow a law moves the transported law's variance
# by less than (w/s)²/54 < 2e-4 of s².
LINEAR_MIN_WIDTH = 0.1


@numba.njit(cache=True, inline="always")
def reconstruct_linear(vbar, low, width, s):
    """The linear in-bin law of closure "ou-cond-linear": ``(a, w, κ)``, density
    ``(1 + κ t)/w`` on ``[a, a + w]`` with ``t = 2(v - a)/w - 1`` (mean ``a + w/2 + κ w/6``,
    variance ``w²/12 - κ² w²/36``).

    The bin's first-order law: the one linear density on the whole bin with mean ``vbar``
    (``κ = 6 δ/width``, δ = ``vbar`` minus the bin centre) while it is non-negative,
    ``|δ| <= width/6``; beyond, the widest triangle with that mean, its peak on the nearer
    edge (``κ = ∓1``, ``w = 3 ×`` the distance of ``vbar`` from that edge); the two agree at
    ``|δ| = width/6``. A law narrower than ``LINEAR_MIN_WIDTH × s`` (``s`` the step's input
    sd) is the uniform one of :func:`reconstruct` (κ = 0). Branch-free (selects) for the
    kernel's loop over source bins; ``vbar`` outside the bin is a point on the nearest edge.
    """
    high = low + width
    vb = min(max(vbar, low), high)
    delta = vb - _fma(0.5, width, low)
    full = abs(delta) <= width * (1.0 / 6.0)
    below = delta < 0.0
    w_tri = 3.0 * (vb - low) if below else 3.0 * (high - vb)
    w = width if full else w_tri
    kap = 6.0 * delta / width if full else (-1.0 if below else 1.0)
    a = low if (full or below) else high - w
    a_u, w_u = _reconstruct_select(vb, low, width)
    narrow = w < LINEAR_MIN_WIDTH * max(s, MIN_SD)
    return (a_u if narrow else a), (w_u if narrow else w), (0.0 if narrow else kap)


@numba.njit(cache=True, inline="always")
def _source_setup(a, w, mu, s, e0, dv, n_bins, trunc):
    """Constants of one source's transport (branch-free).

    Returns ``(lo, hi, point, n_edges, ua0, du, off, r, rs, s, c0, mean_x)``: destination
    range, whether ``U(a, a + w)`` is treated as a point, the number of edges whose F and K
    are evaluated, the standardised offset ``(c0 - a - μ)/s`` of edge ``c0 = e0 + lo dv``
    and the step between edges, ``w/s``, ``s/w`` (0 for a point), ``s²/w``, the (floored)
    sd and the mean of ``X``.
    """
    s = max(s, MIN_SD)
    point = w < POINT_WIDTH * s
    # 1/s and s/w from one division (the divider bounds the kernel's vectorised loop over
    # sources); a point gets a stand-in width, and r = 0
    ws = s if point else w
    q = 1.0 / (s * ws)
    inv_s = ws * q
    off = w * inv_s
    r = 0.0 if point else s * s * q
    rs = r * s
    du = dv * inv_s
    top = n_bins - 1
    inv_dv = 1.0 / dv
    # destination bins meeting [a + μ - T s, b + μ + T s], clamped as floats so that any
    # bound gives a valid range (a NaN bound gives bin 0 / lo: NaN then flows through u)
    lo_f = min(float(top), max(0.0, np.floor((a + mu - trunc * s - e0) * inv_dv)))
    hi_f = min(float(top), max(lo_f, np.floor((a + w + mu + trunc * s - e0) * inv_dv)))
    lo = int(lo_f)
    hi = int(hi_f)
    c0 = e0 + lo * dv
    ua0 = (c0 - a - mu) * inv_s
    # edges evaluated: e0 if lo == 0, the inner edges lo+1 .. hi, and M if hi is the top bin
    n_edges = hi - lo + (lo == 0) + (hi == top)
    return lo, hi, point, n_edges, ua0, du, off, r, rs, s, c0, a + 0.5 * w + mu


@numba.njit(cache=True, inline="always")
def _source_fill(lo, n_edges, ua, du, off, ua_buf, ub_buf, t):
    """Write ``u_a`` and ``u_b = u_a - w/s`` of the source's evaluated edges (in order, from
    ``t``) for :func:`_edge_integrals`; returns the next free index."""
    if lo != 0:  # the first evaluated edge is e0 + (lo + 1) dv
        ua += du
    for _ in range(n_edges):
        ua_buf[_u(t)] = ua
        ub_buf[_u(t)] = ua - off
        ua += du
        t += 1
    return t


@numba.njit(cache=True, inline="always")
def _edge_difference(ua, ub):
    """``(Ψ(u_a) - Ψ(u_b), Λ(u_a) - Λ(u_b))`` for one edge (scalars: inlining it costs no
    reference counts)."""
    psi_a, lam2_a = _psi_2lambda(ua)
    psi_b, lam2_b = _psi_2lambda(ub)
    return psi_a - psi_b, 0.5 * (lam2_a - lam2_b)


@numba.njit(cache=True)
def _edge_integrals(ua, ub, n, dpsi, dlam):
    """``Ψ(u_a) - Ψ(u_b)`` and ``Λ(u_a) - Λ(u_b)`` for ``n`` edges (:func:`_psi_2lambda`): a
    branch-free loop that LLVM vectorises (gathers from the table), which is most of the
    dsODE's work."""
    for t in range(n):
        dpsi[t], dlam[t] = _edge_difference(ua[t], ub[t])


@numba.njit(cache=True)
def _edge_integrals_wide(ua, ub, n, dpsi, dlam):
    """:func:`_edge_integrals` with AVX-512 vectors where the CPU has them (8 edges at a
    time, :func:`_prefer_512`; the same numbers). The deterministic kernel's edge loop:
    ~0.6 ms per biological second less on the reference preset (with the kernel's padding
    to whole vectors). The finite-size kernel keeps 256 bits: there it was ~5 % slower
    overall (its scalar sampling dominates; presumably the clock drops after 512-bit
    arithmetic). The attribute marks the function that holds the loop, hence two loops."""
    _prefer_512()
    for t in range(n):
        dpsi[t], dlam[t] = _edge_difference(ua[t], ub[t])


@numba.njit(cache=True, inline="always")
def _source_fill_linear(lo, n_edges, ua, du, off, kap, ua_buf, ub_buf, kap_buf, kr_buf, t):
    """:func:`_source_fill` of a linear law (:func:`reconstruct_linear`): also ``κ`` and
    ``κ s/w`` of the source at each of its edges (for :func:`_edge_integrals_linear_cond`)."""
    kr = kap / off if off > 0.0 else 0.0
    if lo != 0:
        ua += du
    for _ in range(n_edges):
        ua_buf[_u(t)] = ua
        ub_buf[_u(t)] = ua - off
        kap_buf[_u(t)] = kap
        kr_buf[_u(t)] = kr
        ua += du
        t += 1
    return t


@numba.njit(cache=True)
def _point_edge(ua, off, s):
    """F and K at an edge for a point source (``U(a, a + w)`` at its centre)."""
    z = ua - 0.5 * off
    cdf, pdf = _norm(z)
    return cdf, s * (z * cdf + pdf)


@numba.njit(cache=True, inline="always")
def _source_assemble(lo, hi, top, point, ua, du, off, r, rs, s, c0, dv, mean_x, dpsi, dlam,
                     t, out_p, out_m, weight, add):
    """Fractions and first moments of one source from its edges' integrals (from index
    ``t`` of the :func:`_edge_integrals` outputs; a point source evaluates its edges here).

    With ``add`` the fraction × ``weight`` and first moment × ``weight`` are added to
    ``out_p[d]`` / ``out_m[d]``, else they are stored. Returns ``(fired, t_next)``.
    F is made monotone (running maximum), the fractions are differences of it (so they
    telescope), and each first moment is clipped into its destination bin.
    """
    c_prev = c0
    f_prev = 0.0
    k_prev = 0.0
    if lo == 0:
        if point:
            f_prev, k_prev = _point_edge(ua, off, s)
        else:
            f_prev = r * dpsi[_u(t)]
            k_prev = rs * dlam[_u(t)]
            t += 1
        f_prev = min(max(f_prev, 0.0), 1.0)
    # The first destination's fraction is F(c) - 0: with lo == 0 this includes the mass
    # below V_low (F at the lowest edge), which joins bin 0 at voltage V_low.
    f_base = 0.0
    # bins lo .. last have an evaluated upper edge; if hi is not the top bin, the truncated
    # upper tail joins it: F = 1 and K = c - E[X] at its upper edge. The running maximum
    # max(min(F, 1), F_prev) equals min(max(F, F_prev), 1) as F_prev <= 1, with one
    # operation on the chain from edge to edge.
    last = hi if hi == top else hi - 1
    for d in range(lo, hi + 1):
        if d > last:
            f = 1.0
            k = c_prev + dv - mean_x
        elif point:
            ua += du
            f, k = _point_edge(ua, off, s)
            f = max(min(f, 1.0), f_prev)
        else:
            f = max(min(r * dpsi[_u(t)], 1.0), f_prev)
            k = rs * dlam[_u(t)]
            t += 1
        p = f - f_base
        # ∫_{c_prev}^{c} (F(c) - F(x)) dx = p × (mean - c_prev), in [0, p dv]
        inside = min(max(dv * f - (k - k_prev), 0.0), p * dv)
        m1 = _fma(c_prev, p, inside)
        if add:
            out_p[_u(d)] = _fma(weight, p, out_p[_u(d)])
            out_m[_u(d)] = _fma(weight, m1, out_m[_u(d)])
        else:
            out_p[_u(d)] = p
            out_m[_u(d)] = m1
        f_prev = f
        f_base = f
        k_prev = k
        c_prev = c_prev + dv
    return 1.0 - f_prev, t


@numba.njit(cache=True)
def transport_source(a, w, mu, s, e0, dv, n_bins, trunc, p_out, m_out):
    """Where the neurons of one source bin land after one step.

    Parameters
    ----------
    a, w : float
        Reconstructed uniform law ``U(a, a + w)`` of the source (after any leak).
    mu, s : float
        Mean and standard deviation of the Gaussian input.
    e0, dv, n_bins : float, float, int
        Lowest edge (V_low), bin width, number of bins; the top edge is the threshold.
    trunc : float
        Destinations beyond ``trunc`` standard deviations are skipped (mass conserved).
    p_out, m_out : ndarray, shape (n_bins,)
        Filled for bins ``lo .. hi`` with the fraction landing there and its first moment
        (fraction × mean voltage; the mean is clipped into the bin).

    Returns
    -------
    lo, hi : int
        Range of destination bins written (inclusive).
    fired : float
        Fraction at or above the threshold.

    Notes
    -----
    The kernel does the same in three passes over all source bins of a population (fill the
    edges' arguments, evaluate them all in one vectorised loop, assemble and accumulate);
    this is the one-source form.
    """
    lo, hi, point, n_edges, ua0, du, off, r, rs, s, c0, mean_x = _source_setup(
        a, w, mu, s, e0, dv, n_bins, trunc)
    n = 0 if point else n_edges
    ua = np.empty(n)
    ub = np.empty(n)
    dpsi = np.empty(n)
    dlam = np.empty(n)
    _source_fill(lo, n, ua0, du, off, ua, ub, 0)
    _edge_integrals(ua, ub, n, dpsi, dlam)
    fired, _ = _source_assemble(lo, hi, n_bins - 1, point, ua0, du, off, r, rs, s, c0, dv,
                                mean_x, dpsi, dlam, 0, p_out, m_out, 1.0, False)
    return lo, hi, fired


@numba.njit(cache=True)
def transport_source_linear(a, w, kap, mu, s, e0, dv, n_bins, trunc, p_out, m_out):
    """:func:`transport_source` of the linear law ``(1 + κ t)/w`` on ``[a, a + w]``
    (:func:`reconstruct_linear`; κ = 0 is the uniform law). Same outputs."""
    lo, hi, point, n_edges, ua0, du, off, r, rs, s, c0, mean_x = _source_setup(
        a, w, mu, s, e0, dv, n_bins, trunc)
    mean_x = _fma(kap, w * (1.0 / 6.0), mean_x)
    n = 0 if point else n_edges
    ua = np.empty(n)
    ub = np.empty(n)
    kb = np.empty(n)
    krb = np.empty(n)
    dpsi = np.empty(n)
    dlam = np.empty(n)
    dphi = np.empty(n)  # (not needed for the masses)
    _source_fill_linear(lo, n, ua0, du, off, kap, ua, ub, kb, krb, 0)
    _edge_integrals_linear_cond(ua, ub, kb, krb, n, dpsi, dlam, dphi)
    fired, _ = _source_assemble(lo, hi, n_bins - 1, point, ua0, du, off, r, rs, s, c0, dv,
                                mean_x, dpsi, dlam, 0, p_out, m_out, 1.0, False)
    return lo, hi, fired


@numba.njit(cache=True)
def _gaussian_part_source(a, w, kap, mu, s, e0, dv, n_bins, trunc, linear, g_out):
    lo, hi, point, n_edges, ua0, du, off, r, rs, s, c0, mean_x = _source_setup(
        a, w, mu, s, e0, dv, n_bins, trunc)
    n = 0 if point else n_edges
    ua = np.empty(n)
    ub = np.empty(n)
    kb = np.empty(n)
    krb = np.empty(n)
    dpsi = np.empty(n)
    dlam = np.empty(n)
    dphi = np.empty(n)
    if linear:
        _source_fill_linear(lo, n, ua0, du, off, kap, ua, ub, kb, krb, 0)
        _edge_integrals_linear_cond(ua, ub, kb, krb, n, dpsi, dlam, dphi)
    else:
        _source_fill(lo, n, ua0, du, off, ua, ub, 0)
        _edge_integrals_cond(ua, ub, n, dpsi, dlam, dphi)
    g_fire, _ = _source_assemble_g(lo, hi, n_bins - 1, point, ua0, du, off, rs, s, dphi, 0,
                                   g_out)
    return lo, hi, g_fire


def gaussian_part(vbar: float, low: float, mu: float, s: float, edges,
                  truncate_sd: float = 8.0, law: str = "uniform"):
    """``E[Y; X in bin d]`` and ``E[Y; fired]`` for a source bin (pure-Python entry, tests):
    ``X = U + μ + Y``, ``U`` the in-bin law (``law`` as in :func:`transport`), ``Y ~ N(0, s²)``
    the step's Gaussian part (closure "ou-cond"; arguments as :func:`transport`).

    Returns ``(g, g_fired)``: ``g`` of shape ``(n_bins,)`` (0 outside the evaluated range);
    ``g.sum() + g_fired`` is 0 (E[Y] = 0) to round-off.
    """
    edges = np.asarray(edges, dtype=np.float64)
    n_bins = edges.size - 1
    dv = float(edges[1] - edges[0])
    if law == "linear":
        a, w, kap = reconstruct_linear(float(vbar), float(low), dv, float(s))
    else:
        (a, w), kap = reconstruct(float(vbar), float(low), dv), 0.0
    g = np.zeros(n_bins)
    _, _, g_fire = _gaussian_part_source(a, w, kap, float(mu), float(s), float(edges[0]), dv,
                                         n_bins, float(truncate_sd), law == "linear", g)
    return g, g_fire


def bin_edges(threshold: float, dv: float, v_low: float) -> np.ndarray:
    """Bin edges from (at or below) ``v_low`` to ``threshold`` in steps of ``dv``.

    The top edge is exactly the threshold; if ``threshold - v_low`` is not a multiple of
    ``dv`` the lowest edge is moved down to the next multiple (so bins keep width ``dv``).
    """
    n_bins = int(math.ceil((threshold - v_low) / dv - 1e-9))
    return threshold - dv * np.arange(n_bins, -1, -1, dtype=np.float64)


def transport(vbar: float, low: float, mu: float, s: float, edges, truncate_sd: float = 8.0,
              law: str = "uniform"):
    """Fractions and mean voltages after one step for a source bin (pure-Python entry, tests).

    Parameters
    ----------
    vbar : float
        Mean voltage of the source bin ``[low, low + dv)``.
    low : float
        Lower edge of the source bin.
    mu, s : float
        Mean and standard deviation of the one-step Gaussian input.
    edges : array_like, shape (n_bins + 1,)
        Equally spaced bin edges, the last one the threshold.
    truncate_sd : float
        See :func:`transport_source`.
    law : {"uniform", "linear"}
        In-bin law: :func:`reconstruct` (SPEC §4) or :func:`reconstruct_linear` (closure
        "ou-cond-linear").

    Returns
    -------
    fractions : ndarray, shape (n_bins,)
    means : ndarray, shape (n_bins,)
        Mean voltage of what lands in each bin (bin centre where nothing lands).
    fired : float
    """
    edges = np.asarray(edges, dtype=np.float64)
    n_bins = edges.size - 1
    dv = float(edges[1] - edges[0])
    p = np.zeros(n_bins)
    m1 = np.zeros(n_bins)
    if law == "linear":
        a, w, kap = reconstruct_linear(float(vbar), float(low), dv, float(s))
        _, _, fired = transport_source_linear(a, w, kap, float(mu), float(s), float(edges[0]),
                                              dv, n_bins, float(truncate_sd), p, m1)
    else:
        a, w = reconstruct(float(vbar), float(low), dv)
        _, _, fired = transport_source(a, w, float(mu), float(s), float(edges[0]), dv, n_bins,
                                       float(truncate_sd), p, m1)
    centre = 0.5 * (edges[:-1] + edges[1:])
    means = np.where(p > 0, m1 / np.where(p > 0, p, 1.0), centre)
    return p, np.clip(means, edges[:-1], edges[1:]), fired  # clip: 1-ulp division round-off
