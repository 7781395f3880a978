"""Refractory-density (mesoscopic population) baseline through NEST (SPEC §7).

Schwalger, Deger & Gerstner (2017), *PLoS Comput. Biol.* 13:e1005507, derived stochastic
population equations for finite populations of generalized integrate-and-fire (GIF) neurons
with escape noise: the population activity is integrated over the refractory density (the
distribution of the time since the last spike), with the finite-size fluctuations of the
spike count built in. NEST implements them as ``gif_pop_psc_exp`` and the microscopic network
they describe as ``gif_psc_exp`` neurons. This module

- describes an E-I pair of GIF populations with exponential synaptic currents
  (:class:`GifPopulationParams`, one frozen validated description both NEST models understand),
- runs it on the mesoscopic level (:func:`run_mesoscopic`, engine ``"rdm"``) and as its own
  microscopic network (:func:`run_microscopic`, engine ``"gif-micro"``), both returning
  :class:`snnreduce.Result`,
- maps a leaky snnreduce network onto the closest GIF description (:func:`from_network`) and
  back (:func:`to_network_params`),
- provides :func:`run`, the engine function for ``compare``/``sweep`` (model ``"rdm"``).

Pathway names are **post, pre** as everywhere in snnreduce: ``weight_ei`` is the current an *I*
spike injects into an *E* neuron, ``p_ie`` the probability that an *E* neuron connects to a given
*I* neuron. NEST's ``Connect(pre, post)`` takes the opposite order; the conversion happens in
one place (:mod:`._gif_nest`). GIF units are NEST's: mV, ms, pF, pA, Hz (``lambda_0``).
The mapping uses 1 dimensionless snnreduce voltage unit = 1 mV. The approximations of the
mapping are listed in ``docs/baselines.md`` ("Refractory density").
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._resume import record_stride
from ..params import NetworkParams, ParameterError
from ..result import Result
from ..stimulus import external_drive
from ..validation import Interval, check_t_end, normalise_seed
from ._gif_nest import NEST_MISSING, import_nest

__all__ = ["GifPopulationParams", "run_mesoscopic", "run_microscopic", "run", "from_network",
           "to_network_params", "to_dsode_params", "escape_rate", "fit_escape_noise",
           "MAPPING_DEFAULTS", "RUN_DEFAULTS", "NEST_MISSING", "check_runnable"]

_PAIR_NAMES = ("E", "I")
_T_START = Interval(0, units="ms")
_PATHWAYS = ("ee", "ie", "ei", "ii")        # post, pre

# ---------------------------------------------------------------------------------------------
# the description
# ---------------------------------------------------------------------------------------------

# Per-population fields, pairs (E, I): name -> rule.
_FINITE_MV = Interval(units="mV")
_POP_RULES: dict[str, Interval] = {
    "n": Interval(1, integer=True),
    "c_m": Interval(0, closed="neither", units="pF"),
    "tau_m": Interval(0, closed="neither", units="ms"),
    "e_l": _FINITE_MV,
    "v_reset": _FINITE_MV,
    "v_t_star": _FINITE_MV,
    "delta_v": Interval(0, closed="neither", units="mV"),
    "lambda_0": Interval(0, units="Hz"),
    "t_ref": Interval(0, units="ms"),
    "tau_syn_ex": Interval(0, closed="neither", units="ms"),
    "tau_syn_in": Interval(0, closed="neither", units="ms"),
    "i_e": Interval(units="pA"),
    "drive_rate": Interval(0, units="kicks/ms"),
    "drive_size": Interval(0, units="mV"),
}
# Per-pathway fields (post-pre suffix): prefix -> (check by pathway, allowed-text by pathway).
_PATH_RULES: dict[str, tuple[Any, Any]] = {
    "weight": (lambda pw, x: x >= 0 if pw[1] == "e" else x <= 0,
               lambda pw: ">= 0 (pA; excitatory)" if pw[1] == "e" else "<= 0 (pA; inhibitory)"),
    "p": (lambda pw, x: 0 <= x <= 1, lambda pw: "in [0, 1]"),
    "delay": (lambda pw, x: 0 < x <= 1e4, lambda pw: "in (0, 1e4] (ms)"),
}
DRIVES = ("escape", "gaussian", "poisson")


@dataclass(frozen=True, kw_only=True)
class GifPopulationParams:
    """An E-I pair of GIF populations with exponential synaptic currents.

    One description that both NEST models understand: ``gif_pop_psc_exp`` (the mesoscopic
    population equations) and a network of ``gif_psc_exp`` neurons (the microscopic model).
    Each neuron of population Q obeys, between spikes and outside its refractory period,

    ``C_m dV/dt = -(C_m / tau_m) (V - E_L) + I_e + I_syn_ex(t) + I_syn_in(t) [+ I_drive(t)]``

    and fires with the escape rate ``lambda_0 exp((V - V_T(t)) / Delta_V)`` (Hz), where
    ``V_T(t) = V_T_star + sum_k theta_k(t)`` and each adaptation trace ``theta_k`` jumps by
    ``q_sfa[k]`` at a spike and decays with ``tau_sfa[k]``. After a spike ``V = V_reset`` and is
    clamped there for ``t_ref``. A spike of a Q' neuron adds ``weight_QQ'`` (pA) to the synaptic
    current of each Q neuron it connects to; the current decays with ``tau_syn_ex`` of Q
    (Q' = E) or ``tau_syn_in`` of Q (Q' = I).

    Per-population fields take a pair ``(E, I)`` or one number for both. Pathway suffixes are
    **post, pre**: ``weight_ei`` is the PSC amplitude an I spike gives an E neuron.

    Parameters
    ----------
    n : int pair
        Population sizes.
    c_m : float pair
        Membrane capacitance, pF.
    tau_m : float pair
        Membrane time constant, ms (NEST's ``gif_psc_exp`` gets ``g_L = c_m / tau_m``, nS).
    e_l, v_reset, v_t_star : float pairs
        Resting potential, reset potential and the (non-adapting) firing threshold, mV;
        ``v_t_star > v_reset``.
    delta_v : float pair
        Softness of the exponential escape rate, mV (> 0; small = nearly hard threshold).
    lambda_0 : float pair
        Escape rate at threshold, Hz (NEST's unit).
    t_ref : float pair
        Absolute refractory period, ms.
    tau_sfa, q_sfa : pairs of tuples
        Adaptation time constants (ms) and threshold jumps (mV) per population; equal lengths.
        Empty (the default): no adaptation.
    tau_syn_ex, tau_syn_in : float pairs
        Decay time of the excitatory / inhibitory synaptic current of each population, ms.
        ``tau_syn_ex[E]`` serves pathway ee, ``tau_syn_ex[I]`` ie, ``tau_syn_in[E]`` ei,
        ``tau_syn_in[I]`` ii.
    i_e : float pair
        Constant input current, pA.
    weight_ee, weight_ie, weight_ei, weight_ii : float
        PSC amplitude of one connection, pA (post, pre); >= 0 from E, <= 0 from I. The
        voltage jump it would give without leak is ``weight * tau_syn / c_m`` (mV), see
        :meth:`psp_jump`.
    p_ee, p_ie, p_ei, p_ii : float
        Connection probabilities (post, pre). The microscopic network draws them
        (``pairwise_bernoulli``, no autapses, or fixed in-degree ``round(p N_pre)``); the
        mesoscopic model feeds each population the mean input ``p * weight`` per spike.
    delay_ee, delay_ie, delay_ei, delay_ii : float
        Transmission delays, ms; at least one time step when run.
    drive : {"escape", "gaussian", "poisson"}
        How the external input's noise is represented. ``"escape"``: there is no external
        noise beyond the escape noise (the input is ``i_e``). ``"gaussian"``: the microscopic
        neurons each get an independent white-noise current (NEST ``noise_generator``)
        equivalent to ``drive_rate`` kicks/ms of ``drive_size`` mV (mean and variance of the
        voltage increment per step ``rate * size * dt`` and ``rate * size**2 * dt``).
        ``"poisson"``: independent Poisson trains of ``drive_rate`` kicks/ms through the
        excitatory synapse, each with charge ``drive_size * c_m``. The mesoscopic model, being
        mean-field in its input, receives only the mean ``c_m * rate * size`` (pA) of these
        (with a warning).
    drive_rate : float pair
        External kicks per neuron per ms (``drive`` "gaussian" or "poisson").
    drive_size : float pair
        Voltage jump of one external kick, mV.
    """

    n: tuple[int, int] = (800, 200)
    c_m: tuple[float, float] = (250.0, 250.0)
    tau_m: tuple[float, float] = (20.0, 20.0)
    e_l: tuple[float, float] = (0.0, 0.0)
    v_reset: tuple[float, float] = (0.0, 0.0)
    v_t_star: tuple[float, float] = (15.0, 15.0)
    delta_v: tuple[float, float] = (2.5, 2.5)
    lambda_0: tuple[float, float] = (10.0, 10.0)
    t_ref: tuple[float, float] = (4.0, 4.0)
    tau_sfa: tuple[tuple[float, ...], tuple[float, ...]] = ((), ())
    q_sfa: tuple[tuple[float, ...], tuple[float, ...]] = ((), ())
    tau_syn_ex: tuple[float, float] = (3.0, 3.0)
    tau_syn_in: tuple[float, float] = (6.0, 6.0)
    i_e: tuple[float, float] = (300.0, 300.0)
    weight_ee: float = 25.0
    weight_ie: float = 25.0
    weight_ei: float = -62.5
    weight_ii: float = -62.5
    p_ee: float = 0.2
    p_ie: float = 0.2
    p_ei: float = 0.2
    p_ii: float = 0.2
    delay_ee: float = 1.0
    delay_ie: float = 1.0
    delay_ei: float = 1.0
    delay_ii: float = 1.0
    drive: str = "escape"
    drive_rate: tuple[float, float] = (0.0, 0.0)
    drive_size: tuple[float, float] = (1.0, 1.0)

    def __post_init__(self):
        for name, rule in _POP_RULES.items():
            object.__setattr__(self, name, _pair(name, getattr(self, name), rule))
        for prefix, (check, allowed) in _PATH_RULES.items():
            for pw in _PATHWAYS:
                name = f"{prefix}_{pw}"
                value = _number(name, getattr(self, name), "a number " + allowed(pw))
                if not check(pw, value):
                    raise ParameterError(f"{name} must be {allowed(pw)}, got {value!r}")
                object.__setattr__(self, name, value)
        if not isinstance(self.drive, str) or self.drive not in DRIVES:
            raise ParameterError(f"drive must be one of {', '.join(map(repr, DRIVES))}, "
                                 f"got {self.drive!r}")
        for q, pop in enumerate(_PAIR_NAMES):
            if not self.v_t_star[q] > self.v_reset[q]:
                raise ParameterError(f"v_t_star of population {pop} must be above v_reset = "
                                     f"{self.v_reset[q]:g} mV, got {self.v_t_star[q]!r}")
        taus = _kernel_pair("tau_sfa", self.tau_sfa, lambda x: x > 0, "> 0 (ms)")
        qs = _kernel_pair("q_sfa", self.q_sfa, lambda x: True, "a finite number (mV)")
        for q, pop in enumerate(_PAIR_NAMES):
            if len(taus[q]) != len(qs[q]):
                raise ParameterError(f"q_sfa and tau_sfa of population {pop} must have the same "
                                     f"length, got {len(qs[q])} and {len(taus[q])}")
        object.__setattr__(self, "tau_sfa", taus)
        object.__setattr__(self, "q_sfa", qs)

    # ------------------------------------------------------------------ access
    def weight(self, pathway: str) -> float:
        """PSC amplitude (pA) of one connection of ``pathway`` (post-pre, "ei" = I -> E)."""
        return getattr(self, "weight_" + _check_pathway(pathway))

    def p(self, pathway: str) -> float:
        """Connection probability of ``pathway`` (post-pre)."""
        return getattr(self, "p_" + _check_pathway(pathway))

    def delay(self, pathway: str) -> float:
        """Delay (ms) of ``pathway`` (post-pre)."""
        return getattr(self, "delay_" + _check_pathway(pathway))

    def tau_syn(self, pathway: str) -> float:
        """Decay time (ms) of the synaptic current of ``pathway`` (post-pre)."""
        pathway = _check_pathway(pathway)
        post = _PAIR_NAMES.index(pathway[0].upper())
        return (self.tau_syn_ex if pathway[1] == "e" else self.tau_syn_in)[post]

    def psp_jump(self, pathway: str) -> float:
        """Signed voltage jump (mV) of one connection: ``weight * tau_syn / c_m(post)``.

        This is the total charge of the exponential PSC divided by the capacitance: the jump
        without leak, and ``1/tau_m`` times the area under the PSP with leak.
        """
        pathway = _check_pathway(pathway)
        post = _PAIR_NAMES.index(pathway[0].upper())
        return self.weight(pathway) * self.tau_syn(pathway) / self.c_m[post]

    def replace(self, **changes) -> "GifPopulationParams":
        """A copy with ``changes`` applied and validated; unknown names are rejected."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise ParameterError(f"unknown GIF parameter {unknown[0]!r}; allowed: "
                                 f"{', '.join(f.name for f in dataclasses.fields(self))}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (pairs and kernels as lists)."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in ("tau_sfa", "q_sfa"):
                value = [list(v) for v in value]
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "GifPopulationParams":
        """Inverse of :meth:`to_dict`; unknown keys are rejected."""
        if not isinstance(data, dict):
            raise ParameterError(f"GIF parameters must be a mapping, got {type(data).__name__}")
        return cls().replace(**data)


def _number(name, value, allowed):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise ParameterError(f"{name} must be {allowed}, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ParameterError(f"{name} must be finite, got {value!r}")
    return value


def _pair(name, value, rule: Interval):
    """Coerce a number or an (E, I) pair to a validated tuple of two."""
    if isinstance(value, (list, tuple, np.ndarray)):
        if len(value) != 2:
            raise ParameterError(f"{name} must be one number or a pair (E, I), got {value!r}")
        items = list(value)
    else:
        items = [value, value]
    return tuple(rule.check(f"{name} of population {pop}", item)
                 for pop, item in zip(_PAIR_NAMES, items))


def _kernel_pair(name, value, check, allowed):
    """A pair (E, I) of tuples of numbers (adaptation kernels)."""
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ParameterError(f"{name} must be a pair (E, I) of sequences, got {value!r}")
    out = []
    for pop, seq in zip(_PAIR_NAMES, value):
        if not isinstance(seq, (list, tuple, np.ndarray)):
            raise ParameterError(f"{name} of population {pop} must be a sequence, got {seq!r}")
        items = []
        for x in seq:
            x = _number(f"{name} of population {pop}", x, f"a sequence of numbers {allowed}")
            if not check(x):
                raise ParameterError(f"{name} of population {pop} must hold numbers {allowed}, "
                                     f"got {x!r}")
            items.append(x)
        out.append(tuple(items))
    return tuple(out)


def _check_pathway(pathway):
    if pathway not in _PATHWAYS:
        raise ParameterError(f"pathway must be one of {', '.join(_PATHWAYS)} (post, pre), "
                             f"got {pathway!r}")
    return pathway


# ---------------------------------------------------------------------------------------------
# escape noise: stationary rate and the fit to the diffusion limit
# ---------------------------------------------------------------------------------------------

def escape_rate(mu, *, tau_m: float, v_th: float, v_reset: float = 0.0, t_ref: float = 0.0,
                lambda_0: float, delta_v: float) -> np.ndarray:
    """Stationary rate (Hz) of a leaky neuron with exponential escape noise and constant input.

    Renewal theory: after the refractory period the voltage relaxes deterministically,
    ``u(t) = mu + (v_reset - mu) exp(-t / tau_m)``, and the neuron fires with hazard
    ``h(t) = lambda_0 exp((u(t) - v_th) / delta_v)``. With the survivor function
    ``S(t) = exp(-int_0^t h)`` the mean inter-spike interval is ``t_ref + int_0^inf S dt``.
    This is the exact stationary rate of an uncoupled ``gif_psc_exp`` neuron (no adaptation)
    with ``mu = E_L + tau_m I_e / C_m``, in continuous time.

    Parameters
    ----------
    mu : float or array
        Asymptotic free membrane potential, mV (any shape).
    tau_m, t_ref : float
        Membrane time constant and absolute refractory period, ms.
    v_th, v_reset : float
        Threshold (``V_T_star``) and reset, mV.
    lambda_0 : float
        Escape rate at threshold, Hz.
    delta_v : float
        Softness of the escape rate, mV (> 0).

    Returns
    -------
    ndarray
        Rates in Hz, the shape of ``mu``.

    Notes
    -----
    The integral is a trapezoid rule on a time grid fine enough to resolve the rise of the
    hazard (step ``<= min(tau_m / 500, 0.1 delta_v tau_m / |mu - v_reset|)``) up to
    ``t_max >= 10 tau_m``, plus the tail ``S(t_max) / h(t_max)`` in which ``u`` is constant to
    ``e^{-10}``. Relative accuracy is better than 1e-4 for the parameters of this module.
    """
    for name, value in (("tau_m", tau_m), ("delta_v", delta_v)):
        if not value > 0:
            raise ParameterError(f"{name} must be > 0, got {value!r}")
    if not lambda_0 >= 0 or not t_ref >= 0:
        raise ParameterError(f"lambda_0 and t_ref must be >= 0, got {lambda_0!r}, {t_ref!r}")
    mu = np.asarray(mu, dtype=float)
    flat = mu.ravel()
    out = np.empty_like(flat)
    lam = lambda_0 / 1000.0                       # per ms
    for i, m in enumerate(flat):
        out[i] = _escape_rate_scalar(m, tau_m, v_th, v_reset, t_ref, lam, delta_v)
    return out.reshape(mu.shape)


def _escape_rate_scalar(mu, tau_m, v_th, v_reset, t_ref, lam, delta_v):
    if lam == 0.0:
        return 0.0
    span = abs(mu - v_reset)
    step = min(tau_m / 500.0, 0.1 * delta_v * tau_m / span) if span > 0 else tau_m / 500.0
    t_max = tau_m * max(10.0, math.log(max(span, delta_v) / delta_v) + 10.0)
    n = int(min(400_000, math.ceil(t_max / step))) + 1
    t = np.linspace(0.0, t_max, n)
    h = lam * np.exp(np.minimum((mu + (v_reset - mu) * np.exp(-t / tau_m) - v_th) / delta_v,
                                700.0))
    dt = t[1] - t[0]
    cum = np.concatenate(([0.0], np.cumsum(0.5 * (h[1:] + h[:-1]) * dt)))
    surv = np.exp(-cum)
    mean_free = np.trapezoid(surv, dx=dt) + (surv[-1] / h[-1] if surv[-1] > 0 else 0.0)
    return 1000.0 / (t_ref + mean_free)


@functools.lru_cache(maxsize=256)
def _fit_cached(sigma, tau_m, v_th, v_reset, t_ref):
    from scipy import optimize

    from .siegert import siegert_rate

    mus = v_th + sigma * np.linspace(-3.0, 2.5, 23)
    target = siegert_rate(mus, sigma, tau_m=tau_m, v_th=v_th, v_reset=v_reset, tau_ref=t_ref)
    floor = 1.0                                   # Hz: relative error above, absolute below

    def residual(x):
        rates = escape_rate(mus, tau_m=tau_m, v_th=v_th, v_reset=v_reset, t_ref=t_ref,
                            lambda_0=1000.0 * math.exp(x[0]), delta_v=math.exp(x[1]))
        return (rates - target) / (target + floor)

    # start from the scaling the fit obeys across sigma: delta_v ~ 0.36 sigma, h(theta) ~ 4.4/tau_m
    x0 = [math.log(4.4 / tau_m), math.log(0.36 * sigma)]
    sol = optimize.least_squares(residual, x0, x_scale=1.0, xtol=1e-10, ftol=1e-10)
    return 1000.0 * math.exp(sol.x[0]), math.exp(sol.x[1]), float(np.max(np.abs(sol.fun)))


def fit_escape_noise(sigma: float, *, tau_m: float, v_th: float, v_reset: float = 0.0,
                     t_ref: float = 0.0) -> tuple[float, float, float]:
    """Escape-noise parameters whose rate curve matches a diffusion-driven LIF neuron.

    Finds ``lambda_0`` (Hz) and ``delta_v`` (mV) such that :func:`escape_rate` (hard-wired
    threshold ``v_th``) reproduces the Siegert rate of the same neuron driven by white noise of
    amplitude ``sigma`` (Brunel's convention, :func:`snnreduce.baselines.siegert.siegert_rate`)
    on 23 mean inputs ``mu`` from ``v_th - 3 sigma`` to ``v_th + 2.5 sigma``, by least squares
    on the relative rate error (absolute below 1 Hz). The exponential escape rate cannot match
    the whole curve: the largest remaining error, returned, is about 8 % (too few spikes
    around 3 Hz) for ``tau_m = 20``, ``t_ref = 4`` and any ``sigma``; the fit gives
    ``delta_v ~ 0.36 sigma``.

    Returns
    -------
    lambda_0 : float
        Escape rate at threshold, Hz.
    delta_v : float
        Softness, mV.
    max_error : float
        Largest weighted relative rate error on the fitting grid.
    """
    if not sigma > 0:
        raise ParameterError(f"sigma must be > 0 (mV), got {sigma!r}")
    return _fit_cached(*(round(float(x), 12) for x in (sigma, tau_m, v_th, v_reset, t_ref)))


# ---------------------------------------------------------------------------------------------
# mapping to and from the snnreduce network
# ---------------------------------------------------------------------------------------------

#: Options of :func:`from_network` (None: derived from the network, see there).
MAPPING_DEFAULTS = dict(external="escape", c_m=250.0, v_inhibition=None, delta_v=None,
                        lambda_0=None, escape_sigma="external", delay=None)
#: Fraction of the threshold at which conductance inhibition is linearised by default.
V_INHIBITION_FRACTION = 0.65
#: Hard-threshold escape noise (external "gaussian"/"poisson"): softness as a fraction of the
#: threshold, and escape rate at threshold (Hz).
HARD_DELTA_FRACTION = 0.005
HARD_LAMBDA_0 = 1.0e4
#: Named noise amplitudes the escape noise can be fitted to (see :func:`from_network`).
ESCAPE_SIGMAS = ("external", "network")


def _check_mapping_options(params, options):
    unknown = sorted(set(options) - set(MAPPING_DEFAULTS))
    if unknown:
        raise ParameterError(f"unknown from_network option {unknown[0]!r}; allowed: "
                             f"{', '.join(MAPPING_DEFAULTS)}")
    opts = {**MAPPING_DEFAULTS, **options}
    if opts["external"] not in DRIVES:
        raise ParameterError(f"external must be one of {', '.join(map(repr, DRIVES))}, "
                             f"got {opts['external']!r}")
    m, m_r = params.threshold, params.inhibitory_reversal
    v_inh = opts["v_inhibition"]
    v_inh = V_INHIBITION_FRACTION * m if v_inh is None else _number(
        "v_inhibition", v_inh, "a number of voltage units")
    if not -m_r < v_inh <= m:
        raise ParameterError(f"v_inhibition must be in (-inhibitory_reversal, threshold] = "
                             f"({-m_r:g}, {m:g}], got {v_inh!r}")
    c_m = _number("c_m", opts["c_m"], "a number > 0 (pF)")
    if not c_m > 0:
        raise ParameterError(f"c_m must be > 0 (pF), got {c_m!r}")
    out = dict(external=opts["external"], c_m=c_m, v_inhibition=v_inh)
    sigma = opts["escape_sigma"]
    if sigma is None:
        sigma = "external"
    if not (isinstance(sigma, str) and sigma in ESCAPE_SIGMAS):
        sigma = _pair("escape_sigma", sigma, Interval(
            0, closed="neither", units=f"mV; or one of {', '.join(map(repr, ESCAPE_SIGMAS))}"))
    out["escape_sigma"] = sigma
    for name, unit in (("delta_v", "mV"), ("lambda_0", "Hz")):
        value = opts[name]
        if value is not None:
            value = _pair(name, value, Interval(0, closed="neither", units=unit))
        out[name] = value
    delay = opts["delay"]
    if delay is None:
        delay = params.dt
    out["delay"] = _number("delay", delay, "a number > 0 (ms)")
    if not out["delay"] > 0:
        raise ParameterError(f"delay must be > 0 (ms), got {delay!r}")
    return out


def from_network(params: NetworkParams, **options) -> GifPopulationParams:
    """The closest GIF description of a leaky snnreduce network (``params.tau_m > 0``).

    Voltages map one to one (1 unit = 1 mV): reset 0 -> ``v_reset = e_l = 0``, threshold M ->
    ``v_t_star = M``. Every approximation is listed in ``docs/baselines.md``; in short:

    - **Synapses.** A pending kick of pathway QQ' (post-pre) is consumed after an exponential
      time of mean ``tau^{QQ'}`` and then moves V by S. Averaged over the consumption time its
      voltage response is ``S tau_m / (tau_m - tau) (e^{-t/tau_m} - e^{-t/tau})``, exactly the
      PSP of an exponential current of decay ``tau_syn = tau^{QQ'}`` and charge
      ``q = S C_m``: ``weight = S C_m / tau^{QQ'}`` (pA). The mean input therefore matches
      for every ``tau_m`` (no leak correction; the PSP area is ``S tau_m`` in both); the
      fluctuations differ (one jump at a random time against a smooth current).
    - **Conductance-like inhibition** ``-S g(V)``, ``g(V) = (V + M_r)/(M + M_r)``, is
      linearised at ``v_inhibition`` (default ``0.65 M``): ``S_eff = S g(v_inhibition)``.
    - **Refractory period**: fixed ``t_ref = tau_r`` whichever exit rule the network uses (same
      mean, hence the same stationary rate of an uncoupled neuron).
    - **Connectivity**: ``p^{QQ'}``; the microscopic model draws a quenched graph, the
      mesoscopic model is mean field.
    - **External drive** (Poisson unit kicks at ``lambda_Q``/ms): always the mean current
      ``i_e = C_m lambda_Q``; its noise by ``external``:

      ``"escape"`` (default): by escape noise fitted to the diffusion of the drive,
      ``sigma_Q = sqrt(lambda_Q tau_m)`` (:func:`fit_escape_noise`), in both models.
      ``"gaussian"`` / ``"poisson"``: by a per-neuron noise current / Poisson train in the
      microscopic model, with a nearly hard threshold (``delta_v = 0.005 M``,
      ``lambda_0 = 10 kHz``); the mesoscopic model then gets the mean only.

    Parameters
    ----------
    params : NetworkParams
        A leaky network (``tau_m > 0``). Pathways post-pre.
    external : {"escape", "gaussian", "poisson"}
        Representation of the external noise (above).
    c_m : float
        Capacitance, pF (it cancels out of the dynamics).
    v_inhibition : float
        Voltage (snnreduce units) at which ``g`` is evaluated.
    delta_v, lambda_0 : float or pair, optional
        Override the escape noise (mV, Hz).
    escape_sigma : {"external", "network"} or float or pair
        Noise amplitude (mV, Brunel's convention) the escape noise is fitted to.
        ``"external"`` (default): the external drive's, ``sqrt(lambda_Q tau_m)``; right for the
        microscopic model, whose recurrent shot noise is explicit. ``"network"``: external plus
        recurrent shot noise, ``sqrt(2 D_Q tau_m)`` with ``D_Q`` of
        :func:`snnreduce.baselines.siegert.network_diffusion` at ``v_inhibition`` and the
        self-consistent Siegert rates; this gives the mesoscopic model, mean field in its
        input, the whole input noise (the microscopic model would count the recurrent part
        twice).
    delay : float
        Delay of every pathway, ms (default ``params.dt``: a spike acts from the next step on,
        as in the stepped network).

    Returns
    -------
    GifPopulationParams
    """
    if not isinstance(params, NetworkParams):
        raise ParameterError(f"params must be a NetworkParams, got {type(params).__name__}")
    if not params.tau_m > 0:
        raise ParameterError("tau_m must be > 0 for the GIF mapping (a GIF neuron always "
                             f"leaks), got {params.tau_m!r}")
    opts = _check_mapping_options(params, options)
    m, m_r, tau_m, c_m = params.threshold, params.inhibitory_reversal, params.tau_m, opts["c_m"]
    g_inh = (opts["v_inhibition"] + m_r) / (m + m_r)
    lam = (params.lambda_e, params.lambda_i)
    external = opts["external"]
    delta_v, lambda_0 = [0.0, 0.0], [0.0, 0.0]
    sigmas = _escape_sigmas(params, opts["escape_sigma"], opts["v_inhibition"])
    for q in range(2):
        if external == "escape" and sigmas[q] > 0:
            lambda_0[q], delta_v[q], _ = fit_escape_noise(sigmas[q], tau_m=tau_m, v_th=m,
                                                          v_reset=0.0, t_ref=params.tau_r)
        else:
            delta_v[q], lambda_0[q] = HARD_DELTA_FRACTION * m, HARD_LAMBDA_0
        if opts["delta_v"] is not None:
            delta_v[q] = opts["delta_v"][q]
        if opts["lambda_0"] is not None:
            lambda_0[q] = opts["lambda_0"][q]
    weights = {}
    for pw in _PATHWAYS:
        s = params.s(pw) * (g_inh if pw[1] == "i" else 1.0)
        weights["weight_" + pw] = (1.0 if pw[1] == "e" else -1.0) * s * c_m / params.tau(pw)
    escape = external == "escape"
    return GifPopulationParams(
        n=(params.n_e, params.n_i), c_m=c_m, tau_m=tau_m, e_l=0.0, v_reset=0.0, v_t_star=m,
        delta_v=tuple(delta_v), lambda_0=tuple(lambda_0), t_ref=params.tau_r,
        tau_syn_ex=(params.tau_ee, params.tau_ie), tau_syn_in=(params.tau_ei, params.tau_ii),
        i_e=tuple(c_m * x for x in lam) if escape else 0.0,
        **weights, **{"p_" + pw: params.p(pw) for pw in _PATHWAYS},
        **{"delay_" + pw: opts["delay"] for pw in _PATHWAYS},
        drive=external, drive_rate=(0.0, 0.0) if escape else lam, drive_size=1.0)


def _escape_sigmas(params, how, v_inhibition):
    """Noise amplitude (mV, Brunel's convention) per population the escape noise is fitted to."""
    lam = (params.lambda_e, params.lambda_i)
    if how == "external":                    # unit Poisson kicks: D = lambda / 2
        return tuple(math.sqrt(x * params.tau_m) for x in lam)
    if how == "network":                     # plus recurrent shot noise at the Siegert rates
        from .siegert import network_diffusion, siegert_from_network

        solution = siegert_from_network(params)
        if not solution.converged:
            warnings.warn("escape_sigma='network': the Siegert fixed point did not converge; "
                          "the recurrent noise uses its last iterate", stacklevel=4)
        rates = solution.rates / 1000.0                               # spikes/ms
        out = []
        for pop in _PAIR_NAMES:
            post = pop.lower()
            k_e = params.p(post + "e") * params.n_e * rates[0]
            k_i = params.p(post + "i") * params.n_i * rates[1]
            _, diff = network_diffusion(params, pop, k_e, k_i, v_inhibition)
            out.append(math.sqrt(2.0 * float(diff) * params.tau_m))
        return tuple(out)
    return tuple(how)


def to_network_params(gp: GifPopulationParams, *, dt: float = 0.1,
                      inhibitory_reversal: float | None = None,
                      v_inhibition: float | None = None) -> NetworkParams:
    """The snnreduce network closest to a GIF description (inverse of :func:`from_network`).

    Voltages are shifted so that the reset is 0 (1 mV = 1 unit): ``threshold = v_t_star -
    v_reset``. The constant drive ``(e_l - v_reset)/tau_m + i_e / c_m + drive_rate *
    drive_size`` (mV/ms) becomes ``lambda`` (unit kicks/ms; clipped at 0); kick sizes are
    :meth:`GifPopulationParams.psp_jump`, inhibitory ones divided by ``g(v_inhibition)``;
    ``tau^{QQ'} = tau_syn``; fixed refractory period ``t_ref``; quenched connectivity.
    What NetworkParams cannot hold is dropped: escape noise (the network has a hard threshold
    and Poisson drive), adaptation, delays, and per-population ``tau_m``, threshold, reset and
    ``t_ref`` (the E population's are used).

    Parameters
    ----------
    gp : GifPopulationParams
    dt : float
        Time step of the result, ms.
    inhibitory_reversal : float, optional
        ``M_r`` (units below the reset); default ``0.66 * threshold`` (the reference set's ratio).
    v_inhibition : float, optional
        Voltage of the linearisation; default ``0.65 * threshold`` as in :func:`from_network`.
    """
    if not isinstance(gp, GifPopulationParams):
        raise ParameterError(f"gp must be a GifPopulationParams, got {type(gp).__name__}")
    m = gp.v_t_star[0] - gp.v_reset[0]
    if not m > 0:
        raise ParameterError(f"v_t_star must be above v_reset to map onto a threshold, got "
                             f"v_t_star = {gp.v_t_star[0]!r}, v_reset = {gp.v_reset[0]!r}")
    m_r = 0.66 * m if inhibitory_reversal is None else inhibitory_reversal
    v_inh = V_INHIBITION_FRACTION * m if v_inhibition is None else v_inhibition
    g_inh = (v_inh + m_r) / (m + m_r)
    if not g_inh > 0:
        raise ParameterError(f"v_inhibition must be above -inhibitory_reversal = {-m_r:g}, "
                             f"got {v_inh!r}")
    lam = []
    for q in range(2):
        drift = ((gp.e_l[q] - gp.v_reset[q]) / gp.tau_m[q] + gp.i_e[q] / gp.c_m[q]
                 + gp.drive_rate[q] * gp.drive_size[q])
        lam.append(max(0.0, drift))
    kicks = {"s_" + pw: abs(gp.psp_jump(pw)) / (g_inh if pw[1] == "i" else 1.0)
             for pw in _PATHWAYS}
    return NetworkParams(
        n_e=gp.n[0], n_i=gp.n[1], threshold=m, inhibitory_reversal=m_r, lambda_e=lam[0],
        lambda_i=lam[1], tau_ee=gp.tau_syn_ex[0], tau_ie=gp.tau_syn_ex[1],
        tau_ei=gp.tau_syn_in[0], tau_ii=gp.tau_syn_in[1], tau_r=gp.t_ref[0], refractory="fixed",
        tau_m=gp.tau_m[0], **{"p_" + pw: gp.p(pw) for pw in _PATHWAYS}, **kicks, dt=dt,
        connectivity="quenched", initial_state="rest")


#: The name the lead's brief uses: the NetworkParams serve every engine, the dsODE included.
to_dsode_params = to_network_params


# ---------------------------------------------------------------------------------------------
# running
# ---------------------------------------------------------------------------------------------

#: Run options shared by :func:`run_mesoscopic`, :func:`run_microscopic` and :func:`run`.
RUN_DEFAULTS = dict(threads=1, connectivity="bernoulli")
CONNECTIVITY = ("bernoulli", "indegree")


def _check_run(gp, t_end, dt, threads, connectivity, record, level):
    if not isinstance(gp, GifPopulationParams):
        raise ParameterError(f"gp must be a GifPopulationParams, got {type(gp).__name__}")
    if isinstance(t_end, bool) or not isinstance(t_end, (int, float, np.number)) \
            or not 0 < t_end < 1e9:
        raise ParameterError(f"t_end must be a number of ms in (0, 1e9), got {t_end!r}")
    dt = _number("dt", dt, "a number in (0, 1] (ms)")
    if not 0 < dt <= 1:
        raise ParameterError(f"dt must be in (0, 1] (ms), got {dt!r}")
    for pw in _PATHWAYS:
        if gp.delay(pw) < dt * (1 - 1e-9):
            raise ParameterError(f"delay_{pw} must be at least one time step dt = {dt:g} ms, "
                                 f"got {gp.delay(pw)!r}")
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
        raise ParameterError(f"threads must be an integer >= 1, got {threads!r}")
    if connectivity not in CONNECTIVITY:
        raise ParameterError(f"connectivity must be one of {', '.join(map(repr, CONNECTIVITY))}, "
                             f"got {connectivity!r}")
    if isinstance(record, str):
        record = (record,)
    record = tuple(record or ())
    allowed = ("voltage",) if level == "micro" else ()
    for name in record:
        if name not in allowed:
            what = ", ".join(allowed) if allowed else "nothing"
            raise ParameterError(f"the {level}scopic GIF model can record {what}; got {name!r}")
    return float(t_end), dt, int(threads), record


def _nest_seed(seed) -> tuple[int, int]:
    seed = normalise_seed(seed)
    return seed, seed % (2**32 - 2) + 1        # NEST wants 1 .. 2^32 - 1; seed + 1 below that


def _simulate(gp, *, level, t_end, seed, dt, threads, connectivity, record, progress,
              drive_rates=None, record_every=1):
    from . import _gif_nest

    t_end, dt, threads, record = _check_run(gp, t_end, dt, threads, connectivity, record, level)
    seed, nest_seed = _nest_seed(seed)
    if level == "meso" and gp.drive != "escape":
        warnings.warn(f"gif_pop_psc_exp is mean field in its input: the {gp.drive} external "
                      "drive enters as its mean current only; its noise is the escape noise",
                      stacklevel=3)
    start = time.perf_counter()
    out = _gif_nest.simulate(gp, level=level, t_end=t_end, dt=dt, nest_seed=nest_seed,
                             threads=threads, connectivity=connectivity, record=record,
                             progress=progress, drive_rates=drive_rates,
                             record_every=record_every)
    options = dict(level=level, gif=gp.to_dict(), dt=dt, threads=threads, nest_seed=nest_seed,
                   nest_version=out.pop("nest_version"))
    if level == "micro":
        options["connectivity"] = connectivity
    out["options"] = options
    return seed, out, time.perf_counter() - start


def _result(gp, engine, seed, t_end, dt, out, wall):
    # a GIF description has no NetworkParams of its own: the Result carries the network it
    # maps onto, and options["gif"] the description itself
    return Result.from_run(out, params=to_network_params(gp, dt=dt), engine=engine, seed=seed,
                           t_end=t_end, wall_time=wall)


def check_runnable(params: NetworkParams) -> None:
    """Fail before a batch of runs if ``params`` cannot run here (registry preflight).

    Raises
    ------
    ParameterError
        If the network has no leak (``tau_m == 0``): a GIF neuron always leaks.
    ImportError
        If NEST is missing (:data:`NEST_MISSING`), raised now rather than inside a worker.
    """
    if params.tau_m <= 0:
        raise ParameterError("the refractory-density baseline (rdm) needs a leaky network, "
                             f"tau_m > 0; got tau_m = {params.tau_m:g}")
    import_nest()


def run_mesoscopic(gp: GifPopulationParams, *, t_end: float, seed: int | None, dt: float = 0.1,
                   threads: int = 1, progress: bool = False):
    """Run the mesoscopic population equations (NEST ``gif_pop_psc_exp``) of ``gp``.

    Each population is one ``gif_pop_psc_exp`` node; population Q' projects onto Q with one
    connection of weight ``p^{QQ'} weight_{QQ'}`` (pA) and delay ``delay_{QQ'}``, the mean
    input per presynaptic spike (NEST sends a population's spikes of a step as one event with
    their number as multiplicity). The spikes are counted per step with a spike recorder.

    Parameters
    ----------
    gp : GifPopulationParams
        The populations (pathways post-pre).
    t_end : float
        Simulated time, ms (rounded up to a whole step).
    seed : int or None
        Seed; NEST's ``rng_seed`` is ``seed + 1``. None draws one (recorded in the Result).
    dt : float
        NEST resolution and count bin, ms.
    threads : int
        NEST ``local_num_threads``.
    progress : bool
        Show a progress bar (the simulation runs in chunks).

    Returns
    -------
    Result
        ``engine == "rdm"``; ``population_counts`` (n_steps, 2): spikes of E and I per step
        (integers); no individual spikes; ``params`` is :func:`to_network_params` of ``gp``
        (with ``dt``); ``options["gif"]`` the full description.

    Raises
    ------
    ImportError
        If NEST is not installed (:data:`NEST_MISSING`).
    """
    seed, out, wall = _simulate(gp, level="meso", t_end=t_end, seed=seed, dt=dt, threads=threads,
                                connectivity="bernoulli", record=(), progress=progress)
    return _result(gp, "rdm", seed, t_end, out["options"]["dt"], out, wall)


def run_microscopic(gp: GifPopulationParams, *, t_end: float, seed: int | None, dt: float = 0.1,
                    threads: int = 1, connectivity: str = "bernoulli", record=(),
                    progress: bool = False):
    """Run the microscopic network of ``gif_psc_exp`` neurons that ``gp`` describes.

    ``n[Q]`` neurons per population, all starting at ``V = v_reset`` with no synaptic current;
    connections drawn with ``pairwise_bernoulli`` (probability ``p^{QQ'}``, no autapses) or
    ``fixed_indegree`` (``round(p^{QQ'} N_{Q'})`` inputs, ``connectivity="indegree"``),
    weight ``weight_{QQ'}`` and delay ``delay_{QQ'}``. External noise per ``gp.drive``.

    Parameters
    ----------
    gp, t_end, seed, dt, threads, progress
        As :func:`run_mesoscopic`.
    connectivity : {"bernoulli", "indegree"}
        How the random graph is drawn.
    record : iterable of str
        ``("voltage",)`` records ``V_m`` of every neuron at the end of each step
        (shape (n_steps, n_e + n_i)).

    Returns
    -------
    Result
        ``engine == "gif-micro"``; ``population_counts`` (n_steps, 2) as for the mesoscopic
        run, plus ``spike_times`` (ms, stamped at the middle of their step, sorted) and
        ``spike_neurons`` (``0 .. n_e-1`` excitatory, then inhibitory).
    """
    seed, out, wall = _simulate(gp, level="micro", t_end=t_end, seed=seed, dt=dt,
                                threads=threads, connectivity=connectivity, record=record,
                                progress=progress)
    return _result(gp, "gif-micro", seed, t_end, out["options"]["dt"], out, wall)


#: How a time-varying stimulus reaches NEST, recorded in a run's options (docs/baselines.md).
STIMULUS_MAPPING = (
    "exact in the mean, approximate in the noise: the external mean current c_m*lambda_Q(t) "
    "is the step mean of the stimulus in every step (I_e for the first step, a "
    "step_current_generator for the changes, timed so that step k gets step k's value; "
    "microscopic poisson drive: an inhomogeneous_poisson_generator at the step means); the "
    "escape noise (and a gaussian drive's sd) is fitted once at the run-mean lambda_Q and "
    "does not follow lambda_Q(t); a rate reaching 0 keeps that escape noise")


def run(params: NetworkParams, *, t_end: float, rng=None, record=(), progress: bool = False,
        stimulus=None, t_start: float = 0.0, initial_state=None, record_every=None,
        **options) -> dict:
    """Engine function (snnreduce engine contract) of the refractory-density baseline.

    Maps ``params`` with :func:`from_network` and runs the mesoscopic model (or, with
    ``level="micro"``, the GIF network) at ``dt = params.dt``.

    Parameters
    ----------
    params : NetworkParams
        A leaky network, ``tau_m > 0`` (pathways post-pre).
    t_end : float
        Simulated time, ms.
    rng : numpy.random.Generator
        The NEST seed is drawn from it (``rng.integers(2**32 - 2)``).
    record : iterable of str
        Nothing for the mesoscopic model; ``("voltage",)`` for ``level="micro"``.
    progress : bool
        Progress bar.
    stimulus : snnreduce.stimulus.Stimulus, optional
        Time-varying external rates (docs/stimuli.md), evaluated from ``t_start`` (ms). None or
        constant: the constant drive with the stimulus's λ. Time-varying: the mean current
        follows the per-step means exactly; the escape noise is fitted at the run-mean λ_Q
        and does not follow λ_Q(t) (:data:`STIMULUS_MAPPING`, also in the options).
    t_start : float
        Absolute time of the first step, ms (where the stimulus is evaluated).
    initial_state : None
        Only None: NEST's ``gif_pop_psc_exp`` / ``gif_psc_exp`` offer no way to read and set
        their whole state (refractory-density arrays, synaptic currents, random streams), so
        a run can neither start from a given state nor continue another exactly; it returns
        no ``final_state``.
    record_every : float, optional
        Micro ``voltage``: keep every ``record_every`` ms (a multiple of dt).
    **options
        ``level`` ("meso" default, or "micro"), ``threads`` (1), ``connectivity``
        ("bernoulli" or "indegree", micro only) and every option of :func:`from_network`
        (``external``, ``c_m``, ``v_inhibition``, ``delta_v``, ``lambda_0``,
        ``escape_sigma``, ``delay``). Unlike :func:`from_network`, ``escape_sigma``
        defaults to ``"network"`` for ``level="meso"`` (the escape noise then stands for
        the external and the recurrent input noise) and to ``"external"`` for
        ``level="micro"``. Unknown options raise ParameterError.

    Returns
    -------
    dict
        ``population_counts``, ``spike_times``, ``spike_neurons`` (None for "meso"),
        ``records``, ``options`` (every option used, the mapping and the GIF description).
    """
    allowed = ("level", *RUN_DEFAULTS, *MAPPING_DEFAULTS)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ParameterError(f"unknown rdm option {unknown[0]!r}; allowed: {', '.join(allowed)}")
    if initial_state is not None:
        raise ParameterError(
            "initial_state: the refractory-density model (NEST) cannot start from a given "
            "state or continue a run (NEST exposes no settable state of gif_pop_psc_exp / "
            "gif_psc_exp); it starts every run at rest")
    if not isinstance(params, NetworkParams):
        raise ParameterError(f"params must be a NetworkParams, got {type(params).__name__}")
    t_start = _T_START.check("t_start", t_start)
    every = record_stride(record_every, params.dt)
    t_end = check_t_end(t_end)
    drive_params, rates = external_drive(stimulus, params, t_end, t_start)
    if rates is not None:
        # the escape noise is fitted once, at the run-mean rates (not following λ(t))
        mean_e, mean_i = (float(x) for x in rates.mean(axis=0))
        drive_params = params.replace(lambda_e=mean_e, lambda_i=mean_i)
    level = options.pop("level", "meso")
    if level not in ("meso", "micro"):
        raise ParameterError(f"level must be 'meso' or 'micro', got {level!r}")
    threads = options.pop("threads", RUN_DEFAULTS["threads"])
    connectivity = options.pop("connectivity", RUN_DEFAULTS["connectivity"])
    if level == "meso" and connectivity != RUN_DEFAULTS["connectivity"]:
        raise ParameterError("connectivity applies to level='micro' only")
    # the mesoscopic model is mean field in its input: give its escape noise the recurrent
    # shot noise too; the microscopic network has that noise explicitly
    options.setdefault("escape_sigma", "network" if level == "meso" else "external")
    gp = from_network(drive_params, **options)
    mapping = _check_mapping_options(drive_params, options)
    if rng is None:
        rng = np.random.default_rng()
    if not isinstance(rng, np.random.Generator):
        raise ParameterError(f"rng must be a numpy Generator, got {rng!r}")
    seed = int(rng.integers(2**32 - 2))
    _, out, _ = _simulate(gp, level=level, t_end=t_end, seed=seed, dt=params.dt, threads=threads,
                          connectivity=connectivity, record=record, progress=progress,
                          drive_rates=rates, record_every=every)
    out["options"].update(mapping=mapping, seed_drawn=seed)
    if rates is not None:
        out["options"]["stimulus_mapping"] = STIMULUS_MAPPING
    if every > 1:
        out["options"]["record_every"] = every * params.dt
    return out
