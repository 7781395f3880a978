"""Memory estimates (snnreduce.resources) against what small runs really hold.

Prints, for runs of every engine, tracemalloc's peak (above what was held before the call,
after a warm-up run so that compilation and imports are not counted) next to
``estimate_run``'s estimate, and the spike counts of strongly driven and reference networks
against ``spike_bound``. The numbers of docs/resources.md come from this script; memory, not
time, is measured, so a busy machine does not change them.

    python benchmarks/bench_memory.py
"""

from __future__ import annotations

import tracemalloc

import snnreduce as sr
from snnreduce import NetworkParams
from snnreduce import resources as R

CASES = [
    ("stepped", NetworkParams(n_e=15000, n_i=5000), 2.0, (), {}),
    ("stepped", NetworkParams(n_e=300, n_i=100), 200.0, ("voltage", "pending"), {}),
    ("stepped", NetworkParams(n_e=1500, n_i=500, connectivity="quenched"), 5.0, (), {}),
    ("markov", NetworkParams(n_e=15000, n_i=5000), 2.0, (), {}),
    ("markov", NetworkParams(n_e=300, n_i=100), 200.0, ("voltage", "pending"), {}),
    ("surrogate", NetworkParams(n_e=15000, n_i=5000), 2.0, (), {}),
    ("dsode", NetworkParams(), 200.0, ("bin_count", "bin_mean", "pending"), {"dv": 0.5}),
    ("fokker-planck", NetworkParams(), 100.0, ("bin_count", "bin_mean"), {}),
    ("dsode", NetworkParams(n_e=1_500_000, n_i=500_000, initial_state="uniform"), 5.0, (),
     {"noise": "finite-size", "seed": 1}),
    ("stepped", NetworkParams(), 2000.0, (), {}),
    ("markov", NetworkParams(), 2000.0, (), {}),
]


def traced_peak(run) -> int:
    run()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        run()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def main():
    print("| engine | N | t_end (ms) | record | traced peak | estimate | ratio |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for engine, params, t_end, record, options in CASES:
        if engine == "dsode":
            def run():
                return sr.reduce(params, t_end=t_end, record=record, **options)
        else:
            def run():
                return sr.simulate(params, engine, t_end=t_end, seed=1, record=record, **options)
        peak = traced_peak(run)
        engine_options = {k: v for k, v in options.items() if k != "seed"}
        est = R.estimate_run(params, engine, t_end=t_end, record=record,
                             options=engine_options).nbytes
        label = engine + "".join(f", {k}={v}" for k, v in engine_options.items()) \
            + (", quenched" if params.connectivity == "quenched" else "")
        print(f"| {label} | {params.n_e + params.n_i} | {t_end:g} | {', '.join(record) or '–'} | "
              f"{peak / 2**20:.2f} MiB | {est / 2**20:.2f} MiB | {est / peak:.2f} |", flush=True)

    print("\n| network | engine | refractory | spikes | bound | spikes / bound |")
    print("| --- | --- | --- | --- | --- | --- |")
    driven = dict(n_e=150, n_i=50, lambda_e=200.0, lambda_i=200.0, tau_r=1.0)
    for name, params in [("driven, fixed", NetworkParams(**driven, refractory="fixed")),
                         ("driven, exponential", NetworkParams(**driven)),
                         ("reference", NetworkParams())]:
        t_end = 2000.0 if name == "reference" else 200.0
        for engine in ("stepped", "surrogate", "markov"):
            count = sr.simulate(params, engine, t_end=t_end, seed=4).spike_times.size
            bound = R.spike_bound(params, t_end, continuous_time=engine == "markov")
            print(f"| {name} | {engine} | {params.refractory} | {count} | {bound} | "
                  f"{count / bound:.2f} |", flush=True)


if __name__ == "__main__":
    main()
