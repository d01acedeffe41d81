"""Build the ONNX Runtime session for a model file: safety checks, providers, log silencing, contract validation.

Which file to open (a shipped name, ``--precision``) is decided by :mod:`facerestore.model_choice`.

This is the only module that imports ``onnxruntime``, and only inside functions, so ``--help`` and
``--version`` never pay for it. ONNX Runtime's own log lines (for example the loud ERROR it prints when
onnxruntime-gpu cannot find the CUDA libraries) are kept off the terminal unless ``verbose``.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from facerestore import contract
from facerestore.errors import DeviceUnavailableError, ModelError
from facerestore.interrupts import DeferredInterrupts
from facerestore.onnx_wire import external_tensor_found, with_constant_input

log = logging.getLogger(__name__)

DEVICES = ("auto", "cuda", "cpu")
CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
# The shipped models are a few MB; anything this big is not a facerestore model and is not worth reading.
MAX_MODEL_BYTES = 512 * 1024 * 1024
# Context assumed when a user model does not record its receptive radius: larger than any plain
# conv stack of reasonable depth, so tiling stays exact at the price of some recomputed overlap.
DEFAULT_RECEPTIVE_RADIUS = 16
# Concurrent single-threaded runs on the CPU, at most this many (each holds its own activations in memory).
MAX_STREAMS = 8
# ORT severities: 0 verbose, 1 info, 2 warning, 3 error, 4 fatal. ERROR is what the CUDA probe emits.
_QUIET_SEVERITY = 4
_VERBOSE_SEVERITY = 1


@dataclass
class OnnxModel:
    """A validated model ready to run. ``run`` is thread-safe (ONNX Runtime sessions are).

    ``streams`` is how many runs may execute at once (``run_all``): on the CPU each run is single-threaded and
    one run per core works on its own tile, which measured faster than one run spread over every core
    (no per-layer barrier between threads, and a smaller working set per core; benchmarks/README.md).
    """

    name: str
    path: Path
    channels: int
    receptive_radius: int
    metadata: dict[str, str]
    provider: str
    fixed_hw: tuple[int, int] | None = None  # set when the model only accepts one spatial size
    max_batch: int | None = None  # 1 when the batch dimension is fixed
    streams: int = 1
    condition: str | None = None  # the damage-level input of a conditioned model (contract.META_CONDITION_INPUT)
    size_multiple: int = 1  # height and width must be multiples of this (contract.META_MULTIPLE)
    bytes_per_pixel: int | None = None  # measured CPU working memory per input pixel (contract.META_BYTES_PER_PIXEL)
    _session: Any = field(default=None, repr=False)
    _by_level: LevelSessions | None = field(default=None, repr=False, compare=False)  # a conditioned model on the CPU
    _pool: list[ThreadPoolExecutor] = field(default_factory=list, repr=False, compare=False)
    _pool_lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def run(self, batch: np.ndarray, strength: float = 1.0) -> np.ndarray:
        """NCHW float32 -> NCHW float32 (not clamped). A conditioned model is told ``strength`` as its damage
        level; the report's models take the image alone (their strength is a blend, applied by the caller)."""
        if self._by_level is not None:
            return self._by_level.run(batch, strength)
        feeds = {contract.INPUT_NAME: batch}
        if self.condition is not None:
            feeds[self.condition] = np.full((batch.shape[0], 1), strength, np.float32)
        out = self._session.run([contract.OUTPUT_NAME], feeds)[0]
        return np.asarray(out, dtype=np.float32)

    def run_all(self, batches: Iterable[np.ndarray], strength: float = 1.0) -> Generator[np.ndarray, None, None]:
        """``run`` on each batch, results in order; up to ``streams`` of them execute at once.

        ``batches`` is consumed lazily, a few ahead of the results, so a caller that cuts tiles on demand never
        holds more than a handful of tile inputs (a whole image's worth would double its memory).
        """
        if self.streams <= 1:
            yield from (self.run(batch, strength) for batch in batches)
            return
        with self._pool_lock:  # one pool per model, made on first use and shared by every caller
            if not self._pool:
                self._pool.append(ThreadPoolExecutor(self.streams, thread_name_prefix="facerestore-infer"))
        # A caller in the main thread (archive-eval, fit-strength, evaluate; the local engine and compare call from
        # threads of their own, where DeferredInterrupts leaves signals alone) submits and waits through
        # DeferredInterrupts, as the local engine waits on its pools: a Ctrl-C raised inside a wait (submit waits
        # for a new thread to start), or one that leaves runs in ONNX Runtime while the interpreter exits and joins
        # their threads, aborts the process (facerestore.interrupts).
        feed = iter(batches)
        pending: deque[Future[np.ndarray]] = deque()  # a run leaves it once waited for: _settle waits for the rest
        try:
            while True:
                with DeferredInterrupts() as interrupts:
                    while len(pending) <= self.streams and (batch := next(feed, None)) is not None:
                        pending.append(self._pool[0].submit(self.run, batch, strength))
                    if pending:
                        interrupts.wait(pending[0])
                # One counted after the wait's last check (as its run came back, or as the last batch was cut) is
                # raised here: it would go with the DeferredInterrupts, as if the key had not been pressed.
                interrupts.check()
                if not pending:
                    return
                yield pending.popleft().result()
        finally:
            _settle(pending)


