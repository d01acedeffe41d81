"""restore: exact tiling on a real photo, gray/colour adaptation, tile planning and batching."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from facerestore import metrics, restore
from facerestore.restore import auto_tile, batches, plan_cores, plan_tiles, restore_pixels
from facerestore.session import open_model, split_threads

from conftest import FirstCallsMeet, build_tiny_onnx, whole_image_run


def luminance(rgb: np.ndarray) -> np.ndarray:
    return metrics.luminance(rgb, keepdims=True)  # H x W x 1, as restore_pixels returns gray


@pytest.fixture(scope="module")
def deep_model(tmp_path_factory):
    """A 5-layer conv stack (receptive radius 5) with weights far enough from identity to notice a seam."""
    pytest.importorskip("onnx")
    path = build_tiny_onnx(tmp_path_factory.mktemp("deep") / "deep.onnx", channels=3, layers=5, seed=3)
    return open_model(str(path), device="cpu")


@pytest.fixture(scope="module")
def hopper_float(hopper_rgb):
    return hopper_rgb.astype(np.float32) / 255.0


@pytest.mark.parametrize("tile", [64, 100, 17])
def test_tiled_run_equals_whole_image_run_on_a_real_photo(deep_model, hopper_float, tile):
    whole = whole_image_run(deep_model, hopper_float)
    tiled = restore_pixels(deep_model, hopper_float, tile=tile)
    assert len(plan_tiles(*hopper_float.shape[:2], tile, deep_model.receptive_radius)) > 1
    assert np.abs(tiled - whole).max() < 1e-5


def test_too_little_overlap_would_show_seams(deep_model, hopper_float):
    """The equality above is not vacuous: tiles that ignore the receptive field do differ."""
    short_sighted = dataclasses.replace(deep_model, receptive_radius=1)
    whole = whole_image_run(deep_model, hopper_float)
    assert np.abs(restore_pixels(short_sighted, hopper_float, tile=64) - whole).max() > 1e-3


def test_gray_model_on_colour_keeps_chroma(tiny_gray_model, hopper_float):
    model = open_model(str(tiny_gray_model), device="cpu")
    out = restore_pixels(model, hopper_float)
    assert out.shape == hopper_float.shape

    def chroma(rgb):
        return rgb - luminance(rgb)  # R-Y, G-Y, B-Y: what Cb/Cr encode

    inside = ((out > 0) & (out < 1)).all(axis=2)  # clamping may move chroma at the extremes only
    assert np.abs(chroma(out) - chroma(hopper_float))[inside].max() < 1e-5
    assert np.abs(luminance(out) - luminance(hopper_float)).max() > 1e-3  # the luma really went through the model
    assert np.abs(out[..., 0] - out[..., 2]).mean() > 0.01  # still a colour picture


def test_colour_model_on_gray_returns_luma_of_replicated_run(deep_model, hopper_float):
    gray = luminance(hopper_float)
    out = restore_pixels(deep_model, gray)
    assert out.shape == gray.shape
    expected = np.clip(luminance(restore_pixels(deep_model, np.repeat(gray, 3, axis=2))), 0, 1)
    assert np.abs(out - expected).max() < 1e-5


def test_output_is_clamped(deep_model):
    rng = np.random.default_rng(1)
    out = restore_pixels(deep_model, rng.random((40, 50, 3), dtype=np.float32))
    assert out.min() >= 0.0 and out.max() <= 1.0 and out.dtype == np.float32


def test_bad_shapes_are_refused(deep_model):
    with pytest.raises(ValueError):
        restore_pixels(deep_model, np.zeros((8, 8, 2), np.float32))


@settings(max_examples=60, deadline=None)
@given(h=st.integers(1, 300), w=st.integers(1, 300), tile=st.integers(1, 128), overlap=st.integers(0, 20))
def test_tile_cores_partition_the_image(h, w, tile, overlap):
    cover = np.zeros((h, w), np.int32)
    for t in plan_tiles(h, w, tile, overlap):
        assert 0 <= t.y0 <= t.cy0 < t.cy1 <= t.y1 <= h and 0 <= t.x0 <= t.cx0 < t.cx1 <= t.x1 <= w
        assert t.cy0 - t.y0 == min(overlap, t.cy0) and t.y1 - t.cy1 == min(overlap, h - t.cy1)
        cover[t.cy0:t.cy1, t.cx0:t.cx1] += 1
    assert (cover == 1).all()


def test_batches_group_same_shapes_within_the_pixel_limit():
    tiles = plan_tiles(100, 100, 30, 2)
    groups = list(batches(tiles, max_pixels=3 * 34 * 34))
    assert [t for g in groups for t in g] == tiles  # order kept, nothing lost
    for group in groups:
        assert len({t.shape for t in group}) == 1
        assert sum(t.shape[0] * t.shape[1] for t in group) <= 3 * 34 * 34 or len(group) == 1
    assert max(len(g) for g in groups) > 1
    assert all(len(g) == 1 for g in batches(tiles, max_pixels=10 ** 9, max_batch=1))


def test_auto_tile_keeps_the_window_within_the_memory_budget():
    for radius in (2, 5, 16):
        tile = auto_tile(radius)
        assert tile % 32 == 0 and tile >= 256
        assert (tile + 2 * radius) ** 2 * restore.BYTES_PER_PIXEL <= restore.MEMORY_BUDGET


def test_a_model_that_needs_less_memory_gets_fewer_larger_tiles_within_its_budget():
    radius, streams = 38, 2
    default = plan_cores(1024, 1024, radius, streams=streams)
    lean = plan_cores(1024, 1024, radius, streams=streams, bytes_per_pixel=320)
    assert lean[0] * lean[1] > 2 * default[0] * default[1]
    budget = restore.run_budget(streams)
    for bytes_per_pixel in (320, restore.BYTES_PER_PIXEL):
        tile = auto_tile(radius, budget, bytes_per_pixel)
        assert (tile + 2 * radius) ** 2 * bytes_per_pixel <= budget
        assert (tile + 32 + 2 * radius) ** 2 * bytes_per_pixel > budget  # the largest that fits


def test_tiles_sized_by_a_declared_memory_figure_give_the_same_pixels(tiny_conditioned_model, hopper_rgb):
    model = open_model(tiny_conditioned_model)
    pixels = hopper_rgb[:301, :257].astype(np.float32) / 255.0
    heavy, lean = (dataclasses.replace(model, bytes_per_pixel=b) for b in (200_000, 40))
    streams = max(1, model.streams)
    assert plan_cores(302, 258, 3, streams=streams, bytes_per_pixel=200_000) != \
        plan_cores(302, 258, 3, streams=streams, bytes_per_pixel=40)
    np.testing.assert_allclose(restore_pixels(lean, pixels, strength=0.7),
                               restore_pixels(heavy, pixels, strength=0.7), atol=1e-5)


class ThreadRecordingModel:
    """Wraps a model's ``run`` to record which thread ran each tile; the first ``together`` runs must be inside
    ``run`` at once (on a busy machine a pool may hand a later tile to a thread that has already finished, so
    counting threads alone is luck)."""

    def __init__(self, model, together: int):
        self.model = model
        self.threads: set[int] = set()
        self._meet = FirstCallsMeet(together)

    def run(self, batch, strength=1.0):
        import threading

        self.threads.add(threading.get_ident())
        self._meet()
        return type(self.model).run(self.model, batch, strength)


@pytest.mark.parametrize("streams", [2, 3])
def test_concurrent_streams_give_the_whole_image_pixels(tmp_path, hopper_float, streams):
    pytest.importorskip("onnx")
    path = build_tiny_onnx(tmp_path / "deep.onnx", channels=3, layers=5, seed=3)
    model = open_model(str(path), device="cpu", threads=streams)
    assert (model.streams, split_threads(streams)) == (streams, (1, streams))
    recorder = ThreadRecordingModel(model, together=streams)
    object.__setattr__(model, "run", recorder.run)  # the instance's run now records, run_all calls it
    out = restore_pixels(model, hopper_float)
    assert len(recorder.threads) == streams, "the tiles did not run on separate threads"
    assert np.abs(out - whole_image_run(recorder.model, hopper_float)).max() < 1e-5


def test_an_image_not_spread_over_the_streams_runs_whole_with_the_same_pixels(tmp_path, hopper_float):
    pytest.importorskip("onnx")
    path = build_tiny_onnx(tmp_path / "deep.onnx", channels=3, layers=5, seed=3)
    model = open_model(str(path), device="cpu", threads=2)
    runs = []

    def counting_run(batch, strength=1.0):
        runs.append(batch.shape)
        return type(model).run(model, batch, strength)

    object.__setattr__(model, "run", counting_run)
    photo = hopper_float[:400, :360]  # within one run's share of the memory budget
    spread = restore_pixels(model, photo)
    assert len(runs) >= 2  # one tile per stream at least
    runs.clear()
    whole = restore_pixels(model, photo, spread=False)
    assert runs == [(1, 3, 400, 360)]  # one run, no context rows recomputed
    assert np.abs(whole - spread).max() < 1e-5


@settings(max_examples=80, deadline=None)
@given(h=st.integers(1, 3000), w=st.integers(1, 3000), streams=st.integers(1, 8),
       tile=st.one_of(st.none(), st.integers(16, 700)))
def test_core_plan_keeps_every_stream_busy_with_equal_tiles(h, w, streams, tile):
    core_h, core_w = plan_cores(h, w, 5, tile, streams)
    limit = tile or auto_tile(5, restore.run_budget(streams))
    assert core_w <= limit and (core_h <= limit)
    rows, cols = -(-h // core_h), -(-w // core_w)
    # Balanced: no tile is a sliver next to full ones (sizes differ by at most one row or column per tile).
    assert rows * core_h - h < rows and cols * core_w - w < cols
    if rows > -(-h // limit):  # split further than memory asks, for the streams' sake: never too short
        assert h // rows >= restore.MIN_SPLIT
    if tile is None and h >= streams * restore.MIN_SPLIT:
        assert rows * cols >= streams and (rows * cols) % streams == 0


def test_split_threads_gives_one_single_threaded_stream_per_cpu():
    assert split_threads(4) == (1, 4)
    assert split_threads(4, 2) == (2, 2)
    assert split_threads(1) == (1, 1)
    assert split_threads(32) == (4, 8)  # at most MAX_STREAMS runs hold activations at once
    assert split_threads(3, 5) == (1, 3)  # never more streams than threads
    intra, streams = split_threads(None)
    assert intra >= 1 and streams >= 1


def test_an_interrupt_between_two_tiles_still_waits_for_the_runs_under_way(tmp_path, hopper_float, monkeypatch):
    """A Ctrl-C raised in the main thread while it places a tile's result, not while it waits, left the other
    streams' runs going: the frames the interrupt passed through kept run_all open, so nothing waited for them
    and the interpreter could exit (and join their threads) while they were in ONNX Runtime."""
    import threading
    import time

    from facerestore.session import OnnxModel

    path = build_tiny_onnx(tmp_path / "m.onnx", channels=3, layers=2)
    model = open_model(str(path), device="cpu", threads=2)
    real_run = OnnxModel.run
    lock = threading.Lock()
    state = {"runs": 0, "running": 0}

    class Interrupting(np.ndarray):  # the first result: placing it is where the Ctrl-C lands
        def __getitem__(self, key):
            raise KeyboardInterrupt

    def run(self, batch, strength=1.0):
        with lock:
            state["runs"] += 1
            state["running"] += 1
            first = state["runs"] == 1
        try:
            out = real_run(self, batch, strength)
            if first:
                return out.view(Interrupting)
            time.sleep(0.5)  # still in ONNX Runtime when the interrupt reaches the caller
            return out
        finally:
            with lock:
                state["running"] -= 1

    monkeypatch.setattr(OnnxModel, "run", run)
    with pytest.raises(KeyboardInterrupt):
        try:
            restore_pixels(model, hopper_float, tile=64)
        finally:
            running = state["running"]
    assert state["runs"] > 1 and running == 0


def test_a_ctrl_c_as_the_last_tile_comes_back_is_raised_not_lost(tmp_path, hopper_float, monkeypatch):
    """run_all waits in the main thread through DeferredInterrupts, which only counts a Ctrl-C: one counted while
    a wait was already returning its tile (after the wait's last check) was dropped with the DeferredInterrupts,
    and the run went on as if no key had been pressed."""
    import os
    import signal
    import time

    from facerestore import interrupts
    from facerestore.session import OnnxModel

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    monkeypatch.setattr(interrupts, "POLL_SECONDS", 30.0)  # one wait: the Ctrl-C lands inside it, after its check
    path = build_tiny_onnx(tmp_path / "m.onnx", channels=3, layers=2)
    model = open_model(str(path), device="cpu", threads=2)
    real_run = OnnxModel.run

    def run(self, batch, strength=1.0):  # the only tile: the main thread is waiting for it
        time.sleep(0.3)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
        return real_run(self, batch, strength)

    monkeypatch.setattr(OnnxModel, "run", run)
    try:
        with pytest.raises(KeyboardInterrupt):
            restore_pixels(model, hopper_float[:32, :32], tile=64)
    finally:
        signal.signal(signal.SIGINT, previous)
