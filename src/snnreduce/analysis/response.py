"""Responses to a stimulus: step response and linear response (gain and phase); their figures
are :func:`snnreduce.plot.bode_figure` and :func:`snnreduce.plot.step_response_figure`.

Definitions (also in ``docs/stimuli.md``). Every function takes a rate trace — times in ms on
a uniform grid and the population rate in Hz, e.g. ``population_rate(result, "E", smooth=0)``
for the raw per-step rate, or a mean over seeds — so that the network, every reduction and a
synthetic trace are analysed by one code path.

Step response (:func:`step_response`), for a stimulus that changes at ``t_step``:

- ``rate_before``: mean of the samples in ``[t_step - before, t_step)``;
- ``rate_after``: mean of the samples in ``[t_step + window/2, t_step + window)``, the second
  half of the analysis window (the transient is over there for any response that settles
  within ``window/2``);
- ``change = rate_after - rate_before``;
- ``latency``: time from ``t_step`` to the first crossing of ``rate_before + change/2``
  (linear interpolation between samples);
- ``overshoot``: ``(peak - rate_after) / |change|``, the peak being the extreme of the trace in
  ``[t_step, t_step + window)`` in the direction of the change, clipped at 0 (a fraction);
- ``settling_time``: time from ``t_step`` until the trace stays within
  ``rate_after ± band |change|`` (default band 10 %) up to the end of the window; NaN if it
  is outside at the last sample.

Linear response (:func:`linear_response`), for a stimulus term ``amp sin(ω t + φ_s)``
(:class:`snnreduce.stimulus.Sine`, ``ω = 2π hz / 1000`` rad/ms): over whole periods after a
transient, the trace is fitted by least squares with ``r0 + a sin(ω t + φ_s) + b cos(ω t +
φ_s)``, each regressor averaged over the sample's bin (samples are bin means by default), so a
pure sinusoid is recovered exactly however the bins fall. ``z = a + i b = A e^{iφ}`` is the
rate's Fourier coefficient at the stimulus frequency relative to the stimulus phase: the
response is ``r0 + A sin(ω t + φ_s + φ)``. Gain ``|z / amp|`` (Hz per kicks/ms), phase
``arg(z / amp)`` in degrees (negative: the rate lags the stimulus). Standard errors come from
the same fit on each whole period separately (the scatter of the per-period coefficients over
their number), or, with :func:`combine_linear_responses`, from the scatter across seeds.
Pass unsmoothed rates: smoothing is a filter and lowers the gain.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from ._common import check_number

__all__ = ["StepResponse", "step_response", "LinearResponse", "linear_response",
           "combine_linear_responses", "MeanSD", "across_seeds"]

# relative slack when comparing sample times with window edges
_EPS = 1e-9


def _trace(time, rate) -> tuple[np.ndarray, np.ndarray, float]:
    """Validated ``(time, rate, spacing)`` of a uniform trace."""
    t = np.asarray(time, dtype=np.float64)
    r = np.asarray(rate, dtype=np.float64)
    if t.ndim != 1 or t.shape != r.shape or t.size < 3:
        raise ValueError(f"time and rate must be 1-D arrays of one length >= 3, got shapes "
                         f"{t.shape} and {r.shape}")
    spacing = np.diff(t)
    step = float(np.mean(spacing))
    if not step > 0 or np.max(np.abs(spacing - step)) > 1e-6 * step:
        raise ValueError("time must be increasing on a uniform grid (ms)")
    if not np.all(np.isfinite(r)):
        raise ValueError("rate is not finite (did the run diverge?)")
    return t, r, step


# ---------------------------------------------------------------------------------------------
# step response
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class StepResponse:
    """The response of a rate to a step of the stimulus (see :func:`step_response`).

    Attributes
    ----------
    t_step : float
        Time of the step, ms.
    rate_before, rate_after : float
        Mean rate before the step and at the end of the window, Hz.
    change : float
        ``rate_after - rate_before``, Hz.
    latency : float
        ms from the step to the first crossing of the half-way level (NaN if none).
    overshoot : float
        Fraction of ``|change|`` by which the trace passes ``rate_after`` (>= 0).
    settling_time : float
        ms from the step until the trace stays within ``band |change|`` of ``rate_after``
        (NaN if it has not settled by the end of the window).
    before, window, band : float
        The settings used: ms, ms, fraction.
    """

    t_step: float
    rate_before: float
    rate_after: float
    change: float
    latency: float
    overshoot: float
    settling_time: float
    before: float
    window: float
    band: float


def step_response(time, rate, t_step: float, *, before: float = 200.0, window: float = 300.0,
                  band: float = 0.1) -> StepResponse:
    """Rate before/after, latency, overshoot and settling time of a step response.

    Parameters
    ----------
    time : array_like, shape (n,)
        Sample times, ms, uniform.
    rate : array_like, shape (n,)
        Rate, Hz (a smoothed or seed-averaged trace makes latency and settling meaningful).
    t_step : float
        Time of the stimulus step, ms.
    before : float
        Length of the baseline window before the step, ms.
    window : float
        Length of the analysis window after the step, ms; ``rate_after`` is the mean over its
        second half.
    band : float
        Settling band as a fraction of ``|change|``.

    Returns
    -------
    StepResponse
    """
    t, r, step = _trace(time, rate)
    t_step = check_number("t_step", t_step, "a finite time in ms", lambda x: True)
    before = check_number("before", before, "a number of ms > 0", lambda x: x > 0)
    window = check_number("window", window, "a number of ms > 0", lambda x: x > 0)
    band = check_number("band", band, "a fraction in (0, 1)", lambda x: 0 < x < 1)
    slack = _EPS * max(1.0, abs(t_step) + window)
    if t_step - before < t[0] - slack or t_step + window > t[-1] + step + slack:
        raise ValueError(f"the trace [{t[0]:g}, {t[-1]:g}] ms does not cover the windows "
                         f"[{t_step - before:g}, {t_step + window:g}) ms around the step")
    pre = (t >= t_step - before - slack) & (t < t_step - slack)
    post = (t >= t_step - slack) & (t < t_step + window - slack)
    late = post & (t >= t_step + 0.5 * window - slack)
    if not pre.any() or not late.any():
        raise ValueError("the windows around the step hold no samples; lengthen before/window")
    r0, r1 = float(r[pre].mean()), float(r[late].mean())
    change = r1 - r0
    nan = float("nan")
    if change == 0.0:
        return StepResponse(t_step, r0, r1, 0.0, nan, nan, nan, before, window, band)
    sign = 1.0 if change > 0 else -1.0
    tp, rp = t[post], r[post]
    # latency: first sample at or past the half-way level, interpolated from the one before
    half = r0 + 0.5 * change
    past = np.flatnonzero(sign * (rp - half) >= 0)
    if past.size == 0:
        latency = nan
    else:
        i = past[0]
        if i == 0:
            t_cross = tp[0]
        else:
            frac = (half - rp[i - 1]) / (rp[i] - rp[i - 1])
            t_cross = tp[i - 1] + frac * (tp[i] - tp[i - 1])
        latency = float(t_cross - t_step)
    peak = float(np.max(sign * rp)) * sign
    overshoot = max(0.0, sign * (peak - r1) / abs(change))
    outside = np.flatnonzero(np.abs(rp - r1) > band * abs(change))
    if outside.size == 0:
        settling = 0.0
    elif outside[-1] == rp.size - 1:
        settling = nan
    else:
        settling = float(tp[outside[-1] + 1] - t_step)
    return StepResponse(t_step, r0, r1, change, latency, overshoot, settling, before, window,
                        band)


@dataclass(frozen=True)
class MeanSD:
    """Mean, sample standard deviation (ddof 1; NaN for one value) and standard error of the
    finite values of one quantity across seeds; ``n`` counts them."""

    mean: float
    sd: float
    sem: float
    n: int


def across_seeds(items: Sequence) -> dict[str, MeanSD]:
    """Mean ± sd across seeds of every float field of a list of result dataclasses
    (:class:`StepResponse`, :class:`LinearResponse`, …). NaN values (e.g. a seed that did not
    settle) are left out and ``n`` says how many remain."""
    items = list(items)
    if not items or not dataclasses.is_dataclass(items[0]):
        raise ValueError("across_seeds needs a non-empty list of result dataclasses")
    out = {}
    for f in dataclasses.fields(items[0]):
        values = [getattr(x, f.name) for x in items]
        if not all(isinstance(v, (float, int, np.floating)) and not isinstance(v, bool)
                   for v in values):
            continue
        v = np.asarray(values, dtype=np.float64)
        v = v[np.isfinite(v)]
        n = int(v.size)
        mean = float(v.mean()) if n else float("nan")
        sd = float(v.std(ddof=1)) if n > 1 else float("nan")
        out[f.name] = MeanSD(mean, sd, sd / math.sqrt(n) if n > 1 else float("nan"), n)
    return out


# ---------------------------------------------------------------------------------------------
# linear response
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LinearResponse:
    """Gain and phase of a rate at one stimulus frequency (see :func:`linear_response`).

    Attributes
    ----------
    hz : float
        Stimulus frequency, Hz.
    amp : float
        Stimulus amplitude, kicks/ms.
    gain : float
        ``|z / amp|``: Hz of rate modulation per kicks/ms of input modulation.
    phase : float
        ``arg(z / amp)``, degrees in (-180, 180]; negative when the rate lags.
    gain_se, phase_se : float
        Standard errors (Hz per kicks/ms, degrees), across periods or across seeds.
    coefficient : complex
        ``z = A e^{iφ}``, Hz: the rate modulation ``A sin(ω t + φ_s + φ)``.
    mean_rate : float
        ``r0``, Hz.
    n_periods : int
        Whole periods analysed (summed over seeds when combined).
    t_start, t_stop : float
        The analysed window, ms (of one trace).
    se_from : str
        "periods" or "seeds".
    """

    hz: float
    amp: float
    gain: float
    phase: float
    gain_se: float
    phase_se: float
    coefficient: complex
    mean_rate: float
    n_periods: int
    t_start: float
    t_stop: float
    se_from: str


def _fit(r, s, c):
    """Least-squares ``(r0, a, b)`` of ``r ≈ r0 + a s + b c``."""
    design = np.column_stack((np.ones_like(s), s, c))
    coef, *_ = np.linalg.lstsq(design, r, rcond=None)
    return coef


def _from_coefficients(z, spread, hz, amp, mean_rate, n_periods, t0, t1, se_from):
    """LinearResponse from the coefficient ``z`` and the complex deviations ``spread`` of its
    independent estimates (per period or per seed)."""
    h = z / amp
    gain = abs(h)
    n = spread.size
    if n > 1 and abs(z) > 0:
        unit = z / abs(z)
        radial = np.real(spread * np.conj(unit))
        tangential = np.imag(spread * np.conj(unit))
        gain_se = float(radial.std(ddof=1) / math.sqrt(n)) / abs(amp)
        phase_se = math.degrees(float(tangential.std(ddof=1) / math.sqrt(n)) / abs(z))
    else:
        gain_se = phase_se = float("nan")
    return LinearResponse(hz=hz, amp=amp, gain=float(gain), phase=math.degrees(np.angle(h)),
                          gain_se=gain_se, phase_se=phase_se, coefficient=complex(z),
                          mean_rate=float(mean_rate), n_periods=int(n_periods), t_start=t0,
                          t_stop=t1, se_from=se_from)


def linear_response(time, rate, *, hz: float, amp: float, phase: float = 0.0,
                    transient: float | None = None, t_stop: float | None = None,
                    bin_width: float | None = None) -> LinearResponse:
    """Gain and phase of a rate trace at the frequency of a sinusoidal stimulus.

    Parameters
    ----------
    time : array_like, shape (n,)
        Sample times, ms: the start of each bin (``population_rate`` convention), uniform.
    rate : array_like, shape (n,)
        Rate, Hz, not smoothed.
    hz : float
        Stimulus frequency, Hz.
    amp : float
        Stimulus amplitude, kicks/ms (non-zero; its sign is part of the stimulus phase).
    phase : float
        Stimulus phase ``φ_s`` at t = 0, degrees (``Sine.phase``).
    transient : float, optional
        Time dropped at the start, ms; default the larger of 100 ms and one period.
    t_stop : float, optional
        End of the analysed data, ms; default the end of the last bin.
    bin_width : float, optional
        Width over which each sample is a mean, ms; default the sample spacing (per-step
        rates); 0 for point samples.

    Returns
    -------
    LinearResponse
        With standard errors across the whole periods analysed (at least 2).
    """
    t, r, step = _trace(time, rate)
    hz = check_number("hz", hz, "a frequency > 0 (Hz)", lambda x: x > 0)
    amp = check_number("amp", amp, "a non-zero amplitude (kicks/ms)", lambda x: x != 0)
    phase = check_number("phase", phase, "a finite number of degrees", lambda x: True)
    period = 1000.0 / hz
    if transient is None:
        transient = max(100.0, period)
    transient = check_number("transient", transient, "a number of ms >= 0", lambda x: x >= 0)
    width = step if bin_width is None else check_number(
        "bin_width", bin_width, "a number of ms >= 0", lambda x: x >= 0)
    end = t[-1] + width if t_stop is None else check_number(
        "t_stop", t_stop, "a finite time in ms", lambda x: True)
    t0 = t[0] + transient
    n_periods = int(math.floor((end - t0) / period * (1 + 1e-12)))
    if n_periods < 2:
        raise ValueError(f"{end - t0:g} ms after the transient hold fewer than 2 whole periods "
                         f"of {hz:g} Hz; run longer or shorten transient")
    t1 = t0 + n_periods * period
    slack = _EPS * max(1.0, abs(t1))
    omega = 2.0 * math.pi * hz / 1000.0
    mid = t + 0.5 * width
    theta = omega * mid + math.radians(phase)
    blur = float(np.sinc(0.5 * omega * width / math.pi))   # bin average of sin and cos
    s, c = np.sin(theta) * blur, np.cos(theta) * blur
    inside = (t >= t0 - slack) & (t + width <= t1 + slack)
    if np.count_nonzero(inside) < 3 * n_periods:
        raise ValueError(f"too few samples per period of {hz:g} Hz (spacing {step:g} ms)")
    r0, a, b = _fit(r[inside], s[inside], c[inside])
    # the same fit on every whole period alone: independent estimates for the error
    k = np.floor((t - t0) / period + _EPS).astype(np.int64)
    per = []
    for j in range(n_periods):
        sel = inside & (k == j)
        if np.count_nonzero(sel) >= 3:
            _, aj, bj = _fit(r[sel], s[sel], c[sel])
            per.append(complex(aj, bj))
    z = complex(a, b)
    spread = np.asarray(per) - np.mean(per) if per else np.zeros(0, complex)
    return _from_coefficients(z, spread, hz, amp, r0, n_periods, float(t0), float(t1),
                              "periods")


def combine_linear_responses(responses: Sequence[LinearResponse]) -> LinearResponse:
    """One response from several seeds at one frequency: the mean complex coefficient (so
    that noise does not bias the gain upwards as a mean of gains would), with standard errors
    from the scatter across seeds."""
    responses = list(responses)
    if not responses:
        raise ValueError("combine_linear_responses needs at least one response")
    first = responses[0]
    if any(x.hz != first.hz or x.amp != first.amp for x in responses):
        raise ValueError("responses to combine must share hz and amp")
    zs = np.array([x.coefficient for x in responses])
    if len(responses) == 1:
        return first
    z = complex(zs.mean())
    return _from_coefficients(z, zs - z, first.hz, first.amp,
                              float(np.mean([x.mean_rate for x in responses])),
                              sum(x.n_periods for x in responses), first.t_start,
                              first.t_stop, "seeds")