def _settle(pending: deque[Future[np.ndarray]]) -> None:
    """The runs still pending when ``run_all`` ends early (an interrupt, a failed run, its caller gone): those not
    started are cancelled, those under way waited for, a Ctrl-C meanwhile counted and raised once they are back."""
    if not pending:
        return
    for future in pending:
        future.cancel()
    with DeferredInterrupts() as interrupts:
        wait(pending)
    interrupts.check()


class LevelSessions:
    """Sessions of a conditioned model with its damage level made a constant of the graph, the latest few kept.

    ONNX Runtime then folds what the level computes into the weights: a DARN's per-block scale and shift, which
    the shipped graph applies as elementwise passes over every feature map after a convolution, become that
    convolution's own weights and bias. On the CPU that took darn from 0.41-0.43x to 0.34-0.36x BigCNN's time per
    megapixel (benchmarks/README.md). A session takes about 10 ms to make, and with the shared arena its first run
    is as fast as later ones, so one per image costs little; an image's tiles and the images that share a level
    reuse it.
    """

    # The images in flight, recurring levels (photos saved at one quality) and a strength sweep (fit-strength
    # tries 11 per photo, `compare` several): about 5 MB each for darn, its weights and their packed copy.
    KEEP = 16

    def __init__(self, model_bytes: bytes, condition: str, make: Callable[[bytes], Any]):
        self._bytes, self._condition, self._make = model_bytes, condition, make
        self._sessions: OrderedDict[float, Any] = OrderedDict()
        self._lock = threading.Lock()

    def session(self, level: float) -> Any:
        key = float(np.float32(level))
        with self._lock:
            found = self._sessions.pop(key, None)
            if found is None:
                constant = np.full((1, 1), key, np.float32)
                found = self._make(with_constant_input(self._bytes, self._condition, constant))
            self._sessions[key] = found
            while len(self._sessions) > self.KEEP:
                self._sessions.popitem(last=False)
            return found

    def run(self, batch: np.ndarray, level: float) -> np.ndarray:
        """``OnnxModel.run`` for one level. The constant holds one level, so a batch runs one image at a time
        (batching gained nothing on the CPU: benchmarks/README.md)."""
        session = self.session(level)
        outs = [session.run([contract.OUTPUT_NAME], {contract.INPUT_NAME: batch[i:i + 1]})[0]
                for i in range(batch.shape[0])]
        return np.asarray(outs[0] if len(outs) == 1 else np.concatenate(outs), dtype=np.float32)


