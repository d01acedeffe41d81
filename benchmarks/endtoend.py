"""End-to-end throughput of ``facerestore enhance`` on a folder of real JPEGs, as a user runs it.

The command runs in a child process (decode, inference, encode, per-image JSON records; the whole CLI).
Start-up (interpreter, imports, session creation) is paid once per run, not per image, so two runs are
timed, with 1 and with N images; (wall_N - wall_1) / (N - 1) is the steady-state cost of one more image,
the figure compared with model-only time. Peak RSS comes from the child's own rusage.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
FACES = ROOT.parent / "shared" / "data" / "faces"
FALLBACK = ROOT / "examples" / "originals"


def build_jpeg_folder(folder: Path, count: int, side: int, quality: int = 75) -> list[Path]:
    """``count`` real face photos as side x side RGB JPEGs (shared face crops when present, else the examples).

    Quality 75: ``enhance`` under ``--strength auto`` restores it when writing a JPEG again at its default 95
    (quality 80 and up is left unchanged, bytes copied: ``damage.strength.resave_loses``), so the run times the
    model, not a copy.
    """
    crops = FACES / "crops" if (FACES / "crops").is_dir() else FALLBACK
    sources = sorted(p for p in crops.iterdir() if p.suffix.lower() in {".png", ".jpg", ".jpeg"})
    # Prefer large crops: upscaling a small one would make an unrealistically smooth photo.
    sized = sorted(sources, key=lambda p: -min(Image.open(p).size))
    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for i in range(count):
        src = sized[i % len(sized)]
        with Image.open(src) as im:
            im = im.convert("RGB").resize((side, side), Image.Resampling.LANCZOS)
            dst = folder / f"face_{i:03d}.jpg"
            im.save(dst, quality=quality)
            made.append(dst)
    return made


def _enhance_argv(folder: Path, out: Path, model: Path, threads: int | None, extra: tuple[str, ...]) -> list[str]:
    exe = shutil.which("facerestore", path=str(Path(sys.executable).parent)) or shutil.which("facerestore")
    head = [exe] if exe else [sys.executable, "-c", "import sys; from facerestore.cli import main; sys.exit(main())"]
    argv = head + ["enhance", str(folder), "-o", str(out), "--model", str(model), "--device", "cpu",
                   "--json", "--quiet"]
    if threads:
        argv += ["--threads", str(threads)]
    return argv + list(extra)


# A forked child's ru_maxrss starts from its parent's RSS at fork time (Linux counts the pages it shared before
# exec), and this harness holds torch and ONNX Runtime: hundreds of MB that are not facerestore's. So the command
# is started by a minimal interpreter, and its peak RSS is that interpreter's child figure.
_SPAWNER = """
import os, subprocess, sys
proc = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(proc.pid, 0)
with open(sys.argv[1], "w") as fh:
    fh.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def _timed_child(argv: list[str]) -> tuple[float, int, list[dict], str]:
    """Wall seconds, peak RSS bytes of the command, its JSON records, its stderr."""
    with tempfile.TemporaryDirectory(prefix="facerestore-bench-rss-") as tmp:
        rss_file = Path(tmp) / "maxrss"
        with (Path(tmp) / "out").open("w+b") as out, (Path(tmp) / "err").open("w+b") as err:
            t0 = time.perf_counter()
            code = subprocess.call([sys.executable, "-S", "-c", _SPAWNER, str(rss_file), *argv],
                                   stdout=out, stderr=err, cwd=ROOT)
            wall = time.perf_counter() - t0
            out.seek(0)
            err.seek(0)
            stdout, stderr = out.read().decode(), err.read().decode(errors="replace")
        if code != 0:
            raise RuntimeError(f"{' '.join(argv)} exited {code}:\n{stderr[-2000:]}")
        rss = int(rss_file.read_text()) * 1024  # Linux reports KiB
    records = [json.loads(line) for line in stdout.splitlines() if line.strip().startswith("{")]
    return wall, rss, records, stderr


def measure_enhance(model: Path, count: int, side: int, threads: int | None,
                    extra: tuple[str, ...] = ()) -> dict:
    with tempfile.TemporaryDirectory(prefix="facerestore-bench-") as tmp:
        tmp_path = Path(tmp)
        build_jpeg_folder(tmp_path / "many", count, side)
        build_jpeg_folder(tmp_path / "one", 1, side)
        wall_1, _, _, _ = _timed_child(_enhance_argv(tmp_path / "one", tmp_path / "out1", model, threads, extra))
        wall_n, rss, records, _ = _timed_child(
            _enhance_argv(tmp_path / "many", tmp_path / "outn", model, threads, extra))
    restored = sum(1 for r in records if r.get("status") == "restored")
    if restored != count:
        raise RuntimeError(f"enhance restored {restored} of {count} images: {records}")
    per_image = (wall_n - wall_1) / (count - 1)
    mp = side * side / 1e6
    return {"images": count, "side": side, "threads": threads, "extra_args": list(extra),
            "wall_1_s": wall_1, "wall_n_s": wall_n, "startup_and_first_s": wall_1,
            "steady_s_per_image": per_image, "images_per_s": 1 / per_image, "mp_per_s": mp / per_image,
            "overall_images_per_s": count / wall_n, "peak_rss_mb": rss / 2**20,
            "median_record_seconds": sorted(r["seconds"] for r in records)[len(records) // 2]}
