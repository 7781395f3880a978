"""Power spectrum of the population rate and its gamma-band summary."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import welch

from ._common import check_number, population_series

__all__ = ["Spectrum", "spectrum", "GAMMA_BAND"]

# Relative variance below which a rate counts as constant.
_FLAT = 1e-20

#: Gamma band, Hz (inclusive).
GAMMA_BAND = (30.0, 90.0)


@dataclass(frozen=True, eq=False)
class Spectrum:
    """Welch power spectral density of a population rate (see :func:`spectrum`).

    Attributes
    ----------
    population : str
        "E" or "I" ("" for an unlabelled array).
    frequencies : ndarray, shape (n_freq,)
        Hz, from 0 to the Nyquist frequency ``500 / dt``.
    psd : ndarray, shape (n_freq,)
        One-sided PSD of the rate, Hz²/Hz (= Hz) when the rate is per neuron.
    band : (float, float)
        The band summarised, Hz.
    peak_hz : float
        Frequency of the largest PSD value inside the band (NaN for a constant rate).
    peak_psd : float
        PSD at ``peak_hz``, Hz²/Hz.
    band_power : float
        Power in the band, ``sum_{f in band} psd(f) * df``, Hz² (the variance of the
        rate carried by the band).
    total_power : float
        ``sum_{f > 0} psd(f) * df``, Hz² (≈ the variance of the rate).
    relative_band_power : float
        ``band_power / total_power`` (NaN if there is no power at all).
    """

    population: str
    frequencies: np.ndarray
    psd: np.ndarray
    band: tuple[float, float]
    peak_hz: float
    peak_psd: float
    band_power: float
    total_power: float
    relative_band_power: float


def spectrum(source, population: str | None = "E", discard: float = 100.0, *,
             segment: float = 500.0, band: tuple[float, float] = GAMMA_BAND,
             nfft: int | None = None, dt: float | None = None, n=None) -> Spectrum:
    """Welch PSD of a population rate and its peak and power in a band (gamma by default).

    The signal is the population rate per neuron ``r_t = 1000 c_t / (N_Q dt)`` in Hz
    (for a plain array without ``n=``, the population rate ``1000 c_t / dt``), over the
    steps after ``discard``, sampled at ``fs = 1000 / dt`` Hz. The PSD is
    :func:`scipy.signal.welch` with a Hann window, segments of ``segment`` ms (the whole
    interval if shorter), 50 % overlap, mean removed per segment (``detrend="constant"``),
    one-sided density scaling: units Hz²/Hz. The frequency resolution is
    ``1000 / segment`` Hz (2 Hz by default).

    Band summaries use the frequency bins with ``band[0] <= f <= band[1]``: the peak is
    the bin with the largest PSD; the band power is ``sum psd * df`` over those bins
    (rectangle rule, Hz²); the relative band power divides by the same sum over all
    bins with ``f > 0``. A rate whose total power is below ``1e-20`` times its squared
    mean (a constant rate, up to round-off — the dsODE at a fixed point) has no peak:
    ``peak_hz``, ``peak_psd`` and ``relative_band_power`` are NaN.

    Parameters
    ----------
    source : Result or array_like
        A Result, counts of shape (n_steps, 2), or one population's counts (n_steps,).
    population : {"E", "I"}
        Which population (may be None for a 1-D array).
    discard : float
        Initial time to drop, ms.
    segment : float
        Welch segment length, ms.
    band : (float, float)
        Band to summarise, Hz (default 30-90 Hz, gamma).
    nfft : int, optional
        FFT length per segment (zero-padding); default the segment length in steps.
    dt : float, optional
        Step width, ms (plain arrays only).
    n : int or (int, int), optional
        Neurons in the population (plain arrays only).

    Returns
    -------
    Spectrum
    """
    series = population_series(source, population, discard=discard, dt=dt, n=n)
    lo, hi = (float(b) for b in band)
    if not 0 <= lo < hi:
        raise ValueError(f"band must be (low, high) Hz with 0 <= low < high, got {band!r}")
    check_number("segment", segment, "a positive number of ms", lambda x: x > 0)
    per = series.n if series.n is not None else 1
    rate = 1000.0 * series.counts / (per * series.dt)
    nperseg = min(rate.size, max(1, int(round(segment / series.dt))))
    if nfft is not None and nfft < nperseg:
        raise ValueError(f"nfft must be at least the segment length ({nperseg} steps), got {nfft}")
    freqs, psd = welch(rate, fs=1000.0 / series.dt, window="hann", nperseg=nperseg,
                       noverlap=nperseg // 2, nfft=nfft, detrend="constant",
                       scaling="density")
    df = freqs[1] - freqs[0] if freqs.size > 1 else float("nan")
    in_band = (freqs >= lo) & (freqs <= hi)
    band_power = float(psd[in_band].sum() * df)
    total_power = float(psd[freqs > 0].sum() * df)
    # A rate whose fluctuations are round-off (a dsODE at its fixed point) has no peak.
    flat = not total_power > _FLAT * float(np.mean(rate)) ** 2
    if in_band.any() and not flat and np.all(np.isfinite(psd[in_band])):
        k = np.flatnonzero(in_band)[np.argmax(psd[in_band])]
        peak_hz, peak_psd = float(freqs[k]), float(psd[k])
    else:
        peak_hz = peak_psd = float("nan")
    relative = float("nan") if flat else band_power / total_power
    return Spectrum(population=series.population, frequencies=freqs, psd=psd, band=(lo, hi),
                    peak_hz=peak_hz, peak_psd=peak_psd, band_power=band_power,
                    total_power=total_power, relative_band_power=relative)
