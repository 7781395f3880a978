"""Builds and runs the GIF populations of :mod:`.refractory_density` in NEST (private).

The only place that talks to NEST. Pathway names are post-pre (``"ei"``: I -> E); NEST's
``Connect(pre, post)`` takes the source first, which is why every call below reads
``Connect(pops[pre], pops[post])``.
"""

from __future__ import annotations

import math
import os

import numpy as np

from .._steps import n_steps_of, progress_bar

_POPS = ("E", "I")
#: The ImportError message when NEST is missing.
NEST_MISSING = "the refractory-density baseline needs NEST: pip install snnreduce[nest]"


def import_nest():
    """``import nest`` quietly, or an ImportError that says how to install it."""
    os.environ.setdefault("PYNEST_QUIET", "1")          # no start-up banner
    try:
        import nest
    except ImportError as exc:
        raise ImportError(NEST_MISSING) from exc
    return nest


def _reset(nest, *, dt, nest_seed, threads):
    nest.ResetKernel()
    if hasattr(nest, "VerbosityLevel"):                  # NEST >= 3.10
        nest.verbosity = nest.VerbosityLevel.ERROR
    else:
        nest.set_verbosity("M_ERROR")
    nest.SetKernelStatus({"local_num_threads": threads, "resolution": dt,
                          "rng_seed": nest_seed, "print_time": False})


def _neuron_status(gp, q, level, first_rate=None):
    """Status dict of population ``q`` (0 = E, 1 = I) for ``gif_pop_psc_exp`` / ``gif_psc_exp``.

    ``first_rate`` (kicks/ms): a time-varying drive's rate in the first step; the constant
    part of the external current is then ``c_m`` times it (later steps: :func:`_connect_stimulus`).
    """
    status = dict(C_m=gp.c_m[q], E_L=gp.e_l[q], V_reset=gp.v_reset[q], V_T_star=gp.v_t_star[q],
                  Delta_V=gp.delta_v[q], lambda_0=gp.lambda_0[q], t_ref=gp.t_ref[q],
                  tau_syn_ex=gp.tau_syn_ex[q], tau_syn_in=gp.tau_syn_in[q], I_e=gp.i_e[q],
                  q_sfa=list(gp.q_sfa[q]), tau_sfa=list(gp.tau_sfa[q]))
    if first_rate is not None and gp.drive == "escape":
        status["I_e"] = gp.c_m[q] * first_rate           # the external drive is all of i_e
    if level == "meso":
        status.update(N=gp.n[q], tau_m=gp.tau_m[q], len_kernel=-1, BinoRand=True)
        if gp.drive != "escape":                         # mean field: the mean of the drive only
            rate = gp.drive_rate[q] if first_rate is None else first_rate
            status["I_e"] += gp.c_m[q] * rate * gp.drive_size[q]
        if not status["q_sfa"]:
            # gif_pop_psc_exp refuses empty kernels: one trace of zero size changes nothing
            status.update(q_sfa=[0.0], tau_sfa=[gp.tau_m[q]])
    else:
        status.update(g_L=gp.c_m[q] / gp.tau_m[q], V_m=gp.v_reset[q])
    return status


def _connect_meso(nest, gp, pops):
    for q, post in enumerate("ei"):
        for r, pre in enumerate("ei"):
            pw = post + pre
            weight = gp.p(pw) * gp.weight(pw)            # mean input per presynaptic spike
            if weight != 0.0:
                nest.Connect(pops[r], pops[q], syn_spec={"weight": weight,
                                                         "delay": gp.delay(pw)})


def _connect_micro(nest, gp, pops, connectivity):
    for q, post in enumerate("ei"):
        for r, pre in enumerate("ei"):
            pw = post + pre
            p, weight = gp.p(pw), gp.weight(pw)
            if p == 0.0 or weight == 0.0:
                continue
            if connectivity == "bernoulli":
                rule = {"rule": "pairwise_bernoulli", "p": p, "allow_autapses": False}
            else:
                available = gp.n[r] - (1 if q == r else 0)
                indegree = min(available, int(round(p * gp.n[r])))
                if indegree == 0:
                    continue
                rule = {"rule": "fixed_indegree", "indegree": indegree,
                        "allow_autapses": False, "allow_multapses": False}
            nest.Connect(pops[r], pops[q], rule, syn_spec={"weight": weight,
                                                           "delay": gp.delay(pw)})


