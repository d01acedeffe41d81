"""Pixelated photos the pixelation constraint does not hold, restored with the refitted pixelation curves and with
the curves before the refit: nearest upscales saved as JPEG or WebP, resized after, pixelated in part, or marked
after (a watermark, a caption strip). The refit
was fitted on files the constraint holds; these files follow the same curve without it.
  PYTHONPATH=. python runs/pixelation-refit/unconstrained.py {val,test} OLD_STRENGTH.json OUT.json"""
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

import facerestore
from export.archive import to_uint8
from export.data import load_rgb, split_faces
from facerestore.constraints import read_constraint
from facerestore.damage.analysis import analyze
from facerestore.damage.strength import Curve, decide_damage, model_curve
from facerestore.imageio import read_image
from facerestore.metrics import psnr
from facerestore.pixelation_constraint import PixelationConstraint
from facerestore.restore import restore_image
from facerestore.session import open_model

FACTORS = (1.25, 1.5, 2, 3)


def variants(im: Image.Image, f: float):
    small = im.resize((round(im.width / f), round(im.height / f)), Image.LANCZOS)
    up = small.resize(im.size, Image.NEAREST)
    for q in (75, 90, 95):
        yield f"jpeg{q}", up, "JPEG", {"quality": q}, im
    yield "webp90", up, "WEBP", {"quality": 90}, im
    # Resized after: blocks no longer whole lines; scored against the original resized alike.
    size = (round(im.width * 0.93), round(im.height * 0.93))
    yield "resized0.93", up.resize(size, Image.LANCZOS), "PNG", {}, im.resize(size, Image.LANCZOS)
    half = np.asarray(im).copy()
    half[:, : im.width // 2] = np.asarray(up)[:, : im.width // 2]
    yield "left half", Image.fromarray(half), "PNG", {}, im
    # Marks added after the zoom break the identical lines they cross: a small watermark, a caption strip (scored
    # against the original marked alike).
    for label, box in (("watermark", (0.70, 0.90, 0.97, 0.96)), ("caption", (0.0, 0.88, 1.0, 1.0))):
        x0, y0, x1, y1 = (round(v * n) for v, n in zip(box, (im.width, im.height) * 2))
        pair = []
        for base in (up, im):
            marked = base.copy()
            ImageDraw.Draw(marked).rectangle((x0, y0, x1, y1), fill=(250, 250, 250))
            ImageDraw.Draw(marked).text((x0 + 2, y0 + 1), "(c) 2009 family", fill=(20, 20, 20))
            pair.append(marked)
        yield label, pair[0], "PNG", {}, pair[1]


def saved_variants(faces, tmp: Path, more=None, gray: bool = False):
    """Each face at 256 and 512 px, upscaled by each of FACTORS and saved as each of ``variants`` (and of
    ``more(im, f)``), read back: (face, side, factor, label, loaded file, reference as to_uint8 gives a
    restoration). ``gray``: the file and its reference made grayscale first (ITU-R 601 luma, a 1-channel file)."""
    for face in faces:
        for side in (256, 512):
            im = Image.fromarray(load_rgb(face, side, True))
            for f in FACTORS:
                for label, damaged, fmt, params, reference in [*variants(im, f), *(more(im, f) if more else ())]:
                    if gray:
                        damaged, reference = damaged.convert("L"), reference.convert("L")
                    path = tmp / f"x.{fmt.lower()}"
                    damaged.save(path, fmt, **params)
                    ref = np.asarray(reference)
                    if gray:  # three equal planes, as to_uint8 gives every restoration
                        ref = np.repeat(ref[..., None], 3, axis=2)
                    yield face, side, f, label, read_image(path), ref


def scored(model, loaded, damage, curve, constraint, ref: np.ndarray, input_psnr: float) -> tuple[float, float]:
    """(strength, PSNR against ``ref``) of what ``auto`` makes of a file following ``curve`` with ``constraint``;
    (0, the input's PSNR) where it leaves the file unchanged."""
    d = decide_damage(curve, damage, loaded.pixels.shape)
    if d.unchanged:
        return 0.0, input_psnr
    return d.strength, psnr(to_uint8(restore_image(model, loaded, damage, strength=d.strength,
                                                   constraint=constraint)), ref)


def scored_old_new(models, loaded, damage, gray: bool, old, new, ref: np.ndarray, input_psnr: float,
                   new_curves=None) -> dict:
    """Each model's ``scored`` under constraint ``old`` and under ``new``, both following its shipped pixelation
    curve (``gray``: its gray one), or ``new`` following ``new_curves[name]`` where given: {name: {"old", "new"}}."""
    out = {}
    for name, model in models.items():
        curve = model_curve(model, "pixelation", gray)
        out[name] = {"old": scored(model, loaded, damage, curve, old, ref, input_psnr),
                     "new": scored(model, loaded, damage, new_curves[name] if new_curves else curve, new, ref,
                                   input_psnr)}
    return out


def main():
    which, old_path, out_path = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    split = split_faces(Path("/work/shared/data/faces"))
    faces = split.val if which == "val" else split.test
    MODELS = ("basic", "big", "gan", "darn")
    models = {name: open_model(Path(facerestore.__file__).parent / "models" / f"{name}.onnx", device="cpu",
                             threads=2)
              for name in MODELS}
    old_rows = json.loads(old_path.read_text())["curves"]
    old = {name: Curve(tuple(old_rows[name]["levels"]), tuple(old_rows[name]["strengths"]["pixelation"]), "fitted")
           for name in MODELS}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for face, side, f, label, loaded, ref in saved_variants(faces, Path(tmp)):
            damage = analyze(loaded)
            constraint = read_constraint(loaded, damage)
            row = {"face": face.name, "side": side, "f": f, "variant": label, "kind": damage.kind,
                   "level": damage.level, "pixelation": damage.pixelation,
                   "constraint": type(constraint).__name__ if constraint is not None else None,
                   "input": psnr(to_uint8(loaded.pixels), ref)}
            if damage.kind == "pixelation" and not isinstance(constraint, PixelationConstraint):
                for name, model in models.items():
                    row[name] = {label2: scored(model, loaded, damage, curve, constraint, ref, row["input"])
                                 for label2, curve in (("old", old[name]), ("new", model_curve(model, "pixelation")))}
            rows.append(row)
            print(json.dumps(row), flush=True)
    out_path.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
