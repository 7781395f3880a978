"""Inline random numbers for numba kernels: xoshiro256** streams and exact samplers.

The stepped engine draws about five random numbers per neuron and step. Going through
numba's ``numpy.random.Generator`` costs an indirect call into numpy's bit generator per
number; the generator below is a handful of integer operations that LLVM inlines. Every
sampler is exact (no normal approximation of Poisson or binomial laws); ``tests/test_random.py``
checks each against its law.

Streams
-------
A *stream* is one row ``state[j, :4]`` of a ``uint64`` array (rows may be longer; extra words
are padding so that streams used by different threads never share a cache line). Streams are
made by :func:`make_streams` from a ``numpy.random.Generator``: 256 bits are drawn from it to
seed a xoshiro256** generator (Blackman & Vigna, 2018), and stream ``j`` is that state advanced
by ``j + 1`` jumps of 2^128 steps, so the streams never overlap. The run's single seed therefore
still determines everything.

Samplers (``s`` is a stream row)
--------------------------------
:func:`next_u64`, :func:`uniform`
    Raw 64 bits; a double uniform on [0, 1) with 53 random bits.
:func:`advance`, :func:`to_unit`
    The same on a state held in four scalars, for kernel loops that keep it in registers.
:func:`normal`
    N(0, 1) by the ziggurat method with 256 strips and Marsaglia's exact tail (Marsaglia &
    Tsang 2000, in Doornik's 2005 form that corrects the strip test); takes the tables
    :data:`ZIG_X`, :data:`ZIG_R`.
:func:`poisson_from_mode`
    Exact inversion of a uniform for Poisson(lam), starting at the mode whose pmf and CDF the
    caller supplies (tabulated); about ``0.8 sqrt(lam)`` comparisons.
:func:`poisson_ptrs`
    Hörmann's (1993) transformed rejection with squeeze, exact, for lam >= 10.
:func:`binomial_from_mode`
    Exact inversion for Binomial(n, p) starting at a tabulated mode.
:func:`binomial_btrs`
    Hörmann's (1993) transformed rejection for Binomial(n, p), exact, for n min(p, 1-p) >= 10.
:func:`poisson`, :func:`binomial`
    General-purpose exact samplers built from the above (used by the tests).
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["make_streams", "advance", "to_unit", "next_u64", "uniform", "normal", "normal_slow",
           "poisson_from_mode", "poisson_ptrs", "binomial_from_mode", "binomial_btrs", "poisson", "binomial",
           "poisson_mode_table", "binomial_mode_table", "ZIG_X", "ZIG_R", "STREAM_WORDS",
           "PTRS_MIN_LAM", "BTRS_MIN_MEAN"]

#: uint64 words per stream row (4 of state, 4 of padding: one 64-byte cache line).
STREAM_WORDS = 8
#: smallest mean for which the transformed-rejection samplers are valid.
PTRS_MIN_LAM = 10.0
BTRS_MIN_MEAN = 10.0

_U53 = 1.0 / 9007199254740992.0  # 2^-53


# ------------------------------------------------------------------------- xoshiro256**
@numba.njit(cache=True)
def _rotl(x, k):
    return (x << np.uint64(k)) | (x >> np.uint64(64 - k))


@numba.njit(cache=True, inline="always")
def advance(s0, s1, s2, s3):
    """xoshiro256** on a state held in four scalars (kept in registers by a kernel's loop,
    where an array row would be stored and reloaded around every other store): returns
    ``(output, s0, s1, s2, s3)``."""
    result = _rotl(s1 * np.uint64(5), 7) * np.uint64(9)
    t = s1 << np.uint64(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = _rotl(s3, 45)
    return result, s0, s1, s2, s3


@numba.njit(cache=True)
def next_u64(s):
    """Next 64-bit output of the xoshiro256** stream ``s`` (advances ``s[0:4]``)."""
    result, s[0], s[1], s[2], s[3] = advance(s[0], s[1], s[2], s[3])
    return result


@numba.njit(cache=True, inline="always")
def to_unit(r):
    """The double in [0, 1) made of the top 53 bits of a 64-bit output (as :func:`uniform`)."""
    return float(r >> np.uint64(11)) * _U53


@numba.njit(cache=True)
def uniform(s):
    """A double uniform on [0, 1): the top 53 bits of the next output times 2^-53."""
    return to_unit(next_u64(s))


_JUMP = np.array([0x180EC6D33CFD0ABA, 0xD5A61266F0C9392C, 0xA9582618E03FC9AA,
                  0x39ABDC4529B1661C], dtype=np.uint64)


@numba.njit(cache=True)
def _jump(s, jump):
    """Advance ``s`` by 2^128 steps (the xoshiro256 jump polynomial)."""
    t0 = np.uint64(0)
    t1 = np.uint64(0)
    t2 = np.uint64(0)
    t3 = np.uint64(0)
    for i in range(4):
        for b in range(64):
            if jump[i] & (np.uint64(1) << np.uint64(b)):
                t0 ^= s[0]
                t1 ^= s[1]
                t2 ^= s[2]
                t3 ^= s[3]
            next_u64(s)
    s[0] = t0
    s[1] = t1
    s[2] = t2
    s[3] = t3


@numba.njit(cache=True)
def _fill_streams(seed, out, jump):
    s = seed.copy()
    for j in range(out.shape[0]):
        _jump(s, jump)
        for w in range(4):
            out[j, w] = s[w]


def make_streams(rng: np.random.Generator, n_streams: int) -> np.ndarray:
    """``n_streams`` non-overlapping xoshiro256** streams seeded from ``rng``.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of the 256-bit seed (four uint64 draws; redrawn in the impossible-in-practice
        case that all are zero, the one forbidden xoshiro state).
    n_streams : int
        Number of streams.

    Returns
    -------
    ndarray of uint64, shape (n_streams, STREAM_WORDS)
        Row j is the seed state advanced by (j + 1) * 2^128 steps; words 4.. are padding.
    """
    seed = np.zeros(4, np.uint64)
    while not seed.any():
        seed = rng.integers(0, np.iinfo(np.uint64).max, size=4, dtype=np.uint64,
                            endpoint=True)
    out = np.zeros((max(int(n_streams), 0), STREAM_WORDS), np.uint64)
    _fill_streams(seed, out, _JUMP)
    return out


# ----------------------------------------------------------------------------- normal
def _ziggurat_tables(n=256, r=3.6541528853610088, v=4.92867323399e-3):
    """Strip edges x[0..n] (x[0] = v / f(r) is the base strip's width, x[n] = 0) and the
    ratios x[i+1] / x[i] of Marsaglia & Tsang's ziggurat for f(x) = exp(-x^2/2)."""
    x = np.zeros(n + 1)
    x[0] = v / math.exp(-0.5 * r * r)
    x[1] = r
    for i in range(2, n):
        x[i] = math.sqrt(-2.0 * math.log(v / x[i - 1] + math.exp(-0.5 * x[i - 1] ** 2)))
    x[n] = 0.0
    return x, x[1:] / x[:-1]


#: ziggurat strip edges (257,) and rectangle ratios (256,) for :func:`normal`.
ZIG_X, ZIG_R = _ziggurat_tables()
_ZIG_RMAX = 3.6541528853610088


@numba.njit(cache=True)
def normal_slow(s, i, u, zx, zr):
    """The rare ziggurat branches for strip ``i`` and signed uniform ``u`` (about 1 % of draws);
    returns a normal, drawing afresh from ``s`` after a rejection."""
    while True:
        if i == 0:  # tail beyond r, exact (Marsaglia 1964)
            while True:
                x = math.log(1.0 - uniform(s)) / _ZIG_RMAX
                y = math.log(1.0 - uniform(s))
                if -2.0 * y >= x * x:
                    break
            return x - _ZIG_RMAX if u < 0.0 else _ZIG_RMAX - x
        x = u * zx[i]
        f0 = math.exp(-0.5 * (zx[i] * zx[i] - x * x))
        f1 = math.exp(-0.5 * (zx[i + 1] * zx[i + 1] - x * x))
        if f1 + uniform(s) * (f0 - f1) < 1.0:
            return x
        r = next_u64(s)
        i = int(r & np.uint64(255))
        u = 2.0 * (float(r >> np.uint64(11)) * _U53) - 1.0
        if abs(u) < zr[i]:
            return u * zx[i]


@numba.njit(cache=True)
def normal(s, zx, zr):
    """A standard normal N(0, 1) from stream ``s`` (ziggurat, exact).

    ``zx, zr`` are :data:`ZIG_X` and :data:`ZIG_R` (passed in: numba reads argument arrays
    much faster than global ones). One 64-bit draw gives the strip (low 8 bits) and the signed
    uniform (top 53 bits); 98.5 % of draws end in the rectangle test.
    """
    r = next_u64(s)
    i = int(r & np.uint64(255))
    u = 2.0 * (float(r >> np.uint64(11)) * _U53) - 1.0
    if abs(u) < zr[i]:
        return u * zx[i]
    return normal_slow(s, i, u, zx, zr)


# ---------------------------------------------------------------------------- Poisson
@numba.njit(cache=True)
def poisson_from_mode(u, lam, mode, pmf_mode, cdf_mode):
    """The Poisson(lam) value whose CDF interval contains ``u`` (exact inversion).

    ``mode = floor(lam)``, ``pmf_mode`` and ``cdf_mode`` its pmf and CDF (from a table). The
    search walks from the mode: about ``0.8 sqrt(lam)`` steps.
    """
    k = mode
    p = pmf_mode
    acc = cdf_mode
    if u < acc:
        while k > 0 and acc - p > u:
            acc -= p
            p *= k / lam
            k -= 1
    else:
        while acc <= u and p > 0.0:
            k += 1
            p *= lam / k
            acc += p
    return k


@numba.njit(cache=True)
def poisson_ptrs(s, lam):
    """Poisson(lam) for lam >= 10 by transformed rejection with squeeze (Hörmann 1993, PTRS).

    Exact: the squeeze only accepts points under the hat that are also under the pmf, and the
    full test compares with ``-lam + k log(lam) - log(k!)``. About 1.1 uniform pairs per draw,
    a logarithm only in ~14 % of them.
    """
    slam = math.sqrt(lam)
    loglam = math.log(lam)
    b = 0.931 + 2.53 * slam
    a = -0.059 + 0.02483 * b
    invalpha = 1.1239 + 1.1328 / (b - 3.4)
    vr = 0.9277 - 3.6224 / (b - 2.0)
    while True:
        U = uniform(s) - 0.5
        V = uniform(s)
        us = 0.5 - abs(U)
        k = math.floor((2.0 * a / us + b) * U + lam + 0.43)
        if us >= 0.07 and V <= vr:
            return int(k)
        if k < 0 or (us < 0.013 and V > us):
            continue
        if (math.log(V) + math.log(invalpha) - math.log(a / (us * us) + b)
                <= -lam + k * loglam - math.lgamma(k + 1.0)):
            return int(k)


@numba.njit(cache=True)
def poisson(s, lam):
    """Poisson(lam), exact: inversion from 0 for lam < 10, PTRS above."""
    if lam <= 0.0:
        return 0
    if lam >= PTRS_MIN_LAM:
        return poisson_ptrs(s, lam)
    u = uniform(s)
    k = 0
    p = math.exp(-lam)
    acc = p
    while acc <= u and p > 0.0:
        k += 1
        p *= lam / k
        acc += p
    return k


def poisson_mode_table(lam):
    """``(mode, pmf(mode), cdf(mode))`` of Poisson(lam) for an array of means (scipy)."""
    from scipy.stats import poisson as _poisson

    lam = np.asarray(lam, float)
    mode = np.floor(lam)
    return mode.astype(np.int64), _poisson.pmf(mode, lam), _poisson.cdf(mode, lam)


# --------------------------------------------------------------------------- binomial
@numba.njit(cache=True)
def binomial_from_mode(u, n, odds, mode, pmf_mode, cdf_mode):
    """The Binomial(n, p) value whose CDF interval contains ``u`` (exact inversion), walking
    from the tabulated ``mode`` with pmf and CDF there; ``odds = p / (1 - p)``."""
    k = mode
    p = pmf_mode
    acc = cdf_mode
    if u < acc:
        while k > 0 and acc - p > u:
            acc -= p
            p *= k / ((n - k + 1) * odds)
            k -= 1
    else:
        while acc <= u and k < n and p > 0.0:
            p *= (n - k) * odds / (k + 1)
            k += 1
            acc += p
    return k


@numba.njit(cache=True)
def binomial_btrs(s, n, p):
    """Binomial(n, p) by transformed rejection with squeeze (Hörmann 1993, BTRS), exact.

    Valid for ``n min(p, 1 - p) >= 10``; p > 1/2 is drawn as n - Binomial(n, 1 - p).
    """
    flip = p > 0.5
    if flip:
        p = 1.0 - p
    q = 1.0 - p
    spq = math.sqrt(n * p * q)
    b = 1.15 + 2.53 * spq
    a = -0.0873 + 0.0248 * b + 0.01 * p
    c = n * p + 0.5
    alpha = (2.83 + 5.1 / b) * spq
    vr = 0.92 - 4.2 / b
    lpq = math.log(p / q)
    m = math.floor((n + 1) * p)
    h = math.lgamma(m + 1.0) + math.lgamma(n - m + 1.0)
    while True:
        U = uniform(s) - 0.5
        V = uniform(s)
        us = 0.5 - abs(U)
        k = math.floor((2.0 * a / us + b) * U + c)
        if k < 0 or k > n:
            continue
        if us >= 0.07 and V <= vr:
            break
        V = math.log(V * alpha / (a / (us * us) + b))
        if V <= h - math.lgamma(k + 1.0) - math.lgamma(n - k + 1.0) + (k - m) * lpq:
            break
    k = int(k)
    return n - k if flip else k


@numba.njit(cache=True)
def binomial(s, n, p):
    """Binomial(n, p), exact: inversion from 0 when n min(p, 1-p) < 10, BTRS otherwise."""
    if n <= 0 or p <= 0.0:
        return 0
    if p >= 1.0:
        return n
    if n * min(p, 1.0 - p) >= BTRS_MIN_MEAN:
        return binomial_btrs(s, n, p)
    flip = p > 0.5
    pp = 1.0 - p if flip else p
    odds = pp / (1.0 - pp)
    u = uniform(s)
    k = 0
    pk = math.exp(n * math.log1p(-pp))
    acc = pk
    while acc <= u and k < n and pk > 0.0:
        pk *= (n - k) * odds / (k + 1)
        k += 1
        acc += pk
    return n - k if flip else k


def binomial_mode_table(n, p):
    """``(mode, pmf(mode), cdf(mode))`` of Binomial(n, p) for an array of n (scipy).

    The mode used is ``floor(n p)``, any start point works for the inversion."""
    from scipy.stats import binom

    n = np.asarray(n, np.int64)
    mode = np.floor(n * p)
    return mode.astype(np.int64), binom.pmf(mode, n, p), binom.cdf(mode, n, p)
