"""Calibrate the pixel-based JPEG estimates of ``facerestore/damage/jpeg_pixels.py`` on the training faces.

    python -m export.calibrate_damage [--faces ../shared/data/faces] [--write] [--validate [--on test]]

The faces are the crops in ``shared/data/faces`` (face photos from public repositories, each source listed in
its ``manifest.csv``); only the training split of ``export.data.split_faces`` is used to calibrate, so the
validation and test faces stay unseen. Each face is JPEG-compressed (Pillow, 4:2:0) at a range of qualities and
measured on its 8 px grid:

- ``BLOCKINESS_BY_QUALITY`` / ``EVIDENCE_BY_QUALITY``: the median blockiness and lattice evidence per quality;
- ``BLOCKINESS_CLEAN_MAX``: just above the strongest blocking of the good training faces as they are (sources
  that were not JPEG, were resized, or were JPEG at quality 85 or more): blocking weaker than a good photo's
  never counts as damage;
- ``EVIDENCE_MIN``: just above the best lattice evidence of the training faces resized from their source (no 8 px
  grid survives a resize), so a lattice is never seen where there is none.

Prints the constants block; ``--write`` puts it into jpeg_pixels.py between its markers. ``--validate`` then
measures the estimator on the validation faces (never used above): the pixel-estimated quality of each face
compressed at 5-95 and saved losslessly, uncropped and cropped by a few pixels, and what clean faces give.
"""

from __future__ import annotations

import argparse
import csv
import re
from dataclasses import replace
from pathlib import Path

import numpy as np

from facerestore import degrade
from facerestore.atomic import write_atomic
from facerestore.damage import jpeg_pixels
from facerestore.imageio import read_image

ROOT = Path(__file__).resolve().parent.parent
MODULE = ROOT / "facerestore" / "damage" / "jpeg_pixels.py"
QUALITIES = (5, 10, 15, 20, 25, 30, 40, 50, 60, 70, 80, 85, 90, 95)
VALIDATE_QUALITIES = (5, 10, 20, 30, 40, 50, 75, 90, 95)
BEGIN = "# --- calibrated by export/calibrate_damage.py"
END = "# --- end of calibrated constants ---"


def _rgb8(path: Path) -> np.ndarray:
    pixels = read_image(path).pixels
    if pixels.shape[2] == 1:
        pixels = np.repeat(pixels, 3, axis=2)
    return np.clip(np.rint(pixels * 255.0), 0, 255).astype(np.uint8)


def _is_resized(row: dict[str, str] | None) -> bool:
    """No JPEG grid can be left in the crop: it was resized from its source."""
    return row is not None and row.get("native_side") != row.get("out_side")


def _is_good(row: dict[str, str] | None) -> bool:
    """A photo an archive would call good: not a JPEG, resized, or a JPEG at quality 85 or more."""
    if row is None:
        return False
    q = row.get("jpeg_q", "")
    return row.get("src_format") != "JPEG" or _is_resized(row) or (q.isdigit() and int(q) >= 85)


def _manifest(faces: Path) -> dict[str, dict[str, str]]:
    path = faces / "manifest.csv"
    if not path.is_file():
        return {}
    with path.open(newline="") as fh:
        return {row["crop"]: row for row in csv.DictReader(fh)}


def _measure(rgb: np.ndarray, offset: tuple[int, int] = (0, 0)) -> tuple[jpeg_pixels.Blocking, np.ndarray | None]:
    y = jpeg_pixels.luma255(rgb.astype(np.float32) / 255.0)
    return jpeg_pixels.blocking(y), jpeg_pixels.lattice_evidence(y, offset)


def calibrate(train: list[Path], manifest: dict[str, dict[str, str]]) -> str:
    blockiness: dict[int, list[float]] = {q: [] for q in QUALITIES}
    evidence: dict[int, list[float]] = {q: [] for q in QUALITIES}
    clean_strength: list[float] = []
    clean_evidence: list[np.ndarray] = []
    for i, path in enumerate(train):
        rgb = _rgb8(path)
        row = manifest.get(path.name)
        block, _ = _measure(rgb)
        if _is_good(row):
            clean_strength.append(block.strength)
        if _is_resized(row):
            y = jpeg_pixels.luma255(rgb.astype(np.float32) / 255.0)
            for offset in dict.fromkeys([(0, 0), block.offset]):
                per_q = jpeg_pixels.lattice_evidence(y, offset)
                if per_q is not None:
                    clean_evidence.append(per_q)
        for q in QUALITIES:
            block, per_q = _measure(degrade.jpeg(rgb, q))
            blockiness[q].append(block.aligned)
            if per_q is not None:
                evidence[q].append(float(per_q[q - 1]))
        if (i + 1) % 20 == 0 or i + 1 == len(train):
            print(f"# {i + 1}/{len(train)} training faces measured", flush=True)
    print(f"# {len(clean_strength)} good training faces, {len(clean_evidence)} lattice-free grids")

    block_median = np.minimum.accumulate([float(np.median(blockiness[q])) for q in QUALITIES])
    evidence_median = [float(np.median(evidence[q])) for q in QUALITIES]
    clean_max = float(np.ceil(max(clean_strength) * 100) / 100) + 0.01
    # The floor must reject every clean face's best lattice that passes the share test.
    share = jpeg_pixels.EVIDENCE_SHARE * np.interp(np.arange(1, 101), QUALITIES, evidence_median)
    passing = [float(e[e >= share].max()) for e in clean_evidence if (e >= share).any()]
    evidence_min = max(0.3, float(np.ceil((max(passing) if passing else 0.0) * 100) / 100) + 0.05)
    pairs = constant_rows([f"({q}, {b:.3f})" for q, b in zip(QUALITIES, block_median)])
    epairs = constant_rows([f"({q}, {e:.3f})" for q, e in zip(QUALITIES, evidence_median)])
    return (f"{BEGIN} on the training faces (see its docstring); do not edit by hand ---\n"
            f"# (IJG quality, median blockiness on the (0, 0) grid of the training faces JPEG-compressed at it)\n"
            f"BLOCKINESS_BY_QUALITY = (\n{pairs}\n)\n"
            f"# Blockiness above this is JPEG blocking: above every good training face as it is.\n"
            f"BLOCKINESS_CLEAN_MAX = {clean_max:.2f}\n"
            f"# (IJG quality, median lattice evidence of the training faces JPEG-compressed at that quality)\n"
            f"EVIDENCE_BY_QUALITY = (\n{epairs}\n)\n"
            f"# No lattice is taken as JPEG's with less evidence than this: above every resized training face.\n"
            f"EVIDENCE_MIN = {evidence_min:.2f}\n")


