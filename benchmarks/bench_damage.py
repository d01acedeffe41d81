"""What reading a file's damage costs per image: ``python -m benchmarks.bench_damage``.

On 1024x1024 photos (the astronaut portrait upscaled) as a JPEG file, as a PNG that was once a JPEG (the pixel
path: lattice and blocking searched at two grids) and as a PNG that never was one (where the lattice fits nothing,
a copy's steps are looked for too), times ``facerestore.damage.analysis.analyze`` on the decoded image against the
per-image time of the default model's path (decode, inference, encode). The shipped
model is used when present, else a stand-in with the same architecture (same FLOPs). Target: analysis at most
5 % of the image time, and about 40 ms. Also timed: the JPEG file's quantisation constraint
(``facerestore.jpeg_constraint``: its intervals read, a restoration clipped into them), against the default
model's image time and against ``darn``'s, the fastest shipped colour model, and the level constraint of a PNG
banded to 24 levels (``facerestore.level_constraint``: its grid found, a restoration clipped into the bins), the
once-JPEG PNG's (``facerestore.jpeg_copy``: its steps and chroma grid read, a restoration clipped), and the
pixelation constraint of a PNG pixelated by 2 (``facerestore.pixelation_constraint``: its blocks found, a
restoration projected onto their means), and of the same PNG captioned after the zoom (the strict reading fails, the
tolerant one finds the blocks and the caption's letters).

Prints a table and writes ``benchmarks/results/damage.json``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
SIZE = 1024
TARGET = 0.05


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs of inference (analysis: 10x)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "damage.json")
    args = parser.parse_args(argv)

    from benchmarks.measure import sample
    from benchmarks.models import models_under_test
    from benchmarks.photo import astronaut
    from facerestore import degrade
    from facerestore.damage.analysis import analyze
    from facerestore.imageio import read_image, write_image
    from facerestore.jpeg_constraint import JpegConstraint
    from facerestore.jpeg_copy import JpegCopyConstraint
    from facerestore.level_constraint import LevelConstraint
    from facerestore.pixelation_constraint import PixelationConstraint
    from facerestore.registry import DEFAULT_MODEL
    from facerestore.restore import restore_pixels
    from facerestore.session import open_model

    scratch = Path(tempfile.mkdtemp(prefix="bench_damage_"))
    model_info, darn_info = models_under_test((DEFAULT_MODEL, "darn"), scratch / "models")
    model = open_model(str(model_info.path), device="cpu", threads=args.threads)
    darn = open_model(str(darn_info.path), device="cpu", threads=args.threads)
    original = astronaut(SIZE)
    jpeg_path, png_path = scratch / "input.jpg", scratch / "was_jpeg.png"
    Image.fromarray(original).save(jpeg_path, quality=30)
    Image.fromarray(degrade.jpeg(original, 30)[3:, 5:]).save(png_path)  # cropped: the grid is searched
    clean_path = scratch / "clean.png"
    Image.fromarray(original).save(clean_path)
    banded_path = scratch / "banded.png"
    Image.fromarray(degrade.posterize(original, 24)).save(banded_path)
    blocky_path = scratch / "pixelated.png"
    Image.fromarray(degrade.pixelate(original, 2)).save(blocky_path)
    captioned_path = scratch / "captioned.png"
    with Image.open(blocky_path) as im:
        captioned = im.convert("RGB")
    draw = ImageDraw.Draw(captioned)
    draw.rectangle((0, SIZE * 7 // 8, SIZE - 1, SIZE - 1), fill=(250, 250, 250))
    for x in range(4, SIZE - 90, 100):  # a line of text across the strip breaks most identical columns
        draw.text((x, SIZE * 7 // 8 + 4 + x % 5), "(c) 2009 family", fill=(20, 20, 20))
    captioned.save(captioned_path)

    loaded = read_image(jpeg_path)
    png = read_image(png_path)
    restored = restore_pixels(model, loaded.pixels)  # warm-up
    analyze(loaded)
    t_decode = sample(lambda: read_image(jpeg_path), args.repeats * 2, warmup=0).median
    t_infer = sample(lambda: restore_pixels(model, loaded.pixels), args.repeats, warmup=0).median
    t_encode = sample(lambda: write_image(scratch / "out.jpg", restored, loaded), args.repeats * 2, warmup=0).median
    t_jpeg = sample(lambda: analyze(loaded), args.repeats * 10, warmup=0).median
    t_png = sample(lambda: analyze(png), args.repeats * 10, warmup=0).median
    clean = read_image(clean_path)
    t_clean = sample(lambda: analyze(clean), args.repeats * 10, warmup=0).median
    damage = analyze(loaded)
    t_constraint = sample(lambda: JpegConstraint.of(loaded, damage).enforce(restored), args.repeats * 10,
                          warmup=1).median
    png_damage = analyze(png)
    t_copy = sample(lambda: JpegCopyConstraint.of(png, png_damage).enforce(restored[3:, 5:]), args.repeats * 10,
                    warmup=1).median
    banded = read_image(banded_path)
    banded_damage = analyze(banded)
    t_levels = sample(lambda: LevelConstraint.of(banded, banded_damage).enforce(restored), args.repeats * 10,
                      warmup=1).median
    blocky = read_image(blocky_path)
    blocky_damage = analyze(blocky)
    t_blocks = sample(lambda: PixelationConstraint.of(blocky, blocky_damage).enforce(restored), args.repeats * 10,
                      warmup=1).median
    captioned = read_image(captioned_path)
    captioned_damage = analyze(captioned)
    assert PixelationConstraint.of(captioned, captioned_damage)._marks is not None, "the caption was not read"
    t_marked = sample(lambda: PixelationConstraint.of(captioned, captioned_damage).enforce(restored),
                      args.repeats * 10, warmup=1).median
    restore_pixels(darn, loaded.pixels)  # warm-up
    t_darn = sample(lambda: restore_pixels(darn, loaded.pixels), args.repeats, warmup=0).median

    per_image = t_decode + t_infer + t_encode
    per_image_darn = t_decode + t_darn + t_encode
    result = {
        "image": f"{SIZE}x{SIZE} RGB (astronaut), JPEG quality 30 file, once-JPEG PNG and never-JPEG PNG",
        "model": model_info.name, "model_stand_in": model_info.stand_in, "provider": model.provider,
        "threads": args.threads, "repeats": args.repeats,
        "seconds": {"decode": t_decode, "inference": t_infer, "encode": t_encode, "per_image": per_image,
                    "analyze_jpeg": t_jpeg, "analyze_png": t_png, "analyze_clean_png": t_clean,
                    "jpeg_constraint": t_constraint, "copy_constraint": t_copy, "level_constraint": t_levels,
                    "pixelation_constraint": t_blocks, "pixelation_constraint_captioned": t_marked,
                    "inference_darn": t_darn, "per_image_darn": per_image_darn},
        "overhead": {"analyze_jpeg": t_jpeg / per_image, "analyze_png": t_png / per_image,
                     "analyze_clean_png": t_clean / per_image,
                     "jpeg_constraint": t_constraint / per_image, "copy_constraint": t_copy / per_image,
                     "jpeg_constraint_darn": t_constraint / per_image_darn,
                     "level_constraint_darn": t_levels / per_image_darn,
                     "pixelation_constraint_darn": t_blocks / per_image_darn,
                     "pixelation_constraint_captioned_darn": t_marked / per_image_darn},
        "target": TARGET,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")

    s, o = result["seconds"], result["overhead"]
    stand_in = " (same-shape stand-in)" if model_info.stand_in else ""
    print(f"per-image time, {SIZE} px, {model_info.name}{stand_in} on {model.provider}: decode {s['decode']:.3f} s"
          f" + inference {s['inference']:.3f} s + encode {s['encode']:.3f} s = {per_image:.3f} s")
    print(f"  analyze, JPEG file:        {s['analyze_jpeg'] * 1000:6.1f} ms = {o['analyze_jpeg'] * 100:.2f} %")
    print(f"  analyze, once-JPEG PNG:    {s['analyze_png'] * 1000:6.1f} ms = {o['analyze_png'] * 100:.2f} %"
          f"   (target <= {TARGET * 100:.0f} %)")
    print(f"  analyze, never-JPEG PNG:   {s['analyze_clean_png'] * 1000:6.1f} ms = {o['analyze_clean_png'] * 100:.2f} %")
    print(f"  JPEG copy's constraint (read + clip): {s['copy_constraint'] * 1000:6.1f} ms"
          f" = {o['copy_constraint'] * 100:.2f} %")
    print(f"  JPEG constraint (read + clip): {s['jpeg_constraint'] * 1000:6.1f} ms = {o['jpeg_constraint'] * 100:.2f} %"
          f" ({o['jpeg_constraint_darn'] * 100:.2f} % of darn's {per_image_darn:.3f} s)")
    print(f"  level constraint, 24 levels (read + clip): {s['level_constraint'] * 1000:6.1f} ms"
          f" = {o['level_constraint_darn'] * 100:.2f} % of darn's {per_image_darn:.3f} s")
    print(f"  pixelation constraint, 2 px blocks (read + project): {s['pixelation_constraint'] * 1000:6.1f} ms"
          f" = {o['pixelation_constraint_darn'] * 100:.2f} % of darn's {per_image_darn:.3f} s")
    print(f"  pixelation constraint, 2 px blocks captioned (tolerant reading): "
          f"{s['pixelation_constraint_captioned'] * 1000:6.1f} ms"
          f" = {o['pixelation_constraint_captioned_darn'] * 100:.2f} % of darn's {per_image_darn:.3f} s")
    print(f"written: {args.out}")
    return result


if __name__ == "__main__":
    main()