def _connect_drive(nest, gp, pops, dt, rates=None):
    """Independent external noise for every neuron (microscopic model only).

    ``rates`` (n_steps, 2) kicks/ms: a time-varying drive. Poisson: an
    ``inhomogeneous_poisson_generator`` whose kicks arriving in step k come at rate
    ``rates[k]`` (exact). Gaussian: the mean follows ``rates`` (its first value here, the
    changes by :func:`_connect_stimulus`); the noise's sd stays that of ``gp.drive_rate`` (NEST's
    ``noise_generator`` has one sd) — approximate.
    """
    for q in range(2):
        rate, size, c_m = gp.drive_rate[q], gp.drive_size[q], gp.c_m[q]
        if size == 0.0 or (rate == 0.0 and (rates is None or not rates[:, q].any())):
            continue
        if gp.drive == "gaussian":
            # current constant over each step: voltage increment mean rate*size*dt and variance
            # (std*dt/c_m)^2 = rate*size^2*dt, the diffusion of the kicks
            mean_rate = rate if rates is None else rates[0, q]
            gen = nest.Create("noise_generator", params={
                "mean": c_m * mean_rate * size, "std": c_m * size * math.sqrt(rate / dt),
                "dt": dt})
            nest.Connect(gen, pops[q], syn_spec={"delay": dt})
            continue
        # each kick a PSC of charge size*c_m through the excitatory synapse
        syn = {"weight": size * c_m / gp.tau_syn_ex[q], "delay": dt}
        if rates is None:
            gen = nest.Create("poisson_generator", params={"rate": 1000.0 * rate})
            nest.Connect(gen, pops[q], syn_spec=syn)
            continue
        # kicks made in step k - 1 arrive (delay dt) in step k: the rate of step k from
        # (k - 1) dt on; nothing arrives in step 0, as with the constant generator. NEST takes
        # rate changes at t > 0 only: the kicks made in step 0 come from a poisson_generator
        # active in (0, dt], the later ones from an inhomogeneous_poisson_generator
        if rates.shape[0] > 1:
            gen = nest.Create("poisson_generator", params={"rate": 1000.0 * rates[1, q],
                                                           "stop": dt})
            nest.Connect(gen, pops[q], syn_spec=syn)
        times, values = _changes(rates[:, q], dt, after=1)
        if times:
            gen = nest.Create("inhomogeneous_poisson_generator",
                              params={"rate_times": times, "rate_values": list(1000.0 * values)})
            nest.Connect(gen, pops[q], syn_spec=syn)


def _changes(values, dt, *, after):
    """``(times, values)`` of a per-step sequence for a NEST device whose output reaches the
    neuron one step (delay dt) later: the value of step k is set at ``(k - 1) dt`` (> 0: NEST
    refuses changes at time 0), for the steps ``k > after`` whose value differs from step
    k - 1's (step ``after + 1`` always: the device starts from 0)."""
    k = np.arange(after + 1, values.size)
    keep = values[k] != values[k - 1]
    if keep.size:
        keep[0] = True
    k = k[keep]
    return [round((j - 1) * dt, 12) for j in k], values[k]


def _connect_stimulus(nest, gp, pops, rates, dt, level):
    """A time-varying external mean current: ``c_m λ̄_Q`` in every step k (kicks/ms ``rates``).

    Steps 0 and 1 through the neurons' ``I_e`` (or the gaussian noise's mean): step 0's at
    creation, step 1's by :func:`_first_step_update` after one step; from step 2 on a
    ``step_current_generator`` per population adds the change from step 1 (the value of step
    k from ``(k - 1) dt`` on: a device's current reaches the neuron one connection delay dt
    later, so that step k gets exactly what a ``SetStatus`` of ``I_e`` at ``k dt`` would give,
    tested). Returns the update of step 1 (None: nothing to change). Not for the microscopic
    Poisson drive (its kicks are spikes: :func:`_connect_drive`).
    """
    if level == "micro" and gp.drive == "poisson":
        return None
    updates = []
    for q in range(2):
        size = 1.0 if gp.drive == "escape" else gp.drive_size[q]
        current = gp.c_m[q] * size * rates[:, q]
        if current.size < 2:
            continue
        updates.append((q, current[1] - current[0]))
        times, values = _changes(current, dt, after=1)
        if not times:
            continue
        gen = nest.Create("step_current_generator", params={
            "amplitude_times": times, "amplitude_values": list(values - current[1])})
        nest.Connect(gen, pops[q], syn_spec={"delay": dt})
    return updates


def _first_step_update(pops, statuses, updates):
    """The change of the external current after the first step (:func:`_connect_stimulus`)
    as a function for :func:`_run` (None: nothing changes). It goes to the neurons' ``I_e``
    (which holds the whole external mean current, or 0 beside a gaussian noise's mean)."""
    if not updates or not any(change for _, change in updates):
        return None

    def update():
        for q, change in updates:
            pops[q].set({"I_e": statuses[q]["I_e"] + change})
    return update


