"""The tolerant block reading in gray, judged by its second rule (runs/README.txt, "The tolerant reading in gray,
second rule"): gray files restored with the shipped curves under the strict reading ("old") and under the tolerant
one where the strict one finds no blocks ("new"), on faces no reading was judged on. --colour: the same files in
colour, the strict reading alone ("old") against the tolerant one ("new"). --ink: the tolerant reading with ink
blocks (runs/README.txt, "Ink blocks"), in colour against the reading without them ("old").
  PYTHONPATH=. python runs/pixelation-refit/gray_tolerant.py {train5,train1,train4,val,test} OUT.json [--colour] [--ink]"""
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

import facerestore
import facerestore.pixelation_constraint as pc
from export.archive import to_uint8
from export.data import split_faces
from facerestore.constraints import read_constraint
from facerestore.damage.analysis import analyze
from facerestore.metrics import psnr
from facerestore.session import open_model

sys.path.insert(0, str(Path(__file__).parent))
from tolerant import MODELS, TOLERANCE, constraint_with, fresh_marks, marked_pairs, name_of  # noqa: E402
from unconstrained import saved_variants, scored_old_new  # noqa: E402

INK_SHARE = pc.INK_SHARE


def newer_marks(im: Image.Image, f: float):
    """tolerant.py's fresh marks and two fixed with the second gray rule, never drawn before: a dark
    half-transparent banner across the bottom fifth with white text, a dark signature stroke at the bottom right."""
    yield from fresh_marks(im, f)
    up = im.resize((round(im.width / f), round(im.height / f)), Image.LANCZOS).resize(im.size, Image.NEAREST)
    w, h = im.size

    def banner(base):
        layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
        draw = ImageDraw.Draw(layer)
        draw.rectangle((0, round(0.80 * h), w - 1, h - 1), fill=(0, 0, 0, 100))
        draw.text((round(0.05 * w), round(0.84 * h)), "Summer 1987, grandma's garden", fill=(255, 255, 255, 230))
        base.paste(Image.alpha_composite(base.convert("RGBA"), layer).convert("RGB"))

    def signature(base):
        points = [(0.66, 0.93), (0.70, 0.86), (0.73, 0.92), (0.77, 0.85), (0.80, 0.93), (0.85, 0.88), (0.92, 0.90)]
        ImageDraw.Draw(base).line([(round(x * w), round(y * h)) for x, y in points], fill=(25, 20, 40), width=2)

    yield from marked_pairs(up, im, (("banner", banner), ("signature", signature)))


def tolerant_constraint(loaded, damage, tolerance):
    """The shipped reading, with the tolerant one tried in gray as in colour where the strict one finds no blocks."""
    strict = read_constraint(loaded, damage)
    if strict is not None or loaded.jpeg is not None or damage.pixelation <= 1.0:
        return strict
    pixels = loaded.pixels
    least = pc.MIN_SIZE_SHARE * damage.pixelation
    rows, columns = pc.block_starts(pixels, 0, tolerance), pc.block_starts(pixels, 1, tolerance)
    if pixels.shape[0] / rows.size < least or pixels.shape[1] / columns.size < least:
        return None
    marks = pc.marked_pixels(pixels, rows, columns)
    return pc.PixelationConstraint(pixels, rows, columns, marks if marks[0].size else None)


def same_reading(a, b) -> bool:
    """Whether two constraints read a file alike (the same blocks and marks)."""
    if not (isinstance(a, pc.PixelationConstraint) and isinstance(b, pc.PixelationConstraint)):
        return name_of(a) == name_of(b)
    marks = [np.zeros(0) if c._marks is None else np.stack(c._marks) for c in (a, b)]
    return (np.array_equal(a._rows, b._rows) and np.array_equal(a._columns, b._columns)
            and np.array_equal(*marks))


def with_ink(share: float, read, *args):
    """``read(*args)`` with ink blocks read at ``share`` (0: not at all)."""
    pc.INK_SHARE = share
    try:
        return read(*args)
    finally:
        pc.INK_SHARE = INK_SHARE


def main():
    which, out_path = sys.argv[1], Path(sys.argv[2])
    gray, ink = "--colour" not in sys.argv[3:], "--ink" in sys.argv[3:]
    split = split_faces(Path("/work/shared/data/faces"))
    faces = {"train5": split.train[::5], "train1": split.train[1::5], "train4": split.train[4::5], "val": split.val,
             "test": split.test}[which]
    models = {name: open_model(Path(facerestore.__file__).parent / "models" / f"{name}.onnx", device="cpu",
                               threads=2) for name in MODELS}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for face, side, f, label, loaded, ref in saved_variants(faces, Path(tmp), newer_marks, gray):
            damage = analyze(loaded)
            tolerant_read = tolerant_constraint if gray else constraint_with
            strict = (with_ink(0.0, tolerant_read, loaded, damage, TOLERANCE) if ink and not gray
                      else constraint_with(loaded, damage, 0.0))
            tolerant = with_ink(INK_SHARE if ink else 0.0, tolerant_read, loaded, damage, TOLERANCE)
            row = {"face": face.name, "side": side, "f": f, "variant": label, "kind": damage.kind,
                   "level": damage.level, "pixelation": damage.pixelation,
                   "old_constraint": name_of(strict), "new_constraint": name_of(tolerant),
                   "input": psnr(to_uint8(loaded.pixels), ref), "differ": not same_reading(strict, tolerant)}
            if damage.kind == "pixelation" and row["differ"]:
                row.update(scored_old_new(models, loaded, damage, gray, strict, tolerant, ref, row["input"]))
            rows.append(row)
            print(json.dumps(row), flush=True)
    out_path.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
