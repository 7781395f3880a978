"""Response analysis on synthetic traces with closed-form answers."""

import math

import numpy as np
import pytest
from scipy.optimize import brentq

from snnreduce.analysis import (LinearResponse, StepResponse, across_seeds,
                                combine_linear_responses, linear_response, step_response)
from snnreduce.plot import bode_figure, step_response_figure

DT = 0.1  # ms


# ---------------------------------------------------------------------------------------------
# linear response of a first-order low-pass: gain g0 / sqrt(1 + (ω τ)²), phase -atan(ω τ)
# ---------------------------------------------------------------------------------------------

R0, G0, TAU, AMP = 40.0, 8.0, 5.0, 0.5     # Hz, Hz per kicks/ms, ms, kicks/ms
T_END = 3000.0


def low_pass_trace(hz, phase_deg=0.0, transient_amp=5.0, t_end=T_END):
    """Exact per-bin means of the rate of ``τ dr/dt = -r + R0 + G0 AMP sin(ω t + φ_s)``
    started off its steady state (a decaying transient of size ``transient_amp``)."""
    t = np.arange(int(round(t_end / DT))) * DT
    w = 2 * math.pi * hz / 1000
    wt = w * TAU
    gain = G0 / math.sqrt(1 + wt * wt)
    lag = -math.atan(wt)
    mid = t + DT / 2
    sinc = np.sinc(w * DT / 2 / np.pi)
    steady = R0 + gain * AMP * np.sin(w * mid + math.radians(phase_deg) + lag) * sinc
    decay = transient_amp * np.exp(-t / TAU) * (1 - math.exp(-DT / TAU)) * TAU / DT
    return t, steady + decay, gain, math.degrees(lag)


@pytest.mark.parametrize("hz, phase", [(2.0, 0.0), (10.0, 30.0), (40.0, 0.0), (160.0, -75.0)])
def test_low_pass_gain_and_phase_are_recovered(hz, phase):
    t, r, gain, lag = low_pass_trace(hz, phase)
    res = linear_response(t, r, hz=hz, amp=AMP, phase=phase)
    assert isinstance(res, LinearResponse) and res.se_from == "periods"
    # the fit is exact for the steady state; what is left of the transient after the
    # default 100 ms (>= 20 τ) is below 5 e^-20 Hz
    tol = 5 * math.exp(-100 / TAU) / (gain * AMP) + 1e-9
    assert res.gain == pytest.approx(gain, rel=tol)
    assert res.phase == pytest.approx(lag, abs=math.degrees(tol))
    assert res.mean_rate == pytest.approx(R0, rel=1e-9)
    assert res.n_periods == math.floor((T_END - res.t_start) * hz / 1000 + 1e-9)
    assert res.gain_se < 1e-8 * gain           # noise-free: periods agree


def test_negative_amplitude_is_a_half_period_phase_shift():
    t, r, gain, lag = low_pass_trace(10.0)
    # the same trace read against -AMP sin(...) = AMP sin(... + 180°)
    flipped = linear_response(t, r, hz=10.0, amp=-AMP)
    assert flipped.gain == pytest.approx(gain, rel=1e-9)
    assert (flipped.phase - (lag + 180.0) + 180) % 360 - 180 == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("hz", [40.0, 160.0])
def test_noisy_low_pass_within_its_standard_error(hz):
    sigma = 20.0                                # Hz per bin, white
    t, r, gain, lag = low_pass_trace(hz)
    rng = np.random.default_rng(11)
    res = linear_response(t, r + sigma * rng.standard_normal(r.size), hz=hz, amp=AMP)
    # least squares with regressors of mean square blur²/2 over n bins: sd of each component
    # of z is sigma sqrt(2 / n) / blur
    n = np.count_nonzero((t >= res.t_start - 1e-9) & (t + DT <= res.t_stop + 1e-9))
    blur = np.sinc(math.pi * hz / 1000 * DT / np.pi)
    se_z = sigma * math.sqrt(2.0 / n) / blur
    assert abs(res.gain - gain) < 4 * se_z / AMP
    assert abs(res.phase - lag) < 4 * math.degrees(se_z / (gain * AMP))
    # the error estimated from the scatter across periods agrees with the analytic one (its own
    # relative sd is about 1/sqrt(2 n_periods) < 7 %)
    assert 0.6 < res.gain_se / (se_z / AMP) < 1.6
    assert 0.6 < res.phase_se / math.degrees(se_z / (gain * AMP)) < 1.6


