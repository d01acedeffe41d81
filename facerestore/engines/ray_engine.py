"""``--engine ray``: the local engine's jobs, restored by Ray Data workers with the same per-image code path.

The driver (the ``facerestore enhance`` process) has already walked the inputs and mapped the outputs
(:func:`facerestore.discovery.plan_jobs`). Here the jobs become a Ray dataset of rows of path strings;
``map_batches`` sends them to a pool of :class:`RestoreWorker` actors, each holding one ONNX Runtime session
opened in ``__init__`` (one per CPU slot of ``threads`` cores, or one per GPU with ``num_gpus=1``), which run
:func:`facerestore.pipeline.process_job` - the same skip rule, decoding, restoration and atomic writes as the
local engine. Each worker returns its :class:`~facerestore.summary.Record` (and the log lines the stages
emitted) as one JSON string; the driver streams them back in plan order and hands them to ``on_record``.

Without an address a private Ray instance is started for the run (no dashboard, Ray's logs kept off the
terminal) and shut down in all cases; with one, the driver connects to that cluster and only disconnects.
Workers on other machines must have facerestore installed and see the input and output paths at the same
place (a shared file system); relative paths are resolved against the driver's working folder.

Each worker appends the record of every image it writes to its own part of the run's journal as soon as the image
is on disk (:class:`facerestore.report.journal.JournalPart`, under the lock the driver holds), as the local engine
journals from its writing threads: records held back for plan order, or on their way to the driver, are not lost
with the run. A run that ends early (Ctrl-C, SIGTERM, ``--fail-fast``, a full disk, a worker lost) lets the images
being written finish, stops the workers from writing more, and delivers the journalled records the driver had not
received yet, after the others, still in plan order. ``ray.init`` replaces the process's SIGTERM handler; where the
command takes SIGTERM as a Ctrl-C, its own is put back for the session (:func:`_ray_session`).

A run the driver stops itself (``--fail-fast``, a full disk, stdout closed) reads the dataset to its end before
Ray is shut down: it sets the run's :class:`StopFlag`, the workers pass over every row left without reading it,
and the last row comes back only once Ray Data has stopped its own threads. Closing the iterator early instead
leaves those threads (they cannot be joined) inside Ray calls, and one that reaches Ray's core worker while
``ray.shutdown`` runs ends the whole process ("The core worker has already been shutdown"): exit 1, no report,
the journal left behind (now and then: 1 run in 20 of ``--fail-fast`` on a small machine).

``ray`` is imported only inside functions: the module is importable without the extra.
"""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import socket
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from facerestore.engines import RAY_INSTALL_HINT
from facerestore.errors import DeviceUnavailableError, FaceRestoreError, ModelError, UsageError
from facerestore.interrupts import TerminateAsInterrupt, Terminated
from facerestore.model_choice import ModelRequest
from facerestore.pipeline import Context, tell_written
from facerestore.summary import FAILED, RESTORED, SKIPPED, UNCHANGED, Record, as_float

if TYPE_CHECKING:
    from facerestore.discovery import Job

log = logging.getLogger(__name__)

RESULT = "result"  # the one output column: a JSON object {"record": ..., "logs": [...]} or {"fatal": ...}
BATCH_SIZE = 1  # rows per worker call: images take milliseconds to seconds, far above Ray Data's per-row cost
MAX_ROWS_PER_BLOCK = 64  # blocks are the unit of load balancing between workers: keep them small
AUTH_MODE_VAR = "RAY_AUTH_MODE"
WORKER_STOP_TIMEOUT_S = 120.0  # a run ended early waits this long at most for the images being written
_FATAL = {"DeviceUnavailableError": DeviceUnavailableError, "ModelError": ModelError}


def require_ray() -> None:
    """Raise UsageError (exit 2) with the install line when the ``ray`` extra is missing."""
    try:
        import ray  # noqa: F401
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise UsageError(f"--engine ray needs Ray Data, which is not installed ({exc}); "
                         f"install it with: {RAY_INSTALL_HINT}") from None


