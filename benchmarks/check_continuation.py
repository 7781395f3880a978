"""The issue's checks of the continuation against long simulations (reference preset, P^EI).

    python benchmarks/check_continuation.py                 # closure "paper", its points
    python benchmarks/check_continuation.py --closure ou --pd 0.759

The parameter grids bracket the closure's located points: ``--pd`` (period doubling of the
gamma cycle, default 0.785, the "paper" closure's) +- 0.025 and the Hopf point 0.5034.

1. Period-1 cycle: Floquet stability (return-map multipliers) at 5 values on each side of the
   located period-doubling point against a 2 s run started on the cycle: a stable cycle keeps
   |successive peak differences| < 1 spike/ms over the last 500 ms, an unstable one grows
   alternation.
2. Stationary state: stability at 5 values on each side of the Hopf point against a 2 s run
   started at the fixed point plus a 1e-6 relative kick to the pending-kick moments: stable
   if the deviation of the E count is smaller over 1.8-2 s than over 0.2-0.4 s.
"""

from __future__ import annotations

import argparse

import numpy as np

import snnreduce as sr
from snnreduce.analysis import peak_differences
from snnreduce.continuation import find_cycle, find_fixed_point
from snnreduce.continuation.orbits import orbit_result


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--closure", default="paper",
                    help="dsODE input closure (default paper: the closure the documented check is for)")
    ap.add_argument("--pd", type=float, default=0.785,
                    help="the closure's period-doubling point; the cycle grid is pd +- 0.025")
    args = ap.parse_args(argv)
    base = sr.NetworkParams.preset("reference")
    agree = 0
    print(f"closure {args.closure}; period-1 cycle around the period-doubling point ({args.pd:g}):")
    for dx in (-0.025, -0.02, -0.015, -0.01, -0.005, 0.005, 0.01, 0.015, 0.02, 0.025):
        x = round(args.pd + dx, 4)
        p = base.replace(p_ei=x)
        cyc = find_cycle(p, t_transient=1000.0, closure=args.closure)
        res = orbit_result(p, cyc.options, cyc.state, 2000.0, record=())
        d = np.abs(peak_differences(res, "E", discard=1500.0))
        sim_stable = bool(d.size and d.max() < 1.0)
        agree += sim_stable == cyc.stable
        print(f"  p_ei {x:.3f}: |mu|max {np.abs(cyc.multipliers).max():7.3f} "
              f"stable {cyc.stable!s:5}  run: max|Δpeak| {d.max() if d.size else np.nan:7.2f}"
              f" -> stable {sim_stable}")
    print("stationary state around the Hopf point (0.5034):")
    for x in (0.45, 0.47, 0.49, 0.495, 0.50, 0.507, 0.51, 0.52, 0.55, 0.60):
        p = base.replace(p_ei=x)
        fp = find_fixed_point(p, t_transient=2000.0, closure=args.closure)
        kicked = fp.state.copy()
        kicked[-8:] *= 1 + 1e-6
        res = orbit_result(p, fp.options, kicked, 2000.0, record=())
        c = res.population_counts[:, 0]
        dev = np.abs(c - fp.info["rate_e_hz"] * p.n_e * p.dt / 1000)
        early, late = dev[2000:4000].max(), dev[-2000:].max()
        growth = float(late / early)
        sim_stable = growth < 1.0
        agree += sim_stable == fp.stable
        print(f"  p_ei {x:.3f}: |mu|max {np.abs(fp.multipliers).max():.6f} "
              f"stable {fp.stable!s:5}  run: deviation growth (1.8-2 s vs 0.2-0.4 s) "
              f"{growth:.3g} -> stable {sim_stable}")
    print(f"agreement: {agree} of 20")


if __name__ == "__main__":
    main()
