"""``facerestore compare IMAGES... --models basic,big,gan [--reference DIR] -o DIR``: models side by side.

Runs every model on the same inputs and writes, per image, a labelled grid (input | each model | reference;
lossless, pixels 1:1, the centre of larger images) and one histogram chart with a panel per state (original,
input, each model's output, same axes), named after the output path ``enhance`` would give the image
(``DIR/a.jpg.grid.png``, ``DIR/a.jpg.hist.png``), plus one table of mean PSNR, SSIM, histogram distance,
histogram gaps and time per model: on stderr, and as ``DIR/compare.csv`` and ``DIR/compare.json`` (whose path
is printed on stdout).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from facerestore.commands import emit, exit_on_error, note_skipped, note_unread, require_current_folder

INPUT_ROW = "input (no model)"
GRID_SIDE = 512  # each grid panel: the image's own pixels, its centre when larger


@click.command(short_help="Run several models on the same images and compare them.")
@click.argument("images", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--models", "model_specs", default="basic,big,gan", show_default=True, metavar="LIST",
              help="Comma-separated shipped model names and/or .onnx paths.")
@click.option("--reference", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              metavar="DIR", help="Originals matched by relative path: enables PSNR, SSIM and histogram distance.")
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for the grids, charts and compare.csv/compare.json.")
@click.option("--device", type=click.Choice(["auto", "cuda", "cpu"]), default="auto", show_default=True)
@click.option("--threads", type=click.IntRange(min=1), default=None, metavar="N", help="CPU threads for inference.")
@click.option("--tile", type=click.IntRange(min=16), default=None, metavar="SIZE", help="Tile size in pixels.")
@click.pass_context
def compare(ctx: click.Context, images: tuple[Path, ...], model_specs: str, reference: Path | None, output: Path, device: str,
            threads: int | None, tile: int | None) -> None:
    """Restore IMAGES (files or folders) with each model in --models and compare the results.

    Each model restores each photo as `enhance` does by default (--strength auto): as much as the photo's
    damage calls for, by that model's fitted curve; a photo with no damage worth restoring is left as it is."""
    from facerestore.console import make_console, setup_logging

    console = make_console()
    setup_logging(console)
    specs = [s.strip() for s in model_specs.split(",") if s.strip()]
    if not specs:
        raise click.BadParameter("name at least one model", param_hint="--models")
    with exit_on_error(console):
        require_current_folder()
        result = run_compare(list(images), specs, reference, output, device, threads, tile, console)
        emit(str(output / "compare.json"))
    ctx.exit(1 if result["failed"] else 0)


def _label(spec: str) -> str:
    return Path(spec).stem if spec.lower().endswith(".onnx") else spec


