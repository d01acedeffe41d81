"""Find the images to restore and decide where each result goes.

Inputs are any mix of files and folders, plus an optional ``--files-from`` list. Folders are walked in sorted
order, skipping hidden entries and OS junk, following symbolic links while never walking the same real folder
twice nor the output folder of another facerestore run (unless named as the input); a walk picks files by
suffix (``IMAGE_SUFFIXES``), and decoding later decides by content. Photo files in formats facerestore does not
read (``unread_formats``: HEIC, camera raw, JPEG XL...) are counted per suffix (``Plan.unread``), for one note per
run. Nothing here decodes a file, and special files (FIFOs, sockets, devices) are only ``stat``-ed and
come back as :class:`Rejected` entries, so the run can name them with a reason.

Output mapping (``plan_jobs``):

* A folder input ``X`` is mirrored under ``X-restored/`` (a sibling, never inside ``X``), or under ``-o DIR``.
  When ``-o DIR`` is shared by several inputs, each folder gets its own ``DIR/<folder name>/``.
* A file input ``dir/a.jpg`` goes to ``dir-restored/a.jpg``, exactly where ``enhance dir`` would put it, or to
  ``DIR/a.jpg`` with ``-o DIR``. Files named on the command line are taken as they are: no suffix, hidden or
  include/exclude filtering (the content decides whether they are images). One whose suffix names a photo
  format facerestore does not read (``unread_formats``) and whose first bytes are no image it reads (or, for
  camera raw, a TIFF's: the raw's container, whose first image is a preview) is rejected as such (one whose name
  hides such a format fails as that format when it is decoded: ``imageio``).
* ``--files-from`` entries are relative to the current folder, which then plays the part of the input folder:
  ``find . -name '*.jpg' -print0 | facerestore enhance --files-from - -0`` gives the same outputs as
  ``facerestore enhance .``. Entries outside the current folder map like file inputs. Listed entries are
  filtered like walked ones, since such lists usually come from a broad ``find``.
* ``fmt`` changes the suffix (``.png .jpg .webp .tif``); GIF inputs become PNG (restored photos do not survive
  a 256-colour palette), and so do AVIF inputs (no output format of their own). Two inputs that would share an
  output are never both written: the first in order wins, the others are rejected with a reason. Only then are
  files read, their first bytes (the magic number of a regular file): one that is not an image claims no
  output, so ``b.gif`` holding text cannot keep the real ``b.png`` from ``b.png``'s output.
* An output path taken by a folder (or a special file) is no finished output to skip: that input is rejected.
  So is one holding another input's output, where an earlier run's record says so (``written_from``: a run
  that switched ``--format`` maps ``a.png`` to the ``a.png`` an earlier run wrote from ``a.jpg``).
"""

from __future__ import annotations

import errno
import filecmp
import os
import stat
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import BinaryIO, TextIO

from facerestore import unread_formats
from facerestore.errors import ImageError, UnreadFormatError, UsageError
from facerestore.formats import output_format

# What a folder walk picks (the content decides later): JPEG's and TIFF's other usual suffixes included.
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".jpe", ".jfif", ".jfi", ".jif", ".png", ".webp", ".bmp", ".tif",
                            ".tiff", ".gif", ".avif"})
# Read, but with no output format of their own: their outputs are PNGs (a GIF's palette would not hold a restored
# photo; AVIF is not offered as an output).
_OUTPUT_AS_PNG = frozenset({".gif", ".avif"})
REPORT_DIR_NAME = "_facerestore_report"
# What a run's report leaves (report.run and report.journal write them; a walk tells another run's output folder
# by them): the summary, whose first key is SUMMARY_KEY, and in the report folder the summary's lock and the
# journals of runs still going or killed.
SUMMARY_JSON = "summary.json"
SUMMARY_KEY = "facerestore_summary"
SUMMARY_LOCK = ".summary.lock"
JOURNAL_PREFIX = "journal-"
# Names never restored nor walked: macOS/Windows/Synology droppings and our own report folder.
JUNK_NAMES = frozenset({".DS_Store", "Thumbs.db", "desktop.ini", "@eaDir", "__MACOSX", REPORT_DIR_NAME})
OUTPUT_SUFFIX = "-restored"


@dataclass(frozen=True)
class Job:
    src: Path          # the input file as given/found (symlinks not resolved in the name)
    rel: Path          # path relative to its input root (mirrored under the output folder)
    dst: Path          # output file path (suffix follows --format, else the input's)


@dataclass(frozen=True)
class Rejected:
    """An input that cannot be restored, with a one-line reason (the run counts it as failed)."""

    path: Path
    reason: str


