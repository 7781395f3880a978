"""Check the figures README.md states for the reference network against a fresh comparison.

README.md says, after its first command (``snnreduce compare --preset reference --seeds 5``):
the dsODE is within B % of the network's E and I rates (stated errors for E and I), within G Hz
of its gamma peak (stated dsODE and network peaks), and reproduces the period-2 alternation of
MFE sizes. This script reads those numbers from README.md itself, runs the network (seeds
``--first-seed`` .. ``--first-seed + --seeds - 1``) and the dsODE on the reference preset for
2 s, and checks each figure within a tolerance taken from the spread over seeds:

* the network means of a stated figure came from n seeds; a fresh n-seed mean differs from
  it by a standard error ``sqrt(2) * sd / sqrt(n)`` (two independent means; ``sd`` from the
  fresh seeds); the tolerance is 3 of those plus half a unit of the README's last digit. The
  dsODE is deterministic and contributes no spread. With the README's own seeds (0 .. 4, the
  default) the figures must agree up to that rounding;
* gamma peaks are quantised to the 2 Hz frequency resolution of the spectrum, so the seed
  spread of a peak is taken as at least that of a uniform 2 Hz rounding error (2 / sqrt(12));
* "within B %" must hold for the fresh relative errors up to the same tolerance;
* period-2: in every run the successive E event sizes alternate large/small far more often than
  a sequence without order does. In a sequence of n independent, identically distributed sizes
  the number of sign flips of successive differences (turning points) has mean 2 (n - 2) / 3
  and variance (16 n - 29) / 90; the fraction of flips must exceed that mean by 5 standard
  deviations (about 0.86 for the ~120 events of a 2 s run; a clean period-2 gives 1).

Run ``python benchmarks/check_readme.py`` (network 5 x 2 s + dsODE: ~20-40 s on 2 shared cores)
or ``--report report/`` to check the output of the README's command instead of running again.
Exit status 0 when every figure holds, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if (ROOT / "src" / "snnreduce").is_dir():
    sys.path.insert(0, str(ROOT / "src"))

import numpy as np  # noqa: E402

#: The README sentence this script checks; its numbers are the figures.
CLAIM = re.compile(
    r"within (?P<bound>[\d.]+) % of the network's E and I rates\s+\((?P<err_e>[−+-]?[\d.]+) %,\s*"
    r"(?P<err_i>[−+-]?[\d.]+) %\) and (?P<gap>[\d.]+) Hz of its gamma peak\s+\((?P<dsode_gamma>[\d.]+)"
    r" vs (?P<net_gamma>[\d.]+) Hz\)")
GAMMA_RESOLUTION_HZ = 2.0
#: Standard deviations above the unordered-sequence mean required of the alternation.
ALTERNATION_SIGMAS = 5.0


@dataclass(frozen=True)
class Claim:
    """The README's figures: bound and errors in %, gamma values in Hz."""

    bound: float
    err_e: float
    err_i: float
    gap: float
    dsode_gamma: float
    net_gamma: float
    digits: dict  # figure -> half a unit of its last stated digit


def parse_readme(text: str) -> Claim:
    """The figures of the README sentence (``ValueError`` if the sentence is not there)."""
    match = CLAIM.search(" ".join(text.split()))
    if match is None:
        raise ValueError("README.md no longer states the reference figures in the form this "
                         "script checks; update CLAIM in benchmarks/check_readme.py")
    raw = {k: v.replace("−", "-") for k, v in match.groupdict().items()}
    half = {k: 0.5 * 10.0 ** -(len(v.split(".")[1]) if "." in v else 0) for k, v in raw.items()}
    return Claim(**{k: float(v) for k, v in raw.items()}, digits=half)


def alternation(sizes) -> tuple[float, float]:
    """Fraction of sign flips of successive size differences (1 for a clean period-2), and the
    least fraction that counts as period-2 for this many events (see the module docstring)."""
    n = len(sizes)
    if n < 4:
        return 0.0, 1.0
    steps = np.sign(np.diff(np.asarray(sizes, dtype=float)))
    flips = float(np.mean(steps[1:] * steps[:-1] < 0))
    mean, sd = 2.0 * (n - 2) / 3.0, math.sqrt((16.0 * n - 29.0) / 90.0)
    return flips, (mean + ALTERNATION_SIGMAS * sd) / (n - 2)


