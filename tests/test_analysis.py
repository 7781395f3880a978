"""Statistics of snnreduce.analysis on synthetic inputs with known answers.

Tolerances come from the statistics of the synthetic input (standard errors from the
known distributions or from batch means), at about 5 standard errors, so each test
passes for any seed, not only the fixed one used here.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from snnreduce import NetworkParams, Result
from snnreduce.analysis import (
    attractor_coordinates, count_above, firing_rate, firing_rates, mfe, peak_differences,
    peak_sequence, population_rate, spectrum, ssi, summarize, to_neo,
)

DT = 0.1


# ---------------------------------------------------------------- synthetic results
def from_steps(steps, neurons, n_e, n_i, n_steps, *, dt=DT, engine="stepped", records=None):
    """A network Result whose spikes sit at the start of their step."""
    steps = np.asarray(steps, dtype=np.int64)
    neurons = np.asarray(neurons, dtype=np.int64)
    return from_times(steps * dt, neurons, n_e, n_i, n_steps, dt=dt, engine=engine,
                      steps=steps, records=records)


def from_times(times, neurons, n_e, n_i, n_steps, *, dt=DT, engine="markov", steps=None,
               records=None):
    """A network Result from spike times (ms) and global neuron indices."""
    times = np.asarray(times, dtype=np.float64)
    neurons = np.asarray(neurons, dtype=np.int64)
    steps = np.floor(times / dt).astype(np.int64) if steps is None else steps
    counts = np.zeros((n_steps, 2), dtype=np.int64)
    np.add.at(counts, (steps, (neurons >= n_e).astype(np.int64)), 1)
    order = np.argsort(times, kind="stable")
    return Result(params=NetworkParams(n_e=n_e, n_i=n_i, dt=dt), engine=engine, seed=0,
                  t_end=n_steps * dt, dt=dt, population_counts=counts,
                  spike_times=times[order], spike_neurons=neurons[order],
                  records=records or {})


def from_counts(counts, n_e, n_i, *, dt=DT, engine="dsode", records=None):
    """A dsODE-like Result: real-valued counts and no individual spikes."""
    counts = np.asarray(counts, dtype=np.float64)
    return Result(params=NetworkParams(n_e=n_e, n_i=n_i, dt=dt), engine=engine, seed=None,
                  t_end=counts.shape[0] * dt, dt=dt, population_counts=counts,
                  records=records or {})


def poisson_times(rng, n, rate_hz, t_end):
    """Independent Poisson trains: times (ms, continuous) and neuron indices 0..n-1."""
    total = rng.poisson(n * rate_hz * t_end / 1000.0)
    return rng.uniform(0.0, t_end, total), rng.integers(0, n, total)


def burst_steps(rng, centres, fractions, n, sigma, n_steps, dt=DT):
    """Each neuron fires once per burst with probability ``fraction``, time ~ N(centre, sigma)."""
    steps, neurons = [], []
    for centre, fraction in zip(centres, fractions):
        who = np.flatnonzero(rng.random(n) < fraction)
        t = centre + sigma * rng.standard_normal(who.size)
        steps.append(np.floor(t / dt).astype(np.int64))
        neurons.append(who)
    steps, neurons = np.concatenate(steps), np.concatenate(neurons)
    ok = (steps >= 0) & (steps < n_steps)
    return steps[ok], neurons[ok]


def batch_se(values_of_blocks):
    v = np.asarray(values_of_blocks)
    return v.std(ddof=1) / np.sqrt(v.size)


# ------------------------------------------------------------------------- rates
def test_rate_of_known_counts_ignores_discarded_transient():
    n_steps = 20000                                     # 2 s
    counts = np.zeros((n_steps, 2), dtype=np.int64)
    counts[:, 0], counts[:, 1] = 3, 1
    counts[:1000] = 500                                 # transient in the first 100 ms
    res = from_counts(counts, 300, 100, engine="stepped")
    # 3 spikes per 0.1 ms over 300 neurons = 0.1 spike/ms/neuron = 100 Hz; 1/(100 * 0.1 ms) = 100 Hz
    assert firing_rates(res) == pytest.approx({"E": 100.0, "I": 100.0}, rel=1e-12)
    assert firing_rates(counts, dt=DT, n=(300, 100)) == pytest.approx({"E": 100.0, "I": 100.0})
    assert firing_rate(counts[:, 0], None, dt=DT, n=300) == pytest.approx(100.0)
    # discard=0 includes the transient: (500*1000 + 3*19000) / (300 * 2000 ms)
    assert firing_rate(res, "E", 0.0) == pytest.approx(1000 * (500e3 + 57e3) / (300 * 2000.0))


def test_discard_maps_to_whole_steps():
    counts = np.arange(10, dtype=float)
    # steps starting at or after 0.25 ms: 0.3, 0.4, ... -> indices 3..9
    assert firing_rate(counts, None, 0.25, dt=DT, n=1) == pytest.approx(1000 * 42 / 0.7)
    assert firing_rate(counts, None, 0.3, dt=DT, n=1) == pytest.approx(1000 * 42 / 0.7)


# --------------------------------------------------------------------------- SSI
def test_ssi_of_independent_poisson_trains_matches_its_asynchronous_value():
    rng = np.random.default_rng(11)
    n, rate, t_end = 200, 40.0, 20_000.0
    n_steps = int(t_end / DT)
    times, neurons = poisson_times(rng, n, rate, t_end)
    res = from_times(times, neurons, n, 1, n_steps)
    lam = n * rate / 1000 * DT                            # mean count per step (0.8)
    kept = n_steps - 1000                                 # steps after the 100 ms discard
    # E[sum c W] / E[sum c] with c ~ iid Poisson(lam), window 11 steps clipped at the ends
    expected_counts = (1 + lam * (11 - 30 / kept)) / n
    # spikes method, window exactly 1 ms: itself + N r (w - w^2 / 4T)
    expected_spikes = (1 + n * rate / 1000 * (1.0 - 1.0 / (4 * (t_end - 100)))) / n
    blocks = np.array_split(np.arange(1000, n_steps), 25)
    counts_e = res.population_counts[:, 0]
    se = batch_se([ssi(counts_e[b], None, discard=0, dt=DT, n=n) for b in blocks])
    got = ssi(res, "E")
    assert got == pytest.approx(1 / n + 11 * lam / n, rel=0.02)   # "≈ (1 + 11 c̄) / N"
    assert abs(got - expected_counts) < 5 * se
    block_spikes = []
    for b in blocks:
        keep = (times >= b[0] * DT) & (times < (b[-1] + 1) * DT)
        sub = from_times(times[keep] - b[0] * DT, neurons[keep], n, 1, b.size)
        block_spikes.append(ssi(sub, "E", discard=0, method="spikes"))
    se_spikes = batch_se(block_spikes)
    assert abs(ssi(res, "E", method="spikes") - expected_spikes) < 5 * se_spikes


@pytest.mark.parametrize("spread", [0.0, 0.2])
def test_ssi_is_one_for_fully_synchronous_volleys(spread):
    n, period, n_steps = 50, 20.0, 30000
    steps, neurons = [], []
    rng = np.random.default_rng(3)
    for centre in np.arange(5.0, n_steps * DT - 5, period):
        offsets = rng.integers(0, int(round(spread / DT)) + 1, n)   # volley within `spread` ms
        steps.append(int(round(centre / DT)) + offsets)
        neurons.append(np.arange(n))
    res = from_steps(np.concatenate(steps), np.concatenate(neurons), n, 1, n_steps)
    assert ssi(res, "E") == pytest.approx(1.0, abs=1e-12)
    assert ssi(res, "E", method="spikes") == pytest.approx(1.0, abs=1e-12)


def test_ssi_counts_and_spikes_agree_on_the_step_grid():
    rng = np.random.default_rng(5)
    n, n_steps = 40, 5000
    steps = rng.integers(0, n_steps, 3000)
    res = from_steps(steps, rng.integers(0, n, steps.size), n, 1, n_steps)
    assert ssi(res, "E", method="spikes") == pytest.approx(ssi(res, "E"), rel=1e-12)
    assert ssi(res, "E", window=2.0, method="spikes") == pytest.approx(ssi(res, "E", window=2.0),
                                                                        rel=1e-12)


def test_ssi_of_expected_counts_equals_integer_counts_and_constant_value():
    rng = np.random.default_rng(9)
    counts = rng.poisson([1.4, 0.7], size=(20000, 2))
    net = from_counts(counts.astype(np.int64), 300, 100, engine="stepped")
    ode = from_counts(counts.astype(np.float64), 300, 100)
    for pop in ("E", "I"):
        assert ssi(ode, pop) == ssi(net, pop)
    # a constant expected count c gives (2m+1) c / N up to the clipped windows at the ends
    c, kept = 1.3, 19000
    flat = from_counts(np.full((20000, 2), c), 300, 100)
    assert ssi(flat, "E") == pytest.approx(c * (11 - 30 / kept) / 300, rel=1e-12)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 20), min_size=1, max_size=200), st.floats(0.0, 3.0))
def test_ssi_bounds_for_integer_counts(values, window):
    counts = np.asarray(values, dtype=float)
    if counts.sum() == 0:
        assert np.isnan(ssi(counts, None, window, 0.0, dt=DT, n=25))
        return
    m = int(np.floor(window / (2 * DT) + 1e-9))
    widest = max(counts[max(0, t - m): t + m + 1].sum() for t in range(counts.size))
    got = ssi(counts, None, window, 0.0, dt=DT, n=25)
    assert 1 / 25 - 1e-12 <= got <= widest / 25 + 1e-12


# --------------------------------------------------------------- MFE and spectrum
def periodic_bursts(rng, period, fractions, *, n_e=300, sigma=0.5, background_hz=5.0,
                    t_end=2100.0, first=110.0):
    n_steps = int(round(t_end / DT))
    centres = np.arange(first, t_end - 10.0, period)
    fracs = np.resize(np.asarray(fractions, dtype=float), centres.size)
    steps, neurons = burst_steps(rng, centres, fracs, n_e, sigma, n_steps)
    bt, bn = poisson_times(rng, n_e, background_hz, t_end)
    steps = np.concatenate([steps, np.floor(bt / DT).astype(np.int64)])
    neurons = np.concatenate([neurons, bn])
    return from_steps(steps, neurons, n_e, 1, n_steps), centres


def test_mfe_of_periodic_bursts():
    rng = np.random.default_rng(21)
    period, fraction, n_e = 16.0, 0.8, 300
    res, centres = periodic_bursts(rng, period, [fraction])
    events = mfe(res, "E")
    assert events.count == centres.size
    assert np.all(np.abs(events.peak_times - centres) < 1.0)
    assert events.mean_interval_ms == pytest.approx(period, abs=0.05)
    assert np.all(np.abs(events.intervals - period) < 1.0)
    # size: Binomial(N, 0.8) burst plus the background inside the event (5 Hz * N * duration)
    background = 5.0 / 1000 * n_e * events.durations.mean() / n_e
    se = np.sqrt(fraction * (1 - fraction) / n_e / events.count)
    assert abs(events.mean_size - fraction - background) < 5 * se + background
    # each event spans its burst (sigma 0.5 ms) plus the 1.1 ms smoothing window
    assert np.all(events.durations > 2 * 0.5) and np.all(events.durations < 6 * 0.5 + 1.1 + 2.0)
    assert events.frequency_hz == pytest.approx(1000 * centres.size / 2000.0)


def test_mfe_finds_small_bursts_of_a_period_two_rhythm():
    # Alternating 90 % / 15 % bursts (sigma 1 ms) over a 2 Hz background. A small burst puts
    # ~45 erf(0.55 / sqrt 2) ≈ 19 spikes in the 1.1 ms window, below twice the overall mean
    # count (~22 per window), but far above the between-burst baseline (~0.7 per window).
    rng = np.random.default_rng(25)
    res, centres = periodic_bursts(rng, 16.0, [0.9, 0.15], sigma=1.0, background_hz=2.0)
    events = mfe(res, "E", min_size=0.05)     # small bursts: 45 ± 6 spikes, well above 15
    assert events.count == centres.size
    assert events.baseline < 0.2 * res.population_counts[1000:, 0].mean()
    big, small = events.relative_sizes[0::2], events.relative_sizes[1::2]
    # Binomial sizes (SD sqrt(p (1-p) / N) per event) plus < 2 Hz * 10 ms of background each
    for got, p in ((big, 0.9), (small, 0.15)):
        assert abs(got.mean() - p) < 5 * np.sqrt(p * (1 - p) / 300 / got.size) + 0.02


def test_mfe_merge_joins_runs_across_short_gaps():
    counts = np.zeros(2000)
    counts[[500, 517]] = 40                 # two volleys 1.7 ms apart: runs 0.6 ms apart
    split = mfe(counts, None, discard=0, dt=DT, n=100)
    joined = mfe(counts, None, discard=0, dt=DT, n=100, merge=1.0)
    assert split.count == 2 and np.allclose(split.sizes, 40)
    assert joined.count == 1 and np.allclose(joined.sizes, 80)
    assert np.allclose(split.durations, 1.1) and np.allclose(joined.durations, 2.8)


def test_mfe_minimum_size_and_asynchronous_activity():
    rng = np.random.default_rng(22)
    n_e, n_steps = 300, 21000
    centres = np.arange(110.0, 2090.0, 16.0)
    steps = np.concatenate([np.floor((c + 0.1 * rng.standard_normal(12)) / DT) for c in centres])
    neurons = np.concatenate([rng.choice(n_e, 12, replace=False) for _ in centres])
    res = from_steps(steps.astype(np.int64), neurons, n_e, 1, n_steps)   # exactly 12 spikes each
    assert mfe(res, "E").count == 0                                  # 4 % < min_size 10 %
    small = mfe(res, "E", min_size=0.03)
    assert small.count == centres.size and np.all(small.sizes == 12)
    # independent Poisson firing, at the reference E rate and at a sparse 10 Hz: the detection
    # level is exceeded in at most a fraction alpha = 1e-5 of the 1e5 steps (1 expected run);
    # P(Poisson(1) >= 7) < 1e-4
    for rate in (47.0, 10.0):
        times, neurons = poisson_times(rng, n_e, rate, 10_000.0)
        assert mfe(from_times(times, neurons, n_e, 1, 100_000), "E").count <= 6


def test_spectrum_peak_of_periodic_bursts():
    rng = np.random.default_rng(23)
    period = 16.0                                        # 62.5 Hz
    res, _ = periodic_bursts(rng, period, [0.8], t_end=4100.0)
    spec = spectrum(res, "E")
    df = spec.frequencies[1] - spec.frequencies[0]
    assert df == pytest.approx(2.0)
    assert abs(spec.peak_hz - 1000 / period) <= df
    assert 0 < spec.relative_band_power < 1
    assert spec.band_power == pytest.approx(
        spec.psd[(spec.frequencies >= 30) & (spec.frequencies <= 90)].sum() * df)


def test_spectrum_units_integrate_to_rate_variance():
    rng = np.random.default_rng(24)
    n, lam, size = 300, 1.4, 200_000
    counts = rng.poisson(lam, size).astype(float)
    spec = spectrum(counts, None, 0.0, dt=DT, n=n)
    # white Poisson counts: var(rate) = (1000 / (N dt))^2 * lam, spread flat over 0..5000 Hz.
    # The sample variance of Poisson(lam) has relative SD sqrt((mu4 - sigma^4) / size) / lam
    # with mu4 = lam (1 + 3 lam): 0.0037 here (0.0038 measured over 300 seeds).
    variance = (1000 / (n * DT)) ** 2 * lam
    rel_sd = np.sqrt(lam * (1 + 3 * lam) - lam**2) / (lam * np.sqrt(size))
    assert spec.total_power == pytest.approx(variance, rel=6 * rel_sd)
    # band share: 31 bins (30, 32, ..., 90 Hz) of 2499.5 (Nyquist bin holds half weight).
    # Each bin averages 79 half-overlapping Hann segments (relative SD ~0.12); the mean of
    # 31 neighbouring, partly correlated bins has relative SD ~0.03 (0.029 over 300 seeds).
    assert spec.relative_band_power == pytest.approx(31 / 2499.5, rel=5 * 0.03)


def test_spectrum_of_a_constant_rate_has_no_peak():
    spec = spectrum(from_counts(np.full((5000, 2), 1.7), 300, 100), "E")
    assert np.isnan(spec.peak_hz) and np.isnan(spec.relative_band_power)
    assert spec.band_power == pytest.approx(0.0, abs=1e-20)


# ----------------------------------------------------------- bifurcation signature
def test_peak_differences_period_two_and_period_one():
    rng = np.random.default_rng(31)
    n_e = 1000
    two, centres = periodic_bursts(rng, 16.0, [0.9, 0.4], n_e=n_e, t_end=3100.0)
    peaks = peak_sequence(two, "E")
    assert peaks.times.size == centres.size
    diffs = peak_differences(peaks)
    assert np.all(np.sign(diffs[:-1]) == -np.sign(diffs[1:]))     # alternating: two branches
    # a Gaussian burst of K spikes (sigma 0.5 ms) puts erf(0.55 / (0.5 sqrt 2)) of them in the
    # 1.1 ms window around its centre: height ≈ 0.728 K / 1.1 spikes/ms
    from math import erf, sqrt
    d = erf(0.55 / (0.5 * sqrt(2))) * 0.5 * n_e / 1.1
    up, down = diffs[diffs > 0], diffs[diffs < 0]
    assert up.mean() == pytest.approx(d, rel=0.1)
    assert up.mean() == pytest.approx(-down.mean(), rel=0.02)
    assert up.min() > 0.5 * d and down.max() < -0.5 * d
    one, _ = periodic_bursts(rng, 16.0, [0.65], n_e=n_e, t_end=3100.0)
    flat = peak_differences(one, "E")
    assert abs(flat.mean()) < 5 * flat.std(ddof=1) / np.sqrt(flat.size)
    assert flat.std() < 0.2 * d                                    # one band around 0


def test_peak_sequence_distance_and_height():
    counts = np.zeros(3000)
    counts[[500, 560, 1500, 2500]] = [40, 30, 50, 5]   # 560 is 6 ms after 500: merged away
    peaks = peak_sequence(counts, None, discard=0, dt=DT)
    assert np.allclose(peaks.times, [50.0, 150.0, 250.0])
    high = peak_sequence(counts, None, discard=0, dt=DT, height=10.0)
    assert np.allclose(high.times, [50.0, 150.0])
    assert np.allclose(high.heights, [40 / 1.1, 50 / 1.1])   # spikes per ms in 1.1 ms window


# ------------------------------------------------------------------ attractor
def test_attractor_coordinates_network():
    rng = np.random.default_rng(41)
    n_e, n_i, n_steps = 30, 10, 2000
    pending = rng.integers(0, 50, (n_steps, 4)).astype(float)
    voltage = rng.uniform(-20, 100, (n_steps, n_e + n_i))
    res = from_steps([], [], n_e, n_i, n_steps, records={"pending": pending, "voltage": voltage})
    coords = attractor_coordinates(res, gate=60.0)
    assert np.array_equal(coords.pending_excitatory, pending[1000:, 0] + pending[1000:, 1])
    assert np.array_equal(coords.pending_inhibitory, pending[1000:, 2] + pending[1000:, 3])
    assert np.array_equal(coords.above_gate, (voltage[1000:, :n_e] >= 60).sum(axis=1))
    assert coords.as_array().shape == (1000, 3)
    assert attractor_coordinates(res).gate == 70.0
    with pytest.raises(ValueError, match=r"record=\(\"pending\", \"voltage\"\)"):
        attractor_coordinates(res.replace(records={"pending": pending}))


def test_count_above_uses_the_uniform_interval_of_each_bin():
    edges = np.arange(0.0, 101.0, 10.0)
    counts = np.zeros(10)
    counts[7], counts[8], counts[9], counts[3] = 10, 4, 6, 50
    means = np.full(10, np.nan)
    means[8], means[9], means[3] = 85.0, 91.0, 35.0
    # bin [70, 80) straddles the gate 75; its neurons are uniform on [a, b] with mean v:
    # v = 75 -> [70, 80]; 78 -> [76, 80] (all above); 72 -> [70, 74] (none); 73 -> [70, 76]
    # (1/6 above); unknown mean -> the whole bin
    for mean, fraction in [(75.0, 0.5), (78.0, 1.0), (72.0, 0.0), (73.0, 1 / 6), (np.nan, 0.5)]:
        means[7] = mean
        assert count_above(75.0, counts, means, edges) == pytest.approx(4 + 6 + 10 * fraction)
    # a gate on a bin edge counts whole bins
    assert count_above(80.0, counts, means, edges) == pytest.approx(10.0)


def test_attractor_coordinates_dsode_agrees_with_binned_network_voltages():
    rng = np.random.default_rng(42)
    n_e, n_steps, gate = 2000, 1200, 63.0
    edges = np.arange(-40.0, 100.1, 4.0)
    voltage = rng.uniform(-40, 100, (n_steps, n_e + 10))
    counts = np.zeros((n_steps, 2, edges.size - 1))
    means = np.full_like(counts, np.nan)
    which = np.clip(np.digitize(voltage[:, :n_e], edges) - 1, 0, edges.size - 2)
    for t in range(n_steps):
        counts[t, 0] = np.bincount(which[t], minlength=edges.size - 1)
        sums = np.bincount(which[t], weights=voltage[t, :n_e], minlength=edges.size - 1)
        means[t, 0] = np.where(counts[t, 0] > 0, sums / np.maximum(counts[t, 0], 1), np.nan)
    pending = np.ones((n_steps, 4))
    net = from_steps([], [], n_e, 10, n_steps, records={"pending": pending, "voltage": voltage})
    ode = from_counts(np.zeros((n_steps, 2)), n_e, 10,
                      records={"pending": pending, "bin_count": counts, "bin_mean": means,
                               "bin_edges": edges})
    a = attractor_coordinates(net, gate=gate).above_gate
    b = attractor_coordinates(ode, gate=gate).above_gate
    # only the straddling bin differs: ~N/35 neurons uniform in it, one Binomial fraction
    per_bin = n_e / 35
    assert np.abs(a - b).max() < 5 * np.sqrt(per_bin) + 1
    assert abs((a - b).mean()) < 5 * np.sqrt(per_bin) / np.sqrt(a.size) + 0.5
    with pytest.raises(ValueError, match="bin_count"):
        attractor_coordinates(ode.replace(records={"pending": pending}))


# ----------------------------------------------------------------------- neo
def test_neo_round_trip_and_elephant_rate():
    pq = pytest.importorskip("quantities")
    elephant_statistics = pytest.importorskip("elephant.statistics")
    rng = np.random.default_rng(51)
    n_e, n_i, n_steps = 40, 10, 20000
    times, neurons = poisson_times(rng, n_e + n_i, 30.0, n_steps * DT)
    res = from_steps(np.floor(times / DT).astype(np.int64), neurons, n_e, n_i, n_steps)
    segment = to_neo(res)
    assert len(segment.spiketrains) == n_e + n_i
    for train in segment.spiketrains:
        g = train.annotations["global_index"]
        assert np.array_equal(train.magnitude, res.spike_times[res.spike_neurons == g])
        assert train.annotations["population"] == ("E" if g < n_e else "I")
    rates = firing_rates(res)
    for pop in ("E", "I"):
        trains = [t for t in segment.spiketrains if t.annotations["population"] == pop]
        mean = np.mean([elephant_statistics.mean_firing_rate(
            t, t_start=100.0 * pq.ms, t_stop=t.t_stop).rescale("Hz").magnitude for t in trains])
        assert mean == pytest.approx(rates[pop], rel=1e-12)
    assert len(to_neo(res, "I").spiketrains) == n_i


def test_neo_errors(monkeypatch):
    with pytest.raises(ValueError, match="no individual spikes"):
        to_neo(from_counts(np.ones((10, 2)), 3, 1))
    import sys
    monkeypatch.setitem(sys.modules, "neo", None)
    with pytest.raises(ImportError, match=r"pip install snnreduce\[neo\]"):
        to_neo(from_steps([1], [0], 3, 1, 10))


# ------------------------------------------------------------------- summary
def test_summarize_keys_json_and_determinism():
    rng = np.random.default_rng(61)
    res, _ = periodic_bursts(rng, 16.0, [0.8])
    first, second = summarize(res), summarize(res)
    assert first == second
    assert set(first) == {"rate_hz", "ssi", "gamma_peak_hz", "gamma_power", "mfe"}
    for key in ("rate_hz", "ssi", "gamma_peak_hz", "gamma_power"):
        assert set(first[key]) == {"E", "I"}
    assert set(first["mfe"]["E"]) == {"count", "mean_size", "mean_interval_ms"}
    json.dumps(first, allow_nan=False)
    # the I population of this fake network never fires: undefined values become None
    assert first["rate_hz"]["I"] == 0.0 and first["ssi"]["I"] is None
    assert first["mfe"]["I"] == {"count": 0, "mean_size": None, "mean_interval_ms": None}
    assert first["mfe"]["E"]["count"] == mfe(res, "E").count
    assert abs(first["gamma_peak_hz"]["E"] - 62.5) <= 2.0


def test_summarize_is_the_same_for_network_and_dsode_counts():
    rng = np.random.default_rng(62)
    res, _ = periodic_bursts(rng, 16.0, [0.8])
    ode = from_counts(res.population_counts.astype(float), res.params.n_e, res.params.n_i)
    assert summarize(ode) == summarize(res)


def test_summarize_diverged_run_gives_none():
    counts = np.ones((3000, 2))
    counts[2000:, 0] = np.nan
    out = summarize(from_counts(counts, 30, 10))
    assert out["rate_hz"]["E"] is None and out["mfe"]["E"]["count"] is None
    assert out["rate_hz"]["I"] == pytest.approx(1000 / (10 * DT))
    json.dumps(out, allow_nan=False)
    # a run that stopped early (its counts end there), even before the discarded transient
    for steps in (3000, 500):
        stopped = from_counts(np.ones((steps, 2)), 30, 10).replace(status="diverged: at t = 50 ms")
        out = summarize(stopped)
        assert all(out[k][p] is None for k in ("rate_hz", "ssi", "gamma_peak_hz") for p in "EI")
        assert out["mfe"]["E"] == {"count": None, "mean_size": None, "mean_interval_ms": None}


def test_population_rate_smooths_with_the_documented_window():
    counts = np.zeros(100)
    counts[50] = 11.0
    time, rate = population_rate(counts, None, dt=DT, n=10)
    assert np.allclose(time, np.arange(100) * DT)
    # 11 spikes spread over the 11 steps 45..55: 1 spike per step over 10 neurons = 1000 Hz
    assert np.allclose(rate[45:56], 1000.0) and np.all(rate[:45] == 0) and np.all(rate[56:] == 0)
    assert population_rate(from_counts(np.ones((3000, 2)), 30, 10), "I")[1] == pytest.approx(1000.0)


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("call, message", [
    (lambda r: ssi(r, "X"), "population must be 'E' or 'I'"),
    (lambda r: firing_rates(r, discard=500.0), "leaves no data"),
    (lambda r: firing_rates(r, discard=-1.0), "discard must be"),
    (lambda r: firing_rates(r, dt=0.1), "only with plain arrays"),
    (lambda r: ssi(r.population_counts, "E"), "pass dt="),
    (lambda r: ssi(r.population_counts[:, 0], None, dt=DT), "pass n="),
    (lambda r: ssi(r, "E", method="other"), "method must be"),
    (lambda r: mfe(r, "E", threshold=1.0, release=2.0), "release must not exceed"),
    (lambda r: mfe(r, "E", alpha=2.0), "alpha must be in"),
    (lambda r: mfe(r, "E", min_size=-0.1), "min_size must be"),
    (lambda r: spectrum(r, "E", band=(90, 30)), "band must be"),
    (lambda r: spectrum(r, "E", segment=0), "segment must be"),
    (lambda r: peak_sequence(r, "E", distance_ms=float("nan")), "distance_ms must be"),
    (lambda r: ssi(r, "E", window=True), "window must be"),
    (lambda r: attractor_coordinates(r), "record"),
    (lambda r: ssi(from_counts(r.population_counts, 3, 1), "E", method="spikes"), "no individual"),
])
def test_bad_input_gets_a_clear_error(call, message):
    res = from_steps([1, 2, 3], [0, 1, 3], 3, 1, 4000)       # 400 ms
    with pytest.raises(ValueError, match=message):
        call(res)


def test_period2_alternation_tells_period_two_from_period_one():
    from snnreduce.analysis import period2_alternation

    dt, period = 0.1, 200  # a burst every 20 ms, 2000 ms
    counts = np.zeros(20000)
    counts[::period] = 1.0
    counts[::2 * period] = 3.0  # every other burst three times larger: period 2
    assert period2_alternation(counts, None, dt=dt, discard=0.0) == 1.0
    counts[::period] = 1.0  # all bursts equal: period 1
    assert period2_alternation(counts, None, dt=dt, discard=0.0) == 0.0
    assert np.isnan(period2_alternation(counts[:500], None, dt=dt, discard=0.0))


def test_sweep_peak_heights_drop_the_padding_and_feed_the_alternation():
    """A sweep file stores peak heights NaN-padded to the longest run; the padding must not
    count as peaks (NaN differences would make every flip test false)."""
    import xarray as xr

    from snnreduce.analysis import (PeakSequence, period2_alternation, pooled_peak_differences,
                                    sweep_peak_heights)

    alternating = np.tile([3.0, 1.0], 20)
    flat = np.concatenate([np.ones(30), np.full(10, np.nan)])
    padded = np.stack([np.concatenate([alternating, np.full(0, np.nan)]), flat])  # (p_ei, peak)
    ds = xr.Dataset({"peak_height": (("p_ei", "model", "seed", "peak"),
                                     padded[:, None, None, :])},
                    coords={"p_ei": [0.8, 0.9], "model": ["snn"], "seed": [0]})
    heights = sweep_peak_heights(ds, "p_ei", "snn")
    assert [h.size for per in heights for h in per] == [40, 30]
    peaks = PeakSequence(population="E", times=np.zeros(40), heights=heights[0][0], height=0.5)
    assert period2_alternation(peaks) == 1.0
    flat_peaks = PeakSequence(population="E", times=np.zeros(30), heights=heights[1][0],
                              height=0.5)
    assert period2_alternation(flat_peaks) == 0.0
    pooled = pooled_peak_differences(ds, "p_ei", "snn")
    assert np.array_equal(np.abs(pooled[0]), np.full(39, 2.0)) and not pooled[1].any()