@dataclass(frozen=True)
class Found:
    """A regular file to restore: ``rel`` is its path under ``root`` (what the output mirrors).

    ``explicit`` marks a file named on the command line; ``listed`` one from ``--files-from``.
    """

    path: Path
    root: Path
    rel: Path
    explicit: bool = False
    listed: bool = False
    inode: tuple[int, int] | None = None  # (st_dev, st_ino) of the file the path leads to


@dataclass(frozen=True)
class Skipped(Rejected):
    """An entry left out on purpose, not a failure (a folder reached again through a symbolic link)."""


@dataclass(frozen=True)
class Unread:
    """A walked or listed photo file in a format facerestore does not read (``unread_formats``): counted for the
    run's one note, neither restored nor failed."""

    path: Path


@dataclass
class Plan:
    """What a run will do: jobs in order, inputs rejected up front, folders skipped on purpose (loops), and how
    many photo files of each suffix were left alone for their format (``unread_note`` says them)."""

    jobs: list[Job] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    unread: dict[str, int] = field(default_factory=dict)


_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: str) -> str:
    """``text`` as one terminal-safe line: control characters and undecodable name bytes escaped.

    A file name may hold a newline (one error would span two lines), an escape sequence (it would drive the
    terminal) or bytes that are not UTF-8 (``os.fsdecode`` keeps them as surrogates, shown here as ``\\xNN``).
    """
    if text.isprintable():
        return text
    out = []
    for ch in text:
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:
            out.append(f"\\x{code - 0xDC00:02x}")
        elif ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif not ch.isprintable():
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
        else:
            out.append(ch)
    return "".join(out)


def is_junk(name: str) -> bool:
    """Hidden entries (including AppleDouble ``._*``) and OS/tool droppings."""
    return name.startswith(".") or name in JUNK_NAMES


