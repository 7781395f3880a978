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


def _neuron_status(gp, q, level):
    """Status dict of population ``q`` (0 = E, 1 = I) for ``gif_pop_psc_exp`` / ``gif_psc_exp``."""
    status = dict(C_m=gp.c_m[q], E_L=gp.e_l[q], V_reset=gp.v_reset[q], V_T_star=gp.v_t_star[q],
                  Delta_V=gp.delta_v[q], lambda_0=gp.lambda_0[q], t_ref=gp.t_ref[q],
                  tau_syn_ex=gp.tau_syn_ex[q], tau_syn_in=gp.tau_syn_in[q], I_e=gp.i_e[q],
                  q_sfa=list(gp.q_sfa[q]), tau_sfa=list(gp.tau_sfa[q]))
    if level == "meso":
        status.update(N=gp.n[q], tau_m=gp.tau_m[q], len_kernel=-1, BinoRand=True)
        if gp.drive != "escape":                         # mean field: the mean of the drive only
            status["I_e"] += gp.c_m[q] * gp.drive_rate[q] * gp.drive_size[q]
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


def _connect_drive(nest, gp, pops, dt):
    """Independent external noise for every neuron (microscopic model only)."""
    for q in range(2):
        rate, size, c_m = gp.drive_rate[q], gp.drive_size[q], gp.c_m[q]
        if rate == 0.0 or size == 0.0:
            continue
        if gp.drive == "gaussian":
            # current constant over each step: voltage increment mean rate*size*dt and variance
            # (std*dt/c_m)^2 = rate*size^2*dt, the diffusion of the kicks
            gen = nest.Create("noise_generator", params={
                "mean": c_m * rate * size, "std": c_m * size * math.sqrt(rate / dt), "dt": dt})
            nest.Connect(gen, pops[q], syn_spec={"delay": dt})
        else:
            # each kick a PSC of charge size*c_m through the excitatory synapse
            gen = nest.Create("poisson_generator", params={"rate": 1000.0 * rate})
            nest.Connect(gen, pops[q], syn_spec={"weight": size * c_m / gp.tau_syn_ex[q],
                                                 "delay": dt})


def _run(nest, sim_time, dt, progress):
    if not progress:
        nest.Simulate(sim_time)
        return
    chunk = max(1, int(round(100.0 / dt))) * dt
    bar = progress_bar(True, sim_time, "rdm")
    done = 0.0
    nest.Prepare()
    try:
        while done < sim_time - 0.5 * dt:
            step = min(chunk, sim_time - done)
            nest.Run(step)
            done += step
            bar.update(step)
    finally:
        nest.Cleanup()
        bar.close()


def simulate(gp, *, level, t_end, dt, nest_seed, threads, connectivity, record, progress):
    """Build the model of ``level`` ("meso" or "micro") for ``gp`` in a fresh kernel and run it.

    Returns a dict with population_counts (n_steps, 2), spike_times, spike_neurons, records,
    nest_version. A spike emitted in step ``[k dt, (k+1) dt)`` carries NEST's stamp
    ``(k+1) dt``; it is counted in step k and reported at ``(k + 1/2) dt``.
    """
    nest = import_nest()
    _reset(nest, dt=dt, nest_seed=nest_seed, threads=threads)
    n_steps = n_steps_of(t_end, dt)
    model = "gif_pop_psc_exp" if level == "meso" else "gif_psc_exp"
    sizes = (1, 1) if level == "meso" else gp.n
    pops = [nest.Create(model, sizes[q], params=_neuron_status(gp, q, level)) for q in range(2)]
    if level == "meso":
        _connect_meso(nest, gp, pops)
    else:
        _connect_micro(nest, gp, pops, connectivity)
        if gp.drive != "escape":
            _connect_drive(nest, gp, pops, dt)
    recorders = [nest.Create("spike_recorder") for _ in range(2)]
    for q in range(2):
        nest.Connect(pops[q], recorders[q])
    meter = None
    if "voltage" in record:
        meter = nest.Create("multimeter", params={"record_from": ["V_m"], "interval": dt})
        nest.Connect(meter, pops[0] + pops[1])
    # Recorders receive the data of the last min-delay slice only in the next slice: run a few
    # steps beyond t_end and drop them.
    extra = int(math.ceil(max(gp.delay(pw) for pw in ("ee", "ie", "ei", "ii")) / dt)) + 1
    _run(nest, (n_steps + extra) * dt, dt, progress)

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
        row = np.rint(np.asarray(events["times"], dtype=float) / dt).astype(np.int64) - 1
        first = pops[0][0].global_id
        col = np.asarray(events["senders"], dtype=np.int64) - first
        voltage = np.full((n_steps, sum(gp.n)), np.nan)
        keep = (row >= 0) & (row < n_steps)
        voltage[row[keep], col[keep]] = np.asarray(events["V_m"], dtype=float)[keep]
        out["records"]["voltage"] = voltage
    return out
