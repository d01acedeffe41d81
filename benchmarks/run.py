"""One command for every speed figure: ``python -m benchmarks.run --out benchmarks/results/cpu.json``.

Writes the JSON and regenerates the results block of benchmarks/README.md. The full CPU run is sized to
finish in about 5 to 8 minutes on a 2-core AVX2 machine (BigCNN at 2048 px alone is ~2.2 TFLOP, ~15 s a run);
``--quick`` uses small sizes and few repeats to check the harness itself (its numbers mean nothing).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

from . import tables
from .endtoend import measure_enhance
from .flops import conv_cost
from .machine import describe, fp32_peak
from .models import SHIPPED, SHIPPED_DIR, models_under_test
from .modelonly import measure_model

HERE = Path(__file__).resolve().parent
FULL_SIZES = (256, 512, 1024, 2048)
QUICK_SIZES = (64, 128)


def _log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _e2e_count(model_only_1024_s: float | None, quick: bool) -> int:
    """About 20 s of steady-state work per model, at least 4 images so the 1-image run is a small share."""
    if quick or not model_only_1024_s:
        return 3
    return int(min(16, max(4, round(20 / model_only_1024_s))))


def _targets(results: dict) -> list[dict]:
    out = []
    big = next((m for m in results["models"] if m["name"] == "big"), None)
    if big:
        for size in (512, 1024):
            row = next((r for r in big["model_only"] if r["size"] == size), None)
            frac = row["ort"]["fraction_of_peak"] if row else None
            out.append({"target": f"BigCNN ORT >= 80 % of fp32 peak at {size} px",
                        "value": "–" if frac is None else f"{100 * frac:.0f} %",
                        "met": None if frac is None else frac >= 0.8})
    cells = [(m["name"], r) for m in results["models"] for r in m["model_only"] if "torch" in r]
    if cells:
        slower = [f"{n} {r['size']}" for n, r in cells if r["ort_speedup_vs_torch"] < 1.0]
        worst = min(r["ort_speedup_vs_torch"] for _, r in cells)
        out.append({"target": "ORT never slower than torch eager",
                    "value": f"worst ORT÷torch speed {worst:.2f}×" + (f" ({', '.join(slower)})" if slower else ""),
                    "met": not slower})
    for m in results["models"]:
        e = m.get("end_to_end")
        if e and e.get("ratio_to_model_only"):
            out.append({"target": f"{m['name']}: end-to-end within 15 % of model-only at {e['side']} px",
                        "value": f"{e['ratio_to_model_only']:.2f}×", "met": e["ratio_to_model_only"] <= 1.15})
    for m in results["models"]:
        q = m.get("int8")
        if q and q.get("accuracy"):
            out.append({"target": f"{m['name']}: int8 within 0.1 dB of fp32 on validation faces",
                        "value": f"{q['accuracy']['delta_db']:+.3f} dB", "met": q["accuracy"]["delta_db"] <= 0.1})
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    p.add_argument("--out", type=Path, default=HERE / "results" / "cpu.json")
    p.add_argument("--readme", default=str(HERE / "README.md"),
                   help="README whose results block is regenerated ('' to skip)")
    p.add_argument("--quick", action="store_true", help="small sizes, 2 repeats: harness check only")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--models", default=",".join(SHIPPED))
    p.add_argument("--sizes", default=None, help="comma-separated square sizes (default 256,512,1024,2048)")
    p.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    p.add_argument("--no-torch", action="store_true")
    p.add_argument("--no-e2e", action="store_true")
    p.add_argument("--no-tuning", action="store_true")
    p.add_argument("--e2e-side", type=int, default=None, help="JPEG side for end-to-end (default 1024)")
    args = p.parse_args(argv)

    if args.device == "cuda":
        from .cuda import run_cuda

        return run_cuda(args)

    started = time.perf_counter()
    quick = args.quick
    sizes = tuple(int(s) for s in args.sizes.split(",")) if args.sizes else (QUICK_SIZES if quick else FULL_SIZES)
    e2e_side = args.e2e_side or (128 if quick else 1024)
    names = tuple(n for n in args.models.split(",") if n)
    results: dict = {"command": "python -m benchmarks.run " + shlex.join(argv if argv is not None else sys.argv[1:]),
                     "quick": quick, "sizes": sizes}
    results["machine"] = describe(args.threads)
    _log(f"machine: {results['machine']['cpu_model']}, load {results['machine']['load_average']}")

    with tempfile.TemporaryDirectory(prefix="facerestore-bench-models-") as scratch:
        models = models_under_test(names, Path(scratch))
        _log("fp32 peak (matrix product)")
        results["peak"] = fp32_peak(1024 if quick else 4096, 3 if quick else 5, args.threads)
        peak = results["peak"]["peak_gflops"]
        _log(f"peak {peak:.1f} GFLOP/s")
        results["models"] = []
        for m in models:
            cost = conv_cost(m.path)
            entry: dict = {"name": m.name, "file": str(m.path), "stand_in": m.stand_in,
                           "macs_per_pixel": cost.macs_per_pixel, "widths": cost.widths}
            _log(f"{m.name}: model only at {sizes}")
            entry["model_only"] = measure_model(m.path, sizes, args.threads, peak, quick, not args.no_torch)
            results["models"].append(entry)

        if not args.no_tuning and any(m.name == "big" for m in models):
            from .tuning import batched_equals_single, tune

            big = next(m for m in models if m.name == "big")
            _log("ORT settings, one factor at a time")
            results["tuning"] = tune(big.path, 128 if quick else 512, 64 if quick else 256, 4, args.threads, quick)
            results["tuning"]["batched_vs_single_max_abs_diff"] = batched_equals_single(big.path)

        for m, entry in zip(models, results["models"]):
            int8_file = SHIPPED_DIR / f"{m.name}.int8.onnx"
            if int8_file.is_file() and not m.stand_in:
                from .int8 import compare

                _log(f"{m.name}: int8 vs fp32")
                entry["int8"] = compare(m.path, int8_file, (128,) if quick else (512, 1024), args.threads,
                                        2 if quick else 3)

        if not args.no_e2e:
            for m, entry in zip(models, results["models"]):
                ref = next((r for r in entry["model_only"] if r["size"] == e2e_side), None)
                ref_s = ref["ort"]["median_s"] if ref else None
                count = _e2e_count(ref_s, quick)
                _log(f"{m.name}: facerestore enhance on {count} JPEGs of {e2e_side} px")
                e = measure_enhance(m.path, count, e2e_side, args.threads)
                if ref_s:
                    e["model_only_s"] = ref_s
                    e["ratio_to_model_only"] = e["steady_s_per_image"] / ref_s
                entry["end_to_end"] = e
                if m.name == "big":  # what the per-image report costs, for the default model only (time bound)
                    _log("big: the same without the report")
                    bare = measure_enhance(m.path, count, e2e_side, args.threads, ("--no-report",))
                    if ref_s:
                        bare["model_only_s"] = ref_s
                        bare["ratio_to_model_only"] = bare["steady_s_per_image"] / ref_s
                    entry["end_to_end_no_report"] = bare

    results["targets"] = _targets(results)
    results["elapsed_s"] = time.perf_counter() - started
    results["finished"] = time.strftime("%Y-%m-%d %H:%M")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1, default=str) + "\n", encoding="utf-8")
    _log(f"wrote {args.out} in {results['elapsed_s']:.0f} s")
    if args.readme:
        tables.update_readme(Path(args.readme), tables.render(results))
        _log(f"updated {args.readme}")
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