def check(claim: Claim, stats: dict, alternations: dict) -> list[tuple[str, float, float, float, bool]]:
    """Rows ``(figure, stated, fresh, tolerance, ok)``.

    ``stats`` is :meth:`snnreduce.compare.Comparison.statistics` (or report.json): network
    ``snn`` with mean, sd and n_runs over seeds, ``dsode`` with one run. ``alternations`` maps
    a run label to :func:`alternation` (fraction, least fraction) of its E event sizes.
    """
    net, red = stats["models"]["snn"], stats["models"]["dsode"]
    n = net["n_runs"]
    rows = []

    def spread(key, pop, floor=0.0):
        sd = (net["sd"] or {}).get(key, {}).get(pop) or 0.0
        return math.sqrt(2.0) * max(sd, floor) / math.sqrt(n)

    errors = {}
    for pop, stated in (("E", claim.err_e), ("I", claim.err_i)):
        mean, value = net["mean"]["rate_hz"][pop], red["mean"]["rate_hz"][pop]
        fresh = 100.0 * (value / mean - 1.0)
        tol = 3.0 * 100.0 * value / mean**2 * spread("rate_hz", pop) + claim.digits[f"err_{pop.lower()}"]
        errors[pop] = (fresh, tol)
        rows.append((f"dsODE rate error {pop} (%)", stated, fresh, tol, abs(fresh - stated) <= tol))
    for pop, (fresh, tol) in errors.items():
        rows.append((f"|rate error {pop}| within (%)", claim.bound, abs(fresh), tol,
                     abs(fresh) <= claim.bound + tol))
    floor = GAMMA_RESOLUTION_HZ / math.sqrt(12.0)
    net_gamma = net["mean"]["gamma_peak_hz"]["E"]
    tol_net = 3.0 * spread("gamma_peak_hz", "E", floor)
    rows.append(("network gamma peak E (Hz)", claim.net_gamma, net_gamma,
                 tol_net + claim.digits["net_gamma"], abs(net_gamma - claim.net_gamma)
                 <= tol_net + claim.digits["net_gamma"]))
    red_gamma = red["mean"]["gamma_peak_hz"]["E"]
    rows.append(("dsODE gamma peak E (Hz)", claim.dsode_gamma, red_gamma,
                 claim.digits["dsode_gamma"], abs(red_gamma - claim.dsode_gamma)
                 <= claim.digits["dsode_gamma"]))
    gap = abs(net_gamma - red_gamma)
    tol_gap = tol_net + claim.digits["gap"]
    rows.append(("gamma gap (Hz)", claim.gap, gap, tol_gap, abs(gap - claim.gap) <= tol_gap))
    for label, (fraction, least) in alternations.items():
        rows.append((f"period-2 alternation, {label}", least, fraction, 0.0, fraction >= least))
    return rows


def fresh_comparison(first_seed: int, n_seeds: int, n_jobs):
    from snnreduce import NetworkParams
    from snnreduce.compare import compare

    comparison = compare(NetworkParams.preset("reference"), t_end=2000.0, models=("snn", "dsode"),
                         seeds=list(range(first_seed, first_seed + n_seeds)), n_jobs=n_jobs,
                         progress=False)
    return comparison.statistics(), comparison.results


def saved_comparison(folder: Path):
    import snnreduce

    payload = json.loads((folder / "report.json").read_text())
    results = {model: [snnreduce.load(folder / name) for name in payload["files"][model]]
               for model in ("snn", "dsode")}
    return payload, results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md")
    parser.add_argument("--report", type=Path, default=None,
                        help="a folder written by `snnreduce compare` (instead of a fresh run)")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=None)
    args = parser.parse_args(argv)

    from snnreduce.analysis import mfe

    claim = parse_readme(args.readme.read_text())
    if args.report is not None:
        stats, results = saved_comparison(args.report)
    else:
        stats, results = fresh_comparison(args.first_seed, args.seeds, args.jobs)
    alternations = {f"{model} seed {r.seed}" if r.seed is not None else model:
                    alternation(mfe(r, "E").relative_sizes)
                    for model in ("snn", "dsode") for r in results[model]}
    rows = check(claim, stats, alternations)
    print(f"{'figure':34s} {'README':>8s} {'fresh':>8s} {'tol':>6s}")
    for name, stated, fresh, tol, ok in rows:
        print(f"{name:34s} {stated:8.2f} {fresh:8.2f} {tol:6.2f}  {'ok' if ok else 'FAILS'}")
    failed = [r[0] for r in rows if not r[4]]
    print("all README figures hold" if not failed else f"{len(failed)} figure(s) fail: {failed}")
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())