@dataclass(frozen=True)
class WorkerSettings:
    """Everything a worker needs to rebuild the run's :class:`Context` (which holds an unpicklable session)."""

    request: ModelRequest  # the driver's, with the threads each worker gets
    tile: int | None
    fmt: str | None
    quality: int | None
    overwrite: bool
    max_pixels: int
    report_dir: str | None
    reference_root: str | None
    strength: float | None  # None: auto
    cwd: str  # the driver's working folder: relative paths in the plan are relative to it
    journal: str | None = None  # the run's journal (held by the driver): each worker appends to a part of it

    @classmethod
    def from_context(cls, ctx: Context, request: ModelRequest, threads: int | None,
                     journal: Path | None = None) -> WorkerSettings:
        def absolute(path: Path | None) -> str | None:
            return os.path.abspath(path) if path is not None else None

        return cls(request=replace(request, threads=threads),
                   tile=ctx.tile, fmt=ctx.fmt, quality=ctx.quality, overwrite=ctx.overwrite,
                   max_pixels=ctx.max_pixels, report_dir=absolute(ctx.report_dir),
                   reference_root=absolute(ctx.reference_root), strength=ctx.strength, cwd=os.getcwd(),
                   journal=absolute(journal))


class _AsPlanned:
    """A worker's journal part, given records that name the files as the plan does (relative stays relative),
    like those the driver delivers: the report merges both by output path."""

    def __init__(self, journal: str) -> None:
        from facerestore.report.journal import JournalPart

        self.part = JournalPart(Path(journal))
        self.names: tuple[str, str] = ("", "")  # the plan's (src, dst) of the image being restored

    def append(self, record: Record) -> None:
        src, dst = self.names
        self.part.append(replace(record, input=src, output=None if record.output is None else dst))