def has_image_suffix(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES


def unread_note(counts: Mapping[str, int]) -> str | None:
    """The one line that says which photo files a run left alone for their format (``Plan.unread``), or None."""
    if not counts:
        return None
    total = sum(counts.values())
    each = ", ".join(f"{count} {suffix}" for suffix, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    return (f"{total} file{'s' if total != 1 else ''} in formats facerestore does not read "
            f"{'were' if total != 1 else 'was'} left alone: {each}")


def output_suffix(src_suffix: str, fmt: str | None) -> str:
    """The output file's suffix for an input suffix and an optional ``--format``."""
    if fmt is not None:
        return output_format(fmt).suffix
    if src_suffix.lower() in _OUTPUT_AS_PNG:
        return ".png"
    return src_suffix


def restored_sibling(folder: Path) -> Path:
    """``photos`` -> ``photos-restored`` beside it (the default output folder); relative stays relative."""
    folder = Path(os.path.normpath(folder))
    if folder.name in ("", ".", ".."):
        folder = Path(os.path.abspath(folder))
    if folder.parent == folder:
        raise UsageError(f"cannot put the output beside {folder}: give an output folder with -o")
    return folder.with_name(folder.name + OUTPUT_SUFFIX)


def _stat_reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _special_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "special file"


def _is_dir(entry: os.DirEntry[str]) -> bool:
    """``entry.is_dir()`` (following links), False where it cannot tell: a link that loops raises ELOOP there."""
    try:
        return entry.is_dir()
    except OSError:
        return False  # neither an image nor a folder to walk; one with an image suffix is classified below


def _path_max() -> int:
    try:
        return int(os.pathconf("/", "PC_PATH_MAX"))
    except (OSError, ValueError, AttributeError):
        return 4096


def _classify(path: Path) -> tuple[os.stat_result | None, Rejected | None]:
    """``stat`` following links; a dangling link or an unreadable entry becomes a Rejected."""
    try:
        return os.stat(path), None
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # before the link check below, which would only say "symbolic link"
            return None, Rejected(path, "symbolic link loop")
        if exc.errno == errno.ENAMETOOLONG:  # a very deep tree: no path call reaches it, so none can read it
            return None, Rejected(path, f"path too long ({len(os.fsencode(str(path)))} bytes, over the "
                                        f"system's limit of {_path_max()}): not read")
        try:
            if stat.S_ISLNK(os.lstat(path).st_mode):
                return None, Rejected(path, f"broken symbolic link (target {os.readlink(path)!r} is missing)"
                                      if exc.errno == errno.ENOENT else f"symbolic link: {_stat_reason(exc)}")
        except OSError:
            pass
        if exc.errno == errno.ENOENT:
            return None, Rejected(path, "no such file or folder")
        return None, Rejected(path, _stat_reason(exc))


class _Filters:
    def __init__(self, include: Sequence[str], exclude: Sequence[str]) -> None:
        self.include = tuple(include)
        self.exclude = tuple(exclude)

    @staticmethod
    def _matches(patterns: tuple[str, ...], rel: Path) -> bool:
        posix = rel.as_posix()
        return any(fnmatchcase(posix, p) or fnmatchcase(rel.name, p) for p in patterns)

    def excluded(self, rel: Path) -> bool:
        return self._matches(self.exclude, rel)

    def wanted_file(self, rel: Path) -> bool:
        return has_image_suffix(rel.name) and self.wanted_name(rel)

    def wanted_name(self, rel: Path) -> bool:
        """Wanted whatever its suffix: a file left alone for its format is counted only where it would be."""
        if self.excluded(rel):
            return False
        return not self.include or self._matches(self.include, rel)

    def unread(self, rel: Path) -> bool:
        """A photo in a format facerestore does not read, which the filters would otherwise have picked."""
        return unread_formats.by_suffix(rel.name) is not None and self.wanted_name(rel)


class _Avoid:
    """Output folders a walk must not enter, however it reaches them (a link inside the input tree pointing at
    the output folder would otherwise have every rerun restore the outputs again, or refuse to run)."""

    def __init__(self, folders: Iterable[Path] = ()) -> None:
        self.reals = tuple(dict.fromkeys(os.path.realpath(f) for f in folders))
        self.keys: set[tuple[int, int]] = set()
        for real in self.reals:
            try:
                st = os.stat(real)
            except OSError:
                continue  # not made yet: only a link can lead there, and links are checked by their target
            self.keys.add((st.st_dev, st.st_ino))

    def holds(self, path: Path) -> bool:
        """``path`` (a link: its target, existing or not) lies in an output folder."""
        if not self.reals:
            return False
        real = os.path.realpath(path)
        return any(_inside(real, out) for out in self.reals)


_NO_AVOID = _Avoid()
_OUTPUT_NOTE = "leads into the output folder: outputs are never restored again"

# What marks a folder as the report folder of a facerestore run: its summary, or in its report folder the summary
# lock every run that wrote a summary leaves or the journal of a run killed before it wrote one. A folder merely
# named like the report folder is none of them; a run with --no-report leaves neither.
_SUMMARY_MARK = f'"{SUMMARY_KEY}"'.encode()
_OTHER_RUN_NOTE = ("the output folder of another facerestore run: not restored again "
                   "(name it as an input to restore it)")


def _has_run_marks(folder: str, names: set[str] | None = None) -> bool:
    """Whether a facerestore run wrote its report in ``folder`` (``names``: its entries, where listed)."""
    if names is None or SUMMARY_JSON in names:
        try:
            with open(os.path.join(folder, SUMMARY_JSON), "rb") as fh:
                if _SUMMARY_MARK in fh.read(64):
                    return True
        except OSError:
            pass
    if names is not None and REPORT_DIR_NAME not in names:
        return False
    report = os.path.join(folder, REPORT_DIR_NAME)
    if os.path.isfile(os.path.join(report, SUMMARY_LOCK)):
        return True
    try:
        with os.scandir(report) as entries:
            return any(entry.name.startswith(JOURNAL_PREFIX) for entry in entries)
    except OSError:
        return False


def _output_roots(folder: str, names: set[str] | None = None) -> tuple[str, ...]:
    """The output folders of the run whose report is in ``folder``: ``folder`` itself as a rule; none where no
    run reported there.

    A run over several input folders with no ``-o`` (``enhance a b``) writes its report in the folder above
    their outputs ``a-restored``, ``b-restored``, beside the inputs ``a``, ``b``: that folder is no output
    folder, and the report's own folders, which mirror the outputs' paths, name the ones that are."""
    if not _has_run_marks(folder, names):
        return ()
    mirrored = []
    try:
        with os.scandir(os.path.join(folder, REPORT_DIR_NAME)) as entries:
            for entry in entries:
                stem = entry.name[:-len(OUTPUT_SUFFIX)]
                if entry.name.endswith(OUTPUT_SUFFIX) and stem and _is_real_dir(entry) \
                        and os.path.isdir(os.path.join(folder, stem)):
                    mirrored.append(os.path.join(folder, entry.name))
    except OSError:
        pass
    return tuple(sorted(mirrored)) if mirrored else (folder,)


class _OtherRuns:
    """Output folders of other facerestore runs, which a walk leaves out (their outputs would be restored again
    into this run's tree) unless the user named them, or a folder inside them, as the input."""

    def __init__(self, avoid: _Avoid) -> None:
        self.avoid = avoid  # this run's own output folders: said otherwise
        self._roots: dict[str, tuple[str, ...]] = {}  # a folder: the output folders its marks name
        self._real: dict[str, str] = {}

    def roots(self, folder: str, names: Iterable[str] | None = None) -> tuple[str, ...]:
        """:func:`_output_roots` of ``folder`` (resolved, or as walked where ``names`` are its entries)."""
        if folder not in self._roots:
            self._roots[folder] = _output_roots(folder, set(names) if names is not None else None)
        return self._roots[folder]

    def holding(self, real: str, start: str) -> str | None:
        """The output folder of another run that holds ``real`` (a resolved path), as the marks of ``real`` or
        a folder above it say, unless it also holds ``start`` (the folder walked, or the current folder for
        listed files) or is this run's own."""
        folder = real
        while True:
            found = next((root for root in self.roots(folder) if _inside(real, root)), None)
            if found is not None:
                break
            parent = os.path.dirname(folder)
            if parent == folder:
                return None
            folder = parent
        if _inside(start, found) or any(_inside(found, out) for out in self.avoid.reals):
            return None
        return found

    def holding_file(self, path: Path, start: str) -> str | None:
        """:meth:`holding` for a file (its folder resolved once for all the files listed in it)."""
        if os.path.islink(path):
            return self.holding(os.path.dirname(os.path.realpath(path)), start)
        folder = os.path.dirname(os.path.abspath(path))
        if folder not in self._real:
            self._real[folder] = os.path.realpath(folder)
        return self.holding(self._real[folder], start)


def _is_link(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_symlink()
    except OSError:
        return False


def _is_file(entry: os.DirEntry[str]) -> bool:
    """``entry.is_file()`` (following links: a stat only for a link), False where it cannot tell."""
    try:
        return entry.is_file()
    except OSError:
        return False


def _is_real_dir(entry: os.DirEntry[str]) -> bool:
    """A folder itself (not a link to one), from the cached d_type: no stat, which may be what failed."""
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


def _walk(start: Path, root: Path, filters: _Filters, recursive: bool, listed: bool,
          seen: set[tuple[int, int]], avoid: _Avoid = _NO_AVOID,
          others: _OtherRuns | None = None) -> Iterator[Found | Rejected | Unread]:
    """Depth-first walk of ``start`` in sorted name order; ``rel`` paths are taken relative to ``root``.

    Folders are entered once each: not again through a link (to a folder of the tree, or to one that holds
    the tree, which would be a loop, ``/`` included), never an output folder in ``avoid``, and not the output
    folder of another facerestore run (``others``), a folder in it or a file in it reached through a link,
    unless ``start`` lies in it.
    """
    others = others if others is not None else _OtherRuns(avoid)
    # An explicit stack (not recursion) so a very deep tree cannot exhaust Python's recursion limit.
    stack: list[tuple[Iterator[os.DirEntry[str]], Path]] = []  # (entries, their folder's rel)
    try:
        st = os.stat(start)
        seen.add((st.st_dev, st.st_ino))
        with os.scandir(start) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as exc:
        yield Rejected(start, f"cannot read folder: {_stat_reason(exc)}")
        return
    stack.append((iter(entries), Path(os.path.relpath(start, root))))
    real_start = os.path.realpath(start)
    while stack:
        entries_left, rel_dir = stack[-1]
        entry = next(entries_left, None)
        if entry is None:
            stack.pop()
            continue
        if is_junk(entry.name):
            continue
        if not has_image_suffix(entry.name) and not _is_dir(entry):
            # Sidecars, videos...: no stat needed (is_dir() uses the cached d_type). A photo in a format we do not
            # read is counted where the filters would have picked it, if it is a file.
            if filters.unread(rel_dir / entry.name) and _is_file(entry):
                yield Unread(Path(entry.path))
            continue
        path = Path(entry.path)
        rel = rel_dir / entry.name
        st, problem = _classify(path)
        if problem is not None:
            if _is_link(entry) and avoid.holds(path):  # a link to an output folder not made yet
                yield Skipped(path, _OUTPUT_NOTE)
            elif has_image_suffix(entry.name) or _is_real_dir(entry):
                # A dangling `notes.txt` link is not our business; a folder that cannot be reached (a path
                # over the system's limit, deep in a tree) would otherwise leave all it holds out unsaid.
                yield problem
            continue
        assert st is not None
        if stat.S_ISDIR(st.st_mode):
            if not recursive or filters.excluded(rel):
                continue
            key = (st.st_dev, st.st_ino)
            if key in avoid.keys:
                yield Skipped(path, "the output folder: outputs are never restored again")
                continue
            if _is_link(entry):
                real = os.path.realpath(path)
                if _inside(real, real_start):
                    # Reached anyway at its real place, under its real name: walking it here would repeat it.
                    yield Skipped(path, "symbolic link to a folder inside the same tree: walked at its real place")
                    continue
                if _inside(real_start, real):  # `up -> ..`, `root -> /`: the whole disk, this tree again in it
                    yield Skipped(path, f"symbolic link loop: it leads to {real}, which holds the folder walked")
                    continue
                if any(_inside(real, out) for out in avoid.reals):
                    yield Skipped(path, _OUTPUT_NOTE)
                    continue
                other = others.holding(real, real_start)
                if other is not None:
                    yield Skipped(path, _OTHER_RUN_NOTE if other == real else
                                  f"leads into {other}, {_OTHER_RUN_NOTE}")
                    continue
            if key in seen:
                yield Skipped(path, "folder already walked (reached again through a symbolic link)")
                continue
            try:
                with os.scandir(path) as it:
                    children = sorted(it, key=lambda e: e.name)
            except OSError as exc:
                seen.add(key)
                yield Rejected(path, f"cannot read folder: {_stat_reason(exc)}")
                continue
            if not _is_link(entry):
                # Its marks (never this run's own output folder: `avoid` said so above), or those of the folder
                # above it in the walk, naming it.
                if str(path) in others.roots(str(path), (c.name for c in children)) or \
                        str(path) in others.roots(str(path.parent)):
                    yield Skipped(path, _OTHER_RUN_NOTE)
                    continue
            seen.add(key)
            stack.append((iter(children), rel))
            continue
        if not filters.wanted_file(rel):
            continue
        if not stat.S_ISREG(st.st_mode):
            yield Rejected(path, f"not a regular file ({_special_kind(st.st_mode)})")
            continue
        if _is_link(entry) and avoid.holds(path):
            yield Skipped(path, _OUTPUT_NOTE)
            continue
        if _is_link(entry):
            other = others.holding(os.path.dirname(os.path.realpath(path)), real_start)
            if other is not None:
                yield Skipped(path, f"leads into {other}, {_OTHER_RUN_NOTE}")
                continue
        yield Found(path, root, rel, listed=listed, inode=(st.st_dev, st.st_ino))


def read_files_from(stream: TextIO | BinaryIO, null_separated: bool = False) -> list[Path]:
    """Paths listed one per line (or NUL-separated), bytes that are not UTF-8 kept via ``os.fsdecode``."""
    raw = getattr(stream, "buffer", stream).read()
    data = raw if isinstance(raw, bytes) else os.fsencode(raw)
    if not null_separated and b"\0" in data:  # no path holds a NUL: a `find -print0` list read by lines
        raise UsageError("the --files-from list holds NUL bytes: a NUL-separated list (find -print0) needs -0")
    if null_separated:
        items = data.split(b"\0")
    else:
        items = [line[:-1] if line.endswith(b"\r") else line for line in data.split(b"\n")]
    return [Path(os.fsdecode(item)) for item in items if item]


def _clean_listed(path: Path, cwd: Path) -> tuple[Path, Path]:
    """(root, rel) for a ``--files-from`` entry: under the current folder when it lies there."""
    absolute = Path(os.path.normpath(os.path.join(cwd, path)))
    try:
        rel = absolute.relative_to(cwd)
    except ValueError:
        return absolute.parent, Path(absolute.name)
    return cwd, rel


def path_key(path: str | os.PathLike[str]) -> str:
    """One key for every spelling of a path as given (``photos/a.jpg``, ``./photos//a.jpg``), links not followed."""
    return os.path.normpath(os.path.abspath(path))


def iter_inputs(inputs: Sequence[Path], *, recursive: bool = True, include: Sequence[str] = (),
                exclude: Sequence[str] = (), files_from: TextIO | BinaryIO | None = None,
                null_separated: bool = False, avoid: Sequence[Path] = (),
                unique: bool = False, unread: Counter[str] | None = None) -> Iterator[Found | Rejected]:
    """Every candidate file, in order: command-line inputs first (as given), then the ``--files-from`` list.

    Yields :class:`Found` for regular files to restore and :class:`Rejected` for inputs that cannot be
    (missing, dangling link, special file, unreadable folder), and :class:`Skipped` for folders reached again
    through a symbolic link loop (never walked twice), for links into the folders in ``avoid`` (the output
    folders: walks never enter them), and for the output folders of other facerestore runs that a walk reaches
    or that hold listed files (one for all the files listed in each), unless named as an input. A path rejected
    or skipped is said once, however often it is reached (``enhance photos/pipe.jpg photos``); a file found
    twice is yielded each time (its outputs may differ), or once with ``unique`` (``analyze``: one row per
    file).

    Photo files walked or listed in a format facerestore does not read (``unread_formats``) are not yielded: each
    is counted once in ``unread``, by its lower-case suffix, for the run's one note.
    """
    said: set[str] = set()
    counted: set[str] = set()
    for item in _iter_inputs(inputs, recursive, include, exclude, files_from, null_separated, _Avoid(avoid)):
        if isinstance(item, Unread):
            key = path_key(item.path)
            if unread is not None and key not in counted:  # `enhance photos photos/2019` counts each once
                counted.add(key)
                unread[os.path.splitext(item.path.name)[1].lower()] += 1
            continue
        if unique or not isinstance(item, Found):
            key = path_key(item.path)
            if key in said:
                continue
            said.add(key)
        yield item


def _iter_inputs(inputs: Sequence[Path], recursive: bool, include: Sequence[str], exclude: Sequence[str],
                 files_from: TextIO | BinaryIO | None, null_separated: bool,
                 avoid: _Avoid) -> Iterator[Found | Rejected | Unread]:
    filters = _Filters(include, exclude)
    others = _OtherRuns(avoid)
    # Read before any input is walked: a list that cannot be read is a usage error before anything is done.
    listing = read_files_from(files_from, null_separated) if files_from is not None else None
    for given in inputs:
        given = Path(given)
        st, problem = _classify(given)
        if problem is not None:
            yield problem
        elif stat.S_ISDIR(st.st_mode):  # named: walked even where another run's output folder holds it
            yield from _walk(given, given, filters, recursive, False, set(), avoid, others)
        elif stat.S_ISREG(st.st_mode):
            reason = _unread_named(given)
            yield Found(given, given.parent, Path(given.name), explicit=True, inode=(st.st_dev, st.st_ino)) \
                if reason is None else Rejected(given, reason)
        else:
            yield Rejected(given, f"not a regular file ({_special_kind(st.st_mode)})")
    if listing is None:
        return
    cwd = Path(os.getcwd())
    # Listed entries are left out of other runs' output folders as walked ones are (a broad `find` lists them),
    # unless the current folder, which the list is relative to, lies in one.
    real_cwd = os.path.realpath(cwd)
    left_out: dict[str, int] = {}  # another run's output folder: the listed files in it
    for listed in listing:
        root, rel = _clean_listed(listed, cwd)
        if any(is_junk(part) for part in rel.parts):
            continue
        st, problem = _classify(listed)
        if problem is not None:
            if has_image_suffix(listed.name):
                yield problem
        elif stat.S_ISDIR(st.st_mode):
            if filters.excluded(rel):
                continue
            other = others.holding(os.path.realpath(listed), real_cwd)
            if other is not None:
                yield Skipped(listed, _OTHER_RUN_NOTE if other == os.path.realpath(listed)
                              else f"lies in {other}, {_OTHER_RUN_NOTE}")
                continue
            yield from _walk(listed, root, filters, recursive, True, set(), avoid, others)
        elif not filters.wanted_file(rel):
            if stat.S_ISREG(st.st_mode) and filters.unread(rel):
                yield Unread(listed)
            continue
        elif stat.S_ISREG(st.st_mode):
            other = others.holding_file(listed, real_cwd)
            if other is not None:
                left_out[other] = left_out.get(other, 0) + 1
                continue
            yield Found(listed, root, rel, listed=True, inode=(st.st_dev, st.st_ino))
        else:
            yield Rejected(listed, f"not a regular file ({_special_kind(st.st_mode)})")
    for folder, count in left_out.items():  # said once per folder: a broad `find` lists every output in it
        yield Skipped(Path(folder), f"the output folder of another facerestore run: {count} listed file(s) in it "
                                    "not restored again (name it as an input to restore them)")


def _unread_named(path: Path) -> str | None:
    """Why a file named on the command line is not read: its suffix names a photo format facerestore does not read
    and its first bytes are no image it reads (a JPEG called ``x.heic`` is still restored), or, for camera raw,
    are a TIFF's: most raw formats (NEF, CR2, ARW, DNG, PEF...) are TIFF containers whose first image is a small
    preview, not the photo. None otherwise, also where the file cannot be opened or is empty: decoding names
    that."""
    family = unread_formats.by_suffix(path.name)
    if family is None:
        return None
    from facerestore.imageio import NOT_AN_IMAGE, sniff_format  # Pillow and numpy: only for such a file

    reason = unread_formats.not_read(family)
    try:
        kind = sniff_format(path)
    except UnreadFormatError as exc:  # its first bytes name the format (a JPEG XL called .heic): they say it best
        return str(exc)
    except ImageError as exc:
        return reason if str(exc) == NOT_AN_IMAGE else None
    return reason if family == unread_formats.RAW and kind == "TIFF" else None


def _output_root(found: Found, output: Path | None, per_root: bool) -> Path:
    if output is None:
        return restored_sibling(found.root)
    if per_root and not found.explicit and not found.listed:
        return output / Path(os.path.abspath(found.root)).name
    return output


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _check_output_roots(folders: Iterable[Path], out_roots: Iterable[Path]) -> None:
    real_inputs = [(f, os.path.realpath(f)) for f in folders]
    for out in out_roots:
        real_out = os.path.realpath(out)
        for folder, real_in in real_inputs:
            if _inside(real_out, real_in):
                raise UsageError(f"the output folder {out} is inside the input folder {folder}; "
                                 "choose another with -o")


def _check_inputs_outside(inputs: Iterable[Path], output: Path) -> None:
    """No input may lie in the output folder: outputs would land among the originals (an original at an output's
    name taken for that output, and replaced under --overwrite; with several input folders, ``-o`` their parent
    puts each one's outputs in the folder itself), and the report would mark their folder as an output folder,
    which later walks leave out."""
    real_out = os.path.realpath(output)
    for path in inputs:
        if not os.path.lexists(path):
            continue
        # Where it is named, and for a folder where it leads too: a link to a folder elsewhere named inside the
        # output folder (photos/link -> ../scans, -o photos) puts the outputs there, through the link, among the
        # originals it leads to.
        places = [os.path.realpath(os.path.dirname(os.path.abspath(path)))]
        if os.path.isdir(path):
            places.append(os.path.realpath(path))
        if any(_inside(place, real_out) for place in places):
            raise UsageError(f"the input {path} is inside the output folder {output}; choose another with -o")


def plan_jobs(inputs: Sequence[Path], output: Path | None = None, fmt: str | None = None, *,
              recursive: bool = True, include: Sequence[str] = (), exclude: Sequence[str] = (),
              files_from: TextIO | BinaryIO | None = None, null_separated: bool = False,
              written_from: Callable[[Path], str | None] | None = None) -> Plan:
    """Walk the inputs and map each image to its output path (rules in the module docstring).

    ``written_from`` (a run that skips existing outputs): the input an earlier run wrote an existing output from,
    as its record names it, or None. An output is then never taken for another input's: of two inputs claiming
    it, the one it was written from keeps it (and is skipped), and an input whose output path holds another
    input's output is rejected, naming both, instead of skipped as if that output were its own.

    Raises :class:`UsageError` when an output folder would lie inside an input folder or hold an input, when two
    input folders sharing ``-o`` have the same name, or for an unknown ``fmt``. Per-file problems go to
    ``Plan.rejected``.
    """
    output_suffix(".png", fmt)  # validate fmt before walking anything
    inputs = list(dict.fromkeys(Path(p) for p in inputs))  # the same argument twice is walked once
    folder_inputs = [p for p in inputs if os.path.isdir(p)]
    per_root = output is not None and (len(inputs) > 1 or files_from is not None)
    if per_root:
        names: dict[str, Path] = {}
        for folder in folder_inputs:
            name = Path(os.path.abspath(folder)).name
            if name in names:
                raise UsageError(f"input folders {names[name]} and {folder} would share {output / name}; "
                                 "run them separately or rename one")
            names[name] = folder
    roots = [output] if output is not None else [restored_sibling(f) for f in folder_inputs]
    _check_output_roots(folder_inputs, roots)
    if output is not None:
        _check_inputs_outside(inputs, output)
    avoid = list(roots)
    if output is None and files_from is not None and Path.cwd().parent != Path.cwd():
        # Where listed files of the current folder go: never walked, but no reason to refuse the run, since no
        # listed file need lie there.
        avoid.append(restored_sibling(Path.cwd()))

    plan = Plan()
    cwd = os.getcwd()
    by_dst: dict[str, tuple[Found, int]] = {}  # output key -> the input claiming it, its index in jobs
    jobs: list[Job | None] = []  # None: a claim given up to a real image (see _not_an_image)
    src_inodes: set[tuple[int, int] | None] = set()
    out_roots: dict[tuple[Path, bool], Path] = {}  # restored_sibling() per root is not free: once each
    out_real = os.path.realpath(output) if output is not None else None
    listed_outputs = 0
    unread: Counter[str] = Counter()
    for item in iter_inputs(inputs, recursive=recursive, include=include, exclude=exclude,
                            files_from=files_from, null_separated=null_separated, avoid=avoid, unread=unread):
        if isinstance(item, Rejected):
            (plan.skipped if isinstance(item, Skipped) else plan.rejected).append(item)
            continue
        if item.listed and out_real is not None and _inside(os.path.realpath(item.path), out_real):
            listed_outputs += 1  # a broad `find` also lists earlier outputs: never restore those again
            continue
        stem, suffix = os.path.splitext(item.rel.name)
        rel = item.rel.with_name(stem + output_suffix(suffix, fmt))
        root_key = (item.root, item.explicit or item.listed)
        if root_key not in out_roots:
            out_roots[root_key] = _output_root(item, output, per_root)
            if output is None and (item.explicit or item.listed):
                # A named file's output folder is its own folder's sibling, which may lie in an input folder
                # (`enhance photos/2019/a.jpg photos`: photos/2019-restored/), as a named folder's may.
                _check_output_roots(folder_inputs, [out_roots[root_key]])
        dst = out_roots[root_key] / rel
        key = os.path.normcase(os.path.normpath(os.path.join(cwd, dst)))
        if key in by_dst:
            first, index = by_dst[key]
            if first.inode == item.inode:  # the same file reached twice is simply planned once
                continue
            if _written_from(dst, item, written_from) is True:
                # An earlier run wrote it from this one (under another --format, the first did not map there).
                plan.rejected.append(Rejected(first.path, _taken(dst, item.path)))
                jobs[index] = None
                by_dst[key] = (item, len(jobs))
                src_inodes.add(item.inode)
                jobs.append(Job(item.path, item.rel, dst))
                continue
            # Rare, so only here are files read: a file that is no image must not cost a real one its output.
            reason = _not_an_image(item.path)
            if reason is not None:
                plan.rejected.append(Rejected(item.path, reason))
                continue
            reason = _not_an_image(first.path)
            if reason is None:
                plan.rejected.append(Rejected(item.path, f"output {dst} is already the output of {first.path}"))
                continue
            plan.rejected.append(Rejected(first.path, reason))
            jobs[index] = None
        by_dst[key] = (item, len(jobs))
        src_inodes.add(item.inode)
        jobs.append(Job(item.path, item.rel, dst))
    for job in jobs:
        if job is None:
            continue
        try:
            st = os.stat(job.dst)  # almost always missing: one cheap failing call
        except OSError:
            plan.jobs.append(job)
            continue
        if (st.st_dev, st.st_ino) in src_inodes:
            raise UsageError(f"the output {job.dst} would overwrite an input file; choose another output folder")
        if not stat.S_ISREG(st.st_mode):  # else it would be skipped as done, though no image is there
            kind = "a folder" if stat.S_ISDIR(st.st_mode) else f"a {_special_kind(st.st_mode)}"
            plan.rejected.append(Rejected(job.src, f"output {job.dst} is {kind}, not an image file"))
            continue
        owner = written_from(job.dst) if written_from is not None else None
        if owner is not None and _same_file(owner, job.src) is False:
            # Else it would be skipped as done, its record naming another input's output as its own.
            plan.rejected.append(Rejected(job.src, _taken(job.dst, Path(owner))))
            continue
        plan.jobs.append(job)
    if listed_outputs:  # said once: `-o .` would otherwise leave every listed file out without a word
        plan.skipped.append(Skipped(output, f"{listed_outputs} listed file(s) inside this output folder left out "
                                            "(outputs are never restored again)"))
    plan.unread = dict(unread)
    return plan


def _taken(dst: Path, owner: Path) -> str:
    return f"output {dst} is already the output of {owner}, written by an earlier run (--overwrite replaces it)"


def _written_from(dst: Path, item: Found, written_from: Callable[[Path], str | None] | None) -> bool | None:
    """Whether an earlier run wrote ``dst`` from ``item``'s file (None: no record of it, or no output there)."""
    if written_from is None or not os.path.isfile(dst):
        return None
    owner = written_from(dst)
    return None if owner is None else _same_file(owner, item.path)


def _same_file(recorded: str, path: Path) -> bool | None:
    """Whether the input a record names is ``path``'s file, or a copy of it byte for byte (a folder copied and run
    again into the same output: its outputs were made from these very bytes); None where it cannot tell (the
    recorded path leads nowhere from here: a file since removed, or a relative path written from another
    folder)."""
    if path_key(recorded) == path_key(path):
        return True
    try:
        return os.path.samefile(recorded, path) or filecmp.cmp(recorded, path, shallow=False)
    except OSError:
        return None


def _not_an_image(path: Path) -> str | None:
    """Why ``path`` is no image we can read (decoded whole: a truncated JPEG has a JPEG's magic number), or None.
    Only for the rare output collision, where it decides which of two files gets the name."""
    from facerestore.imageio import read_image  # Pillow and numpy: not for every plan

    try:
        read_image(path)
    except ImageError as exc:
        return str(exc)
    return None
