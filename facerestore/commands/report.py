"""``facerestore report OUTPUT_DIR [--reference DIR]``: rebuild the reports of an earlier run.

Reads ``OUTPUT_DIR/summary.json`` and the journals of runs killed outright (all there is when a first run was
killed before it wrote a summary), decodes each restored image and its input again (no model runs), rewrites
the per-image charts and comparisons and the run's ``report.html``, ``summary.csv`` and ``summary.json``.
Useful after ``enhance --no-report`` runs that still wrote a summary, to add ``--reference`` metrics later,
or after upgrading facerestore. Prints the path of ``report.html`` on stdout.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path, PurePosixPath
from typing import Any

import click

from facerestore.commands import emit, exit_on_error, require_current_folder


@click.command(short_help="Rebuild report.html and the summaries of an earlier run (no models run).")
@click.argument("output_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--reference", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              metavar="DIR", help="Originals, matched by relative path, for PSNR/SSIM/histogram distance.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@click.pass_context
def report(ctx: click.Context, output_dir: Path, reference: Path | None, quiet: bool) -> None:
    """Rebuild the report of the run whose outputs are in OUTPUT_DIR, from its summary.json (and the journals
    of runs killed outright) and the images on disk. Exits 1 when some images could not be re-read (their
    earlier numbers are kept) or some records of summary.json could not be used (left out)."""
    from facerestore.console import make_console, setup_logging

    console = make_console()
    setup_logging(console)
    with exit_on_error(console):
        require_current_folder()
        path, problems = rebuild_report(output_dir, reference, console, progress=not quiet)
        emit(str(path))
    ctx.exit(1 if problems else 0)


def _locate(path: str | None, then: Path | None, now: Path) -> Path | None:
    """An output of the earlier run: at the same place in OUTPUT_DIR (which may have been moved or copied
    since), else where it was written."""
    if not path:
        return None
    original = Path(path)
    if then is not None:
        rel = os.path.relpath(os.path.abspath(original), os.path.abspath(then))
        if not rel.startswith(os.pardir):
            here = now / rel
            if here.is_file():
                return here
    return original if original.is_file() else None


def _reference_for(key: PurePosixPath, reference: Path) -> Path | None:
    """The original for an output key: by relative path, then dropping leading folders (``-o`` shared by
    several inputs puts each under its folder name)."""
    from facerestore.report.image import match_reference

    parts = key.parts
    for start in range(len(parts)):
        rel = Path(*parts[start:])
        job = _RefJob(rel)
        found = match_reference(job, reference)
        if found is not None:
            return found
    return None


class _RefJob:
    def __init__(self, rel: Path) -> None:
        self.rel = rel


def rebuild_report(output_dir: Path, reference: Path | None, console: Any, progress: bool = True
                   ) -> tuple[Path, list[str]]:
    """Re-derive every per-image report and rewrite the run report; returns report.html and the problems."""
    import logging

    from facerestore.console import progress as progress_bar
    from facerestore.discovery import Job, printable
    from facerestore.errors import FaceRestoreError, UsageError
    from facerestore.imageio import read_image
    from facerestore.report import REPORT_DIR_NAME, report_files
    from facerestore.report.image import write_image_report
    from facerestore.report.journal import orphaned
    from facerestore.report.journal import remove as remove_journals
    from facerestore.report.run import (WRITTEN, EarlierRun, merge_records, read_summary, record_key,
                                        update_run_report)

    log = logging.getLogger("facerestore.report")
    try:
        earlier: EarlierRun | None = read_summary(output_dir)
    except FileNotFoundError:
        earlier = None
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read {output_dir / 'summary.json'}: {exc}") from exc
    # Runs killed outright after this summary was written left their records in journals: newer than it.
    killed, journals = orphaned(output_dir / REPORT_DIR_NAME)
    if earlier is None:
        if not killed:
            raise UsageError(f"{output_dir} has no summary.json: is it the output folder of a facerestore run?")
        # A first run killed before it wrote any summary: its journals are all there is (its model too).
        earlier = EarlierRun([], {k: killed[-1].get(k) for k in ("model", "provider")}, None)
    if killed:
        earlier.records = merge_records(earlier.records, killed, keep_moved=True)
    read_keys = [record_key(r) for r in earlier.records]  # before outputs are re-located below
    run_info = dict(earlier.run_info)
    if reference is None and run_info.get("reference") and Path(run_info["reference"]).is_dir():
        reference = Path(run_info["reference"])
    run_info["reference"] = str(reference) if reference else None
    report_dir = output_dir / REPORT_DIR_NAME
    for problem in earlier.left_out:
        log.warning("%s", problem)
    problems: list[str] = []
    restored = [r for r in earlier.records if r.get("status") in WRITTEN]  # every output, unchanged ones too
    for record in earlier.records:  # a failure naming the output an earlier run left: found where it is now
        if record.get("status") == "failed" and record.get("output"):
            found = _locate(record["output"], earlier.output_dir, output_dir)
            record["output"] = str(found) if found is not None else record["output"]
    enabled = progress and sys.stderr.isatty()
    with progress_bar(console, len(restored), enabled) as bar:
        for record in restored:
            output = _locate(record.get("output"), earlier.output_dir, output_dir)
            source = Path(record["input"]) if record.get("input") else None
            culprit = record.get("input")  # the file a problem is named after
            try:
                if output is None:
                    culprit = record.get("output") or culprit
                    raise FaceRestoreError("output not found")
                if source is None or not source.is_file():
                    raise FaceRestoreError("input not found")
                record["output"] = str(output)
                key = report_files(output, output_dir).key
                ref = _reference_for(key, reference) if reference else None
                loaded = read_image(source)
                culprit = str(output)  # the input is fine: from here on a problem is the output's
                restored_pixels = read_image(output).pixels
                job = Job(src=source, rel=Path(key), dst=output)
                record["metrics"] = write_image_report(job, loaded, restored_pixels, ref, report_dir)
            except FaceRestoreError as exc:
                problems.append(f"{culprit}: {exc}")
                log.warning("%s: kept its earlier numbers: %s", printable(str(culprit)), exc)
            bar.advance()
    # What was read is replaced; a run that wrote into this folder meanwhile keeps its images in the report.
    path = update_run_report(output_dir, earlier.records, run_info, replacing=read_keys)
    remove_journals(journals)
    console.print(f"Report rebuilt: {len(restored) - len(problems)} of {len(restored)} images, "
                  f"{printable(str(path))}", markup=False, highlight=False)  # a folder name is never markup
    return path, earlier.left_out + problems
