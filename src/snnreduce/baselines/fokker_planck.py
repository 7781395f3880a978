"""Population Fokker-Planck equation of the network's integrate-and-fire neurons.

A baseline of SPEC §7 (Mattia & Del Giudice 2002 style): each population Q is described by the
probability density ``p_Q(v, t)`` of its non-refractory neurons plus the probability of being
refractory, driven by the diffusion limit of its input::

    dp/dt = -dJ/dv,        J = A(v) p - d(D(v) p)/dv          (Ito form)
    A(v)  = -v/tau_m + lambda_Q + S^{QE} k^{QE}(t) - S^{QI} g(v) k^{QI}(t)
    D(v)  = (lambda_Q + (S^{QE})^2 k^{QE}(t) + (S^{QI} g(v))^2 k^{QI}(t)) / 2

with ``g(v) = (v + M_r)/(M + M_r)`` (conductance-like inhibition kept voltage dependent),
``k^{QQ'}`` the kicks per neuron per ms delivered by pathway QQ' (post-pre), absorbing threshold
``p(M) = 0`` (rate = outgoing flux), reinjection at the reset 0 after the refractory period and a
reflecting lower boundary at ``v_low``. Pending kicks are the network's first-order synaptic
filter: ``dh/dt = -h/tau^{QQ'} + P^{QQ'} N_{Q'} nu_{Q'}(t - delay)``, ``k = h / tau``.

Numerics: finite volumes of width ``dv`` with Scharfetter-Gummel (exponentially fitted) fluxes,
implicit Euler in time with the coefficients of the step frozen (semi-implicit in the coupling),
one tridiagonal solve per population and step (a rank-one Sherman-Morrison correction when part
of the fired mass is reinjected within the same step). The matrix is an M-matrix, so densities
stay non-negative, and probability (grid + refractory) is conserved to round-off.

See ``docs/baselines.md`` for the equations, the approximations and every option.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping

import numpy as np
from numba import njit

from .._resume import (grid_of, record_stride, resumed_step, rng_from_text, rng_text,
                       sampled_rows, state_array)
from .._steps import n_steps_of
from ..params import POPULATIONS, NetworkParams, ParameterError
from ..populations import (PATHWAY_COLUMNS, POPULATION_COLUMNS, kernel_pathway_table,
                           kernel_population_table)
from ..result import Result
from ..stimulus import external_drive
from ..validation import (Interval, check_flag, check_number, check_record, check_t_end,
                          check_unknown, normalise_seed)

__all__ = ["run", "solve", "RECORDS", "DEFAULTS"]

#: Records this solver can produce (names and dimensions as in ``snnreduce.result.RECORD_DIMS``).
#: ``bin_count``: expected neurons per voltage cell; ``bin_mean``: the cell centres;
#: ``refractory``: expected refractory neurons; ``pending``: pending kicks summed over the post
#: population, per pathway (post-pre order ee, ie, ei, ii).
RECORDS = ("refractory", "pending", "bin_count", "bin_mean")

#: Default options (None: derived from the parameters, see :func:`run`).
DEFAULTS = dict(dv=None, v_low=None, delay=0.0, finite_size=False, n_neurons=None,
                synaptic_filter=True, recurrent_noise=True)
#: Run arguments of the engine contract that are not solver options (they stay out of
#: ``options``: the api records the stimulus; t_start is the Result's).
RUN_ARGUMENTS = ("stimulus", "t_start", "initial_state", "record_every")
_T_START = Interval(0, units="ms")
# columns of the kernel tables (populations.POPULATION_COLUMNS / PATHWAY_COLUMNS) read here
_POP_LAMBDA = POPULATION_COLUMNS.index("external_rate")
_PW_TAU = PATHWAY_COLUMNS.index("tau")
_PW_PROB = PATHWAY_COLUMNS.index("prob")
_PW_POST = PATHWAY_COLUMNS.index("post")
_PW_PRE = PATHWAY_COLUMNS.index("pre")
_PW_KICK = PATHWAY_COLUMNS.index("kick")
_PW_INHIBITORY = PATHWAY_COLUMNS.index("inhibitory")
#: ``final_state["engine"]`` of a Fokker-Planck run.
ENGINE = "fokker-planck"


# ---------------------------------------------------------------------------------------------
# kernels
# ---------------------------------------------------------------------------------------------

@njit(cache=True)
def _bernoulli(x):
    """B(x) = x / (e^x - 1), B(0) = 1; finite for all x (0 for x -> +inf, -x for x -> -inf)."""
    if abs(x) < 1e-8:
        return 1.0 - 0.5 * x
    if x > 700.0:
        return 0.0
    return x / math.expm1(x)


@njit(cache=True)
def _sg_coefficients(a, d, h, width):
    """Scharfetter-Gummel flux J = alpha m_left - beta m_right between points ``h`` apart.

    ``a`` is the drift, ``d`` the diffusion at the face; masses are per cell of ``width``.
    D = 0 gives first-order upwinding, the SG limit.
    """
    if d <= 0.0:
        return max(a, 0.0) / width, max(-a, 0.0) / width
    z = a * h / d
    scale = d / (h * width)
    return scale * _bernoulli(-z), scale * _bernoulli(z)


@njit(cache=True)
def _step_population(m, faces, dt, dv, tau_m, lam, kick, kicks, rows, n_exc, m_th, m_rev,
                     noise_recurrent, source, reset_lo, w_lo, w_hi, c_now,
                     lower, diag, upper, work_c, work_y, work_z):
    """Advance the cell masses ``m`` (in place) by one implicit step; return the fired mass.

    The population's input sums over its senders, the pathways ``rows``: the first ``n_exc``
    from excitatory senders (drift S k, diffusion S² k / 2), the others from inhibitory ones
    (drift -S g(v) k, diffusion (S g(v))² k / 2), with the kick sizes ``kick`` and the kicks
    per post neuron per ms ``kicks`` of every pathway.

    Cells i = 0..n-1 between faces[i] and faces[i+1]; faces[n] is the threshold. ``source`` is
    mass reinjected at the reset this step (from earlier spikes); a fraction ``c_now`` of this
    step's fired mass is reinjected at once (implicitly, by Sherman-Morrison). The reset mass
    is split between cells ``reset_lo`` and ``reset_lo + 1`` with weights ``w_lo``, ``w_hi``.
    """
    n = m.shape[0]
    inv_g = 1.0 / (m_th + m_rev)
    # the excitatory senders' drift and diffusion do not depend on v (for one sender
    # 0.0 + S k == S k: the one-sender formula's numbers exactly)
    exc_mean = 0.0
    exc_var = 0.0
    for i in range(n_exc):
        r = rows[i]
        exc_mean += kick[r] * kicks[r]
        exc_var += kick[r] * kick[r] * kicks[r]
    gamma = 0.0
    for i in range(n + 1):
        lower[i] = 0.0  # reuse as face coefficients alpha (index = face)
        upper[i] = 0.0  # beta
    for j in range(1, n + 1):
        v = faces[j]
        g = (v + m_rev) * inv_g
        leak = -v / tau_m if tau_m > 0.0 else 0.0
        a = leak + lam + exc_mean
        d = lam + exc_var
        for i in range(n_exc, rows.size):
            r = rows[i]
            a -= kick[r] * g * kicks[r]
            if noise_recurrent:
                d += kick[r] * kick[r] * g * g * kicks[r]
                a -= kick[r] * kick[r] * g * inv_g * kicks[r]  # Ito: J = (A - D') p - D p'
        d = 0.5 * d if noise_recurrent else 0.5 * lam
        if j < n:
            alpha, beta = _sg_coefficients(a, d, dv, dv)
            lower[j] = alpha
            upper[j] = beta
        else:  # absorbing threshold: p(M) = 0, half a cell from the last centre
            alpha, beta = _sg_coefficients(a, d, 0.5 * dv, dv)
            gamma = alpha
    # assemble the tridiagonal rows in diag / work arrays (sub = -dt alpha_i, sup = -dt beta_{i+1})
    for i in range(n):
        out_up = gamma if i == n - 1 else lower[i + 1]
        out_down = upper[i] if i >= 1 else 0.0
        diag[i] = 1.0 + dt * (out_up + out_down)
    # Thomas algorithm on rhs y (= m + source) and, if needed, z (= reset weights).
    for i in range(n):
        work_y[i] = m[i]
        work_z[i] = 0.0
    work_y[reset_lo] += source * w_lo
    work_z[reset_lo] += w_lo
    if w_hi > 0.0:
        work_y[reset_lo + 1] += source * w_hi
        work_z[reset_lo + 1] += w_hi
    # forward sweep; sub-diagonal of row i is -dt * alpha_i (face i), super is -dt * beta_{i+1}
    denom = diag[0]
    work_c[0] = (-dt * upper[1] / denom) if n > 1 else 0.0
    work_y[0] /= denom
    work_z[0] /= denom
    for i in range(1, n):
        sub = -dt * lower[i]
        denom = diag[i] - sub * work_c[i - 1]
        work_c[i] = (-dt * upper[i + 1] / denom) if i < n - 1 else 0.0
        work_y[i] = (work_y[i] - sub * work_y[i - 1]) / denom
        work_z[i] = (work_z[i] - sub * work_z[i - 1]) / denom
    for i in range(n - 2, -1, -1):
        work_y[i] -= work_c[i] * work_y[i + 1]
        work_z[i] -= work_c[i] * work_z[i + 1]
    shift = 0.0
    if c_now > 0.0:
        f = dt * gamma * c_now
        shift = f * work_y[n - 1] / (1.0 - f * work_z[n - 1])
    for i in range(n):
        m[i] = work_y[i] + shift * work_z[i]
    return dt * gamma * m[n - 1]


# ---------------------------------------------------------------------------------------------
# option handling
# ---------------------------------------------------------------------------------------------

def check_options(params, options):
    """The solver options of :func:`run` merged over ``DEFAULTS`` and validated (a dict)."""
    check_unknown(options, DEFAULTS, "fokker_planck")
    opts = {**DEFAULTS, **options}
    m = params.threshold
    dv = opts["dv"] if opts["dv"] is not None else m / 200.0
    dv = check_number("dv", dv, lambda x: 0 < x <= m / 10, f"in (0, threshold/10 = {m / 10:g}]")
    v_low = opts["v_low"] if opts["v_low"] is not None else -params.inhibitory_reversal
    v_low = check_number("v_low", v_low, lambda x: x < 0, "< 0 (below the reset 0)")
    n_cells = int(math.ceil((m - v_low) / dv - 1e-9))
    if n_cells > 200_000:
        raise ParameterError(f"dv={dv:g} and v_low={v_low:g} give {n_cells} cells; at most 200000")
    delay = check_number("delay", opts["delay"], lambda x: 0 <= x < 1e4, "in [0, 1e4) ms")
    for flag in ("finite_size", "synaptic_filter", "recurrent_noise"):
        check_flag(flag, opts[flag])
    n_neurons = opts["n_neurons"]
    if n_neurons is None:
        n_neurons = (params.n_e, params.n_i)
    elif isinstance(n_neurons, (int, np.integer)) and not isinstance(n_neurons, bool):
        n_neurons = (int(n_neurons), int(n_neurons))
    if (not isinstance(n_neurons, (tuple, list)) or len(n_neurons) != 2
            or any(isinstance(x, bool) or not isinstance(x, (int, np.integer)) or x < 1
                   for x in n_neurons)):
        raise ParameterError(f"n_neurons must be an integer >= 1 or a pair (n_e, n_i) of them, "
                             f"got {opts['n_neurons']!r}")
    return dict(dv=dv, v_low=m - n_cells * dv, n_cells=n_cells, delay=delay,
                finite_size=bool(opts["finite_size"]), n_neurons=[int(x) for x in n_neurons],
                synaptic_filter=bool(opts["synaptic_filter"]),
                recurrent_noise=bool(opts["recurrent_noise"]))


def _as_generator(rng):
    if rng is None or isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(rng)
    if isinstance(rng, np.random.Generator):
        return rng
    raise ParameterError(f"rng must be a numpy Generator, an integer seed or None, got {rng!r}")


def _reinjection_kernel(params, dt):
    """How fired mass returns: (immediate fraction, delayed weights by step, exp. factor).

    Fixed refractory tau_r = f dt: weights (1 - frac) at floor(f) steps and frac at floor(f)+1,
    so the mean delay is exactly tau_r. Exponential: a pool left by a fraction 1 - q per step
    (q = exp(-dt/tau_r)), plus a fraction ``1 - (tau_r/dt)(1 - q)`` reinjected within the step
    of the spike -- what leaves within the step for spikes emitted uniformly in it -- so that
    the mean refractory time is exactly tau_r.
    """
    tau = params.tau_r
    if tau == 0.0:
        return 1.0, np.zeros(0), None
    if params.refractory == "fixed":
        f = tau / dt
        k0 = int(math.floor(f + 1e-9))
        frac = max(0.0, f - k0) if abs(f - round(f)) > 1e-9 else 0.0
        weights = np.zeros(k0 + 2)
        weights[k0] += 1.0 - frac
        weights[k0 + 1] += frac
        return float(weights[0]), weights, None
    q = math.exp(-dt / tau)
    now = max(0.0, 1.0 - (tau / dt) * (1.0 - q))
    return now, np.zeros(0), q


# ---------------------------------------------------------------------------------------------
# the engine
# ---------------------------------------------------------------------------------------------

def run(params: NetworkParams, *, t_end: float, rng=None, record=(), progress: bool = False,
        stimulus=None, t_start: float = 0.0, initial_state=None, record_every=None,
        **options) -> dict:
    """Integrate the population Fokker-Planck equations of the E-I network.

    Parameters
    ----------
    params : NetworkParams
        The network (pathways post-pre: ``s_ei`` is the kick an I spike gives an E neuron).
        Uses every field except ``connectivity`` (mean field) ; ``dt`` is the time step.
    t_end : float
        Simulated time, ms; ``ceil(t_end / dt)`` steps, as the other engines.
    rng : numpy.random.Generator, int or None
        Random stream of the finite-size noise (unused when ``finite_size`` is False).
    record : iterable of str
        Any of :data:`RECORDS`. ``bin_count``/``bin_mean`` also produce ``bin_edges``.
    progress : bool
        Show a tqdm progress bar.
    dv : float, optional
        Cell width (default ``threshold / 200``).
    v_low : float, optional
        Reflecting lower boundary, < 0 (default ``-inhibitory_reversal``, the inhibitory
        reversal potential). Moved down to a whole number of cells below the threshold.
    delay : float
        Synaptic delay, ms (default 0). Input at step n uses the spikes of steps up to
        ``n - 1 - round(delay / dt)`` (the one-step lag is that of the stepped network).
    finite_size : bool
        False: deterministic (population counts are expected spikes ``N rate dt``). True: the
        number of spikes per step is sampled, ``C ~ Binomial(round(N m), F / m)`` (m the mass
        that could fire, F the deterministic fired mass), and ``C / N`` (not F) leaves the
        density, is reinjected after the refractory period and drives the synapses.
    n_neurons : int or (int, int), optional
        Population sizes for the counts and the finite-size noise (default ``(n_e, n_i)``).
        The mean-field coupling always uses ``P N S`` of ``params``.
    synaptic_filter : bool
        True (default): kicks are delivered by the pending-kick filter with time constants
        ``tau^{QQ'}``. False: delivered within the step after they arrive.
    recurrent_noise : bool
        True (default): recurrent kicks contribute ``S^2 k / 2`` to the diffusion (shot noise of
        consumed kicks). False: only the external drive diffuses.
    stimulus : snnreduce.stimulus.Stimulus, optional
        Time-varying external rates: each step uses the exact mean of λ_Q over the step for
        the drift λ and the diffusion λ/2 (the diffusion limit of the inhomogeneous Poisson
        drive). None or constant: the constant-drive code (docs/stimuli.md).
    t_start : float
        Absolute time of the first step, ms (the stimulus is evaluated there); a run
        continued from a ``final_state`` starts at its ``time``.
    initial_state : None, array_like of shape (2, n_cells), or dict
        None: ``params.initial_state``. An array: expected neurons per cell of E and I (rows
        >= 0 summing to ``n_neurons``; nobody refractory, no pending kicks). A dict: the
        ``final_state`` of an earlier run with the same parameters and options (exact
        continuation, the finite-size stream included).
    record_every : float, optional
        Keep the records every ``record_every`` ms (a multiple of dt; the state after steps
        ``i`` with ``(i + 1) % m == 0``). None: every step.

    Returns
    -------
    dict
        ``population_counts`` (n_steps, 2), ``records``, ``options``, ``status``,
        ``final_state`` (``mass``, ``pipe``, ``pool``, ``pending``, ``history``, ``step``,
        ``t_origin``, ``time``, ``engine``, and ``rng`` for the finite-size noise; empty if the
        run diverged); ready for :class:`snnreduce.Result` (``spike_times`` None).
    """
    if not isinstance(params, NetworkParams):
        raise ParameterError(f"params must be a NetworkParams, got {type(params).__name__}")
    t_end = check_t_end(t_end)
    record = check_record(record, RECORDS, "the Fokker-Planck solver")
    opts = check_options(params, options)
    t_start = _T_START.check("t_start", t_start)
    # the step grid t_origin + k dt of the chain of runs this one belongs to (docs: a run
    # continued from a final_state computes the stimulus exactly as one run would)
    t_origin, _ = grid_of(initial_state, t_start)
    drive_params, rates = external_drive(stimulus, params, t_end, t_start, t_origin=t_origin)
    gen = _as_generator(rng) if opts["finite_size"] else None

    dt = params.dt
    n_steps = n_steps_of(t_end, dt)
    every = record_stride(record_every, dt)
    dv, n = opts["dv"], opts["n_cells"]
    m_th, m_rev = params.threshold, params.inhibitory_reversal
    faces = m_th - dv * np.arange(n, -1, -1, dtype=float)  # faces[0] = v_low, faces[n] = M
    centres = 0.5 * (faces[:-1] + faces[1:])
    n_sim = np.array(opts["n_neurons"], dtype=float)
    n_par = np.array(params.n, dtype=float)

    # reset 0 split linearly between the two nearest centres (mean voltage exactly 0)
    pos = (0.0 - faces[0]) / dv - 0.5
    reset_lo = int(min(max(math.floor(pos), 0), n - 1))
    w_hi = pos - reset_lo if reset_lo + 1 < n else 0.0
    w_hi = min(max(w_hi, 0.0), 1.0)
    w_lo = 1.0 - w_hi

    c_now, delayed_w, pool_q = _reinjection_kernel(params, dt)
    pipe_len = len(delayed_w)
    d_steps = int(round(opts["delay"] / dt))
    # populations and pathways from the one kernel layout (populations.py): a row per post
    # population (its external rate, kicks, and the rows of its excitatory and inhibitory
    # pathway) and a row per pathway (τ, P, post, pre)
    pop_tab = kernel_population_table(drive_params)
    pw_tab = kernel_pathway_table(params)
    n_pop, n_pw = pop_tab.shape[0], pw_tab.shape[0]
    shapes = dict(mass=(n_pop, n), pipe=(n_pop, max(pipe_len, 1)), pool=(n_pop,),
                  pending=(n_pw,), history=(d_steps + 1, n_pop))
    # the state: cell masses (total 1 per population with the refractory part), the
    # reinjection pipe (pipe[:, j]: mass due j steps from now) or pool, the pending kicks per
    # post neuron (h), the firing fractions awaiting delivery, the global step
    state = _start_state(initial_state, shapes, n_sim, t_start, dt)
    if state is None:
        state = {key: np.zeros(shape) for key, shape in shapes.items()}
        mass = state["mass"]
        if params.initial_state == "uniform":
            overlap = np.clip(np.minimum(faces[1:], m_th) - np.maximum(faces[:-1], 0.0), 0.0,
                              None)
            mass[:] = overlap / overlap.sum()
        else:
            mass[:, reset_lo] = w_lo
            if w_hi > 0:
                mass[:, reset_lo + 1] = w_hi
        state["step"] = 0
        started = params.initial_state
    else:
        started = state.pop("started")
        if opts["finite_size"] and "rng" in state:
            gen = rng_from_text(state.pop("rng"))
    mass, pipe, pool = state["mass"], state["pipe"], state["pool"]
    pending, history, step0 = state["pending"], state["history"], int(state["step"])

    post = pw_tab[:, _PW_POST].astype(np.int64)
    pre = pw_tab[:, _PW_PRE].astype(np.int64)
    decay = np.exp(-dt / pw_tab[:, _PW_TAU])
    # kicks per neuron of post from one unit of pre firing fraction: P^{QQ'} N_{Q'}
    gain = pw_tab[:, _PW_PROB] * n_par[pre]

    lam = pop_tab[:, _POP_LAMBDA]
    kick = pw_tab[:, _PW_KICK]
    # post q: the rows of its pathways, those from excitatory senders first (n_exc[q] of them)
    inhibitory = pw_tab[:, _PW_INHIBITORY] != 0.0
    sender_rows = [np.concatenate([np.flatnonzero((post == q) & ~inhibitory),
                                   np.flatnonzero((post == q) & inhibitory)])
                   for q in range(n_pop)]
    n_exc = [int(np.sum((post == q) & ~inhibitory)) for q in range(n_pop)]

    counts = np.zeros((n_steps, n_pop))
    rows = sampled_rows(n_steps, every)
    rec = {}
    if "refractory" in record:
        rec["refractory"] = np.zeros((rows, n_pop))
    if "pending" in record:
        rec["pending"] = np.zeros((rows, n_pw))
    if "bin_count" in record:
        rec["bin_count"] = np.zeros((rows, n_pop, n))
    if "bin_mean" in record:
        rec["bin_mean"] = np.broadcast_to(centres, (rows, n_pop, n)).copy()

    lower = np.zeros(n + 1)
    upper = np.zeros(n + 1)
    diag = np.zeros(n)
    wc, wy, wz = np.zeros(n), np.zeros(n), np.zeros(n)
    reset_vec = np.zeros(n)
    reset_vec[reset_lo] = w_lo
    if w_hi > 0:
        reset_vec[reset_lo + 1] = w_hi

    status = "ok"
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_steps, unit="step", desc="fokker-planck")
    fired_frac = np.zeros(n_pop)
    # finite size: the solve reinjects nothing at once; the sampled count is reinjected instead
    c_solve = 0.0 if opts["finite_size"] else c_now
    done = n_steps
    for i in range(n_steps):
        step = step0 + i  # global (history slots)
        if opts["synaptic_filter"]:
            kicks = pending * (1.0 - decay) / dt
        else:
            kicks = pending / dt
        for q in range(n_pop):
            # mass reinjected this step from earlier spikes
            if pool_q is not None:
                source = pool[q] * (1.0 - pool_q)
                pool[q] -= source
            elif pipe_len > 1:
                source = pipe[q, 0]
                pipe[q, :-1] = pipe[q, 1:]
                pipe[q, -1] = 0.0
            else:
                source = 0.0
            m = mass[q]
            grid_before = m.sum() + source
            fired = _step_population(
                m, faces, dt, dv, params.tau_m, lam[q] if rates is None else rates[i, q],
                kick, kicks, sender_rows[q], n_exc[q], m_th, m_rev, opts["recurrent_noise"],
                source, reset_lo, w_lo, w_hi, c_solve,
                lower, diag, upper, wc, wy, wz)
            if opts["finite_size"]:
                trials = int(round(n_sim[q] * grid_before))
                p_fire = min(1.0, max(0.0, fired / grid_before)) if grid_before > 0 else 0.0
                spikes = int(gen.binomial(trials, p_fire)) if trials > 0 else 0
                # never more spikes than neurons that could fire (rounding of N m_avail)
                spikes = min(spikes, int(math.floor(n_sim[q] * grid_before + 1e-9)))
                emitted = spikes / n_sim[q]
                # the solve reinjected nothing; rescale the density so that exactly
                # `emitted` left it, then reinject the immediate share of the sampled spikes
                rest = m.sum()
                target = grid_before - emitted
                if rest > 0:
                    m *= max(target, 0.0) / rest
                m += (c_now * emitted) * reset_vec
                fired = emitted
            fired_frac[q] = fired
            if pool_q is not None:
                pool[q] += (1.0 - c_now) * fired
            elif pipe_len > 1:
                pipe[q, : pipe_len - 1] += fired * delayed_w[1:]
            counts[i, q] = spikes if opts["finite_size"] else n_sim[q] * fired
        # synapses: deliver the firing of step (step - d_steps)
        history[step % (d_steps + 1)] = fired_frac
        arriving = history[(step - d_steps) % (d_steps + 1)] if step >= d_steps else np.zeros(n_pop)
        if opts["synaptic_filter"]:
            pending[:] = pending * decay + gain * arriving[pre]
        else:
            pending[:] = gain * arriving[pre]
        if (i + 1) % every == 0:
            row = (i + 1) // every - 1
            if "refractory" in rec:
                rec["refractory"][row] = n_sim * (1.0 - mass.sum(axis=1))
            if "pending" in rec:
                rec["pending"][row] = pending * n_sim[post]
            if "bin_count" in rec:
                rec["bin_count"][row] = mass * n_sim[:, None]
        if not np.isfinite(fired_frac).all():
            status = f"diverged at t = {t_start + i * dt:g} ms"
            counts[i:] = np.nan
            done = i + 1
            break
        if bar is not None and (i % 1000 == 999 or i == n_steps - 1):
            bar.update(i + 1 - bar.n)
    if bar is not None:
        bar.close()
    if "bin_count" in rec or "bin_mean" in rec:
        rec["bin_edges"] = faces.copy()
    opts_out = dict(opts)
    opts_out["reset_weights"] = [int(reset_lo), float(w_lo), float(w_hi)]
    opts_out["initial_state"] = started
    if every > 1:
        opts_out["record_every"] = every * dt
    final = {}
    if status == "ok":
        final = {key: np.array(state[key], dtype=np.float64) for key in shapes}
        final.update(step=np.array(step0 + done, dtype=np.int64), t_origin=np.array(t_origin),
                     time=np.array(t_origin + (step0 + done) * dt), engine=ENGINE)
        if gen is not None:
            final["rng"] = rng_text(gen)
    return dict(population_counts=counts, records=rec, options=opts_out, status=status,
                final_state=final)


def _bad_state(message):
    raise ParameterError(f"initial_state: {message}")


def _start_state(initial_state, shapes, n_sim, t_start, dt):
    """The state dict a run starts from (arrays copied and validated, plus ``started``, and
    ``rng`` when a final_state has one), or None for ``params.initial_state``."""
    if initial_state is None:
        return None
    if isinstance(initial_state, Mapping):
        d = initial_state
        if d.get("engine", ENGINE) != ENGINE:
            _bad_state(f"a final_state of the {d.get('engine')!r} engine cannot start a "
                       "Fokker-Planck run")
        missing = [k for k in (*shapes, "step") if k not in d]
        if missing:
            _bad_state(f"a Fokker-Planck final_state needs {', '.join((*shapes, 'step'))}; "
                       f"missing {', '.join(missing)}")
        state = {key: state_array(d[key], key, shape, nonnegative=True)
                 for key, shape in shapes.items()}
        state.update(step=resumed_step(d, t_start, dt), started="final_state")
        if d.get("rng") is not None:
            state["rng"] = d["rng"]
        return state
    if isinstance(initial_state, str):
        _bad_state("a string initial state is a parameter (NetworkParams.initial_state); here "
                   "give neurons per cell (2, n_cells) or a final_state dict")
    cells = state_array(initial_state, "neurons per cell", shapes["mass"], nonnegative=True)
    for q in range(len(n_sim)):
        if abs(cells[q].sum() - n_sim[q]) > 1e-9 * n_sim[q]:
            _bad_state(f"the cells of population {POPULATIONS[q]} must hold its {n_sim[q]:g} "
                       f"neurons (n_neurons), got {cells[q].sum():.12g}")
    state = {key: np.zeros(shape) for key, shape in shapes.items()}
    state["mass"] = cells / n_sim[:, None]
    state.update(step=0, started="array")
    return state


def solve(params: NetworkParams, *, t_end: float = 2000.0, seed: int | None = None, record=(),
          progress: bool = False, **options):
    """Run :func:`run` and wrap it in a :class:`snnreduce.Result` (engine ``"fokker-planck"``).

    ``seed`` seeds the finite-size noise and is recorded (None when ``finite_size`` is off).
    """
    finite = bool(options.get("finite_size", False))
    seed = normalise_seed(seed) if finite else None
    start = time.perf_counter()
    out = run(params, t_end=t_end, rng=np.random.default_rng(seed) if finite else None,
              record=record, progress=progress, **options)
    return Result.from_run(out, params=params, engine="fokker-planck", seed=seed, t_end=t_end,
                           wall_time=time.perf_counter() - start)