def _run(nest, sim_time, dt, progress, after_first_step=None):
    """Simulate ``sim_time`` ms (in chunks with a progress bar); ``after_first_step`` is called
    once after the first step (a stimulus's step-1 current, :func:`_first_step_update`)."""
    if not progress and after_first_step is None:
        nest.Simulate(sim_time)
        return
    chunk = max(1, int(round(100.0 / dt))) * dt
    bar = progress_bar(progress, sim_time, "rdm")
    done = 0.0
    nest.Prepare()
    try:
        if after_first_step is not None:
            nest.Run(dt)
            after_first_step()
            done = dt
            bar.update(dt)
        while done < sim_time - 0.5 * dt:
            step = min(chunk, sim_time - done)
            nest.Run(step)
            done += step
            bar.update(step)
    finally:
        nest.Cleanup()
        bar.close()


def simulate(gp, *, level, t_end, dt, nest_seed, threads, connectivity, record, progress,
             drive_rates=None, record_every=1):
    """Build the model of ``level`` ("meso" or "micro") for ``gp`` in a fresh kernel and run it.

    ``drive_rates`` (n_steps, 2), kicks/ms: a time-varying external drive (the step means of a
    stimulus) instead of ``gp``'s constant one (:func:`_connect_stimulus`, :func:`_connect_drive`).
    ``record_every``: steps between kept voltage rows (the multimeter's interval).

    Returns a dict with population_counts (n_steps, 2), spike_times, spike_neurons, records,
    nest_version. A spike emitted in step ``[k dt, (k+1) dt)`` carries NEST's stamp
    ``(k+1) dt``; it is counted in step k and reported at ``(k + 1/2) dt``.
    """
    nest = import_nest()
    _reset(nest, dt=dt, nest_seed=nest_seed, threads=threads)
    n_steps = n_steps_of(t_end, dt)
    model = "gif_pop_psc_exp" if level == "meso" else "gif_psc_exp"
    sizes = (1, 1) if level == "meso" else gp.n
    first = (None, None) if drive_rates is None else drive_rates[0]
    statuses = [_neuron_status(gp, q, level, first[q]) for q in range(2)]
    pops = [nest.Create(model, sizes[q], params=statuses[q]) for q in range(2)]
    if level == "meso":
        _connect_meso(nest, gp, pops)
    else:
        _connect_micro(nest, gp, pops, connectivity)
        if gp.drive != "escape":
            _connect_drive(nest, gp, pops, dt, drive_rates)
    first_update = None
    if drive_rates is not None:
        first_update = _connect_stimulus(nest, gp, pops, drive_rates, dt, level)
    recorders = [nest.Create("spike_recorder") for _ in range(2)]
    for q in range(2):
        nest.Connect(pops[q], recorders[q])
    meter = None
    if "voltage" in record:
        meter = nest.Create("multimeter", params={"record_from": ["V_m"],
                                                  "interval": record_every * dt})
        nest.Connect(meter, pops[0] + pops[1])
    # Recorders receive the data of the last min-delay slice only in the next slice: run a few
    # steps beyond t_end and drop them.
    extra = int(math.ceil(max(gp.delay(pw) for pw in ("ee", "ie", "ei", "ii")) / dt)) + 1
    _run(nest, (n_steps + extra) * dt, dt, progress,
         _first_step_update(pops, statuses, first_update))

    counts = np.zeros((n_steps, 2), dtype=np.int64)
    times, neurons = [], []
    offset = 0
    for q in range(2):
        events = recorders[q].get("events")
        step = np.rint(np.asarray(events["times"], dtype=float) / dt).astype(np.int64) - 1
        keep = (step >= 0) & (step < n_steps)
        step = step[keep]
        counts[:, q] = np.bincount(step, minlength=n_steps)[:n_steps]
        if level == "micro":
            first = pops[q][0].global_id
            times.append((step + 0.5) * dt)
            neurons.append(np.asarray(events["senders"], dtype=np.int64)[keep] - first + offset)
            offset += gp.n[q]
    out = dict(population_counts=counts, spike_times=None, spike_neurons=None, records={},
               status="ok", nest_version=str(getattr(nest, "__version__", "unknown")))
    if level == "micro":
        t = np.concatenate(times)
        n = np.concatenate(neurons)
        order = np.lexsort((n, t))
        out["spike_times"], out["spike_neurons"] = t[order], n[order]
    if meter is not None:
        events = meter.get("events")
        # a sample at the end of step i, i + 1 a multiple of record_every: row (i + 1) // m - 1
        row = np.rint(np.asarray(events["times"], dtype=float)
                      / (record_every * dt)).astype(np.int64) - 1
        first = pops[0][0].global_id
        col = np.asarray(events["senders"], dtype=np.int64) - first
        rows = n_steps // record_every
        voltage = np.full((rows, sum(gp.n)), np.nan)
        keep = (row >= 0) & (row < rows)
        voltage[row[keep], col[keep]] = np.asarray(events["V_m"], dtype=float)[keep]
        out["records"]["voltage"] = voltage
    return out
