"""Each finished image's record, appended to a journal as the image finishes, so that a run killed outright (a
power cut, the out-of-memory killer, ``kill -9``) still leaves what it did to the report of the run that resumes
it. A run that ends, Ctrl-C included, merges its records into ``summary.json`` itself and removes its journal.

One journal per run (``journal-<pid>-<token>.jsonl`` in the report folder), each held under a file lock for the
run's lifetime: ``--shard`` runs writing into one folder keep their own, and a journal whose lock can be taken
belongs to no living run. Its records (all but a last line cut short by the kill) are folded into the next
report as records written before this run's, so an image the resumed run skips keeps its restored record.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
from pathlib import Path
from typing import Any, TextIO

from filelock import FileLock, Timeout

from facerestore.discovery import printable
from facerestore.report.run import record_problem

log = logging.getLogger(__name__)

JOURNAL_PATTERN = "journal-*.jsonl"
_LOCK_SUFFIX = ".lock"


class Journal:
    """This run's journal in ``folder``, made on its first record; ``close`` removes it."""

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / f"journal-{os.getpid()}-{secrets.token_hex(4)}.jsonl"
        # Taken by the thread that writes the first image, released by the run's: not a per-thread lock.
        self._lock = FileLock(str(self.path) + _LOCK_SUFFIX, thread_local=False)
        self._file: TextIO | None = None
        self._broken = False
        self._writing = threading.Lock()  # appended to from the threads that write the images

    def append(self, record: Any) -> None:
        """Add one record (``facerestore.summary.Record``). A journal that cannot be written (a full disk) is
        given up with one warning: it only matters if the run is then killed, and the images come first."""
        with self._writing:
            self._append(record)

    def _append(self, record: Any) -> None:
        if self._broken:
            return
        try:
            if self._file is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._lock.acquire()
                self._file = self.path.open("a", encoding="utf-8", errors="surrogateescape")
            self._file.write(record.to_json() + "\n")
            self._file.flush()  # in the OS's hands: a killed process loses nothing it wrote
        except (OSError, Timeout) as exc:
            self._broken = True
            log.warning("run journal %s: %s; a run killed from here on leaves its images out of the next report",
                        self.path, exc)

    def close(self) -> None:
        """Remove the journal: the run's records are in the summary (or the run wrote none)."""
        if self._file is not None:
            self._file.close()
            self._file = None
            _remove(self.path)
        if self._lock.is_locked:
            self._lock.release()
            _remove(Path(self._lock.lock_file))


def orphaned(folder: Path) -> tuple[list[dict[str, Any]], list[Path]]:
    """The records in the journals of ``folder`` that no living run holds, oldest journal first, and those
    journals (to remove once their records are in the summary)."""
    records: list[dict[str, Any]] = []
    paths: list[Path] = []
    try:
        found = sorted(Path(folder).glob(JOURNAL_PATTERN), key=_mtime)
    except OSError:
        return records, paths
    for path in found:
        lock = FileLock(str(path) + _LOCK_SUFFIX)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            continue  # a run still writing it (another --shard): it will merge its own records
        except OSError:
            continue
        try:
            records.extend(_read(path))
            paths.append(path)
        finally:
            lock.release()
    return records, paths


def remove(paths: list[Path]) -> None:
    for path in paths:
        _remove(path)
        _remove(Path(str(path) + _LOCK_SUFFIX))


def _read(path: Path) -> list[dict[str, Any]]:
    records = []
    try:
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
    except OSError:
        return records
    for number, line in enumerate(text.splitlines(), 1):
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            continue  # the line the kill cut short
        problem = record_problem(record)  # a damaged file: the report must not stop on it
        if problem is None:
            records.append(record)
        else:
            log.warning("%s: line %d left out of the report: %s", printable(str(path)), number, problem)
    return records


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.debug("cannot remove %s: %s", path, exc)
