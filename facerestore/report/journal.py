"""Each finished image's record, appended to a journal as soon as its output is on disk (and again with the
metrics of its report files, written after it), so that a run killed outright (a power cut, the out-of-memory
killer, ``kill -9``) still leaves what it did, and which input each output is from, to the run that resumes it.
A run that ends, Ctrl-C included, merges its records into ``summary.json`` itself and removes its journal.

One journal per run (``journal-<pid>-<token>.jsonl`` in the report folder), each held under a file lock for the
run's lifetime: ``--shard`` runs writing into one folder keep their own, and a journal whose lock can be taken
belongs to no living run. Its records (all but a last line cut short by the kill) are folded into the next
report as records written before this run's, so an image the resumed run skips keeps its restored record.

Images written in other processes (``--engine ray``'s workers) go to parts of the run's journal
(``journal-<pid>-<token>.jsonl.part-<pid>-<token>``, one per worker, :class:`JournalPart`), under the run's lock,
which the run takes before its workers start (:meth:`Journal.hold`): a worker's record is on disk as soon as its
image is, whether or not it reached the run before a Ctrl-C, a kill or a lost connection.
"""

from __future__ import annotations

import contextlib
import glob
import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from filelock import FileLock, Timeout

from facerestore.discovery import JOURNAL_PREFIX, printable
from facerestore.report.run import record_key, record_problem

log = logging.getLogger(__name__)

JOURNAL_PATTERN = f"{JOURNAL_PREFIX}*.jsonl"
_PART = ".part-"
_LOCK_SUFFIX = ".lock"
_STOP_SUFFIX = ".stop"  # beside a journal whose run has stopped its workers (JournalPart.writing)


class _Appender:
    """Records appended to one file, made on the first."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: TextIO | None = None
        self._broken = False
        self._writing = threading.Lock()  # appended to from the threads that write the images

    def append(self, record: Any) -> None:
        """Add one record (``facerestore.summary.Record``). A journal that cannot be written (a full disk) is
        given up with one warning: it only matters if the run is then killed, and the images come first."""
        with self._writing:
            if self._broken:
                return
            try:
                if self._file is None:
                    self._open()
                    self._file = self.path.open("a", encoding="utf-8", errors="surrogateescape")
                self._file.write(record.to_json() + "\n")
                self._file.flush()  # in the OS's hands: a killed process loses nothing it wrote
            except (OSError, Timeout) as exc:
                self._give_up(exc)

    def _open(self) -> None:
        """Ready the file's place before its first record (the run's journal takes its lock here)."""

    def _give_up(self, exc: Exception) -> None:
        """Stop journalling after a failure, saying once what that costs."""
        self._broken = True
        log.warning("run journal %s: %s; a run killed from here on leaves its images out of the next report",
                    self.path, exc)


class Journal(_Appender):
    """This run's journal in ``folder``, made on its first record; ``close`` removes it."""

    def __init__(self, folder: Path) -> None:
        super().__init__(Path(folder) / f"{JOURNAL_PREFIX}{os.getpid()}-{secrets.token_hex(4)}.jsonl")
        # Taken by the thread that writes the first image, released by the run's: not a per-thread lock.
        self._lock = FileLock(str(self.path) + _LOCK_SUFFIX, thread_local=False)
        self._made: list[Path] = []  # the folders it made, deepest first: removed with it if left empty

    def _open(self) -> None:
        if self._lock.is_locked:
            return
        folder = self.path.parent
        while not folder.exists() and folder != folder.parent:
            self._made.append(folder)
            folder = folder.parent
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock.acquire()

    def hold(self) -> Path | None:
        """Take the journal's lock now, before other processes append parts to it (:class:`JournalPart`);
        return the path they take, or None (said in a warning) where the journal cannot be held."""
        with self._writing:
            if self._broken:
                return None
            try:
                self._open()
            except (OSError, Timeout) as exc:
                self._give_up(exc)
                return None
        return self.path

    def stop_parts(self, timeout: float) -> None:
        """Stop the workers appending parts from writing images, once those writing one have finished it and
        journalled it (waiting ``timeout`` at most): the parts then hold every image the workers wrote."""
        try:
            _stop_path(self.path).touch()
        except OSError as exc:
            log.warning("run journal %s: cannot stop its workers (%s): an image they write from now on has no "
                        "record", self.path, exc)
            return
        deadline = time.monotonic() + timeout
        for part in _parts(self.path):
            lock = FileLock(str(part) + _LOCK_SUFFIX)
            try:
                lock.acquire(timeout=max(0.0, deadline - time.monotonic()))
            except Timeout:
                log.warning("run journal %s: a worker still writing after %.0f s; its image may have no record",
                            part, timeout)
            except OSError:
                continue
            else:
                lock.release()

    def records(self) -> list[dict[str, Any]]:
        """This run's records so far: its own, then its parts' (written by other processes), each in order."""
        records = _read(self.path)
        for part in _parts(self.path):
            records.extend(_read(part))
        return records

    def close(self) -> None:
        """Remove the journal and its parts: the run's records are in the summary (or the run wrote none)."""
        with self._writing:
            if self._file is not None:
                self._file.close()
                self._file = None
            if self._lock.is_locked:
                remove(_parts(self.path))  # with their locks
                _remove(self.path)
                _remove(_stop_path(self.path))
                self._lock.release()
                _remove(Path(self._lock.lock_file))
            for folder in self._made:  # a run that wrote nothing (its workers could not start) leaves no folder
                try:
                    folder.rmdir()
                except OSError:
                    break


