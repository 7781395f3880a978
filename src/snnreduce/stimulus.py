"""Time-varying external drive: the kick rate λ_Q(t) ≥ 0 (kicks/ms) of each population.

Today every engine drives population Q with unit kicks at the constant rate ``λ_Q``
(``params.lambda_e``, ``params.lambda_i``). A :class:`Stimulus` replaces that constant by a
function of time for the populations it names; the others keep their constant. The meaning
is the same for every model (``docs/stimuli.md``): the external kicks of a neuron of Q are an
inhomogeneous Poisson process of intensity λ_Q(t). Stepped engines use the mean of λ_Q over
each step ``[i dt, (i+1) dt)`` (:meth:`Stimulus.step_rates`: the exact integral over the
step divided by dt, which is what a Poisson count per step needs); the event-driven engine
uses λ_Q(t) itself (:meth:`Shape.integral` for time rescaling, :meth:`Shape.bounds` for
thinning).

Shapes
------
Small immutable objects; every time is in ms, every rate in kicks/ms, frequencies in Hz,
phases in degrees. A population's drive is one shape or a sum of shapes (``a + b``); the
terms add, so each shape except :class:`Const` and :class:`Baseline` is 0 where it is "off".

==========  ===========================================  =====================================
grammar     object                                       λ(t)
==========  ===========================================  =====================================
lambda      ``Baseline()``                               the population's constant λ_Q from the
                                                         parameters (so ``--set lambda_e=…``
                                                         still moves the operating point)
const(7)    ``Const(rate=7)``                            7
step(...)   ``Step(at, amp, duration=inf, period=inf)``  ``amp`` on ``[at + k period,
                                                         at + k period + duration)``, k ≥ 0,
                                                         else 0 (a step, a pulse, a pulse
                                                         train)
sine(...)   ``Sine(amp, hz, mean=0, phase=0)``           ``mean + amp sin(2π hz t/1000 +
                                                         phase·π/180)``
ramp(...)   ``Ramp(start, stop, amp)``                   0 before ``start``, linear to ``amp``
                                                         at ``stop``, ``amp`` after
sampled     ``Sampled(values, width, start=0)``          ``values[k]`` on ``[start + k width,
                                                         start + (k+1) width)``, 0 outside
                                                         (a run must lie inside the samples)
==========  ===========================================  =====================================

Grammar
-------
Parsed by a small hand-written recursive-descent parser (:func:`parse_stimulus`,
:func:`parse_shape`), never by ``eval``; whitespace is ignored::

    stimulus := spec (";" spec)*
    spec     := POPULATION ":" expr              POPULATION is E or I
    expr     := term ("+" term)*
    term     := "lambda" ["()"] | NAME "(" [arg ("," arg)*] ")"
    arg      := [KEY "="] value                  positional: in the order of the table's fields
    value    := NUMBER | "[" NUMBER ("," NUMBER)* "]"      (a list only for sampled values)

NUMBER is anything Python's ``float`` reads (``7``, ``-0.5``, ``1e3``, ``inf`` where a field
allows it). Examples::

    E:lambda+step(at=500,amp=2)          λ_E from the parameters, +2 kicks/ms from 500 ms
    I:sine(mean=7,amp=2,hz=40)
    E:const(7)+sine(amp=1,hz=10)
    E:const(7)+step(at=200,amp=3,duration=50,period=250)     a pulse train
    E:sampled(width=1,values=[7,7.5,8,7.5])

``str()`` of a shape or stimulus writes this grammar back, fields at their defaults left out
and numbers as Python's shortest round-tripping ``repr``: ``parse_stimulus(str(s)) == s``.
(A step is written with its change ``amp``, not a target level: terms add, and the level
before the step is the other terms', ``lambda`` or ``const``.)

Files and sweeps
----------------
:meth:`Stimulus.to_dict` gives ``{"E": [{"shape": "sine", "amp": 1.0, "hz": 10.0}, …]}`` for
TOML/JSON parameter files (:meth:`Stimulus.from_dict` also reads ``{"E": "const(7)+…"}``), and
:meth:`Stimulus.to_json` the JSON string stored in NetCDF attributes. Every scalar field is
sweepable under the name ``stimulus.<POP>.<shape>.<field>`` (``stimulus.E.sine.hz``); a shape
name that occurs twice in one sum is numbered from its second occurrence (``sine2``), and
``stimulus.<POP>.<field>`` is accepted when exactly one term has that field
(``stimulus.E.hz``). :meth:`Stimulus.with_value` returns the changed, revalidated copy;
:meth:`Stimulus.values` lists every name with its value.

Validation
----------
Fields are checked when a shape is made (finite numbers, ``hz > 0``, ``stop > start``, …);
:meth:`Stimulus.check` checks a stimulus against a run: frequencies at most the Nyquist limit
``1 / (2 dt)``, sampled values covering the run, and λ_Q(t) ≥ 0 at every time of the run's
whole steps ``[0, ceil(t_end / dt) dt)`` (found exactly, by interval bounds; the error names
the population and the first time it fails). Every problem is one :class:`~snnreduce.params.ParameterError` line.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping

import numpy as np

from ._resume import step_bounds as _grid_edges
from ._steps import n_steps_of
from .params import POPULATIONS, ParameterError

__all__ = ["Shape", "Baseline", "Const", "Step", "Sine", "Ramp", "Sampled", "Sum", "Stimulus",
           "SHAPES", "parse_shape", "parse_stimulus", "as_stimulus", "stimulus_of",
           "external_drive", "field_attrs", "FIELD_UNITS"]

_INF = math.inf
# Rates below -_NEG_TOL * (scale of the terms) count as negative: a sine touching 0 from above
# stays allowed despite round-off.
_NEG_TOL = 1e-12
# Sample positions within this relative distance of a sample edge are put on the edge, so that a
# grid step inside one sample gets exactly that sample's value.
_SNAP = 1e-9


def _step_edges(dt: float, n_steps: int, t_start: float,
                t_origin: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (ms) of the ``n_steps`` steps from ``t_start`` on the grid
    ``t_origin + k dt`` with the global ``k`` — the edges every engine uses, so that a
    continued run's rates are bit for bit one long run's. ``t_start`` must lie on the grid
    (to 1e-6 of a step) at or after ``t_origin``."""
    if t_origin is None:
        return _grid_edges(float(t_start), 0, dt, n_steps)
    origin = _number("t_origin", t_origin, "a finite number of ms >= 0", lambda x: x >= 0)
    first = round((float(t_start) - origin) / dt)
    if first < 0 or abs(origin + first * dt - float(t_start)) > 1e-6 * dt:
        raise ParameterError(
            f"t_start = {float(t_start):.12g} ms is not on the step grid t_origin + k dt of the "
            f"run it continues (t_origin = {origin:.12g} ms, dt = {dt:g} ms, k >= 0)")
    return _grid_edges(origin, first, dt, n_steps)


# ---------------------------------------------------------------------------------------------
# field checks
# ---------------------------------------------------------------------------------------------

