"""Outputs that cannot be written: a full disk, a read-only file system, a folder without write permission.

Each gives one clear line per file, a non-zero exit and no traceback, and leaves no temporary behind. Real
conditions, not mocks: small tmpfs mounts (root only) and a process without CAP_DAC_OVERRIDE (setpriv).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from facerestore.cli import cli

pytest.importorskip("onnx")

DROP_DAC = ["setpriv", "--bounding-set=-dac_override,-dac_read_search",
            "--inh-caps=-dac_override,-dac_read_search"]


@pytest.fixture
def photos(tmp_path, hopper_path) -> Path:
    src = tmp_path / "photos"
    (src / "sub").mkdir(parents=True)
    with Image.open(hopper_path) as im:
        im.save(src / "a.png")  # ~500 kB: cannot fit a 64 kB file system
        im.save(src / "b.jpg", quality=95)
        im.save(src / "sub" / "c.png")
    return src


@pytest.fixture
def model(tmp_path) -> Path:
    from conftest import build_tiny_onnx

    return build_tiny_onnx(tmp_path / "tiny.onnx")


def _mount_tmpfs(where: Path, options: str) -> None:
    where.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")


@pytest.fixture
def mounted(tmp_path):
    mounts: list[Path] = []

    def mount(name: str, options: str) -> Path:
        where = tmp_path / name
        _mount_tmpfs(where, options)
        mounts.append(where)
        return where

    yield mount
    for where in mounts:
        subprocess.run(["umount", str(where)], check=False)


def _check_failed_run(code: int, stdout: str, stderr: str, photos: Path, words: str, stops: bool = False) -> None:
    """Every attempted file failed with one clear line; a full or read-only disk also stops the run early."""
    assert code == 1, stderr
    assert "Traceback" not in stderr, stderr
    records = [json.loads(line) for line in stdout.splitlines()]
    assert records and {r["status"] for r in records} == {"failed"}, records
    assert len(records) <= 3 if stops else len(records) == 3
    for record in records:
        assert words in record["error"], record
        lines = [line for line in stderr.splitlines() if line.startswith(f"error: {record['input']}: ")]
        assert len(lines) == 1 and words in lines[0], stderr
    assert f"{len(records)} failed" in stderr
    stop_lines = [line for line in stderr.splitlines() if line.startswith("error: stopped early: ")]
    assert len(stop_lines) == (1 if stops else 0), stderr
    if stops:
        assert words in stop_lines[0] and "run the same command again to resume" in stop_lines[0]
        assert "writable" in stop_lines[0], stop_lines  # a read-only disk needs no room made


def _no_leftovers(out: Path) -> None:
    leftovers = [p for p in out.rglob("*") if p.is_file()]
    assert not leftovers, f"partial or temporary files left: {leftovers}"


@pytest.mark.parametrize(("name", "options", "words"), [
    ("small", "size=64k", "no space left on device"),
    ("readonly", "ro,size=1m", "read-only file system"),
])
def test_unwritable_file_system_stops_the_run(photos, model, mounted, name, options, words):
    out = mounted(name, options)
    result = CliRunner().invoke(cli, ["enhance", str(photos), "-o", str(out), "--model", str(model), "--json",
                                      "--no-report"])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    _check_failed_run(result.exit_code, result.stdout, result.stderr, photos, words, stops=True)
    _no_leftovers(out)


def test_disk_full_with_reports_on_is_still_clean(photos, model, mounted):
    out = mounted("small", "size=64k")
    result = CliRunner().invoke(cli, ["enhance", str(photos), "-o", str(out), "--model", str(model), "--json"])
    assert result.exit_code == 1 and "Traceback" not in result.stderr, result.stderr
    assert {json.loads(line)["status"] for line in result.stdout.splitlines()} == {"failed"}
    assert not [p for p in out.rglob("*.tmp")]


def test_output_folder_without_write_permission(photos, model, tmp_path):
    """A 0555 folder, written by a process that cannot bypass file modes (root without CAP_DAC_OVERRIDE)."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root (to drop its capabilities) and setpriv")
    out = tmp_path / "locked-out"
    out.mkdir()
    out.chmod(0o555)
    try:
        proc = subprocess.run([*DROP_DAC, sys.executable, "-m", "facerestore", "enhance", str(photos), "-o",
                               str(out), "--model", str(model), "--json", "--no-report", "--threads", "1"],
                              capture_output=True, text=True, timeout=120,
                              env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)})
        if "Permission denied" not in proc.stderr and "permission denied" not in proc.stderr:
            if proc.returncode == 0:
                pytest.skip("setpriv could not drop CAP_DAC_OVERRIDE here")
        _check_failed_run(proc.returncode, proc.stdout, proc.stderr, photos, "permission denied")
        _no_leftovers(out)
    finally:
        out.chmod(0o755)


