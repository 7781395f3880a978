"""Time `snnreduce continue` over P^EI 0.5-1.0 on the reference preset (goal: < 2 min).

    python benchmarks/bench_continuation.py [--closure ou-cond-linear] [--from 0.5] [--to 1.0] [--json FILE]

Prints the machine load, the wall and CPU time of the whole continuation (numba kernels
warmed up first, so compilation is not counted) and the special points found. The 2 cores of
the development machine are shared with other jobs: the load average is printed with the
times (CPU time of this process is the steadier number on a loaded machine).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import snnreduce as sr
from snnreduce.continuation.diagram import continue_parameter


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--from", dest="start", type=float, default=0.5)
    ap.add_argument("--to", dest="stop", type=float, default=1.0)
    ap.add_argument("--closure", default=None,
                    help="input closure of the dsODE (default: dsode.moments.DEFAULT_CLOSURE)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    params = sr.NetworkParams.preset("reference")
    sr.reduce(params, t_end=10, record=())  # warm the kernels (compiled or cached)
    load = os.getloadavg()
    start, cpu = time.perf_counter(), time.process_time()
    options = {} if args.closure is None else {"closure": args.closure}
    diagram = continue_parameter(params, "p_ei", args.start, args.stop, options=options)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    out = {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
           "load_before": load, "load_after": os.getloadavg(), "wall_s": wall,
           "cpu_s": cpu, "closure": diagram.options["closure"],
           "branches": [(b.kind, len(b.points), b.stop_reason) for b in diagram.branches],
           "special_points": [(sp.kind, round(sp.parameter, 5))
                              for _, sp in diagram.special_points()],
           "version": sr.__version__ if hasattr(sr, "__version__") else ""}
    print(json.dumps(out, indent=1))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=1)


if __name__ == "__main__":
    main()
