"""NEST models used as speed peers by the benchmarks (not part of the package).

Two peers live here:

* :func:`run_ei_network` -- a microscopic NEST 3 E-I network built to mimic a
  :class:`snnreduce.NetworkParams` network as closely as NEST's stock models allow
  (used by ``bench_network.py``);
* :func:`run_gif_pop` -- NEST's mesoscopic population equations ``gif_pop_psc_exp``
  (Schwalger, Deger & Gerstner 2017) for a two-population E-I model (used by
  ``bench_dsode.py``).

Pathways in our parameters are **post, pre** (``s_ei``: kick an I spike gives an E
neuron); NEST's ``Connect(pre, post)`` takes them the other way round, so every mapping
below spells out which population is pre and which is post.

How our neuron maps onto NEST (see docs/performance.md for the discussion)
-------------------------------------------------------------------------
Our neuron has no leak, threshold M = 100 above the reset 0, and pending kicks that are
consumed after exponential times with mean tau^{QQ'}. In the expected-input form the
paper uses, a spike of Q' therefore drives a neuron of Q with the current
``(S^{QQ'}/tau^{QQ'}) exp(-t/tau^{QQ'})``, whose integral is the kick S. That is an
exponentially decaying post-synaptic current, i.e. NEST's ``iaf_psc_exp`` with

* ``E_L = V_reset = 0``, ``V_th = M``, ``tau_m`` = 1e7 ms (no leak in practice),
  ``C_m = 1`` pF so that a PSC of amplitude ``w`` pA moves V by ``w tau_syn`` mV;
* ``tau_syn_ex`` = tau^{QE} of the target population (1.4 ms for E, 1.2 ms for I),
  ``tau_syn_in`` = tau^{QI} (4.5 ms);
* excitatory weights ``w = S^{QE} / tau^{QE}`` and inhibitory weights
  ``w = -g_eff S^{QI} / tau^{QI}``, where ``g_eff`` stands in for our conductance-like
  factor ``(V + M_r)/(M + M_r)`` (0.40 at reset, 1 at threshold), calibrated so that
  the rates land near ours (see ``DEFAULT_G_EFF``);
* ``t_ref = tau_R`` = 4 ms fixed (ours is exponential with mean 4 ms); during it NEST
  clamps V and keeps integrating the synaptic currents, as our refractory neurons ignore
  input while pending kicks still drain;
* external drive: one ``poisson_generator`` per population at lambda = 7 kicks/ms
  (7000 Hz; NEST sends an independent train to every target) through the excitatory
  synapse with weight ``1 / tau_syn_ex`` so every kick integrates to +1;
* all delays 0.1 ms = one step (our engine applies a spike of step n at step n+1).

``iaf_cond_exp`` is offered too (``model="iaf_cond_exp"``): with ``E_in = -M_r`` and an
inhibitory conductance quantum ``S^{QI} C_m / (tau^{QI} (M + M_r))`` it reproduces the
conductance-like inhibition exactly in expectation, with no calibration; excitation uses
``E_ex`` = 1e5 (effectively current-based). It integrates with GSL's adaptive RKF45 and
is several times slower, so it is the secondary peer.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from dataclasses import asdict, dataclass, field

os.environ.setdefault("PYNEST_QUIET", "1")  # no banner

import numpy as np

__all__ = ["NestRun", "run_ei_network", "run_gif_pop", "nest_version", "DEFAULT_G_EFF",
           "GIF_POP_PARAMS", "machine_info", "loadavg"]

#: Effective conductance factor of inhibition for ``iaf_psc_exp`` (our kick is
#: S (V + M_r)/(M + M_r)); calibrated at N = 400 against the stepped engine (see
#: ``bench_network.py --calibrate``). 0.40 would be the value at reset, 1 at threshold.
DEFAULT_G_EFF = 0.55

_LEAKLESS_TAU_M = 1e7  # ms: "no leak" for iaf_psc_exp / iaf_cond_exp
_E_EX_COND = 1e5       # excitatory reversal for iaf_cond_exp: current-like excitation
_C_M = 1.0             # pF


def _nest():
    import nest  # imported lazily: the NEST banner and kernel start only when needed

    nest.verbosity = nest.VerbosityLevel.ERROR
    return nest


def nest_version() -> str:
    try:
        from importlib.metadata import version

        return version("nest-simulator")
    except Exception:  # pragma: no cover
        return "unknown"


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:  # pragma: no cover
        return "unknown"


def machine_info() -> dict:
    """What a reader needs to judge and rerun a benchmark: machine, load, versions."""
    import platform
    import subprocess

    info = {"host": platform.node(), "nproc": os.cpu_count(),
            "sched_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:  # pragma: no cover
        pass
    info["loadavg_start"] = loadavg()
    info["python"] = platform.python_version()
    from importlib.metadata import PackageNotFoundError, version

    for pkg in ("numpy", "numba", "scipy", "nest-simulator", "snnreduce"):
        try:
            info[pkg] = version(pkg)
        except PackageNotFoundError:
            info[pkg] = "not installed"
    try:
        import numba

        info["numba_threads"] = numba.config.NUMBA_NUM_THREADS
        info["numba_cache_dir"] = os.environ.get("NUMBA_CACHE_DIR", "(default: __pycache__)")
    except Exception:  # pragma: no cover
        pass
    try:
        here = Path(__file__).resolve().parent
        info["git_commit"] = subprocess.run(["git", "-C", str(here), "rev-parse", "--short", "HEAD"],
                                            capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain"],
                               capture_output=True, text=True).stdout.strip()
        info["git_dirty"] = bool(dirty)
    except OSError:  # pragma: no cover
        pass
    info["env OMP_NUM_THREADS"] = os.environ.get("OMP_NUM_THREADS", "(unset)")
    return info


@dataclass
class NestRun:
    """Timings and rates of one NEST run."""

    model: str
    n_e: int
    n_i: int
    connectivity: str
    n_synapses: int
    threads: int
    t_bio_ms: float
    build_s: float      # ResetKernel + Create + Connect
    prepare_s: float    # nest.Prepare(): calibration and connection infrastructure
    simulate_s: float   # nest.Run(t_bio), wall
    simulate_cpu_s: float  # process CPU time of nest.Run(t_bio), all threads (spin-waits included)
    rate_e_hz: float
    rate_i_hz: float
    extra: dict = field(default_factory=dict)

    @property
    def simulate_per_bio_s(self) -> float:
        return self.simulate_s / (self.t_bio_ms / 1000.0)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["simulate_per_bio_s"] = self.simulate_per_bio_s
        return d


def _reset(nest, threads: int, resolution: float, seed: int):
    nest.ResetKernel()
    nest.SetKernelStatus({"local_num_threads": int(threads), "resolution": float(resolution),
                          "print_time": False})
    nest.rng_seed = int(seed) + 1  # NEST wants >= 1


def _rates(nest, recorders, sizes, t_drop, t_end):
    out = []
    span_s = (t_end - t_drop) / 1000.0
    for rec, n in zip(recorders, sizes):
        times = np.asarray(rec.get("events")["times"])
        out.append(float(np.count_nonzero(times > t_drop)) / n / span_s if span_s > 0 else float("nan"))
    return out


def run_ei_network(params, *, t_end: float = 1000.0, model: str = "iaf_psc_exp",
                   indegree: tuple[int, int] | None = None, g_eff: float = DEFAULT_G_EFF,
                   threads: int = 2, seed: int = 1, t_drop: float = 100.0) -> NestRun:
    """Build and run the NEST E-I peer of ``params`` (a NetworkParams, pathways post-pre).

    Parameters
    ----------
    params : snnreduce.NetworkParams
        The network to mimic; ``dt`` becomes NEST's resolution and the delay.
    t_end : float
        Biological time, ms.
    model : {"iaf_psc_exp", "iaf_cond_exp"}
        NEST neuron model (see module docstring).
    indegree : (K_E, K_I) or None
        None: ``pairwise_bernoulli`` with our ``p`` per pathway (dense, the paper's
        network). ``(K_E, K_I)``: ``fixed_indegree`` with K_E excitatory and K_I
        inhibitory inputs per neuron, weights scaled by ``p N_pre / K`` so each neuron
        gets the same mean input as in the dense network.
    g_eff : float
        ``iaf_psc_exp`` only: effective conductance factor of inhibition.
    threads : int
        NEST ``local_num_threads``.
    seed : int
        NEST ``rng_seed`` is ``seed + 1``.
    t_drop : float
        Spikes before this time (ms) are not counted in the rates.
    """
    if model not in ("iaf_psc_exp", "iaf_cond_exp"):
        raise ValueError(f"model must be 'iaf_psc_exp' or 'iaf_cond_exp', got {model!r}")
    nest = _nest()
    p = params
    dt = p.dt
    t0 = time.perf_counter()
    _reset(nest, threads, dt, seed)

    def neuron_params(post):  # post in "ei"
        tau_ex, tau_in = p.tau(post + "e"), p.tau(post + "i")
        common = dict(C_m=_C_M, E_L=0.0, V_reset=0.0, V_m=0.0, V_th=p.threshold,
                      t_ref=p.tau_r, tau_syn_ex=tau_ex, tau_syn_in=tau_in, I_e=0.0)
        if model == "iaf_psc_exp":
            return dict(common, tau_m=_LEAKLESS_TAU_M)
        return dict(common, g_L=_C_M / _LEAKLESS_TAU_M, E_ex=_E_EX_COND,
                    E_in=-p.inhibitory_reversal)

    pops = {"e": nest.Create(model, p.n_e, params=neuron_params("e")),
            "i": nest.Create(model, p.n_i, params=neuron_params("i"))}
    n_pre = {"e": p.n_e, "i": p.n_i}

    def weight(post, pre):
        """NEST weight of pathway post<-pre giving our kick S per spike."""
        pw = post + pre
        s, tau = p.s(pw), p.tau(pw)
        if indegree is not None:
            k = indegree[0] if pre == "e" else indegree[1]
            s = s * p.p(pw) * n_pre[pre] / k
        if model == "iaf_psc_exp":
            return s * _C_M / tau if pre == "e" else -g_eff * s * _C_M / tau
        # iaf_cond_exp: conductance quantum (nS), integral over the PSC = w tau
        if pre == "e":
            return s * _C_M / (tau * _E_EX_COND)
        # NEST's conductance models route by sign: a negative weight goes to g_in
        return -s * _C_M / (tau * (p.threshold + p.inhibitory_reversal))

    n_syn = 0
    for post in "ei":
        for pre in "ei":
            syn = {"synapse_model": "static_synapse", "weight": weight(post, pre), "delay": dt}
            if indegree is None:
                conn = {"rule": "pairwise_bernoulli", "p": p.p(post + pre),
                        "allow_autapses": False, "allow_multapses": True}
            else:
                conn = {"rule": "fixed_indegree", "indegree": int(indegree[0] if pre == "e" else indegree[1]),
                        "allow_autapses": False, "allow_multapses": True}
            nest.Connect(pops[pre], pops[post], conn, syn)
    n_syn = int(nest.GetKernelStatus("num_connections"))

    # External Poisson drive of unit kicks: independent train per target.
    for post in "ei":
        gen = nest.Create("poisson_generator", params={"rate": p.lam(post.upper()) * 1000.0})
        tau_ex = p.tau(post + "e")
        w_ext = _C_M / tau_ex if model == "iaf_psc_exp" else _C_M / (tau_ex * _E_EX_COND)
        nest.Connect(gen, pops[post], "all_to_all",
                     {"synapse_model": "static_synapse", "weight": w_ext, "delay": dt})
    recs = [nest.Create("spike_recorder"), nest.Create("spike_recorder")]
    nest.Connect(pops["e"], recs[0])
    nest.Connect(pops["i"], recs[1])
    build_s = time.perf_counter() - t0

    t1 = time.perf_counter()
    nest.Prepare()
    # The connection infrastructure is finalised on the first update; run one step so its
    # cost is counted with preparation, not with the simulation proper.
    nest.Run(dt)
    prepare_s = time.perf_counter() - t1
    t2, c2 = time.perf_counter(), time.process_time()
    nest.Run(t_end - dt)
    simulate_s, simulate_cpu_s = time.perf_counter() - t2, time.process_time() - c2
    nest.Cleanup()
    rate_e, rate_i = _rates(nest, recs, (p.n_e, p.n_i), t_drop, t_end)
    conn_text = ("pairwise_bernoulli p=" + "/".join(f"{p.p(pw):g}" for pw in ("ee", "ie", "ei", "ii"))
                 if indegree is None else f"fixed_indegree K_E={indegree[0]} K_I={indegree[1]}")
    return NestRun(model=model, n_e=p.n_e, n_i=p.n_i, connectivity=conn_text, n_synapses=n_syn,
                   threads=threads, t_bio_ms=t_end, build_s=build_s, prepare_s=prepare_s,
                   simulate_s=simulate_s, simulate_cpu_s=simulate_cpu_s, rate_e_hz=rate_e, rate_i_hz=rate_i,
                   extra={"g_eff": g_eff} if model == "iaf_psc_exp" else {})


# --------------------------------------------------------------------------- gif_pop
#: Two-population GIF model (E: 300, I: 100) for ``gif_pop_psc_exp``, in the form of
#: NEST's own ``gif_pop_psc_exp`` example (Schwalger, Deger & Gerstner 2017): units mV,
#: ms, Hz; ``mu`` is the constant drive R I_0 in mV, ``J`` the PSC integral per
#: connection in mV (post-pre: ``J["ei"]`` is I -> E), ``pconn`` the connection
#: probability. Choices: tau_m 20 ms, exponential escape noise lambda_0 = 10 Hz,
#: Delta_V = 2.5 mV, threshold 15 mV above reset, absolute refractoriness 4 ms (our
#: tau_R), one 100 ms adaptation kernel for E only (a 1000 ms kernel, as in NEST's
#: example, makes the history - and the cost - ten times longer), synaptic time constants
#: equal to our tau^{EE}, tau^{IE}, tau^{I}, pconn = 0.8 as in the reference network.
#: mu and J put the rates in the range of the reference network (E ~ 47, I ~ 66 Hz);
#: speed, not a fit, is the point.
GIF_POP_PARAMS = {
    "N": {"E": 300, "I": 100},
    "tau_m": 20.0, "lambda_0": 10.0, "Delta_V": 2.5, "V_T_star": 15.0, "V_reset": 0.0,
    "t_ref": 4.0,
    "mu": {"E": 52.0, "I": 60.0},
    "tau_sfa": {"E": [100.0], "I": [1.0]},
    "J_sfa": {"E": [100.0], "I": [0.0]},          # mV ms (area of the adaptation kernel)
    "tau_syn": {"ee": 1.4, "ie": 1.2, "ei": 4.5, "ii": 4.5},   # post-pre, ms
    "J": {"ee": 0.05, "ie": 0.05, "ei": -0.15, "ii": -0.15},   # post-pre, mV per connection
    "pconn": 0.8,
}


def run_gif_pop(*, t_end: float = 1000.0, threads: int = 1, seed: int = 1, t_drop: float = 100.0,
                resolution: float = 0.1, params: dict | None = None) -> NestRun:
    """Run the two-population ``gif_pop_psc_exp`` model (mesoscopic population equations).

    Built as in NEST's ``gif_pop_psc_exp`` example: one node per population, coupled
    with ``weight = J C_m / tau_syn * pconn`` (the node multiplies by the number of
    presynaptic spikes), delay = one step.
    """
    nest = _nest()
    prm = params or GIF_POP_PARAMS
    c_m = 250.0  # cancels out
    g_l = c_m / prm["tau_m"]
    t0 = time.perf_counter()
    _reset(nest, threads, resolution, seed)
    pops = {}
    for q in "EI":
        pw_ex, pw_in = q.lower() + "e", q.lower() + "i"
        pops[q] = nest.Create("gif_pop_psc_exp", params=dict(
            N=prm["N"][q], C_m=c_m, tau_m=prm["tau_m"], E_L=0.0, V_reset=prm["V_reset"],
            V_T_star=prm["V_T_star"], Delta_V=prm["Delta_V"], lambda_0=prm["lambda_0"],
            t_ref=prm["t_ref"], I_e=prm["mu"][q] * g_l,
            tau_sfa=prm["tau_sfa"][q],
            q_sfa=[j / t for j, t in zip(prm["J_sfa"][q], prm["tau_sfa"][q])],
            tau_syn_ex=prm["tau_syn"][pw_ex], tau_syn_in=prm["tau_syn"][pw_in],
            len_kernel=-1, BinoRand=True))
    for post in "EI":
        for pre in "EI":
            pw = (post + pre).lower()
            w = prm["J"][pw] * c_m / prm["tau_syn"][pw] * prm["pconn"]
            nest.Connect(pops[pre], pops[post], syn_spec={"weight": w, "delay": resolution})
    recs = {q: nest.Create("spike_recorder") for q in "EI"}
    for q in "EI":
        nest.Connect(pops[q], recs[q], syn_spec={"weight": 1.0, "delay": resolution})
    build_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    nest.Prepare()
    nest.Run(resolution)
    prepare_s = time.perf_counter() - t1
    t2, c2 = time.perf_counter(), time.process_time()
    nest.Run(t_end - resolution)
    simulate_s, simulate_cpu_s = time.perf_counter() - t2, time.process_time() - c2
    nest.Cleanup()
    # gif_pop_psc_exp sends one event per step with multiplicity n; the spike recorder
    # stores one row per event, so count with the recorded multiplicities if present.
    rates = []
    span_s = (t_end - t_drop) / 1000.0
    for q in "EI":
        ev = recs[q].get("events")
        times = np.asarray(ev["times"])
        rates.append(float(np.count_nonzero(times > t_drop)) / prm["N"][q] / span_s
                     if span_s > 0 else float("nan"))
    return NestRun(model="gif_pop_psc_exp", n_e=prm["N"]["E"], n_i=prm["N"]["I"],
                   connectivity=f"population coupling, pconn={prm['pconn']}", n_synapses=4,
                   threads=threads, t_bio_ms=t_end, build_s=build_s, prepare_s=prepare_s,
                   simulate_s=simulate_s, simulate_cpu_s=simulate_cpu_s, rate_e_hz=rates[0], rate_i_hz=rates[1])
