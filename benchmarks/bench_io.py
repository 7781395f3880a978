"""Write time and file size of run files (NetCDF/HDF5) by zlib level: what the default is based on.

Two runs, made once: a 2 s dsODE run of the reference preset with the records ``snnreduce run
--model dsode`` keeps by default (voltage density, pending, refractory), and a 2 s stepped
network run with what ``snnreduce run --model snn`` keeps (spikes and population counts).
Each is written with :func:`snnreduce.io.save_result` at every level (None = uncompressed);
the time is the best of ``--repeats`` writes in this process (so the levels are measured under
the same load) and the load time of the file is reported too.

Run ``python benchmarks/bench_io.py`` (about a minute on 2 cores) or ``--json out.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
if (HERE.parent / "src" / "snnreduce").is_dir():
    sys.path.insert(0, str(HERE.parent / "src"))

import snnreduce  # noqa: E402
from snnreduce.io import save_result  # noqa: E402

LEVELS = (None, 1, 2, 4, 6, 9)


def best_of(repeats, func):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def measure(result, repeats, folder: Path):
    rows = []
    for level in LEVELS:
        path = folder / f"{result.engine}_{level}.nc"
        write = best_of(repeats, lambda: save_result(result, path, compression=level))
        read = best_of(repeats, lambda: snnreduce.load(path))
        rows.append({"level": level, "write_s": write, "read_s": read,
                     "size_mb": path.stat().st_size / 1e6})
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--t-end", type=float, default=2000.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    params = snnreduce.NetworkParams.preset("reference")
    runs = {
        "dsode (default records)": snnreduce.reduce(params, t_end=args.t_end),
        "network (spikes + counts)": snnreduce.simulate(params, "stepped", t_end=args.t_end,
                                                        seed=1),
    }
    table = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, result in runs.items():
            rows = measure(result, args.repeats, Path(folder))
            table[name] = rows
            raw = rows[0]
            print(f"\n{name}, T = {args.t_end:g} ms")
            print(f"{'zlib level':>10s} {'size MB':>9s} {'ratio':>6s} {'write s':>8s} "
                  f"{'x raw':>6s} {'read s':>7s}")
            for row in rows:
                level = "none" if row["level"] is None else str(row["level"])
                print(f"{level:>10s} {row['size_mb']:9.2f} {row['size_mb'] / raw['size_mb']:6.2f} "
                      f"{row['write_s']:8.3f} {row['write_s'] / raw['write_s']:6.2f} "
                      f"{row['read_s']:7.3f}")
    if args.json:
        args.json.write_text(json.dumps({"t_end": args.t_end, "runs": table}, indent=1))


if __name__ == "__main__":
    main()
