"""The time-stepped spiking network (SPEC §2, engine 1): the paper's reference simulator.

Pathway names are **post, pre**: ``s_ei`` is the kick an I spike gives an E neuron,
``h_exc`` of an I neuron holds its pending kicks of pathway ``ie`` (from E).

One step ``[i dt, (i+1) dt)`` does, in this order (full description in docs/network.md):

1. Consumption draw for every neuron and pathway: ``c ~ Poisson(H dt / tau)``
   (``consumption="poisson"``) or ``Binomial(H, 1 - exp(-dt / tau))``.
2. Every non-refractory neuron: ``V <- V exp(-dt / tau_m)`` (leak, if ``tau_m > 0``), plus the
   external increment (``drive="gaussian"``: N(lambda dt, lambda dt); ``"poisson"``: a
   Poisson(lambda dt) count of unit kicks) plus the recurrent increment:
   ``"expected"``: ``S^{QE} H^{QE} dt / tau^{QE} - S^{QI} g(V) H^{QI} dt / tau^{QI}`` with the
   pending counts H and the voltage V at the start of the step, ``g(V) = (V + M_r)/(M + M_r)``;
   ``"sampled"``: the ``min(c, H)`` consumed kicks of each pathway applied one by one in a
   uniformly random order, each inhibitory kick scaled by g at the voltage it meets.
3. Spike if ``V > M``: ``V <- 0``, the neuron becomes refractory.
4. Pending kicks of every neuron (refractory or not):
   ``H <- max(0, H + new - c)``, ``new ~ Binomial(spikes of Q' in this step, P^{QQ'})``
   (annealed) or the number of this step's spiking pre-neurons wired to it (quenched).
5. Refractory exit of every refractory neuron, the one that just spiked included: with
   probability ``1 - exp(-dt / tau_r)`` (exponential) or when its counter of
   ``max(1, round(tau_r / dt))`` steps runs out (fixed). It gets input again from the next step.

Spikes are stamped at the middle of their step, ``(i + 1/2) dt``, so they fall inside the count
bin ``[i dt, (i+1) dt)``; records are the state at the end of each step.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from ..params import ParameterError
from ._common import (COL_LAMBDA, COL_P_EXC, COL_P_INH, COL_S_EXC, COL_S_INH, COL_TAU_EXC,
                      COL_TAU_INH, SpikeBuffer, check_choice, check_flag, check_no_unknown,
                      check_record, initial_voltages, n_steps_of, population_table, progress_bar,
                      quenched_adjacency, refractory_rule)

__all__ = ["run", "DRIVES", "RECURRENT", "CONSUMPTION"]

DRIVES = ("gaussian", "poisson")
RECURRENT = ("expected", "sampled")
CONSUMPTION = ("poisson", "binomial")

# indices into the int "modes" array handed to the kernel
_M_DRIVE, _M_RECURRENT, _M_CONSUMPTION, _M_QUENCHED, _M_FIXED_REFR, _M_REFR_STEPS, \
    _M_REC_V, _M_REC_PENDING, _M_REC_REFR = range(9)
# indices into the float "consts" array
_C_THRESHOLD, _C_REVERSAL, _C_DT, _C_DECAY, _C_P_EXIT = range(5)


@numba.njit(cache=True)
def _binomial_cdf(n, p, out, guide):
    """out[k] = P(Binomial(n, p) <= k) for k = 0..n (out[n] = 1 exactly), 0 < p < 1, and a
    guide table (Chen & Asau): guide[j] = smallest k with out[k] > j / (n + 1), so that an
    inverse-CDF draw starting at guide[int(u (n + 1))] needs about two comparisons."""
    log_odds = math.log(p) - math.log1p(-p)
    log_pmf = n * math.log1p(-p)
    acc = 0.0
    for k in range(n):
        acc += math.exp(log_pmf)
        out[k] = acc
        log_pmf += math.log((n - k) / (k + 1.0)) + log_odds
    out[n] = 1.0
    k = 0
    for j in range(n + 1):
        while out[k] <= j / (n + 1.0):
            k += 1
        guide[j] = k


@numba.njit(cache=True)
def _guided_draw(u, cdf, guide, n):
    """Inverse-CDF value for u of the law tabulated by :func:`_binomial_cdf`."""
    k = guide[int(u * (n + 1))]
    while cdf[k] <= u:
        k += 1
    return k


@numba.njit(cache=True)
def _poisson_inverse(u, lam, mode, pmf_mode, cdf_mode):
    """The Poisson(lam) value whose CDF interval contains u (exact inversion).

    The search starts at the mode, whose pmf and CDF come from a table, so it takes about
    ``0.8 sqrt(lam)`` steps: faster than numba's samplers at every mean in this engine.
    """
    k = mode
    p = pmf_mode
    acc = cdf_mode
    if u < acc:
        while k > 0 and acc - p > u:
            acc -= p
            p *= k / lam
            k -= 1
    else:
        while acc <= u and p > 0.0:
            k += 1
            p *= lam / k
            acc += p
    return k


def _poisson_tables(params, table):
    """Mode, pmf at the mode and CDF at the mode of Poisson(h dt / tau), h = 0, 1, ...

    Rows are ``2 * q_post + kind`` (kind 0: pending from E, 1: from I). The table covers every
    pending count up to 4 times what a 100 Hz network would hold (at least 4096, at most 65536);
    larger counts fall back to numba's sampler.
    """
    from scipy.stats import poisson

    taus = table[:, [COL_TAU_EXC, COL_TAU_INH]].ravel()
    probs = table[:, [COL_P_EXC, COL_P_INH]].ravel()
    n_pre = np.array([params.n_e, params.n_i, params.n_e, params.n_i])
    cap = int(min(1 << 16, max(4096, 4 * np.max(probs * n_pre * taus * 0.1))))
    lam = np.outer(params.dt / taus, np.arange(cap))
    mode = np.floor(lam)
    return mode.astype(np.int64), poisson.pmf(mode, lam), poisson.cdf(mode, lam)


@numba.njit(cache=True)
def _run_steps(rng, first, last, n_e, table, pois_mode, pois_pmf, pois_cdf, consts, modes,
               v, h_exc, h_inh, refr, cons_exc, cons_inh, inc_exc, inc_inh, cdf, guide, n_cdf,
               indptr, indices, counts, spk_step, spk_neuron, n_spk,
               rec_v, rec_pending, rec_refr):
    """Advance steps ``first .. last-1``; returns (next step, spikes stored).

    Stops early, before a step, when the spike buffer could overflow during it.
    Paper symbols: h_exc/h_inh = H^{QE}/H^{QI}; M = threshold; M_r = reversal.
    """
    n_tot = v.size
    cap = spk_step.size
    M = consts[_C_THRESHOLD]
    Mr = consts[_C_REVERSAL]
    dt = consts[_C_DT]
    decay = consts[_C_DECAY]
    p_exit = consts[_C_P_EXIT]
    poisson_drive = modes[_M_DRIVE] == 1
    sampled = modes[_M_RECURRENT] == 1
    binomial = modes[_M_CONSUMPTION] == 1
    quenched = modes[_M_QUENCHED] == 1
    fixed_refr = modes[_M_FIXED_REFR] == 1
    refr_steps = modes[_M_REFR_STEPS]
    inv_span = 1.0 / (M + Mr)
    n_pois = pois_mode.shape[1]
    nspk = np.zeros(2, dtype=np.int64)
    pend = np.zeros(4, dtype=np.int64)
    n_refr = np.zeros(2, dtype=np.int64)
    for step in range(first, last):
        if n_spk + n_tot > cap:
            return step, n_spk
        spk_start = n_spk
        # ---- 1-3: consumption draws, voltage update, spikes
        for q in range(2):
            lo = 0 if q == 0 else n_e
            hi = n_e if q == 0 else n_tot
            lam_dt = table[q, COL_LAMBDA] * dt
            sd = math.sqrt(lam_dt)
            s_exc = table[q, COL_S_EXC]
            s_inh = table[q, COL_S_INH] * inv_span  # times (V + M_r) gives S g(V)
            tau_exc = table[q, COL_TAU_EXC]
            tau_inh = table[q, COL_TAU_INH]
            if binomial:
                rate_exc = -math.expm1(-dt / tau_exc)
                rate_inh = -math.expm1(-dt / tau_inh)
            else:
                rate_exc = dt / tau_exc
                rate_inh = dt / tau_inh
            a_exc = s_exc * dt / tau_exc
            a_inh = s_inh * dt / tau_inh
            count = 0
            for n in range(lo, hi):
                he = h_exc[n]
                hi_ = h_inh[n]
                # Consumption draws (rng stays in this function: a helper taking the
                # Generator costs a Python refcount round trip per call).
                ce = 0
                if he > 0:
                    if binomial:
                        ce = rng.binomial(he, rate_exc)
                    elif he < n_pois:
                        ce = _poisson_inverse(rng.random(), he * rate_exc, pois_mode[2 * q, he],
                                              pois_pmf[2 * q, he], pois_cdf[2 * q, he])
                    else:
                        ce = rng.poisson(he * rate_exc)
                ci = 0
                if hi_ > 0:
                    if binomial:
                        ci = rng.binomial(hi_, rate_inh)
                    elif hi_ < n_pois:
                        ci = _poisson_inverse(rng.random(), hi_ * rate_inh,
                                              pois_mode[2 * q + 1, hi_], pois_pmf[2 * q + 1, hi_],
                                              pois_cdf[2 * q + 1, hi_])
                    else:
                        ci = rng.poisson(hi_ * rate_inh)
                cons_exc[n] = ce
                cons_inh[n] = ci
                if refr[n] > 0:
                    continue
                x = v[n]
                if poisson_drive:
                    ext = float(rng.poisson(lam_dt))
                else:
                    ext = lam_dt + sd * rng.standard_normal()
                if not sampled:
                    x = x * decay + ext + a_exc * he - a_inh * (x + Mr) * hi_
                else:
                    x = x * decay + ext
                    re = min(ce, he)
                    ri = min(ci, hi_)
                    while re > 0 or ri > 0:
                        if ri == 0 or (re > 0 and rng.random() * (re + ri) < re):
                            x += s_exc
                            re -= 1
                        else:
                            x -= s_inh * (x + Mr)
                            ri -= 1
                if x > M:
                    v[n] = 0.0
                    refr[n] = refr_steps
                    spk_step[n_spk] = step
                    spk_neuron[n_spk] = n
                    n_spk += 1
                    count += 1
                else:
                    v[n] = x
            nspk[q] = count
            counts[step, q] = count
        # ---- 4: new pending kicks from this step's spikes
        if quenched:
            for k in range(spk_start, n_spk):
                j = spk_neuron[k]
                if j < n_e:
                    for t in range(indptr[j], indptr[j + 1]):
                        inc_exc[indices[t]] += 1
                else:
                    for t in range(indptr[j], indptr[j + 1]):
                        inc_inh[indices[t]] += 1
        else:
            # cdf row 2*q_post + q_pre; n_cdf < 0 means "always n" (P = 1), 0 means none
            for q in range(2):
                for qp in range(2):
                    row = 2 * q + qp
                    p = table[q, COL_P_EXC] if qp == 0 else table[q, COL_P_INH]
                    m = nspk[qp]
                    if m == 0 or p <= 0.0:
                        n_cdf[row] = 0
                    elif p >= 1.0:
                        n_cdf[row] = -m
                    else:
                        _binomial_cdf(m, p, cdf[row], guide[row])
                        n_cdf[row] = m
        pend[:] = 0
        n_refr[:] = 0
        for q in range(2):
            lo = 0 if q == 0 else n_e
            hi = n_e if q == 0 else n_tot
            m_exc = n_cdf[2 * q]
            m_inh = n_cdf[2 * q + 1]
            cdf_exc = cdf[2 * q]
            cdf_inh = cdf[2 * q + 1]
            guide_exc = guide[2 * q]
            guide_inh = guide[2 * q + 1]
            for n in range(lo, hi):
                if quenched:
                    new_e = inc_exc[n]
                    new_i = inc_inh[n]
                    inc_exc[n] = 0
                    inc_inh[n] = 0
                else:
                    # inverse-CDF draws from this step's binomial tables
                    new_e = -m_exc
                    if m_exc > 0:
                        new_e = _guided_draw(rng.random(), cdf_exc, guide_exc, m_exc)
                    new_i = -m_inh
                    if m_inh > 0:
                        new_i = _guided_draw(rng.random(), cdf_inh, guide_inh, m_inh)
                h = h_exc[n] + new_e - cons_exc[n]
                h_exc[n] = h if h > 0 else 0
                h = h_inh[n] + new_i - cons_inh[n]
                h_inh[n] = h if h > 0 else 0
                # ---- 5: refractory exit
                if refr[n] > 0:
                    if fixed_refr:
                        refr[n] -= 1
                    elif rng.random() < p_exit:
                        refr[n] = 0
                    if refr[n] > 0:
                        n_refr[q] += 1
                pend[2 * q] += h_exc[n]
                pend[2 * q + 1] += h_inh[n]
        if modes[_M_REC_V]:
            for n in range(n_tot):
                rec_v[step, n] = v[n]
        if modes[_M_REC_PENDING]:
            # pathway order ee, ie, ei, ii (post-pre)
            rec_pending[step, 0] = pend[0]
            rec_pending[step, 1] = pend[2]
            rec_pending[step, 2] = pend[1]
            rec_pending[step, 3] = pend[3]
        if modes[_M_REC_REFR]:
            rec_refr[step, 0] = n_refr[0]
            rec_refr[step, 1] = n_refr[1]
    return last, n_spk


def run(params, *, t_end: float, rng: np.random.Generator, record=(), progress: bool = False,
        drive: str = "gaussian", recurrent: str = "expected", consumption: str = "poisson",
        fixed_indegree: bool = False, **unknown) -> dict:
    """Simulate the time-stepped network (the paper's reference engine).

    Parameters
    ----------
    params : NetworkParams
        The network; pathway names are post-pre (``s_ei``: I -> E). ``params.dt`` is the step,
        ``params.tau_m > 0`` adds the leak ``V <- V exp(-dt / tau_m)`` each step.
    t_end : float
        Simulated time, ms; ``ceil(t_end / dt)`` steps are run.
    rng : numpy.random.Generator
        The single random stream (the quenched adjacency, if any, is drawn from it first).
    record : iterable of str
        Any of ``"voltage"`` (float32, (n_steps, N), end of step), ``"pending"`` (total pending
        kicks per pathway summed over the post population, (n_steps, 4), order ee, ie, ei, ii
        post-pre, end of step), ``"refractory"`` (refractory neurons per population at the end
        of each step, i.e. those that ignore input in the next step, (n_steps, 2)).
    progress : bool
        Show a tqdm progress bar (does not change the random stream).
    drive : {"gaussian", "poisson"}
        External increment per step: N(lambda dt, lambda dt) (paper) or a Poisson(lambda dt)
        number of unit kicks.
    recurrent : {"expected", "sampled"}
        Recurrent increment: the expected input of the pending kicks (paper), or the consumed
        kicks themselves applied one by one.
    consumption : {"poisson", "binomial"}
        Kicks consumed per step: Poisson(H dt / tau) (paper) or Binomial(H, 1 - exp(-dt/tau)).
    fixed_indegree : bool
        Quenched networks only: every neuron gets exactly round(P N_pre) presynaptic partners
        per pathway instead of Bernoulli(P) per pair.

    Returns
    -------
    dict
        ``population_counts`` (int64, (n_steps, 2)), ``spike_times`` (ms, step midpoints,
        sorted), ``spike_neurons`` (int32, E first), ``records``, ``options``, ``status``.
    """
    check_no_unknown(unknown, "stepped", ("drive", "recurrent", "consumption", "fixed_indegree"))
    drive = check_choice("drive", drive, DRIVES)
    recurrent = check_choice("recurrent", recurrent, RECURRENT)
    consumption = check_choice("consumption", consumption, CONSUMPTION)
    fixed_indegree = check_flag("fixed_indegree", fixed_indegree)
    record = check_record(record, "stepped")
    quenched = params.connectivity == "quenched"
    if fixed_indegree and not quenched:
        raise ParameterError("fixed_indegree=True needs connectivity='quenched', got 'annealed'")
    if not isinstance(rng, np.random.Generator):
        raise ParameterError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")

    n_e, n_i = params.n_e, params.n_i
    n_tot = n_e + n_i
    dt = params.dt
    n_steps = n_steps_of(t_end, dt)

    if quenched:
        indptr, indices = quenched_adjacency(params, rng, fixed_indegree)
    else:
        indptr, indices = np.zeros(1, np.int64), np.zeros(0, np.int32)
    v = initial_voltages(params, rng)
    h_exc = np.zeros(n_tot, np.int64)
    h_inh = np.zeros(n_tot, np.int64)
    refr = np.zeros(n_tot, np.int64)
    cons_exc = np.zeros(n_tot, np.int64)
    cons_inh = np.zeros(n_tot, np.int64)
    inc_exc = np.zeros(n_tot if quenched else 0, np.int64)
    inc_inh = np.zeros(n_tot if quenched else 0, np.int64)
    cdf = np.zeros((4, 1 if quenched else max(n_e, n_i) + 1))
    guide = np.zeros(cdf.shape, np.int64)
    n_cdf = np.zeros(4, np.int64)

    fixed, p_exit, refr_steps = refractory_rule(params)
    decay = math.exp(-dt / params.tau_m) if params.tau_m > 0 else 1.0
    consts = np.array([params.threshold, params.inhibitory_reversal, dt, decay, p_exit])
    modes = np.array([DRIVES.index(drive), RECURRENT.index(recurrent),
                      CONSUMPTION.index(consumption), int(quenched), fixed, refr_steps,
                      "voltage" in record, "pending" in record, "refractory" in record],
                     dtype=np.int64)
    table = population_table(params)
    pois_mode, pois_pmf, pois_cdf = _poisson_tables(params, table)

    counts = np.zeros((n_steps, 2), np.int64)
    rec_v = np.zeros((n_steps, n_tot) if "voltage" in record else (0, 0), np.float32)
    rec_pending = np.zeros((n_steps, 4) if "pending" in record else (0, 0), np.int64)
    rec_refr = np.zeros((n_steps, 2) if "refractory" in record else (0, 0), np.int64)

    # a chunk is ~2e6 neuron-steps: bounded kernel calls, responsive progress bar
    chunk = max(1, min(n_steps, 2_000_000 // n_tot))
    expected_spikes = int(n_tot * chunk * dt * 0.2) + 4 * n_tot  # 200 Hz per chunk
    buf = SpikeBuffer(expected_spikes)
    bar = progress_bar(progress, n_steps * dt, "stepped")
    step = 0
    try:
        while step < n_steps:
            buf.reserve(n_tot + 1)
            target = min(n_steps, step + chunk)
            new_step, buf.n = _run_steps(
                rng, step, target, n_e, table, pois_mode, pois_pmf, pois_cdf, consts, modes, v,
                h_exc, h_inh, refr, cons_exc, cons_inh, inc_exc, inc_inh, cdf, guide, n_cdf,
                indptr, indices, counts,
                buf.key, buf.neuron, buf.n, rec_v, rec_pending, rec_refr)
            bar.update((new_step - step) * dt)
            step = new_step
    finally:
        bar.close()

    steps, neurons = buf.arrays()
    records = {}
    if "voltage" in record:
        records["voltage"] = rec_v
    if "pending" in record:
        records["pending"] = rec_pending
    if "refractory" in record:
        records["refractory"] = rec_refr
    options = {"drive": drive, "recurrent": recurrent, "consumption": consumption,
               "fixed_indegree": fixed_indegree, "spike_time": "step midpoint"}
    if quenched:
        options["n_synapses"] = int(indices.size)
    return {
        "population_counts": counts,
        "spike_times": (steps + 0.5) * dt,
        "spike_neurons": neurons,
        "records": records,
        "options": options,
        "status": "ok",
    }
