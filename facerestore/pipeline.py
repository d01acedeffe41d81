"""THE per-image code path: ``load_stage`` -> ``infer_stage`` -> ``write_stage``.

The three stages restore one image and write its outputs; each takes and returns an :class:`Item`, and a stage
that fails (or a skip) sets ``item.record`` so later stages pass the item through untouched. Loading also reads
the image's damage and decides the strength (``facerestore.damage``): an image with nothing worth restoring
skips the model and is written as it came (status ``unchanged``). ``process_job``
composes them for one file. Every engine (:mod:`facerestore.engines`: local threads, Ray) calls these same
three functions.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from facerestore import imageio
from facerestore.constraints import Constraint, read_constraint
from facerestore.damage.analysis import Damage, analyze
from facerestore.damage.strength import Decision, decide_image, resave_loses
from facerestore.discovery import Job, printable
from facerestore.errors import FaceRestoreError, ImageError, OutputError
from facerestore.restore import restore_image
from facerestore.session import OnnxModel
from facerestore.summary import FAILED, RESTORED, SKIPPED, UNCHANGED, Record

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Context:
    """Everything the stages need besides the job; built once per run."""

    model: OnnxModel
    tile: int | None = None
    fmt: str | None = None  # output format ("png", "jpeg", "webp", "tiff"), None = same as the input
    quality: int | None = None
    overwrite: bool = False
    max_pixels: int = imageio.DEFAULT_MAX_PIXELS
    report_dir: Path | None = None  # per-image report files go here; None = reports off
    reference_root: Path | None = None  # originals matched by relative path, for the report's metrics
    strength: float | None = None  # --strength: None = auto (from each image's damage), else used as given
    # Set when an output failure dooms every later file (disk full, read-only): engines stop taking files.
    halt: threading.Event = field(default_factory=threading.Event, compare=False, repr=False)
    halt_reason: list[str] = field(default_factory=list, compare=False, repr=False)
    # Each written image's record is appended to it as soon as its output is on disk, from the thread (or the Ray
    # worker) that wrote it (records reach the engine's caller later, in plan order), so a killed run loses none:
    # the run's report.journal.Journal; a Ray worker's JournalPart of it.
    journal: Any = field(default=None, compare=False, repr=False)
    # Told each written image's record as soon as its output is on disk too (after the journal).
    on_written: Callable[[Record], None] | None = field(default=None, compare=False, repr=False)


@dataclass
class Item:
    """One job travelling through the stages."""

    job: Job
    loaded: imageio.LoadedImage | None = None
    damage: Damage | None = None
    decision: Decision | None = None  # the strength to restore with, or unchanged
    constraint: Constraint | None = None  # what the file says its original could have been, read with the file
    restored: np.ndarray | None = None
    seconds: float = 0.0  # time spent in this image's stages (not queue waits)
    record: Record | None = None  # set once the item is finished (skipped, failed or written)


def _finish(item: Item, ctx: Context, status: str, error: str | None = None) -> Item:
    loaded = item.loaded
    height, width = (loaded.pixels.shape[:2] if loaded is not None else (None, None))
    item.record = Record(
        input=str(item.job.src), output=None if status == FAILED else str(item.job.dst), status=status,
        error=error, width=width, height=height, seconds=item.seconds,
        provider=ctx.model.provider, model=ctx.model.name, damage=_damage_json(item))
    return item


def _damage_json(item: Item) -> dict[str, Any] | None:
    """The record's ``damage``: the analysis, the strength used and why the image was left unchanged."""
    if item.damage is None or item.decision is None:
        return None
    return {**item.damage.to_json(), "strength": item.decision.strength, "reason": item.decision.reason}


def _reason(exc: BaseException) -> str:
    """One line for the user: our own errors carry a message; anything else shows its type too."""
    text = " ".join(str(exc).split())
    if isinstance(exc, FaceRestoreError):
        return text or type(exc).__name__
    if isinstance(exc, MemoryError):
        return "out of memory (try a smaller --tile or --max-pixels)"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _guarded(stage: Callable[[Item, Context], None], item: Item, ctx: Context) -> Item:
    """Run one stage with per-file error isolation: an exception fails this image, never the run."""
    if item.record is not None:
        return item
    start = time.perf_counter()
    try:
        stage(item, ctx)
    except Exception as exc:  # noqa: BLE001 - per-file isolation is the point; the reason is reported
        if not isinstance(exc, FaceRestoreError):
            log.debug("unexpected error on %s", item.job.src, exc_info=True)
        if isinstance(exc, OutputError) and exc.fatal and not ctx.halt.is_set():
            ctx.halt_reason.append(_reason(exc))
            ctx.halt.set()
        _finish(item, ctx, FAILED, _reason(exc))
    finally:
        item.seconds += time.perf_counter() - start
    return item


