"""``python -m benchmarks.run --device cuda``: the GPU path measured where a CUDA card is present.

Per model and size: plain ``session.run``, IO binding (fp32), IO binding with the fp16 model; a batch of 8
images at 512 px; the fp16 accuracy cost on the validation faces (on the card); the tile the free memory
allows. Medians of several runs after warm-up (cuDNN picks its algorithms on the first runs of a shape).
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from . import tables
from .flops import conv_cost
from .measure import sample
from .models import models_under_test
from .modelonly import face_batch

SIZES = (256, 512, 1024, 2048, 4096)


def _gpu_name() -> str | None:
    smi = shutil.which("nvidia-smi")
    if not smi:
        return None
    out = subprocess.run([smi, "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                         capture_output=True, text=True, check=False)
    return out.stdout.strip() or None


def _val_pairs(channels: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Validation faces (never calibration or training images) as (degraded, clean) NCHW float32 pairs."""
    from export.data import eval_pairs, split_faces, to_gray, to_nchw

    from .endtoend import FACES

    if not FACES.is_dir():
        return []
    pairs = []
    for p in eval_pairs(split_faces(FACES).val):
        lq, hq = (to_gray(p.lq), to_gray(p.hq)) if channels == 1 else (p.lq, p.hq)
        pairs.append((to_nchw(lq)[None], to_nchw(hq)[None]))
    return pairs


def _mean_psnr(run, pairs) -> float:
    from facerestore.metrics import psnr

    return float(statistics.mean(psnr(np.clip(run(lq), 0, 1), hq, 1.0) for lq, hq in pairs))


def measure(path: Path, fp16_path: Path, sizes: tuple[int, ...], repeats: int, device: str) -> dict:
    from facerestore.gpu import BoundModel, cuda_memory, tile_for_memory
    from facerestore.session import open_model

    cost = conv_cost(path)
    plain = open_model(str(path), device=device)
    bound = BoundModel.wrap(plain)
    half = BoundModel.wrap(open_model(str(fp16_path), device=device))
    rows = []
    for size in sizes:
        x = face_batch(size, plain.channels)
        row: dict = {"size": size, "gflop": cost.flops(size, size) / 1e9}
        try:
            for label, runner in (("plain", plain), ("iobinding", bound), ("fp16_iobinding", half)):
                s = sample(lambda: runner.run(x), repeats, warmup=2)
                row[label] = {"gflops": cost.flops(size, size) / s.median / 1e9, **s.as_dict()}
        except Exception as exc:  # noqa: BLE001 - out of device memory at the largest sizes is a result too
            row["error"] = str(exc).splitlines()[0][:200]
        rows.append(row)
    x8 = face_batch(512, plain.channels, batch=8)
    batch = {}
    for label, runner in (("fp32", bound), ("fp16", half)):
        s = sample(lambda: runner.run(x8), repeats, warmup=2)
        batch[label] = {"images_per_s": 8 / s.median, "gflops": cost.flops(512, 512, 8) / s.median / 1e9,
                        **s.as_dict()}
    pairs = _val_pairs(plain.channels)
    accuracy = None
    if pairs:
        p32, p16 = _mean_psnr(bound.run, pairs), _mean_psnr(half.run, pairs)
        accuracy = {"psnr_fp32": p32, "psnr_fp16": p16, "delta_db": p32 - p16, "pairs": len(pairs),
                    "within_budget": p32 - p16 <= 0.1}
    memory = cuda_memory() if device == "cuda" else None
    tile = tile_for_memory(memory[0], plain.receptive_radius) if memory else None
    return {"provider": plain.provider, "rows": rows, "batch8_512": batch, "fp16_accuracy": accuracy,
            "free_memory": memory, "tile_for_free_memory": tile}


def render(results: dict) -> str:
    lines = [f"Measured {results['finished']} on {results['gpu']} ({results['provider']}).", "",
             "| model | px | plain s | IO-bound s | fp16 IO-bound s | fp32 TFLOP/s | fp16 TFLOP/s |",
             "|---|---|---|---|---|---|---|"]
    for name, m in results["models"].items():
        for r in m["rows"]:
            if "error" in r:
                lines.append(f"| {name} | {r['size']} | {r['error']} ||||||")
                continue
            lines.append(f"| {name} | {r['size']} | {r['plain']['median_s']:.4f} | {r['iobinding']['median_s']:.4f} | "
                         f"{r['fp16_iobinding']['median_s']:.4f} | {r['iobinding']['gflops'] / 1e3:.1f} | "
                         f"{r['fp16_iobinding']['gflops'] / 1e3:.1f} |")
    lines += ["", "| model | batch 8 x 512 px fp32 img/s | fp16 img/s | fp16 Δ PSNR dB (val faces) "
                  "| tile for free memory |",
              "|---|---|---|---|---|"]
    for name, m in results["models"].items():
        acc = m["fp16_accuracy"]
        delta = f"{acc['delta_db']:+.3f}" if acc else "–"
        lines.append(f"| {name} | {m['batch8_512']['fp32']['images_per_s']:.1f} | "
                     f"{m['batch8_512']['fp16']['images_per_s']:.1f} | "
                     f"{delta} | {m['tile_for_free_memory']} |")
    return "\n".join(lines) + "\n"


def run_cuda(args, device: str = "cuda") -> int:
    from export.quantize import to_fp16

    names = tuple(n for n in args.models.split(",") if n)
    sizes = tuple(int(s) for s in args.sizes.split(",")) if args.sizes else ((64, 128) if args.quick else SIZES)
    started = time.perf_counter()
    results: dict = {"device": device, "gpu": _gpu_name(), "models": {}}
    with tempfile.TemporaryDirectory(prefix="facerestore-bench-cuda-") as scratch:
        for m in models_under_test(names, Path(scratch)):
            half = to_fp16(m.path, Path(scratch) / f"{m.name}.fp16.onnx")
            results["models"][m.name] = {"stand_in": m.stand_in,
                                         **measure(m.path, half, sizes, 3 if args.quick else 10, device)}
    results["provider"] = next(iter(results["models"].values()))["provider"] if results["models"] else None
    results["elapsed_s"] = time.perf_counter() - started
    results["finished"] = time.strftime("%Y-%m-%d %H:%M")
    out = args.out if args.out.name != "cpu.json" else args.out.with_name("cuda.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1, default=str) + "\n", encoding="utf-8")
    if args.readme:
        tables.update_readme(Path(args.readme), render(results), marker="cuda")
    print(out)
    return 0
