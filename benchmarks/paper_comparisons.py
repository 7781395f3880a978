"""The paper's two baseline comparisons (SPEC §7), redone with snnreduce on one leaky network.

Every model is configured from the same :class:`snnreduce.NetworkParams` (its default mapping,
docs/baselines.md) and judged against our leaky stepped network (``snnreduce.simulate(...,
"stepped")`` with its default, the paper's, options), mean over seeds:

(a) excitatory synaptic time constant ``tau_ee = tau_ie`` from 1 to 4 ms at N = 240, 800, 3200:
    the dsODE and the refractory density method (NEST ``gif_pop_psc_exp``, "rdm"), plus the
    rdm against its own home model, the microscopic ``gif_psc_exp`` network of the same GIF
    description ("gif-micro");
(b) excitatory coupling ``s_ee`` (with ``s_ie = 4/3 s_ee``) at N = 1000 and 10 000: the dsODE
    and the Fokker-Planck solver ("fp"; "fp-fs" with Mattia-type finite-size noise).

The dsODE also runs with finite-size noise ("dsode-fs") and with 1-wide voltage bins
("dsode-dv1", the binning error of the default 4-wide bins). Sizes change with
``params.scaled(1000 / N)``, which keeps ``N P S`` (so the mean input) fixed; coupling values are
quoted at the N = 1000 scale. Statistics (rate, SSI, gamma peak) are
:func:`snnreduce.analysis.summarize` after dropping the first ``DISCARD`` ms.

Writes docs/data/comparison_{tau,coupling}.{json,csv} (every run, and the aggregated table),
docs/figures/comparison_{tau,coupling}.png and docs/data/comparison_tables.md, and refreshes the
tables between the ``<!-- tables:start -->`` / ``<!-- tables:end -->`` markers of
docs/comparisons.md. Regenerate with

    python benchmarks/paper_comparisons.py            # ~10 min on 2 cores
    python benchmarks/paper_comparisons.py --quick    # smoke test into out/ (1 seed, 500 ms)

The rdm columns need NEST (``pip install snnreduce[nest]``); without it they are skipped.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import math
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if (ROOT / "src" / "snnreduce").is_dir():
    sys.path.insert(0, str(ROOT / "src"))

import numpy as np  # noqa: E402

import snnreduce  # noqa: E402
from snnreduce import NetworkParams  # noqa: E402

#: The leaky E-I network of both comparisons, at N = 1000 (pathways post-pre: s_ei is I -> E).
#: Everything not named is the package default: M = 100, M_r = 66, tau_ei = tau_ii = 4.5 ms,
#: tau_r = 4 ms (exponential exit), s_ei = 2.71, s_ii = 2.45, dt = 0.1 ms, annealed, rest.
BASE = NetworkParams(n_e=800, n_i=200, tau_m=20.0, lambda_e=5.0, lambda_i=5.0,
                     p_ee=0.1, p_ie=0.1, p_ei=0.1, p_ii=0.1,
                     s_ee=1.5, s_ie=2.0, tau_ee=2.0, tau_ie=2.0)
S_IE_PER_S_EE = 4.0 / 3.0
DISCARD = 100.0

#: label -> (run_model name, options, deterministic)
MODELS = {
    "snn": ("snn", {}, False),
    "dsode": ("dsode", {}, True),
    "dsode-dv1": ("dsode", {"dv": 1.0}, True),
    "dsode-fs": ("dsode-fs", {}, False),
    "rdm": ("rdm", {}, False),
    # the mesoscopic model's home: the GIF network of the very same description (same escape
    # noise, fixed in-degree so every neuron gets the mean-field number of inputs)
    "gif-micro": ("rdm", {"level": "micro", "escape_sigma": "network",
                          "connectivity": "indegree"}, False),
    "fp": ("fp", {}, True),
    "fp-fs": ("fp-fs", {}, False),
}
LABELS = {"snn": "network", "dsode": "dsODE", "dsode-dv1": "dsODE dv=1", "dsode-fs": "dsODE fs",
          "rdm": "rdm (NEST meso)", "gif-micro": "GIF micro (rdm home)", "fp": "Fokker-Planck",
          "fp-fs": "Fokker-Planck fs"}
COLOURS = {"dsode": "tab:red", "dsode-dv1": "darkred", "dsode-fs": "tab:orange",
           "rdm": "tab:purple", "gif-micro": "tab:pink", "fp": "tab:green", "fp-fs": "tab:olive"}


def experiments(quick: bool) -> dict:
    """The two comparisons: sizes, swept values, models."""
    if quick:
        return {
            "tau": dict(param="tau_ee", sizes=[240, 800], values=[1.0, 4.0],
                        models=["snn", "dsode", "dsode-dv1", "dsode-fs", "rdm", "gif-micro"]),
            "coupling": dict(param="s_ee", sizes=[1000], values=[0.5, 1.5],
                             models=["snn", "dsode", "dsode-dv1", "dsode-fs", "fp", "fp-fs"]),
        }
    return {
        "tau": dict(param="tau_ee", sizes=[240, 800, 3200], values=[1.0, 1.5, 2.0, 3.0, 4.0],
                    models=["snn", "dsode", "dsode-dv1", "dsode-fs", "rdm", "gif-micro"]),
        "coupling": dict(param="s_ee", sizes=[1000, 10000], values=[0.5, 1.0, 1.5, 1.75, 2.0],
                         models=["snn", "dsode", "dsode-dv1", "dsode-fs", "fp", "fp-fs"]),
    }


def point_params(param: str, value: float, size: int) -> NetworkParams:
    """The network of one grid point: the value set at the N = 1000 scale, then scaled to N."""
    if param == "tau_ee":
        p = BASE.replace(tau_ee=value, tau_ie=value)
    elif param == "s_ee":
        p = BASE.replace(s_ee=value, s_ie=S_IE_PER_S_EE * value)
    else:
        raise ValueError(param)
    return p if size == BASE.n_e + BASE.n_i else p.scaled((BASE.n_e + BASE.n_i) / size)


def run_one(task: dict) -> dict:
    """One run: its summary statistics (plain floats) and wall time."""
    from snnreduce.analysis import summarize
    from snnreduce.api import run_model

    warnings.simplefilter("ignore")          # NEST mapping notes; the options are recorded
    model, options, deterministic = MODELS[task["model"]]
    params = point_params(task["param"], task["value"], task["size"])
    start = time.perf_counter()
    try:
        result = run_model(params, model, seed=task["seed"], t_end=task["t_end"],
                           options=dict(options))
        summary = summarize(result, discard=DISCARD)
        status = result.status
    except Exception as exc:  # one failed run must not lose the others
        summary, status = None, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    row = {k: task[k] for k in ("experiment", "size", "param", "value", "model", "seed")}
    row.update(n_e=params.n_e, n_i=params.n_i, status=status,
               wall_s=round(time.perf_counter() - start, 3))
    for key in ("rate_hz", "ssi", "gamma_peak_hz"):
        for pop in ("E", "I"):
            value = None if summary is None else summary[key][pop]
            row[f"{key}_{pop}"] = None if value is None or not math.isfinite(value) else float(value)
    return row


def make_tasks(exps: dict, seeds: list[int], t_end: float, have_nest: bool) -> list[dict]:
    tasks = []
    for name, exp in exps.items():
        for size in exp["sizes"]:
            for value in exp["values"]:
                for model in exp["models"]:
                    if MODELS[model][0] == "rdm" and not have_nest:
                        continue
                    for seed in ([seeds[0]] if MODELS[model][2] else seeds):
                        tasks.append(dict(experiment=name, size=size, param=exp["param"],
                                          value=value, model=model, seed=seed, t_end=t_end))
    # biggest networks first, so the two workers finish together
    cost = {"snn": 1.0, "gif-micro": 1.0}
    tasks.sort(key=lambda t: -cost.get(t["model"], 0.02) * t["size"])
    return tasks


# ----------------------------------------------------------------------------- aggregation
def aggregate(rows: list[dict], exp: dict) -> list[dict]:
    """Per (size, value): network mean/sd, each model's means, and relative rate errors."""
    out = []
    for size in exp["sizes"]:
        for value in exp["values"]:
            mine = [r for r in rows if r["size"] == size and r["value"] == value]
            entry = {"size": size, "value": value, "models": {}}
            for model in exp["models"]:
                runs = [r for r in mine if r["model"] == model]
                if not runs:
                    continue
                stats = {}
                for key in ("rate_hz_E", "rate_hz_I", "ssi_E", "ssi_I", "gamma_peak_hz_E",
                            "gamma_peak_hz_I"):
                    vals = [r[key] for r in runs if r[key] is not None]
                    stats[key] = float(np.mean(vals)) if vals else None
                    stats[key + "_sd"] = float(np.std(vals, ddof=1)) if len(vals) > 1 else None
                stats["n_runs"] = len(runs)
                stats["failed"] = [r["status"] for r in runs if r["status"] != "ok"]
                entry["models"][model] = stats
            ref = entry["models"].get("snn", {}).get("rate_hz_E")
            for model, stats in entry["models"].items():
                rate = stats["rate_hz_E"]
                stats["rate_error_E"] = None if model == "snn" or ref in (None, 0) or rate is None \
                    else (rate - ref) / ref
            home = entry["models"].get("gif-micro", {}).get("rate_hz_E")
            rdm = entry["models"].get("rdm", {}).get("rate_hz_E")
            entry["rdm_vs_home_E"] = None if home in (None, 0) or rdm is None else (rdm - home) / home
            out.append(entry)
    return out