def open_model(path: str | Path, device: str = "auto", threads: int | None = None, verbose: bool = False,
               streams: int | None = None, name: str | None = None) -> OnnxModel:
    """Open the ``.onnx`` file at ``path`` on the requested device; ``name`` (default: the file's name) is what
    records call the model.

    ``threads`` is the CPU threads inference may use in all (default: the cores this process may run on);
    ``streams`` how many single-image runs share them (default: one per thread on the CPU, one on CUDA).

    Raises ModelError (missing, unsafe or contract-breaking file) and DeviceUnavailableError
    (``device="cuda"`` without a usable CUDA runtime: never a silent CPU run).
    """
    if device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, not {device!r}")
    path = Path(path)
    name = name or path.name
    model_bytes = _read_model_bytes(path)
    # The CPU layout whatever the providers: on CUDA every node runs on the card and the CPU threads idle, and
    # when onnxruntime-gpu finds no usable card it falls back to the CPU with this layout already in place.
    intra, cpu_streams = split_threads(threads, streams)
    session = _create_session(model_bytes, path, _providers(device), intra, verbose)
    provider = session.get_providers()[0]
    run_streams = cpu_streams if provider == CPU else 1
    if device == "cuda" and provider != CUDA:
        raise DeviceUnavailableError(
            "CUDA was requested but ONNX Runtime could not use it (CUDA/cuDNN libraries missing or no GPU); "
            "run with -v to see ONNX Runtime's message, or use --device cpu")
    metadata = dict(session.get_modelmeta().custom_metadata_map)
    condition = metadata.get(contract.META_CONDITION_INPUT) or None
    channels, fixed_hw, max_batch = _check_contract(session, path, condition)
    radius = _receptive_radius(metadata, path)
    multiple = _size_multiple(metadata, path)
    bytes_per_pixel = _bytes_per_pixel(metadata, path)
    log.debug("model %s (%s): %d channel(s), radius %d, provider %s, %d stream(s) of %s thread(s)", name, path,
              channels, radius, provider, run_streams, intra or "default")
    # On a card the elementwise passes are cheap and each new session would search its convolution algorithms
    # again: the level stays an input there.
    by_level = None
    if condition is not None and provider == CPU:
        by_level = LevelSessions(model_bytes, condition,
                                 lambda data: _create_session(data, path, [CPU], intra, verbose))
    return OnnxModel(name=name, path=path, channels=channels, receptive_radius=radius, metadata=metadata,
                     provider=provider, fixed_hw=fixed_hw, max_batch=max_batch, streams=run_streams,
                     condition=condition, size_multiple=multiple, bytes_per_pixel=bytes_per_pixel,
                     _session=session, _by_level=by_level)


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, which containers and ``taskset`` narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def split_threads(threads: int | None, streams: int | None = None) -> tuple[int, int]:
    """(intra-op threads per run, concurrent runs) for ``threads`` CPU threads in all."""
    total = threads or usable_cpus()
    streams = max(1, min(streams or min(total, MAX_STREAMS), total))
    return max(1, total // streams), streams


def read_metadata(path: Path) -> dict[str, str]:
    """The custom metadata of a model file (for ``facerestore models``), read on the CPU provider."""
    session = _create_session(_read_model_bytes(path), path, [CPU], 1, verbose=False)
    return dict(session.get_modelmeta().custom_metadata_map)


def _read_model_bytes(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_MODEL_BYTES:
            raise ModelError(f"{path}: {size / 2**20:.0f} MB is larger than the {MAX_MODEL_BYTES // 2**20} MB "
                             "limit for a model file")
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read model {path}: {exc.strerror or exc}") from exc
    try:
        external = external_tensor_found(data)
    except ValueError as exc:
        raise ModelError(f"{path} is not an ONNX model (unreadable protobuf: {exc})") from exc
    if external:
        raise ModelError(f"{path} stores weights in external data files, which facerestore refuses to load; "
                         "save the model as a single .onnx file")
    return data


def _onnxruntime() -> Any:
    """``import onnxruntime``, its telemetry off unless the environment says otherwise (ORT_DISABLE_TELEMETRY=0).

    Since 1.2x the import keeps a device ID under ~/.cache (XDG_CACHE_HOME), and where that cannot be written (a
    read-only home, a cron job's HOME=/) prints a warning before any log severity can be set. facerestore writes
    nothing but its outputs, and ONNX Runtime's messages reach stderr with -v only.
    """
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    import onnxruntime

    return onnxruntime


def _providers(device: str) -> list[str]:
    """The execution providers for ``--device``, best first; raises when CUDA is demanded but absent."""
    ort = _onnxruntime()

    available = ort.get_available_providers()
    if device == "cpu":
        return [CPU]
    if device == "cuda":
        if CUDA not in available:
            raise DeviceUnavailableError("CUDA was requested but this ONNX Runtime build has no CUDA provider "
                                         "(install onnxruntime-gpu) ; use --device cpu")
        return [CUDA, CPU]
    return [CUDA, CPU] if CUDA in available else [CPU]


def _create_session(model_bytes: bytes, path: Path, providers: list[str], threads: int | None,
                    verbose: bool) -> Any:
    ort = _onnxruntime()

    severity = _VERBOSE_SEVERITY if verbose else _QUIET_SEVERITY
    ort.set_default_logger_severity(severity)
    options = ort.SessionOptions()
    options.log_severity_level = severity
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.inter_op_num_threads = 1  # a conv stack is one chain of nodes: no parallel branches to use
    if threads:
        options.intra_op_num_threads = threads
    # Spinning workers pick up the next conv at once (measured 7 % faster end to end for BigCNN at 1024 px with
    # two threads per run). With one thread per run, the engine's CPU default, there are no workers to spin.
    options.add_session_config_entry("session.intra_op.allow_spinning", "1")
    if providers == [CPU]:
        _share_cpu_arena(options)

    # Loading from bytes plus an empty folder for external initializers: even if the scan above missed a
    # reference, ONNX Runtime has nothing on disk it could be pointed at.
    with tempfile.TemporaryDirectory(prefix="facerestore-noext-") as empty:
        options.add_session_config_entry("session.model_external_initializers_file_folder_path", empty)
        try:
            return ort.InferenceSession(model_bytes, sess_options=options, providers=providers)
        except Exception as exc:  # ORT raises its own pybind exception types
            raise ModelError(f"ONNX Runtime cannot load {path}: {_first_line(exc)}") from exc


_arena_lock = threading.Lock()
_arena_registered = False


def _share_cpu_arena(options: Any) -> None:
    """Allocate from the one CPU arena of the process instead of one per session.

    A conditioned model makes a session per damage level (``LevelSessions``). With an arena each, every new
    session faulted in fresh memory on its first run (about 0.07 s per 1024 px photo, and 1.2 GB peak for
    darn where the shared arena kept 0.5 GB); from the shared one it reuses what earlier runs left."""
    global _arena_registered
    ort = _onnxruntime()

    with _arena_lock:
        if not _arena_registered:
            memory = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT)
            ort.create_and_register_allocator(memory, ort.OrtArenaCfg(0, -1, -1, -1))  # ORT's defaults
            _arena_registered = True
    options.add_session_config_entry("session.use_env_allocators", "1")


def _check_contract(session: Any, path: Path, condition: str | None = None
                    ) -> tuple[int, tuple[int, int] | None, int | None]:
    """Validate the I/O contract; return (channels, fixed (H, W) or None, max batch or None)."""
    inputs, outputs = session.get_inputs(), session.get_outputs()
    wanted = 1 if condition is None else 2
    if len(inputs) != wanted or len(outputs) != 1:
        wants = "exactly one input" if condition is None else f"exactly two inputs (the image and {condition!r})"
        raise ModelError(f"{path}: a facerestore model has {wants} and one output, "
                         f"this one has {len(inputs)} and {len(outputs)}")
    if condition is not None:
        level = next((i for i in inputs if i.name == condition), None)
        if level is None or level.type != "tensor(float)" or len(level.shape) != 2:
            raise ModelError(f"{path}: its metadata names the damage input {condition!r}, which must be a float32 "
                             f"(N, 1) input")
        inputs = [i for i in inputs if i.name != condition]
    inp, out = inputs[0], outputs[0]
    if (inp.name, out.name) != (contract.INPUT_NAME, contract.OUTPUT_NAME):
        raise ModelError(f"{path}: input/output must be named {contract.INPUT_NAME!r}/{contract.OUTPUT_NAME!r}, "
                         f"found {inp.name!r}/{out.name!r}")
    for tensor in (inp, out):
        if tensor.type != "tensor(float)":
            raise ModelError(f"{path}: {tensor.name!r} must be float32, found {tensor.type}")
        if len(tensor.shape) != 4:
            raise ModelError(f"{path}: {tensor.name!r} must be 4-D NCHW, found shape {tensor.shape}")
    in_c, out_c = inp.shape[1], out.shape[1]
    if in_c not in contract.ALLOWED_CHANNELS or in_c != out_c:
        raise ModelError(f"{path}: channels must be 1 (gray) or 3 (RGB) and equal on input and output, "
                         f"found {in_c} -> {out_c}")
    in_hw, out_hw = inp.shape[2:], out.shape[2:]
    static = [isinstance(d, int) for d in in_hw]
    if any(static) and not all(static):
        raise ModelError(f"{path}: height and width must both be dynamic or both fixed, found {in_hw}")
    fixed_hw = (int(in_hw[0]), int(in_hw[1])) if all(static) else None
    if fixed_hw and tuple(out_hw) != fixed_hw:
        raise ModelError(f"{path}: output size {out_hw} must equal input size {in_hw}")
    batch = inp.shape[0]
    return int(in_c), fixed_hw, (int(batch) if isinstance(batch, int) else None)


def _whole_number(metadata: dict[str, str], key: str, path: Path, wanted: str, low: int,
                  high: int | None = None) -> int | None:
    """An optional whole-number metadata value in [low, high]; None when absent, ModelError when out of range."""
    raw = metadata.get(key)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if value < low or (high is not None and value > high):
        raise ModelError(f"{path}: {key} must be {wanted}, found {raw!r}")
    return value


def _size_multiple(metadata: dict[str, str], path: Path) -> int:
    return _whole_number(metadata, contract.META_MULTIPLE, path, "a whole number 1..64", 1, 64) or 1


def _bytes_per_pixel(metadata: dict[str, str], path: Path) -> int | None:
    return _whole_number(metadata, contract.META_BYTES_PER_PIXEL, path, "a positive whole number", 1)


def _receptive_radius(metadata: dict[str, str], path: Path) -> int:
    raw = metadata.get(contract.META_RECEPTIVE)
    try:
        radius = int(raw) if raw is not None else -1
    except ValueError:
        radius = -1
    if radius < 0:
        log.warning("%s does not record %s; assuming %d pixels of context for tiling",
                    path.name, contract.META_RECEPTIVE, DEFAULT_RECEPTIVE_RADIUS)
        return DEFAULT_RECEPTIVE_RADIUS
    return radius


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
