"""Write files so that readers see the old content or the new one, never half of it.

Every file facerestore (and ``export/``) writes goes to a fresh temporary beside its destination and is renamed
over it: a run killed mid-write leaves the previous file intact, and two writers of the same file never share
a temporary. Temporaries are hidden, named after the destination, their process id and a random token, and
end in ``.tmp``, so a later run can tell the leftovers of killed processes from files still being written.
"""

from __future__ import annotations

import csv
import io
import json
import os
import secrets
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, BinaryIO, Union

# Text is written as UTF-8 without newline translation; undecodable bytes of file names (which os.fsdecode
# keeps as lone surrogates) are written back as the bytes they were, rather than failing the whole file.
Content = Union[bytes, str, Callable[[BinaryIO], None]]

_TEMP_ATTEMPTS = 16
# The longest file name most file systems take (bytes): a temporary of a long name keeps only its start.
_NAME_MAX = 255


def temp_path_for(dst: Path) -> Path:
    """A fresh temporary name beside ``dst``: hidden, ends in ``.tmp`` (so discovery and users can spot it)."""
    tail = f".{os.getpid()}.{secrets.token_hex(4)}.tmp"
    name = os.fsencode(dst.name)[:_NAME_MAX - 1 - len(tail)]
    return dst.with_name(f".{os.fsdecode(name)}{tail}")


def _create_temp(dst: Path) -> tuple[int, Path]:
    # O_EXCL: a name another writer already holds is never shared, a new token is drawn instead. Created with
    # 0o666 (less the umask), not mkstemp's 0o600: the result is an ordinary file for its other readers.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    attempts_left = _TEMP_ATTEMPTS
    while True:
        tmp = temp_path_for(dst)
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            attempts_left -= 1
            if not attempts_left:
                raise


class _PythonWrites:
    """The temporary as a file object without a file descriptor. Pillow's encoders write straight to a file's
    descriptor where it has one, and take a short write (a nearly full disk) for a whole one: the image would be
    cut short without an error. Through Python's writer a short write is retried, and the disk's ENOSPC raised."""

    def __init__(self, fh: BinaryIO) -> None:
        self._fh = fh

    def fileno(self) -> int:
        raise io.UnsupportedOperation("fileno")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fh, name)


def write_atomic(dst: str | os.PathLike[str], content: Content, *, fsync: bool = False,
                 mtime: float | None = None) -> None:
    """Write ``content`` (bytes, text, or a function that writes into the open binary file) to ``dst``.

    A function gets the file without its descriptor (``fileno()`` raises ``io.UnsupportedOperation``): all it
    writes goes through Python's writer, which raises on a full disk where a write straight to the descriptor may
    be cut short unseen (:class:`_PythonWrites`).

    The parent folder is created when missing. ``fsync`` flushes the data to the disk before the rename (for
    files whose loss after a power cut would cost more than the wait); ``mtime`` sets the file's modification
    time. Whatever fails (the writer, the disk, a Ctrl-C), the temporary is removed and the exception
    propagates, an OS error naming ``dst`` (never the temporary); ``dst`` then still holds its previous content.
    """
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    _clean_folder_once(dst.parent)
    try:
        fd, tmp = _create_temp(dst)
    except OSError as exc:
        if exc.errno is None:
            raise
        raise _naming(exc, dst) from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            if callable(content):
                content(_PythonWrites(fh))  # type: ignore[arg-type]
            else:
                fh.write(content.encode("utf-8", "surrogateescape") if isinstance(content, str) else content)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        if mtime is not None:
            os.utime(tmp, (mtime, mtime))
        os.replace(tmp, dst)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError) and exc.errno is not None and tmp.name in (_name(exc.filename),
                                                                                _name(exc.filename2)):
            raise _naming(exc, dst) from exc
        raise


def _name(filename: object) -> str | None:
    return os.path.basename(os.fsdecode(filename)) if isinstance(filename, (str, bytes, os.PathLike)) else None


def _naming(exc: OSError, dst: Path) -> OSError:
    """``exc`` naming ``dst``, not the temporary it was about: that name is gone, and means nothing to the user
    (``[Errno 21] Is a directory: '.summary.json.4242.0a1b2c3d.tmp' -> 'summary.json'``). Same class (OSError
    picks it by errno), same errno and reason."""
    return OSError(exc.errno, exc.strerror, os.fspath(dst))


def write_json(dst: str | os.PathLike[str], document: Any, *, indent: int | None = 1, sort_keys: bool = False,
               fsync: bool = False) -> None:
    """``document`` as UTF-8 JSON with a final newline.

    NaN and infinities are refused (JSON has neither): callers turn them into what their readers expect first
    (``facerestore.summary.json_number``). Undecodable file-name bytes become ``\\udcXX`` escapes, which
    ``json.loads`` turns back into the same string.
    """
    text = json.dumps(document, indent=indent, sort_keys=sort_keys, ensure_ascii=False, allow_nan=False)
    write_atomic(dst, (text + "\n").encode("utf-8", "backslashreplace"), fsync=fsync)


def write_csv(dst: str | os.PathLike[str], header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """A CSV file: the header row, then ``rows`` (``None`` cells written empty)."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(["" if cell is None else cell for cell in row] for row in rows)
    write_atomic(dst, buffer.getvalue())


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists but belongs to someone else
        return True
    return True


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Delete the temporaries left in ``folder`` by processes that were killed (their process is gone).

    Only names shaped like :func:`temp_path_for`'s are touched. Returns what was removed.
    """
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        name = entry.name
        if not (name.startswith(".") and name.endswith(".tmp")):
            continue
        parts = name[:-4].rsplit(".", 2)  # ".{dst name}", pid, token
        if len(parts) != 3 or not parts[1].isdigit() or len(parts[2]) != 8:
            continue
        pid = int(parts[1])
        if pid == os.getpid() or _pid_alive(pid):
            continue
        try:
            os.unlink(entry.path)
            removed.append(Path(entry.path))
        except OSError:
            pass
    return removed


_cleaned_folders: set[str] = set()
_cleaned_lock = threading.Lock()


def _clean_folder_once(folder: Path) -> None:
    """A killed run (SIGKILL, power cut) cannot clean up: the next write into each folder does, once."""
    key = os.path.abspath(folder)
    with _cleaned_lock:
        if key in _cleaned_folders:
            return
        _cleaned_folders.add(key)
    remove_stale_temporaries(folder)
