"""Interrupted runs: killed part-way several times (SIGKILL, and once Ctrl-C), then rerun to completion.

Whatever the moment of the kill, the output folder holds only complete images under real names (temporaries
of killed runs are removed by the next run), a rerun never touches an output finished before a kill, and
the last run completes the rest.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from conftest import start_interruptible

pytest.importorskip("onnx")

COUNT = 24
WRITTEN = ("restored", "unchanged")  # an unchanged image's output is written like a restored one's


def _start(src: Path, out: Path, model: Path) -> subprocess.Popen:
    return start_interruptible([sys.executable, "-m", "facerestore", "enhance", str(src), "-o", str(out),
                                "--model", str(model), "--json", "--no-report", "--threads", "1"])


def _finished_outputs(out: Path) -> dict[str, tuple[int, int, str]]:
    """Every file under a real name: (inode, ctime, sha256). A rewrite changes the inode (atomic rename)."""
    found = {}
    for path in sorted(out.rglob("*")):
        if path.is_file() and not path.name.endswith(".tmp"):
            st = path.stat()
            found[path.name] = (st.st_ino, st.st_ctime_ns, hashlib.sha256(path.read_bytes()).hexdigest())
    return found


def _assert_complete(out: Path) -> None:
    for path in out.rglob("*"):
        if path.is_file() and not path.name.endswith(".tmp"):
            with Image.open(path) as im:
                im.load()  # raises on a truncated file


def test_killed_runs_leave_only_complete_files_and_resume(tmp_path, hopper_path):
    from conftest import build_tiny_onnx

    model = build_tiny_onnx(tmp_path / "slow.onnx", layers=6)
    src = tmp_path / "photos"
    src.mkdir()
    with Image.open(hopper_path) as im:
        for i in range(COUNT):
            im.rotate(i * 15).save(src / f"img{i:02d}.{'png' if i % 3 == 0 else 'jpg'}", quality=90)
    src_before = {p.name: p.read_bytes() for p in src.iterdir()}
    out = tmp_path / "out"

    finished: dict[str, tuple[int, int, str]] = {}
    restored_total = 0
    for how, wait_for in ((signal.SIGKILL, 2), (signal.SIGINT, 3), (signal.SIGKILL, 3)):
        proc = _start(src, out, model)
        restored = 0
        while restored < wait_for:  # wait until this run has written some new files
            line = proc.stdout.readline()
            assert line, f"run ended before it could be interrupted: {proc.stderr.read()}"
            restored += json.loads(line)["status"] in WRITTEN
        proc.send_signal(how)
        rest, err = proc.communicate(timeout=120)
        if how == signal.SIGINT:
            assert proc.returncode == 130 and "Interrupted" in err and "Traceback" not in err, err
            assert not list(out.rglob("*.tmp"))  # Ctrl-C cleans up itself
        else:
            assert proc.returncode == -signal.SIGKILL
        _assert_complete(out)  # a kill never leaves a half-written file under a real name
        now = _finished_outputs(out)
        for name, state in finished.items():
            assert now[name] == state, f"{name} was rewritten by a later run"
        finished = now
        restored_total += restored
    assert COUNT > len(finished) >= restored_total

    final = subprocess.run([sys.executable, "-m", "facerestore", "enhance", str(src), "-o", str(out), "--model",
                            str(model), "--json", "--no-report", "--threads", "1"],
                           capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr
    records = [json.loads(line) for line in final.stdout.splitlines()]
    by_name = {Path(r["output"]).name: r["status"] for r in records}
    assert len(records) == COUNT
    assert {name for name, status in by_name.items() if status == "skipped"} == set(finished)
    assert {name for name, status in by_name.items() if status in WRITTEN} == set(src_before) - set(finished)

    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")], "a temporary survived the final run"
    assert sorted(p.name for p in out.iterdir()) == sorted(src_before)
    _assert_complete(out)
    now = _finished_outputs(out)
    assert all(now[name] == state for name, state in finished.items())  # untouched by the reruns
    assert {p.name: p.read_bytes() for p in src.iterdir()} == src_before


def test_a_run_killed_outright_still_reaches_the_next_runs_report(tmp_path, hopper_path):
    """Each finished image's record goes to a journal as it finishes: after two runs killed with SIGKILL, the
    run that completes the folder reports every image as it was restored, not as skipped, and the journals go."""
    from conftest import build_tiny_onnx

    model = build_tiny_onnx(tmp_path / "slow.onnx", layers=6)
    src = tmp_path / "photos"
    src.mkdir()
    with Image.open(hopper_path) as im:
        for i in range(10):
            im.rotate(i * 15).save(src / f"img{i:02d}.jpg", quality=40)
    out = tmp_path / "out"
    args = [sys.executable, "-m", "facerestore", "enhance", str(src), "-o", str(out), "--model", str(model),
            "--json", "--threads", "1"]

    done_before_kills: set[str] = set()
    for _ in range(2):
        proc = start_interruptible(args)
        restored = 0
        while restored < 2:  # the second run skips what the first restored, then restores two more
            record = json.loads(proc.stdout.readline())
            if record["status"] == "restored":
                restored += 1
                done_before_kills.add(Path(record["output"]).name)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=120)
    report_dir = out / "_facerestore_report"
    assert list(report_dir.glob("journal-*.jsonl")), "the killed runs left no journal"

    final = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr
    summary = json.loads((out / "summary.json").read_text())
    by_name = {Path(r["output"]).name: r for r in summary["images"]}
    assert len(by_name) == 10 and (out / "report.html").is_file()
    for name in done_before_kills:  # skipped by the final run, reported as the killed run restored it
        assert by_name[name]["status"] == "restored" and by_name[name]["damage"]["jpeg_quality"] == 40, name
    # An image reaches the journal as soon as it is written (test_pipeline shows it), so only a kill in the
    # instant between an output's rename and its journal line can leave an image skipped without a record.
    assert {r["status"] for r in by_name.values()} <= {"restored", "skipped"}
    assert not list(report_dir.glob("journal-*"))


# `facerestore enhance` killed outright (kill -9, by itself) as it starts an image's report files, the step after
# its output is written: a real run killed at a known point.
_KILLED_AT_THE_REPORT_FILES = """
import os, signal, sys
from facerestore.report import image
def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)
image.write_image_report = die
from facerestore.cli import main
main(sys.argv[1:])
"""


def test_a_run_killed_while_writing_an_images_report_files_leaves_its_output_recorded(tmp_path, hopper_path,
                                                                                        tiny_rgb_model):
    """The journal took an image's record only after its report files, written after its output: a run
    killed meanwhile left an output that no record named. The run that resumed it skipped it as done and reported
    it as skipped, and no later run could tell which input it was written from."""
    from facerestore.report.run import EarlierOutputs

    src = tmp_path / "photos"
    src.mkdir()
    shutil.copy(hopper_path, src / "hopper.jpg")
    out = tmp_path / "out"
    args = ["enhance", str(src), "-o", str(out), "--model", str(tiny_rgb_model), "--strength", "1", "--threads",
            "1", "--quiet"]
    killed = subprocess.run([sys.executable, "-c", _KILLED_AT_THE_REPORT_FILES, *args], capture_output=True,
                            text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert (out / "hopper.jpg").is_file() and not (out / "summary.json").exists()
    assert EarlierOutputs().input_of(out / "hopper.jpg") == str(src / "hopper.jpg")

    rerun = subprocess.run([sys.executable, "-m", "facerestore", *args], capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert [(r["input"], r["output"], r["status"]) for r in summary["images"]] == [
        (str(src / "hopper.jpg"), str(out / "hopper.jpg"), "restored")]
    assert not list((out / "_facerestore_report").glob("journal-*"))


def _slow_folder(tmp_path: Path, hopper_path: Path, count: int, scale: int = 2) -> tuple[Path, Path]:
    from conftest import build_tiny_onnx

    model = build_tiny_onnx(tmp_path / "slow.onnx", layers=6)
    src = tmp_path / "photos"
    src.mkdir()
    with Image.open(hopper_path) as im:
        big = im.convert("RGB").resize((im.width * scale, im.height * scale))
        for i in range(count):
            big.rotate(i * 15).save(src / f"img{i:02d}.jpg", quality=40)
    return src, model


def test_sigterm_ends_a_run_as_ctrl_c_does(tmp_path, hopper_path):
    """timeout(1), a SLURM time limit or `kill` send SIGTERM: it ended the run outright, with no report and the
    journal left behind. Now the images being written are finished, the report is written and the exit is 143."""
    src, model = _slow_folder(tmp_path, hopper_path, 30)
    out = tmp_path / "out"
    proc = start_interruptible([sys.executable, "-m", "facerestore", "enhance", str(src), "-o", str(out),
                                "--model", str(model), "--json", "--threads", "1"])
    first = proc.stdout.readline()  # one image done: the run is in full swing
    assert first, proc.stderr.read()
    proc.send_signal(signal.SIGTERM)
    rest = proc.stdout.read()  # not communicate(), which would drop lines readline() has buffered
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 143, err
    assert "Terminated: " in err and "Traceback" not in err, err
    records = [json.loads(line) for line in (first + rest).splitlines()]
    assert 1 <= len(records) < 30 and {r["status"] for r in records} == {"restored"}, err
    written = sorted(p.name for p in out.glob("*.jpg"))
    assert written == sorted(Path(r["output"]).name for r in records)  # finished and reported, nothing half done
    assert not list(out.rglob("*.tmp"))
    summary = json.loads((out / "summary.json").read_text())
    assert sorted(Path(r["output"]).name for r in summary["images"]) == written
    assert summary["run"]["interrupted"] is True and (out / "report.html").is_file()
    assert not list((out / "_facerestore_report").glob("journal-*"))  # its records are in the summary


def test_a_second_sigterm_ends_the_run_at_once(tmp_path, hopper_path):
    """The first SIGTERM lets the image in hand finish (seconds here); a second one, as `timeout -k` or a repeated
    `kill` sends, ends the process at once by SIGTERM itself, leaving what a kill leaves: whole files only."""
    import time

    src, model = _slow_folder(tmp_path, hopper_path, 6, scale=6)  # seconds of inference per image
    out = tmp_path / "out"
    proc = start_interruptible([sys.executable, "-m", "facerestore", "enhance", str(src), "-o", str(out),
                                "--model", str(model), "--json", "--threads", "1"])
    assert proc.stdout.readline(), proc.stderr.read()  # the next image is in hand now
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    sent = time.monotonic()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGTERM, err
    assert time.monotonic() - sent < 5, err
    for path in out.glob("*.jpg"):  # under real names: whole files only
        with Image.open(path) as im:
            im.load()
    assert list((out / "_facerestore_report").glob("journal-*.jsonl"))  # the next run reports what it wrote
