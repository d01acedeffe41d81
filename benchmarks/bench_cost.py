"""The cost of facerestore's own model against BigCNN, in one run: ``python -m benchmarks.bench_cost``.

Multiply-adds per full-resolution pixel are read from each ONNX graph (``benchmarks.flops``; a model that folds
pixels into channels runs every conv on 1/multiple^2 of the pixels). CPU time per megapixel is the runtime's own
path (``open_model`` + ``restore_pixels``, default threads and streams) on a real photo at each of ``--sizes``
(default 1024 x 1024; a camera's 4000 x 3000 is cut into tiles by the memory budget, and each tile recomputes
its receptive field's context, which a model of wide reach pays for), the models taking turns so a change in
machine load hits them alike; the median of ``--repeats`` runs each. Each model runs
in a process of its own, so no model's timing depends on which others are open (in one process a DARN measured
0.45x BigCNN beside it alone, 0.55x with two more models open). Reported as
ratios to BigCNN: the goal is at most 0.5 on both. Reduced-precision builds beside a model (``NAME.fp16.onnx``,
``NAME.int8.onnx``) are timed too when present.

Prints a table and writes ``benchmarks/results/cost.json``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def parse_size(text: str) -> tuple[int, int]:
    """``1024`` or ``4000x3000`` (width x height) -> (width, height)."""
    width, _, height = text.lower().partition("x")
    try:
        size = int(width), int(height or width)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a size is N or WxH, not {text!r}") from None
    if min(size) < 1:
        raise argparse.ArgumentTypeError(f"a size must be positive, not {text!r}")
    return size


def _label(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


def _timer(path: Path, conn) -> None:
    """A model in a process of its own: open it, then per request warm up at a size or time one whole photo."""
    from benchmarks.photo import astronaut
    from facerestore.restore import restore_pixels
    from facerestore.session import open_model

    model = open_model(path, device="cpu")
    photo = None
    while (request := conn.recv()) != "stop":
        kind, (width, height) = request
        if kind == "warm":
            photo = astronaut(width, height).astype(np.float32) / 255.0
            # The first runs at a size pay for its allocations, once per stream: warm up on the photo itself,
            # twice (warming on a small crop left the first timed runs slow, and with 3 repeats that moved
            # medians by 50 %).
            for _ in range(2):
                restore_pixels(model, photo, strength=0.8)
            conn.send("ready")
        else:
            start = time.perf_counter()
            restore_pixels(model, photo, strength=0.8)
            conn.send(time.perf_counter() - start)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", default=["big", "darn"], help="shipped names (the first is the 1.0)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sizes", nargs="+", type=parse_size, default=[(1024, 1024)],
                        help="photo sizes, N or WxH (e.g. 1024 4000x3000); each gets its own ratios")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "cost.json")
    args = parser.parse_args(argv)
    from benchmarks.flops import conv_cost
    from facerestore.registry import MODELS_DIR

    files = {}
    for name in args.models:
        for suffix in ("", ".fp16", ".int8"):
            path = MODELS_DIR / f"{name}{suffix}.onnx"
            if path.is_file():
                files[f"{name}{suffix}"] = path
    context = multiprocessing.get_context("spawn")
    workers = {}
    for name, path in files.items():
        parent, child = context.Pipe()
        process = context.Process(target=_timer, args=(path, child), daemon=True)
        process.start()
        workers[name] = (process, parent)
    base = args.models[0]
    macs = {name: conv_cost(path).macs_per_pixel for name, path in files.items()}  # the graph's, at any size
    result: dict = {"repeats": args.repeats, "sizes": {}}
    for size in args.sizes:
        for _, conn in workers.values():  # the warm-ups one at a time too: each takes both cores
            conn.send(("warm", size))
            conn.recv()
        times: dict[str, list[float]] = {name: [] for name in files}
        for _ in range(args.repeats):
            for name, (_, conn) in workers.items():  # one at a time: the others wait, idle
                conn.send(("run", size))
                times[name].append(conn.recv())
        megapixels = size[0] * size[1] / 1e6
        rows = {}
        for name in files:
            seconds = statistics.median(times[name]) / megapixels
            rows[name] = {"macs_per_pixel": macs[name], "seconds_per_megapixel": round(seconds, 4)}
        for row in rows.values():
            row["macs_ratio"] = round(row["macs_per_pixel"] / rows[base]["macs_per_pixel"], 3)
            row["time_ratio"] = round(row["seconds_per_megapixel"] / rows[base]["seconds_per_megapixel"], 3)
        result["sizes"][_label(size)] = rows
        print(f"{_label(size)} photo")
        print(f"{'model':<12} {'MACs/px':>9} {'x ' + base:>7} {'s/MP':>7} {'x ' + base:>7}")
        for name, r in rows.items():
            print(f"{name:<12} {r['macs_per_pixel']:>9,.0f} {r['macs_ratio']:>7.2f} {r['seconds_per_megapixel']:>7.3f} "
                  f"{r['time_ratio']:>7.2f}")
    for process, conn in workers.values():
        conn.send("stop")
        process.join()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
