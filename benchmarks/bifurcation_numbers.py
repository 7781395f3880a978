"""The numbers docs/bifurcation.md quotes, from a P^EI sweep file (dsODE vs network).

For every P^EI of the sweep: the period-2 alternation of the E peak heights
(:func:`snnreduce.analysis.period2_alternation`, mean over seeds), the mean |Δ| of successive
peak heights (spikes/ms), the dsODE's E and I rate errors against the network mean (%), and
SSI_E of both; then the period-2 window of each model (grid points with alternation ≥ 0.5) and
mean |rate errors| over P^EI ranges.

Run:  python benchmarks/bifurcation_numbers.py docs/data/sweep_p_ei.nc [--model dsode]
"""

from __future__ import annotations

import argparse

import numpy as np
import xarray as xr

from snnreduce import models
from snnreduce.analysis.peaks import PeakSequence, period2_alternation, sweep_peak_heights

WINDOW_RULE = 0.5  # alternation at or above this: period 2 (docs/validation.md)
RANGES = ((0.5, 0.92), (0.93, 1.0), (0.5, 1.0))


def per_point(ds, model: str) -> tuple[np.ndarray, np.ndarray]:
    """(alternation, mean |Δ peak height|) per P^EI, means over the model's seeds (the first
    seed only for a deterministic model: its seeds are the same run)."""
    n_seeds = 1 if models.get(model).deterministic else ds.seed.size
    alt, gap = [], []
    for per_seed in sweep_peak_heights(ds, "p_ei", model):
        runs = [PeakSequence(population="E", times=np.full(h.size, np.nan), heights=h,
                             height=float("nan")) for h in per_seed[:n_seeds]]
        alt.append(np.mean([period2_alternation(r) for r in runs]))
        gap.append(np.mean([np.abs(r.differences).mean() if r.heights.size > 1 else np.nan
                            for r in runs]))
    return np.array(alt), np.array(gap)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sweep", help="sweep file with models dsode (or --model) and snn")
    ap.add_argument("--model", default="dsode", help="the reduction to compare (default dsode)")
    args = ap.parse_args(argv)
    ds = xr.open_dataset(args.sweep)
    p = ds.p_ei.values
    ours, net = per_point(ds, args.model), per_point(ds, "snn")
    rate = ds.rate_hz
    reference = rate.sel(model="snn").mean("seed")
    err = ((rate.sel(model=args.model).mean("seed") / reference - 1) * 100)
    ssi = ds.ssi.sel(population="E")
    ssi_ours, ssi_net = ssi.sel(model=args.model).mean("seed"), ssi.sel(model="snn").mean("seed")
    print(f"p_ei  alternation {args.model}/network  mean|Δ| {args.model}/network  "
          f"E err %  I err %  SSI_E {args.model}/network")
    for i in range(p.size):
        print(f"{p[i]:.2f}  {ours[0][i]:5.2f} {net[0][i]:5.2f}  {ours[1][i]:7.1f} {net[1][i]:7.1f}"
              f"  {float(err.sel(population='E')[i]):+6.1f}  {float(err.sel(population='I')[i]):+6.1f}"
              f"  {float(ssi_ours[i]):.3f} {float(ssi_net[i]):.3f}")
    for name, (alt, _) in ((args.model, ours), ("network", net)):
        window = p[alt >= WINDOW_RULE]
        print(f"period-2 window of {name}: "
              + (f"{window.min():.2f}-{window.max():.2f} ({window.size} points)" if window.size
                 else "none"))
    for lo, hi in RANGES:
        inside = (p >= lo - 1e-9) & (p <= hi + 1e-9)
        e, i_ = (np.abs(err.sel(population=q).values[inside]).mean() for q in ("E", "I"))
        print(f"mean |rate error| over {lo}-{hi}: E {e:.1f} %, I {i_:.1f} %")


if __name__ == "__main__":
    main()
