"""The issue's checks of the continuation against long simulations (reference preset, P^EI).

    python benchmarks/check_continuation.py

1. Period-1 cycle: Floquet stability (return-map multipliers) at 5 values on each side of the
   located period-doubling point against a 2 s run started on the cycle: a stable cycle keeps
   |successive peak differences| < 1 spike/ms over the last 500 ms, an unstable one grows
   alternation.
2. Stationary state: stability at 5 values on each side of the Hopf point against a 2 s run
   started at the fixed point plus a 1e-6 relative kick to the pending-kick moments: stable
   if the deviation of the E count is smaller over 1.8-2 s than over 0.2-0.4 s.
"""

from __future__ import annotations

import numpy as np

import snnreduce as sr
from snnreduce.analysis import peak_differences
from snnreduce.continuation import find_cycle, find_fixed_point
from snnreduce.continuation.orbits import orbit_result


def main():
    base = sr.NetworkParams.preset("reference")
    agree = 0
    print("period-1 cycle around the period-doubling point (0.785):")
    for x in (0.76, 0.765, 0.77, 0.775, 0.78, 0.79, 0.795, 0.80, 0.805, 0.81):
        p = base.replace(p_ei=x)
        cyc = find_cycle(p, t_transient=1000.0)
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
        fp = find_fixed_point(p, t_transient=2000.0)
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