def _number(where: str, value, allowed: str, ok=lambda x: True, *, infinite=False) -> float:
    """``float(value)`` or a one-line ParameterError "WHERE must be ALLOWED, got VALUE"."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ParameterError(f"{where} must be a number {allowed}, got {value!r}")
    x = float(value)
    if math.isnan(x) or (math.isinf(x) and not infinite) or not ok(x):
        raise ParameterError(f"{where} must be {allowed}, got {value!r}")
    return x


def _as_array(x) -> tuple[np.ndarray, bool]:
    a = np.asarray(x, dtype=np.float64)
    return a, a.ndim == 0


def _out(a: np.ndarray, scalar: bool):
    return float(a) if scalar else a


# ---------------------------------------------------------------------------------------------
# shapes
# ---------------------------------------------------------------------------------------------

class Shape:
    """A rate λ(t) (kicks/ms) of one population; add shapes with ``+``.

    Subclasses are frozen dataclasses whose fields are the grammar's keywords, in the order
    positional arguments take them. Every method takes scalars or arrays (broadcast) of times
    in ms and returns a float or a float64 array.
    """

    #: name in the grammar
    name: ClassVar[str] = ""

    # ---- the four evaluations engines need -----------------------------------------------
    def rate_at(self, t):
        """λ(t), kicks/ms."""
        a, scalar = _as_array(t)
        return _out(self._rate(a), scalar)

    def integral(self, t0, t1):
        """Exact ``∫_{t0}^{t1} λ(t) dt`` (expected kicks per neuron), for ``t1 >= t0``."""
        a, scalar = _as_array(t0)
        b, s2 = _as_array(t1)
        a, b = np.broadcast_arrays(a, b)
        return _out(self._mean(a, b) * (b - a), scalar and s2)

    def mean_over(self, t0, t1):
        """Mean rate over ``[t0, t1]``, kicks/ms: the exact integral divided by ``t1 - t0``
        (> 0). A constant term contributes its value exactly (no round-off)."""
        a, scalar = _as_array(t0)
        b, s2 = _as_array(t1)
        a, b = np.broadcast_arrays(a, b)
        return _out(self._mean(a, b), scalar and s2)

    def bounds(self, t0, t1):
        """``(lower, upper)``: bounds of λ(t) over ``t0 <= t < t1`` (the point t0 if
        ``t1 == t0``), kicks/ms; the upper bound is what thinning proposes from. Exact for a
        single term (up to round-off of the continuous ones); the sum of the terms' bounds for
        a :class:`Sum`."""
        a, scalar = _as_array(t0)
        b, s2 = _as_array(t1)
        a, b = np.broadcast_arrays(a, b)
        lo, hi = self._bounds(a, b)
        return _out(lo, scalar and s2), _out(hi, scalar and s2)

    def step_means(self, dt: float, n_steps: int, *, t_start: float = 0.0) -> np.ndarray:
        """Mean rate over each of the ``n_steps`` steps ``[t_start + i dt, t_start + (i+1) dt)``
        (a continued run's grid: :meth:`Stimulus.step_rates`' ``t_origin``).

        Returns
        -------
        ndarray of float64, shape (n_steps,)
            kicks/ms; times ``dt`` the expected external kicks per neuron and step.
        """
        return self._mean(*_step_edges(dt, n_steps, t_start, None))

    # ---- structure -----------------------------------------------------------------------
    @property
    def terms(self) -> tuple["Shape", ...]:
        """The terms of the sum (a single shape: itself)."""
        return (self,)

    @property
    def max_hz(self) -> float:
        """Highest frequency among the terms, Hz (0 if none oscillates)."""
        return max((t.hz for t in self.terms if isinstance(t, Sine)), default=0.0)

    def resolved(self, baseline: float) -> "Shape":
        """This shape with every :class:`Baseline` term replaced by ``Const(baseline)``."""
        terms = [Const(rate=baseline) if isinstance(t, Baseline) else t for t in self.terms]
        return terms[0] if len(terms) == 1 else Sum(tuple(terms))

    @property
    def is_constant(self) -> bool:
        """True if λ(t) does not depend on t (only Const / Baseline terms)."""
        return all(isinstance(t, (Const, Baseline)) for t in self.terms)

    def __add__(self, other):
        if not isinstance(other, Shape):
            return NotImplemented
        return Sum(self.terms + other.terms)

    def __radd__(self, other):
        if other == 0:          # sum([...]) starts from 0
            return self
        return NotImplemented

    # ---- text and dicts --------------------------------------------------------------------
    def __str__(self) -> str:
        args = ",".join(f"{k}={_format_value(v)}" for k, v in self._non_defaults().items())
        return f"{self.name}({args})"

    def to_dict(self) -> list[dict[str, Any]]:
        """The terms as plain dicts ``{"shape": name, field: value, …}`` (defaults left out)."""
        out = []
        for term in self.terms:
            d = {"shape": term.name}
            for k, v in term._non_defaults().items():
                d[k] = list(v) if isinstance(v, tuple) else v
            out.append(d)
        return out

    def _non_defaults(self) -> dict[str, Any]:
        out = {}
        for f in dataclasses.fields(self):
            if not f.init:
                continue
            value = getattr(self, f.name)
            if f.default is not dataclasses.MISSING and value == f.default:
                continue
            out[f.name] = value
        return out

    # ---- per shape -------------------------------------------------------------------------
    def _rate(self, t):  # pragma: no cover - abstract
        raise NotImplementedError

    def _mean(self, a, b):  # pragma: no cover - abstract
        raise NotImplementedError

    def _bounds(self, a, b):  # pragma: no cover - abstract
        raise NotImplementedError

    def _scale(self) -> float:
        """A typical magnitude of the term's values (for the round-off tolerance)."""
        return 0.0


@dataclass(frozen=True, kw_only=True)
class Baseline(Shape):
    """The population's constant external rate λ_Q from the parameters (grammar ``lambda``).

    It has no value of its own: :meth:`Stimulus.resolved` replaces it by
    ``Const(params.lam(Q))``; evaluating it unresolved is an error.
    """

    name: ClassVar[str] = "lambda"

    def __str__(self) -> str:
        return "lambda"

    def _unresolved(self, *args):
        raise ParameterError("the 'lambda' stimulus term is the parameters' lambda_e / lambda_i: "
                             "resolve it first (Stimulus.resolved(params) or "
                             "shape.resolved(lam))")

    _rate = _mean = _bounds = _unresolved


@dataclass(frozen=True, kw_only=True)
class Const(Shape):
    """A constant rate ``rate`` (kicks/ms)."""

    name: ClassVar[str] = "const"
    rate: float

    def __post_init__(self):
        object.__setattr__(self, "rate", _number("const.rate", self.rate, "a finite number (kicks/ms)"))

    def __str__(self) -> str:
        return f"const({_format_value(self.rate)})"

    def _rate(self, t):
        return np.full(np.shape(t), self.rate)

    def _mean(self, a, b):
        return np.full(np.shape(a), self.rate)

    def _bounds(self, a, b):
        v = np.full(np.shape(a), self.rate)
        return v, v.copy()

    def _scale(self):
        return abs(self.rate)


