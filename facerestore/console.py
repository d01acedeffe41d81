"""The one stderr console, the progress bar, and logging onto that console.

stdout carries data only, so everything here writes to stderr. Rich's Progress redirects stdout by
default; it is created with ``redirect_stdout=False`` so ``--json`` lines pass through untouched.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType

from rich.console import Console
from rich.logging import RichHandler
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn,
                           TimeRemainingColumn)
from rich.text import Text

from facerestore.discovery import printable


def make_console() -> Console:
    # A stderr that is not a terminal (a log, a pipe) gets plain lines: no progress bar, colour or 80-column
    # layout, whatever FORCE_COLOR or TTY_COMPATIBLE say (CI sets them for colour, and rich would then draw the
    # bar into the log as a new line at every refresh, all run long).
    stderr = _Stderr()
    return Console(file=stderr, force_terminal=None if stderr.isatty() else False,  # type: ignore[arg-type]
                   highlight=False, soft_wrap=True)


class _Stderr:
    """``sys.stderr`` (whichever it is at each write) for messages that must never end the run.

    When stderr cannot be written (its reader has gone: ``2> >(head -c 1)``, a dead log collector; a closed
    descriptor), the messages are lost, not the work: the descriptor is pointed at /dev/null, so what follows
    (and Python's last flush at exit, which would otherwise turn the exit status into 120) writes nowhere.
    """

    def write(self, text: str) -> int:
        stream = sys.stderr
        if stream is None:
            return len(text)
        try:
            return stream.write(text)
        except (OSError, ValueError):
            _discard(stream)
            return len(text)

    def flush(self) -> None:
        stream = sys.stderr
        if stream is None:
            return
        try:
            stream.flush()
        except (OSError, ValueError):
            _discard(stream)

    def isatty(self) -> bool:
        try:
            return sys.stderr is not None and sys.stderr.isatty()
        except (OSError, ValueError):
            return False

    def fileno(self) -> int:
        if sys.stderr is None:
            raise OSError("stderr is closed")
        return sys.stderr.fileno()

    @property
    def encoding(self) -> str:
        return getattr(sys.stderr, "encoding", None) or "utf-8"


def discard_stdout() -> None:
    """stdout's reader has gone (``| head -1``): what is still buffered, and anything written after, goes to
    /dev/null, so the last flush at exit neither prints "Exception ignored ... BrokenPipeError" nor turns the
    exit status into 120."""
    if sys.stdout is not None:
        _discard(sys.stdout)


def _discard(stream: object) -> None:
    """Point ``stream``'s descriptor at /dev/null, so its buffered text and everything after go nowhere."""
    try:
        fd = stream.fileno()  # type: ignore[attr-defined]
        devnull = os.open(os.devnull, os.O_WRONLY)
    except (OSError, ValueError, AttributeError):
        return  # no descriptor (an in-memory stream in tests): nothing outlives the process
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def setup_logging(console: Console, verbose: bool = False) -> None:
    """Route the ``facerestore`` loggers to the console: warnings by default, debug with ``-v``."""
    logger = logging.getLogger("facerestore")
    for handler in list(logger.handlers):
        if getattr(handler, "_facerestore", False):
            logger.removeHandler(handler)
    handler: logging.Handler
    if console.is_terminal:
        handler = RichHandler(console=console, show_time=False, show_path=verbose, markup=False,
                              rich_tracebacks=verbose)
    else:
        # Logs and CI capture stderr: one plain line per message, never wrapped at 80 columns.
        handler = logging.StreamHandler(console.file)
        handler.setFormatter(_PlainFormatter())
    handler._facerestore = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose else logging.WARNING)
    logger.propagate = False


class _PlainFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = f"{record.levelname.lower()}: {record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


class _MegapixelsPerSecond(ProgressColumn):
    def render(self, task: Task) -> Text:
        elapsed = task.elapsed or 0.0
        mp = task.fields.get("megapixels", 0.0)
        return Text(f"{mp / elapsed:5.2f} MP/s" if elapsed > 0 else "  -- MP/s", style="progress.data.speed")


class RunProgress:
    """Files done/total, MP/s, ETA, what became of the files so far and the current file; a no-op when disabled."""

    def __init__(self, console: Console, total: int, enabled: bool, description: str = "Restoring"):
        self._megapixels = 0.0
        self._progress: Progress | None = None
        if enabled and console.is_terminal:
            self._progress = Progress(
                TextColumn("{task.description}", style="bold"), BarColumn(), MofNCompleteColumn(),
                _MegapixelsPerSecond(), TimeRemainingColumn(), TextColumn("{task.fields[counts]}", style="dim"),
                TextColumn("{task.fields[current]}", markup=False),  # a file name, never markup
                console=console, redirect_stdout=False, redirect_stderr=False, transient=False)
            self._task = self._progress.add_task(description, total=total, current="", counts="",
                                               megapixels=0.0)

    def __enter__(self) -> RunProgress:
        if self._progress:
            self._progress.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._progress:
            self._progress.stop()

    def current(self, name: str) -> None:
        if self._progress:
            self._progress.update(self._task, current=printable(name))

    def advance(self, megapixels: float = 0.0, counts: str | None = None) -> None:
        if self._progress:
            self._megapixels += megapixels
            fields = {"counts": counts} if counts is not None else {}
            self._progress.update(self._task, advance=1, megapixels=self._megapixels, **fields)


@contextmanager
def progress(console: Console, total: int, enabled: bool, description: str = "Restoring") -> Iterator[RunProgress]:
    with RunProgress(console, total, enabled, description) as bar:
        yield bar
