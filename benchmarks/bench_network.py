"""Speed of the stepped spiking network against a NEST 3 E-I network of the same size.

Times one biological second (``--t-bio``) of the reference network scaled to N neurons
(``NetworkParams.preset("reference", k=400/N)``: N <- N/k, S <- S k keeps N P S) with

* our stepped engine, annealed (dense P = 0.8; cost O(N) per step whatever P is);
* our stepped engine, quenched (same adjacency statistics as the NEST peer);
* NEST (``iaf_psc_exp`` by default, see ``_nest_peers.py`` for the mapping and
  docs/performance.md for why), 2 threads, resolution = delay = dt = 0.1 ms,
  Poisson external drive.

Connectivity: ``pairwise_bernoulli`` with p = 0.8 where NEST can hold it; from
``--dense-max`` neurons on (default: above 4 000), dense connectivity does not fit
(N = 40 000 would be 1.28e9 synapses), so NEST gets ``fixed_indegree`` with K inputs
per neuron (``--indegree``, split E:I as N_E:N_I) and weights scaled by ``P N_pre / K``
so each neuron's mean input equals the dense network's; the quenched engine gets the
same in-degree (``p = K_pre / pool``, ``fixed_indegree=True``, S scaled the same way).
The annealed engine keeps the dense P at every size.

Run ``python benchmarks/bench_network.py`` (about 5 minutes on 2 cores),
``--quick`` for a smoke run, ``--json out.json`` to keep the numbers,
``--stimulus SPEC`` to drive our engines with a time-varying stimulus (docs/stimuli.md),
``--calibrate`` to redo the NEST inhibitory calibration at N = 400.
Everything needed to rerun (machine, versions, load, options) is printed first.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
if (HERE.parent / "src" / "snnreduce").is_dir():  # run from a source checkout
    sys.path.insert(0, str(HERE.parent / "src"))

import numpy as np  # noqa: E402

import _nest_peers as peers  # noqa: E402

T_DROP = 100.0  # ms discarded from rates (SPEC §5)


# ------------------------------------------------------------------------ helpers
def ours_rates(result, t_drop=T_DROP):
    counts = np.asarray(result.population_counts)
    first = int(round(t_drop / result.dt))
    span_s = (counts.shape[0] - first) * result.dt / 1000.0
    n = (result.params.n_e, result.params.n_i)
    return tuple(float(counts[first:, q].sum()) / n[q] / span_s for q in (0, 1))


def indegree_split(params, k_total):
    """(K_E, K_I) with K_E : K_I = N_E : N_I and K_E + K_I = k_total."""
    k_e = int(round(k_total * params.n_e / (params.n_e + params.n_i)))
    return k_e, int(k_total) - k_e


def sparse_params(params, k_e, k_i):
    """Quenched fixed-in-degree twin of ``params``: K_pre inputs per pathway, same mean input.

    Pathways post-pre. The stepped engine draws ``floor(p * pool + 1/2)`` partners, with
    ``pool = N_pre`` (less one within a population), so ``p = K / pool`` gives exactly K.
    """
    changes = {"connectivity": "quenched"}
    n_pre = {"e": params.n_e, "i": params.n_i}
    for pw in ("ee", "ie", "ei", "ii"):
        post, pre = pw
        k = k_e if pre == "e" else k_i
        pool = n_pre[pre] - (1 if post == pre else 0)
        changes[f"p_{pw}"] = k / pool
        changes[f"s_{pw}"] = params.s(pw) * params.p(pw) * n_pre[pre] / k
    return params.replace(**changes)


def time_ours(params, t_bio_ms, seed, options, label, log):
    """Wall time of our engine: setup (a 1-step run) and the full run; returns a dict."""
    import snnreduce

    # setup cost: what a run costs before its first step (adjacency, allocations)
    t0 = time.perf_counter()
    snnreduce.simulate(params, engine="stepped", t_end=params.dt, seed=seed, **options)
    setup = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), time.process_time()
    res = snnreduce.simulate(params, engine="stepped", t_end=t_bio_ms, seed=seed, **options)
    total, cpu = time.perf_counter() - t0, time.process_time() - c0
    rate_e, rate_i = ours_rates(res)
    sim = max(total - setup, 1e-9)
    # CPU of the run less the setup (the setup is almost all single-threaded Python: its wall
    # time stands for its CPU time)
    out = dict(engine=label, n=params.n_e + params.n_i, setup_s=setup, total_s=total, cpu_s=cpu,
               sim_cpu_per_bio_s=max(cpu - setup, 0.0) / (t_bio_ms / 1000.0),
               sim_per_bio_s=sim / (t_bio_ms / 1000.0), rate_e_hz=rate_e, rate_i_hz=rate_i,
               n_synapses=res.options.get("n_synapses"), connectivity=params.connectivity,
               options=options, p=[params.p(pw) for pw in ("ee", "ie", "ei", "ii")],
               s=[params.s(pw) for pw in ("ee", "ie", "ei", "ii")])
    log(f"  {label:<22} setup {setup:7.3f} s  run {total:8.3f} s  "
        f"-> {out['sim_per_bio_s']:8.3f} s/bio-s (cpu {cpu:7.3f} s)  rates E {rate_e:5.1f} I {rate_i:5.1f} Hz")
    return out


def jit_warmup(params, t_bio_ms, seed, options, label, log):
    """First call vs second call of the same run (JIT compile or numba cache load)."""
    import snnreduce

    times = []
    for _ in range(2):
        t0 = time.perf_counter()
        snnreduce.simulate(params, engine="stepped", t_end=t_bio_ms, seed=seed, **options)
        times.append(time.perf_counter() - t0)
    log(f"  {label:<22} first call {times[0]:7.3f} s, second call {times[1]:7.3f} s "
        f"(JIT/cache-load overhead {times[0] - times[1]:6.3f} s)")
    return {"engine": label, "n": params.n_e + params.n_i, "first_s": times[0], "second_s": times[1]}


# ------------------------------------------------------------------------ main
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="400,4000,40000",
                    help="comma-separated total sizes N (default 400,4000,40000)")
    ap.add_argument("--t-bio", type=float, default=1.0, help="biological seconds per run (default 1)")
    ap.add_argument("--quick", action="store_true", help="sizes 400,4000 and 0.3 s: a smoke run")
    ap.add_argument("--indegree", type=int, default=1000,
                    help="K (total inputs per neuron) where dense connectivity does not fit (default 1000)")
    ap.add_argument("--dense-max", type=int, default=4000,
                    help="largest N given dense pairwise_bernoulli connectivity (default 4000)")
    ap.add_argument("--threads", default="2",
                    help="NEST local_num_threads; a comma list runs each (default 2; the first is the peer)")
    ap.add_argument("--nest-model", default="iaf_psc_exp",
                    choices=["iaf_psc_exp", "iaf_cond_exp", "both"],
                    help="NEST peer neuron model (default iaf_psc_exp; 'both' adds iaf_cond_exp)")
    ap.add_argument("--g-eff", type=float, default=peers.DEFAULT_G_EFF,
                    help=f"iaf_psc_exp effective inhibitory conductance factor (default {peers.DEFAULT_G_EFF})")
    ap.add_argument("--drive", default="gaussian", choices=["gaussian", "poisson"],
                    help="our external drive (default gaussian, the paper's)")
    ap.add_argument("--stimulus", default="none",
                    help="external stimulus of our engines, grammar of docs/stimuli.md, e.g. "
                         "'E:lambda+sine(amp=1,hz=20); I:lambda+sine(amp=1,hz=20)' (default none: "
                         "the constant drive; NEST keeps its constant drive)")
    ap.add_argument("--no-nest", action="store_true", help="skip NEST")
    ap.add_argument("--no-ours", action="store_true", help="skip our engines")
    ap.add_argument("--no-quenched", action="store_true", help="skip our quenched engine")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--calibrate", action="store_true",
                    help="only: NEST rates at N=400 for several g_eff next to ours")
    ap.add_argument("--cold-jit", action="store_true",
                    help="compile from scratch: point NUMBA_CACHE_DIR at a fresh temporary folder, so "
                         "the first call shows the full JIT cost rather than a cache load")
    ap.add_argument("--json", type=Path, help="write all numbers to this JSON file")
    args = ap.parse_args(argv)
    if args.cold_jit:
        import os
        import tempfile

        if "numba" in sys.modules:
            ap.error("--cold-jit must be set before numba is imported")
        os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="snnreduce-bench-numba-")

    sizes = [400, 4000] if args.quick else [int(s) for s in args.sizes.split(",") if s.strip()]
    t_bio_ms = (0.3 if args.quick else args.t_bio) * 1000.0
    models = ["iaf_psc_exp", "iaf_cond_exp"] if args.nest_model == "both" else [args.nest_model]
    thread_list = [int(t) for t in str(args.threads).split(",") if t.strip()]

    def log(msg=""):
        print(msg, flush=True)

    info = peers.machine_info()
    log("# bench_network: stepped engine vs NEST, " + time.strftime("%Y-%m-%d %H:%M:%S"))
    log("command: python " + " ".join([sys.argv[0]] + (argv if argv is not None else sys.argv[1:])))
    for k, v in info.items():
        log(f"{k}: {v}")
    log(f"sizes {sizes}, t_bio {t_bio_ms / 1000:g} s, seed {args.seed}, NEST threads {thread_list}, "
        f"NEST models {models}, g_eff {args.g_eff}, indegree K={args.indegree} above N={args.dense_max}, "
        f"our drive {args.drive}, stimulus {args.stimulus}")
    log("PROVISIONAL if the load average above is not ~0: other processes share the cores.")
    load1 = float(info["loadavg_start"].split()[0]) if info["loadavg_start"] != "unknown" else 0.0
    if load1 > 0.5 and not args.no_nest and max(thread_list) > 1:
        log(f"WARNING: load average {load1:.2f}. NEST with >1 OpenMP thread meets a barrier every "
            "0.1 ms step (min delay = dt); when another process holds a core each barrier can cost a "
            "scheduler slice, and NEST's wall time grows 5-300x (seen on this 2-core machine). "
            "Its 2-thread numbers are then meaningless: rerun on a quiet machine, and compare with "
            "--threads 2,1 (single-threaded NEST is time-shared like our engine).")
    log()

    from snnreduce import NetworkParams

    if args.calibrate:
        return calibrate(args, log)

    rows, jit = [], []
    base_opts = {"drive": args.drive}
    if args.stimulus.strip().lower() != "none":
        from snnreduce.stimulus import parse_stimulus

        base_opts["stimulus"] = parse_stimulus(args.stimulus)
    for n in sizes:
        k = 400.0 / n
        dense = NetworkParams.preset("reference", k=k)
        sparse = n > args.dense_max
        log(f"## N = {dense.n_e + dense.n_i} (N_E {dense.n_e}, N_I {dense.n_i}, k = {k:g}, "
            f"S_EE = {dense.s_ee:.4g})" + ("  [fixed in-degree]" if sparse else ""))
        if sparse:
            k_e, k_i = indegree_split(dense, args.indegree)
            quenched, q_opts = sparse_params(dense, k_e, k_i), dict(base_opts, fixed_indegree=True)
            nest_indegree = (k_e, k_i)
        else:
            quenched, q_opts = dense.replace(connectivity="quenched"), dict(base_opts)
            nest_indegree = None
        if not args.no_ours:
            if not jit:  # JIT: first call vs second call, always on the N = 400 network
                small = NetworkParams.preset("reference")
                log("  (JIT warm-up on the N = 400 network; fixed_indegree compiles the same kernels)")
                jit.append(jit_warmup(small, t_bio_ms, args.seed, base_opts, "stepped annealed", log))
                if not args.no_quenched:
                    jit.append(jit_warmup(small.replace(connectivity="quenched"), t_bio_ms, args.seed,
                                          base_opts, "stepped quenched", log))
            rows.append(time_ours(dense, t_bio_ms, args.seed, base_opts, "stepped annealed", log))
            if not args.no_quenched:
                rows.append(time_ours(quenched, t_bio_ms, args.seed, q_opts,
                                      "stepped quenched" + (f" K={args.indegree}" if sparse else ""), log))
        if not args.no_nest:
            for model, threads in [(m, t) for t in thread_list for m in models]:
                r = peers.run_ei_network(dense, t_end=t_bio_ms, model=model, indegree=nest_indegree,
                                         g_eff=args.g_eff, threads=threads, seed=args.seed,
                                         t_drop=T_DROP)
                d = r.as_dict()
                name = f"NEST {model} {threads}thr"
                d.update(engine=name, n=n, peer=(model == models[0] and threads == thread_list[0]))
                rows.append(d)
                log(f"  {name:<22} build {r.build_s:7.3f} s  prepare {r.prepare_s:6.3f} s  "
                    f"simulate {r.simulate_s:8.3f} s -> {r.simulate_per_bio_s:8.3f} s/bio-s (cpu {r.simulate_cpu_s:7.3f} s)  "
                    f"rates E {r.rate_e_hz:5.1f} I {r.rate_i_hz:5.1f} Hz   ({r.connectivity}, "
                    f"{r.n_synapses:.3g} synapses)")
        log()

    table = summary_table(rows, sizes, args, t_bio_ms)
    log(table)
    log(goals(rows, sizes))
    info_end = {"loadavg_end": peers.loadavg()}
    log(f"load average at the end: {info_end['loadavg_end']}")
    if args.json:
        args.json.write_text(json.dumps({"machine": info, **info_end, "args": vars(args) | {"json": str(args.json)},
                                         "t_bio_ms": t_bio_ms, "jit": jit, "rows": rows},
                                        indent=1, default=str))
        log(f"wrote {args.json}")
    return 0


def _fmt(x, spec):
    return "-" if x is None or (isinstance(x, float) and not np.isfinite(x)) else format(x, spec)


def summary_table(rows, sizes, args, t_bio_ms):
    """Markdown table; the ratio compares NEST's simulate time with ours per biological s
    (setup excluded on both sides) and, in brackets, the full wall times (build included)."""
    lines = ["| N | engine | connectivity | setup / build s | wall s per bio s | CPU s per bio s | "
             "NEST/ours wall, sim (total) | rate E Hz | rate I Hz |",
             "|---|---|---|---|---|---|---|---|---|"]
    for n in sizes:
        here = [r for r in rows if r["n"] == n]
        nest = [r for r in here if r.get("peer")]
        ref = nest[0] if nest else None
        for r in here:
            t_bio_s = t_bio_ms / 1000.0
            if r["engine"].startswith("NEST"):
                cpu = r["simulate_cpu_s"] / t_bio_s
                setup = r["build_s"] + r["prepare_s"]
                conn = r["connectivity"]
                ratio = "1 (peer)" if r is ref else (
                    f"{ref['simulate_per_bio_s'] / r['simulate_per_bio_s']:.2f} vs peer")
            else:
                cpu = r["sim_cpu_per_bio_s"]
                setup = r["setup_s"]
                conn = (r["connectivity"] + (" K=%d" % args.indegree if "K=" in r["engine"] else
                                             " p=0.8" if r["connectivity"] == "quenched" else " P=0.8"))
                if ref:
                    nest_total = ref["build_s"] + ref["prepare_s"] + ref["simulate_s"]
                    ratio = (f"{ref['simulate_per_bio_s'] / r['sim_per_bio_s']:.2f} "
                             f"({nest_total / r['total_s']:.2f})")
                else:
                    ratio = "-"
            lines.append(f"| {n} | {r['engine']} | {conn} | {_fmt(setup, '.3f')} | "
                         f"{_fmt(r.get('sim_per_bio_s', r.get('simulate_per_bio_s')), '.3f')} | {_fmt(cpu, '.3f')} | {ratio} | "
                         f"{_fmt(r['rate_e_hz'], '.1f')} | {_fmt(r['rate_i_hz'], '.1f')} |")
    return "\n".join(lines)


def goals(rows, sizes):
    out = []
    for n in sizes:
        nest = [r for r in rows if r["n"] == n and r.get("peer")]
        ours = [r for r in rows if r["n"] == n and r["engine"].startswith("stepped")]
        for r in ours:
            if nest:
                ratio = nest[0]["simulate_per_bio_s"] / r["sim_per_bio_s"]
                out.append(f"goal >= 2x {nest[0]['engine']}  N={n:<6} {r['engine']:<24} {ratio:6.2f}x  "
                           f"{'PASS' if ratio >= 2 else 'MISS'}")
            if n == 400:
                out.append(f"goal <= 0.3 s/bio-s N=400 {r['engine']:<24} {r['sim_per_bio_s']:.3f}  "
                           f"{'PASS' if r['sim_per_bio_s'] <= 0.3 else 'MISS'}")
    return "\n".join(out)


def calibrate(args, log):
    from snnreduce import NetworkParams

    p = NetworkParams.preset("reference")
    t = max(2000.0, args.t_bio * 1000.0)
    if not args.no_ours:
        import snnreduce

        res = snnreduce.simulate(p, engine="stepped", t_end=t, seed=args.seed, drive=args.drive)
        log("ours (stepped annealed): rates E %.1f I %.1f Hz" % ours_rates(res))
    for g in (0.45, 0.5, 0.55, 0.6, 0.75):
        r = peers.run_ei_network(p, t_end=t, g_eff=g, threads=int(str(args.threads).split(",")[0]), seed=args.seed)
        log(f"NEST iaf_psc_exp g_eff {g:4.2f}: rates E {r.rate_e_hz:5.1f} I {r.rate_i_hz:5.1f} Hz")
    r = peers.run_ei_network(p, t_end=t, model="iaf_cond_exp", threads=int(str(args.threads).split(",")[0]),
                             seed=args.seed)
    log(f"NEST iaf_cond_exp (exact conductance mapping): rates E {r.rate_e_hz:5.1f} I {r.rate_i_hz:5.1f} Hz")
    return 0


if __name__ == "__main__":
    sys.exit(main())