@dataclass(frozen=True, kw_only=True)
class Step(Shape):
    """``amp`` kicks/ms on ``[at + k period, at + k period + duration)`` for k = 0, 1, …;
    0 elsewhere. ``duration=inf`` is a step that stays on; ``period=inf`` a single pulse.

    Parameters
    ----------
    at : float
        Onset of the first pulse, ms.
    amp : float
        Change of the rate while on, kicks/ms (negative: a step down).
    duration : float
        Length of each pulse, ms (> 0; default inf).
    period : float
        Onset-to-onset interval of a pulse train, ms (``>= duration``; default inf).
    """

    name: ClassVar[str] = "step"
    at: float
    amp: float
    duration: float = _INF
    period: float = _INF

    def __post_init__(self):
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731
        set_("at", _number("step.at", self.at, "a finite number (ms)"))
        set_("amp", _number("step.amp", self.amp, "a finite number (kicks/ms)"))
        set_("duration", _number("step.duration", self.duration, "> 0 (ms; inf: stays on)",
                                 lambda x: x > 0, infinite=True))
        set_("period", _number("step.period", self.period, "> 0 (ms; inf: one pulse)",
                               lambda x: x > 0, infinite=True))
        if self.period < self.duration:
            raise ParameterError(f"step.period must be >= step.duration = {self.duration:g} ms "
                                 f"(pulses may not overlap), got {self.period!r}")

    def _phase(self, t):
        """(pulse index k, time since the onset of pulse k) of times ``t >= at``."""
        u = t - self.at
        if math.isinf(self.period):
            return np.zeros_like(u), u
        k = np.floor(u / self.period)
        return k, u - k * self.period

    def _on(self, t):
        k, r = self._phase(t)
        return (t >= self.at) & (r < self.duration)

    def _on_time(self, t):
        """Time spent on in ``[at, t]``, ms (0 before the onset)."""
        k, r = self._phase(np.maximum(t, self.at))
        done = 0.0 if math.isinf(self.period) else k * self.duration  # earlier pulses
        return np.where(t > self.at, done + np.minimum(r, self.duration), 0.0)

    def _rate(self, t):
        return np.where(self._on(t), self.amp, 0.0)

    def _inside_outside(self, a, b):
        """(whole ``[a, b)`` on, whole ``[a, b)`` off, time on in it) per interval."""
        k, _ = self._phase(np.maximum(a, self.at))
        start = self.at if math.isinf(self.period) else self.at + k * self.period
        inside = self._on(a) & (b <= start + self.duration)
        on_time = self._on_time(b) - self._on_time(a)
        outside = (on_time <= 0.0) & ~self._on(a)
        return inside, outside, on_time

    def _mean(self, a, b):
        inside, outside, on_time = self._inside_outside(a, b)
        with np.errstate(invalid="ignore", divide="ignore"):
            frac = np.where(inside, 1.0, np.where(outside, 0.0, on_time / (b - a)))
        return self.amp * np.clip(frac, 0.0, 1.0)

    def _bounds(self, a, b):
        inside, outside, _ = self._inside_outside(a, b)
        lo = np.where(inside, self.amp, np.where(outside, 0.0, min(0.0, self.amp)))
        hi = np.where(inside, self.amp, np.where(outside, 0.0, max(0.0, self.amp)))
        return lo, hi

    def _scale(self):
        return abs(self.amp)


@dataclass(frozen=True, kw_only=True)
class Sine(Shape):
    """``mean + amp sin(2π hz t / 1000 + phase π / 180)`` kicks/ms (t in ms).

    Parameters
    ----------
    amp : float
        Amplitude, kicks/ms.
    hz : float
        Frequency, Hz (> 0; at most the Nyquist limit ``500 / dt`` of the run).
    mean : float
        Offset, kicks/ms (default 0: a modulation added to other terms).
    phase : float
        Phase at t = 0, degrees.
    """

    name: ClassVar[str] = "sine"
    amp: float
    hz: float
    mean: float = 0.0
    phase: float = 0.0

    def __post_init__(self):
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731
        set_("amp", _number("sine.amp", self.amp, "a finite number (kicks/ms)"))
        set_("hz", _number("sine.hz", self.hz, "a finite number > 0 (Hz)", lambda x: x > 0))
        set_("mean", _number("sine.mean", self.mean, "a finite number (kicks/ms)"))
        set_("phase", _number("sine.phase", self.phase, "a finite number (degrees)"))

    @property
    def omega(self) -> float:
        """Angular frequency, rad/ms."""
        return 2.0 * math.pi * self.hz / 1000.0

    def _theta(self, t):
        return self.omega * t + math.radians(self.phase)

    def _rate(self, t):
        return self.mean + self.amp * np.sin(self._theta(t))

    def _mean(self, a, b):
        # (cos θa - cos θb) / (ω (b - a)) = sin(θ_mid) sinc(ω (b - a) / 2): no cancellation
        half = 0.5 * self.omega * (b - a)
        return self.mean + self.amp * np.sin(self._theta(0.5 * (a + b))) * np.sinc(half / np.pi)

    def _bounds(self, a, b):
        ta, tb = self._theta(a), self._theta(b)
        sa, sb = np.sin(ta), np.sin(tb)
        two_pi = 2.0 * math.pi
        has_max = np.floor((tb - 0.5 * math.pi) / two_pi) >= np.ceil((ta - 0.5 * math.pi) / two_pi)
        has_min = np.floor((tb + 0.5 * math.pi) / two_pi) >= np.ceil((ta + 0.5 * math.pi) / two_pi)
        s_hi = np.where(has_max, 1.0, np.maximum(sa, sb))
        s_lo = np.where(has_min, -1.0, np.minimum(sa, sb))
        if self.amp >= 0:
            return self.mean + self.amp * s_lo, self.mean + self.amp * s_hi
        return self.mean + self.amp * s_hi, self.mean + self.amp * s_lo

    def _scale(self):
        return abs(self.mean) + abs(self.amp)


