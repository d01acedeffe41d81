"""Local engine vs ``--engine ray`` on one machine: what Ray costs before it can pay off.

Both engines restore the same folder of real face JPEGs with the same model, each in a child process, as a
user runs them (``facerestore enhance DIR -o OUT --device cpu --json --quiet --no-report [--engine ray]``).
Start-up (for Ray: starting a private instance, its worker processes and one ONNX Runtime session per worker)
is paid once per run, so each engine is timed on 1 image and on N images: ``wall_1`` is the fixed cost and
``(wall_N - wall_1) / (N - 1)`` the steady cost of one more image. The outputs of the two engines are
compared byte for byte, so a speed figure never hides a different result.

    python -m benchmarks.bench_ray                          # 64 images of 512 px, shipped "big" model
    python -m benchmarks.bench_ray --count 8 --side 128 --model tiny.onnx --out /tmp/ray.json   # harness check
    python -m benchmarks.bench_ray --ray-address HOST:6379  # also time an existing cluster

On one machine Ray can only add cost (the same cores, plus its own processes and serialisation); it pays off
when the work is spread over more machines (or GPUs) than one, which this script can time with --ray-address.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.endtoend import ROOT, _enhance_argv, _timed_child, build_jpeg_folder

DEFAULT_OUT = ROOT / "benchmarks" / "results" / "ray.json"


def _digests(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _model_path(spec: str) -> Path:
    from facerestore.model_choice import choose_file

    return choose_file(spec, "fp32").path


def _time_engine(name: str, extra: tuple[str, ...], folders: dict[int, Path], model: Path, threads: int | None,
                 repeats: int, work: Path) -> tuple[dict, Path]:
    """Median walls over ``repeats`` runs on 1 and on N images; returns the figures and one N-image output."""
    walls: dict[int, list[float]] = {count: [] for count in folders}
    rss: list[int] = []
    last_out = work
    for rep in range(repeats):
        for count, folder in folders.items():
            out = work / f"{name}-{count}-{rep}"
            wall, peak, records, _ = _timed_child(_enhance_argv(folder, out, model, threads, extra))
            restored = sum(r.get("status") == "restored" for r in records)
            if restored != count:
                raise RuntimeError(f"{name}: restored {restored} of {count} images")
            walls[count].append(wall)
            if count > 1:
                rss.append(peak)
                last_out = out
            print(f"  {name:<12} {count:>4} image(s): {wall:7.2f} s", file=sys.stderr)
    n = max(folders)
    wall_1, wall_n = statistics.median(walls[1]), statistics.median(walls[n])
    steady = (wall_n - wall_1) / (n - 1)
    return {"engine": name, "args": list(extra), "images": n, "wall_1_s": wall_1, "wall_n_s": wall_n,
            "walls_s": {str(k): v for k, v in walls.items()}, "fixed_cost_s": wall_1,
            "steady_s_per_image": steady, "steady_images_per_s": 1 / steady if steady > 0 else None,
            "overall_images_per_s": n / wall_n, "driver_peak_rss_mb": max(rss) / 2**20 if rss else None}, last_out


def _table(rows: list[dict]) -> str:
    base = rows[0]
    lines = [f"{'engine':<14}{'1 image s':>11}{'N images s':>12}{'s/image':>10}{'img/s':>8}{'vs local':>10}",
             "-" * 65]
    for row in rows:
        ratio = row["wall_n_s"] / base["wall_n_s"]
        lines.append(f"{row['engine']:<14}{row['wall_1_s']:>11.2f}{row['wall_n_s']:>12.2f}"
                     f"{row['steady_s_per_image']:>10.3f}{row['overall_images_per_s']:>8.2f}{ratio:>9.2f}x")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_ray", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--count", type=int, default=64, help="images in the N-image run (default 64)")
    p.add_argument("--side", type=int, default=512, help="image side in pixels (default 512)")
    p.add_argument("--model", default="big", help="shipped model name or .onnx path (default big)")
    p.add_argument("--threads", type=int, default=None, help="--threads for both engines (default: theirs)")
    p.add_argument("--repeats", type=int, default=2, help="runs per cell, median reported (default 2)")
    p.add_argument("--ray-address", default=None, help="also time this existing Ray cluster")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON results (default {DEFAULT_OUT})")
    args = p.parse_args(argv)
    if args.count < 2:
        p.error("--count must be at least 2")
    try:
        import ray  # noqa: F401
    except ImportError:
        p.error("needs the ray extra: pip install 'facerestore[ray]'")

    model = _model_path(args.model)
    engines: list[tuple[str, tuple[str, ...]]] = [("local", ("--no-report",)),
                                                  ("ray-private", ("--no-report", "--engine", "ray"))]
    if args.ray_address:
        engines.append(("ray-cluster", ("--no-report", "--engine", "ray", "--ray-address", args.ray_address)))

    started = time.time()
    rows, outputs = [], {}
    with tempfile.TemporaryDirectory(prefix="facerestore-bench-ray-") as tmp:
        work = Path(tmp)
        folders = {1: work / "one", args.count: work / "many"}
        for count, folder in folders.items():
            build_jpeg_folder(folder, count, args.side)
        for name, extra in engines:
            row, out = _time_engine(name, extra, folders, model, args.threads, args.repeats, work)
            rows.append(row)
            outputs[name] = _digests(out)
    identical = all(digests == outputs["local"] for digests in outputs.values())

    from benchmarks.machine import describe

    result = {"benchmark": "ray", "started": started, "model": str(model), "side": args.side,
              "count": args.count, "threads": args.threads, "repeats": args.repeats,
              "outputs_identical": identical, "machine": describe(args.threads or os.cpu_count() or 1),
              "engines": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(_table(rows))
    print(f"outputs byte-identical across engines: {identical}; results in {args.out}")
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