def _load(item: Item, ctx: Context) -> None:
    if not ctx.overwrite and os.path.lexists(item.job.dst):
        _finish(item, ctx, SKIPPED)
        return
    item.loaded = imageio.read_image(item.job.src, ctx.max_pixels, digest=True)  # hashed for a copy, if left unchanged
    item.damage = analyze(item.loaded)
    item.decision = _decide(item, ctx)
    if not item.decision.unchanged:
        # Read here, beside the decoding, while the previous photo is being restored.
        item.constraint = read_constraint(item.loaded, item.damage)


def _decide(item: Item, ctx: Context) -> Decision:
    """The strength from the image's damage (or ``--strength``); under ``auto``, a JPEG or lossy WebP whose
    restoration an output in its own format would undo is left unchanged, its bytes copied."""
    assert item.loaded is not None and item.damage is not None
    decision = decide_image(ctx.model, item.damage, item.loaded.pixels.shape, ctx.strength)
    fmt = item.loaded.format
    if decision.unchanged or ctx.strength is not None or fmt not in imageio.DEFAULT_QUALITY:
        return decision
    if imageio.resolve_format(item.job.dst, item.loaded, ctx.fmt) != fmt:
        return decision
    reason = resave_loses(item.damage, fmt, imageio.output_quality(fmt, ctx.quality))
    return decision if reason is None else Decision(0.0, True, reason)


def _infer(item: Item, ctx: Context, spread: bool = True) -> None:
    assert item.loaded is not None and item.decision is not None
    if item.decision.unchanged:
        return  # nothing worth restoring: the model does not run
    assert item.damage is not None
    item.restored = restore_image(ctx.model, item.loaded, item.damage, ctx.tile, strength=item.decision.strength,
                                  constraint=item.constraint, spread=spread)


def _write(item: Item, ctx: Context) -> None:
    assert item.loaded is not None and item.decision is not None
    try:
        mtime: float | None = os.stat(item.job.src).st_mtime
    except OSError:
        mtime = None
    if item.decision.unchanged:
        notes = _write_unchanged(item, ctx, mtime)
        item.restored = item.loaded.pixels  # the report then shows the output equal to the input
        status = UNCHANGED
    else:
        assert item.restored is not None
        notes = (*item.loaded.notes,
                 *imageio.write_image(item.job.dst, item.restored, item.loaded, ctx.fmt, ctx.quality, mtime))
        status = RESTORED
    for note in notes:
        log.warning("%s: %s", printable(str(item.job.src)), note)
    _finish(item, ctx, status)
    record = item.record
    assert record is not None
    # Journalled now, before the report files (charts and previews: they take a while): a run killed while they
    # are written leaves its output named by a record, so the run that resumes it reports it as restored and knows
    # which input it is from (report.run.EarlierOutputs). Only a kill in the instant since the output's rename
    # leaves it unrecorded (skipped as done by that run, as its own input's output). Journalled again with the
    # report's metrics: a journal's later line for an output replaces its earlier one.
    if ctx.journal is not None:
        ctx.journal.append(record)
    record.metrics = write_image_report(item, ctx)
    if ctx.journal is not None and record.metrics:
        ctx.journal.append(record)
    item.loaded = item.restored = None  # free the pixels now: the record is all that is left to report


def _write_unchanged(item: Item, ctx: Context, mtime: float | None) -> tuple[str, ...]:
    """The input as the output: its bytes (metadata and all) where the output keeps the input's format, else its
    decoded pixels encoded in the output's format. Returns notes about what that format could not keep."""
    loaded = item.loaded
    assert loaded is not None
    if imageio.resolve_format(item.job.dst, loaded, ctx.fmt) == loaded.format:
        # Only the bytes that were decoded: a file changed since (a sync client mid-write) fails, named; one only
        # touched (its modification time alone changed) is still copied.
        imageio.copy_image(item.job.src, item.job.dst, mtime, expect=loaded.source, digest=loaded.digest)
        return ()
    return (*loaded.notes, *imageio.write_image(item.job.dst, loaded.pixels, loaded, ctx.fmt, ctx.quality, mtime))