@dataclass(frozen=True, kw_only=True)
class Ramp(Shape):
    """0 before ``start``, rising linearly to ``amp`` at ``stop`` (ms), ``amp`` after."""

    name: ClassVar[str] = "ramp"
    start: float
    stop: float
    amp: float

    def __post_init__(self):
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731
        set_("start", _number("ramp.start", self.start, "a finite number (ms)"))
        set_("stop", _number("ramp.stop", self.stop, "a finite number (ms)"))
        set_("amp", _number("ramp.amp", self.amp, "a finite number (kicks/ms)"))
        if not self.stop > self.start:
            raise ParameterError(f"ramp.stop must be > ramp.start = {self.start:g} ms, "
                                 f"got {self.stop!r}")

    def _rate(self, t):
        return self.amp * np.clip((t - self.start) / (self.stop - self.start), 0.0, 1.0)

    def _area(self, t):
        """``∫_{-inf}^t`` of the unit ramp, ms."""
        span = self.stop - self.start
        u = np.clip(t - self.start, 0.0, span)
        return 0.5 * u * u / span + np.maximum(t - self.stop, 0.0)

    def _mean(self, a, b):
        with np.errstate(invalid="ignore", divide="ignore"):
            mid = (self._area(b) - self._area(a)) / (b - a)
        return self.amp * np.where(b <= self.start, 0.0, np.where(a >= self.stop, 1.0, mid))

    def _bounds(self, a, b):
        ra, rb = self._rate(a), self._rate(b)   # monotone: extremes at the ends
        return np.minimum(ra, rb), np.maximum(ra, rb)

    def _scale(self):
        return abs(self.amp)


@dataclass(frozen=True, kw_only=True)
class Sampled(Shape):
    """Samples held piecewise constant: ``values[k]`` on ``[start + k width,
    start + (k+1) width)``, 0 outside (a run using it must lie inside the samples).

    Parameters
    ----------
    values : sequence of float, shape (n_samples,)
        Rates, kicks/ms.
    width : float
        Time each sample is held, ms (> 0; the run's dt or coarser, or finer: the step means
        are exact integrals in every case).
    start : float
        Start of the first sample, ms.
    """

    name: ClassVar[str] = "sampled"
    values: tuple[float, ...]
    width: float
    start: float = 0.0
    _table: Any = field(default=None, init=False, repr=False, compare=False, hash=False)

    def __post_init__(self):
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731
        raw = self.values
        if isinstance(raw, (str, bytes)) or not hasattr(raw, "__len__"):
            raise ParameterError(f"sampled.values must be a sequence of rates (kicks/ms), "
                                 f"got {raw!r}")
        try:
            values = np.asarray(raw, dtype=np.float64) if len(raw) else np.zeros(0)
        except (TypeError, ValueError):
            raise ParameterError(f"sampled.values must be numbers (kicks/ms), got {raw!r}") from None
        if values.ndim != 1 or values.size == 0:
            raise ParameterError(f"sampled.values must be a non-empty 1-D sequence of rates, "
                                 f"got shape {values.shape}")
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise ParameterError(f"sampled.values must be finite (kicks/ms), got "
                                 f"{values[bad[0]]!r} at index {bad[0]}")
        set_("values", tuple(float(v) for v in values))
        set_("width", _number("sampled.width", self.width, "a finite number > 0 (ms)",
                              lambda x: x > 0))
        set_("start", _number("sampled.start", self.start, "a finite number (ms)"))
        # range-minimum/maximum tables over 2^j samples (bounds) and the running integral
        mins, maxs = [values], [values]
        while 2 ** len(mins) <= values.size:
            h = 2 ** (len(mins) - 1)
            mins.append(np.minimum(mins[-1][:-h], mins[-1][h:]))
            maxs.append(np.maximum(maxs[-1][:-h], maxs[-1][h:]))
        cum = np.concatenate(([0.0], np.cumsum(values)))
        set_("_table", (values, cum, mins, maxs))

    @property
    def stop(self) -> float:
        """End of the last sample, ms."""
        return self.start + len(self.values) * self.width

    def _position(self, t, clip=True):
        """``(t - start) / width`` snapped onto sample edges, clipped to [0, n]."""
        u = (np.asarray(t, dtype=np.float64) - self.start) / self.width
        r = np.round(u)
        u = np.where(np.abs(u - r) <= _SNAP * np.maximum(1.0, np.abs(u)), r, u)
        return np.clip(u, 0.0, len(self.values)) if clip else u

    def _rate(self, t):
        values = self._table[0]
        k = np.floor(self._position(t, clip=False)).astype(np.int64)
        ok = (k >= 0) & (k < values.size)
        return np.where(ok, values[np.clip(k, 0, values.size - 1)], 0.0)

    def _area(self, t):
        """``∫_{start}^t`` λ, in units of ``width`` (kicks/ms · samples)."""
        values, cum = self._table[0], self._table[1]
        u = self._position(t)
        k = np.minimum(np.floor(u).astype(np.int64), values.size - 1)
        return cum[k] + values[k] * (u - k)

    def _index_range(self, a, b):
        """First and last sample touched by ``[a, b)`` (clipped to the samples), whether the
        interval touches the samples at all, and whether it reaches outside them."""
        n = len(self.values)
        ua, ub = self._position(a, clip=False), self._position(b, clip=False)
        ia = np.clip(np.floor(ua).astype(np.int64), 0, n - 1)
        ib = np.maximum(ia, np.clip(np.ceil(ub).astype(np.int64) - 1, 0, n - 1))
        touches = (ua < n) & ((ub > 0) | ((ua >= 0) & (ub <= ua)))   # ub <= ua: a point
        beyond = (ua < 0) | (ub > n)
        return ia, ib, touches, beyond
    def _mean(self, a, b):
        values = self._table[0]
        ia, ib, _, beyond = self._index_range(a, b)
        with np.errstate(invalid="ignore", divide="ignore"):
            general = (self._area(b) - self._area(a)) * self.width / (b - a)
        return np.where((ia == ib) & ~beyond, values[ia], general)

    def _bounds(self, a, b):
        _, _, mins, maxs = self._table
        ia, ib, touches, beyond = self._index_range(a, b)
        j = np.floor(np.log2(ib - ia + 1)).astype(np.int64)
        lo = np.empty(ia.shape)
        hi = np.empty(ia.shape)
        for level in np.unique(j):
            sel = j == level
            h = 2 ** int(level)
            lo[sel] = np.minimum(mins[level][ia[sel]], mins[level][ib[sel] - h + 1])
            hi[sel] = np.maximum(maxs[level][ia[sel]], maxs[level][ib[sel] - h + 1])
        # outside the samples the term is 0
        lo = np.where(touches, np.where(beyond, np.minimum(lo, 0.0), lo), 0.0)
        hi = np.where(touches, np.where(beyond, np.maximum(hi, 0.0), hi), 0.0)
        return lo, hi

    def _scale(self):
        return float(np.max(np.abs(self._table[0])))


@dataclass(frozen=True)
class Sum(Shape):
    """The sum of two or more shapes (``a + b``); terms are kept in order, sums flattened."""

    terms_: tuple[Shape, ...]

    def __post_init__(self):
        flat = []
        for t in self.terms_:
            if not isinstance(t, Shape):
                raise ParameterError(f"a stimulus sum takes shapes, got {t!r}")
            flat.extend(t.terms)
        if len(flat) < 2:
            raise ParameterError("a stimulus sum needs at least two terms")
        object.__setattr__(self, "terms_", tuple(flat))

    @property
    def terms(self) -> tuple[Shape, ...]:
        return self.terms_

    def __str__(self) -> str:
        return "+".join(str(t) for t in self.terms_)

    def _rate(self, t):
        return sum(term._rate(t) for term in self.terms_)

    def _mean(self, a, b):
        return sum(term._mean(a, b) for term in self.terms_)

    def _bounds(self, a, b):
        pairs = [term._bounds(a, b) for term in self.terms_]
        return sum(p[0] for p in pairs), sum(p[1] for p in pairs)

    def _scale(self):
        return sum(term._scale() for term in self.terms_)


