"""The regime suite (issue 10): how much each reduction loses against the spiking network.

For every point of the suite — the four presets; P^EI 0.5-1.0 step 0.05 (reference otherwise);
τ_EE ∈ {1, 2, 4} ms with τ_IE = 1.2 (reference otherwise); λ_E = λ_I ∈ {6, 8} /ms; size
k = 0.25 (reference scaled, N = 1600; k = 1 is the reference point itself); the leaky network
of docs/comparisons.md at its central point (τ_EE = τ_IE = 2 ms, s_EE = 1.5, N = 1000) — it runs
the stepped network (the reference engine, default options) over ``--seeds`` seeds, and every
reduction variant ``MODEL:CLOSURE`` (MODEL ``surrogate`` and ``dsode-fs`` over the same seeds,
``dsode`` once: it is deterministic), T = 2000 ms, statistics after the first 100 ms
(``snnreduce.analysis.summarize``): E/I rate error (%), SSI_E, gamma peak of E (Hz), mean E MFE
size (fraction of N_E) and the period-2 alternation of E peak heights (examples/validation.py).

Summary per variant, against the issue's targets: every point's E and I error ≤ 5 %, mean
|error| ≤ 3 %, SSI_E within max(0.03, 15 %) of the network with the same side of 0.08
(asynchronous vs synchronous), gamma peak within 3 Hz where the network's is in 35-90 Hz and
the network is synchronous (SSI_E ≥ 0.08: the band maximum of an asynchronous spectrum is
noise), the
P^EI period-2 window's ends (grid points with alternation ≥ 0.5) within 0.025 of the network's.

Writes ``docs/data/fidelity.json`` (every number, with provenance) and the markdown tables into
``docs/validation.md`` between the markers ``<!-- fidelity:begin -->`` / ``<!-- fidelity:end -->``
(replaced, not appended). Network runs are cached by their parameters, seed and T in
``--cache`` (default ``benchmarks/.fidelity_cache.json``, ignored by git) so that trying a new
closure does not rerun the network; ``--no-cache`` recomputes.

Variants may carry engine options after the closure: ``dsode-fs:ou:dv=2`` (2-wide bins).

Run:  python benchmarks/fidelity.py [--variants surrogate:paper,dsode:paper] [--points ...]
      [--seeds 5] [--jobs 2] [--quick] [--t-end 2000] [--no-write]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if (ROOT / "src" / "snnreduce").is_dir():
    sys.path.insert(0, str(ROOT / "src"))

import numpy as np  # noqa: E402

import snnreduce as sr  # noqa: E402
from snnreduce.analysis import period2_alternation, summarize  # noqa: E402
from snnreduce.dsode.moments import (CLOSURES, CONDITIONAL_CLOSURES, DEFAULT_CLOSURE,  # noqa: E402
                                     SURROGATE_DEFAULT_CLOSURE)
from snnreduce.params import ParameterError  # noqa: E402

T_END = 2000.0
DISCARD = 100.0
MARK_BEGIN = "<!-- fidelity:begin -->"
MARK_END = "<!-- fidelity:end -->"
#: Reduction models and the closures each one has (the "ou-cond" closures change only the
#: dsODE's bins: the surrogate, which has none, runs them as "ou", so they are not rerun).
MODELS = {"surrogate": tuple(c for c in CLOSURES if c not in CONDITIONAL_CLOSURES),
          "dsode": CLOSURES, "dsode-fs": CLOSURES}
DEFAULT_VARIANTS = tuple(f"{m}:{c}" for m, cs in MODELS.items() for c in cs)
QUICK_POINTS = ("reference", "lcy-homogeneous", "p_ei=0.95")
P_EI_GRID = tuple(round(0.5 + 0.05 * i, 2) for i in range(11))
ALTERNATING = 0.5   # alternation at or above which a point counts as period-2
# targets of issue 10
RATE_MAX, RATE_MEAN = 5.0, 3.0
SSI_ABS, SSI_REL, SSI_ASYNC = 0.03, 0.15, 0.08
GAMMA_TOL, GAMMA_BAND = 3.0, (35.0, 90.0)
WINDOW_TOL = 0.025


def suite_points() -> dict[str, sr.NetworkParams]:
    """Name -> parameters of every suite point (pathways post-pre: ``p_ei`` is I -> E)."""
    ref = sr.NetworkParams.preset("reference")
    points = {name: sr.NetworkParams.preset(name)
              for name in ("reference", "lcy-homogeneous", "lcy-regular", "lcy-synchronous")}
    for x in P_EI_GRID:
        if x != ref.p_ei:
            points[f"p_ei={x:.2f}"] = ref.replace(p_ei=x)
    for tau in (1.0, 2.0, 4.0):
        points[f"tau_ee={tau:g}"] = ref.replace(tau_ee=tau, tau_ie=1.2)
    for lam in (6.0, 8.0):
        points[f"lambda={lam:g}"] = ref.replace(lambda_e=lam, lambda_i=lam)
    points["k=0.25"] = ref.scaled(0.25)
    points["leaky"] = sr.NetworkParams(
        n_e=800, n_i=200, tau_m=20.0, lambda_e=5.0, lambda_i=5.0, p_ee=0.1, p_ie=0.1,
        p_ei=0.1, p_ii=0.1, s_ee=1.5, s_ie=2.0, tau_ee=2.0, tau_ie=2.0)
    return points


def p_ei_point(x: float) -> str:
    """The suite point of the P^EI scan at ``x`` (0.8 is the reference point)."""
    return "reference" if abs(x - 0.8) < 1e-9 else f"p_ei={x:.2f}"


def statistics(result) -> dict:
    """The per-run numbers the suite compares (None where undefined)."""
    s = summarize(result, DISCARD)

    def num(x):
        return None if x is None or not np.isfinite(x) else float(x)

    return {"rate_e": num(s["rate_hz"]["E"]), "rate_i": num(s["rate_hz"]["I"]),
            "ssi_e": num(s["ssi"]["E"]), "gamma_e": num(s["gamma_peak_hz"]["E"]),
            "mfe_size_e": num(s["mfe"]["E"]["mean_size"]),
            "alternation": num(period2_alternation(result)) if result.status == "ok" else None,
            "status": result.status}


def run_one(params, model: str, closure: str | None, seed: int, t_end: float,
            options: dict | None = None) -> dict:
    """One run of the network (``model="network"``) or of a reduction variant (with its
    extra engine ``options``, e.g. ``{"dv": 2.0}``); its statistics plus wall time (s)."""
    t0 = time.perf_counter()
    options = dict(options or {})
    if model == "network":
        res = sr.simulate(params, "stepped", t_end=t_end, seed=seed)
    elif model == "surrogate":
        res = sr.simulate(params, "surrogate", t_end=t_end, seed=seed, closure=closure,
                          **options)
    elif model == "dsode":
        res = sr.reduce(params, t_end=t_end, closure=closure, **options)
    elif model == "dsode-fs":
        res = sr.reduce(params, t_end=t_end, noise="finite-size", seed=seed, closure=closure,
                        **options)
    else:
        raise ParameterError(f"model must be network or one of {', '.join(MODELS)}, got {model!r}")
    out = statistics(res)
    out["wall_s"] = time.perf_counter() - t0
    return out


def _cache_key(params, seed, t_end) -> str:
    text = json.dumps({"params": params.to_dict(), "seed": seed, "t_end": t_end,
                       "engine": "stepped", "version": sr.__version__}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def parse_variants(text) -> list[tuple[str, str, dict]]:
    """``"surrogate:paper,dsode-fs:ou:dv=2"`` -> [(model, closure, options), ...] (validated;
    ``key=value`` parts after the closure are engine options, values parsed as numbers
    where they are numbers)."""
    from snnreduce.params import parse_value

    out = []
    for item in (text.split(",") if isinstance(text, str) else text):
        model, _, rest = item.strip().partition(":")
        closure, *extra = rest.split(":") if rest else [DEFAULT_CLOSURE]
        closure = closure or DEFAULT_CLOSURE
        options = {}
        for assignment in extra:
            key, eq, value = assignment.partition("=")
            if not eq or not key:
                raise ParameterError(f"--variants: options after the closure are key=value, "
                                     f"got {assignment!r}")
            options[key] = parse_value(value)
        if model not in MODELS:
            raise ParameterError(f"--variants: model must be one of {', '.join(MODELS)}, "
                                 f"got {model!r}")
        if closure not in MODELS[model]:
            raise ParameterError(f"--variants: closure of {model} must be one of "
                                 f"{', '.join(MODELS[model])}, got {closure!r}")
        out.append((model, closure, options))
    return out


def variant_label(model, closure, options) -> str:
    return ":".join([model, closure] + [f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                                        for k, v in options.items()])


def _mean(values):
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def _sd(values):
    values = [v for v in values if v is not None]
    return float(np.std(values, ddof=1)) if len(values) > 1 else None


def aggregate(runs: list[dict]) -> dict:
    """Mean and sd over runs of every statistic, plus total wall time."""
    keys = ("rate_e", "rate_i", "ssi_e", "gamma_e", "mfe_size_e", "alternation")
    out = {k: _mean([r[k] for r in runs]) for k in keys}
    out.update({k + "_sd": _sd([r[k] for r in runs]) for k in keys})
    out["runs"] = len(runs)
    out["failed"] = sum(r["status"] != "ok" for r in runs)
    out["wall_s"] = float(sum(r["wall_s"] for r in runs))
    return out


def compare_point(net: dict, red: dict) -> dict:
    """Errors of a reduction's aggregate against the network's, and the per-point checks."""
    def err(key):
        if net[key] is None or red[key] is None or net[key] == 0:
            return None
        return 100.0 * (red[key] / net[key] - 1.0)

    out = {"err_e": err("rate_e"), "err_i": err("rate_i")}
    out["rate_ok"] = (out["err_e"] is not None and out["err_i"] is not None
                      and abs(out["err_e"]) <= RATE_MAX and abs(out["err_i"]) <= RATE_MAX)
    if net["ssi_e"] is None or red["ssi_e"] is None:
        out["ssi_ok"] = False
    else:
        tol = max(SSI_ABS, SSI_REL * net["ssi_e"])
        out["ssi_ok"] = (abs(red["ssi_e"] - net["ssi_e"]) <= tol
                         and (net["ssi_e"] < SSI_ASYNC) == (red["ssi_e"] < SSI_ASYNC))
    g = net["gamma_e"]
    # the PSD's maximum in the band of an asynchronous network is noise, not a rhythm
    if (g is None or not GAMMA_BAND[0] <= g <= GAMMA_BAND[1] or net["ssi_e"] is None
            or net["ssi_e"] < SSI_ASYNC):
        out["gamma_ok"] = None  # no gamma peak to match
    else:
        out["gamma_ok"] = red["gamma_e"] is not None and abs(red["gamma_e"] - g) <= GAMMA_TOL
    return out


def period2_window(aggregates: dict) -> tuple[float, float] | None:
    """First and last P^EI of the scan whose mean alternation is ≥ ALTERNATING (None if none
    or if the scan is not complete)."""
    names = [p_ei_point(x) for x in P_EI_GRID]
    if not all(n in aggregates for n in names):
        return None
    inside = [x for x, n in zip(P_EI_GRID, names)
              if aggregates[n]["alternation"] is not None
              and aggregates[n]["alternation"] >= ALTERNATING]
    return (inside[0], inside[-1]) if inside else None


def summary_of(variant_points: dict, network: dict) -> dict:
    """The issue's targets for one variant: met (True) / missed (False) / not measured (None)."""
    checks = list(variant_points.values())
    errs = [abs(c[k]) for c in checks for k in ("err_e", "err_i") if c[k] is not None]
    gam = [c["gamma_ok"] for c in checks if c["gamma_ok"] is not None]
    net_win = period2_window(network)
    red_win = period2_window({n: c["aggregate"] for n, c in variant_points.items()})
    if net_win is None:
        win_ok = None
    else:
        win_ok = red_win is not None and all(abs(a - b) <= WINDOW_TOL + 1e-9
                                             for a, b in zip(net_win, red_win))
    return {
        "points": len(checks),
        "rate_points_ok": sum(c["rate_ok"] for c in checks),
        "max_abs_err": max(errs) if errs else None,
        "mean_abs_err": float(np.mean(errs)) if errs else None,
        "rate_max_ok": bool(errs) and all(c["rate_ok"] for c in checks),
        "rate_mean_ok": bool(errs) and float(np.mean(errs)) <= RATE_MEAN,
        "ssi_points_ok": sum(c["ssi_ok"] for c in checks),
        "ssi_ok": all(c["ssi_ok"] for c in checks),
        "gamma_points": len(gam), "gamma_points_ok": sum(gam),
        "gamma_ok": all(gam) if gam else None,
        "window": list(red_win) if red_win else None,
        "network_window": list(net_win) if net_win else None,
        "window_ok": win_ok,
        "wall_s": float(sum(c["aggregate"]["wall_s"] for c in checks)),
    }


