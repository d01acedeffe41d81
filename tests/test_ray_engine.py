"""``--engine ray``: the same outputs and records as the local engine, on a private Ray instance and on a
``ray start --head`` cluster on loopback, with a corrupt file among real photos, and no Ray process left behind.

The Ray tests need the ``ray`` extra (CI installs it) and skip with a reason where it is absent; the
missing-extra message is tested everywhere.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from facerestore.cli import cli

RAY_PROCESS_MARKERS = ("raylet", "gcs_server", "default_worker.py", "ray::", "ray/dashboard", "log_monitor.py",
                       "monitor.py --logs-dir", "runtime_env/agent")


def _require_ray() -> None:
    try:
        import ray  # noqa: F401
        import ray.data  # noqa: F401
    except ImportError:
        pytest.skip("ray is not installed: pip install 'facerestore[ray]' to run the Ray engine tests")
    if not Path("/proc").is_dir():
        pytest.skip("the stray-process check reads /proc (Linux)")


def _ray_processes() -> set[tuple[int, str]]:
    """(pid, command line) of every Ray process on this machine (read from /proc, no psutil needed)."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = (Path("/proc") / entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(marker in cmdline for marker in RAY_PROCESS_MARKERS) and "pytest" not in cmdline:
            found.add((int(entry), cmdline.strip()))
    return found


def _assert_no_new_ray_processes(before: set[tuple[int, str]], timeout: float = 20.0) -> None:
    """Ray stops its processes asynchronously: wait a little, then name whatever is left."""
    deadline = time.monotonic() + timeout
    while True:
        left = _ray_processes() - before
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    assert not left, f"Ray processes left behind: {sorted(left)}"


def _owns(shard: str, rel: str) -> bool:
    from facerestore.sharding import parse_shard

    return parse_shard(shard).owns(rel)


