"""``python -m export.pack FACES [--extra DIR ...] -o OUT``: the training data, compact, for a remote GPU machine.

A remote GPU machine may accept only a few tens of MB per transfer. This writes the training and validation crops
as lossless WebP (the same pixels, about half the size of PNG; with a ``manifest.csv``, else as they are) and
every other crop (the test faces and unused
crops of evaluation photos) as a 1-px stand-in: the file names, and so the split, stay exactly the same, while
the test faces never leave this machine. Extra folders (natural photos) are copied as they are.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import sys
from pathlib import Path

from PIL import Image

from .data import EVAL_COUNT, DataError, list_images, split_faces


def pack(faces: Path, out: Path, extra: list[Path] = (), n_val: int = EVAL_COUNT) -> Path:
    """Write ``out/faces`` (crops + manifest.csv) and ``out/<name>`` per extra folder; return ``out``.

    ``n_val`` must be the ``--max-val`` the training will use: it decides which crops are training crops."""
    split = split_faces(faces, n_val=n_val)
    used = {p.name for p in split.train + split.val}
    crops_in = faces / "crops" if (faces / "crops").is_dir() else faces
    dst = out / "faces"
    shutil.rmtree(dst, ignore_errors=True)
    crops_out = dst / "crops" if crops_in != faces else dst
    crops_out.mkdir(parents=True)
    manifest = faces / "manifest.csv"
    # With a manifest the split groups crops by their source photo, so names may change suffix; without one a
    # crop's own name is its group, so names (and formats) stay as they are.
    webp = manifest.is_file()
    for path in list_images(crops_in):
        target = crops_out / (f"{path.stem}.webp" if webp else path.name)
        if path.name not in used:
            Image.new("RGB", (1, 1)).save(target)
        elif webp:
            with Image.open(path) as im:
                im.convert("RGB").save(target, lossless=True, quality=100, method=4)
        else:
            shutil.copyfile(path, target)
    if webp:
        with manifest.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
        for row in rows:
            row["crop"] = f"{Path(row['crop']).stem}.webp"
        with (dst / "manifest.csv").open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    for folder in extra:
        shutil.rmtree(out / folder.name, ignore_errors=True)
        shutil.copytree(folder, out / folder.name)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m export.pack", description=__doc__.splitlines()[0])
    parser.add_argument("faces", type=Path)
    parser.add_argument("--extra", type=Path, action="append", default=[])
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--max-val", type=int, default=EVAL_COUNT, help="as the training's --max-val")
    args = parser.parse_args(argv)
    try:
        print(pack(args.faces, args.output, args.extra, n_val=args.max_val))
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
