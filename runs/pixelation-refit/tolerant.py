"""The tolerant block reading judged (runs/README.txt, "Tolerant block reading"): the variants of unconstrained.py
read with the strict reading alone ("old": the shipped curves) and with the strict-then-tolerant one ("new": the
uncapped refit); restorations where the two readings differ.
--held: the marked files the strict reading holds instead, with the shipped and the refitted curves under that
same constraint. --shipped: "new" follows the shipped curves too (the reading alone). --gray: every file and
reference made grayscale (ITU-R 601 luma, a 1-channel file), restored as the runtime restores gray photos.
--curves FILE: "new" follows FILE's pixelation curves (its "gray_curves" with --gray) instead of the refit's;
--newer: the second gray rule's two marks as well (gray_tolerant.newer_marks). --unheld: the marked files the
strict reading leaves unheld and the tolerant one holds, both curves under the tolerant reading.
  PYTHONPATH=. python runs/pixelation-refit/tolerant.py {val,test} OUT.json [--held | --shipped] [--gray]
      [--curves FILE] [--newer] [--unheld]"""
import json
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw

import facerestore
import facerestore.pixelation_constraint as pixelation_constraint
from export.archive import to_uint8
from export.data import split_faces
from facerestore.constraints import read_constraint
from facerestore.damage.analysis import analyze
from facerestore.damage.strength import Curve
from facerestore.metrics import psnr
from facerestore.session import open_model

sys.path.insert(0, str(Path(__file__).parent))
from unconstrained import saved_variants, scored_old_new  # noqa: E402  (the same files as unconstrained.py)

MARKED = ("watermark", "caption", "logo", "stamp", "translucent", "banner", "signature")
MODELS = ("basic", "big", "gan", "darn")
TOLERANCE = pixelation_constraint.MARK_SHARE


def fresh_marks(im: Image.Image, f: float):
    """Marks not in unconstrained.py, fixed before the amended reading was measured (runs/README.txt): a dark
    centred logo box, an orange date stamp without a box at the top left, a half-transparent white caption box at
    the top right; each scored against the original marked alike."""
    up = im.resize((round(im.width / f), round(im.height / f)), Image.LANCZOS).resize(im.size, Image.NEAREST)
    w, h = im.size

    def logo(base):
        draw = ImageDraw.Draw(base)
        draw.rectangle((round(0.40 * w), round(0.46 * h), round(0.60 * w), round(0.54 * h)), fill=(30, 30, 30))
        draw.text((round(0.40 * w) + 3, round(0.46 * h) + 2), "STUDIO", fill=(235, 235, 235))

    def stamp(base):
        ImageDraw.Draw(base).text((round(0.03 * w), round(0.03 * h)), "03 '98", fill=(255, 140, 0))

    def translucent(base):
        layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
        draw = ImageDraw.Draw(layer)
        draw.rectangle((round(0.55 * w), round(0.05 * h), round(0.95 * w), round(0.12 * h)), fill=(255, 255, 255, 128))
        draw.text((round(0.55 * w) + 2, round(0.05 * h) + 1), "archive copy", fill=(0, 0, 0, 160))
        base.paste(Image.alpha_composite(base.convert("RGBA"), layer).convert("RGB"))

    yield from marked_pairs(up, im, (("logo", logo), ("stamp", stamp), ("translucent", translucent)))


def marked_pairs(up: Image.Image, im: Image.Image, marks):
    """For each (label, draw) of ``marks``: the upscale ``up`` and its original ``im`` marked alike, as variants
    (label, file's image, format, save options, reference)."""
    for label, draw in marks:
        pair = []
        for base in (up, im):
            marked = base.copy()
            draw(marked)
            pair.append(marked)
        yield label, pair[0], "PNG", {}, pair[1]


def constraint_with(loaded, damage, tolerance):
    pixelation_constraint.MARK_SHARE = tolerance  # 0: the second reading repeats the strict one
    try:
        return read_constraint(loaded, damage)
    finally:
        pixelation_constraint.MARK_SHARE = TOLERANCE


def name_of(constraint):
    return type(constraint).__name__ if constraint is not None else None


def main():
    which, out_path = sys.argv[1], Path(sys.argv[2])
    options = sys.argv[3:]
    held, shipped, gray = "--held" in options, "--shipped" in options, "--gray" in options
    unheld = "--unheld" in options
    split = split_faces(Path("/work/shared/data/faces"))
    faces = split.val if which == "val" else split.test
    models = {name: open_model(Path(facerestore.__file__).parent / "models" / f"{name}.onnx", device="cpu",
                               threads=2) for name in MODELS}
    here = Path(__file__).parent
    refit = {}
    if "--curves" in options:
        given = json.loads(Path(options[options.index("--curves") + 1]).read_text())["gray_curves" if gray else "curves"]
        fits = [given]
    else:
        fits = [json.loads((here / fit).read_text())["curves"]
                for fit in ("strength_fit_darn.json", "strength_fit_plain.json")]
    for rows_of in fits:
        for name, row in rows_of.items():
            refit[name] = Curve(tuple(row["levels"]), tuple(row["strengths"]["pixelation"]), "fitted")
    marks = fresh_marks
    if "--newer" in options:
        from gray_tolerant import newer_marks
        marks = newer_marks
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for face, side, f, label, loaded, ref in saved_variants(faces, Path(tmp), marks, gray):
            damage = analyze(loaded)
            strict = constraint_with(loaded, damage, 0.0)
            tolerant = constraint_with(loaded, damage, TOLERANCE)
            row = {"face": face.name, "side": side, "f": f, "variant": label, "kind": damage.kind,
                   "level": damage.level, "pixelation": damage.pixelation,
                   "old_constraint": name_of(strict), "new_constraint": name_of(tolerant),
                   "input": psnr(to_uint8(loaded.pixels), ref)}
            if held:
                restore = (label in MARKED and damage.kind == "pixelation"
                           and name_of(strict) == "PixelationConstraint")
                tolerant = strict
            elif unheld:
                # From level 0.7 up the capped curves are the shipped ones: the same restoration either way.
                restore = (label in MARKED and damage.kind == "pixelation" and strict is None
                           and name_of(tolerant) == "PixelationConstraint" and damage.level < 0.7)
                strict = tolerant
            else:
                restore = damage.kind == "pixelation" and name_of(strict) != name_of(tolerant)
            if restore:
                row.update(scored_old_new(models, loaded, damage, gray, strict, tolerant, ref, row["input"],
                                          None if shipped else refit))
            rows.append(row)
            print(json.dumps(row), flush=True)
    out_path.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
