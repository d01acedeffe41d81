"""Model-only speed at S x S px, ONNX Runtime vs torch eager with the same weights and the same thread count,
measured back to back in one process.

ONNX Runtime is timed two ways: the engine's own path (``restore_pixels``: the image cut into tiles that run
concurrently, one single-threaded run per core, context rows recomputed and counted as overhead), which is
what ``facerestore enhance`` does; and one ``session.run`` over the whole image spread over all threads.
No decoding, encoding or reports: those are the end-to-end benchmark."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from .flops import conv_cost
from .measure import peak_rss_bytes, reset_peak_rss, sample


def repeats_for(size: int, quick: bool) -> int:
    """Enough runs for a median, few enough that 2048 px BigCNN (~15 s a run) keeps the suite bounded."""
    if quick:
        return 2
    return 5 if size <= 512 else 3


def face_batch(size: int, channels: int, batch: int = 1) -> np.ndarray:
    """Deterministic input in [0, 1]; conv speed does not depend on the values, only on the shape."""
    rng = np.random.default_rng(size)
    return rng.random((batch, channels, size, size), dtype=np.float32)


def _cell(run: Callable[[np.ndarray], np.ndarray], x: np.ndarray, flops: float, repeats: int) -> dict:
    reset_peak_rss()
    s = sample(lambda: run(x), repeats, warmup=1 if x.shape[-1] <= 1024 else 0)
    return {"gflops": flops / s.median / 1e9, "peak_rss_mb": peak_rss_bytes() / 2**20, **s.as_dict()}


def measure_model(path: Path, sizes: tuple[int, ...], threads: int, peak_gflops: float, quick: bool,
                  with_torch: bool = True) -> list[dict]:
    from facerestore.restore import restore_pixels
    from facerestore.session import open_model

    from .models import torch_eager

    cost = conv_cost(path)
    engine = open_model(str(path), device="cpu", threads=threads)
    one_run = open_model(str(path), device="cpu", threads=threads, streams=1)
    # torch eager rebuilds a plain conv stack from the file's weights: not a conditioned model such as DARN.
    torch_run = torch_eager(path, threads) if with_torch and engine.condition is None else None

    def engine_run(x: np.ndarray) -> np.ndarray:
        return restore_pixels(engine, x[0].transpose(1, 2, 0))

    rows = []
    for size in sizes:
        x = face_batch(size, engine.channels)
        flops = cost.flops(size, size)
        reps = repeats_for(size, quick)
        row: dict = {"size": size, "gflop": flops / 1e9, "repeats": reps, "streams": engine.streams,
                     "ort": _cell(engine_run, x, flops, reps), "ort_one_run": _cell(one_run.run, x, flops, reps)}
        for cell in ("ort", "ort_one_run"):
            row[cell]["fraction_of_peak"] = row[cell]["gflops"] / peak_gflops
        if torch_run is not None:
            row["torch"] = _cell(torch_run, x, flops, reps)
            row["torch"]["fraction_of_peak"] = row["torch"]["gflops"] / peak_gflops
            # One call each: the stricter comparison (the engine path is faster still).
            row["ort_speedup_vs_torch"] = row["torch"]["median_s"] / row["ort_one_run"]["median_s"]
            # Same weights must give the same pixels, or the comparison is not of the same network.
            row["max_abs_diff_ort_torch"] = float(np.abs(one_run.run(x) - torch_run(x)).max()) \
                if size <= 512 else None
        rows.append(row)
    return rows