def mean_abs_errors(table: list[dict], exp: dict) -> dict:
    """size -> model -> mean |relative E-rate error| over the swept values."""
    out = {}
    for size in exp["sizes"]:
        entries = [e for e in table if e["size"] == size]
        out[size] = {}
        for model in exp["models"]:
            if model == "snn":
                continue
            errs = [e["models"][model]["rate_error_E"] for e in entries
                    if model in e["models"] and e["models"][model]["rate_error_E"] is not None]
            out[size][model] = float(np.mean(np.abs(errs))) if errs else None
        homes = [e["rdm_vs_home_E"] for e in entries if e["rdm_vs_home_E"] is not None]
        if homes:
            out[size]["rdm vs home"] = float(np.mean(np.abs(homes)))
    return out


# ----------------------------------------------------------------------------- output
def _pct(x):
    return "—" if x is None else f"{100 * x:+.1f} %"


def _num(x, fmt):
    return "—" if x is None else format(x, fmt)


def markdown(name: str, exp: dict, table: list[dict], summary: dict, settings: dict) -> str:
    models = [m for m in exp["models"] if m != "snn" and any(m in e["models"] for e in table)]
    pname = "tau_ee = tau_ie (ms)" if exp["param"] == "tau_ee" else "s_ee (N = 1000 scale)"
    lines = [f"**Rate.** Network E rate (mean ± sd over {settings['n_seeds']} seeds) and the "
             "relative error of each model's mean E rate against it.", "",
             f"| N | {pname} | network E (Hz) | " + " | ".join(LABELS[m] for m in models)
             + (" | rdm vs its home |" if "rdm" in models and "gif-micro" in models else " |"),
             "|---|---|---|" + "---|" * len(models)
             + ("---|" if "rdm" in models and "gif-micro" in models else "")]
    for e in table:
        net = e["models"].get("snn", {})
        cells = [_pct(e["models"][m]["rate_error_E"]) if m in e["models"] else "—" for m in models]
        if "rdm" in models and "gif-micro" in models:
            cells.append(_pct(e["rdm_vs_home_E"]))
        lines.append(f"| {e['size']} | {e['value']:g} | {_num(net.get('rate_hz_E'), '.2f')} ± "
                     f"{_num(net.get('rate_hz_E_sd'), '.2f')} | " + " | ".join(cells) + " |")
    lines += ["", "Mean |relative E-rate error| over the swept values:", "",
              "| N | " + " | ".join(LABELS[m] for m in models)
              + (" | rdm vs its home |" if "rdm vs home" in next(iter(summary.values())) else " |"),
              "|---|" + "---|" * (len(models) + ("rdm vs home" in next(iter(summary.values()))))]
    for size, errs in summary.items():
        cells = [_num(None if errs.get(m) is None else 100 * errs[m], ".1f") + " %" for m in models]
        if "rdm vs home" in errs:
            cells.append(f"{100 * errs['rdm vs home']:.1f} %")
        lines.append(f"| {size} | " + " | ".join(cells) + " |")
    lines += ["", "**Synchrony.** E-population SSI (1 ms window) / gamma peak (Hz, 30–90 Hz band; "
              "a value at the lower edge, 30–35 Hz, means no peak inside the band) of every model "
              "(means over seeds).", "",
              f"| N | {pname} | network | " + " | ".join(LABELS[m] for m in models) + " |",
              "|---|---|---|" + "---|" * len(models)]
    for e in table:
        cells = []
        for m in ["snn"] + models:
            s = e["models"].get(m)
            cells.append("—" if s is None else f"{_num(s['ssi_E'], '.3f')} / "
                                                 f"{_num(s['gamma_peak_hz_E'], '.0f')}")
        lines.append(f"| {e['size']} | {e['value']:g} | " + " | ".join(cells) + " |")
    failed = [(e["size"], e["value"], m, s["failed"]) for e in table for m, s in e["models"].items()
              if s["failed"]]
    if failed:
        lines += ["", "Failed runs: " + "; ".join(f"N={a}, {b:g}, {m}: {f}" for a, b, m, f in failed)]
    return "\n".join(lines) + "\n"