class JournalPart(_Appender):
    """A worker process's part of a run's journal (``--engine ray``): under the run's lock (:meth:`Journal.hold`),
    folded into reports with the run's own records and removed with them. Made at once, empty, so that the run
    knows every part that may still grow (:meth:`Journal.stop_parts`)."""

    def __init__(self, journal: Path) -> None:
        super().__init__(Path(f"{journal}{_PART}{os.getpid()}-{secrets.token_hex(4)}"))
        self._stop = _stop_path(journal)
        self._lock = FileLock(str(self.path) + _LOCK_SUFFIX, thread_local=False)
        with self._writing:
            try:
                self._file = self.path.open("a", encoding="utf-8", errors="surrogateescape")
            except OSError as exc:
                self._give_up(exc)

    @contextlib.contextmanager
    def writing(self) -> Iterator[bool]:
        """Held while one image is written and journalled; gives False once the run has stopped its workers
        (its journal is read then: an image written now would have no record)."""
        try:
            self._lock.acquire()
        except (OSError, Timeout):  # no lock to be had: the run cannot wait for this image
            yield not self._stop.exists()
            return
        try:
            yield not self._stop.exists()
        finally:
            self._lock.release()


def _stop_path(journal: Path) -> Path:
    return Path(f"{journal}{_STOP_SUFFIX}")


def _parts(journal: Path) -> list[Path]:
    try:
        found = journal.parent.glob(glob.escape(journal.name) + _PART + "*")
        return sorted((p for p in found if not p.name.endswith(_LOCK_SUFFIX)), key=_mtime)
    except OSError:
        return []


def orphaned(folder: Path) -> tuple[list[dict[str, Any]], list[Path]]:
    """The records in the journals of ``folder`` that no living run holds (with their parts), oldest journal
    first, and those journals and parts (to remove once their records are in the summary)."""
    records: list[dict[str, Any]] = []
    paths: list[Path] = []
    try:
        # A run whose workers alone wrote records has parts but no journal of its own.
        found = set(Path(folder).glob(JOURNAL_PATTERN))
        found.update(p.with_name(p.name.split(_PART)[0]) for p in Path(folder).glob(JOURNAL_PATTERN + _PART + "*"))
    except OSError:
        return records, paths
    for path in sorted(found, key=lambda p: min([_mtime(q) for q in (p, *_parts(p)) if q.exists()] or [0.0])):
        lock = FileLock(str(path) + _LOCK_SUFFIX)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            continue  # a run still writing it (another --shard): it will merge its own records
        except OSError:
            continue
        try:
            parts = _parts(path)
            for journal in (path, *parts):
                records.extend(_read(journal))
            paths.extend((path, *parts))
        finally:
            lock.release()
    return records, paths


def remove(paths: list[Path]) -> None:
    """Remove journals and their parts, with their locks and stop marks (a journal's own lock: its run's)."""
    for path in paths:
        _remove(path)
        _remove(Path(str(path) + _LOCK_SUFFIX))
        if _PART not in path.name:
            _remove(_stop_path(path))


def _read(path: Path) -> list[dict[str, Any]]:
    """The file's records, one per image: an image's later line (its record with the report's metrics) replaces
    its earlier one (journalled as soon as its output was on disk), in that one's place."""
    records: dict[str, dict[str, Any]] = {}
    try:
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
    except OSError:
        return []
    for number, line in enumerate(text.splitlines(), 1):
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            continue  # the line the kill cut short
        problem = record_problem(record)  # a damaged file: the report must not stop on it
        if problem is None:
            records[record_key(record)] = record
        else:
            log.warning("%s: line %d left out of the report: %s", printable(str(path)), number, problem)
    return list(records.values())


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
