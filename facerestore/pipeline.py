"""THE per-image code path, and the local engine that overlaps its stages.

``load_stage`` -> ``infer_stage`` -> ``write_stage`` restore one image and write its outputs; each takes
and returns an :class:`Item`, and a stage that fails (or a skip) sets ``item.record`` so later stages pass
the item through untouched. ``process_job`` composes them for one file; ``run_local`` runs many with
decoding, inference and encoding in overlapping thread pools, so a run is limited by inference, not
I/O. Every engine (local threads, Ray) calls these same three functions.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from facerestore import imageio
from facerestore.discovery import Job, printable
from facerestore.errors import FaceRestoreError, ImageError, OutputError
from facerestore.interrupts import DeferredInterrupts
from facerestore.restore import restore_pixels
from facerestore.session import OnnxModel
from facerestore.summary import FAILED, RESTORED, SKIPPED, Record

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
    # Set when an output failure dooms every later file (disk full, read-only): engines stop taking files.
    halt: threading.Event = field(default_factory=threading.Event, compare=False, repr=False)
    halt_reason: list[str] = field(default_factory=list, compare=False, repr=False)


@dataclass
class Item:
    """One job travelling through the stages."""

    job: Job
    loaded: imageio.LoadedImage | None = None
    restored: np.ndarray | None = None
    seconds: float = 0.0  # time spent in this image's stages (not queue waits)
    record: Record | None = None  # set once the item is finished (skipped, failed or written)


def _finish(item: Item, ctx: Context, status: str, error: str | None = None) -> Item:
    loaded = item.loaded
    height, width = (loaded.pixels.shape[:2] if loaded is not None else (None, None))
    item.record = Record(
        input=str(item.job.src), output=None if status == FAILED else str(item.job.dst), status=status,
        error=error, width=width, height=height, seconds=item.seconds,
        provider=ctx.model.provider, model=ctx.model.name)
    return item


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
    item.loaded = imageio.read_image(item.job.src, ctx.max_pixels)


def _infer(item: Item, ctx: Context) -> None:
    assert item.loaded is not None
    item.restored = restore_pixels(ctx.model, item.loaded.pixels, ctx.tile)


def _write(item: Item, ctx: Context) -> None:
    assert item.loaded is not None and item.restored is not None
    try:
        mtime: float | None = os.stat(item.job.src).st_mtime
    except OSError:
        mtime = None
    notes = imageio.write_image(item.job.dst, item.restored, item.loaded, ctx.fmt, ctx.quality, mtime)
    for note in (*item.loaded.notes, *notes):
        log.warning("%s: %s", printable(str(item.job.src)), note)
    _finish(item, ctx, RESTORED)
    assert item.record is not None
    item.record.metrics = write_image_report(item, ctx)
    item.loaded = item.restored = None  # free the pixels now: the record is all that is left to report


def load_stage(job: Job, ctx: Context) -> Item:
    """Skip an existing output (unless overwriting) or decode the input."""
    return _guarded(_load, Item(job), ctx)


def infer_stage(item: Item, ctx: Context) -> Item:
    """Restore the decoded pixels (tiled, on the model's provider)."""
    return _guarded(_infer, item, ctx)


def write_stage(item: Item, ctx: Context) -> Record:
    """Write the restored image atomically (and its report, when on); return the image's Record."""
    item = _guarded(_write, item, ctx)
    assert item.record is not None
    return item.record


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

    reference = None
    if ctx.reference_root is not None:
        ref_path = report_image.match_reference(item.job, ctx.reference_root)
        if ref_path is not None:
            try:
                reference = imageio.read_image(ref_path, ctx.max_pixels)
            except ImageError as exc:
                log.warning("reference %s unusable: %s", printable(str(ref_path)), exc)
        else:
            log.debug("no reference for %s in %s", item.job.src, ctx.reference_root)
    try:
        metrics = report_image.write_image_report(item.job, item.loaded, item.restored, reference, ctx.report_dir)
    except Exception as exc:  # noqa: BLE001 - see docstring
        log.warning("report for %s failed: %s", printable(str(item.job.src)), printable(_reason(exc)))
        log.debug("report failure", exc_info=True)
        return {}
    # The report module writes infinities JSON-safe ("inf"); the record keeps real floats.
    values = {str(k): as_float(v) for k, v in (metrics or {}).items()}
    return {k: v for k, v in values.items() if v is not None}


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


# --- Local engine ------------------------------------------------------------------------------------

def run_local(jobs: Iterable[Job], ctx: Context, on_record: Callable[[Record], None], *,
              decode_workers: int = 2, encode_workers: int = 2, fail_fast: bool = False,
              on_start: Callable[[Job], None] | None = None, stop: threading.Event | None = None) -> bool:
    """Restore ``jobs`` with decoding, inference and encoding overlapping; return False if stopped early.

    Decoding runs ahead in a pool (at most ``decode_workers + 1`` decoded images wait), inference in its own
    threads, encoding in another pool (at most ``encode_workers + 1`` images queued). Records are delivered to
    ``on_record`` in the calling thread, in input order. ``fail_fast`` stops taking new files after the first
    failure; ``stop`` may be set from elsewhere to do the same (images already in inference are then dropped).

    With several CPU streams, two images are in inference at once: the next image's tiles start on a core as
    soon as it is free, instead of that core idling until the other one finishes the current image's last tile
    (which any decoding or encoding on its core delays).

    On KeyboardInterrupt: no new file is started, decoded-but-unrestored files are dropped, files being
    written are finished (their records delivered), then the interrupt propagates.
    """
    stop = stop or threading.Event()
    pending_jobs = iter(jobs)
    loading: deque[Future[Item]] = deque()
    inferring: deque[Future[Item]] = deque()
    writing: deque[Future[Record]] = deque()
    max_loading, max_writing = decode_workers + 1, encode_workers + 1
    max_inferring = 2 if ctx.model.streams > 1 else 1
    decoder = ThreadPoolExecutor(decode_workers, thread_name_prefix="facerestore-decode")
    inferer = ThreadPoolExecutor(max_inferring, thread_name_prefix="facerestore-image")
    encoder = ThreadPoolExecutor(encode_workers, thread_name_prefix="facerestore-encode")
    interrupts = DeferredInterrupts()

    def deliver(record: Record) -> None:
        on_record(record)
        if (fail_fast and record.status == FAILED) or ctx.halt.is_set():
            stop.set()

    def fill() -> None:
        while not stop.is_set() and len(loading) < max_loading:
            job = next(pending_jobs, None)
            if job is None:
                return
            loading.append(decoder.submit(load_stage, job, ctx))

    def start_inference() -> None:
        """Move decoded images into inference, in order, while fewer than ``max_inferring`` are there."""
        while loading and len(inferring) < max_inferring and not stop.is_set():
            item = interrupts.wait(loading.popleft())
            fill()
            if item.record is None:
                if on_start is not None:
                    on_start(item.job)
                inferring.append(inferer.submit(infer_stage, item, ctx))
            else:  # skipped or failed to decode: passes through in its place in the order
                done: Future[Item] = Future()
                done.set_result(item)
                inferring.append(done)

    def drain(block_until: int) -> None:
        """Deliver finished writes in order; block while more than ``block_until`` are queued."""
        while writing and (writing[0].done() or len(writing) > block_until):
            deliver(interrupts.wait(writing.popleft()))

    def stop_queued() -> None:
        """No new work: cancel what waits to be decoded or restored (the writes already queued still finish)."""
        stop.set()
        for future in (*loading, *inferring):
            future.cancel()

    with interrupts:  # Ctrl-C is counted while this thread waits, and raised by interrupts.wait
        try:
            fill()
            start_inference()
            while inferring and not stop.is_set():
                item = interrupts.wait(inferring.popleft())
                start_inference()
                if item.record is not None:  # skipped or failed before writing: report now, in order
                    drain(0)
                    deliver(item.record)
                else:
                    writing.append(encoder.submit(write_stage, item, ctx))
                drain(max_writing)
            drain(0)
            interrupts.check()  # a Ctrl-C during the last deliveries still ends the run as interrupted
        except KeyboardInterrupt:
            stop_queued()
            drain(0)  # finish and report the files being written; a second Ctrl-C aborts this wait
            raise
        finally:
            stop_queued()
            decoder.shutdown(wait=True, cancel_futures=True)
            inferer.shutdown(wait=True, cancel_futures=True)
            encoder.shutdown(wait=True)
    interrupts.check()  # one that arrived while the pools shut down
    return next(pending_jobs, None) is None and not loading and not inferring
