"""The sweep journal: an append-only record of finished runs, so a killed sweep resumes."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

from .._version import __version__
from ..params import ParameterError

__all__ = ["Journal", "SweepError", "check_resumable", "JOURNAL_FORMAT"]

JOURNAL_FORMAT = "snnreduce-sweep-journal/1"


class SweepError(ParameterError):
    """A sweep cannot start: e.g. its output holds a different or concurrently running sweep."""


class Journal:
    """Append-only JSON-lines file ``<out>.journal``: a header, then one line per finished run.

    Only the parent process writes it, one ``write`` + ``flush`` per line, so a killed sweep
    leaves at most a truncated last line, which :meth:`open` cuts off. An exclusive
    ``flock`` keeps two sweeps from writing the same journal.
    """

    def __init__(self, path: Path, handle):
        self.path = path
        self.handle = handle

    @classmethod
    def open(cls, path: Path, manifest: dict, resume: bool) -> tuple["Journal", dict]:
        if path.exists():
            if not resume:
                raise SweepError(
                    f"{path} holds an unfinished sweep; pass resume=True (CLI: --resume) to "
                    f"continue it, or delete {path} to start over")
            handle = open(path, "r+b")
            try:
                cls._lock(handle, path)
                header, records, good_end = cls._read(handle)
                if header is not None:
                    check_resumable(header, manifest, path)
            except BaseException:
                handle.close()
                raise
            # cut a line torn by a kill; a torn header means nothing was saved yet
            handle.seek(good_end)
            handle.truncate()
            if header is not None:
                return cls(path, handle), records
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                handle = open(path, "x+b")
            except FileExistsError:  # created since the check above
                raise SweepError(f"another sweep is writing {path}; wait for it or use another out") from None
            try:
                cls._lock(handle, path)
            except BaseException:
                handle.close()
                raise
        line = json.dumps({"format": JOURNAL_FORMAT, "version": __version__, "spec": manifest})
        handle.write(line.encode() + b"\n")
        handle.flush()
        return cls(path, handle), {}

    @staticmethod
    def _lock(handle, path):
        try:
            import fcntl
        except ImportError:  # not POSIX: no protection against concurrent sweeps
            return
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise SweepError(f"another sweep is writing {path}; wait for it or use another out") from None

    @staticmethod
    def _read(handle):
        handle.seek(0)
        data = handle.read()
        header, records, good_end, pos = None, {}, 0, 0
        while True:
            end = data.find(b"\n", pos)
            if end < 0:  # a last line without newline was cut short by a kill
                break
            try:
                entry = json.loads(data[pos:end])
            except ValueError:
                entry = None
            if header is None:
                if not isinstance(entry, dict) or entry.get("format") != JOURNAL_FORMAT:
                    return None, {}, 0
                header = entry
            elif isinstance(entry, dict) and "key" in entry:
                index, model, label = entry["key"]
                records.setdefault((index, model, label), entry["record"])
            pos = good_end = end + 1
        return header, records, good_end

    def append(self, key, record) -> None:
        line = json.dumps({"key": list(key), "record": record})
        self.handle.write(line.encode() + b"\n")
        self.handle.flush()

    def close(self) -> None:
        if not self.handle.closed:
            self.handle.flush()
            os.fsync(self.handle.fileno())
            self.handle.close()

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
        self.handle.close()


def check_resumable(header: dict, manifest: dict, where) -> None:
    saved = header.get("spec", {})
    differ = [k for k in manifest if saved.get(k) != manifest[k]]
    if differ:
        details = "; ".join(f"{k}: saved {_short(saved.get(k))}, now {_short(manifest[k])}"
                            for k in differ)
        raise SweepError(f"cannot resume {where}: the sweep there differs ({details}); "
                         f"use another out, or delete it to start over")
    if header.get("version") not in (None, __version__):
        warnings.warn(f"resuming a sweep started with snnreduce {header.get('version')} "
                      f"under {__version__}", RuntimeWarning, stacklevel=4)


def _short(value, limit=120) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."
