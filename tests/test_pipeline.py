"""The local engine: two images in inference at once on several CPU streams, records still in input order."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facerestore import pipeline
from facerestore.discovery import Job
from facerestore.engines.local import run_local
from facerestore.session import open_model

from conftest import FirstCallsMeet


@pytest.fixture
def jobs(tmp_path, hopper_rgb) -> list[Job]:
    """Six different real-photo crops and a corrupt file in the middle."""
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    names = []
    for i in range(6):
        name = f"face_{i}.png"
        Image.fromarray(hopper_rgb[i * 40:i * 40 + 160, i * 30:i * 30 + 200]).save(src / name)
        names.append(name)
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not a png")
    names.insert(3, "broken.png")
    return [Job(src / n, Path(n), out / n) for n in names]


def test_two_images_infer_at_once_and_records_keep_input_order(jobs, tiny_rgb_model, monkeypatch):
    model = open_model(str(tiny_rgb_model), device="cpu", threads=2)
    assert model.streams == 2
    ctx = pipeline.Context(model=model, strength=1.0)  # every image through the model
    # The first two inferences wait for each other: they pass only if two images really are in inference at
    # once (a sleep-and-count would depend on the machine's load).
    together = FirstCallsMeet(2)
    real_infer = pipeline.infer_stage
    alongside_flags = []

    def meeting_infer(item, ctx, alongside=False):
        alongside_flags.append(alongside)
        together()
        return real_infer(item, ctx, alongside)

    monkeypatch.setattr(pipeline, "infer_stage", meeting_infer)
    records = []
    assert run_local(jobs, ctx, records.append) is True
    assert together.calls == 6 and not together.barrier.broken, "inference never overlapped two images"
    assert [Path(r.input).name for r in records] == [j.src.name for j in jobs]
    assert [r.status for r in records] == ["restored"] * 3 + ["failed"] + ["restored"] * 3
    # Each image with another one queued behind it runs without being cut for the streams' sake; the last is cut
    # so both streams finish it. The pixels below are the same either way.
    assert alongside_flags == [True] * 5 + [False]
    for job in jobs:  # each output is what restoring that file alone gives
        if job.src.name == "broken.png":
            assert not job.dst.exists()
            continue
        alone = job.dst.with_name("alone_" + job.dst.name)
        record = pipeline.process_job(Job(job.src, job.rel, alone), ctx)
        assert record.status == "restored"
        np.testing.assert_array_equal(np.asarray(Image.open(job.dst)), np.asarray(Image.open(alone)))


def test_fail_fast_stops_with_images_in_inference_dropped(jobs, tiny_rgb_model):
    ctx = pipeline.Context(model=open_model(str(tiny_rgb_model), device="cpu", threads=2), strength=1.0)
    records = []
    assert run_local(jobs, ctx, records.append, fail_fast=True) is False
    statuses = [r.status for r in records]
    assert statuses[:3] == ["restored"] * 3 and statuses[3] == "failed" and len(records) <= len(jobs)
    assert [Path(r.input).name for r in records] == [j.src.name for j in jobs][:len(records)]
    written = {j.src.name for j in jobs if j.dst.exists()}
    assert written == {Path(r.input).name for r in records if r.status == "restored"}


def test_each_written_image_is_told_as_soon_as_it_is_on_disk(jobs, tiny_rgb_model, monkeypatch):
    """The run journal hears of an image when its output is written, not when its record's turn comes: an image
    written while an earlier one is still being written is journalled, so a run killed then loses neither."""
    events = []
    second_written = threading.Event()

    def on_written(record):
        events.append(("written", Path(record.input).name))
        if Path(record.input).name == jobs[1].src.name:
            second_written.set()

    model = open_model(str(tiny_rgb_model), device="cpu", threads=2)
    ctx = pipeline.Context(model=model, strength=1.0, on_written=on_written)
    real_write = pipeline._write

    def first_waits_for_second(item, ctx):
        if item.job.src == jobs[0].src:
            assert second_written.wait(30), "the second image was not written while the first one waited"
        return real_write(item, ctx)

    monkeypatch.setattr(pipeline, "_write", first_waits_for_second)
    assert run_local(jobs, ctx, lambda r: events.append(("record", Path(r.input).name))) is True
    assert events.index(("written", jobs[1].src.name)) < events.index(("record", jobs[0].src.name))
    written = sorted(name for kind, name in events if kind == "written")
    assert written == sorted(j.src.name for j in jobs if j.src.name != "broken.png")  # failed: nothing written


def test_an_interrupt_while_waiting_for_a_write_still_reports_that_image(jobs, tiny_rgb_model, monkeypatch,
                                                                         default_sigint):
    """Ctrl-C (or SIGTERM) that ends the engine's wait for an image being written: the image was written but its
    record was dropped with the wait, so an output on disk had no line on stdout (a SIGTERM test saw it under
    load). The writes under way finish and every written image is reported, then the interrupt propagates.

    ``default_sigint``: a suite started in the background (``&``, nohup) inherits an ignored SIGINT, which the
    engine rightly leaves alone; the Ctrl-C sent here was then ignored and the run ended normally."""
    import os
    import signal
    import time

    ctx = pipeline.Context(model=open_model(str(tiny_rgb_model), device="cpu", threads=1), strength=1.0)
    real_write = pipeline.write_stage

    def write_after_an_interrupt(item, ctx):
        if item.job.src.name == "face_1.png":  # the engine waits for this write: interrupt that wait
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.5)
        return real_write(item, ctx)

    monkeypatch.setattr(pipeline, "write_stage", write_after_an_interrupt)
    records = []
    with pytest.raises(KeyboardInterrupt):
        run_local(jobs[:2], ctx, records.append)
    written = sorted(job.src.name for job in jobs[:2] if job.dst.exists())
    assert "face_1.png" in written
    assert sorted(Path(r.input).name for r in records) == written