#: Shapes by grammar name.
SHAPES: dict[str, type[Shape]] = {cls.name: cls for cls in (Baseline, Const, Step, Sine, Ramp,
                                                             Sampled)}


def _shape_fields(cls) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(cls) if f.init]


def _make(name: str, kwargs: dict[str, Any], positional: list[Any], where: str) -> Shape:
    """Build shape ``name`` from parsed or dict arguments, with one-line errors."""
    cls = SHAPES.get(name)
    if cls is None:
        close = difflib.get_close_matches(name, SHAPES, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ParameterError(f"unknown stimulus shape {name!r}{where}{hint}; shapes: "
                             f"{', '.join(sorted(SHAPES))}")
    fields = _shape_fields(cls)
    names = [f.name for f in fields]
    if len(positional) > len(names):
        raise ParameterError(f"{name} takes at most {len(names)} positional value(s) "
                             f"({', '.join(names) or 'none'}){where}, got {len(positional)}")
    args = dict(zip(names, positional))
    for key, value in kwargs.items():
        if key not in names:
            if name == "step" and key in ("to", "from"):
                raise ParameterError(
                    f"step takes amp= (the change, kicks/ms), not {key}={_shown(value)}"
                    f"{where}: terms add, so write e.g. E:lambda+step(at=500,amp=2) or "
                    f"E:const(7)+step(at=500,amp=2) for 7 -> 9 kicks/ms")
            raise ParameterError(f"{name} has no parameter {key!r}{where}; parameters: "
                                 f"{', '.join(names) or 'none'}")
        if key in args:
            raise ParameterError(f"{name}: {key} given twice{where}")
        args[key] = value
    missing = [f.name for f in fields
               if f.name not in args and f.default is dataclasses.MISSING]
    if missing:
        raise ParameterError(f"{name} needs {', '.join(k + '=' for k in missing)}{where}")
    try:
        return cls(**args)
    except ParameterError as exc:
        raise ParameterError(f"{exc}{where}") from None


def _shown(v) -> str:
    """A parsed or file value as the grammar would write it (repr if it is not a number)."""
    try:
        return _format_value(v)
    except (TypeError, ValueError):
        return repr(v)


def _format_value(v) -> str:
    if isinstance(v, tuple):
        return "[" + ",".join(_format_value(x) for x in v) + "]"
    text = repr(float(v))
    return text[:-2] if text.endswith(".0") else text


# ---------------------------------------------------------------------------------------------
# the parser
# ---------------------------------------------------------------------------------------------

# a number as Python's float() reads it (nan too, so that the error says "must be finite")
_NUMBER = re.compile(r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf(?:inity)?|nan)",
                     re.IGNORECASE)


class _Parser:
    """Recursive descent over the grammar of the module docstring (no eval)."""

    def __init__(self, text: str):
        if not isinstance(text, str):
            raise ParameterError(f"a stimulus must be a string such as 'E:sine(amp=1,hz=10)', "
                                 f"got {text!r}")
        self.text = text
        self.pos = 0

    def error(self, what: str):
        shown = self.text if len(self.text) <= 80 else self.text[:77] + "..."
        raise ParameterError(f"bad stimulus {shown!r}: {what} at character {self.pos + 1}")

    def skip(self):
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek(self) -> str:
        self.skip()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def expect(self, char: str, what: str):
        if self.peek() != char:
            found = repr(self.peek()) if self.peek() else "the end"
            self.error(f"expected {what}, found {found}")
        self.pos += 1

    def word(self) -> str:
        self.skip()
        start = self.pos
        while self.pos < len(self.text) and (self.text[self.pos].isalnum()
                                             or self.text[self.pos] == "_"):
            self.pos += 1
        return self.text[start:self.pos]

    def number(self) -> float:
        self.skip()
        match = _NUMBER.match(self.text, self.pos)
        if not match:
            found = self.text[self.pos:self.pos + 10]
            self.error(f"expected a number, found {found!r}" if found else "expected a number")
        self.pos = match.end()
        return float(match.group())

    def value(self):
        if self.peek() == "[":
            self.pos += 1
            items = [self.number()]
            while self.peek() == ",":
                self.pos += 1
                items.append(self.number())
            self.expect("]", "',' or ']'")
            return tuple(items)
        return self.number()

    def term(self) -> Shape:
        name = self.word()
        if not name:
            self.error("expected a shape name (" + ", ".join(sorted(SHAPES)) + ")")
        if name not in SHAPES:
            _make(name, {}, [], f" in {self.text.strip()!r}")   # the unknown-shape error
        positional, kwargs = [], {}
        if name == "lambda" and self.peek() != "(":
            return Baseline()
        self.expect("(", f"'(' after {name!r}")
        if self.peek() != ")":
            while True:
                save = self.pos
                key = self.word()
                if key and self.peek() == "=":
                    self.pos += 1
                    if key in kwargs:
                        self.error(f"{key} given twice")
                    kwargs[key] = self.value()
                else:
                    if kwargs:
                        self.error("a positional value after a keyword")
                    self.pos = save
                    positional.append(self.value())
                if self.peek() == ",":
                    self.pos += 1
                    continue
                break
        self.expect(")", "',' or ')'")
        return _make(name, kwargs, positional, f" in {self.text.strip()!r}")

    def expr(self) -> Shape:
        terms = [self.term()]
        while self.peek() == "+":
            self.pos += 1
            terms.append(self.term())
        return terms[0] if len(terms) == 1 else Sum(tuple(terms))

    def spec(self) -> tuple[str, Shape]:
        pop = self.word()
        if pop not in POPULATIONS:
            self.pos -= len(pop)
            self.error(f"expected a population E or I, found {pop or self.peek() or 'nothing'!r}")
        self.expect(":", "':' after the population")
        return pop, self.expr()

    def done(self):
        if self.peek():
            self.error(f"unexpected {self.peek()!r}")


def parse_shape(text: str) -> Shape:
    """The shape (or sum) written in ``text``, e.g. ``"const(7)+sine(amp=1,hz=10)"``.

    Raises
    ------
    ParameterError
        One line naming what is wrong and where.
    """
    p = _Parser(text)
    shape = p.expr()
    p.done()
    return shape


