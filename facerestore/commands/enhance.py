"""``facerestore enhance``: restore every image of the given files and folders into a mirrored output tree."""

from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

from facerestore.commands import emit, exit_on_error, note_skipped, note_unread, require_current_folder, table_cell
from facerestore.discovery import printable
from facerestore.model_choice import ModelRequest
from facerestore.options import EngineOptions, FileList, StreamOptions, WriteOptions, engine_options, model_options, \
    strength_option, stream_options, write_options

if TYPE_CHECKING:
    from rich.console import Console

    from facerestore.discovery import Plan


@dataclass(frozen=True)
class EnhanceOptions:
    inputs: tuple[Path, ...]
    output: Path | None
    recursive: bool
    include: tuple[str, ...]
    exclude: tuple[str, ...]
    files_from: IO[bytes] | None
    null_separated: bool
    dry_run: bool
    fail_fast: bool
    report: bool
    reference: Path | None
    max_pixels: int | None
    model: ModelRequest
    tile: int | None  # None: automatic (the CPU budget, or sized to the card's free memory)
    stream: StreamOptions
    write: WriteOptions
    engine: EngineOptions = EngineOptions()
    strength: float | None = None  # None: auto, from each image's damage


@click.command(short_help="Restore images (files and folders) into a mirrored output folder.")
@click.argument("inputs", nargs=-1, type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output folder (default: <input>-restored beside each input folder).")
@click.option("--recursive/--no-recursive", default=True, show_default=True, help="Walk sub-folders.")
@click.option("--include", multiple=True, metavar="GLOB", help="Only files matching GLOB (repeatable).")
@click.option("--exclude", multiple=True, metavar="GLOB", help="Skip files and folders matching GLOB (repeatable).")
@click.option("--files-from", type=FileList("rb"), default=None, metavar="FILE",
              help="Read input paths from FILE, one per line ('-' = stdin).")
@click.option("-0", "--null", "null_separated", is_flag=True,
              help="--files-from entries are NUL-separated (find -print0).")
@write_options
@click.option("--dry-run", is_flag=True,
              help="Print the plan (input<TAB>output<TAB>run|skip per image) and write nothing.")
@model_options
@strength_option
@stream_options
@engine_options
@click.option("--fail-fast", is_flag=True, help="Stop at the first file that fails.")
@click.option("--report/--no-report", default=True, show_default=True,
              help="Write report.html, summary.csv/json and per-image charts into the output folder.")
@click.option("--reference", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              metavar="DIR", help="Originals, matched by relative path, for quality metrics in the report.")
@click.option("--max-pixels", type=click.IntRange(min=1), default=None, metavar="N",
              help="Refuse images with more than N pixels (decompression-bomb guard).")
@click.pass_context
def enhance(ctx: click.Context, **params: Any) -> None:
    """Restore the images in INPUTS (files and folders, walked recursively in sorted order).

    Outputs mirror the input tree under INPUT-restored/ (or -o DIR), in the input's format unless
    --format says otherwise. Each image is restored as much as its damage needs (--strength auto); one with
    none worth restoring is written as it came (status unchanged). Existing outputs are skipped, so a rerun
    resumes. Originals are never modified.

    \b
    Examples:
      facerestore enhance ./photos
      facerestore enhance scans/ -o restored/ --format png --model gan
      facerestore enhance ./photos --strength 1    # every image at full strength
      find . -name '*.jpg' -print0 | facerestore enhance --files-from - -0 --json

    \b
    Exit codes: 0 all restored, unchanged or skipped, 1 some files failed, 2 usage error,
    3 requested device unavailable, 130 interrupted (Ctrl-C), 141 stdout closed (--json | head: the run
    stops), 143 terminated (SIGTERM: the run stops as after a Ctrl-C).
    """
    if not params["inputs"] and params["files_from"] is None:
        raise click.UsageError("give at least one file or folder, or --files-from FILE")
    if params["null_separated"] and params["files_from"] is None:
        raise click.UsageError("-0/--null only applies to --files-from")
    opts = EnhanceOptions(
        inputs=tuple(params["inputs"]), output=params["output"], recursive=params["recursive"],
        include=tuple(params["include"]), exclude=tuple(params["exclude"]), files_from=params["files_from"],
        null_separated=params["null_separated"], dry_run=params["dry_run"], fail_fast=params["fail_fast"],
        report=params["report"], reference=params["reference"], max_pixels=params["max_pixels"],
        model=ModelRequest.from_params(params), tile=params["tile"], stream=StreamOptions.from_params(params),
        write=WriteOptions.from_params(params), engine=EngineOptions.from_params(params),
        strength=params["strength"])

    from facerestore.console import make_console, setup_logging
    from facerestore.interrupts import TerminateAsInterrupt

    console = make_console()
    setup_logging(console, opts.stream.verbose)
    # SIGTERM (timeout, a SLURM time limit, kill) stops the run as a Ctrl-C does; a second one ends it at once.
    # exit_on_error reports an interrupt before or after the restore loop, which reports its own in the summary.
    with TerminateAsInterrupt(), exit_on_error(console):
        require_current_folder()
        code = run_enhance(opts, console)
    ctx.exit(code)


def run_enhance(opts: EnhanceOptions, console: Console) -> int:
    """Plan, restore and report; return the exit code. Project errors that end the run propagate."""
    from facerestore import pipeline
    from facerestore.console import progress
    from facerestore.errors import StdoutError
    from facerestore.damage.strength import check_curves
    from facerestore.discovery import REPORT_DIR_NAME, plan_jobs
    from facerestore.engines import check_engine, run_jobs
    from facerestore.gpu import for_device
    from facerestore.interrupts import Terminated
    from facerestore.report.journal import Journal, orphaned
    from facerestore.report.journal import remove as remove_journals
    from facerestore.report.run import EarlierOutputs
    from facerestore.sharding import parse_shard, shard_plan
    from facerestore.summary import EXIT_OK, EXIT_USAGE, FAILED, Record, RunSummary

    check_engine(opts.engine)
    if opts.inputs and opts.files_from is None and not any(os.path.exists(p) for p in opts.inputs):
        # Nothing named exists: a mistyped command, not a run with failed images.
        for path in opts.inputs:
            reason = "broken symbolic link" if os.path.islink(path) else "no such file or folder"
            _error_line(console, str(path), reason)
        return EXIT_USAGE
    shard = parse_shard(opts.engine.shard) if opts.engine.shard is not None else None
    # Existing outputs are skipped as done: only those written from the same input (an earlier run's record).
    written_from = None if opts.write.overwrite else EarlierOutputs().input_of
    plan = plan_jobs(list(opts.inputs), opts.output, opts.write.fmt, recursive=opts.recursive,
                     include=opts.include, exclude=opts.exclude, files_from=opts.files_from,
                     null_separated=opts.null_separated, written_from=written_from)
    if shard is not None:
        plan = shard_plan(plan, shard)
    if not opts.stream.quiet:  # left out on purpose, not failures: --quiet leaves them out
        note_skipped(console, plan.skipped)
        note_unread(console, plan.unread)
    if opts.dry_run:
        opts.model.file()  # a plan the real run would refuse is no plan: check the model exists and is intact
        return _print_plan(plan, opts, console)
    if not plan.jobs and not plan.rejected:
        # An empty folder is nothing to do, not a mistake (as analyze says it); the model is checked, not loaded.
        opts.model.file()
        if not opts.stream.quiet:
            console.print("no images found in the given inputs", markup=False, highlight=False)
        return EXIT_OK

    started = time.time()
    model, tile = for_device(opts.model.open(), opts.tile)  # IO binding and card-sized tiles on CUDA
    if opts.strength is None:
        check_curves(model)
    summary = RunSummary(model=model.name, provider=model.provider)
    if not opts.stream.quiet:
        console.print(f"{len(plan.jobs)} image(s), model {model.name} on {model.provider}", markup=False)

    report_root = _report_root(opts, plan) if opts.report else None
    report_dir = report_root / REPORT_DIR_NAME if report_root is not None else None
    journal = Journal(report_dir) if report_dir is not None else None
    ctx = pipeline.Context(
        model=model, tile=tile, fmt=opts.write.fmt, quality=opts.write.quality,
        overwrite=opts.write.overwrite,
        max_pixels=opts.max_pixels if opts.max_pixels is not None else pipeline.imageio.DEFAULT_MAX_PIXELS,
        report_dir=report_dir, reference_root=opts.reference, strength=opts.strength, journal=journal)
    records: list[Record] = []
    stop = threading.Event()  # set once nobody reads the --json lines

    with progress(console, len(plan.jobs), opts.stream.show_progress) as bar:
        def on_record(record: Record) -> None:
            summary.add(record)
            records.append(record)
            if opts.stream.json_lines and not (summary.stdout_closed or summary.stdout_failed):
                try:
                    emit(_json_text(record.to_json()))
                except BrokenPipeError:  # `| head -1`: stop as after a Ctrl-C (the images being written finish)
                    summary.stdout_closed = True
                    stop.set()
                except StdoutError as exc:  # a full disk: the same, and say so
                    console.print(f"error: {exc}", markup=False, highlight=False)
                    summary.stdout_failed = True
                    stop.set()
            if record.status == FAILED:
                _error_line(console, record.input, record.error or "failed")
            megapixels = (record.width or 0) * (record.height or 0) / 1e6 if record.status != FAILED else 0.0
            bar.advance(megapixels, summary.counts())

        for rejected in plan.rejected:
            on_record(Record(input=str(rejected.path), output=None, status=FAILED, error=rejected.reason,
                             width=None, height=None, seconds=0.0, provider=model.provider, model=model.name))
        try:
            run_jobs(opts.engine, plan.jobs, ctx, on_record, request=opts.model, fail_fast=opts.fail_fast,
                     on_start=lambda job: bar.current(str(job.rel)), stop=stop)
        except KeyboardInterrupt as exc:
            summary.interrupted = True
            summary.terminated = isinstance(exc, Terminated)
    summary.seconds = time.time() - started
    if ctx.halt.is_set():
        console.print(f"error: stopped early: {printable(ctx.halt_reason[0])}. Free space on the output's disk or "
                      "make it writable (or choose another -o) and run the same command again to resume.",
                      markup=False, highlight=False)

    report_written = False
    # What this run wrote, as its journal has it: the records of every image written, whatever reached on_record
    # (a Ray run ended early leaves some only there).
    journaled = journal.records() if journal is not None else []
    if report_root is not None and (records or journaled):
        # Runs killed outright before this one left their records in journals: they come before this run's.
        killed, journals = orphaned(ctx.report_dir)
        report_written = pipeline.write_run_report(report_root, [*killed, *journaled, *records],
                                                   _run_info(opts, model, summary, started))
        if report_written:
            remove_journals(journals)
    if journal is not None and (report_written or not (records or journaled)):
        journal.close()
    if not opts.stream.quiet or summary.interrupted or summary.stdout_closed or summary.stdout_failed:
        console.print(summary.describe(), markup=False)
        _print_locations(console, opts, plan, report_root if report_written else None)
    return summary.exit_code()


def _print_locations(console: Console, opts: EnhanceOptions, plan: Plan, report_root: Path | None) -> None:
    """Where the run put its outputs and its report, the first thing one looks for after a run."""
    from facerestore.report.run import REPORT_HTML

    outputs = report_root if report_root is not None else _report_root(opts, plan)
    if outputs is not None and plan.jobs:
        console.print(f"outputs: {printable(str(outputs))}", markup=False, highlight=False)
    if report_root is not None:
        console.print(f"report: {printable(str(report_root / REPORT_HTML))}", markup=False, highlight=False)


def _print_plan(plan: Plan, opts: EnhanceOptions, console: Console) -> int:
    """``--dry-run``: one line (or JSON object) per planned image on stdout; rejected inputs on stderr.

    Files are sniffed (their first bytes, nothing decoded) so the plan lists only images, as the run would.
    """
    import json

    from facerestore.discovery import Rejected
    from facerestore.errors import ImageError
    from facerestore.imageio import sniff_format

    refused = list(plan.rejected)
    for job in plan.jobs:
        exists = os.path.lexists(job.dst) and not opts.write.overwrite
        if not exists:  # a skipped output is never read: its input need not be an image any more
            try:
                sniff_format(job.src)
            except ImageError as exc:
                refused.append(Rejected(job.src, str(exc)))
                continue
        if opts.stream.json_lines:
            emit(_json_text(json.dumps({"input": str(job.src), "output": str(job.dst),
                                        "status": "skipped" if exists else "planned"}, ensure_ascii=False)))
        else:
            # One line per image whatever the names hold, escaped as analyze's table does (--json keeps them
            # exact); the third column says whether the run would do the image.
            emit(f"{table_cell(str(job.src))}\t{table_cell(str(job.dst))}\t{'skip' if exists else 'run'}")
    for rejected in refused:
        if opts.stream.json_lines:
            emit(_json_text(json.dumps({"input": str(rejected.path), "output": None, "status": "failed",
                                        "error": rejected.reason}, ensure_ascii=False)))
        _error_line(console, str(rejected.path), rejected.reason)
    return 1 if refused else 0


def _error_line(console: Console, path: str, reason: str) -> None:
    """One line per failed file, whatever its name holds (newlines, escape sequences, non-UTF-8 bytes)."""
    from rich.text import Text

    console.print(Text.assemble(("error", "bold red"), f": {printable(path)}: {printable(reason)}"))


def _json_text(line: str) -> str:
    """A JSON line that is valid UTF-8 even for names that are not.

    ``os.fsdecode`` keeps undecodable bytes as lone surrogates, which no UTF-8 stream can carry; they become
    ``\\udcXX`` escapes, which ``json.loads`` turns back into the same string (``os.fsencode`` then gives
    the original bytes).
    """
    return line.encode("utf-8", "backslashreplace").decode("utf-8")


def _report_root(opts: EnhanceOptions, plan: Plan) -> Path | None:
    """The folder that gets report.html: ``-o``, else the output folder of a single input."""
    from facerestore.discovery import restored_sibling

    if opts.output is not None:
        return opts.output
    folders = [p for p in opts.inputs if p.is_dir()]
    if len(opts.inputs) == 1 and folders and opts.files_from is None:
        return restored_sibling(folders[0])
    if not opts.inputs:
        return restored_sibling(Path.cwd())
    if not plan.jobs:
        return None
    # Output folders come absolute (beside `.`, or beside an absolute input) or relative as given; commonpath
    # refuses a mix and misreads `..`, so it compares absolute paths. Shown relative when every one was.
    folders = [job.dst.parent for job in plan.jobs]
    common = os.path.commonpath([os.path.abspath(folder) for folder in folders])
    return Path(common if any(folder.is_absolute() for folder in folders) else os.path.relpath(common))


def _run_info(opts: EnhanceOptions, model: Any, summary: Any, started: float) -> dict[str, Any]:
    from facerestore import __version__

    return {
        "version": __version__, "command": " ".join(sys.argv), "started": started,
        "seconds": summary.seconds, "model": model.name, "model_path": str(model.path),
        "model_metadata": dict(model.metadata), "provider": model.provider,
        "restored": summary.restored, "unchanged": summary.unchanged, "skipped": summary.skipped,
        "failed": summary.failed, "strength": "auto" if opts.strength is None else opts.strength,
        "megapixels": summary.megapixels, "interrupted": summary.interrupted,
        "reference": str(opts.reference) if opts.reference else None,
    }