def run_suite(points: dict, variants, seeds, t_end=T_END, jobs=1, cache_path=None,
              log=print) -> dict:
    """Run the network and every variant on ``points``; returns the JSON-able report."""
    from joblib import Parallel, delayed

    start = time.perf_counter()
    cache = {}
    if cache_path is not None and Path(cache_path).exists():
        cache = json.loads(Path(cache_path).read_text())
    tasks, keys = [], []
    for name, params in points.items():
        for seed in seeds:
            key = _cache_key(params, seed, t_end)
            if key not in cache:
                tasks.append((name, params, seed))
                keys.append(key)
    log(f"network: {len(tasks)} runs to do ({len(points) * len(seeds) - len(tasks)} cached)")
    t0 = time.perf_counter()
    done = Parallel(n_jobs=jobs)(delayed(run_one)(p, "network", None, s, t_end)
                                 for _, p, s in tasks)
    net_wall = time.perf_counter() - t0
    for key, res in zip(keys, done):
        cache[key] = res
    if cache_path is not None and tasks:
        from snnreduce.io import atomic_write_text

        atomic_write_text(cache_path, json.dumps(cache))
    network = {name: aggregate([cache[_cache_key(p, s, t_end)] for s in seeds])
               for name, p in points.items()}

    red_tasks = []
    for model, closure, options in variants:
        for name, params in points.items():
            for seed in (seeds if model != "dsode" else seeds[:1]):
                red_tasks.append((model, closure, options, name, params, seed))
    t0 = time.perf_counter()
    red = Parallel(n_jobs=jobs)(delayed(run_one)(p, m, c, s, t_end, o)
                                for m, c, o, _, p, s in red_tasks)
    red_wall = time.perf_counter() - t0
    grouped = {}
    for (model, closure, options, name, _, _), res in zip(red_tasks, red):
        label = variant_label(model, closure, options)
        grouped.setdefault(label, {}).setdefault(name, []).append(res)
    variants_out = {}
    for label, by_point in grouped.items():
        checks = {}
        for name, runs in by_point.items():
            agg = aggregate(runs)
            checks[name] = {"aggregate": agg, **compare_point(network[name], agg)}
        variants_out[label] = {"points": checks, "summary": summary_of(checks, network)}
    wall = time.perf_counter() - start
    return {
        "provenance": provenance(t_end, seeds, jobs, wall, net_wall, red_wall,
                                 network, variants_out),
        "points": {name: {"params": p.to_dict()} for name, p in points.items()},
        "network": network,
        "variants": variants_out,
    }


