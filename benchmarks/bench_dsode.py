"""Speed of the reduced system (dsODE) against the spiking network and NEST's mesoscopic model.

Prints, in one run, wall time per biological second of

* the dsODE of the reference preset (``snnreduce.reduce`` with its default records, and
  with ``record=()``; after a warm-up call, best of ``--repeats``; goal <= 20 ms per
  biological second), and its finite-size-noise variant;
* our stepped network (annealed, reference preset scaled to N = 400 and 40 000 with
  ``k = 400/N``), and each one's ratio to the dsODE;
* NEST's ``gif_pop_psc_exp`` (Schwalger, Deger & Gerstner 2017 mesoscopic population
  equations) for a two-population E-I GIF model with N_E = 300, N_I = 100 (parameters
  in ``_nest_peers.GIF_POP_PARAMS``, documented there and in docs/performance.md),
  1 thread (two nodes: one per population; more threads cannot help), dt = 0.1 ms.

Run ``python benchmarks/bench_dsode.py`` (about 2 minutes on 2 cores; most of it is the
N = 40 000 network), ``--quick`` to skip N = 40 000, ``--json out.json`` to keep the numbers.
``--closure paper,diffusion,ou`` times the dsODE rows for each input closure (docs/dsode.md §1)
in the same process; ratios are to the first closure listed. The default times the default
closure ("ou") and then "paper", and prints each closure's cost as a ratio to "paper".
``--stimulus SPEC`` (the grammar of docs/stimuli.md, e.g.
``"E:lambda+sine(amp=1,hz=10); I:lambda+sine(amp=1,hz=10)"``) adds, for every closure, the
three dsODE rows driven by that time-varying stimulus, timed in the same process, and prints
their cost as a ratio to the constant-drive rows (the goal: at most 1.10).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
if (HERE.parent / "src" / "snnreduce").is_dir():
    sys.path.insert(0, str(HERE.parent / "src"))

import numpy as np  # noqa: E402

import _nest_peers as peers  # noqa: E402

from snnreduce.dsode.moments import DEFAULT_CLOSURE  # noqa: E402

T_DROP = 100.0


def rates(result, t_drop=T_DROP):
    counts = np.asarray(result.population_counts, dtype=float)
    first = int(round(t_drop / result.dt))
    span_s = (counts.shape[0] - first) * result.dt / 1000.0
    n = (result.params.n_e, result.params.n_i)
    return tuple(float(counts[first:, q].sum()) / n[q] / span_s for q in (0, 1))


def timed(fn, repeats):
    """(first-call seconds, (best wall, its CPU) of ``repeats`` later calls, last result)."""
    t0 = time.perf_counter()
    res = fn()
    first = time.perf_counter() - t0
    best, best_cpu = float("inf"), float("nan")
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        res = fn()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        if wall < best:
            best, best_cpu = wall, cpu
    return first, (best, best_cpu), res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--t-bio", type=float, default=1.0, help="biological seconds per run (default 1)")
    ap.add_argument("--sizes", default="400,40000", help="network sizes (default 400,40000)")
    ap.add_argument("--quick", action="store_true", help="network at N = 400 only")
    ap.add_argument("--repeats", type=int, default=3, help="timed repeats after warm-up, best kept (default 3)")
    ap.add_argument("--no-nest", action="store_true")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--closure", default=f"{DEFAULT_CLOSURE},paper",
                    help=f"comma-separated dsODE closures to time (default {DEFAULT_CLOSURE},paper)")
    ap.add_argument("--stimulus", default=None,
                    help="also time the dsODE rows under this stimulus (docs/stimuli.md grammar)")
    args = ap.parse_args(argv)

    import snnreduce
    from snnreduce import NetworkParams

    t_bio_ms = args.t_bio * 1000.0
    sizes = [400] if args.quick else [int(s) for s in args.sizes.split(",") if s.strip()]

    def log(msg=""):
        print(msg, flush=True)

    info = peers.machine_info()
    log("# bench_dsode: dsODE vs stepped network vs NEST gif_pop_psc_exp, " + time.strftime("%Y-%m-%d %H:%M:%S"))
    log("command: python " + " ".join([sys.argv[0]] + (argv if argv is not None else sys.argv[1:])))
    for k, v in info.items():
        log(f"{k}: {v}")
    log(f"t_bio {args.t_bio:g} s, repeats {args.repeats}, seed {args.seed}, sizes {sizes}")
    log("PROVISIONAL if the load average above is not ~0: other processes share the cores.")
    log()
    rows = []

    ref = NetworkParams.preset("reference")
    closures = [c.strip() for c in args.closure.split(",") if c.strip()]
    dsode_s = None
    per_closure = {}  # closure -> wall per bio s of its three dsODE rows
    runs = [(c, None) for c in closures]
    if args.stimulus:
        from snnreduce.stimulus import parse_stimulus

        stim = parse_stimulus(args.stimulus)
        runs += [(c, stim) for c in closures]
    for closure, stimulus in runs:
        tag = "" if closures == ["paper"] else f", closure {closure}"
        extra = {}
        if stimulus is not None:
            tag += f", stimulus {stimulus}"
            extra = {"stimulus": stimulus}
        first, (best, cpu), res = timed(lambda: snnreduce.reduce(ref, t_end=t_bio_ms, closure=closure,
                                                                 **extra),
                                        args.repeats)
        r_e, r_i = rates(res)
        dsode_s = best / args.t_bio if dsode_s is None else dsode_s
        rows.append(dict(model=f"dsODE (reference, deterministic{tag})", n=400, first_s=first,
                         best_s=best, cpu_s=cpu, per_bio_s=best / args.t_bio, rate_e_hz=r_e,
                         rate_i_hz=r_i))
        log(f"dsODE reference{tag}: first call {first:.3f} s, best of {args.repeats} {best:.4f} s "
            f"(cpu {cpu:.4f} s) -> {1000 * best / args.t_bio:.2f} ms per bio s; "
            f"rates E {r_e:.1f} I {r_i:.1f} Hz")
        first, (best, cpu), res = timed(lambda: snnreduce.reduce(ref, t_end=t_bio_ms, record=(),
                                                                 closure=closure, **extra),
                                        args.repeats)
        rows.append(dict(model=f"dsODE (reference, deterministic, record=(){tag})", n=400,
                         first_s=first, best_s=best, cpu_s=cpu, per_bio_s=best / args.t_bio,
                         rate_e_hz=r_e, rate_i_hz=r_i))
        log(f"dsODE reference, no records{tag}: best of {args.repeats} {best:.4f} s "
            f"(cpu {cpu:.4f} s) -> {1000 * best / args.t_bio:.2f} ms per bio s")
        first, (best, cpu), res = timed(lambda: snnreduce.reduce(ref, t_end=t_bio_ms,
                                                                 noise="finite-size", seed=args.seed,
                                                                 closure=closure, **extra),
                                        args.repeats)
        r_e, r_i = rates(res)
        rows.append(dict(model=f"dsODE (reference, finite-size noise{tag})", n=400, first_s=first,
                         best_s=best, cpu_s=cpu, per_bio_s=best / args.t_bio, rate_e_hz=r_e,
                         rate_i_hz=r_i))
        log(f"dsODE finite-size{tag}: first call {first:.3f} s, best of {args.repeats} {best:.4f} s "
            f"(cpu {cpu:.4f} s) -> {1000 * best / args.t_bio:.2f} ms per bio s; "
            f"rates E {r_e:.1f} I {r_i:.1f} Hz")
        per_closure[(closure, stimulus is not None)] = [r["per_bio_s"] for r in rows[-3:]]
    if args.stimulus:
        for closure in closures:
            ratios = ", ".join(f"{v / c:.3f}" for v, c in zip(per_closure[(closure, True)],
                                                              per_closure[(closure, False)]))
            log(f"cost of the stimulus / constant drive, closure {closure} (deterministic, "
                f"record=(), finite-size): {ratios}")
    per_closure = {c: v for (c, varying), v in per_closure.items() if not varying}
    if "paper" in per_closure and len(per_closure) > 1:
        for closure, costs in per_closure.items():
            ratios = ", ".join(f"{c / p:.2f}" for c, p in zip(costs, per_closure["paper"]))
            log(f"cost of closure {closure} / paper (deterministic, record=(), finite-size): "
                f"{ratios}")

    for n in sizes:
        p = NetworkParams.preset("reference", k=400.0 / n)
        reps = args.repeats if n <= 4000 else 1
        first, (best, cpu), res = timed(lambda: snnreduce.simulate(p, engine="stepped", t_end=t_bio_ms,
                                                                   seed=args.seed), reps)
        r_e, r_i = rates(res)
        rows.append(dict(model="stepped network, annealed", n=n, first_s=first, best_s=best, cpu_s=cpu,
                         per_bio_s=best / args.t_bio, rate_e_hz=r_e, rate_i_hz=r_i))
        log(f"stepped N={n}: first call {first:.3f} s, best of {reps} {best:.3f} s (cpu {cpu:.3f} s) "
            f"-> {best / args.t_bio:.3f} s per bio s; rates E {r_e:.1f} I {r_i:.1f} Hz")

    if not args.no_nest:
        peers.run_gif_pop(t_end=100.0, seed=args.seed)  # load the module, build once
        best, keep = float("inf"), None
        for _ in range(args.repeats):
            r = peers.run_gif_pop(t_end=t_bio_ms, seed=args.seed)
            if r.simulate_s < best:
                best, keep = r.simulate_s, r
        rows.append(dict(model="NEST gif_pop_psc_exp (E 300 / I 100)", n=400, first_s=None,
                         best_s=keep.simulate_s, cpu_s=keep.simulate_cpu_s, build_s=keep.build_s + keep.prepare_s,
                         per_bio_s=keep.simulate_per_bio_s, rate_e_hz=keep.rate_e_hz,
                         rate_i_hz=keep.rate_i_hz))
        log(f"NEST gif_pop_psc_exp: build+prepare {keep.build_s + keep.prepare_s:.3f} s, simulate best of "
            f"{args.repeats} {keep.simulate_s:.3f} s (cpu {keep.simulate_cpu_s:.3f} s) -> "
            f"{keep.simulate_per_bio_s:.3f} s per bio s; "
            f"rates E {keep.rate_e_hz:.1f} I {keep.rate_i_hz:.1f} Hz")

    log()
    log("| model | N | wall ms per bio s | CPU ms per bio s | ratio to dsODE (wall) | rate E Hz | rate I Hz |")
    log("|---|---|---|---|---|---|---|")
    for r in rows:
        log(f"| {r['model']} | {r['n']} | {1000 * r['per_bio_s']:.1f} | {1000 * r['cpu_s'] / args.t_bio:.1f} | "
            f"{r['per_bio_s'] / dsode_s:.1f} | {r['rate_e_hz']:.1f} | {r['rate_i_hz']:.1f} |")
    log(f"goal dsODE <= 20 ms per bio s: {1000 * dsode_s:.2f} ms  {'PASS' if dsode_s <= 0.020 else 'MISS'}")
    log(f"load average at the end: {peers.loadavg()}")
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "loadavg_end": peers.loadavg(),
                                         "args": vars(args) | {"json": str(args.json)}, "rows": rows},
                                        indent=1, default=str))
        log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