def load_stage(job: Job, ctx: Context) -> Item:
    """Skip an existing output (unless overwriting), or decode the input, read its damage and decide the
    strength."""
    return _guarded(_load, Item(job), ctx)


def infer_stage(item: Item, ctx: Context, alongside: bool = False) -> Item:
    """Restore the decoded pixels at the decided strength (tiled, on the model's provider); an image left
    unchanged passes through. ``alongside``: other images keep the model's other streams busy meanwhile, so
    this one is not cut just to give each stream a tile (``restore.restore_pixels``'s ``spread``)."""
    return _guarded(functools.partial(_infer, spread=not alongside), item, ctx)


def write_stage(item: Item, ctx: Context) -> Record:
    """Write the restored (or unchanged) image atomically, and its report when on; return the image's Record."""
    item = _guarded(_write, item, ctx)
    assert item.record is not None
    tell_written(item.record, ctx, journaled=True)  # _write journalled it as soon as its output was on disk
    return item.record


def tell_written(record: Record, ctx: Context, journaled: bool = False) -> None:
    """Append ``record`` to ``ctx.journal`` (unless ``journaled`` already: ``_write`` or a Ray worker did) and pass
    it to ``ctx.on_written``, if its image was written (Ray's driver does it for its workers)."""
    if record.status not in (RESTORED, UNCHANGED):
        return
    if ctx.journal is not None and not journaled:
        ctx.journal.append(record)
    if ctx.on_written is not None:
        ctx.on_written(record)


def process_job(job: Job, ctx: Context) -> Record:
    """Restore one image and write its outputs, start to finish, in the calling thread."""
    return write_stage(infer_stage(load_stage(job, ctx), ctx), ctx)


# --- Reports -------------------------------------------------------------------------------------------

def write_image_report(item: Item, ctx: Context) -> dict[str, float]:
    """Per-image report files and metrics (``{}`` when reports are off or unavailable).

    A report failure never fails the image: it is already restored and written.
    """
    if ctx.report_dir is None:
        return {}
    from .report import as_float, image as report_image

    try:
        reference = _reference(item, ctx)
        metrics = report_image.write_image_report(item.job, item.loaded, item.restored, reference, ctx.report_dir)
    except Exception as exc:  # noqa: BLE001 - see docstring
        log.warning("report for %s failed: %s", printable(str(item.job.src)), printable(_reason(exc)))
        log.debug("report failure", exc_info=True)
        return {}
    # The report module writes infinities JSON-safe ("inf"); the record keeps real floats.
    values = {str(k): as_float(v) for k, v in (metrics or {}).items()}
    return {k: v for k, v in values.items() if v is not None}


def _reference(item: Item, ctx: Context) -> imageio.LoadedImage | None:
    """The image's original under ``--reference``, decoded; None when there is none or it is unusable."""
    if ctx.reference_root is None:
        return None
    from .report import image as report_image

    ref_path = report_image.match_reference(item.job, ctx.reference_root)
    if ref_path is None:
        log.debug("no reference for %s in %s", item.job.src, ctx.reference_root)
        return None
    try:
        return imageio.read_image(ref_path, ctx.max_pixels)
    except ImageError as exc:
        log.warning("reference %s unusable: %s", printable(str(ref_path)), exc)
        return None


def write_run_report(output_dir: Path | None, records: list[Record], run_info: dict[str, Any]) -> bool:
    """The per-run ``report.html``/``summary.csv``/``summary.json``; False when off, unavailable or failed."""
    if output_dir is None:
        return False
    from .report import run as report_run

    try:
        report_run.update_run_report(output_dir, records, run_info)
    except Exception as exc:  # noqa: BLE001 - the images are written; a report problem is only a warning
        log.warning("run report in %s failed: %s", output_dir, _reason(exc))
        log.debug("run report failure", exc_info=True)
        return False
    return True