def provenance(t_end, seeds, jobs, wall, net_wall, red_wall, network, variants) -> dict:
    def git(*args):
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                                  timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return None

    return {
        "command": "python benchmarks/fidelity.py " + " ".join(sys.argv[1:]),
        "commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain")),
        "version": sr.__version__, "t_end_ms": t_end, "discard_ms": DISCARD,
        "seeds": list(seeds), "jobs": jobs, "cpus": os.cpu_count(),
        "load_average_at_end": list(os.getloadavg()),
        "wall_s": wall, "network_wall_s_this_run": net_wall,
        "reductions_wall_s": red_wall,
        # summed wall time of each model's runs (they ran in parallel: not the elapsed time)
        "run_wall_s_per_model": {"network (cached runs included)":
                            float(sum(a["wall_s"] for a in network.values())),
                            **{k: v["summary"]["wall_s"] for k, v in variants.items()}},
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def _f(x, fmt="{:.3g}"):
    return "—" if x is None else fmt.format(x)


def _pm(mean, sd, fmt="{:.3g}"):
    return _f(mean, fmt) + ("" if sd is None else " ± " + _f(sd, "{:.1g}"))


def _mark(ok):
    return "—" if ok is None else ("met" if ok else "**missed**")


def markdown(report: dict) -> str:
    """The tables of docs/validation.md's fidelity section."""
    prov = report["provenance"]
    net = report["network"]
    lines = ["### Targets per variant", "",
             f"The default closure of the dsODE is `{DEFAULT_CLOSURE}`, of the surrogate "
             f"`{SURROGATE_DEFAULT_CLOSURE}` (the same closure without its bin-only parts); "
             "`paper` is the paper's Markov approximation (the default before issue 10).", "",
             "| variant | points with E, I ≤ 5 % | max \\|err\\| | mean \\|err\\| ≤ 3 % "
             "| SSI rule | gamma ±3 Hz | P^EI period-2 window (network "
             + _f((next(iter(report["variants"].values()))["summary"]["network_window"]
                   if report["variants"] else None), "{}") + ") | run time (s) |",
             "|---|---|---|---|---|---|---|---|"]
    for label, v in report["variants"].items():
        s = v["summary"]
        lines.append(
            f"| {label} | {s['rate_points_ok']}/{s['points']} {_mark(s['rate_max_ok'])} "
            f"| {_f(s['max_abs_err'], '{:.1f} %')} "
            f"| {_f(s['mean_abs_err'], '{:.1f} %')} {_mark(s['rate_mean_ok'])} "
            f"| {s['ssi_points_ok']}/{s['points']} {_mark(s['ssi_ok'])} "
            f"| {s['gamma_points_ok']}/{s['gamma_points']} {_mark(s['gamma_ok'])} "
            f"| {_f(s['window'], '{}')} {_mark(s['window_ok'])} | {s['wall_s']:.0f} |")
    labels = list(report["variants"])
    lines += ["", "### E-rate error per point, variants side by side", "",
              "| point | " + " | ".join(labels) + " |", "|---|" + "---|" * len(labels)]
    for name in net:
        cells = []
        for label in labels:
            c = report["variants"][label]["points"].get(name)
            cells.append("—" if c is None else _f(c["err_e"], "{:+.1f}")
                         + ("" if c["rate_ok"] else " ✗"))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "### Network (stepped, reference engine)", "",
              "| point | E (Hz) | I (Hz) | SSI_E | gamma E (Hz) | MFE size E | alternation |",
              "|---|---|---|---|---|---|---|"]
    for name, a in net.items():
        lines.append(f"| {name} | {_pm(a['rate_e'], a['rate_e_sd'])} "
                     f"| {_pm(a['rate_i'], a['rate_i_sd'])} | {_pm(a['ssi_e'], a['ssi_e_sd'])} "
                     f"| {_pm(a['gamma_e'], a['gamma_e_sd'])} "
                     f"| {_pm(a['mfe_size_e'], a['mfe_size_e_sd'])} "
                     f"| {_pm(a['alternation'], a['alternation_sd'], '{:.2f}')} |")
    for label, v in report["variants"].items():
        lines += ["", f"### {label}", "",
                  "| point | err E | err I | SSI_E (net) | gamma E (net) | MFE size E (net) "
                  "| alternation (net) |", "|---|---|---|---|---|---|---|"]
        for name, c in v["points"].items():
            a, n = c["aggregate"], net[name]
            bad = "" if c["rate_ok"] else " ✗"
            lines.append(
                f"| {name} | {_f(c['err_e'], '{:+.1f} %')} | {_f(c['err_i'], '{:+.1f} %')}{bad} "
                f"| {_f(a['ssi_e'])} ({_f(n['ssi_e'])}){'' if c['ssi_ok'] else ' ✗'} "
                f"| {_f(a['gamma_e'], '{:.0f}')} ({_f(n['gamma_e'], '{:.0f}')})"
                f"{' ✗' if c['gamma_ok'] is False else ''} "
                f"| {_f(a['mfe_size_e'], '{:.3f}')} ({_f(n['mfe_size_e'], '{:.3f}')}) "
                f"| {_f(a['alternation'], '{:.2f}')} ({_f(n['alternation'], '{:.2f}')}) |")
    lines += ["", "✗: the point misses its target (rates: E or I beyond 5 %; SSI rule; gamma "
              "±3 Hz where the network is synchronous with a peak in 35-90 Hz). Run time: "
              "summed wall time of the variant's runs (seconds; parallel jobs, shared machine).",
              "", f"_Command: `{prov['command']}`; commit {str(prov['commit'])[:10]}"
              f"{' (dirty)' if prov['dirty'] else ''}, snnreduce {prov['version']}; "
              f"T = {prov['t_end_ms']:g} ms, first {prov['discard_ms']:g} ms dropped, network "
              f"and stochastic variants over seeds {prov['seeds']}, dsODE once; "
              f"{prov['wall_s']:.0f} s wall with {prov['jobs']} jobs on {prov['cpus']} CPUs "
              f"(load average {prov['load_average_at_end'][1]:.1f} at the end: shared "
              f"machine); {prov['date']}._"]
    return "\n".join(lines) + "\n"


