"""Shared fixtures: real photos shipped in the repo, tiny ONNX models built without torch, shared/ data."""

from __future__ import annotations

import logging
import signal
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SHARED_DATA = ROOT.parent / "shared" / "data"


class FirstCallsMeet:
    """Call it from concurrent code: the first ``n`` callers wait for each other, later ones pass straight on.

    It proves overlap without timing: unless ``n`` callers really are in flight at once, the barrier times out
    and raises BrokenBarrierError in them (so their work fails and the test with it).
    """

    def __init__(self, n: int, timeout: float = 30.0):
        self.barrier = threading.Barrier(n, timeout=timeout)
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self) -> None:
        with self._lock:
            self.calls += 1
            first = self.calls <= self.barrier.parties
        if first:
            self.barrier.wait()


def build_tiny_onnx(path: Path, channels: int = 3, layers: int = 2, seed: int = 0) -> Path:
    """A real conv stack obeying the model contract: ``layers`` 3x3 convs (ReLU between), near identity.

    Its receptive radius is ``layers`` pixels, recorded in the metadata like the shipped models.
    """
    from onnx import TensorProto, helper, numpy_helper

    from facerestore import contract

    rng = np.random.default_rng(seed)
    widths = [channels] + [8] * (layers - 1) + [channels]
    nodes, inits = [], []
    prev = contract.INPUT_NAME
    for i, (cin, cout) in enumerate(zip(widths[:-1], widths[1:])):
        w = rng.normal(0, 0.02, size=(cout, cin, 3, 3)).astype(np.float32)
        for c in range(min(cin, cout, channels)):
            w[c, c, 1, 1] += 1.0  # carry the input through, as the shipped models start
        b = np.zeros(cout, np.float32)
        inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(b, f"b{i}")]
        out = contract.OUTPUT_NAME if i == layers - 1 else f"h{i}"
        conv_out = out if i == layers - 1 else f"c{i}"
        nodes.append(helper.make_node("Conv", [prev, f"w{i}", f"b{i}"], [conv_out], pads=[1, 1, 1, 1],
                                      kernel_shape=[3, 3], strides=[1, 1]))
        if i < layers - 1:
            nodes.append(helper.make_node("Relu", [conv_out], [out]))
        prev = out
    shape = ["N", channels, "H", "W"]
    graph = helper.make_graph(
        nodes, "tiny",
        [helper.make_tensor_value_info(contract.INPUT_NAME, TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info(contract.OUTPUT_NAME, TensorProto.FLOAT, shape)],
        initializer=inits)
    return _save_fixture_model(graph, path, {
        contract.META_ARCH: f"tiny{layers}",
        contract.META_PARAMS: str(sum(int(np.prod(t.dims)) for t in inits)),
        contract.META_CHANNELS: str(channels),
        contract.META_RECEPTIVE: str(layers),
    })


def _save_fixture_model(graph, path: Path, props: dict[str, str]) -> Path:
    """Wrap ``graph`` in a checked opset-17 model with the contract's metadata plus ``props``; save it."""
    import onnx
    from onnx import helper

    from facerestore import contract

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    helper.set_model_props(model, {contract.META_CONTRACT: contract.CONTRACT_VERSION,
                                   contract.META_DESCRIPTION: "test fixture", **props})
    onnx.checker.check_model(model, full_check=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def build_tiny_conditioned_onnx(path: Path, seed: int = 0) -> Path:
    """A real damage-conditioned model: pixels folded 2x2 into channels, one 3x3 conv, unfolded, scaled by the
    level and added to the input (output = input + level * correction). Needs even sizes; receptive radius 3."""
    from onnx import TensorProto, helper, numpy_helper

    from facerestore import contract

    rng = np.random.default_rng(seed)
    w = rng.normal(0, 0.05, size=(12, 12, 3, 3)).astype(np.float32)
    inits = [numpy_helper.from_array(w, "w"), numpy_helper.from_array(np.zeros(12, np.float32), "b")]
    nodes = [
        helper.make_node("SpaceToDepth", [contract.INPUT_NAME], ["folded"], blocksize=2),
        helper.make_node("Conv", ["folded", "w", "b"], ["conv"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
        helper.make_node("DepthToSpace", ["conv"], ["correction"], blocksize=2, mode="DCR"),
        helper.make_node("Unsqueeze", ["level", "axes"], ["level4"]),
        helper.make_node("Mul", ["correction", "level4"], ["scaled"]),
        helper.make_node("Add", [contract.INPUT_NAME, "scaled"], [contract.OUTPUT_NAME]),
    ]
    inits.append(numpy_helper.from_array(np.array([2, 3], np.int64), "axes"))
    shape = ["N", 3, "H", "W"]
    graph = helper.make_graph(
        nodes, "tiny_conditioned",
        [helper.make_tensor_value_info(contract.INPUT_NAME, TensorProto.FLOAT, shape),
         helper.make_tensor_value_info("level", TensorProto.FLOAT, ["N", 1])],
        [helper.make_tensor_value_info(contract.OUTPUT_NAME, TensorProto.FLOAT, shape)],
        initializer=inits)
    return _save_fixture_model(graph, path, {
        contract.META_ARCH: "tiny_conditioned",
        contract.META_CHANNELS: "3",
        contract.META_RECEPTIVE: "3",
        contract.META_CONDITION_INPUT: "level",
        contract.META_CONDITION_RANGE: "0 1",
        contract.META_MULTIPLE: "2",
    })


def crop_folder(folder: Path, sources: list[np.ndarray], crop: int, count: int, start: tuple[int, int],
                step: tuple[int, int]) -> Path:
    """``count`` distinct ``crop`` px crops of real photos, saved as PNG: a stand-in for the face folder."""
    from PIL import Image

    n = 0
    for src in sources:
        for y in range(start[0], src.shape[0] - crop, step[0]):
            for x in range(start[1], src.shape[1] - crop, step[1]):
                if n < count:
                    Image.fromarray(src[y:y + crop, x:x + crop]).save(folder / f"{n:03d}.png")
                    n += 1
    assert n == count, f"the photos hold {n} crops, not {count}"
    return folder


def start_interruptible(args: list[str]) -> subprocess.Popen:
    """``args`` started with stdout and stderr piped and Ctrl-C as a fresh terminal would deliver it.

    A child inherits an ignored SIGINT (what a shell gives a job started in the background, nohup included), and
    Python then installs no handler for it: a test sending SIGINT to the run would see it ignored. A handler the
    parent installs is reset to the default in the child, and Python's default raises KeyboardInterrupt."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    finally:
        signal.signal(signal.SIGINT, previous)


def interrupt_after_first_epoch(cfg, monkeypatch) -> None:
    """Train ``cfg`` and stop it with a Ctrl-C right after its first epoch's checkpoint (curves come after
    saving), as a resumed run finds it."""
    import export.train as train_mod

    real_write_curves = train_mod.write_curves

    def interrupt(out, history):
        real_write_curves(out, history)
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(train_mod, "write_curves", interrupt)
        with pytest.raises(KeyboardInterrupt):
            train_mod.train(cfg, progress=False)


def whole_image_run(model, pixels: np.ndarray) -> np.ndarray:
    """The reference every tiling must match: one model run over the whole H x W x C image, clamped."""
    out = model.run(np.ascontiguousarray(pixels.transpose(2, 0, 1))[None])[0].transpose(1, 2, 0)
    return np.clip(out, 0.0, 1.0)


@pytest.fixture(scope="session")
def tiny_rgb_model(tmp_path_factory) -> Path:
    pytest.importorskip("onnx")
    return build_tiny_onnx(tmp_path_factory.mktemp("models") / "tiny_rgb.onnx", channels=3)


@pytest.fixture(scope="session")
def tiny_conditioned_model(tmp_path_factory) -> Path:
    pytest.importorskip("onnx")
    return build_tiny_conditioned_onnx(tmp_path_factory.mktemp("models") / "tiny_conditioned.onnx")


@pytest.fixture(scope="session")
def tiny_gray_model(tmp_path_factory) -> Path:
    pytest.importorskip("onnx")
    return build_tiny_onnx(tmp_path_factory.mktemp("models") / "tiny_gray.onnx", channels=1)


@pytest.fixture(scope="session")
def hopper_path() -> Path:
    """A real photograph (public domain, US Navy portrait of Grace Hopper, 512x600 JPEG)."""
    return EXAMPLES / "originals" / "grace_hopper.jpg"


@pytest.fixture(scope="session")
def astronaut_path() -> Path:
    """A real photograph (public domain, NASA portrait of Eileen Collins, 512x512 PNG)."""
    return EXAMPLES / "originals" / "astronaut.png"


@pytest.fixture(scope="session")
def hopper_rgb(hopper_path) -> np.ndarray:
    from PIL import Image

    with Image.open(hopper_path) as im:
        return np.asarray(im.convert("RGB")).copy()


@pytest.fixture(scope="session")
def shared_faces() -> Path:
    faces = SHARED_DATA / "faces"
    if not faces.is_dir():
        pytest.skip("../shared/data/faces not present (only in the developers' checkout)")
    return faces


@pytest.fixture(scope="session")
def shared_natural() -> Path:
    natural = SHARED_DATA / "natural"
    if not natural.is_dir():
        pytest.skip("../shared/data/natural not present (only in the developers' checkout)")
    return natural


@pytest.fixture(autouse=True)
def _fresh_facerestore_logging():
    """A CLI run routes the ``facerestore`` loggers to its own console; undo that so caplog works after it."""
    yield
    logger = logging.getLogger("facerestore")
    logger.handlers.clear()
    logger.propagate = True
    logger.setLevel(logging.NOTSET)


@pytest.fixture()
def default_sigint():
    """SIGINT raises KeyboardInterrupt (Python's own handler, as in a command-line run) for tests that send a real
    Ctrl-C, whatever handler was installed before; that one comes back after."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)
