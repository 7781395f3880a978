"""What a time-varying stimulus costs each model, against the same model under constant drive.

Issue 11's goal: a time-varying stimulus costs at most 10 % more per biological second than
the constant drive (and a constant stimulus nothing: it runs the constant-drive code, which
the tests check bit for bit). Both runs of a pair happen in this process, alternated round
by round, so a busy machine slows both alike; each number is the **minimum CPU time** over
the rounds (the least disturbed run), per biological second.

    python benchmarks/bench_stimulus.py                 # reference preset, 1 s, 5 rounds
    python benchmarks/bench_stimulus.py --rounds 9 --t-bio 2 --models snn,dsode

Prints one table: model, constant ms/bio-s, stimulus ms/bio-s, ratio; the load average
before and after (the ratio is what to read on a shared machine).
"""

from __future__ import annotations

import argparse
import os
import time

import snnreduce as sr
from snnreduce.api import run_model
from snnreduce.stimulus import parse_stimulus

#: model name -> options; the constant run and the stimulus run share them
MODELS = {
    "snn": {},
    "snn-poisson": {"drive": "poisson"},
    "markov": {},
    "surrogate": {},
    "dsode": {},
    "dsode-fs": {},
    "fp": {},
}
SINE = "E:lambda+sine(amp=1,hz=20); I:lambda+sine(amp=1,hz=20)"


def _run(params, model, t_end, stimulus):
    name = "snn" if model == "snn-poisson" else model
    options = dict(MODELS[model], record=())
    if stimulus is not None:
        options["stimulus"] = stimulus
    t0 = time.process_time()
    run_model(params, name, seed=1, t_end=t_end, options=options)
    return time.process_time() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS),
                    help=f"comma list of {', '.join(MODELS)} (default all)")
    ap.add_argument("--t-bio", type=float, default=1.0, help="biological seconds per run")
    ap.add_argument("--rounds", type=int, default=5, help="timed rounds after one warm-up")
    ap.add_argument("--stimulus", default=SINE, help=f"the time-varying stimulus (default {SINE!r})")
    args = ap.parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = sorted(set(models) - set(MODELS))
    if unknown:
        ap.error(f"--models: unknown {', '.join(unknown)}; allowed: {', '.join(MODELS)}")
    params = sr.NetworkParams.preset("reference")
    stimulus = parse_stimulus(args.stimulus)
    t_end = args.t_bio * 1000.0
    print(f"# bench_stimulus {time.strftime('%Y-%m-%d %H:%M:%S')}: reference preset, "
          f"{args.t_bio:g} s per run, {args.rounds} rounds, stimulus {stimulus}")
    print(f"load average at the start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    best = {}
    for rnd in range(args.rounds + 1):  # round 0 compiles and warms the caches
        for model in models:
            for stim in (None, stimulus):
                cpu = _run(params, model, t_end, stim)
                if rnd:
                    key = (model, stim is not None)
                    best[key] = min(best.get(key, float("inf")), cpu)
    print("\n| model | constant drive, CPU ms per bio s | stimulus, CPU ms per bio s | ratio |")
    print("|---|---|---|---|")
    for model in models:
        const, stim = best[(model, False)] / args.t_bio, best[(model, True)] / args.t_bio
        print(f"| {model} | {1e3 * const:.1f} | {1e3 * stim:.1f} | {stim / const:.3f} |")
    print(f"\nload average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
