"""``facerestore analyze PATHS...``: how damaged each image is (JPEG history, banding, pixelation), without a model.

Finds images exactly as ``enhance`` does and decodes them with the same reader. stdout gets one row per image
(a tab-separated table with a header, left out when there is no row), or with ``--json`` one JSON object per
image; files that cannot be read get one line each on stderr.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

from facerestore.commands import EXIT_FAILED, EXIT_USAGE, emit, exit_on_error, note_skipped, note_unread, table_cell
from facerestore.discovery import printable
from facerestore.options import FileList

if TYPE_CHECKING:
    from rich.console import Console

    from facerestore.damage.analysis import Damage

COLUMNS = ("jpeg_quality", "jpeg_quality_source", "double_compression", "subsampling", "blockiness",
           "effective_levels", "pixelation", "level", "kind", "webp_index", "graphic", "cost_quality")


@click.command(short_help="Measure each image's damage (JPEG quality, banding, pixelation); no model runs.")
@click.argument("inputs", nargs=-1, type=click.Path(path_type=Path))
@click.option("--recursive/--no-recursive", default=True, show_default=True, help="Walk sub-folders.")
@click.option("--files-from", type=FileList("rb"), default=None, metavar="FILE",
              help="Read input paths from FILE, one per line ('-' = stdin).")
@click.option("-0", "--null", "null_separated", is_flag=True,
              help="--files-from entries are NUL-separated (find -print0).")
@click.option("--json", "json_lines", is_flag=True, help="One JSON object per image: input, damage.")
@click.option("--max-pixels", type=click.IntRange(min=1), default=None, metavar="N",
              help="Refuse images with more than N pixels (decompression-bomb guard).")
@click.pass_context
def analyze(ctx: click.Context, inputs: tuple[Path, ...], recursive: bool, files_from: IO[bytes] | None,
            null_separated: bool, json_lines: bool, max_pixels: int | None) -> None:
    """Print the damage of every image in INPUTS (files and folders).

    \b
    Columns: jpeg_quality is the IJG quality (1-100) that counts, from the file's tables or read from
    the pixels (jpeg_quality_source); "-" where no JPEG history is found. double_compression: the pixels
    were compressed harder before the last save. effective_levels: intensities in use per channel
    (256 clean, N after posterizing to N). pixelation: size of uniform blocks in px. level: the damage
    level, 0 clean .. 1 as damaged as training goes. webp_index: a lossy WebP's luma quantiser (0 finest
    .. 127), from its header. graphic: text, line art, a chart or a screenshot rather than a photo (more of
    its steps between neighbouring pixels are sharp edges than a photo's are), which auto restores only from
    heavy JPEG damage. cost_quality: the quality whose damage jpeg_quality did to this content, on the training
    faces' scale (a soft photo loses less at 75 than a detailed one; never below jpeg_quality, at most 95),
    which the level follows.

    \b
    Exit codes: 0 all analysed, 1 some files failed, 2 usage error (or none of INPUTS exists),
    141 stdout closed before the end (| head).
    """
    if not inputs and files_from is None:
        raise click.UsageError("give at least one file or folder, or --files-from FILE")
    if null_separated and files_from is None:
        raise click.UsageError("-0/--null only applies to --files-from")
    from facerestore.console import make_console, setup_logging

    console = make_console()
    setup_logging(console)
    with exit_on_error(console):
        code = run_analyze(list(inputs), recursive, files_from, null_separated, json_lines, max_pixels, console)
    ctx.exit(code)


def run_analyze(inputs: list[Path], recursive: bool, files_from: IO[bytes] | None, null_separated: bool,
                json_lines: bool, max_pixels: int | None, console: Console) -> int:
    """Analyse every image found; return the exit code."""
    from collections import Counter

    from facerestore.damage.analysis import analyze as analyze_image
    from facerestore.discovery import Found, Skipped, iter_inputs
    from facerestore.errors import FaceRestoreError
    from facerestore.imageio import DEFAULT_MAX_PIXELS, read_image

    limit = max_pixels if max_pixels is not None else DEFAULT_MAX_PIXELS
    missing = [p for p in inputs if not p.exists() and not p.is_symlink()]
    if inputs and len(missing) == len(inputs) and files_from is None:
        console.print(f"error: no such file or folder: {', '.join(printable(str(p)) for p in missing)}",
                      markup=False, highlight=False)
        return EXIT_USAGE
    failed = analysed = 0
    unread: Counter[str] = Counter()
    # Each file once, however often it is named (`a.jpg a.jpg`, `photos photos/sub`).
    for item in iter_inputs(inputs, recursive=recursive, files_from=files_from, null_separated=null_separated,
                            unique=True, unread=unread):
        if isinstance(item, Skipped):  # a loop, another run's output folder: said, as enhance says them
            note_skipped(console, [item])
            continue
        if not isinstance(item, Found):
            failed += 1
            _error_line(console, str(item.path), item.reason)
            continue
        try:
            damage = analyze_image(read_image(item.path, limit))
        except FaceRestoreError as exc:
            failed += 1
            _error_line(console, str(item.path), str(exc))
            continue
        if not analysed and not json_lines:
            emit("\t".join(("input",) + COLUMNS))  # the header heads rows: none without them
        analysed += 1
        emit(_json_line(item.path, damage) if json_lines else _row(item.path, damage))
    note_unread(console, unread)  # once the walk is done: rows stream as files are found
    if not analysed and not failed:
        # As enhance: an empty folder is nothing to do, not a mistake (exit 2 is for inputs that do not exist).
        console.print("no images found in the given inputs", markup=False, highlight=False)
    return EXIT_FAILED if failed else 0


def _json_line(path: Path, damage: Damage) -> str:
    line = json.dumps({"input": str(path), "damage": damage.to_json()}, ensure_ascii=False, allow_nan=False)
    return line.encode("utf-8", "backslashreplace").decode("utf-8")  # names that are not UTF-8 stay valid


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3g}" if value < 10 else f"{value:.0f}"
    return str(value)


def _row(path: Path, damage: Damage) -> str:
    data = damage.to_json()
    return "\t".join([table_cell(str(path))] + [_cell(data[key]) for key in COLUMNS])


def _error_line(console: Console, path: str, reason: str) -> None:
    console.print(f"error: {printable(path)}: {printable(reason)}", markup=False, highlight=False)