def test_combined_seeds_average_the_complex_coefficient():
    sigma, hz, seeds = 20.0, 40.0, 20
    t, r, gain, lag = low_pass_trace(hz, t_end=1100.0)
    rng = np.random.default_rng(5)
    each = [linear_response(t, r + sigma * rng.standard_normal(r.size), hz=hz, amp=AMP)
            for _ in range(seeds)]
    both = combine_linear_responses(each)
    assert both.se_from == "seeds" and both.n_periods == sum(x.n_periods for x in each)
    n = np.count_nonzero((t >= each[0].t_start - 1e-9) & (t + DT <= each[0].t_stop + 1e-9))
    blur = np.sinc(math.pi * hz / 1000 * DT / np.pi)
    se = sigma * math.sqrt(2.0 / n) / blur / math.sqrt(seeds) / AMP
    assert abs(both.gain - gain) < 4 * se
    assert 0.5 < both.gain_se / se < 1.6       # relative sd of a 20-seed sd: ~16 %
    assert combine_linear_responses(each[:1]) == each[0]
    with pytest.raises(ValueError, match="share hz and amp"):
        combine_linear_responses([each[0], linear_response(t, r, hz=hz, amp=1.0)])


def test_linear_response_input_errors():
    t, r, _, _ = low_pass_trace(10.0, t_end=300.0)
    with pytest.raises(ValueError, match="fewer than 2 whole periods of 2 Hz"):
        linear_response(t, r, hz=2.0, amp=AMP)
    with pytest.raises(ValueError, match="amp must be a non-zero amplitude"):
        linear_response(t, r, hz=10.0, amp=0.0)
    with pytest.raises(ValueError, match="uniform grid"):
        linear_response(np.r_[t[:-1], t[-1] + 1.0], r, hz=10.0, amp=AMP)
    with pytest.raises(ValueError, match="rate is not finite"):
        linear_response(t, np.r_[r[:-1], np.nan], hz=10.0, amp=AMP)


# ---------------------------------------------------------------------------------------------
# step responses with known latency, overshoot and settling time
# ---------------------------------------------------------------------------------------------

T_STEP = 500.0
TIME = np.arange(0, 1000.0, DT)


def first_order(t, r0=20.0, change=15.0, tau=8.0, delay=2.0):
    u = np.maximum(t - T_STEP - delay, 0.0)
    return r0 + change * (1 - np.exp(-u / tau))


@pytest.mark.parametrize("change", [15.0, -12.0])
def test_first_order_step(change):
    tau, delay, band = 8.0, 2.0, 0.1
    res = step_response(TIME, first_order(TIME, change=change), T_STEP, band=band)
    assert isinstance(res, StepResponse)
    assert res.rate_before == pytest.approx(20.0, abs=1e-12)
    assert res.rate_after == pytest.approx(20.0 + change, abs=1e-6 * abs(change))
    # linear interpolation of an exponential: crossing-time error <= dt² / (8 tau)
    assert res.latency == pytest.approx(delay + tau * math.log(2), abs=DT ** 2 / (8 * tau) + 1e-9)
    assert res.overshoot <= 1e-6
    # the first sample inside the band comes at most one sample after the exact time
    exact = delay + tau * math.log(1 / band)
    assert exact - 1e-9 <= res.settling_time <= exact + DT + 1e-9


def test_second_order_step_overshoot():
    zeta, wn, change = 0.3, 0.5, 10.0        # damping, rad/ms, Hz
    wd = wn * math.sqrt(1 - zeta ** 2)

    def r(t):
        u = np.maximum(np.asarray(t, float) - T_STEP, 0.0)
        return 30.0 + change * (1 - np.exp(-zeta * wn * u) * (np.cos(wd * u)
                                + zeta / math.sqrt(1 - zeta ** 2) * np.sin(wd * u)))

    res = step_response(TIME, r(TIME), T_STEP)
    peak = math.exp(-math.pi * zeta / math.sqrt(1 - zeta ** 2))
    # the sampled peak is within dt/2 of the true one: r'' <= change wn² (1 + peak)
    assert res.overshoot == pytest.approx(peak, abs=wn ** 2 * (1 + peak) * DT ** 2 / 8 + 1e-6)
    t_half = brentq(lambda x: float(r(T_STEP + x)) - 30.0 - change / 2, 1e-9, math.pi / wd)
    d1 = (float(r(T_STEP + t_half + 1e-4)) - float(r(T_STEP + t_half - 1e-4))) / 2e-4
    d2 = (float(r(T_STEP + t_half + 1e-3)) - 2 * float(r(T_STEP + t_half))
          + float(r(T_STEP + t_half - 1e-3))) / 1e-6
    assert res.latency == pytest.approx(t_half, abs=DT ** 2 * abs(d2) / (8 * abs(d1)) + 1e-6)
    fine = np.arange(0, 300, 1e-3)
    outside = np.flatnonzero(np.abs(r(T_STEP + fine) - res.rate_after) > 0.1 * abs(change))
    assert fine[outside[-1]] - 1e-9 <= res.settling_time <= fine[outside[-1]] + DT + 1e-9