def figure(name: str, exp: dict, table: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = exp["sizes"]
    fig, axes = plt.subplots(2, len(sizes), figsize=(5.2 * len(sizes), 7.5), squeeze=False,
                             constrained_layout=True, sharex=True)
    xlabel = "tau_ee = tau_ie (ms)" if exp["param"] == "tau_ee" else "s_ee at N = 1000 (s_ie = 4/3 s_ee)"
    for col, size in enumerate(sizes):
        entries = [e for e in table if e["size"] == size]
        x = np.array([e["value"] for e in entries])
        ax, ax2 = axes[0, col], axes[1, col]
        for model in exp["models"]:
            if model == "snn" or not any(model in e["models"] for e in entries):
                continue
            err = [np.nan if model not in e["models"] or e["models"][model]["rate_error_E"] is None
                   else 100 * e["models"][model]["rate_error_E"] for e in entries]
            ax.plot(x, err, "o-", color=COLOURS[model], label=LABELS[model], ms=4)
        if any(e["rdm_vs_home_E"] is not None for e in entries):
            ax.plot(x, [np.nan if e["rdm_vs_home_E"] is None else 100 * e["rdm_vs_home_E"]
                        for e in entries], "s--", color="tab:purple", mfc="white",
                    label="rdm vs its home (GIF micro)", ms=4)
        # the network's own seed-to-seed spread, as a relative band around 0
        sd = [100 * (e["models"]["snn"]["rate_hz_E_sd"] or 0) / e["models"]["snn"]["rate_hz_E"]
              for e in entries]
        ax.fill_between(x, -np.array(sd), sd, color="0.85", label="network sd over seeds")
        ax.axhline(0, color="black", lw=0.8)
        ax.set(title=f"N = {size}", ylabel="E-rate error vs network (%)")
        for model in exp["models"]:
            if not any(model in e["models"] for e in entries):
                continue
            ssi = [np.nan if model not in e["models"] or e["models"][model]["ssi_E"] is None
                   else e["models"][model]["ssi_E"] for e in entries]
            ax2.plot(x, ssi, "o-", color=COLOURS.get(model, "black"), label=LABELS[model], ms=4,
                     lw=2.0 if model == "snn" else 1.0)
        ax2.set(xlabel=xlabel, ylabel="E synchrony (SSI, 1 ms)")
    axes[0, 0].legend(fontsize=8)
    axes[1, 0].legend(fontsize=8)
    what = ("excitatory synaptic time constant" if exp["param"] == "tau_ee"
            else "excitatory coupling")
    fig.suptitle(f"Reductions vs the leaky stepped network: {what} (mean over seeds)")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_csv(rows: list[dict], path: Path) -> None:
    keys = list(rows[0])
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=keys)
        writer.writeheader()
        for r in sorted(rows, key=lambda r: (r["size"], r["value"], r["model"], r["seed"])):
            writer.writerow({k: "" if r[k] is None else r[k] for k in keys})


