"""Place banding and scaling on the damage-level scale of ``facerestore/damage/levels.py``, from the training faces.

    python -m export.calibrate_levels [--faces ../shared/data/faces] [--write]

A JPEG's level follows from its quality, or from the higher quality whose damage it did to the photo's content:
``COST_KNOTS`` are the training faces' mean luma PSNR at each quality when their JPEG is compressed again on a grid
moved by half a block (``facerestore.damage.jpeg_cost``; a soft photo loses less at its quality). Posterization,
pixelation, down-and-up scaling and lossy WebP are given the level of the JPEG quality that costs the training faces
(at most 256 px, the evaluation size) the same mean PSNR (a WebP by the luma quantiser index its header states,
``facerestore.damage.webp_header``):
told that level, a damage-conditioned model restores them about as much as they need, where a level read off
their own parameters told it far too much for banding and too little for pixelation. Only the training split of
``export.data.split_faces`` is used. Prints the knots; ``--write`` puts them into levels.py between its markers.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np
from PIL import Image

from export.calibrate_damage import constant_rows, write_constants
from facerestore.degrade import parse_chain
from facerestore.damage import levels
from facerestore.damage.jpeg_cost import recompression_psnr
from facerestore.damage.jpeg_pixels import luma255
from facerestore.damage.jpeg_tables import LUMA_BASE, ijg_table
from facerestore.damage.webp_header import read_webp_info
from facerestore.metrics import psnr

ROOT = Path(__file__).resolve().parent.parent
MODULE = ROOT / "facerestore" / "damage" / "levels.py"
BEGIN = "# --- calibrated by export/calibrate_levels.py"
END = "# --- end of calibrated levels ---"
JPEG_QUALITIES = (5, 7, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90, 95, 97, 99)
# (op, its clean parameter, the parameters measured), each list in increasing order of the parameter.
KNOTS = (
    ("BANDING_KNOTS", "posterize", 256, (4, 6, 8, 12, 16, 20, 24, 32, 48, 64, 96, 128)),
    ("PIXELATION_KNOTS", "pixelate", 1, (1.25, 1.5, 2, 2.5, 3, 4, 6)),
    ("RESAMPLE_KNOTS", "resample", 1, (1.3, 1.5, 2, 2.5, 3, 4, 6)),
)


def mean_psnr(faces: list[np.ndarray], spec: str) -> float:
    chain, rng = parse_chain(spec), np.random.default_rng(0)
    return float(np.mean([min(psnr(chain.apply(face, rng), face, 255.0), 60.0) for face in faces]))


def cost_psnr(faces: list[np.ndarray], quality: int) -> float:
    """Mean re-compression luma PSNR (jpeg_cost) of the faces saved as JPEG at ``quality``, at its IJG luma table."""
    chain, rng = parse_chain(f"jpeg:{quality}"), np.random.default_rng(0)
    table = ijg_table(LUMA_BASE, quality)
    scores = []
    for face in faces:
        decoded = chain.apply(face, rng).astype(np.float32) / np.float32(255.0)
        scores.append(recompression_psnr(luma255(decoded), table, (0, 0)))
    return float(np.mean(scores))


def webp_points(faces: list[np.ndarray]) -> list[tuple[float, float]]:
    """(mean luma quantiser index, mean PSNR) of the faces saved as lossy WebP at each of levels.WEBP_QUALITIES."""
    points = []
    for quality in levels.WEBP_QUALITIES:
        indices, scores = [], []
        for face in faces:
            buf = io.BytesIO()
            Image.fromarray(face).save(buf, format="WEBP", quality=quality)
            info = read_webp_info(buf)
            buf.seek(0)
            with Image.open(buf) as im:
                scores.append(min(psnr(np.asarray(im.convert("RGB")), face, 255.0), 60.0))
            indices.append(info.luma_index if info is not None else 0.0)
        points.append((float(np.mean(indices)), float(np.mean(scores))))
    return points


def calibrate(faces: list[np.ndarray]) -> str:
    # PSNR rises with JPEG quality and the level falls: the level of any PSNR is read off this curve.
    jpeg_psnr = [mean_psnr(faces, f"jpeg:{q}") for q in JPEG_QUALITIES]
    jpeg_levels = [levels.jpeg_level(q) for q in JPEG_QUALITIES]
    order = np.argsort(jpeg_psnr)
    lines = [f"{BEGIN} on the training faces; do not edit by hand ---"]
    for name, op, clean, params in KNOTS:
        found = [float(np.interp(mean_psnr(faces, f"{op}:{p}"), np.take(jpeg_psnr, order),
                                 np.take(jpeg_levels, order))) for p in params]
        # More damage never lowers the level: banding's parameter falls as damage grows, scaling's rises.
        if op == "posterize":
            found = list(np.maximum.accumulate(found[::-1])[::-1])
        else:
            found = list(np.maximum.accumulate(found))
        knots = sorted([(float(clean), 0.0)] + list(zip(map(float, params), found)))
        lines += [f"{name} = (", constant_rows([f"({p:g}, {lv:.3f})" for p, lv in knots]), ")"]
    # The index rises with damage; index 0 is the lossless end of the scale.
    webp = [(index, float(np.interp(score, np.take(jpeg_psnr, order), np.take(jpeg_levels, order))))
            for index, score in webp_points(faces)]
    found = np.maximum.accumulate([lv for _, lv in webp])
    # One knot per quality of levels.WEBP_QUALITIES, in its order (webp_quality_level pairs them): quality 100's is
    # index 0, level 0.
    knots = [(round(index, 1), lv) if index > 0 else (0.0, 0.0) for (index, _), lv in zip(webp, found)]
    lines += ["WEBP_KNOTS = (", constant_rows([f"({p:g}, {lv:.3f})" for p, lv in knots]), ")"]
    # Higher quality never costs more: the means rise with quality by a wide margin, the accumulation only guards it.
    costs = np.maximum.accumulate([cost_psnr(faces, q) for q in JPEG_QUALITIES])
    lines += ["COST_KNOTS = (", constant_rows([f"({q}, {c:.2f})" for q, c in zip(JPEG_QUALITIES, costs)]), ")"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    from export.data import EVAL_SIDE, load_rgb, split_faces

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=Path, default=ROOT.parent / "shared" / "data" / "faces")
    parser.add_argument("--write", action="store_true", help="write the knots into levels.py")
    args = parser.parse_args(argv)
    faces = [load_rgb(path, EVAL_SIDE) for path in split_faces(args.faces).train]
    block = calibrate(faces)
    print(block)
    if args.write:
        write_constants(block, MODULE, BEGIN, END)
        print(f"written into {MODULE}")


if __name__ == "__main__":
    main()
