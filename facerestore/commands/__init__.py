"""One module per subcommand. Command modules import only click (and light project modules) at import
time; the heavy work is imported inside the command function so ``--help`` stays instant."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

from facerestore.errors import (DegradationSpecError, DeviceUnavailableError, FaceRestoreError, ModelError,
                                StdoutError, UsageError)
from facerestore.summary import EXIT_DEVICE, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_TERMINATED, EXIT_USAGE

if TYPE_CHECKING:
    from rich.console import Console

    from facerestore.discovery import Skipped


@contextmanager
def exit_on_error(console: Console) -> Iterator[None]:
    """Turn a project exception that ends the whole command into one stderr line and its exit code, and a
    Ctrl-C into exit code 130 (click's own handling would print "Aborted!" and exit 1, as if a file failed), a
    SIGTERM taken as one (``interrupts.Terminated``) into 143."""
    try:
        yield
    except KeyboardInterrupt as exc:
        raise interrupted(exc, console) from exc
    except DeviceUnavailableError as exc:
        _say(console, exc)
        raise click.exceptions.Exit(EXIT_DEVICE) from exc
    except (UsageError, ModelError, DegradationSpecError) as exc:
        _say(console, exc)
        raise click.exceptions.Exit(EXIT_USAGE) from exc
    except FaceRestoreError as exc:
        _say(console, exc)
        raise click.exceptions.Exit(EXIT_FAILED) from exc


def interrupted(exc: KeyboardInterrupt, console: Console | None = None) -> click.exceptions.Exit:
    """A command ended by a Ctrl-C: "Interrupted" on stderr and the exit to raise, 130 (143 and "Terminated" for
    a SIGTERM taken as one). The one report of it, whether it came during the command's work
    (:func:`exit_on_error`) or around it (``cli.LazyGroup.invoke``: its import, options, console)."""
    from facerestore.interrupts import Terminated

    if console is None:
        from facerestore.console import make_console

        console = make_console()
    terminated = isinstance(exc, Terminated)
    console.print("Terminated" if terminated else "Interrupted", markup=False)
    return click.exceptions.Exit(EXIT_TERMINATED if terminated else EXIT_INTERRUPTED)


def emit(text: str) -> None:
    """``text`` and a newline on stdout, the data channel, flushed. A stdout that cannot take it ends the
    command: its reader gone (``| head``) raises BrokenPipeError (exit 141, quietly: ``cli.LazyGroup.invoke``),
    any other failure (a full disk) StdoutError (one error line, exit 1). stdout is pointed at /dev/null first,
    so Python's last flush at exit does not fail on what is still buffered."""
    try:
        click.echo(text)
    except OSError as exc:
        from facerestore.console import discard_stdout

        discard_stdout()
        if isinstance(exc, BrokenPipeError):
            raise
        raise StdoutError(f"cannot write to stdout: {exc.strerror or exc}") from None


def table_cell(name: str) -> str:
    r"""A name as a cell of a tab-separated table on stdout (``analyze``, ``--dry-run``): on one line whatever it
    holds, and unambiguous: a backslash is doubled before ``printable`` escapes newlines, tabs and bytes that
    are not UTF-8 with one (the cell ``a\\nb.jpg`` is a backslash and an n, ``a\nb.jpg`` a newline)."""
    from facerestore.discovery import printable

    return printable(name.replace("\\", "\\\\"))


def note_skipped(console: Console, skipped: Iterable[Skipped]) -> None:
    """One note per entry a walk left out on purpose (a loop, an output folder): said on stderr, never a failure."""
    from facerestore.discovery import printable

    for notice in skipped:
        console.print(f"note: {printable(str(notice.path))}: {printable(notice.reason)}", markup=False,
                      highlight=False)


def note_unread(console: Console, counts: Mapping[str, int]) -> None:
    """The run's one note on the photo files its walk left alone for their format (``discovery.unread_note``):
    said on stderr, never a failure; nothing where there were none."""
    from facerestore.discovery import unread_note

    note = unread_note(counts)
    if note is not None:
        console.print(f"note: {note}", markup=False, highlight=False)


def require_current_folder() -> None:
    """Refuse to start where the current folder was deleted (a temporary folder cleaned under the shell):
    relative paths, and the default output folders, start from it. Raises UsageError (exit 2)."""
    try:
        os.getcwd()
    except FileNotFoundError:
        raise UsageError("the current folder no longer exists (deleted since the shell entered it): cd to one "
                         "that does") from None


def _say(console: Console, exc: Exception) -> None:
    from rich.text import Text

    from facerestore.discovery import printable

    console.print(Text.assemble(("error", "bold red"), f": {printable(str(exc))}"))
