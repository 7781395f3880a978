"""Stationary firing rate of a leaky integrate-and-fire neuron in the diffusion limit.

Convention (Brunel 2000, one convention everywhere in this module)::

    tau_m dV/dt = -V + mu + sigma * sqrt(tau_m) * xi(t),     <xi(t) xi(t')> = delta(t - t')

with threshold ``v_th``, reset ``v_reset`` and an absolute refractory time ``tau_ref``.
``sigma`` is in voltage units; the free membrane potential has standard deviation
``sigma / sqrt(2)``. In Fokker-Planck form the drift is ``(mu - v) / tau_m`` and the diffusion
coefficient (``dp/dt = ... + D d2p/dv2``) is ``D = sigma**2 / (2 tau_m)``.
The stationary rate (Siegert 1951; Brunel & Hakim 1999) is::

    1 / rate = tau_ref + tau_m sqrt(pi) * integral_{(v_reset-mu)/sigma}^{(v_th-mu)/sigma} e^{u^2} (1 + erf u) du

Times are in ms; rates are returned in Hz (spikes per second per neuron). The integrand is
evaluated as ``erfcx(-u)`` (scaled complementary error function), which is finite for every
negative ``u``; for large positive upper limits the integral is computed with ``e^{y_th^2}``
factored out, so the rate underflows gracefully to 0 instead of overflowing.

:func:`siegert_from_network` maps a :class:`~snnreduce.params.NetworkParams` onto ``mu``,
``sigma`` and an effective membrane time constant (diffusion limit of the kick input, the
conductance-like inhibition linearised in its noise term) and solves the self-consistent
rates of the E-I network. Pathway names are **post, pre** (``s_ei``: an I spike kicks an E neuron).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import integrate, optimize, special

from ..params import NetworkParams, ParameterError

__all__ = ["siegert_rate", "siegert_from_network", "network_diffusion", "diffusion_rate",
           "SiegertSolution"]

_SQRT_PI = math.sqrt(math.pi)
# Beyond this upper limit the integrand is evaluated with e^{y_th^2} factored out.
_SCALED_FROM = 5.0


def _log_siegert_integral(y_r: float, y_t: float) -> float:
    """log of  integral_{y_r}^{y_t} e^{u^2} (1 + erf u) du  for y_r < y_t."""
    if y_t <= _SCALED_FROM:
        # erfcx(-u) = e^{u^2} erfc(-u) = e^{u^2} (1 + erf u); bounded by 2 e^25 here.
        points = [p for p in (-5.0, -1.0, 0.0, 1.0) if y_r < p < y_t]
        val, _ = integrate.quad(lambda u: special.erfcx(-u), y_r, y_t, points=points or None,
                                limit=200, epsabs=0.0, epsrel=1e-10)
        return math.log(val)

    # integrand * e^{-y_t^2}: peaked at u = y_t with width ~ 1 / (2 y_t)
    def scaled(u):
        if u < 0.0:
            return special.erfcx(-u) * math.exp(-y_t * y_t)
        return math.exp((u - y_t) * (u + y_t)) * special.erfc(-u)

    # Below lo the scaled integrand is < e^{-80} of its peak (and for u < 0 it is bounded by
    # e^{-y_t^2} * O(log|u|)), so the neglected part is far below round-off.
    lo = max(y_r, y_t - 40.0 / y_t)
    points = [p for p in (0.0, y_t - 1.0 / y_t, y_t - 5.0 / y_t) if lo < p < y_t]
    val, _ = integrate.quad(scaled, lo, y_t, points=points or None, limit=200,
                            epsabs=0.0, epsrel=1e-10)
    return y_t * y_t + math.log(val)


def _siegert_scalar(mu, sigma, tau_m, v_th, v_reset, tau_ref) -> float:
    if sigma == 0.0:
        if mu <= v_th:
            return 0.0
        return 1000.0 / (tau_ref + tau_m * math.log((mu - v_reset) / (mu - v_th)))
    y_t = (v_th - mu) / sigma
    y_r = (v_reset - mu) / sigma
    log_passage = math.log(tau_m * _SQRT_PI) + _log_siegert_integral(y_r, y_t)
    if log_passage > 700.0:  # tau_ref is negligible next to e^{700} ms
        return 1000.0 * math.exp(-log_passage)
    return 1000.0 / (tau_ref + math.exp(log_passage))


def siegert_rate(mu, sigma, *, tau_m: float, v_th: float, v_reset: float = 0.0,
                 tau_ref: float = 0.0):
    """Stationary firing rate (Hz) of a LIF neuron with white-noise input.

    Model: ``tau_m dV/dt = -V + mu + sigma sqrt(tau_m) xi(t)``, spike and reset to
    ``v_reset`` when ``V`` reaches ``v_th``, then refractory for ``tau_ref`` ms.

    Parameters
    ----------
    mu : float or array_like
        Mean input (voltage units): the voltage the free membrane relaxes to.
    sigma : float or array_like
        Noise amplitude (voltage units, >= 0); broadcast against ``mu``. The free membrane
        potential has standard deviation ``sigma / sqrt(2)``. ``sigma = 0`` gives the
        deterministic rate ``1 / (tau_ref + tau_m ln((mu - v_reset) / (mu - v_th)))``.
    tau_m : float
        Membrane time constant, ms (> 0).
    v_th, v_reset : float
        Threshold and reset (``v_reset < v_th``).
    tau_ref : float
        Absolute refractory time, ms (>= 0). For an exponentially distributed refractory
        time, pass its mean: the stationary rate depends only on the mean.

    Returns
    -------
    float or ndarray
        Rate in Hz (spikes per second), shape of ``broadcast(mu, sigma)``.
    """
    for name, value, ok, allowed in (("tau_m", tau_m, tau_m > 0, "> 0 (ms)"),
                                     ("tau_ref", tau_ref, tau_ref >= 0, ">= 0 (ms)")):
        if not (math.isfinite(value) and ok):
            raise ParameterError(f"{name} must be finite and {allowed}, got {value!r}")
    if not (math.isfinite(v_th) and math.isfinite(v_reset) and v_reset < v_th):
        raise ParameterError(f"v_reset must be below v_th, got v_reset={v_reset!r}, v_th={v_th!r}")
    mu_a, sigma_a = np.broadcast_arrays(np.asarray(mu, dtype=float), np.asarray(sigma, dtype=float))
    if not np.all(np.isfinite(mu_a)) or not np.all(np.isfinite(sigma_a)):
        raise ParameterError("mu and sigma must be finite")
    if np.any(sigma_a < 0):
        raise ParameterError(f"sigma must be >= 0, got {sigma_a.min()!r}")
    out = np.empty(mu_a.shape)
    for idx in np.ndindex(mu_a.shape):
        out[idx] = _siegert_scalar(float(mu_a[idx]), float(sigma_a[idx]), float(tau_m),
                                   float(v_th), float(v_reset), float(tau_ref))
    return float(out) if out.ndim == 0 else out


# ---------------------------------------------------------------------------------------------
# Network mapping (diffusion limit)
# ---------------------------------------------------------------------------------------------

def network_diffusion(params: NetworkParams, population: str, kick_rate_e, kick_rate_i, v):
    """Drift ``A(v)`` and diffusion ``D(v)`` (per ms) of one population's voltage.

    The diffusion limit of the kick input (Kramers-Moyal to second order): a neuron of
    population Q at voltage v receives unit external kicks at rate ``lambda_Q``, excitatory
    kicks of size ``S^{QE}`` at rate ``kick_rate_e`` and inhibitory kicks of size
    ``S^{QI} g(v)`` at rate ``kick_rate_i``, with ``g(v) = (v + M_r) / (M + M_r)``::

        A(v) = -v / tau_m + lambda_Q + S^{QE} k_E - S^{QI} g(v) k_I
        D(v) = (lambda_Q + (S^{QE})^2 k_E + (S^{QI} g(v))^2 k_I) / 2

    The Fokker-Planck equation is ``dp/dt = -d/dv [A p - d(D p)/dv]`` (Ito form).

    Parameters
    ----------
    params : NetworkParams
        Pathways post-pre (``s_ei``: an I spike kicks an E neuron).
    population : {"E", "I"}
        The post population Q.
    kick_rate_e, kick_rate_i : float
        Consumed (delivered) excitatory / inhibitory kicks per neuron per ms. In a
        stationary network ``k_E = P^{QE} N_E nu_E`` with ``nu_E`` in spikes/ms.
    v : float or ndarray
        Voltage(s).

    Returns
    -------
    (A, D) : ndarrays like ``v``
    """
    q = population.lower()
    m, m_r = params.threshold, params.inhibitory_reversal
    g = (np.asarray(v, dtype=float) + m_r) / (m + m_r)
    s_e, s_i = params.s(q + "e"), params.s(q + "i")
    lam = params.lam(population)
    leak = -np.asarray(v, dtype=float) / params.tau_m if params.tau_m > 0 else 0.0
    drift = leak + lam + s_e * kick_rate_e - s_i * g * kick_rate_i
    diff = 0.5 * (lam + s_e**2 * kick_rate_e + (s_i * g) ** 2 * kick_rate_i)
    return drift, diff


def diffusion_rate(params: NetworkParams, population: str, kick_rate_e: float,
                   kick_rate_i: float, *, v_low: float | None = None, n_points: int = 20001) -> float:
    """Exact stationary rate (Hz) of the diffusion approximation, ``D(v)`` kept voltage dependent.

    Solves the stationary Fokker-Planck equation of :func:`network_diffusion` (Ito form, flux
    ``J = A p - (D p)'``) on ``[v_low, M]`` with a reflecting boundary at ``v_low``, absorbing
    threshold ``M``, reset 0 and refractory time ``tau_r`` by quadrature::

        1 / rate = tau_r + int_{v_low}^{M} dv / D(v) int_{max(v, 0)}^{M} du exp(Psi(v) - Psi(u)),
        Psi(v) = int^v A / D

    evaluated in log space (trapezoid rule on ``n_points`` points), so tiny rates do not
    overflow. This is the stationary rate the Fokker-Planck solver converges to as ``dv -> 0``
    for fixed input kick rates, without the linearisation used by :func:`siegert_from_network`.

    Parameters
    ----------
    params : NetworkParams
        Pathways post-pre.
    population : {"E", "I"}
        The post population.
    kick_rate_e, kick_rate_i : float
        Delivered excitatory / inhibitory kicks per neuron per ms.
    v_low : float, optional
        Reflecting lower boundary (< 0; default ``-inhibitory_reversal``).
    n_points : int
        Quadrature points.
    """
    if population not in ("E", "I"):
        raise ParameterError(f"population must be 'E' or 'I', got {population!r}")
    if v_low is None:
        v_low = -params.inhibitory_reversal
    if not (math.isfinite(v_low) and v_low < 0):
        raise ParameterError(f"v_low must be finite and < 0, got {v_low!r}")
    m = params.threshold
    v = np.linspace(v_low, m, int(n_points))
    drift, diff = network_diffusion(params, population, kick_rate_e, kick_rate_i, v)
    if np.any(diff <= 0):
        raise ParameterError("diffusion_rate needs D(v) > 0 everywhere (lambda > 0)")
    psi = integrate.cumulative_trapezoid(drift / diff, v, initial=0.0)
    dv = v[1] - v[0]
    # log of inner(v) = int_{max(v,0)}^{M} e^{-Psi(u)} du, by reversed cumulative log-sum-exp
    f = -psi
    seg = np.logaddexp(f[:-1], f[1:]) + math.log(dv / 2.0)  # log trapezoid panels
    log_inner = np.full(v.shape, -np.inf)
    log_inner[:-1] = np.logaddexp.accumulate(seg[::-1])[::-1]
    i0 = int(np.searchsorted(v, 0.0))
    log_inner[:i0] = log_inner[i0]  # below the reset the inner integral starts at 0
    log_outer = psi - np.log(diff) + log_inner
    finite = np.isfinite(log_outer)
    lo = log_outer[finite]
    peak = lo.max()
    w = np.exp(log_outer - peak)
    log_passage = peak + math.log(np.trapezoid(w, v))
    if log_passage > 700.0:
        return 1000.0 * math.exp(-log_passage)
    return 1000.0 / (params.tau_r + math.exp(log_passage))


@dataclass(frozen=True)
class SiegertSolution:
    """Stationary rates of the diffusion approximation of an E-I network.

    Attributes
    ----------
    rates : ndarray, shape (2,)
        E and I rates, Hz per neuron.
    mu, sigma : ndarray, shape (2,)
        Effective mean input and noise amplitude (voltage units) per population, in the
        convention of :func:`siegert_rate` with ``tau_m = tau_eff``.
    tau_eff : ndarray, shape (2,)
        Effective membrane time constant, ms (``inf`` for a perfect integrator).
    converged : bool
        Whether the self-consistency iteration converged (always True for given ``rates``).
    """

    rates: np.ndarray
    mu: np.ndarray
    sigma: np.ndarray
    tau_eff: np.ndarray
    converged: bool = True


def _kick_rates(params, q, rates_hz):
    """Delivered E and I kicks per neuron of q per ms: P^{qQ'} N_{Q'} nu_{Q'} (post-pre)."""
    ql = q.lower()
    nu_ms = np.asarray(rates_hz, dtype=float) / 1000.0
    return (params.p(ql + "e") * params.n_e * nu_ms[0], params.p(ql + "i") * params.n_i * nu_ms[1])


def _population_inputs(params, q, rates_hz, v_noise):
    """mu, sigma, tau_eff of population q ("E"/"I") given presynaptic rates in Hz."""
    ql = q.lower()
    k_e, k_i = _kick_rates(params, q, rates_hz)
    m, m_r = params.threshold, params.inhibitory_reversal
    s_e, s_i = params.s(ql + "e"), params.s(ql + "i")
    lam = params.lam(q)
    # A(v) = -v/tau_m + c - s_i k_i (v + M_r)/(M + M_r) = (mu - v)/tau_eff exactly (linear in v).
    inv_tau = (1.0 / params.tau_m if params.tau_m > 0 else 0.0) + s_i * k_i / (m + m_r)
    c = lam + s_e * k_e - s_i * k_i * m_r / (m + m_r)
    if v_noise is None:  # the noise at the voltage the drift pulls towards, kept in [0, M]
        v_noise = min(max(c / inv_tau, 0.0), m) if inv_tau > 0 else m
    g = (v_noise + m_r) / (m + m_r)
    diff = 0.5 * (lam + s_e**2 * k_e + (s_i * g) ** 2 * k_i)
    if inv_tau <= 0.0:
        return c, diff, math.inf
    tau_eff = 1.0 / inv_tau
    return c * tau_eff, math.sqrt(2.0 * diff * tau_eff), tau_eff


def _rate_of_inputs(params, mu_or_drift, sigma_or_diff, tau_eff):
    tau_ref = params.tau_r
    if math.isinf(tau_eff):  # perfect integrator: mean first passage (M - 0) / drift
        drift = mu_or_drift
        return 1000.0 / (tau_ref + params.threshold / drift) if drift > 0 else 0.0
    return siegert_rate(mu_or_drift, sigma_or_diff, tau_m=tau_eff, v_th=params.threshold,
                        v_reset=0.0, tau_ref=tau_ref)


def siegert_from_network(params: NetworkParams, *, rates=None, method: str = "linearised",
                         v_noise: float | None = None, v_low: float | None = None,
                         initial=(10.0, 10.0), tol: float = 1e-9, max_iter: int = 500):
    """Stationary E and I rates of a network in the diffusion (Siegert) approximation.

    Each neuron of population Q sees the diffusion limit of its kick input (see
    :func:`network_diffusion`). In a stationary state every pending kick is consumed at the rate
    kicks arrive, so the kick rates are ``k^{QQ'} = P^{QQ'} N_{Q'} nu_{Q'}`` whatever the
    ``tau^{QQ'}`` (pathways post-pre). The drift is exactly linear in ``v`` because the
    inhibitory conductance factor ``g(v) = (v + M_r)/(M + M_r)`` is linear, so::

        A(v) = (mu - v) / tau_eff,   1/tau_eff = 1/tau_m + S^{QI} k^{QI} / (M + M_r)
        mu   = tau_eff (lambda_Q + S^{QE} k^{QE} - S^{QI} k^{QI} M_r / (M + M_r))

    The diffusion coefficient ``D(v)`` depends on ``v`` through ``g(v)^2``; it is frozen at
    ``v_noise`` (default: ``mu`` clipped to ``[0, M]``, where the membrane is pulled to) and
    ``sigma = sqrt(2 D tau_eff)``. The rate is then :func:`siegert_rate` with
    ``tau_m = tau_eff``, ``v_th = M``, ``v_reset = 0`` and ``tau_ref = tau_r`` (for the
    exponential refractory period its mean). Without leak and without inhibitory input
    (``tau_eff = inf``) the perfect-integrator rate ``1 / (tau_r + M / A)`` is used. The
    lower voltage boundary is ignored (the Siegert formula has none). ``method="quadrature"``
    drops both approximations: the rate of each population is :func:`diffusion_rate` (``D(v)``
    voltage dependent, reflecting boundary at ``v_low``), the stationary rate the
    Fokker-Planck solver of :mod:`snnreduce.baselines.fokker_planck` converges to.

    Parameters
    ----------
    params : NetworkParams
        The network (pathways post-pre).
    rates : (float, float), optional
        Presynaptic E and I rates in Hz. Given: the open-loop output rates for these inputs.
        None: solve the self-consistent rates ``nu = Phi(nu)`` (damped fixed-point iteration
        polished with a root finder).
    method : {"linearised", "quadrature"}
        Siegert formula with the noise frozen at ``v_noise``, or the exact stationary rate of
        the diffusion approximation (:func:`diffusion_rate`).
    v_noise : float, optional
        Voltage at which ``g(v)`` in the noise term is evaluated ("linearised"; default ``mu``
        clipped to ``[0, M]``).
    v_low : float, optional
        Reflecting lower boundary of "quadrature" (default ``-inhibitory_reversal``).
    initial : (float, float)
        Starting rates (Hz) of the self-consistency search.
    tol : float
        Tolerance (Hz) of the self-consistent rates.
    max_iter : int
        Iterations of the damped fixed-point search.

    Returns
    -------
    SiegertSolution
    """
    if not isinstance(params, NetworkParams):
        raise ParameterError(f"params must be a NetworkParams, got {type(params).__name__}")
    if method not in ("linearised", "quadrature"):
        raise ParameterError(f"method must be 'linearised' or 'quadrature', got {method!r}")
    if v_noise is not None and not (isinstance(v_noise, (int, float)) and math.isfinite(v_noise)):
        raise ParameterError(f"v_noise must be a finite voltage or None, got {v_noise!r}")

    def evaluate(nu):
        mus, sigmas, taus, out = [], [], [], []
        for q in ("E", "I"):
            mu, sig, tau = _population_inputs(params, q, nu, v_noise)
            if method == "quadrature":
                out.append(diffusion_rate(params, q, *_kick_rates(params, q, nu), v_low=v_low))
            else:
                out.append(_rate_of_inputs(params, mu, sig, tau))
            mus.append(mu), sigmas.append(sig), taus.append(tau)
        return np.array(out), np.array(mus), np.array(sigmas), np.array(taus)

    if rates is not None:
        nu = np.asarray(rates, dtype=float)
        if nu.shape != (2,) or not np.all(np.isfinite(nu)) or np.any(nu < 0):
            raise ParameterError(f"rates must be two finite rates >= 0 (Hz), got {rates!r}")
        out, mus, sigmas, taus = evaluate(nu)
        return SiegertSolution(out, mus, sigmas, taus, True)

    nu = np.asarray(initial, dtype=float)
    converged = False
    damping = 0.5
    prev_step = math.inf
    for _ in range(max_iter):
        new = evaluate(nu)[0]
        step = float(np.max(np.abs(new - nu)))
        if step < tol:
            converged = True
            nu = new
            break
        if step > prev_step:  # oscillating: damp harder
            damping = max(0.02, damping * 0.5)
        prev_step = step
        nu = (1 - damping) * nu + damping * new
    if not converged:
        sol = optimize.root(lambda x: evaluate(np.maximum(x, 0.0))[0] - x, nu, method="hybr",
                            options={"xtol": 1e-12})
        if sol.success and np.all(sol.x >= -tol):
            nu = np.maximum(sol.x, 0.0)
            converged = bool(np.max(np.abs(evaluate(nu)[0] - nu)) < max(tol, 1e-6))
    out, mus, sigmas, taus = evaluate(nu)
    return SiegertSolution(nu if converged else out, mus, sigmas, taus, converged)