def run_compare(images: list[Path], specs: list[str], reference: Path | None, output: Path, device: str,
                threads: int | None, tile: int | None, console: Any) -> dict[str, Any]:
    """Compare the models; returns what compare.json holds."""
    import logging
    import time
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    from facerestore import charts
    from facerestore.atomic import write_json
    from facerestore.discovery import plan_jobs, printable
    from facerestore.errors import FaceRestoreError, OutputError, UsageError
    from facerestore.imageio import make_folder, read_image
    from facerestore.interrupts import DeferredInterrupts
    from facerestore.report.image import Reference, as_levels, match_reference, reference_levels, state_metrics
    from facerestore.summary import json_number
    from facerestore.damage.analysis import analyze
    from facerestore.damage.strength import decide_image
    from facerestore.constraints import read_constraint
    from facerestore.restore import restore_image
    from facerestore.gpu import for_device
    from facerestore.model_choice import ModelRequest

    log = logging.getLogger("facerestore.compare")
    labels = [_label(s) for s in specs]
    if len(set(labels)) != len(labels):
        raise UsageError(f"--models names a model twice: {', '.join(specs)}")
    # enhance's walk and output mapping: the output folder outside every input folder, and one name per input
    # (a.jpg and a.png stay apart; same-named input folders are refused), each image's files named after it.
    plan = plan_jobs(images, output)
    note_skipped(console, plan.skipped)
    note_unread(console, plan.unread)
    if not plan.jobs and not plan.rejected:
        raise UsageError("no images found in the given inputs")
    # IO binding on CUDA; the tile stays the user's (or the default) so every model runs the same tiles.
    models = [for_device(ModelRequest(spec, device=device, threads=threads).open(), tile)[0] for spec in specs]
    make_folder(output)  # one line and exit 1, as enhance fails on an -o it cannot create

    rows: list[dict[str, Any]] = []
    failed: list[str] = []
    compared = 0

    def fail(path: Path, reason: str) -> None:
        failed.append(f"{path}: {reason}")
        log.error("%s: %s", printable(str(path)), printable(reason))

    for rejected in plan.rejected:
        fail(rejected.path, rejected.reason)
    # The models run in a thread of their own while this one waits through DeferredInterrupts, as the local engine's
    # inference does: a model with several CPU streams runs its tiles in threads, and a Ctrl-C raised while this
    # thread waits on them, or joins them as the interpreter exits, lets the process end while they are still in
    # ONNX Runtime, which aborts it (facerestore.interrupts). A Ctrl-C is acted on once the image's run ends.
    interrupts = DeferredInterrupts()
    restorer = ThreadPoolExecutor(1, thread_name_prefix="facerestore-compare")

    def compare_image(job: Any) -> bool:
        """One image's rows and charts; False where no later chart could be written either (disk full)."""
        nonlocal compared
        try:
            loaded = read_image(job.src)
        except FaceRestoreError as exc:
            fail(job.src, str(exc))
            return True
        key = job.dst.relative_to(output)  # the image's name in the table and its files' under -o
        levels_in = as_levels(loaded.pixels)
        levels_ref = reference_levels(match_reference(job, reference), levels_in.shape, str(key))
        outputs: list[tuple[str, np.ndarray, float | None]] = [(INPUT_ROW, levels_in, None)]
        damage = analyze(loaded)
        constraint = read_constraint(loaded, damage)  # read once for every model
        for label, model in zip(labels, models):
            start = time.perf_counter()
            # Each model restores as `enhance --strength auto` would: as much as this photo's damage calls for.
            decision = decide_image(model, damage, loaded.pixels.shape)
            restored = loaded.pixels if decision.unchanged else interrupts.wait(restorer.submit(
                restore_image, model, loaded, damage, tile=tile, strength=decision.strength, constraint=constraint))
            outputs.append((label, as_levels(restored), time.perf_counter() - start))
        scored_against = Reference(levels_ref) if levels_ref is not None else None
        for label, levels, seconds in outputs:
            row: dict[str, Any] = {"image": key.as_posix(), "model": label, "seconds": seconds}
            row.update(state_metrics(levels, scored_against))
            rows.append(row)
        grid = [("Input", levels_in)] + [(label, levels) for label, levels, _ in outputs[1:]]
        states = [("Degraded input", levels_in)] + [(label, levels) for label, levels, _ in outputs[1:]]
        if levels_ref is not None:
            grid.append(("Reference", levels_ref))
            states.insert(0, ("Original", levels_ref))
        compared += 1  # its rows are in the table even if its charts cannot be written
        try:
            # Lossless and 1:1 (the centre of a larger image): the differences between models are pixel-sized.
            _write(job.dst.with_name(job.dst.name + ".grid.png"),
                   lambda path: charts.comparison_image(grid, path, max_side=GRID_SIDE, crop=True))
            _write(job.dst.with_name(job.dst.name + ".hist.png"), lambda path: charts.histogram_panels(states, path))
        except OutputError as exc:
            fail(job.src, str(exc))
            return not exc.fatal  # disk full or read-only: no later chart could be written either
        return True

    with interrupts:
        try:
            for job in plan.jobs:
                interrupts.check()  # an image every model leaves unchanged waits on no run
                if not compare_image(job):
                    break
        finally:
            restorer.shutdown(wait=True, cancel_futures=True)  # Ctrl-Cs meanwhile counted, never raised in the join
    interrupts.check()  # one that came during the last image's charts or the join

    table = _means(rows, [INPUT_ROW] + labels)
    result = {"models": dict(zip(labels, specs)), "reference": str(reference) if reference else None,
              "images": compared, "failed": failed, "means": table,
              "per_image": [{k: json_number(v) if isinstance(v, float) else v for k, v in r.items()} for r in rows]}
    _print_table(console, table)  # first: the means reach the user even when the files below cannot be written
    _write(output / "compare.json", lambda path: write_json(path, result))
    _write(output / "compare.csv", lambda path: _write_csv(path, table))
    return result


def _write(path: Path, write: Callable[[Path], Any]) -> None:
    """``write(path)``, its OSError turned into an OutputError naming ``path`` (fatal as in imageio: no later
    file could be written either)."""
    from facerestore.imageio import output_error

    try:
        write(path)
    except OSError as exc:
        raise output_error(f"cannot write {path}", exc) from None


COMPARED = ("psnr", "ssim", "w1", "gaps", "spikiness")  # of the report's metric columns, those in the table


def _columns() -> list[tuple[str, str, int]]:
    """(key, title, digits) of the table's columns: the report's own metric columns, then time per image."""
    from facerestore.report.run import METRIC_COLUMNS

    return [(c.key, c.label, c.digits) for c in METRIC_COLUMNS if c.key in COMPARED] + [("seconds", "s/img", 3)]


def _means(rows: list[dict[str, Any]], labels: list[str]) -> list[dict[str, Any]]:
    """Mean of each column per model over the images where it is finite (an identical image's inf PSNR is
    left out, and counted in ``identical``)."""
    import math

    table = []
    for label in labels:
        mine = [r for r in rows if r["model"] == label]
        entry: dict[str, Any] = {"model": label, "images": len(mine)}
        for key, _, _ in _columns():
            values = [r[key] for r in mine if isinstance(r.get(key), float) and math.isfinite(r[key])]
            entry[key] = sum(values) / len(values) if values else None
        entry["identical"] = sum(1 for r in mine if r.get("psnr") == math.inf)
        table.append(entry)
    return table


def _write_csv(path: Path, table: list[dict[str, Any]]) -> None:
    from facerestore.atomic import write_csv

    header = ["model", "images"] + [k for k, _, _ in _columns()] + ["identical"]
    write_csv(path, header, ([entry.get(k) for k in header] for entry in table))


def _print_table(console: Any, table: list[dict[str, Any]]) -> None:
    from rich.table import Table

    columns = _columns()
    view = Table(title="Model comparison (means over images)", title_justify="left")
    view.add_column("model", no_wrap=True)
    view.add_column("images", justify="right")
    for _, title, _ in columns:
        view.add_column(title, justify="right")
    for entry in table:
        view.add_row(entry["model"], str(entry["images"]),
                     *("—" if entry[k] is None else f"{entry[k]:.{d}f}" for k, _, d in columns))
    console.print(view)
