"""The Markov surrogate (SPEC §3): a spiking network driven by the Markov approximation.

Pathway names are **post, pre**: ``s_ei`` is the kick an I spike gives an E neuron.

There are N_E + N_I neurons with voltages, but no individual pending kicks: the pending kicks
of each pathway are described only by their population mean ``h`` and variance ``σ²``
(:mod:`snnreduce.dsode.moments`), driven by the network's own population spike counts. Every
non-refractory neuron of Q at voltage v receives in each step the Gaussian input

    N(μ(v), s²(v)),
    μ(v)  = dt [λ_Q + S^{QE} h^{QE}/τ^{QE} - S^{QI} g(v) h^{QI}/τ^{QI}],
    s²(v) = dt [λ_Q + (S^{QE})² σ²^{QE}/(τ^{QE})² + (S^{QI} g(v))² σ²^{QI}/(τ^{QI})²]

(external drive included). This is exactly the input the dsODE assumes, without the voltage
bins, so comparing network / surrogate / dsODE separates the error of the approximation from
the error of the binning.

``closure`` (see :mod:`snnreduce.dsode.moments`) changes the recurrent variance terms:
``"paper"`` as above, ``"diffusion"`` ``2 dt S² σ²/τ`` in place of ``dt S² σ²/τ²``, and
``"ou"`` none at all: every neuron n instead carries, for each of its pathways (one per
sender population), its own deviation η_n from the population mean h of the pending kicks, an
Ornstein–Uhlenbeck process with correlation time τ whose variance across neurons is σ²
(:func:`~snnreduce.dsode.moments.advance_deviation`), and receives the drift of its own
pending count ``h + η_n``::

    μ_n = dt [λ_Q + S^{QE} (h^{QE} + η_n^{QE})/τ^{QE} - S^{QI} g(V_n) (h^{QI} + η_n^{QI})/τ^{QI}]
    s²  = dt λ_Q

(h + η_n is not clipped at 0, so the population mean drive is exactly the paper's). It is the
stepped network with each neuron's pending counts replaced by a Gaussian process with their
mean, variance and correlation time, so network vs "ou" surrogate isolates what the Gaussian
law of the pending counts (shot noise) loses, "ou" vs "paper" what the correlation time does.
"ou" is the default: the dsODE's default "ou-cond-linear" (the closure that loses least on the
regime suite, docs/validation.md) differs from it only in how bins hold the deviations.
η evolves during refractoriness too (pending kicks drain).

One step ``[i dt, (i+1) dt)``, in the stepped network's order: (1) every non-refractory
neuron: ``V <- V exp(-dt/τ_m)`` (if leak) + the Gaussian input computed from the moments and
V at the start of the step; (2) spike if ``V > M``: V <- 0, refractory; (3) the moments of
every pathway advance one step with the step's population rate (count / dt) held constant;
(3b) with closure "ou", every neuron's deviations advance one step;
(4) refractory exit, the neuron that just spiked included: probability ``1 - exp(-dt/τ_R)``
(exponential) or after ``max(1, round(τ_R/dt))`` step ends (fixed). Spikes are stamped at the
step midpoint ``(i + 1/2) dt``; records are the state at the end of each step.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba.np.unsafe.ndarray import to_fixed_tuple

from .._resume import (clock_of, clock_state, is_state, record_stride, rng_from_text, rng_text,
                      sampled_rows, state_arrays)
from ..dsode.moments import (DEVIATION_CLOSURES, POP_LAMBDA, POP_N, SURROGATE_DEFAULT_CLOSURE,
                             TAB_INHIBITORY, TAB_KICK, TAB_POST, TAB_PRE, TAB_TAU,
                             advance_deviation, advance_moments, check_closure,
                             input_coefficients_at, pathway_table, population_table)
from ..params import ParameterError
from ..populations import tables
from ..stimulus import external_drive
from ._common import (N_POPULATIONS, SpikeBuffer, asked_records, check_choice,
                      check_engine_record, check_no_unknown, n_steps_of,
                      progress_bar, refractory_rule, start_voltages)

__all__ = ["run", "SURROGATE_RECORDS"]

#: Records of the surrogate (see ``snnreduce.result.RECORD_DIMS``).
SURROGATE_RECORDS = ("voltage", "pending", "pending_var", "refractory")


@numba.njit(cache=True)
def _run_steps(rng, first, last, pk, pop, pw, dt, decay, threshold, p_exit, fixed, refr_steps,
               euler, v, refr, h, var, eta, counts, spk_step, spk_neuron, n_spk,
               rec_v, rec_h, rec_var, rec_refr, lam, stride):
    """Advance steps ``first .. last-1``; returns (next step, spikes stored).

    ``eta`` is ``(K, N)``: each neuron's pending-kick deviation of its pathway from pre
    population p (row p) for closure "ou", or ``(0, 0)`` for the other closures.
    ``lam`` is ``(n_steps, K)``, the external rate of each step and population under a
    stimulus (written into ``pop[q, POP_LAMBDA]`` before the step), or ``(0, K)``: the
    constant ``pop`` rates. Records are stored at the end of steps i with
    ``(i + 1) % stride == 0``, row ``(i + 1) // stride - 1``.
    ``pk`` = ``(offsets, pw_index)``: population q holds the neurons
    ``offsets[q] .. offsets[q+1] - 1``, pathway ``[post, pre]`` is moment (row of ``pw``)
    ``pw_index[post, pre]``.
    Stops early, before a step, when the spike buffer could overflow during it.
    """
    offsets, pw_index = pk
    n_pop = N_POPULATIONS   # a compile-time constant: numba unrolls the loops over it
    n_tot = v.size
    cap = spk_step.size
    rates = np.zeros(n_pop)
    n_refr = np.zeros(n_pop, dtype=np.int64)
    colored = eta.shape[0] > 0
    n_pw = pw.shape[0]
    var_old = np.zeros(n_pw)
    e_pw = np.empty(n_pw)
    # closure "ou": drift dt S/τ per unit of a neuron's own deviation, [post, pre], and
    # whether the pre population inhibits (its deviation then scales with g(V))
    k_dev = np.zeros((n_pop, n_pop))
    inh = np.zeros(n_pop)
    for j in range(n_pw):
        e_pw[j] = math.exp(-dt / pw[j, TAB_TAU])
        post = int(pw[j, TAB_POST])
        pre = int(pw[j, TAB_PRE])
        k_dev[post, pre] = dt * pw[j, TAB_KICK] / pw[j, TAB_TAU]
        inh[pre] = pw[j, TAB_INHIBITORY]
    for step in range(first, last):
        if n_spk + n_tot > cap:
            return step, n_spk
        if lam.shape[0] > 0:
            # the step's mean external rate: the drift and variance dt λ of the input
            for q in range(n_pop):
                pop[q, POP_LAMBDA] = lam[step, q]
        for q in range(n_pop):
            lo = offsets[q]
            hi = offsets[q + 1]
            # (inlined: its senders' pathways are the rows pw_index[q])
            a, b, c, d, g1, g0 = input_coefficients_at(q, pw_index[q], h, var, pop, pw, dt,
                                                       pop[q, POP_LAMBDA])
            # per-sender constants as tuples of the compile-time length n_pop (registers in
            # the unrolled sender loop below, not loads per neuron)
            k_s = to_fixed_tuple(k_dev[q], n_pop)
            inh_s = to_fixed_tuple(inh, n_pop)
            count = 0
            for n in range(lo, hi):
                if refr[n] > 0:
                    continue
                x = v[n]
                g = g1 * x + g0
                s2 = c + d * g * g
                if colored:
                    # a + Σ_exc k η - (b + Σ_inh k η) g, senders in pre-population order
                    ax = a
                    bx = b
                    for p in range(n_pop):
                        if inh_s[p] != 0.0:
                            bx += k_s[p] * eta[p, n]
                        else:
                            ax += k_s[p] * eta[p, n]
                    x = x * decay + (ax - bx * g)
                else:
                    x = x * decay + (a - b * g)
                if s2 > 0.0:
                    x += math.sqrt(s2) * rng.standard_normal()
                if x > threshold:
                    v[n] = 0.0
                    refr[n] = refr_steps
                    spk_step[n_spk] = step
                    spk_neuron[n_spk] = n
                    n_spk += 1
                    count += 1
                else:
                    v[n] = x
            counts[step, q] = count
            rates[q] = count / dt
        var_old[:] = var
        advance_moments(h, var, rates, pw, dt, euler)
        # (loops population by population, in neuron order: the same random stream as one
        # loop over the neurons, without a population lookup per neuron)
        if colored:
            for q in range(n_pop):
                j_s = to_fixed_tuple(pw_index[q], n_pop)   # row p of eta: the pathway from p
                for n in range(offsets[q], offsets[q + 1]):
                    for p in range(n_pop):
                        j = j_s[p]
                        eta[p, n] = advance_deviation(eta[p, n], e_pw[j], var_old[j], var[j],
                                                      rng.standard_normal())
        for q in range(n_pop):
            count = 0
            for n in range(offsets[q], offsets[q + 1]):
                if refr[n] > 0:
                    if fixed:
                        refr[n] -= 1
                    elif rng.random() < p_exit:
                        refr[n] = 0
                    if refr[n] > 0:
                        count += 1
            n_refr[q] = count
        if (step + 1) % stride != 0:
            continue
        row = (step + 1) // stride - 1
        if rec_v.shape[0] > 0:
            for n in range(n_tot):
                rec_v[row, n] = v[n]
        if rec_h.shape[0] > 0:
            for j in range(n_pw):
                rec_h[row, j] = h[j] * pop[int(pw[j, TAB_POST]), POP_N]
        if rec_var.shape[0] > 0:
            for j in range(n_pw):
                rec_var[row, j] = var[j]
        if rec_refr.shape[0] > 0:
            for q in range(n_pop):
                rec_refr[row, q] = n_refr[q]
    return last, n_spk


def run(params, *, t_end: float, rng: np.random.Generator, record=(), progress: bool = False,
        moment_integrator: str = "exact", closure: str = SURROGATE_DEFAULT_CLOSURE,
        stimulus=None, t_start: float = 0.0, initial_state=None, record_every=None, **unknown) -> dict:
    """Simulate the Markov surrogate network (usually via ``simulate(..., engine="surrogate")``).

    Parameters
    ----------
    params : NetworkParams
        The network; pathway names are post-pre (``s_ei``: I -> E). ``connectivity`` plays
        no role (there are no individual synapses).
    t_end : float
        Simulated time, ms; ``ceil(t_end / dt)`` steps.
    rng : numpy.random.Generator
        The single random stream. Ignored when ``initial_state`` is a final state (its
        stream is resumed).
    record : iterable of str
        Any of ``"voltage"`` (float32, (n_rows, N)), ``"pending"`` (total pending kicks per
        pathway, ``h * N_post``, order ee, ie, ei, ii), ``"pending_var"`` (variance across
        neurons σ² per pathway), ``"refractory"`` (refractory neurons per population), all at
        the end of each step (of every m-th step with ``record_every``;
        ``n_rows = n_steps // m``).
    progress : bool
        Show a progress bar (does not change the random stream).
    moment_integrator : {"exact", "euler"}
        Integration of the moment ODEs over a step (see :mod:`snnreduce.dsode.moments`).
    closure : {"paper", "diffusion", "ou", "ou-cond", "ou-cond-linear"}
        How the across-neuron spread of the pending kicks enters the input (module
        docstring); ``"ou"`` (default; the dsODE's default without its bin-only parts) draws two more normals per neuron and step (a
        different random stream from the other closures); ``"paper"`` is SPEC §3.
        ``"ou-cond"`` and ``"ou-cond-linear"`` differ from ``"ou"`` only in how the dsODE's
        bins hold the deviations: with no bins, the surrogate runs them as ``"ou"`` (the same
        numbers).
    stimulus : snnreduce.stimulus.Stimulus, optional
        Time-varying external rates: each step's mean λ̄_Q replaces λ_Q in the input's mean
        and variance (docs/stimuli.md). None or constant: the constant drive.
    t_start : float
        Absolute time of the first step, ms (spike times are absolute). A run continuing a
        final state must start where that state ended.
    initial_state : None, array of float (N,), or dict
        None: ``params.initial_state``; an array: the voltages (E first, in
        ``[-inhibitory_reversal, threshold)``), no pending kicks, nobody refractory; a dict:
        a previous run's ``final_state`` (same params and options), continued exactly.
    record_every : float, optional
        Sampling interval of the records, a positive multiple of dt (None: every step).

    Returns
    -------
    dict
        ``population_counts`` (int64, (n_steps, 2)), ``spike_times`` (ms, step midpoints),
        ``spike_neurons`` (int32, E first), ``records``, ``options``, ``status``,
        ``final_state`` (voltages, refractory counters, the moments, the "ou" deviations,
        the random stream as JSON, the clock).
    """
    check_no_unknown(unknown, "surrogate", ("moment_integrator", "closure", "stimulus",
                                            "t_start", "initial_state", "record_every"))
    closure = check_closure(closure)
    record = check_engine_record(record, "surrogate", SURROGATE_RECORDS)
    moment_integrator = check_choice("moment_integrator", moment_integrator, ("exact", "euler"))
    resume = is_state(initial_state)
    if not resume and not isinstance(rng, np.random.Generator):
        raise ParameterError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    clock = clock_of(params, t_start, initial_state if resume else None)
    params, lam = external_drive(stimulus, params, t_end, t_start, t_origin=clock.t_origin)
    stride = record_stride(record_every, params.dt)
    pops = tables(params)
    n_tot = int(pops.offsets[-1])
    n_pop = pops.n_populations
    pop = population_table(params)
    pw = pathway_table(params, closure)
    n_pw = pw.shape[0]
    pw_index = np.zeros((n_pop, n_pop), np.int64)   # moment (row of pw) of pathway [post, pre]
    pw_index[pw[:, TAB_POST].astype(np.int64), pw[:, TAB_PRE].astype(np.int64)] = np.arange(n_pw)
    pk = (pops.offsets.astype(np.int64), pw_index)
    dt = params.dt
    n_steps = n_steps_of(t_end, dt)
    fixed, p_exit, refr_steps = refractory_rule(params)
    decay = math.exp(-dt / params.tau_m) if params.tau_m > 0 else 1.0
    if lam is None:
        lam = np.zeros((0, n_pop))

    n_eta = (n_pop, n_tot) if closure in DEVIATION_CLOSURES else (0, 0)
    if resume:
        saved = state_arrays(initial_state, "surrogate", {
            "voltage": ((n_tot,), np.float64), "refractory_left": ((n_tot,), np.int64),
            "pending_mean": ((n_pw,), np.float64), "pending_var": ((n_pw,), np.float64),
            "deviation": (n_eta, np.float64)})
        rng = rng_from_text(initial_state.get("rng"), "rng")
        v, refr = saved["voltage"], saved["refractory_left"]
        h, var, eta = saved["pending_mean"], saved["pending_var"], saved["deviation"]
    else:
        v = start_voltages(params, rng, initial_state)
        refr = np.zeros(n_tot, np.int64)
        h = np.zeros(n_pw)
        var = np.zeros(n_pw)
        eta = np.zeros(n_eta)
    counts = np.zeros((n_steps, n_pop), np.int64)
    n_rows = sampled_rows(n_steps, stride)
    rec_v = np.zeros((n_rows, n_tot) if "voltage" in record else (0, 0), np.float32)
    rec_h = np.zeros((n_rows, n_pw) if "pending" in record else (0, 0))
    rec_var = np.zeros((n_rows, n_pw) if "pending_var" in record else (0, 0))
    rec_refr = np.zeros((n_rows, n_pop) if "refractory" in record else (0, 0), np.int64)

    chunk = max(1, min(n_steps, 2_000_000 // n_tot))
    buf = SpikeBuffer(int(n_tot * chunk * dt * 0.2) + 4 * n_tot)
    bar = progress_bar(progress, n_steps * dt, "surrogate")
    step = 0
    try:
        while step < n_steps:
            buf.reserve(n_tot + 1)
            target = min(n_steps, step + chunk)
            new_step, buf.n = _run_steps(
                rng, step, target, pk, pop, pw, dt, decay, params.threshold, p_exit,
                bool(fixed), refr_steps, moment_integrator == "euler", v, refr, h, var, eta,
                counts, buf.key, buf.neuron, buf.n, rec_v, rec_h, rec_var, rec_refr, lam,
                stride)
            bar.update((new_step - step) * dt)
            step = new_step
    finally:
        bar.close()

    steps, neurons = buf.arrays()
    records = asked_records(record, voltage=rec_v, pending=rec_h, pending_var=rec_var,
                            refractory=rec_refr)
    final_state = {"engine": "surrogate", **clock_state(clock, n_steps), "rng": rng_text(rng),
                   "voltage": v, "refractory_left": refr, "pending_mean": h, "pending_var": var,
                   "deviation": eta}
    return {
        "population_counts": counts,
        "spike_times": clock.midpoints(steps),
        "spike_neurons": neurons,
        "records": records,
        "options": {"moment_integrator": moment_integrator, "closure": closure,
                    "spike_time": "step midpoint"},
        "status": "ok",
        "final_state": final_state,
    }
