"""The local engine: THE per-image code path on this machine, its stages overlapping in thread pools.

Decoding, inference and encoding run in their own pools, so a run is limited by inference, not I/O.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor

from facerestore import pipeline  # its stages are looked up per call, so a test can wrap one
from facerestore.discovery import Job
from facerestore.interrupts import DeferredInterrupts
from facerestore.pipeline import Context, Item
from facerestore.summary import FAILED, Record


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
    (which any decoding or encoding on its core delays). An image with another one queued behind it is not cut
    into tiles just to give each stream one (``infer_stage``'s ``alongside``): the next image keeps the other
    stream busy, and an image that fits the memory budget runs whole, without recomputing context rows. The
    last image is cut, so both streams finish it.

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
            loading.append(decoder.submit(pipeline.load_stage, job, ctx))

    def start_inference() -> None:
        """Move decoded images into inference, in order, while fewer than ``max_inferring`` are there."""
        while loading and len(inferring) < max_inferring and not stop.is_set():
            item = interrupts.wait(loading.popleft())
            fill()
            if item.record is None:
                if on_start is not None:
                    on_start(item.job)
                alongside = max_inferring > 1 and bool(loading)
                inferring.append(inferer.submit(pipeline.infer_stage, item, ctx, alongside))
            else:  # skipped or failed to decode: passes through in its place in the order
                done: Future[Item] = Future()
                done.set_result(item)
                inferring.append(done)

    def drain(block_until: int) -> None:
        """Deliver finished writes in order; block while more than ``block_until`` are queued. A write leaves the
        queue only once waited for: a Ctrl-C that ends the wait leaves it there, to be finished and reported."""
        while writing and (writing[0].done() or len(writing) > block_until):
            record = interrupts.wait(writing[0])
            writing.popleft()
            deliver(record)

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
                    writing.append(encoder.submit(pipeline.write_stage, item, ctx))
                drain(max_writing)
            drain(0)
            interrupts.check()  # a Ctrl-C during the last deliveries still ends the run as interrupted
        except KeyboardInterrupt:
            stop_queued()
            drain(0)  # finish and report the files being written; a second Ctrl-C aborts this wait
            raise
        finally:
            # Joined whatever Ctrl-Cs come meanwhile (counted, never raised inside a join): a thread left running
            # in ONNX Runtime as the interpreter exits aborts the process (facerestore.interrupts).
            stop_queued()
            decoder.shutdown(wait=True, cancel_futures=True)
            inferer.shutdown(wait=True, cancel_futures=True)
            encoder.shutdown(wait=True)
    interrupts.check()  # one that arrived while the pools shut down
    return next(pending_jobs, None) is None and not loading and not inferring