class _LogCapture(logging.Handler):
    """Collects what the stages log for one image, so the driver can show it as the local engine would."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[tuple[int, str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((record.levelno, record.name, record.getMessage()))

    def take(self) -> list[tuple[int, str, str]]:
        lines, self.lines = self.lines, []
        return lines


class StopFlag:
    """Set by the driver when it stops a run early; its workers ask it before each image (a tiny Ray actor)."""

    def __init__(self) -> None:
        self.stopped = False

    def set(self) -> None:
        self.stopped = True

    def is_set(self) -> bool:
        return self.stopped


class RestoreWorker:
    """A Ray Data callable class: one ONNX Runtime session per worker, reused for every image it gets.

    ``stop`` is the run's :class:`StopFlag` actor (None: a run that is never stopped early, as in tests): once it
    is set, the rows left are passed over unread, so that the driver can read the dataset to its end quickly."""

    def __init__(self, settings: WorkerSettings, stop: Any = None) -> None:
        from facerestore.gpu import for_device

        self.settings = settings
        self.stop = stop
        self.stopped = False
        self.capture = _LogCapture()
        package_log = logging.getLogger("facerestore")
        package_log.addHandler(self.capture)
        package_log.setLevel(logging.DEBUG if settings.request.verbose else logging.INFO)
        # Paths from the driver are used as they are when this worker shares its working folder (a local
        # instance), so records and messages match the local engine's; otherwise they are made absolute.
        self.relocate = os.path.realpath(os.getcwd()) != os.path.realpath(settings.cwd)
        self.fatal: dict[str, str] | None = None
        self.journal = _AsPlanned(settings.journal) if settings.journal else None
        try:
            model, tile = for_device(settings.request.open(), settings.tile)
        except FaceRestoreError as exc:  # reported to the driver with the first batch: it ends the run
            self.fatal = {"type": type(exc).__name__, "message": str(exc)}
            return
        self.ctx = Context(
            model=model, tile=tile, fmt=settings.fmt, quality=settings.quality,
            overwrite=settings.overwrite, max_pixels=settings.max_pixels,
            report_dir=Path(settings.report_dir) if settings.report_dir else None,
            reference_root=Path(settings.reference_root) if settings.reference_root else None,
            strength=settings.strength, journal=self.journal)

    def _path(self, text: str) -> Path:
        return Path(os.path.join(self.settings.cwd, text)) if self.relocate else Path(text)

    def _run_stopped(self) -> bool:
        if not self.stopped and self.stop is not None:
            import ray

            self.stopped = ray.get(self.stop.is_set.remote())
        return self.stopped

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from facerestore.discovery import Job
        from facerestore.pipeline import infer_stage, load_stage, write_stage

        results = []
        for src, rel, dst in zip(batch["src"], batch["rel"], batch["dst"]):
            if self._run_stopped():  # the driver reads the rest of the dataset only to end it
                results.append(json.dumps({"dropped": True}))
                continue
            if self.fatal is not None:
                results.append(json.dumps({"fatal": self.fatal}))
                continue
            item = infer_stage(load_stage(Job(self._path(src), Path(rel), self._path(dst)), self.ctx), self.ctx)
            if self.journal is None:
                record = write_stage(item, self.ctx)
            else:
                self.journal.names = (str(src), str(dst))
                with self.journal.part.writing() as allowed:  # the run waits for it when it ends early
                    if not allowed:  # it has ended: its journal is read, so no image is written any more
                        results.append(json.dumps({"dropped": True}))
                        continue
                    record = write_stage(item, self.ctx)
            # The record names the files as the plan did (relative stays relative), like the local engine.
            record.input, record.output = str(src), (None if record.output is None else str(dst))
            result = {"record": asdict(record), "logs": self.capture.take()}
            if self.ctx.halt.is_set():  # the output's disk is full or read-only: the driver ends the run
                result["halt"] = self.ctx.halt_reason[0]
            results.append(json.dumps(result))
        return {RESULT: np.array(results, dtype=object)}


def _decode(text: str) -> tuple[Record | None, str | None]:
    """A worker's JSON back into a Record (replaying its log lines here) and why the run must halt, if it must;
    a worker-wide error is raised."""
    data = json.loads(text)
    if "dropped" in data:  # passed over, or written after the run asked its workers to stop: not written
        return None, None
    if "fatal" in data:
        fatal = data["fatal"]
        raise _FATAL.get(fatal["type"], FaceRestoreError)(fatal["message"])
    for level, name, message in data["logs"]:
        logging.getLogger(name).log(level, "%s", message)
    return Record(**data["record"]), data.get("halt")


@contextmanager
def _ray_session(address: str | None, verbose: bool) -> Iterator[Any]:
    """A private local Ray instance (``address`` None) or a connection to a cluster; always closed."""
    import ray

    if ray.is_initialized():  # a library caller who set Ray up owns its lifetime
        yield ray
        return
    quiet = {"include_dashboard": False, "log_to_driver": verbose, "configure_logging": True,
             "logging_level": logging.INFO if verbose else logging.ERROR}
    saved_auth_mode = os.environ.get(AUTH_MODE_VAR)  # ray.init sets it for the whole process: restore it
    saved_sigterm = _sigterm_handler()  # ray.init replaces it for the whole process too
    takes_sigterm = isinstance(getattr(saved_sigterm, "__self__", None), TerminateAsInterrupt)
    if address is not None:
        _check_reachable(address)
        _use_token_auth_when_available()
    try:
        if address is None:
            ray.init(**quiet)
        else:
            ray.init(address=address, **quiet)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        ray.shutdown()
        _restore_env(AUTH_MODE_VAR, saved_auth_mode)
        _restore_sigterm(saved_sigterm)
        where = f"the Ray cluster at {address}" if address else "a local Ray instance"
        raise DeviceUnavailableError(f"cannot start or reach {where}: {_last_line(exc)}") from None
    except SystemExit:  # a SIGTERM while Ray started: its handler, the only one in ray.init to call sys.exit
        _restore_env(AUTH_MODE_VAR, saved_auth_mode)  # Ray shuts itself down at exit, as after its sys.exit
        _restore_sigterm(saved_sigterm)
        if takes_sigterm:  # nothing restored yet: the run ends as after a Ctrl-C, and the next SIGTERM is a second
            saved_sigterm.__self__.count += 1
            raise Terminated from None
        raise
    if takes_sigterm:
        # The command takes SIGTERM as a Ctrl-C: Ray's handler (sys.exit, or kill Ray's processes and exit 1)
        # would end the run with no record delivered and no report. Ours stops it as a Ctrl-C does, and the
        # finally below shuts Ray down; a second SIGTERM still ends the process at once.
        _restore_sigterm(saved_sigterm)
    try:
        yield ray
    finally:
        ray.shutdown()
        _restore_env(AUTH_MODE_VAR, saved_auth_mode)
        _restore_sigterm(saved_sigterm)


def _sigterm_handler() -> Any:
    """The SIGTERM handler in place, where this thread may set it (the main thread), else None."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.getsignal(signal.SIGTERM)


