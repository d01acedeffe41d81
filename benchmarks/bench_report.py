"""What the report adds to the per-image time: ``python -m benchmarks.bench_report``.

On a 1024x1024 photo (the astronaut portrait upscaled, posterized to 16 levels, JPEG-saved), times the per-image
path of ``enhance`` (decode, BigCNN inference, encode) and the report work on the arrays already in memory
(statistics, histogram chart, comparison strip, slider previews, thumbnail), with and without a reference
(PSNR, SSIM and histogram distance on top). The shipped ``big.onnx`` is used when present, else a stand-in
with the same architecture (same FLOPs: timings hold, pixels do not). Target: report <= 10 % of the image time.

Prints a table and writes ``benchmarks/results/report.json``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from PIL import Image

HERE = Path(__file__).resolve().parent
SIZE = 1024
TARGET = 0.10


def _make_inputs(folder: Path) -> tuple[Path, Path]:
    """A degraded 1024 px JPEG input and its original (PNG)."""
    from benchmarks.photo import astronaut
    from facerestore import degrade

    original = astronaut(SIZE)
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(original).save(folder / "original.png")
    Image.fromarray(degrade.posterize(original, 16)).save(folder / "input.jpg", quality=90)
    return folder / "input.jpg", folder / "original.png"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs of inference per measure (report: 2x)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "report.json")
    args = parser.parse_args(argv)

    from benchmarks.measure import sample
    from benchmarks.models import models_under_test
    from facerestore.discovery import Job
    from facerestore.imageio import read_image, write_image
    from facerestore.report.image import write_image_report
    from facerestore.restore import restore_pixels
    from facerestore.session import open_model

    scratch = Path(tempfile.mkdtemp(prefix="bench_report_"))
    model_info = models_under_test(("big",), scratch / "models")[0]
    model = open_model(str(model_info.path), device="cpu", threads=args.threads)
    src, ref_path = _make_inputs(scratch / "in")
    out = scratch / "out"
    job = Job(src=src, rel=Path("input.jpg"), dst=out / "input.jpg")
    report_dir = out / "_facerestore_report"

    loaded = read_image(src)
    reference = read_image(ref_path)
    restored = restore_pixels(model, loaded.pixels)  # warm-up (first run allocates)
    write_image_report(job, loaded, restored, reference, report_dir)  # warm-up: font cache, imports

    def median(fn) -> float:
        return sample(fn, args.repeats * 2, warmup=0).median

    t_decode = median(lambda: read_image(src))
    infer = sample(lambda: restore_pixels(model, loaded.pixels), args.repeats, warmup=0)
    t_infer, infer_samples = infer.median, list(infer.seconds)
    t_encode = median(lambda: write_image(job.dst, restored, loaded))
    t_report = median(lambda: write_image_report(job, loaded, restored, None, report_dir))
    t_report_ref = median(lambda: write_image_report(job, loaded, restored, reference, report_dir))
    t_reference_decode = median(lambda: read_image(ref_path))

    per_image = t_decode + t_infer + t_encode
    result = {
        "image": f"{SIZE}x{SIZE} RGB JPEG (astronaut, posterized to 16 levels)",
        "model": model_info.name, "model_stand_in": model_info.stand_in, "provider": model.provider,
        "threads": args.threads, "repeats": args.repeats,
        "seconds": {"decode": t_decode, "inference": t_infer, "encode": t_encode, "per_image": per_image,
                    "report": t_report, "report_with_reference": t_report_ref,
                    "reference_decode": t_reference_decode, "inference_samples": infer_samples},
        "overhead": {"report": t_report / per_image,
                     "report_with_reference": (t_report_ref + t_reference_decode) / per_image},
        "target": TARGET,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")

    s, o = result["seconds"], result["overhead"]
    stand_in = " (same-shape stand-in)" if model_info.stand_in else ""
    print(f"per-image time, {result['image']}, BigCNN{stand_in} on {model.provider}:")
    print(f"  decode {s['decode']:.3f} s + inference {s['inference']:.3f} s + encode {s['encode']:.3f} s"
          f" = {per_image:.3f} s")
    print(f"  report (stats, chart, comparison, previews):       {s['report']:.3f} s  = "
          f"{o['report'] * 100:.1f} % of the image time")
    print(f"  report with reference (+ decode, PSNR, SSIM, W1):  {s['report_with_reference'] + s['reference_decode']:.3f} s"
          f"  = {o['report_with_reference'] * 100:.1f} %   (target <= {TARGET * 100:.0f} %)")
    print(f"written: {args.out}")
    return result


if __name__ == "__main__":
    main()