def write_markdown(path, text: str) -> None:
    """Replace the text between the fidelity markers of ``path`` (appended with the markers
    if they are absent), atomically."""
    from snnreduce.io import atomic_write_text

    path = Path(path)
    old = path.read_text() if path.exists() else ""
    block = f"{MARK_BEGIN}\n{text}{MARK_END}"
    if MARK_BEGIN in old and MARK_END in old:
        head, _, rest = old.partition(MARK_BEGIN)
        _, _, tail = rest.partition(MARK_END)
        new = head + block + tail
    else:
        new = old.rstrip("\n") + "\n\n" + block + "\n"
    atomic_write_text(path, new)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default=",".join(DEFAULT_VARIANTS),
                        help="comma-separated MODEL:CLOSURE (default: all)")
    parser.add_argument("--points", default=None, help="comma-separated point names")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--t-end", type=float, default=T_END)
    parser.add_argument("--quick", action="store_true",
                        help=f"points {', '.join(QUICK_POINTS)}, 2 seeds, T = 1000 ms")
    parser.add_argument("--json", default=str(ROOT / "docs" / "data" / "fidelity.json"))
    parser.add_argument("--markdown", default=str(ROOT / "docs" / "validation.md"))
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--cache", default=str(HERE / ".fidelity_cache.json"))
    parser.add_argument("--no-cache", action="store_true")
    args = parser.parse_args(argv)
    try:
        variants = parse_variants(args.variants)
        points = suite_points()
        if args.quick:
            points = {n: points[n] for n in QUICK_POINTS}
            args.seeds, args.t_end = min(args.seeds, 2), min(args.t_end, 1000.0)
        if args.points:
            names = [n.strip() for n in args.points.split(",")]
            unknown = [n for n in names if n not in points]
            if unknown:
                raise ParameterError(f"--points: unknown point {unknown[0]!r}; points: "
                                     f"{', '.join(points)}")
            points = {n: points[n] for n in names}
        if args.seeds < 1 or args.jobs < 1 or not args.t_end > DISCARD:
            raise ParameterError(f"--seeds and --jobs must be >= 1 and --t-end > {DISCARD:g}")
    except ParameterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report = run_suite(points, variants, list(range(1, args.seeds + 1)), args.t_end,
                       args.jobs, None if args.no_cache else args.cache)
    text = markdown(report)
    print(text)
    if not args.no_write:
        from snnreduce.io import atomic_write_text

        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(args.json, json.dumps(report, indent=1))
        write_markdown(args.markdown, text)
    print(f"took {report['provenance']['wall_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
