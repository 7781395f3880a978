"""Quickstart: one network run, its reduction, and the statistics users compare.

    python examples/quickstart.py

Pathway names are post-pre: p_ei is the probability that an I spike reaches an E neuron.
"""

import snnreduce
from snnreduce.analysis import peak_differences, peak_sequence, summarize
from snnreduce.plot import result_figure, save_figure

params = snnreduce.NetworkParams.preset("reference").replace(p_ei=0.85)

network = snnreduce.simulate(params, engine="stepped", t_end=2000, seed=1,
                             record=("pending", "voltage"))
reduced = snnreduce.reduce(params, t_end=2000)   # deterministic dsODE

for name, result in (("network", network), ("dsODE", reduced)):
    s = summarize(result)
    diffs = peak_differences(peak_sequence(result, "E"))
    print(f"{name:8s} rate E {s['rate_hz']['E']:5.1f} Hz, I {s['rate_hz']['I']:5.1f} Hz, "
          f"SSI_E {s['ssi']['E']:.3f}, gamma {s['gamma_peak_hz']['E']:.0f} Hz, "
          f"successive E peak differences: {len(diffs)} (mean |d| {abs(diffs).mean():.1f} spikes/ms)")
    print(f"         provenance: engine={result.engine} seed={result.seed} "
          f"version={result.version} wall={result.wall_time:.2f} s")

network.save("network.nc")                        # NetCDF, atomic; snnreduce.load() reads it
save_figure(result_figure(network), "network.png")
save_figure(result_figure(reduced), "dsode.png")
print("wrote network.nc, network.png, dsode.png")
