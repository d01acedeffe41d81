"""Model-only speed: one forward pass of an N x C x S x S batch, ONNX Runtime (as the engine opens it) vs torch
eager with the same weights and the same thread count, measured back to back in one process."""

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
    from facerestore.session import open_model

    from .models import torch_eager

    cost = conv_cost(path)
    ort_model = open_model(str(path), device="cpu", threads=threads)
    torch_run = torch_eager(path, threads) if with_torch else None
    rows = []
    for size in sizes:
        x = face_batch(size, ort_model.channels)
        flops = cost.flops(size, size)
        reps = repeats_for(size, quick)
        row: dict = {"size": size, "gflop": flops / 1e9, "repeats": reps,
                     "ort": _cell(ort_model.run, x, flops, reps)}
        row["ort"]["fraction_of_peak"] = row["ort"]["gflops"] / peak_gflops
        if torch_run is not None:
            row["torch"] = _cell(torch_run, x, flops, reps)
            row["torch"]["fraction_of_peak"] = row["torch"]["gflops"] / peak_gflops
            row["ort_speedup_vs_torch"] = row["torch"]["median_s"] / row["ort"]["median_s"]
            # Same weights must give the same pixels, or the comparison is not of the same network.
            row["max_abs_diff_ort_torch"] = float(np.abs(ort_model.run(x) - torch_run(x)).max()) \
                if size <= 512 else None
        rows.append(row)
    return rows
