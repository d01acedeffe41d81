"""``facerestore compare IMAGES... --models basic,big,gan [--reference DIR] -o DIR``: models side by side.

Runs every model on the same inputs and writes, per image, a labelled grid (input | each model | reference)
and one histogram chart with a panel per state (original, input, each model's output, same axes), plus one
table of mean PSNR, SSIM, histogram distance, histogram gaps and time per model: on stderr, and as
``DIR/compare.csv`` and ``DIR/compare.json`` (whose path is printed on stdout).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from facerestore.commands import exit_on_error

INPUT_ROW = "input (no model)"


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
    """Restore IMAGES (files or folders) with each model in --models and compare the results."""
    from facerestore.console import make_console, setup_logging

    console = make_console()
    setup_logging(console)
    specs = [s.strip() for s in model_specs.split(",") if s.strip()]
    if not specs:
        raise click.BadParameter("name at least one model", param_hint="--models")
    with exit_on_error(console):
        result = run_compare(list(images), specs, reference, output, device, threads, tile, console)
    click.echo(str(output / "compare.json"))
    ctx.exit(1 if result["failed"] else 0)


def _label(spec: str) -> str:
    return Path(spec).stem if spec.lower().endswith(".onnx") else spec


def run_compare(images: list[Path], specs: list[str], reference: Path | None, output: Path, device: str,
                threads: int | None, tile: int | None, console: Any) -> dict[str, Any]:
    """Compare the models; returns what compare.json holds."""
    import json
    import logging
    import time

    import numpy as np

    from facerestore import charts, metrics
    from facerestore.discovery import Found, iter_inputs
    from facerestore.errors import FaceRestoreError, UsageError
    from facerestore.imageio import read_image
    from facerestore.report import json_number
    from facerestore.report.image import as_levels, comparable, match_reference, read_pixels
    from facerestore.restore import restore_pixels
    from facerestore.gpu import for_device
    from facerestore.session import open_model

    log = logging.getLogger("facerestore.compare")
    labels = [_label(s) for s in specs]
    if len(set(labels)) != len(labels):
        raise UsageError(f"--models names a model twice: {', '.join(specs)}")
    # IO binding on CUDA; the tile stays the user's (or the default) so every model runs the same tiles.
    models = [for_device(open_model(spec, device=device, threads=threads), tile)[0] for spec in specs]
    found = [f for f in iter_inputs(images) if isinstance(f, Found)]
    if not found:
        raise UsageError("no images found in the given inputs")
    output.mkdir(parents=True, exist_ok=True)

    rows: list[dict[str, Any]] = []
    failed: list[str] = []
    for item in found:
        try:
            loaded = read_image(item.path)
        except FaceRestoreError as exc:
            failed.append(f"{item.path}: {exc}")
            log.warning("%s: %s", item.path, exc)
            continue
        levels_in = as_levels(loaded.pixels)
        ref_path = match_reference(item, reference)
        levels_ref = None
        if ref_path is not None:
            candidate = as_levels(read_pixels(ref_path))
            if candidate.shape[:2] == levels_in.shape[:2]:
                levels_ref = candidate
            else:
                log.warning("%s: reference is another size, not used", item.path)
        outputs: list[tuple[str, np.ndarray, float | None]] = [(INPUT_ROW, levels_in, None)]
        for label, model in zip(labels, models):
            start = time.perf_counter()
            restored = restore_pixels(model, loaded.pixels, tile=tile)
            outputs.append((label, as_levels(restored), time.perf_counter() - start))
        for label, levels, seconds in outputs:
            row: dict[str, Any] = {"image": item.rel.as_posix(), "model": label, "seconds": seconds}
            row.update({f"{k}": v for k, v in metrics.mean_stats(metrics.channel_histograms(levels)).items()})
            if levels_ref is not None:
                a, ref = comparable(levels, levels_ref)
                row["psnr"] = metrics.psnr(a, ref)
                row["ssim"] = metrics.ssim(a, ref)
                row["w1"] = metrics.mean_wasserstein(metrics.channel_histograms(a), metrics.channel_histograms(ref))
            rows.append(row)
        stem = output / item.rel.with_suffix("")
        grid = [("Input", levels_in)] + [(label, levels) for label, levels, _ in outputs[1:]]
        states = [("Degraded input", levels_in)] + [(label, levels) for label, levels, _ in outputs[1:]]
        if levels_ref is not None:
            grid.append(("Reference", levels_ref))
            states.insert(0, ("Original", levels_ref))
        charts.comparison_image(grid, stem.with_name(stem.name + ".grid.jpg"), max_side=384)
        charts.histogram_panels(states, stem.with_name(stem.name + ".hist.png"))

    table = _means(rows, [INPUT_ROW] + labels)
    result = {"models": dict(zip(labels, specs)), "reference": str(reference) if reference else None,
              "images": len(found) - len(failed), "failed": failed, "means": table,
              "per_image": [{k: json_number(v) if isinstance(v, float) else v for k, v in r.items()} for r in rows]}
    (output / "compare.json").write_text(json.dumps(result, indent=1, allow_nan=False), encoding="utf-8")
    _write_csv(output / "compare.csv", table)
    _print_table(console, table)
    return result


COLUMNS = (("psnr", "PSNR dB", 2), ("ssim", "SSIM", 4), ("w1", "hist dist", 2), ("gaps", "gaps", 1),
           ("spikiness", "spiky", 3), ("seconds", "s/img", 3))


def _means(rows: list[dict[str, Any]], labels: list[str]) -> list[dict[str, Any]]:
    """Mean of each column per model over the images where it is finite (an identical image's inf PSNR is
    left out, and counted in ``identical``)."""
    import math

    table = []
    for label in labels:
        mine = [r for r in rows if r["model"] == label]
        entry: dict[str, Any] = {"model": label, "images": len(mine)}
        for key, _, _ in COLUMNS:
            values = [r[key] for r in mine if isinstance(r.get(key), float) and math.isfinite(r[key])]
            entry[key] = sum(values) / len(values) if values else None
        entry["identical"] = sum(1 for r in mine if r.get("psnr") == math.inf)
        table.append(entry)
    return table


def _write_csv(path: Path, table: list[dict[str, Any]]) -> None:
    import csv

    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["model", "images"] + [k for k, _, _ in COLUMNS] + ["identical"])
        writer.writeheader()
        for entry in table:
            writer.writerow({k: ("" if v is None else v) for k, v in entry.items()})


def _print_table(console: Any, table: list[dict[str, Any]]) -> None:
    from rich.table import Table

    view = Table(title="Model comparison (means over images)", title_justify="left")
    view.add_column("model", no_wrap=True)
    view.add_column("images", justify="right")
    for _, title, _ in COLUMNS:
        view.add_column(title, justify="right")
    for entry in table:
        view.add_row(entry["model"], str(entry["images"]),
                     *("—" if entry[k] is None else f"{entry[k]:.{d}f}" for k, _, d in COLUMNS))
    console.print(view)
