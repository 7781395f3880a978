"""Validation tables for docs/validation.md: network vs surrogate vs dsODE.

Reproduces (T = 2000 ms, first 100 ms dropped):

1. the reference preset over 5 network seeds — stepped and event-driven engines, the Markov
   surrogate and the dsODE with their default closures ("ou" and "ou-cond-linear") and the
   paper's (``closure="paper"``), the dsODE with both refractory rules — rates, SSI, gamma peak and the
   period-2 alternation of MFE sizes;
2. the P^{EI} sweep 0.5-1.0 (step 0.05): network (5 seeds) vs the dsODE with the default
   closure, with the paper's closure, and with the paper's closure and refractory rule;
3. lcy-homogeneous: network vs deterministic vs finite-size dsODE (SSI, gamma power), default
   closure.

The paper-code rows pass ``closure="paper"``: they are the paper's system.

Run:  python examples/validation.py [--out docs/validation.md] [--seeds 5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import snnreduce
from snnreduce.analysis import period2_alternation, summarize
from snnreduce.compare import compare
from snnreduce.sweep import sweep

T_END = 2000.0


def fmt(values, digits=3):
    values = [v for v in values if v is not None and np.isfinite(v)]
    if not values:
        return "—"
    if len(values) == 1:
        return f"{values[0]:.{digits}g}"
    return f"{np.mean(values):.{digits}g} ± {np.std(values, ddof=1):.1g}"


def reference_table(seeds):
    params = snnreduce.NetworkParams.preset("reference")
    runs = {
        "network (stepped)": [snnreduce.simulate(params, "stepped", t_end=T_END, seed=s) for s in seeds],
        "network (event-driven)": [snnreduce.simulate(params, "markov", t_end=T_END, seed=s) for s in seeds],
        "Markov surrogate": [snnreduce.simulate(params, "surrogate", t_end=T_END, seed=s) for s in seeds],
        "Markov surrogate, closure paper": [snnreduce.simulate(params, "surrogate", t_end=T_END,
                                                               seed=s, closure="paper")
                                            for s in seeds],
        "dsODE (exponential exit)": [snnreduce.reduce(params, t_end=T_END)],
        "dsODE, closure paper (exponential exit)": [snnreduce.reduce(params, t_end=T_END,
                                                                     closure="paper")],
        "dsODE, closure paper (paper-code rule)": [snnreduce.reduce(
            params, t_end=T_END, refractory_rule="paper", closure="paper")],
        "dsODE, closure paper (paper-code rule, Euler, lag 1)": [snnreduce.reduce(
            params, t_end=T_END, refractory_rule="paper", moment_integrator="euler", rate_lag=1,
            closure="paper")],
    }
    ref_e = np.mean([summarize(r)["rate_hz"]["E"] for r in runs["network (stepped)"]])
    ref_i = np.mean([summarize(r)["rate_hz"]["I"] for r in runs["network (stepped)"]])
    ref_g = np.mean([summarize(r)["gamma_peak_hz"]["E"] for r in runs["network (stepped)"]])
    lines = ["| model | runs | E rate (Hz) | I rate (Hz) | err E | err I | SSI E | SSI I "
             "| gamma peak E (Hz) | Δ gamma | period-2 alternation |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, results in runs.items():
        s = [summarize(r) for r in results]
        e = [x["rate_hz"]["E"] for x in s]
        i = [x["rate_hz"]["I"] for x in s]
        g = [x["gamma_peak_hz"]["E"] for x in s]
        lines.append(
            f"| {name} | {len(results)} | {fmt(e)} | {fmt(i)} | {100 * (np.mean(e) / ref_e - 1):+.1f} % "
            f"| {100 * (np.mean(i) / ref_i - 1):+.1f} % | {fmt([x['ssi']['E'] for x in s])} "
            f"| {fmt([x['ssi']['I'] for x in s])} | {fmt(g)} | {np.mean(g) - ref_g:+.1f} Hz "
            f"| {fmt([period2_alternation(r) for r in results], 2)} |")
    return "\n".join(lines)


def pei_table(n_seeds):
    params = snnreduce.NetworkParams.preset("reference")
    grid = {"p_ei": "0.5:1.0:11"}
    net = sweep(params, grid, models="snn,dsode", seeds=n_seeds, t_end=T_END, progress=False)
    closure = sweep(params, grid, models="dsode", seeds=1, t_end=T_END, progress=False,
                    model_options={"dsode": {"closure": "paper"}})
    paper = sweep(params, grid, models="dsode", seeds=1, t_end=T_END, progress=False,
                  model_options={"dsode": {"refractory_rule": "paper", "closure": "paper"}})
    lines = ["| P^EI | net E (Hz) | dsODE E | closure paper E | paper E | net I (Hz) | dsODE I "
             "| closure paper I | paper I | net SSI E | dsODE SSI E | closure paper SSI E "
             "| paper SSI E |", "|---|" + "---|" * 12]
    for v in net["p_ei"].values:
        def stat(ds, model, name, pop):
            return ds[name].sel(p_ei=v, model=model, population=pop).values
        e = stat(net, "snn", "rate_hz", "E")
        i = stat(net, "snn", "rate_hz", "I")
        se = stat(net, "snn", "ssi", "E")
        de, di, dse = (float(stat(net, "dsode", n, p)[0]) for n, p in
                       (("rate_hz", "E"), ("rate_hz", "I"), ("ssi", "E")))
        ce, ci, cse = (float(stat(closure, "dsode", n, p)[0]) for n, p in
                       (("rate_hz", "E"), ("rate_hz", "I"), ("ssi", "E")))
        pe, pi, pse = (float(stat(paper, "dsode", n, p)[0]) for n, p in
                       (("rate_hz", "E"), ("rate_hz", "I"), ("ssi", "E")))

        def err(x, ref):
            return f"{x:.3g} ({100 * (x / ref.mean() - 1):+.0f} %)"

        lines.append(f"| {v:.2f} | {fmt(e)} | {err(de, e)} | {err(ce, e)} | {err(pe, e)} "
                     f"| {fmt(i)} | {err(di, i)} | {err(ci, i)} | {err(pi, i)} | {fmt(se)} "
                     f"| {dse:.3g} | {cse:.3g} | {pse:.3g} |")
    return "\n".join(lines)


def homogeneous_table(seeds):
    params = snnreduce.NetworkParams.preset("lcy-homogeneous")
    c = compare(params, seeds=seeds, t_end=T_END, models=("snn", "surrogate", "dsode", "dsode-fs"),
                progress=False)
    lines = ["| model | runs | E rate (Hz) | SSI E | SSI I | gamma power E (Hz²) | gamma peak E (Hz) |",
             "|---|---|---|---|---|---|---|"]
    for model, summaries in c.summaries.items():
        lines.append(f"| {model} | {len(summaries)} | {fmt([s['rate_hz']['E'] for s in summaries])} "
                     f"| {fmt([s['ssi']['E'] for s in summaries])} | {fmt([s['ssi']['I'] for s in summaries])} "
                     f"| {fmt([s['gamma_power']['E'] for s in summaries])} "
                     f"| {fmt([s['gamma_peak_hz']['E'] for s in summaries])} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="write the markdown tables to this file")
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    seeds = list(range(1, args.seeds + 1))
    start = time.perf_counter()
    sections = []
    for title, make in (("Reference preset", lambda: reference_table(seeds)),
                        ("P^EI sweep (reference preset otherwise)", lambda: pei_table(args.seeds)),
                        ("lcy-homogeneous: finite-size dsODE", lambda: homogeneous_table(seeds))):
        sections.append(f"### {title}\n\n{make()}")
        print(sections[-1] + "\n", flush=True)
    text = "\n\n".join(sections)
    text += (f"\n\n_T = {T_END:g} ms, first 100 ms dropped, seeds {seeds}; snnreduce "
             f"{snnreduce.__version__}; {time.perf_counter() - start:.0f} s._\n")
    if args.out:
        from snnreduce.io import atomic_write_text

        atomic_write_text(args.out, text)


if __name__ == "__main__":
    main()
