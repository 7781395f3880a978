"""λ_Q(t) inside numba kernels: a flat table of a stimulus's terms and its evaluation.

The event-driven engine needs the rate at arbitrary times (thinning accepts a proposed
external kick at time t with probability ``λ_Q(t) / λ̂_Q``, ``λ̂_Q`` the upper bound of the
current step from :meth:`snnreduce.stimulus.Stimulus.step_bounds`). :func:`kernel_table`
writes the resolved shapes of both populations into one float array that
:func:`rate_at` evaluates with the formulas of :mod:`snnreduce.stimulus` (the tests compare
the two to round-off). :func:`thinned_kicks` is the reference sampler of the inhomogeneous
Poisson train of one neuron by thinning with per-step bounds — the loop the Markov engine
will run per population, with ``act_Q`` neurons multiplying both rates.

Table rows: ``[population, kind, p0, p1, p2, p3]`` with

=======  ======  ==========  ===========  ===========
kind     p0      p1          p2           p3
=======  ======  ==========  ===========  ===========
CONST    rate
STEP     at      amp         duration     period
SINE     amp     ω (rad/ms)  mean         phase (rad)
RAMP     start   stop        amp
SAMPLED  start   width       first index  count
=======  ======  ==========  ===========  ===========

(a SAMPLED term's values are ``samples[first index : first index + count]``).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from .params import POPULATIONS
from .stimulus import _SNAP, Const, Ramp, Sampled, Sine, Step

__all__ = ["kernel_table", "rate_at", "thinned_kicks", "CONST", "STEP", "SINE", "RAMP",
           "SAMPLED"]

CONST, STEP, SINE, RAMP, SAMPLED = range(5)
_COLUMNS = 6


def kernel_table(stimulus, params) -> tuple[np.ndarray, np.ndarray]:
    """``(table, samples)``: the resolved shapes of E and I (unset populations and ``lambda``
    terms as ``CONST`` rows of ``params.lam(Q)``) as float64 arrays for :func:`rate_at`."""
    rows, samples = [], []
    for q, shape in enumerate(stimulus.resolved(params)[p] for p in POPULATIONS):
        for term in shape.terms:
            if isinstance(term, Const):
                rows.append([q, CONST, term.rate, 0.0, 0.0, 0.0])
            elif isinstance(term, Step):
                rows.append([q, STEP, term.at, term.amp, term.duration, term.period])
            elif isinstance(term, Sine):
                rows.append([q, SINE, term.amp, term.omega, term.mean, math.radians(term.phase)])
            elif isinstance(term, Ramp):
                rows.append([q, RAMP, term.start, term.stop, term.amp, 0.0])
            elif isinstance(term, Sampled):
                first = sum(len(s) for s in samples)
                rows.append([q, SAMPLED, term.start, term.width, first, len(term.values)])
                samples.append(term.values)
            else:  # pragma: no cover - every shape is listed above
                raise TypeError(f"no kernel form for {type(term).__name__}")
    table = np.array(rows, dtype=np.float64).reshape(-1, _COLUMNS)
    flat = np.concatenate([np.asarray(s, dtype=np.float64) for s in samples]) if samples \
        else np.zeros(1)
    return table, flat


@numba.njit(cache=True)
def rate_at(table, samples, q, t):
    """λ_q(t), kicks/ms, from a :func:`kernel_table` (q = 0 for E, 1 for I; t in ms)."""
    total = 0.0
    for j in range(table.shape[0]):
        if table[j, 0] != q:
            continue
        kind = int(table[j, 1])
        p0, p1, p2, p3 = table[j, 2], table[j, 3], table[j, 4], table[j, 5]
        if kind == CONST:
            total += p0
        elif kind == STEP:
            if t >= p0:
                u = t - p0
                if not math.isinf(p3):
                    u -= math.floor(u / p3) * p3
                if u < p2:
                    total += p1
        elif kind == SINE:
            total += p2 + p0 * math.sin(p1 * t + p3)
        elif kind == RAMP:
            x = (t - p0) / (p1 - p0)
            total += p2 * min(1.0, max(0.0, x))
        else:
            u = (t - p0) / p1
            r = math.floor(u + 0.5)
            if abs(u - r) <= _SNAP * max(1.0, abs(u)):
                u = r
            k = int(math.floor(u))
            if 0 <= k < int(p3):
                total += samples[int(p2) + k]
    return total


@numba.njit(cache=True)
def thinned_kicks(table, samples, q, bounds, dt, t_end, rng, out):
    """Kick times of one neuron driven at λ_q(t) on ``[0, t_end)``: exact thinning.

    In step i the proposals are a Poisson process of rate ``bounds[i]`` (>= λ_q on the step;
    :meth:`Stimulus.step_bounds`), each kept with probability ``λ_q(t) / bounds[i]``; a
    proposal beyond the step's end is discarded and the draw restarts at the boundary
    (memoryless, so exact). Writes the times into ``out`` and returns how many (stops when
    ``out`` is full).
    """
    n = 0
    t = 0.0
    i = 0
    n_steps = bounds.shape[0]
    while i < n_steps and n < out.size:
        end = min((i + 1) * dt, t_end)
        bound = bounds[i]
        if bound > 0.0:
            t += rng.exponential() / bound
        else:
            t = end
        if t >= end:
            i += 1
            t = i * dt
            continue
        if rng.random() * bound < rate_at(table, samples, q, t):
            out[n] = t
            n += 1
    return n
