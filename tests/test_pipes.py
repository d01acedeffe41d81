"""facerestore in shell pipelines: the real entry point with its standard streams closed, cut short or
redirected, as ``| head -1``, ``2>&-``, ``<&-``, a CI log and a read-only home give them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

pytest.importorskip("onnx")

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
COUNT = 24


@pytest.fixture
def photos(tmp_path, hopper_rgb) -> Path:
    """``COUNT`` distinct JPEG crops of a real photo, damaged enough to be restored."""
    root = tmp_path / "photos"
    root.mkdir()
    for i in range(COUNT):
        y, x = 8 * i, 5 * i
        Image.fromarray(hopper_rgb[y:y + 96, x:x + 96]).save(root / f"img{i:02d}.jpg", quality=20)
    return root


def _facerestore(*args: str) -> list[str]:
    return [sys.executable, "-m", "facerestore", *args]


def _outputs(out: Path) -> list[str]:
    return sorted(p.name for p in out.glob("*.jpg"))


def _leftovers(out: Path) -> list[str]:
    """Temporaries, journals and their locks: what a run that ended properly does not leave."""
    return sorted(str(p.relative_to(out)) for p in out.rglob("*")
                  if p.name.endswith(".tmp") or "journal-" in p.name)


def _summary_outputs(out: Path) -> list[str]:
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    return sorted(Path(image["output"]).name for image in summary["images"] if image["status"] == "restored")


def test_a_stderr_nobody_reads_does_not_stop_the_run(photos, tiny_rgb_model, tmp_path):
    """``2> >(head -c 1)``, a log reader that died: messages are lost, the work is not. The run died at its first
    line to stderr (exit 1, "some files failed"), having written nothing."""
    out = tmp_path / "out"
    proc = subprocess.Popen(_facerestore("enhance", str(photos), "-o", str(out), "--model", str(tiny_rgb_model),
                                         "--json", "--threads", "1"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    proc.stderr.close()  # long before the child's first message: it is still importing
    proc.stderr = None
    stdout, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0
    records = [json.loads(line) for line in stdout.decode("utf-8").splitlines()]
    assert [r["status"] for r in records] == ["restored"] * COUNT
    assert _outputs(out) == sorted(f"img{i:02d}.jpg" for i in range(COUNT))
    assert _summary_outputs(out) == _outputs(out) and not _leftovers(out)


@pytest.mark.parametrize("variable", ["FORCE_COLOR", "TTY_COMPATIBLE"])
def test_no_progress_bar_in_a_log_that_asks_for_colour(photos, tiny_rgb_model, tmp_path, variable):
    """CI sets FORCE_COLOR=1 (or TTY_COMPATIBLE=1) for coloured logs. rich then calls stderr a terminal, and the
    bar that redraws in place became a line in the log at every refresh, the whole run long (about 1 kB a
    second: 3.6 MB an hour). A stderr that is not a terminal gets plain lines."""
    proc = subprocess.run(_facerestore("enhance", str(photos), "-o", str(tmp_path / "out"), "--model",
                                       str(tiny_rgb_model), "--threads", "1"),
                          capture_output=True, text=True, timeout=300, env={**ENV, variable: "1"})
    assert proc.returncode == 0, proc.stderr
    assert "\r" not in proc.stderr and "Restoring" not in proc.stderr and "\x1b[" not in proc.stderr, \
        proc.stderr[:500]
    assert f"{COUNT} restored" in proc.stderr


def _read_one_line_and_close(args: list[str]) -> tuple[bytes, int, str]:
    """``args | head -1``: the first stdout line, then stdout's reader goes away; (line, exit code, stderr)."""
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    line = proc.stdout.readline()
    proc.stdout.close()
    proc.stdout = None
    _, stderr = proc.communicate(timeout=300)
    return line, proc.returncode, stderr.decode("utf-8", "replace")


def test_enhance_json_cut_short_by_head_stops_cleanly(photos, tiny_rgb_model, tmp_path):
    """``enhance --json | head -1``: the run stops as after a Ctrl-C, quietly. It died with exit 1 ("some files
    failed"), no summary, no report and its journal left behind; now the images being written are finished, the
    report lists exactly the outputs on disk, nothing temporary stays, and the exit status is 141, what a shell
    reports for a command that SIGPIPE ended."""
    out = tmp_path / "out"
    line, code, stderr = _read_one_line_and_close(_facerestore(
        "enhance", str(photos), "-o", str(out), "--model", str(tiny_rgb_model), "--json", "--threads", "1"))
    assert json.loads(line)["status"] == "restored"
    assert code == 141, stderr
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr
    assert "stdout closed" in stderr
    written = _outputs(out)
    assert 1 <= len(written) < COUNT  # stopped, not run to the end for nobody
    assert _summary_outputs(out) == written and not _leftovers(out)
    for name in written:
        with Image.open(out / name) as im:
            im.load()  # whole files only


