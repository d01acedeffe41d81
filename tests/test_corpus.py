"""``facerestore enhance`` over the hostile corpus (tests/corpus.py): every entry gets its expected outcome.

Each run is checked the same way: the class of every entry (restored with the right upright size and a
sensible mode, rejected with one printable stderr line naming it, or skipped), no traceback, exit code 1,
and the input tree exactly as it was (content, size, mtime and mode of every entry, mtime of every folder,
no new file). Runs: in-process (CliRunner), a real subprocess with reports on, a subprocess without the
privilege to bypass file permissions, and the bombs under a 1.5 GB address-space limit.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from corpus import REJECTED, RESTORED, SKIPPED, Case, build_corpus, unlock
from facerestore.cli import cli

pytest.importorskip("onnx")

# setpriv drops the capabilities that let root ignore file modes; uid 0 keeps the Python install reachable.
REPORT_FILES = {"report.html", "summary.csv", "summary.json"}
DROP_DAC = ["setpriv", "--bounding-set=-dac_override,-dac_read_search",
            "--inh-caps=-dac_override,-dac_read_search"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from conftest import build_tiny_onnx

    base = tmp_path_factory.mktemp("corpus-run")
    root = base / "corpus"
    cases = build_corpus(root)
    model = build_tiny_onnx(base / "tiny.onnx")
    yield root, cases, model
    unlock(root)


def snapshot(*roots: Path) -> dict[str, tuple]:
    """Mode, size, mtime and inode of every entry (links not followed), sha256 of regular files."""
    entries: dict[str, tuple] = {}
    for top in roots:
        for dirpath, dirnames, filenames in os.walk(top):  # never follows links, so loops are harmless
            for name in [os.curdir, *dirnames, *filenames]:
                path = os.path.normpath(os.path.join(dirpath, name))
                st = os.lstat(path)
                info: tuple = (st.st_mode, st.st_size, st.st_mtime_ns, st.st_ino)
                if stat.S_ISREG(st.st_mode):
                    with open(path, "rb") as fh:  # mode-000 files: the suite runs privileged or skips
                        info += (hashlib.sha256(fh.read()).hexdigest(),)
                entries[path] = info
    return entries


def shown(text: str) -> str:
    """How a name must appear on a one-line message: controls and undecodable bytes escaped, the rest as is."""
    out = []
    for ch in text:
        if 0xDC80 <= ord(ch) <= 0xDCFF:
            out.append(f"\\x{ord(ch) - 0xDC00:02x}")
        elif ch in "\n\t":
            out.append({"\n": "\\n", "\t": "\\t"}[ch])
        else:
            out.append(ch)
    return "".join(out)


def check_run(root: Path, cases: list[Case], out: Path, code: int, stdout: str, stderr: str,
              privileged: bool, written: tuple[str, ...] = ("restored",)) -> None:
    """``written``: the statuses a readable image may get (``--strength auto`` leaves undamaged ones unchanged)."""
    assert code == 1, stderr
    assert "Traceback" not in stderr and "Warning" not in stderr, stderr  # Python warnings are not messages
    records = [json.loads(line) for line in stdout.splitlines()]  # every stdout line is one JSON object
    by_rel = {os.path.relpath(os.fsdecode(os.fsencode(r["input"])), root): r for r in records}
    assert len(by_rel) == len(records), "an input reported twice"
    expected = {c.relpath: c for c in cases}
    unexpected = sorted(set(by_rel) - set(expected))
    assert not unexpected, f"records for entries the corpus does not know: {unexpected}"
    error_lines = [line for line in stderr.splitlines() if line.startswith("error: ")]

    outputs = set()
    for case in cases:
        record = by_rel.get(case.relpath)
        klass = case.expected(privileged)
        where = f"{case.relpath!r} (expected {klass})"
        if klass == RESTORED:
            assert record is not None and record["status"] in written, f"{where}: {record}"
            dst = out / case.output_rel
            assert Path(record["output"]) == dst, where
            copied = record["status"] == "unchanged" and dst.read_bytes() == (root / case.relpath).read_bytes()
            with Image.open(dst) as im:
                im.load()
                if not copied:  # a copy keeps the input's own layout (an EXIF-rotated file stays so)
                    assert im.size == case.size, where
                    assert im.mode in case.modes, f"{where}: mode {im.mode}"
                if case.keeps_icc:
                    with Image.open(root / case.relpath) as src:
                        assert im.info.get("icc_profile") == src.info["icc_profile"], where
            assert (record["width"], record["height"]) == case.size, where
            outputs.add(dst)
        elif klass == REJECTED:
            assert record is not None and record["status"] == "failed", f"{where}: {record}"
            assert record["output"] is None and case.reason is not None
            assert case.reason in record["error"], f"{where}: {record['error']!r}"
            name = shown(str(root / case.relpath))
            lines = [line for line in error_lines if line.startswith(f"error: {name}: ")]
            assert len(lines) == 1, f"{where}: {name!r} not named on exactly one line in {error_lines}"
            assert shown(record["error"]) in lines[0]
        else:
            assert klass == SKIPPED
            assert record is None or record["status"] == "skipped", f"{where}: {record}"
    assert len(error_lines) == sum(c.expected(privileged) == REJECTED for c in cases), error_lines
    for line in stderr.splitlines():
        assert line.isprintable(), f"unprintable stderr line {line!r}"

    found = set()
    for path in out.rglob("*"):
        rel = path.relative_to(out)
        if path.is_dir() or rel.parts[0] == "_facerestore_report" or str(rel) in REPORT_FILES:
            continue
        found.add(path)
    assert found == outputs  # nothing else: no temporary, no output of a rejected input


def run_cli_in_process(args: list[str]) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result.exit_code, result.stdout, result.stderr


def run_cli_subprocess(args: list[str], prefix: list[str] = (), **kwargs) -> tuple[int, str, str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent), "COLUMNS": "80"}
    proc = subprocess.run([*prefix, sys.executable, "-m", "facerestore", *args], capture_output=True,
                          timeout=240, env=env, **kwargs)
    # stdout must be valid UTF-8 JSON even for names that are not: undecodable bytes travel as \udcXX escapes.
    return proc.returncode, proc.stdout.decode("utf-8"), proc.stderr.decode("utf-8")


@pytest.fixture
def cwd_guard(tmp_path, monkeypatch):
    """Run from an empty folder and prove no shell ever expanded ``$(touch PWNED)``."""
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    assert not list(tmp_path.rglob("PWNED"))


def _privileged(root: Path) -> bool:
    return os.access(root / "locked" / "unreadable.jpg", os.R_OK)


def test_corpus_in_process(corpus, tmp_path, cwd_guard):
    root, cases, model = corpus
    assert sum(not c.relpath.startswith("good/") for c in cases) >= 40
    if not _privileged(root):
        pytest.skip("the in-process run reads the mode-000 entries only when privileged; see the setpriv test")
    before = snapshot(root, root.parent / "outside")
    out = tmp_path / "out"
    code, stdout, stderr = run_cli_in_process(["enhance", str(root), "-o", str(out), "--model", str(model),
                                               "--json", "--no-report", "--strength", "1"])
    check_run(root, cases, out, code, stdout, stderr, privileged=True)
    assert snapshot(root, root.parent / "outside") == before


def test_corpus_subprocess_with_reports(corpus, tmp_path, cwd_guard):
    root, cases, model = corpus
    if not _privileged(root):
        pytest.skip("needs to read the mode-000 entries")
    before = snapshot(root, root.parent / "outside")
    out = tmp_path / "out"
    code, stdout, stderr = run_cli_subprocess(["enhance", str(root), "-o", str(out), "--model", str(model),
                                               "--json", "--threads", "1"], cwd=cwd_guard)
    # --strength auto: every entry is analysed too, and the undamaged ones are written unchanged
    check_run(root, cases, out, code, stdout, stderr, privileged=True, written=("restored", "unchanged"))
    assert snapshot(root, root.parent / "outside") == before


def test_corpus_without_permission_bypass(corpus, tmp_path, cwd_guard):
    """Unreadable files and folders as an ordinary user sees them: named, never a crash."""
    root, cases, model = corpus
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root (to drop its capabilities) and setpriv")
    probe = subprocess.run([*DROP_DAC, "cat", str(root / "locked" / "unreadable.jpg")], capture_output=True)
    if probe.returncode == 0:
        pytest.skip("setpriv could not drop CAP_DAC_OVERRIDE here")
    before = snapshot(root, root.parent / "outside")
    out = tmp_path / "out"
    code, stdout, stderr = run_cli_subprocess(["enhance", str(root), "-o", str(out), "--model", str(model),
                                               "--json", "--no-report", "--threads", "1", "--strength", "1"],
                                              prefix=DROP_DAC, cwd=cwd_guard)
    check_run(root, cases, out, code, stdout, stderr, privileged=False)
    assert snapshot(root, root.parent / "outside") == before


def _limit_memory() -> None:
    limit = 1536 * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def test_bombs_are_refused_within_bounded_memory(corpus, tmp_path):
    """A 1.5 GB address-space cap: decoding any of these (400 MP to 10 GP) would need far more."""
    root, cases, model = corpus
    bombs = [c for c in cases if c.relpath.startswith("bombs/")]
    assert len(bombs) == 4
    out = tmp_path / "out"
    code, stdout, stderr = run_cli_subprocess(
        ["enhance", *(str(root / c.relpath) for c in bombs), "-o", str(out), "--model", str(model), "--json",
         "--no-report", "--threads", "1"], preexec_fn=_limit_memory)
    assert code == 1 and "Traceback" not in stderr and "memory" not in stderr.lower(), stderr
    records = [json.loads(line) for line in stdout.splitlines()]
    assert [r["status"] for r in records] == ["failed"] * 4
    assert all("too many pixels" in r["error"] for r in records)
    assert not out.exists() or not any(out.iterdir())