def parse_stimulus(text) -> "Stimulus":
    """The :class:`Stimulus` written in ``text`` (``"E:…; I:…"``) or in a sequence of such
    strings (repeated ``--stimulus`` options). A population given twice is an error."""
    texts = [text] if isinstance(text, str) else list(text)
    shapes: dict[str, Shape] = {}
    for t in texts:
        p = _Parser(t)
        while True:
            pop, shape = p.spec()
            if pop in shapes:
                raise ParameterError(f"stimulus for population {pop} given twice")
            shapes[pop] = shape
            if p.peek() == ";":
                p.pos += 1
                if not p.peek():
                    break
                continue
            break
        p.done()
    return Stimulus(shapes)


# ---------------------------------------------------------------------------------------------
# the stimulus of a network
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True, init=False)
class Stimulus:
    """The time-varying external drive of a network: population -> :class:`Shape`.

    ``Stimulus(E=Sine(mean=7, amp=0.5, hz=20))``, ``Stimulus({"I": Const(rate=6)})`` or
    :func:`parse_stimulus`. Populations it leaves out keep their constant ``λ_Q`` of the
    parameters; ``Stimulus()`` is today's constant drive everywhere.

    Attributes
    ----------
    shapes : tuple of (str, Shape)
        The stimulated populations in E, I order.
    """

    shapes: tuple[tuple[str, Shape], ...]

    def __init__(self, shapes: Mapping[str, Shape] | None = None, /, **by_population: Shape):
        given = dict(shapes or {})
        for pop, shape in by_population.items():
            if pop in given:
                raise ParameterError(f"stimulus for population {pop} given twice")
            given[pop] = shape
        for pop, shape in given.items():
            if pop not in POPULATIONS:
                raise ParameterError(f"stimulus population must be 'E' or 'I', got {pop!r}")
            if isinstance(shape, str):
                given[pop] = shape = parse_shape(shape)
            if not isinstance(shape, Shape):
                raise ParameterError(f"stimulus of {pop} must be a shape such as "
                                     f"Sine(amp=1, hz=10), got {shape!r}")
        object.__setattr__(self, "shapes",
                           tuple((p, given[p]) for p in POPULATIONS if p in given))

    # ---- access --------------------------------------------------------------------------
    @property
    def populations(self) -> tuple[str, ...]:
        """The stimulated populations."""
        return tuple(p for p, _ in self.shapes)

    def __bool__(self) -> bool:
        return bool(self.shapes)

    def __getitem__(self, population: str) -> Shape:
        for p, shape in self.shapes:
            if p == population:
                return shape
        raise KeyError(population)

    def get(self, population: str, default=None):
        try:
            return self[population]
        except KeyError:
            return default

    def resolved(self, params) -> dict[str, Shape]:
        """Concrete shapes of both populations: ``lambda`` terms and unset populations take
        ``params.lam(Q)``."""
        return {pop: (self.get(pop) or Baseline()).resolved(params.lam(pop))
                for pop in POPULATIONS}

    def is_constant(self) -> bool:
        """True if no stimulated population's rate depends on time (engines may then keep
        their constant-drive code; :meth:`constant_rates` gives the values)."""
        return all(shape.is_constant for _, shape in self.shapes)

    def constant_rates(self, params) -> tuple[float, float]:
        """``(λ_E, λ_I)`` of a constant stimulus (kicks/ms), summed exactly as the terms."""
        if not self.is_constant():
            raise ParameterError("the stimulus varies in time; use step_rates")
        shapes = self.resolved(params)
        return tuple(float(shapes[p].mean_over(0.0, 1.0)) for p in POPULATIONS)

    # ---- validation and evaluation ---------------------------------------------------------
    def check(self, params, t_end: float, *, t_start: float = 0.0) -> None:
        """Check the stimulus against a run of ``t_end`` ms at ``params.dt`` from ``t_start``.

        The run covers ``n_steps = ceil(t_end / dt)`` whole steps,
        ``[t_start, t_start + n_steps dt)``, as every stepped engine simulates them; that is
        the interval checked. ``t_start`` (ms, >= 0) is where a continued run begins
        (``continue_from``); the stimulus is a function of absolute time.

        Raises
        ------
        ParameterError
            A frequency above the Nyquist limit ``500 / dt`` Hz, samples that do not cover the
            run, or a rate that is negative somewhere in it (the message names the population
            and the first such time).
        """
        t_end = _number("t_end", t_end, "a finite number of ms > 0", lambda x: x > 0)
        t0 = _number("t_start", t_start, "a finite number of ms >= 0", lambda x: x >= 0)
        dt = params.dt
        t_run = t0 + n_steps_of(t_end, dt) * dt
        nyquist = 500.0 / dt
        for pop, shape in self.shapes:
            for term in shape.terms:
                if isinstance(term, Sine) and term.hz > nyquist * (1 + 1e-12):
                    raise ParameterError(
                        f"stimulus {pop}: sine.hz = {term.hz:g} Hz is above the Nyquist limit "
                        f"{nyquist:g} Hz of dt = {dt:g} ms")
                if isinstance(term, Sampled) and (term._position(t0, clip=False) < 0
                                                  or term._position(t_run, clip=False)
                                                  > len(term.values)):
                    raise ParameterError(
                        f"stimulus {pop}: sampled values cover [{term.start:g}, {term.stop:g}) ms "
                        f"but the run covers [{t0:g}, {t_run:g}) ms")
        for pop, shape in self.resolved(params).items():
            if pop not in self.populations:
                continue
            first = _first_negative(shape, t0, t_run, dt)
            if first is not None:
                t, lowest = first
                raise ParameterError(
                    f"stimulus {pop}: the rate must stay >= 0 kicks/ms over the run, but "
                    f"{shape} falls below 0 at t = {t:.9g} ms (first time; down to about "
                    f"{lowest:.4g} kicks/ms)")

    def step_rates(self, params, t_end: float, *, t_start: float = 0.0,
                   t_origin: float | None = None) -> np.ndarray:
        """Mean external rate over each step of the run, validated.

        Parameters
        ----------
        params : NetworkParams
            The network (``dt``, and ``λ_Q`` of unset populations and ``lambda`` terms).
        t_end : float
            Simulated time, ms; ``ceil(t_end / dt)`` steps as in every stepped engine.
        t_start : float
            Absolute time of the first step, ms (0 unless the run continues another).
        t_origin : float or None
            Origin of the step grid ``t_origin + k dt`` the run lies on, ms: a continued run's
            chain's first ``t_start`` (``final_state["t_origin"]``), so that its steps are
            the floats of one run over the whole span (:func:`snnreduce._resume.step_bounds`).
            None: ``t_start`` (a fresh run; step i is ``[t_start + i dt, t_start + (i+1) dt)``).

        Returns
        -------
        ndarray of float64, shape (n_steps, 2)
            kicks/ms, columns E, I, never below 0 (round-off below 0 is set to 0). A constant
            population's column is its constant exactly.
        """
        self.check(params, t_end, t_start=t_start)
        a, b = _step_edges(params.dt, n_steps_of(t_end, params.dt), t_start, t_origin)
        shapes = self.resolved(params)
        means = np.stack([shapes[p].mean_over(a, b) for p in POPULATIONS], axis=1)
        # the check allows round-off below 0 (a sine touching 0); engines take sqrt(λ dt)
        return np.maximum(means, 0.0)

    def step_bounds(self, params, t_end: float, *, t_start: float = 0.0,
                    t_origin: float | None = None, lower: bool = False) -> np.ndarray:
        """Upper bound of the rate over each step of the run (the steps of
        :meth:`step_rates`), validated: the rate of the proposals when an event-driven engine
        thins (``>=`` :meth:`step_rates`).

        Returns
        -------
        ndarray of float64, shape (n_steps, 2), or (n_steps, 4) with ``lower``
            kicks/ms, columns E, I; with ``lower`` the lower bounds first: lower E, lower I,
            upper E, upper I (an engine skips evaluating λ(t) below the lower bound). Never
            below 0.
        """
        self.check(params, t_end, t_start=t_start)
        a, b = _step_edges(params.dt, n_steps_of(t_end, params.dt), t_start, t_origin)
        shapes = self.resolved(params)
        pairs = [shapes[p].bounds(a, b) for p in POPULATIONS]
        cols = ([low for low, _ in pairs] if lower else []) + [high for _, high in pairs]
        return np.maximum(np.stack(cols, axis=1), 0.0)

    # ---- text, dicts, JSON -----------------------------------------------------------------
    def __str__(self) -> str:
        return "; ".join(f"{p}:{shape}" for p, shape in self.shapes)

    def to_dict(self) -> dict[str, list[dict[str, Any]]]:
        """``{"E": [{"shape": …, field: value}, …], …}`` (plain JSON/TOML types)."""
        return {p: shape.to_dict() for p, shape in self.shapes}

    @classmethod
    def from_dict(cls, data) -> "Stimulus":
        """Inverse of :meth:`to_dict`; a population's value may also be a grammar string,
        one term dict, or a list of term dicts."""
        if isinstance(data, Stimulus):
            return data
        if not isinstance(data, Mapping):
            raise ParameterError(f"a stimulus must be a mapping population -> shape, got "
                                 f"{type(data).__name__}")
        shapes = {}
        for pop, value in data.items():
            if pop not in POPULATIONS:
                raise ParameterError(f"stimulus population must be 'E' or 'I', got {pop!r}")
            if isinstance(value, str):
                shapes[pop] = parse_shape(value)
                continue
            items = [value] if isinstance(value, Mapping) else value
            if not isinstance(items, (list, tuple)) or not items:
                raise ParameterError(f"stimulus {pop}: expected a shape string, a term dict or "
                                     f"a list of term dicts, got {value!r}")
            terms = []
            for item in items:
                if not isinstance(item, Mapping) or "shape" not in item:
                    raise ParameterError(f"stimulus {pop}: every term needs a 'shape' key, got "
                                         f"{item!r}")
                kwargs = {k: (tuple(v) if isinstance(v, list) else v)
                          for k, v in item.items() if k != "shape"}
                terms.append(_make(str(item["shape"]), kwargs, [], f" (stimulus {pop})"))
            shapes[pop] = terms[0] if len(terms) == 1 else Sum(tuple(terms))
        return cls(shapes)

    def to_json(self) -> str:
        """JSON text of :meth:`to_dict` (for NetCDF attributes)."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "Stimulus":
        try:
            data = json.loads(text)
        except (TypeError, ValueError) as exc:
            raise ParameterError(f"stimulus JSON cannot be read: {exc}") from None
        return cls.from_dict(data)

    def merged(self, over: "Stimulus") -> "Stimulus":
        """This stimulus with the populations of ``over`` replaced by ``over``'s shapes (the
        command line's ``--stimulus`` over a parameter file's ``[stimulus]`` table)."""
        return Stimulus({**dict(self.shapes), **dict(over.shapes)})

    # ---- sweepable scalars -----------------------------------------------------------------
    def _named_fields(self) -> list[tuple[str, str, int, str]]:
        """(full name, population, term index, field) of every scalar field."""
        out = []
        for pop, shape in self.shapes:
            seen: dict[str, int] = {}
            for index, term in enumerate(shape.terms):
                seen[term.name] = seen.get(term.name, 0) + 1
                label = term.name if seen[term.name] == 1 else f"{term.name}{seen[term.name]}"
                for f in _shape_fields(type(term)):
                    if f.name != "values":
                        out.append((f"stimulus.{pop}.{label}.{f.name}", pop, index, f.name))
        return out

    def values(self) -> dict[str, float]:
        """Every sweepable scalar: ``{"stimulus.E.sine.hz": 10.0, …}``."""
        return {name: getattr(self[pop].terms[i], f) for name, pop, i, f in self._named_fields()}

    def with_value(self, name: str, value) -> "Stimulus":
        """A copy with one scalar changed and revalidated.

        ``name`` is ``stimulus.<POP>.<shape>.<field>`` (``stimulus.E.sine.hz``; a repeated
        shape name is numbered from its second occurrence: ``sine2``) or
        ``stimulus.<POP>.<field>`` when exactly one term of the population has that field.
        The ``stimulus.`` prefix may be left out.
        """
        if not isinstance(name, str):
            raise ParameterError(f"a stimulus parameter name must be a string, got {name!r}")
        short = name[len("stimulus."):] if name.startswith("stimulus.") else name
        full = "stimulus." + short
        named = self._named_fields()
        matches = [m for m in named if m[0] == full]
        parts = short.split(".")
        if not matches and len(parts) == 2:
            matches = [m for m in named if m[1] == parts[0] and m[3] == parts[1]]
            if len(matches) > 1:
                raise ParameterError(f"{full} is ambiguous: use one of "
                                     f"{', '.join(m[0] for m in matches)}")
        if not matches:
            if parts and parts[0] in POPULATIONS and parts[0] not in self.populations:
                raise ParameterError(f"{full}: population {parts[0]} has no stimulus")
            raise ParameterError(f"unknown stimulus parameter {full!r}; allowed: "
                                 f"{', '.join(m[0] for m in named) or 'none (empty stimulus)'}")
        _, pop, index, fname = matches[0]
        terms = list(self[pop].terms)
        old = terms[index]
        kwargs = {f.name: getattr(old, f.name) for f in _shape_fields(type(old))}
        kwargs[fname] = value
        try:
            terms[index] = type(old)(**kwargs)
        except ParameterError as exc:
            raise ParameterError(f"{full}: {exc}") from None
        shapes = dict(self.shapes)
        shapes[pop] = terms[0] if len(terms) == 1 else Sum(tuple(terms))
        return Stimulus(shapes)


# ---------------------------------------------------------------------------------------------
# negativity: the first time a rate is below zero
# ---------------------------------------------------------------------------------------------

def _first_negative(shape: Shape, t0: float, t1: float, dt: float,
                    max_levels: int = 60) -> tuple[float, float] | None:
    """``(t, lowest)``: the first time in ``[t0, t1)`` where ``λ < 0`` (to ~1e-12 of the run's
    length) and the lowest rate seen on the starting grid; None if λ never drops below 0.

    Branch and bound on intervals: an interval whose lower bound (:meth:`Shape.bounds`) is
    ``>= -tol`` is cleared; a point with ``λ < -tol`` is a certain failure, and every interval
    after the earliest one known is dropped; the rest are halved. The grid starts at the
    finer of ``dt`` and 1/16 of the shortest period, so a sum of terms (whose bound is the sum
    of the terms' exact bounds) is cleared after a few halvings except where it truly dips.
    Terms that cancel over a stretch (λ ≡ 0 there) keep their intervals undecided; past
    10⁶ of them the points examined so far decide (by then ~20 halvings: a resolution of
    ~1e-6 dt).
    """
    tol = _NEG_TOL * max(1.0, shape._scale())
    if shape.bounds(t0, t1)[0] >= -tol:       # the usual case: cleared by one interval
        return None
    width = dt
    if shape.max_hz > 0:
        width = min(width, 1000.0 / shape.max_hz / 16.0)
    n = max(1, int(math.ceil((t1 - t0) / width)))
    edges = np.minimum(t0 + np.arange(n + 1) * width, t1)
    a, b = edges[:-1], edges[1:]
    keep = b > a
    a, b = a[keep], b[keep]
    lowest = float(np.min(shape.rate_at(np.concatenate((a, 0.5 * (a + b))))))
    found: float | None = None
    for _ in range(max_levels):
        lo, _hi = shape.bounds(a, b)
        bad = lo < -tol
        a, b = a[bad], b[bad]
        if a.size == 0:
            break
        mid = 0.5 * (a + b)
        points = np.concatenate((a, mid))
        negative = points[shape.rate_at(points) < -tol]
        if negative.size:
            first = float(negative.min())
            found = first if found is None else min(found, first)
        if found is not None:
            sel = a <= found
            a, b = a[sel], b[sel]
        if a.size == 0 or float(np.max(b - a)) <= 1e-12 * max(1.0, abs(t1)):
            break
        if a.size > 1_000_000:      # a pathological sum; the earliest failure found stands
            break
        mid = 0.5 * (a + b)
        a, b = np.concatenate((a, mid)), np.concatenate((mid, b))
        order = np.argsort(a, kind="stable")
        a, b = a[order], b[order]
    if found is None:
        return None
    return found, min(lowest, float(shape.rate_at(found)))


# ---------------------------------------------------------------------------------------------
# coercion, provenance, units of the sweepable fields
# ---------------------------------------------------------------------------------------------

def as_stimulus(value) -> Stimulus | None:
    """A :class:`Stimulus` from what callers pass: None, a Stimulus, its grammar (a string or a
    list of strings, :func:`parse_stimulus`) or its :meth:`Stimulus.to_dict` form. An empty
    stimulus (no population) is None: the constant drive of the parameters."""
    if value is None:
        return None
    if isinstance(value, Stimulus):
        stimulus = value
    elif isinstance(value, str) or (isinstance(value, (list, tuple))
                                    and all(isinstance(v, str) for v in value)):
        stimulus = parse_stimulus(value)
    elif isinstance(value, Mapping):
        stimulus = Stimulus.from_dict(value)
    else:
        raise ParameterError(f"stimulus must be a Stimulus, a string such as "
                             f"'E:lambda+step(at=500,amp=2)' or a dict, got "
                             f"{type(value).__name__}")
    return stimulus if stimulus else None


def external_drive(stimulus, params, t_end: float, t_start: float = 0.0, *,
                   t_origin: float | None = None, bounds: bool = False):
    """What an engine drives with: ``(params, table)``.

    ``stimulus`` is whatever :func:`as_stimulus` takes (the api passes a :class:`Stimulus`;
    direct engine calls may give grammar text or a dict). None or a constant stimulus:
    ``(params with λ_E, λ_I of the stimulus, None)`` — the engine runs its constant-drive
    code, bit for bit what it did before stimuli (``params`` itself when the rates are its
    own). Otherwise ``(params, table)`` with ``table`` =
    :meth:`Stimulus.step_rates` (per-step means, (n_steps, 2)) or, with ``bounds``,
    :meth:`Stimulus.step_bounds` with ``lower=True`` ((n_steps, 4), for thinning), over the
    run's steps on the grid ``t_origin + k dt`` (``t_origin`` None: ``t_start``). The stimulus
    is validated (:meth:`Stimulus.check`) over the run in both cases.
    """
    if not (stimulus is None or isinstance(stimulus, (Stimulus, str, list, tuple, Mapping))):
        raise ParameterError("stimulus must be a snnreduce.stimulus.Stimulus (or its grammar "
                             f"text or dict) or None, got {type(stimulus).__name__}")
    stimulus = as_stimulus(stimulus)
    if stimulus is None:
        return params, None
    if stimulus.is_constant():
        stimulus.check(params, t_end, t_start=t_start)  # step_rates / step_bounds check theirs
        lam_e, lam_i = stimulus.constant_rates(params)
        if (lam_e, lam_i) == (params.lambda_e, params.lambda_i):
            return params, None
        return params.replace(lambda_e=lam_e, lambda_i=lam_i), None
    if bounds:
        return params, stimulus.step_bounds(params, t_end, t_start=t_start, t_origin=t_origin,
                                            lower=True)
    return params, stimulus.step_rates(params, t_end, t_start=t_start, t_origin=t_origin)


def stimulus_of(result) -> Stimulus | None:
    """The stimulus a :class:`~snnreduce.Result` was run with (from its options), or None."""
    return as_stimulus(result.options.get("stimulus"))


#: Units (CF/UDUNITS) and meaning of every sweepable field name of the shapes.
FIELD_UNITS: dict[str, tuple[str, str]] = {
    "rate": ("ms-1", "constant rate of external kicks"),
    "amp": ("ms-1", "amplitude (change of the external kick rate)"),
    "mean": ("ms-1", "mean of the sinusoid (external kick rate)"),
    "hz": ("Hz", "frequency"),
    "phase": ("degree", "phase at t = 0"),
    "at": ("ms", "onset"),
    "duration": ("ms", "duration of each pulse"),
    "period": ("ms", "onset-to-onset interval of the pulses"),
    "start": ("ms", "start"),
    "stop": ("ms", "end of the ramp"),
    "width": ("ms", "width of each sample"),
}


def field_attrs(name: str) -> dict[str, str]:
    """``units`` and ``long_name`` of a sweepable stimulus name (``stimulus.E.sine.hz``), for
    a sweep coordinate."""
    parts = name.split(".")
    if parts and parts[0] == "stimulus":
        parts = parts[1:]
    field_name = parts[-1] if parts else ""
    units, text = FIELD_UNITS.get(field_name, ("1", field_name))
    pop = parts[0] if parts else "?"
    shape = parts[1] if len(parts) == 3 else ""
    what = f"{shape} {text}" if shape else text
    return {"units": units, "long_name": f"stimulus of {pop}: {what} ({name})"}
