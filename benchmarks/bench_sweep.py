"""Wall time of a 51-point P^EI sweep: batched dsODE vs the network with 3 seeds.

Goal (issue 5): the dsODE-only sweep (P^EI 0.5-1.0, 51 points, T = 2000 ms) in <= 10 s wall
on 2 cores after warm-up. The same sweep of the stepped network with 3 seeds runs in the same
script as the peer, so the ratio holds on any machine.

    python benchmarks/bench_sweep.py [--points 51] [--seeds 3] [--t-end 2000] [--jobs 2]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time

import snnreduce
from snnreduce.sweep import sweep


def timed_sweep(label, **kwargs):
    start = time.perf_counter()
    cpu = time.process_time()
    ds = sweep(progress=False, **kwargs)
    wall = time.perf_counter() - start
    failed = int((ds["status"] != "ok").sum())
    print(f"{label:34s} {wall:8.2f} s wall  {time.process_time() - cpu:8.2f} s CPU (this process)"
          f"  {failed} failed", flush=True)
    return wall


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=51)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--t-end", type=float, default=2000.0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--no-network", action="store_true", help="skip the network peer")
    args = parser.parse_args()

    params = snnreduce.NetworkParams.preset("reference")
    grid = {"p_ei": f"0.5:1.0:{args.points}"}
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.2f}; snnreduce {snnreduce.__version__}")
    print(f"sweep: p_ei 0.5-1.0, {args.points} points, T = {args.t_end:g} ms, jobs = {args.jobs}")
    # Warm-up: compile (or load from numba's cache) every kernel the sweeps use.
    timed_sweep("warm-up (3 points, 300 ms)", params=params, grid={"p_ei": [0.6, 0.8, 1.0]},
                models="dsode,snn", seeds=1, t_end=300.0, n_jobs=args.jobs)
    dsode = timed_sweep("dsODE (batched)", params=params, grid=grid, models="dsode",
                        t_end=args.t_end, n_jobs=args.jobs)
    with tempfile.TemporaryDirectory() as tmp:
        # the same sweep written incrementally to disk, as the CLI does
        timed_sweep("dsODE (batched, journal + file)", params=params, grid=grid, models="dsode",
                    t_end=args.t_end, n_jobs=args.jobs, out=os.path.join(tmp, "s.nc"))
    if not args.no_network:
        network = timed_sweep(f"network (stepped, {args.seeds} seeds)", params=params, grid=grid,
                              models="snn", seeds=args.seeds, t_end=args.t_end, n_jobs=args.jobs)
        print(f"ratio network / dsODE: {network / dsode:.1f}x")
    print(f"goal: dsODE sweep <= 10 s wall -> {'met' if dsode <= 10 else 'NOT met'} ({dsode:.2f} s)")


if __name__ == "__main__":
    main()