def _digests(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _comparable(stdout: str, out_root: Path) -> list[dict]:
    """The JSON records, in order, without timing and with outputs relative to their run's output folder."""
    records = []
    for line in stdout.splitlines():
        record = json.loads(line)
        del record["seconds"]
        if record["output"] is not None:
            record["output"] = Path(record["output"]).relative_to(out_root).as_posix()
        records.append(record)
    return records


@pytest.fixture(scope="module")
def archive(tmp_path_factory, hopper_path, astronaut_path) -> Path:
    """36 small real photos (crops and resizes of the two originals; JPEG and PNG, nested) and a corrupt file."""
    root = tmp_path_factory.mktemp("ray") / "archive"
    sources = []
    for path in (hopper_path, astronaut_path):
        with Image.open(path) as im:
            sources.append(im.convert("RGB"))
    for i in range(36):
        src = sources[i % 2]
        left, top = (i * 13) % 120, (i * 29) % 110
        crop = src.crop((left, top, left + 360, top + 380))
        size = (128 + (i * 17) % 96, 128 + (i * 11) % 96)
        image = crop.resize(size, Image.Resampling.BICUBIC)
        folder = root / f"roll{i % 4}" / ("night" if i % 3 == 0 else "")
        folder.mkdir(parents=True, exist_ok=True)
        if i % 2:
            image.save(folder / f"frame{i:02d}.jpg", quality=70 + i % 25)
        else:
            image.convert("L" if i % 5 == 0 else "RGB").save(folder / f"frame{i:02d}.png")
    (root / "roll2" / "frame99.jpg").write_bytes(b"\xff\xd8\xff\xe0 a scanner crashed while writing this")
    return root


@pytest.fixture(scope="module")
def local_run(archive, tiny_rgb_model) -> tuple[list[dict], dict[str, str]]:
    """The local engine's records and output digests: what every Ray run must reproduce."""
    out = archive.parent / "out-local"
    result = CliRunner().invoke(cli, ["enhance", str(archive), "-o", str(out), "--model", str(tiny_rgb_model),
                                      "--threads", "1", "--json", "--no-report"], catch_exceptions=False)
    assert result.exit_code == 1, result.stderr
    records = _comparable(result.stdout, out)
    statuses = [r["status"] for r in records]
    # --strength auto: the damaged frames restored, the clean ones left unchanged; Ray must do the same
    assert len(records) == 37 and statuses.count("restored") + statuses.count("unchanged") == 36
    assert statuses.count("restored") and statuses.count("unchanged")
    return records, _digests(out)


def _check_ray_run(result, out: Path, local_run) -> None:
    records, digests = local_run
    assert result.exit_code == 1, result.stderr  # the corrupt file fails the run, as locally
    assert _comparable(result.stdout, out) == records  # same records, same (plan) order
    failed = [r for r in records if r["status"] == "failed"]
    assert [r["input"].rsplit("/", 1)[-1] for r in failed] == ["frame99.jpg"] and failed[0]["error"]
    statuses = [r["status"] for r in records]
    counts = f"{statuses.count('restored')} restored, {statuses.count('unchanged')} unchanged, 0 skipped, 1 failed"
    assert "frame99.jpg" in result.stderr and counts in result.stderr
    assert _digests(out) == digests  # byte-identical outputs


@pytest.mark.ray
def test_private_ray_instance_matches_the_local_engine(archive, tiny_rgb_model, local_run):
    _require_ray()
    before = _ray_processes()
    out = archive.parent / "out-ray-local"
    args = ["enhance", str(archive), "-o", str(out), "--model", str(tiny_rgb_model), "--threads", "1",
            "--json", "--no-report", "--engine", "ray"]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    _check_ray_run(result, out, local_run)
    _assert_no_new_ray_processes(before)


@pytest.fixture
def loopback_cluster(tmp_path):
    """``ray start --head`` on 127.0.0.1 with 2 CPUs, then ``ray stop``. Yields the address and the Ray
    processes that ran before it (the stray-process check's baseline)."""
    _require_ray()
    ray_cli = shutil.which("ray") or str(Path(sys.executable).with_name("ray"))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    before = _ray_processes()
    start = subprocess.run([ray_cli, "start", "--head", f"--port={port}", "--node-ip-address=127.0.0.1",
                            "--num-cpus=2", "--num-gpus=0", "--include-dashboard=false", "--disable-usage-stats"],
                           capture_output=True, text=True, env=env, timeout=180)
    try:
        assert start.returncode == 0, start.stdout + start.stderr
        yield f"127.0.0.1:{port}", before
    finally:
        subprocess.run([ray_cli, "stop", "--force"], capture_output=True, env=env, timeout=120)
    _assert_no_new_ray_processes(before)


@pytest.mark.ray
def test_existing_cluster_on_loopback_matches_the_local_engine(archive, tiny_rgb_model, local_run, loopback_cluster):
    address, before = loopback_cluster
    assert _ray_processes() - before, "ray start --head started no process"
    out = archive.parent / "out-ray-cluster"
    args = ["enhance", str(archive), "-o", str(out), "--model", str(tiny_rgb_model), "--threads", "1",
            "--json", "--no-report", "--engine", "ray", "--ray-address", address]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    _check_ray_run(result, out, local_run)

    (out / "roll1" / "frame01.jpg").unlink()
    shard = next(f"{i}/3" for i in (1, 2, 3) if _owns(f"{i}/3", "roll1/frame01.jpg"))
    rerun = CliRunner().invoke(cli, [*args, "--shard", shard], catch_exceptions=False)  # resume one shard
    statuses = {Path(r["input"]).relative_to(archive).as_posix(): r["status"]
                for r in map(json.loads, rerun.stdout.splitlines())}
    assert 0 < len(statuses) < 37 and statuses.pop("roll1/frame01.jpg") == "restored", rerun.stderr
    assert set(statuses.values()) <= {"skipped", "failed"}
    assert _digests(out) == local_run[1]
    assert _ray_processes() - before, "the run stopped the cluster it was only meant to use"


def test_workers_are_sent_the_whole_model_request(tiny_rgb_model):
    """A worker opens its own session from the driver's request: every field must reach it (a worker that lost
    ``precision`` ran the fp16 file on a CUDA card under ``--precision fp32``)."""
    from dataclasses import replace

    from facerestore.engines.ray_engine import WorkerSettings
    from facerestore.model_choice import ModelRequest
    from facerestore.pipeline import Context

    ctx = Context(model=ModelRequest(str(tiny_rgb_model), device="cpu").open(), tile=96)
    request = ModelRequest("big", precision="fp32", device="cuda", threads=None, verbose=True)
    settings = WorkerSettings.from_context(ctx, request, threads=3)
    assert settings.request == replace(request, threads=3) and settings.tile == 96
    assert settings.strength is None  # auto


def test_workers_are_sent_the_strength(tiny_rgb_model):
    """``--strength 0.4`` reaches the Context each worker rebuilds (a worker that lost it would run auto)."""
    from facerestore.engines.ray_engine import RestoreWorker, WorkerSettings
    from facerestore.model_choice import ModelRequest
    from facerestore.pipeline import Context

    request = ModelRequest(str(tiny_rgb_model), device="cpu")
    settings = WorkerSettings.from_context(Context(model=request.open(), strength=0.4), request, threads=1)
    assert settings.strength == 0.4
    assert RestoreWorker(settings).ctx.strength == 0.4


@pytest.mark.ray
def test_ray_workers_open_the_file_of_the_requested_precision(tmp_path, hopper_path):
    """``--precision fp16`` on CPU workers, where ``auto`` would run fp32: the records name the file each worker
    opened, and the outputs match the local engine's with the same option."""
    _require_ray()
    photos = tmp_path / "photos"
    photos.mkdir()
    with Image.open(hopper_path) as im:
        for i in range(3):
            im.convert("RGB").crop((60 * i, 80, 60 * i + 96, 176)).save(photos / f"face{i}.png")
    runs = {}
    for engine in ("local", "ray"):
        out = tmp_path / f"out-{engine}"
        result = CliRunner().invoke(cli, ["enhance", str(photos), "-o", str(out), "--model", "big", "--precision",
                                          "fp16", "--device", "cpu", "--threads", "1", "--json", "--no-report",
                                          "--strength", "1", "--engine", engine], catch_exceptions=False)
        assert result.exit_code == 0, result.stderr
        runs[engine] = _comparable(result.stdout, out), _digests(out)
    records, digests = runs["ray"]
    assert [r["model"] for r in records] == ["big.fp16.onnx"] * 3
    assert {r["status"] for r in records} == {"restored"}
    assert runs["ray"] == runs["local"]


def test_without_ray_the_engine_says_how_to_install_it(tmp_path, tiny_rgb_model, monkeypatch):
    (tmp_path / "photos").mkdir()
    Image.new("RGB", (32, 32), "gray").save(tmp_path / "photos" / "a.png")
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError, as without the extra
    result = CliRunner().invoke(cli, ["enhance", str(tmp_path / "photos"), "--model", str(tiny_rgb_model),
                                      "--engine", "ray"])
    assert result.exit_code == 2
    assert "pip install 'facerestore[ray]'" in result.stderr and result.stdout == ""
    assert not (tmp_path / "photos-restored").exists()


def test_ray_address_needs_the_ray_engine(tmp_path, tiny_rgb_model):
    (tmp_path / "a.png").write_bytes(b"")
    result = CliRunner().invoke(cli, ["enhance", str(tmp_path / "a.png"), "--model", str(tiny_rgb_model),
                                      "--ray-address", "127.0.0.1:6379"])
    assert result.exit_code == 2 and "--engine ray" in result.stderr


@pytest.mark.ray
def test_an_unreachable_cluster_fails_fast_with_exit_3(tmp_path, tiny_rgb_model):
    _require_ray()
    Image.new("RGB", (32, 32), "gray").save(tmp_path / "a.png")
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = CliRunner().invoke(cli, ["enhance", str(tmp_path / "a.png"), "--model", str(tiny_rgb_model),
                                      "--engine", "ray", "--ray-address", f"127.0.0.1:{port}", "--json"])
    assert result.exit_code == 3 and f"127.0.0.1:{port}" in result.stderr and result.stdout == ""
    assert not (tmp_path.parent / f"{tmp_path.name}-restored").exists()


def _batch(job) -> dict:
    import numpy as np

    return {"src": np.array([str(job.src)], dtype=object), "rel": np.array([job.rel.as_posix()], dtype=object),
            "dst": np.array([str(job.dst)], dtype=object)}


def test_workers_journal_each_image_they_write_and_an_early_end_delivers_the_rest(tmp_path, hopper_path,
                                                                                   tiny_rgb_model):
    """Ctrl-C under --engine ray dropped the records of the images the workers had written but the driver had not
    received yet (held back for plan order behind a slower image, or on their way): neither the journal nor the
    report had them. Each worker now journals its images as it writes them, into a part of the run's journal,
    and the driver delivers those it did not receive, in plan order. No Ray needed: the worker is called as Ray
    Data calls it."""
    from facerestore.discovery import plan_jobs
    from facerestore.engines.ray_engine import RestoreWorker, WorkerSettings, deliver_journaled
    from facerestore.model_choice import ModelRequest
    from facerestore.pipeline import Context
    from facerestore.report.journal import Journal, orphaned

    photos, out = tmp_path / "photos", tmp_path / "out"
    photos.mkdir()
    with Image.open(hopper_path) as im:
        for i in range(3):
            im.convert("RGB").crop((60 * i, 80, 60 * i + 96, 176)).save(photos / f"face{i}.png")
    jobs = plan_jobs([photos], out).jobs
    report_dir = out / "_facerestore_report"
    request = ModelRequest(str(tiny_rgb_model), device="cpu")
    journal = Journal(report_dir)
    ctx = Context(model=request.open(), strength=1.0, report_dir=report_dir, journal=journal)
    worker = RestoreWorker(WorkerSettings.from_context(ctx, request, threads=1, journal=journal.hold()))

    # A worker restores the last two images while another still has the first: the driver has received nothing.
    sent = [json.loads(worker(_batch(job))["result"][0])["record"] for job in jobs[1:]]
    assert [r["status"] for r in sent] == ["restored", "restored"]
    assert orphaned(report_dir) == ([], [])  # the run's parts: no other run takes them while it lives
    on_disk = [json.loads(line) for path in report_dir.glob("journal-*.jsonl.part-*")
               for line in path.read_text().splitlines()]
    # Each as soon as its output was on disk, then again with its report's metrics.
    assert [(r["input"], r["output"], bool(r.get("metrics"))) for r in on_disk] == [
        (str(j.src), str(j.dst), metrics) for j in jobs[1:] for metrics in (False, True)]

    # The run ends (Ctrl-C): what the workers wrote reaches the run, in plan order, as the workers made it.
    delivered: list = []
    deliver_journaled(jobs, ctx, delivered.append, {str(jobs[2].dst)})  # the last one had reached it
    assert [(r.input, r.output, r.status) for r in delivered] == [(str(jobs[1].src), str(jobs[1].dst), "restored")]
    assert delivered[0].metrics == pytest.approx(sent[0]["metrics"]) and delivered[0].metrics
    assert delivered[0].damage == sent[0]["damage"] and delivered[0].width == 96
    assert [r["output"] for r in journal.records()] == [str(j.dst) for j in jobs[1:]]
    journal.close()
    assert not list(report_dir.glob("journal-*"))


@pytest.mark.ray
@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_ctrl_c_keeps_the_records_of_every_image_the_workers_wrote(tmp_path, hopper_path, how):
    """A large first image holds the records of the small ones behind it (plan order) while the other worker
    writes them; Ctrl-C then. Those images were on disk with no record anywhere: not on stdout, not in the
    journal, not in the report (no summary at all when none had reached the driver).

    SIGTERM (`kill`) ends the run the same way, exit 143: Ray had replaced the handler, and its own ended the
    driver with no record delivered, no report, and the journal left behind. (Sent to the whole process group, as
    timeout(1) and SLURM do, it also reaches the Ray processes the run started, which may end the driver first,
    at random: not tested here, README says so.)"""
    _require_ray()
    import signal

    from conftest import build_tiny_onnx, start_interruptible

    model = build_tiny_onnx(tmp_path / "slow.onnx", layers=6)
    photos, out = tmp_path / "photos", tmp_path / "out"
    photos.mkdir()
    with Image.open(hopper_path) as im:
        im = im.convert("RGB")
        im.resize((2400, 2800)).save(photos / "a00.jpg", quality=40)  # seconds per run of the model
        for i in range(1, 12):
            im.rotate(i * 15).resize((128, 150)).save(photos / f"a{i:02d}.jpg", quality=40)
    args = [sys.executable, "-m", "facerestore", "enhance", str(photos), "-o", str(out), "--model", str(model),
            "--json", "--threads", "1", "--strength", "1", "--engine", "ray"]
    before = _ray_processes()
    proc = start_interruptible(args)
    deadline = time.monotonic() + 120
    while len(list(out.glob("a*.jpg"))) < 3 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    first_done = (out / "a00.jpg").exists()
    proc.send_signal(signal.SIGINT if how == "ctrl-c" else signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=120)
    assert "Traceback" not in stderr, stderr
    _assert_no_new_ray_processes(before)
    if first_done:
        pytest.skip("the large image was done before the Ctrl-C: nothing was held back (a much faster machine)")
    written = sorted(p.name for p in out.glob("a*.jpg"))
    assert len(written) >= 3 and "a00.jpg" not in written
    assert proc.returncode == (130 if how == "ctrl-c" else 143), stderr
    records = [json.loads(line) for line in stdout.splitlines()]
    assert sorted(Path(r["output"]).name for r in records) == written
    assert {r["status"] for r in records} == {"restored"}
    images = json.loads((out / "summary.json").read_text())["images"]
    assert sorted(Path(r["output"]).name for r in images) == written
    assert all(r["status"] == "restored" and r["damage"]["jpeg_quality"] == 40 for r in images)
    assert f"{'Interrupted' if how == 'ctrl-c' else 'Terminated'}: {len(written)} restored" in stderr
    assert not list((out / "_facerestore_report").glob("journal-*"))


@pytest.mark.ray
def test_an_early_stop_reads_the_dataset_to_its_end_before_ray_is_shut_down(tmp_path, hopper_path, monkeypatch):
    """``--fail-fast`` (or stdout closed, or a full disk) under --engine ray closed Ray Data's iterator at once and
    shut Ray down. Ray Data's own threads, which cannot be joined, were then still in Ray calls now and then, and
    one that reached the core worker during ``ray.shutdown`` ended the whole process: "The core worker has already
    been shutdown", exit 1, no report, the journal left behind (1 run in 20 on a small machine). The driver now
    reads the dataset to its end, the workers passing over what is left, before Ray is shut down.

    The race itself is rare; what removes it is checked every time: when Ray is shut down, every row has been read.
    The failing file comes first and a large image is being restored when the stop arrives."""
    _require_ray()
    import ray

    from conftest import build_tiny_onnx
    from facerestore.engines import ray_engine

    model = build_tiny_onnx(tmp_path / "slow.onnx", layers=6)
    photos, out = tmp_path / "photos", tmp_path / "out"
    photos.mkdir()
    (photos / "a00.jpg").write_bytes(b"")  # fails at once: the run stops on its record
    with Image.open(hopper_path) as im:
        im = im.convert("RGB")
        for i in range(1, 12):
            size = (1600, 1800) if i == 2 else (128, 150)  # a02: seconds, in the other worker's first block
            im.rotate(i * 15).resize(size).save(photos / f"a{i:02d}.jpg", quality=40)

    rows_read: list[int] = []
    at_shutdown: list[int] = []
    decode, shutdown = ray_engine._decode, ray.shutdown

    def counting_decode(text):
        rows_read.append(1)
        return decode(text)

    def recording_shutdown(*args, **kwargs):
        at_shutdown.append(len(rows_read))
        return shutdown(*args, **kwargs)

    monkeypatch.setattr(ray_engine, "_decode", counting_decode)
    monkeypatch.setattr(ray, "shutdown", recording_shutdown)
    before = _ray_processes()
    result = CliRunner().invoke(cli, ["enhance", str(photos), "-o", str(out), "--model", str(model), "--json",
                                      "--threads", "1", "--strength", "1", "--engine", "ray", "--fail-fast"],
                                catch_exceptions=False)
    _assert_no_new_ray_processes(before)
    assert at_shutdown == [12], f"Ray shut down with {at_shutdown} of 12 rows read"
    assert result.exit_code == 1, result.stderr
    assert "core worker" not in result.stderr and "Traceback" not in result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert records[0]["input"].endswith("a00.jpg") and records[0]["status"] == "failed"
    assert [r["status"] for r in records].count("failed") == 1
    written = sorted(p.name for p in out.glob("a*.jpg"))
    assert sorted(Path(r["output"]).name for r in records[1:]) == written  # every output written has its record
    images = json.loads((out / "summary.json").read_text())["images"]
    assert sorted(Path(r["output"]).name for r in images if r["output"]) == written
    assert not list((out / "_facerestore_report").glob("journal-*"))


def test_a_worker_told_to_stop_passes_over_its_rows_unread(tmp_path, hopper_path, tiny_rgb_model, monkeypatch):
    """Once the driver has set the run's StopFlag, a worker neither reads nor writes the rows it still gets: the
    driver reads the dataset to its end after an early stop, and that must not restore the rest of the plan."""
    ray = pytest.importorskip("ray")
    from facerestore.discovery import plan_jobs
    from facerestore.engines.ray_engine import RestoreWorker, StopFlag, WorkerSettings, _decode
    from facerestore.model_choice import ModelRequest
    from facerestore.pipeline import Context

    photos, out = tmp_path / "photos", tmp_path / "out"
    photos.mkdir()
    with Image.open(hopper_path) as im:
        im.convert("RGB").crop((60, 80, 156, 176)).save(photos / "face.png")
    (photos / "empty.jpg").write_bytes(b"")  # would fail if it were read
    jobs = plan_jobs([photos], out).jobs
    request = ModelRequest(str(tiny_rgb_model), device="cpu")
    flag = StopFlag()

    class Handle:  # the actor's handle, as a worker calls it (ray.get of .remote()), answered in this process
        class is_set:  # noqa: N801
            remote = staticmethod(flag.is_set)

    monkeypatch.setattr(ray, "get", lambda value: value)
    worker = RestoreWorker(WorkerSettings.from_context(Context(model=request.open(), strength=1.0), request,
                                                       threads=1), stop=Handle())
    flag.set()
    results = [_decode(worker(_batch(job))["result"][0]) for job in jobs]
    assert results == [(None, None)] * 2  # dropped, neither a record nor a failure
    assert not out.exists()


def test_an_early_stop_delivers_the_failures_of_the_images_the_workers_had_started(tmp_path, tiny_rgb_model):
    """After an early stop (--fail-fast, a full disk, stdout closed) the driver reads the rows left and delivered
    only the images written from them: one the workers had started and that then failed (its write on a full disk,
    a second corrupt file) was on neither stdout nor the report, where the local engine delivers the writes it had
    queued, failures included. The record of every image the workers started is delivered, in plan order, once;
    a full disk's failure also tells the run why it stopped. The rows are given as the workers return them: no Ray
    needed."""
    from dataclasses import asdict

    from facerestore.engines.ray_engine import RESULT, deliver_started
    from facerestore.model_choice import ModelRequest
    from facerestore.pipeline import Context
    from facerestore.summary import Record

    def row(name: str, status: str, error: str | None = None, halt: str | None = None) -> dict:
        record = Record(input=f"in/{name}", output=None if status == "failed" else f"out/{name}", status=status,
                        error=error, width=None, height=None, seconds=0.1, provider="CPUExecutionProvider",
                        model="tiny")
        return {RESULT: json.dumps({"record": asdict(record), "logs": [],
                                    **({"halt": halt} if halt is not None else {})})}

    full = "No space left on device"
    rows = [row("a1.png", "restored"),  # delivered already: not again
            row("a2.png", "failed", "cannot write: " + full, halt=full),
            {RESULT: json.dumps({"dropped": True})},  # passed over once the workers were told to stop
            row("a4.png", "restored"),
            row("a5.png", "failed", "cannot identify image file")]
    request = ModelRequest(str(tiny_rgb_model), device="cpu")
    ctx = Context(model=request.open(), strength=1.0)
    delivered_outputs = {"out/a1.png"}
    records: list = []
    deliver_started(rows, ctx, records.append, delivered_outputs, journaled=False)
    assert [(r.input, r.status) for r in records] == [("in/a2.png", "failed"), ("in/a4.png", "restored"),
                                                      ("in/a5.png", "failed")]
    assert records[0].error == "cannot write: " + full
    assert delivered_outputs == {"out/a1.png", "out/a4.png"}
    assert ctx.halt.is_set() and ctx.halt_reason == [full]