def _restore_sigterm(handler: Any) -> None:
    if handler is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)


def _use_token_auth_when_available() -> None:
    """Send this user's Ray token to the cluster, as ``ray start`` and the ``ray`` CLI do.

    Clusters started by ``ray start`` (Ray >= 2.5x) require a token, kept in ``~/.ray/auth_token`` or
    ``RAY_AUTH_TOKEN``/``RAY_AUTH_TOKEN_PATH``; a driver connecting with ``ray.init(address=...)`` only
    sends it in token mode. An explicit ``RAY_AUTH_MODE`` is left alone.
    """
    if AUTH_MODE_VAR in os.environ:
        return
    # Ray's own switch (in the Ray version the extra pins) also refreshes its cached config: the variable
    # alone comes too late.
    from ray._private.authentication import authentication_token_setup as auth

    auth_log = logging.getLogger(auth.__name__)
    level, auth_log.level = auth_log.level, logging.ERROR  # it warns that token auth is on: that is the point
    try:
        auth.maybe_enable_token_auth_if_token_available(warn_if_disabled=False)
    finally:
        auth_log.setLevel(level)


def _restore_env(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def _check_reachable(address: str, timeout: float = 10.0) -> None:
    """Fail fast on a ``HOST:PORT`` nobody listens on: ``ray.init`` would retry for minutes."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or "://" in address:
        return  # "auto", "ray://..." and the like: Ray resolves those itself
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise DeviceUnavailableError(f"cannot reach the Ray cluster at {address}: {exc.strerror or exc}") from None


@contextmanager
def _quiet_data_context(preserve_order: bool) -> Iterator[Any]:
    """Ray Data settings for this run: records in plan order, no progress bars or stats on the terminal."""
    from ray.data import DataContext

    data_ctx = DataContext.get_current()
    changes = {"enable_progress_bars": False, "enable_operator_progress_bars": False,
               "print_on_execution_start": False, "enable_auto_log_stats": False}
    saved = {name: getattr(data_ctx, name) for name in changes if hasattr(data_ctx, name)}
    saved_order = data_ctx.execution_options.preserve_order
    for name in saved:
        setattr(data_ctx, name, changes[name])
    data_ctx.execution_options.preserve_order = preserve_order
    data_logger = logging.getLogger("ray.data")
    saved_level = data_logger.level
    data_logger.setLevel(logging.ERROR)
    try:
        yield data_ctx
    finally:
        for name, value in saved.items():
            setattr(data_ctx, name, value)
        data_ctx.execution_options.preserve_order = saved_order
        data_logger.setLevel(saved_level)


def _worker_resources(ray: Any, request: ModelRequest, jobs: int) -> tuple[dict[str, float], int, int | None]:
    """Per-worker resources, pool size and ORT threads per worker, from what the cluster offers.

    GPU workers take one GPU each (``--device cuda``, or ``auto`` on a cluster with GPUs). CPU workers take
    ``--threads`` cores each (default 1: one single-threaded session per core scales best for many images),
    and there are as many as the cluster's cores allow.
    """
    available = ray.cluster_resources()
    gpus, cpus = int(available.get("GPU", 0)), int(available.get("CPU", 0))
    if request.device == "cuda" or (request.device == "auto" and gpus > 0):
        if gpus == 0:
            raise DeviceUnavailableError("--device cuda: the Ray cluster has no GPU")
        return {"num_gpus": 1, "num_cpus": 1}, max(1, min(jobs, gpus)), request.threads
    threads = request.threads or 1
    if cpus < threads:
        raise DeviceUnavailableError(f"--threads {threads}: the Ray cluster has only {cpus} CPU(s)")
    return {"num_cpus": threads}, max(1, min(jobs, cpus // threads)), threads


def run_ray(jobs: Sequence[Job], ctx: Context, on_record: Callable[[Record], None], *, request: ModelRequest,
            address: str | None = None, fail_fast: bool = False, stop: threading.Event | None = None) -> bool:
    """Restore ``jobs`` on Ray Data; return False if stopped early. Same contract as ``run_local``.

    Records reach ``on_record`` in the calling thread, in plan order. A worker that cannot open the model
    raises its ModelError / DeviceUnavailableError here; a Ray failure (a worker process killed, a node lost)
    raises FaceRestoreError after the records already delivered. A run that ends early, a Ctrl-C included, first
    delivers the records its workers journalled (``ctx.journal``) that had not reached it yet.
    """
    require_ray()
    if not jobs:
        return True
    stop = stop or threading.Event()
    delivered: set[str] = set()  # the outputs of the written images whose records were delivered
    try:
        complete = _run_dataset(jobs, ctx, on_record, request, address, fail_fast, stop, delivered)
    except BaseException as exc:
        try:
            deliver_journaled(jobs, ctx, on_record, delivered)
            if not isinstance(exc, KeyboardInterrupt) and ctx.journal is not None and not ctx.journal.records():
                ctx.journal.close()  # a run ended by an error before any image: no lock file or folder left behind
        except Exception as problem:  # noqa: BLE001 - what ended the run comes first; the journal keeps them
            log.warning("the journalled records could not all be delivered: %s", problem)
        raise
    if not complete:  # stopped early (--fail-fast, a full disk, stdout closed)
        deliver_journaled(jobs, ctx, on_record, delivered)
    return complete


def deliver_journaled(jobs: Sequence[Job], ctx: Context, on_record: Callable[[Record], None],
                      delivered: set[str]) -> None:
    """Deliver, in plan order, the records of written images that the workers journalled and ``on_record`` has
    not had: those held back for plan order or still on their way when the run ended early."""
    if ctx.journal is None:
        return
    journaled = {r["output"]: r for r in ctx.journal.records()
                 if r.get("status") in (RESTORED, UNCHANGED) and r.get("output")}
    for job in jobs:
        data = journaled.get(str(job.dst))
        if data is not None and str(job.dst) not in delivered:
            delivered.add(str(job.dst))
            on_record(_journaled_record(data))


def _journaled_record(data: dict[str, Any]) -> Record:
    """A record read back from a journal (metrics as JSON carries them: infinity as "inf")."""
    names = {f.name for f in fields(Record)}
    record = Record(**{k: v for k, v in data.items() if k in names and k != "metrics"})
    record.metrics = {k: v for k, v in ((k, as_float(v)) for k, v in (data.get("metrics") or {}).items())
                      if v is not None}
    return record


def _run_dataset(jobs: Sequence[Job], ctx: Context, on_record: Callable[[Record], None], request: ModelRequest,
                 address: str | None, fail_fast: bool, stop: threading.Event, delivered: set[str]) -> bool:
    import ray.data
    from ray.exceptions import RayError

    with _ray_session(address, request.verbose) as ray, _quiet_data_context(preserve_order=True):
        resources, workers, threads = _worker_resources(ray, request, len(jobs))
        if address is None:
            # On a private instance a restarted worker would meet the same fate (and Ray warns on stderr
            # about restarts of actors with large constructor arguments): a crash ends the run, as locally.
            resources["max_restarts"] = 0
        # Held before the workers start, so that no other run takes their parts for those of a dead one.
        journal = ctx.journal.hold() if ctx.journal is not None else None
        settings = WorkerSettings.from_context(ctx, request, threads, journal)
        stop_flag = ray.remote(num_cpus=0)(StopFlag).remote()
        rows = [{"src": str(job.src), "rel": job.rel.as_posix(), "dst": str(job.dst)} for job in jobs]
        blocks = min(len(rows), max(workers * 4, math.ceil(len(rows) / MAX_ROWS_PER_BLOCK)))
        with warnings.catch_warnings():  # max_restarts has no named parameter yet (the extra pins Ray)
            warnings.filterwarnings("ignore", message=".*ray_remote_args.*deprecated")
            dataset = ray.data.from_items(rows, override_num_blocks=blocks).map_batches(
                RestoreWorker, fn_constructor_kwargs={"settings": settings, "stop": stop_flag},
                batch_size=BATCH_SIZE, batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=workers),
                **resources)
        log.debug("ray: %d job(s) in %d block(s) on %d worker(s) with %s", len(rows), blocks, workers, resources)
        count = 0
        rows_iter = iter(dataset.iter_rows())
        try:
            for row in rows_iter:
                record, halt = _decode(row[RESULT])
                if record is None:
                    continue
                _deliver(record, halt, ctx, on_record, delivered, journaled=journal is not None)
                count += 1
                if (fail_fast and record.status == FAILED) or stop.is_set() or ctx.halt.is_set():
                    stop.set()
                    break
            if stop.is_set():
                # Read to its end, not closed: see the module's docstring. The workers pass over what is left;
                # the images they had started finish, and their records (failures too) are delivered as the
                # local engine's are.
                ray.get(stop_flag.set.remote())
                deliver_started(rows_iter, ctx, on_record, delivered, journaled=journal is not None)
        except RayError as exc:
            raise FaceRestoreError(f"the Ray run failed after {count} image(s): {_last_line(exc)}") from None
        finally:
            if journal is not None and count < len(jobs):
                # Before the dataset's execution stops (its workers killed): those writing an image finish it
                # and journal it, as the local engine finishes its writes, and none starts another.
                ctx.journal.stop_parts(WORKER_STOP_TIMEOUT_S)
            close = getattr(rows_iter, "close", None)
            if close is not None:
                close()  # stops the dataset's execution when we leave early
    return count == len(jobs)


def deliver_started(rows: Iterable[dict[str, Any]], ctx: Context, on_record: Callable[[Record], None],
                    delivered: set[str], *, journaled: bool) -> None:
    """After an early stop, deliver in plan order the records of the rows left: those of the images the workers
    had started before they were told to stop, written or failed, as the local engine delivers the writes it had
    queued (the rows passed over come back with none; an image skipped as done was not started)."""
    for row in rows:
        record, halt = _decode(row[RESULT])
        if record is None or record.status == SKIPPED or (record.output is not None and record.output in delivered):
            continue
        _deliver(record, halt, ctx, on_record, delivered, journaled=journaled)


def _deliver(record: Record, halt: str | None, ctx: Context, on_record: Callable[[Record], None],
             delivered: set[str], *, journaled: bool) -> None:
    """Pass a worker's record on: a full disk's reason kept for the run (as the local engine's write stage does),
    the record journalled here unless the workers' parts hold it already, then handed to ``on_record``."""
    if halt is not None and not ctx.halt.is_set():
        ctx.halt_reason.append(halt)
        ctx.halt.set()
    tell_written(record, ctx, journaled=journaled)
    on_record(record)
    if record.output is not None:
        delivered.add(record.output)


def _last_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__