def test_noisy_step_within_its_standard_errors():
    sigma, tau, change = 0.2, 8.0, 15.0
    rng = np.random.default_rng(3)
    res = step_response(TIME, first_order(TIME) + sigma * rng.standard_normal(TIME.size), T_STEP)
    n_pre, n_late = 2000, 1500
    assert abs(res.rate_before - 20.0) < 4 * sigma / math.sqrt(n_pre)
    assert abs(res.rate_after - 35.0) < 4 * sigma / math.sqrt(n_late)
    # noise of sd sigma moves a crossing of slope change/(2 tau) by ~sigma/slope; the first
    # crossing of a noisy trace is early by at most ~6 of those (and a sample)
    slope = change / (2 * tau)
    assert abs(res.latency - (2.0 + tau * math.log(2))) < 6 * sigma / slope + DT


def test_no_change_and_across_seeds():
    flat = step_response(TIME, np.full(TIME.size, 5.0), T_STEP)
    assert flat.change == 0.0 and math.isnan(flat.latency) and math.isnan(flat.settling_time)
    runs = [step_response(TIME, first_order(TIME, change=c), T_STEP) for c in (10.0, 12.0, 14.0)]
    runs.append(flat)
    stats = across_seeds(runs)
    assert stats["change"].n == 4 and stats["change"].mean == pytest.approx(9.0)
    assert stats["change"].sd == pytest.approx(np.std([10, 12, 14, 0], ddof=1))
    assert stats["latency"].n == 3                   # the flat run has no latency
    assert stats["change"].sem == pytest.approx(stats["change"].sd / 2)
    with pytest.raises(ValueError, match="does not cover the windows"):
        step_response(TIME, first_order(TIME), 900.0)


# ---------------------------------------------------------------------------------------------
# figures
# ---------------------------------------------------------------------------------------------

def test_bode_figure_draws_a_band_for_seeds_and_lines_for_reductions(tmp_path):
    from snnreduce.plot import save_figure

    freqs = (2.0, 10.0, 40.0, 160.0)
    rng = np.random.default_rng(0)
    network, dsode = [], []
    for hz in freqs:
        t, r, _, _ = low_pass_trace(hz, t_end=1600.0)
        network.append([linear_response(t, r + rng.standard_normal(r.size), hz=hz, amp=AMP)
                        for _ in range(3)])
        dsode.append(linear_response(t, r, hz=hz, amp=AMP))
    fig = bode_figure({"snn": network, "dsode": dsode})
    ax_g, ax_p = fig.axes
    assert ax_g.get_xscale() == "log" and ax_g.get_yscale() == "log"
    assert "Hz per kicks/ms" in ax_g.get_ylabel() and "degrees" in ax_p.get_ylabel()
    assert "frequency (Hz)" in ax_p.get_xlabel()
    assert len(ax_g.collections) >= 1          # the network's band
    labels = [text.get_text() for text in ax_g.get_legend().get_texts()]
    assert labels == ["network (stepped): mean ± sd, 3 seeds", "dsODE"]   # registry labels
    np.testing.assert_allclose(ax_g.lines[1].get_xdata(), freqs)
    save_figure(fig, tmp_path / "bode.png")
    assert (tmp_path / "bode.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # one noisy run per frequency: a line with error bars across periods, said in the legend
    noisy = [linear_response(t, r + rng.standard_normal(r.size), hz=hz, amp=AMP)
             for hz in freqs for t, r, _, _ in [low_pass_trace(hz, t_end=1600.0)]]
    fig = bode_figure({"dsode": noisy})
    labels = [text.get_text() for text in fig.axes[0].get_legend().get_texts()]
    assert labels == ["dsODE: ± s.e. across periods"]


def test_step_response_figure_panels():
    seeds = np.stack([first_order(TIME, change=c) for c in (14.0, 15.0, 16.0)])
    fig = step_response_figure(TIME, {"E": {"snn": seeds, "dsode": first_order(TIME)},
                                      "I": {"snn": seeds * 1.5}}, T_STEP)
    assert len(fig.axes) == 2
    assert fig.axes[0].get_ylabel() == "E rate (Hz/neuron)"
    assert fig.axes[1].get_xlabel() == "time (ms)"
    x = fig.axes[0].lines[0].get_xdata()
    assert x.min() >= T_STEP - 100 - 1e-9 and x.max() <= T_STEP + 300 + 1e-9
