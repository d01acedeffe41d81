"""atomic: every file replaced whole or not at all, through a temporary no other writer can share."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from facerestore.atomic import write_atomic, write_csv, write_json


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_failing_writer_keeps_the_previous_file_and_removes_its_temporary(tmp_path):
    dst = tmp_path / "summary.json"
    dst.write_text("previous")

    def half_then_fail(fh):
        fh.write(b'{"images": [')
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        write_atomic(dst, half_then_fail)
    assert _names(tmp_path) == ["summary.json"] and dst.read_text() == "previous"


def test_a_new_file_is_not_left_half_written(tmp_path):
    def interrupted(fh):
        fh.write(b"\x89PNG partial")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomic(tmp_path / "out" / "a.png", interrupted)
    assert _names(tmp_path / "out") == []  # neither the file nor its temporary


def test_two_writers_of_one_file_never_share_a_temporary(tmp_path):
    """A second writer starts while the first is mid-write (two shards, two checkpoints of one run)."""
    dst = tmp_path / "best.json"
    seen_by_outer: list[str] = []

    def outer(fh):
        fh.write(b"outer")
        seen_by_outer.extend(_names(tmp_path))
        write_atomic(dst, b"inner")  # completes while the outer temporary is still open
        fh.write(b" done")

    write_atomic(dst, outer)
    assert len(seen_by_outer) == 1 and seen_by_outer[0].startswith(".best.json.")
    assert seen_by_outer[0].endswith(".tmp")
    assert dst.read_bytes() == b"outer done"  # the last rename wins, whole
    assert _names(tmp_path) == ["best.json"]


def test_temporary_names_are_fresh_for_every_write(tmp_path, monkeypatch):
    created: list[str] = []
    real_open = os.open

    def recording_open(path, flags, mode=0o777):
        created.append(os.fspath(path))
        return real_open(path, flags, mode)

    monkeypatch.setattr(os, "open", recording_open)
    for _ in range(3):
        write_atomic(tmp_path / "x.txt", "same name")
    assert len(set(created)) == 3 and all(Path(p).parent == tmp_path for p in created)


def test_text_json_and_csv_get_ordinary_permissions_and_mtime(tmp_path):
    old = os.umask(0o022)
    try:
        write_atomic(tmp_path / "a.txt", "héllo\n", mtime=1_000_000_000.0)
        write_json(tmp_path / "b.json", {"psnr": "inf"})
        write_csv(tmp_path / "c.csv", ["model", "psnr"], [["big", 31.5], ["gan", None]])
    finally:
        os.umask(old)
    assert all(p.stat().st_mode & 0o777 == 0o644 for p in tmp_path.iterdir())
    assert (tmp_path / "a.txt").read_bytes() == "héllo\n".encode() and os.stat(tmp_path / "a.txt").st_mtime == 1e9
    assert (tmp_path / "c.csv").read_bytes() == b"model,psnr\r\nbig,31.5\r\ngan,\r\n"


def test_json_refuses_nan_before_touching_the_file(tmp_path):
    dst = tmp_path / "compare.json"
    dst.write_text("{}")
    with pytest.raises(ValueError):
        write_json(dst, {"psnr": float("inf")})
    assert _names(tmp_path) == ["compare.json"] and dst.read_text() == "{}"


def test_json_keeps_undecodable_file_names(tmp_path):
    name = os.fsdecode(b"photo-\xff.jpg")  # not UTF-8: held as a lone surrogate
    write_json(tmp_path / "m.json", {"source": name})
    raw = (tmp_path / "m.json").read_bytes()
    raw.decode("utf-8")  # valid UTF-8 for every reader
    assert json.loads(raw)["source"] == name


def test_leftovers_of_killed_writers_are_removed_by_the_next_write(tmp_path):
    dead = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True).stdout)
    stale = tmp_path / f".summary.csv.{dead}.0123abcd.tmp"
    stale.write_text("half")
    live = tmp_path / f".report.html.{os.getppid()}.0123abcd.tmp"  # its writer may still be running
    live.write_text("in progress")
    write_atomic(tmp_path / "summary.csv", "a,b\n")
    assert _names(tmp_path) == sorted([live.name, "summary.csv"])


@pytest.mark.parametrize("name", ["x" * 251 + ".jpg", "ä" * 125 + ".png"])
def test_a_file_name_as_long_as_the_file_system_allows_is_written(tmp_path, name):
    # Its temporary keeps only the start of the name: the whole of it, plus pid and token, would not fit.
    assert len(os.fsencode(name)) <= 255
    write_atomic(tmp_path / name, b"data")
    assert _names(tmp_path) == [name] and (tmp_path / name).read_bytes() == b"data"


def test_a_failed_write_names_its_destination_not_its_temporary(tmp_path):
    """The OS error of the rename (or of the temporary's creation) named the temporary: a message built from it
    ('cannot write ...: [Errno 21] Is a directory: '.summary.json.4242.0a1b2c3d.tmp' -> ...') named a file the
    user never sees and that no longer exists."""
    dst = tmp_path / "summary.json"
    dst.mkdir()  # a folder where the file goes: the rename onto it fails
    with pytest.raises(IsADirectoryError) as info:
        write_json(dst, {"images": []})
    assert info.value.filename == str(dst) and info.value.filename2 is None
    assert str(info.value) == f"[Errno 21] Is a directory: '{dst}'"
    assert _names(tmp_path) == ["summary.json"]


def test_a_temporary_that_cannot_be_made_names_the_destination(tmp_path):
    import shutil

    where = tmp_path / "ro"
    where.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a read-only tmpfs needs root")
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(where)]).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        with pytest.raises(OSError) as info:
            write_atomic(where / "report.html", "<html>")
        assert info.value.errno == 30 and info.value.filename == str(where / "report.html"), info.value
    finally:
        subprocess.run(["umount", str(where)], check=False)
