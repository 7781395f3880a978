"""Write a Result in formats other tools read: a Neo file (``.pkl``) or CSV tables.

Behind ``snnreduce export FILE --to neo|csv --out PATH``. Neo files are written with
:class:`neo.io.PickleIO`, the one Neo writer that needs no package beyond neo itself (NIX
needs ``nixio``); read them back with ``neo.io.PickleIO(path).read_block()`` — only from a
source you trust, as with any pickle.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._files import atomic_write
from .params import ParameterError
from .result import Result

__all__ = ["export_neo", "export_csv"]

_NEO_SUFFIXES = (".pkl", ".pickle")


def export_neo(result: Result, path: str | Path, *, smooth: float | None = 1.0) -> Path:
    """Write :func:`snnreduce.analysis.neo_export.to_neo_block` of ``result`` to ``path`` (.pkl).

    Rates (Hz, AnalogSignal), the dsODE voltage density when recorded, and the spike trains
    of a network result. Written atomically. Returns the path.
    """
    from .analysis.neo_export import to_neo_block

    path = Path(path)
    if path.suffix.lower() not in _NEO_SUFFIXES:
        raise ParameterError(f"a Neo export is written as a pickle: --out must end in .pkl or "
                             f".pickle, got {str(path)!r} (NIX would need the nixio package)")
    block = to_neo_block(result, smooth)
    from neo.io import PickleIO

    atomic_write(path, lambda tmp: PickleIO(str(tmp)).write_block(block))
    return path


def export_csv(result: Result, out_dir: str | Path, *, smooth: float | None = 1.0) -> list[Path]:
    """Write ``rates.csv`` (and ``spikes.csv`` for a network result) into ``out_dir``.

    ``rates.csv``: one row per step, columns ``time_ms`` (start of the step), ``count_E``,
    ``count_I`` (spikes in the step; expected counts for the deterministic dsODE),
    ``rate_E_hz``, ``rate_I_hz`` (Hz per neuron, smoothed over ``smooth`` ms as in
    :func:`snnreduce.analysis.population_rate`; None or 0: the per-step rate).
    ``spikes.csv``: ``time_ms``, ``neuron`` (global index: E first, then I), ``population``.
    Each file is written atomically. Returns the paths written.
    """
    from .analysis.neo_export import rate_table

    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ParameterError(f"a CSV export goes into a directory: --out {str(out_dir)!r} is a file")
    counts = np.asarray(result.population_counts, dtype=np.float64)
    integer_counts = np.issubdtype(np.asarray(result.population_counts).dtype, np.integer)
    count_format = "%d" if integer_counts else "%.17g"
    table = np.column_stack([result.time, counts, rate_table(result, smooth)])
    written = [out_dir / "rates.csv"]
    _write_table(written[0], "time_ms,count_E,count_I,rate_E_hz,rate_I_hz", table,
                 ["%.10g", count_format, count_format, "%.17g", "%.17g"])
    if result.spike_times is not None:
        neurons = np.asarray(result.spike_neurons, dtype=np.int64)
        lines = [f"{t:.17g},{g},{'E' if g < result.params.n_e else 'I'}"
                 for t, g in zip(np.asarray(result.spike_times, dtype=np.float64), neurons)]
        written.append(out_dir / "spikes.csv")
        atomic_write(written[1], lambda tmp: tmp.write_text(
            "\n".join(["time_ms,neuron,population", *lines]) + "\n"))
    return written


def _write_table(path: Path, header: str, table: np.ndarray, formats: list[str]) -> None:
    atomic_write(path, lambda tmp: np.savetxt(tmp, table, fmt=formats, delimiter=",",
                                              header=header, comments=""))