@pytest.mark.parametrize("engine", ["local", pytest.param("ray", marks=pytest.mark.ray)])
def test_full_disk_stops_the_run_instead_of_failing_every_file(tmp_path, hopper_path, model, mounted, engine):
    """An archive of thousands of files must not print thousands of 'no space' lines: the run stops (on Ray
    too, where the images are written by the workers)."""
    if engine == "ray":
        pytest.importorskip("ray.data", reason="the Ray engine needs the ray extra")
    src = tmp_path / "many"
    src.mkdir()
    with Image.open(hopper_path) as im:
        for i in range(16):
            im.save(src / f"{i:02d}.png")
    out = mounted("tiny", "size=64k")
    result = CliRunner().invoke(cli, ["enhance", str(src), "-o", str(out), "--model", str(model), "--json",
                                      "--no-report", "--engine", engine])
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert 1 <= len(records) < 16, len(records)  # stopped with files never attempted
    stop = [line for line in result.stderr.splitlines() if line.startswith("error: stopped early: ")]
    assert len(stop) == 1 and "no space left on device" in stop[0], result.stderr
    if engine == "ray":
        # The run ends Ray, whose workers may be stopped mid-write: what they leave is a hidden temporary of a
        # process now gone (the next run into the folder removes it), never a file under a real name.
        assert all(p.name.startswith(".") and p.name.endswith(".tmp") for p in out.rglob("*") if p.is_file())
    else:
        _no_leftovers(out)


def _fill(filler: Path, leave: int) -> None:
    """Fill ``filler``'s file system, then give back ``leave`` bytes (whole pages on a tmpfs)."""
    with open(filler, "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
        except OSError:
            pass
    os.truncate(filler, max(0, filler.stat().st_size - leave))


def test_a_full_disk_leaves_no_truncated_report_preview_for_a_later_run_to_show(hopper_path, mounted, monkeypatch):
    """The disk fills while the report copies the input as the slider's "before": the copy is not left cut short,
    and once there is room again the next run's page does not show one."""
    from facerestore import charts
    from facerestore.discovery import Job
    from facerestore.errors import OutputError
    from facerestore.imageio import read_image, write_image
    from facerestore.report import REPORT_DIR_NAME, report_files
    from facerestore.report.image import write_image_report
    from facerestore.report.run import write_run_report
    from facerestore.summary import Record
    from test_report import _page_data

    out = mounted("report", "size=1m")
    loaded = read_image(hopper_path)  # 61 kB, browser-ready: the report copies it rather than drawing previews
    job = Job(src=hopper_path, rel=Path("c2.jpg"), dst=out / "c2.jpg")
    write_image(job.dst, loaded.pixels, loaded)
    filler = out / "filler"
    drawn = charts.comparison_image

    def then_the_disk_fills(*args, **kwargs):  # the last file the report writes before the copy
        result = drawn(*args, **kwargs)
        _fill(filler, leave=16384)
        return result

    monkeypatch.setattr(charts, "comparison_image", then_the_disk_fills)
    with pytest.raises(OutputError, match="(?i)no space left on device"):
        write_image_report(job, loaded, loaded.pixels, None, out / REPORT_DIR_NAME)
    files = report_files(job.dst, out)
    assert not (out / files.input_copy(".jpg")).exists()
    assert not list(out.rglob("*.tmp"))

    filler.unlink()  # room made; the rerun skips c2.jpg and rewrites the page
    record = Record(str(hopper_path), str(job.dst), "skipped", None, None, None, 0.0, None, None)
    linked = _page_data(write_run_report(out, [record], {}))["images"][0]["files"]
    assert "before" not in linked and "after" not in linked


def test_report_files_that_cannot_be_written_are_named_not_their_temporaries(photos, model, tmp_path):
    """The images are written; their report files are not (a folder where each goes). The warnings named the
    temporary ('.a.png.hist.png.PID.TOKEN.tmp'), and the run summary only by its folder."""
    out = tmp_path / "out"
    hist, summary = out / "_facerestore_report" / "a.png.hist.png", out / "summary.json"
    hist.mkdir(parents=True)
    summary.mkdir()
    result = CliRunner().invoke(cli, ["enhance", str(photos), "-o", str(out), "--model", str(model), "--json",
                                      "--strength", "1"])
    assert result.exit_code == 0, result.stderr
    assert {json.loads(line)["status"] for line in result.stdout.splitlines()} == {"restored"}
    assert ".tmp" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert f"warning: report for {photos / 'a.png'} failed: cannot write {hist}: Is a directory" in lines, lines
    assert f"warning: run report in {out} failed: cannot write {summary}: Is a directory" in lines, lines
    assert not list(out.rglob("*.tmp"))


def test_an_output_the_disk_has_room_for_only_in_part_fails_instead_of_being_cut_short(tmp_path, hopper_path,
                                                                                        model, mounted):
    """Pillow's encoders write to the file's descriptor and take a short write (room for part of the image) for
    a whole one: the JPEG was cut short, renamed into place and reported restored (exit 0), and the next run
    skipped it as done."""
    src = tmp_path / "in"
    src.mkdir()
    with Image.open(hopper_path) as im:
        small = im.convert("RGB").resize((128, 128))
    small.info.clear()  # no comment to carry: Pillow encodes the output straight into the file
    small.save(src / "a.jpg", quality=30)  # an output of ~10 kB, one encoder write
    out = mounted("nearly-full", "size=256k")
    _fill(out / "filler", leave=4096)
    result = CliRunner().invoke(cli, ["enhance", str(src), "-o", str(out), "--model", str(model), "--json",
                                      "--no-report", "--strength", "1"])
    assert result.exit_code == 1, result.stderr
    [record] = [json.loads(line) for line in result.stdout.splitlines()]
    assert record["status"] == "failed" and "no space left on device" in record["error"], record
    assert sorted(p.name for p in out.iterdir()) == ["filler"]