@pytest.mark.parametrize("command", [["analyze"], ["analyze", "--json"], ["enhance", "--dry-run"], ["models"],
                                     ["models", "--json"]])
def test_output_nobody_reads_ends_quietly(photos, tiny_rgb_model, command):
    """``facerestore analyze photos | true``: exit 141 and nothing on stderr (it was click's exit 1, which reads
    as "some files failed")."""
    args = [*command] + ([str(photos)] if command[0] != "models" else []) + \
        (["--model", str(tiny_rgb_model)] if command[0] == "enhance" else [])
    proc = subprocess.Popen(_facerestore(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    proc.stdout.close()  # before the child has written anything: it is still importing
    proc.stdout = None
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 141 and stderr == b""


@pytest.mark.parametrize("command", ["enhance", "analyze"])
def test_files_from_a_closed_stdin_is_a_usage_error(photos, tiny_rgb_model, tmp_path, command):
    """``facerestore enhance --files-from - <&-`` (a cron job or daemon without stdin) gave click's traceback
    "RuntimeError: Was not able to determine binary stream for sys.stdin" (exit 1)."""
    args = [command, "--files-from", "-"] + (["-o", str(tmp_path / "out"), "--model", str(tiny_rgb_model)]
                                             if command == "enhance" else [])
    proc = subprocess.run(_facerestore(*args), capture_output=True, text=True, timeout=120, env=ENV,
                          preexec_fn=lambda: os.close(0))
    assert proc.returncode == 2 and proc.stdout == ""
    assert "stdin" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["enhance", "analyze"])
def test_a_nul_separated_list_without_null_is_a_usage_error(photos, tiny_rgb_model, tmp_path, command):
    """``find photos -print0 | facerestore enhance --files-from -`` (-0 forgotten) ended in a traceback, "ValueError:
    embedded null byte" (exit 1), after analyze had printed the rows of the inputs named beside the list."""
    listing = b"".join(os.fsencode(p) + b"\0" for p in sorted(photos.glob("*.jpg"))[:2])
    named = str(sorted(photos.glob("*.jpg"))[2])
    args = [command, named, "--files-from", "-"] + (["-o", str(tmp_path / "out"), "--model", str(tiny_rgb_model)]
                                                    if command == "enhance" else [])
    proc = subprocess.run(_facerestore(*args), input=listing, capture_output=True, timeout=120, env=ENV)
    stderr = proc.stderr.decode()
    assert proc.returncode == 2 and proc.stdout == b"", stderr
    assert "Traceback" not in stderr and "-0" in stderr and len(stderr.splitlines()) == 1, stderr
    assert not (tmp_path / "out").exists()
    # With -0 the same list is read, and the files restored.
    threads = ["--threads", "1"] if command == "enhance" else []
    proc = subprocess.run(_facerestore(*args, "-0", *threads), input=listing, capture_output=True, timeout=300,
                          env=ENV)
    assert proc.returncode == 0, proc.stderr.decode()
    if command == "enhance":
        assert _outputs(tmp_path / "out") == ["img00.jpg", "img01.jpg", "img02.jpg"]
    else:
        assert len(proc.stdout.decode().splitlines()) == 4  # the header and one row per file


def test_an_unwritable_home_adds_nothing_to_stderr(photos, tiny_rgb_model, tmp_path):
    """onnxruntime 1.2x keeps a telemetry device ID under ~/.cache (XDG_CACHE_HOME); where that cannot be
    written (a read-only home in a container, a cron job's HOME=/) its import printed a yellow
    "[W:onnxruntime:Default, telemetry_1ds.cc] Failed to persist telemetry device ID" on every run, ANSI codes in
    a log included, which -v alone is meant to show. A cache path that is a file fails even for root."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_bytes(b"")
    proc = subprocess.run(_facerestore("enhance", str(photos), "-o", str(tmp_path / "out"), "--model",
                                       str(tiny_rgb_model), "--threads", "1"),
                          capture_output=True, text=True, timeout=300, env={**ENV, "XDG_CACHE_HOME": str(blocker)})
    assert proc.returncode == 0, proc.stderr
    assert "onnxruntime" not in proc.stderr.lower() and "\x1b[" not in proc.stderr, proc.stderr
    cache = tmp_path / "cache"  # and where it could be written, nothing is: the run's only files are its outputs
    cache.mkdir()
    proc = subprocess.run(_facerestore("enhance", str(photos), "-o", str(tmp_path / "out2"), "--model",
                                       str(tiny_rgb_model), "--threads", "1"),
                          capture_output=True, text=True, timeout=300, env={**ENV, "XDG_CACHE_HOME": str(cache)})
    assert proc.returncode == 0, proc.stderr
    assert list(cache.iterdir()) == []


def _in_deleted_folder(folder: Path):
    """For preexec_fn: start the command in ``folder``, deleted under it (a temporary folder cleaned meanwhile)."""
    def enter_and_delete() -> None:
        os.chdir(folder)
        os.rmdir(folder)
    return enter_and_delete


@pytest.mark.parametrize("command", ["enhance", "report", "compare"])
def test_a_deleted_current_folder_is_a_usage_error(photos, tiny_rgb_model, tmp_path, command):
    """Every path absolute, yet enhance, compare and report died with a FileNotFoundError traceback from
    os.getcwd() (exit 1) when the shell's current folder had been deleted."""
    out = tmp_path / "out"
    args = {"enhance": ["enhance", str(photos), "-o", str(out), "--model", str(tiny_rgb_model)],
            "report": ["report", str(out)],
            "compare": ["compare", str(photos / "img00.jpg"), "--models", str(tiny_rgb_model), "-o", str(out)]}
    if command == "report":  # a run's folder to rebuild the report of, its records relative as given
        done = subprocess.run(_facerestore("enhance", "photos/img00.jpg", "-o", "out", "--model", str(tiny_rgb_model)),
                              capture_output=True, text=True, timeout=120, env=ENV, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    else:
        out.mkdir()
    before = sorted(out.rglob("*"))
    gone = tmp_path / "gone"
    gone.mkdir()
    proc = subprocess.run(_facerestore(*args[command]), capture_output=True, text=True, timeout=120, env=ENV,
                          preexec_fn=_in_deleted_folder(gone))
    assert proc.returncode == 2 and proc.stdout == ""
    assert "current folder" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert sorted(out.rglob("*")) == before


@pytest.mark.parametrize("command", [["analyze"], ["enhance", "--dry-run"]])
def test_a_table_tells_a_backslash_from_an_escape(photos, tiny_rgb_model, tmp_path, command):
    r"""The tables escape a newline in a name as ``\n``; a name holding a backslash and an n (legal, and what a
    Windows path pasted into a name gives) came out the same, so no script could tell the two files apart."""
    odd = tmp_path / "odd"
    odd.mkdir()
    for name in ("a\nb.jpg", "a\\nb.jpg", "c\\xff.jpg", os.fsdecode(b"c\xff.jpg")):
        (odd / name).write_bytes((photos / "img00.jpg").read_bytes())
    args = [*command, str(odd)] + (["--model", str(tiny_rgb_model)] if command[0] == "enhance" else [])
    proc = subprocess.run(_facerestore(*args), capture_output=True, timeout=120, env=ENV)
    assert proc.returncode == 0, proc.stderr
    rows = proc.stdout.decode("utf-8").splitlines()[1 if command == ["analyze"] else 0:]
    names = sorted(row.split("\t")[0][len(str(odd)) + 1:] for row in rows)
    assert names == sorted(["a\\nb.jpg", "a\\\\nb.jpg", "c\\\\xff.jpg", "c\\xff.jpg"])


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("command", [["enhance", "--json"], ["analyze"], ["analyze", "--json"], ["models", "--json"]])
def test_a_stdout_on_a_full_disk_is_one_error_line(photos, tiny_rgb_model, tmp_path, command):
    """``--json > results.jsonl`` on a disk that fills up: each command died with an OSError traceback, enhance
    without its report. Now: one error line naming stdout, exit 1, and enhance stops as for a closed stdout."""
    out = tmp_path / "out"
    args = [*command] + {"enhance": [str(photos), "-o", str(out), "--model", str(tiny_rgb_model), "--threads", "1"],
                         "analyze": [str(photos)], "models": []}[command[0]]
    with open("/dev/full", "w") as full:
        proc = subprocess.run(_facerestore(*args), stdout=full, stderr=subprocess.PIPE, text=True, timeout=300,
                              env=ENV)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr, proc.stderr
    assert "error: cannot write to stdout: No space left on device" in proc.stderr.splitlines()
    if command[0] == "enhance":
        written = _outputs(out)
        assert 1 <= len(written) < COUNT and _summary_outputs(out) == written and not _leftovers(out)