def constant_rows(items: list[str], per_row: int = 7) -> str:
    """Tuple items laid out as the indented lines of a calibrated constant, ``per_row`` to a line."""
    return "\n".join("    " + ", ".join(items[i:i + per_row]) + "," for i in range(0, len(items), per_row))


def write_constants(block: str, module: Path = MODULE, begin: str = BEGIN, end: str = END) -> None:
    """Replace what lies between a module's calibration markers (``block`` starts with ``begin``)."""
    text = module.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(begin) + r".*?(?=" + re.escape(end) + ")", re.S)
    if not pattern.search(text):
        raise SystemExit(f"{module}: calibration markers not found")
    write_atomic(module, pattern.sub(lambda _: block, text))


def validate(val: list[Path], label: str = "validation") -> None:
    from facerestore.damage.analysis import analyze

    print(f"\n{label} faces: {len(val)}; pixel-estimated quality of JPEG-compressed faces saved losslessly")
    print(f"{'quality':>7} {'crop':>5} {'within ±10':>11} {'within ±1':>10} {'median':>7} {'none':>5}  "
          "blockiness only ±10")
    for q in VALIDATE_QUALITIES:
        for crop in (0, 3):
            estimates, by_block = [], []
            for path in val:
                loaded = read_image(path)
                rgb = degrade.jpeg(_rgb8(path), q)[crop:, crop:]
                damage = analyze(replace(loaded, pixels=rgb.astype(np.float32) / 255.0, jpeg=None))
                estimates.append(damage.jpeg_quality)
                by_block.append(jpeg_pixels.blockiness_quality(damage.blockiness))
            got = [e for e in estimates if e is not None]
            near = sum(1 for e in got if abs(e - q) <= 10)
            exact = sum(1 for e in got if abs(e - q) <= 1)
            near_block = sum(1 for e in by_block if e is not None and abs(e - q) <= 10)
            median = f"{np.median(got):.0f}" if got else "-"
            print(f"{q:>7} {crop:>5} {near:>5}/{len(val):<5} {exact:>4}/{len(val):<5} {median:>7} "
                  f"{len(val) - len(got):>5}  {near_block}/{len(val)}")
    flagged = []
    for path in val:
        damage = analyze(replace(read_image(path), jpeg=None))
        flagged.append(damage.jpeg_quality)
    found = [q for q in flagged if q is not None]
    print(f"clean {label} faces (PNG): {len(val) - len(found)}/{len(val)} without JPEG history; "
          f"estimates where found: {sorted(found)}")
    high = []
    for path in val:
        rgb = degrade.jpeg(_rgb8(path), 95)
        high.append(analyze(replace(read_image(path), pixels=rgb.astype(np.float32) / 255.0, jpeg=None)))
    print("the same at quality 95, saved as PNG: estimates "
          f"{sorted(str(d.jpeg_quality) for d in high)}")


def main(argv: list[str] | None = None) -> None:
    from export.data import split_faces

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=Path, default=ROOT.parent / "shared" / "data" / "faces")
    parser.add_argument("--write", action="store_true", help="write the constants into jpeg_pixels.py")
    parser.add_argument("--validate", action="store_true", help="then measure the estimates on held-out faces (see --on)")
    parser.add_argument("--skip-calibration", action="store_true", help="only --validate the current constants")
    parser.add_argument("--on", choices=("validation", "test"), default="validation",
                        help="the faces --validate measures (test: the figures the model card reports)")
    args = parser.parse_args(argv)
    split = split_faces(args.faces)
    if not args.skip_calibration:
        block = calibrate(list(split.train), _manifest(args.faces))
        print(block)
        if args.write:
            write_constants(block)
            print(f"written into {MODULE}")
    if args.validate:
        if args.write or args.skip_calibration:
            import importlib

            importlib.reload(jpeg_pixels)
            import facerestore.damage.analysis as analysis

            importlib.reload(analysis)
        validate(list(split.val if args.on == "validation" else split.test), args.on)


if __name__ == "__main__":
    main()