def refresh_doc(doc: Path, tables: str) -> bool:
    if not doc.is_file():
        return False
    text = doc.read_text()
    start, end = "<!-- tables:start -->", "<!-- tables:end -->"
    if start not in text or end not in text:
        return False
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    doc.write_text(head + start + "\n" + tables + end + tail)
    return True


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke test: 1 seed, 500 ms, few points")
    parser.add_argument("--seeds", type=int, default=3, help="network / stochastic-model seeds")
    parser.add_argument("--t-end", type=float, default=2000.0, help="ms per run")
    parser.add_argument("--jobs", type=int, default=2, help="parallel processes")
    parser.add_argument("--only", choices=["tau", "coupling"], help="run one comparison only")
    parser.add_argument("--out", default=None,
                        help="directory to write into (default: docs/, or out/paper_comparisons_quick "
                             "with --quick)")
    args = parser.parse_args(argv)

    from joblib import Parallel, delayed
    from tqdm.auto import tqdm

    exps = experiments(args.quick)
    if args.only:
        exps = {args.only: exps[args.only]}
    seeds = [1] if args.quick else list(range(1, args.seeds + 1))
    t_end = 500.0 if args.quick else args.t_end
    have_nest = importlib.util.find_spec("nest") is not None
    if not have_nest:
        print("NEST is not installed: the rdm columns are skipped (pip install snnreduce[nest])",
              file=sys.stderr)
    tasks = make_tasks(exps, seeds, t_end, have_nest)
    settings = dict(t_end_ms=t_end, discard_ms=DISCARD, seeds=seeds, n_seeds=len(seeds),
                    base=BASE.to_dict(), s_ie_per_s_ee=S_IE_PER_S_EE, quick=args.quick,
                    models={m: {"model": MODELS[m][0], "options": MODELS[m][1]} for m in MODELS},
                    snnreduce=snnreduce.__version__,
                    command="python benchmarks/paper_comparisons.py" + (" --quick" if args.quick else ""))
    start = time.perf_counter()
    runner = Parallel(n_jobs=args.jobs, return_as="generator_unordered")
    rows = list(tqdm(runner(delayed(run_one)(t) for t in tasks), total=len(tasks), unit="run",
                     desc="comparisons"))
    wall = time.perf_counter() - start
    settings["wall_s"] = round(wall, 1)

    out = Path(args.out) if args.out else (ROOT / "out" / "paper_comparisons_quick" if args.quick
                                           else ROOT / "docs")
    (out / "data").mkdir(parents=True, exist_ok=True)
    all_md = [f"<!-- generated by {settings['command']} in {wall / 60:.1f} min "
              f"({len(tasks)} runs, {args.jobs} processes) -->", ""]
    titles = {"tau": "(a) Excitatory synaptic time constant: dsODE and refractory density",
              "coupling": "(b) Excitatory coupling: dsODE and Fokker–Planck"}
    for name, exp in exps.items():
        mine = [r for r in rows if r["experiment"] == name]
        table = aggregate(mine, exp)
        summary = mean_abs_errors(table, exp)
        (out / "data" / f"comparison_{name}.json").write_text(json.dumps(
            dict(settings=settings, experiment=exp, table=table, mean_abs_error_E=summary,
                 runs=mine), indent=1) + "\n")
        write_csv(mine, out / "data" / f"comparison_{name}.csv")
        figure(name, exp, table, out / "figures" / f"comparison_{name}.png")
        all_md += [f"### {titles[name]}", "", markdown(name, exp, table, summary, settings),
                   f"![{name}](figures/comparison_{name}.png)", ""]
        print(f"\n{titles[name]}\n" + markdown(name, exp, table, summary, settings))
    tables = "\n".join(all_md) + "\n"
    (out / "data" / "comparison_tables.md").write_text(tables)
    if not args.quick and not args.only and refresh_doc(out / "comparisons.md", tables):
        print(f"refreshed the tables of {out / 'comparisons.md'}", file=sys.stderr)
    print(f"{len(tasks)} runs in {wall / 60:.1f} min", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
