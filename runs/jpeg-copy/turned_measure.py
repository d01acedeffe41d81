"""Rule measurement for copies of JPEGs turned by a quarter, run once per tree and part (PYTHONPATH picks the tree):
  PYTHONPATH=TREE:runs/jpeg-copy OMP_NUM_THREADS=1 python runs/jpeg-copy/turned_measure.py big PART OUT.json
PART: "copies SIDE colour|gray" or "clean". The parts of both trees were run in turn, never at once.

copies: the 20 validation faces at SIDE px, colour or gray, saved by Pillow as JPEG 30, 50, 75, 85 and 90 (4:2:0),
decoded and saved as PNG unturned, turned by 90 degrees (Image.ROTATE_90) and transposed (Image.TRANSPOSE); what the
analysis reads (quality, grid, orientation) and the gain under auto through restore_image (the copy's constraint
included). Beside each, the JPEG file of the same pixels restored under auto, its output turned alike. For the rule's
(2), the unturned copy's and the JPEG file's analysis and a hash of every output.
clean: never-JPEG images, unturned and turned by 90 degrees: the validation faces as PNGs of their LANCZOS resize
(256 and 512 px, colour and gray) and the lossless natural photos (colour and gray); what the analysis reads."""
import hashlib, json, sys, time
from pathlib import Path

import numpy as np
from PIL import Image

import facerestore
from facerestore.damage.analysis import analyze
from facerestore.damage.strength import decide_image
from facerestore.imageio import read_image
from facerestore.metrics import psnr
from facerestore.restore import restore_image
from facerestore.session import open_model
import validation_faces
from validation_faces import resized

QUALITIES = [30, 50, 75, 85, 90]
TURNS = {"none": lambda a: a, "rot90": lambda a: np.ascontiguousarray(np.rot90(a)),  # Pillow's ROTATE_90
         "transpose": lambda a: np.ascontiguousarray(a.swapaxes(0, 1))}
NATURAL = sorted(Path("/work/shared/data/natural").glob("*.png"))  # the lossless ones (SOURCES.md)

name, part, out_path = sys.argv[1], sys.argv[2].split(), Path(sys.argv[3])
models = Path(facerestore.__file__).parent / "models"  # the tree's own files (else a user's model: no curve)
model = open_model(models / f"{name}.onnx", device="cpu", threads=1)
tmp = Path(f"/tmp/turned_{name}_{out_path.stem}")
tmp.mkdir(parents=True, exist_ok=True)
u8 = lambda a: np.clip(np.rint(a * 255), 0, 255).astype(np.uint8)
sha = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()[:16]
digest = lambda a: hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()[:16]
out = {"tree": str(Path(facerestore.__file__).parent.parent), "model": name, "part": part,
       "sha256": {"model": sha(models / f"{name}.onnx"), "strength.json": sha(models / "strength.json")},
       "copies": [], "clean": []}


def restored(loaded):
    damage = analyze(loaded)
    decision = decide_image(model, damage, loaded.pixels.shape)
    pixels = loaded.pixels if decision.unchanged else restore_image(model, loaded, damage, strength=decision.strength)
    return damage, decision, u8(pixels)


def analysis(damage):
    """The analysis as the tree before records it (the new field apart)."""
    d = damage.to_json()
    d.pop("jpeg_transposed", None)
    return d


start = time.time()
if part[0] == "copies":
    side, gray = int(part[1]), part[2] == "gray"
    for q in QUALITIES:
        for p in validation_faces.faces():
            im, hq = resized(p, side, gray)
            im.save(tmp / "file.jpg", "JPEG", quality=q)
            jpeg = read_image(tmp / "file.jpg")
            jpeg_damage, jpeg_decision, jpeg_out = restored(jpeg)
            decoded = u8(jpeg.pixels)
            pin = psnr(decoded, hq)
            for turn, f in TURNS.items():
                Image.fromarray(f(decoded)[..., 0] if gray else f(decoded)).save(tmp / "copy.png")
                copy = read_image(tmp / "copy.png")
                damage, decision, copy_out = restored(copy)
                ref = f(hq)
                row = dict(side=side, gray=gray, q=q, face=p.stem, turn=turn, width=decoded.shape[1],
                           read=damage.jpeg_quality,
                           read_grid=list(damage.grid_offset) if damage.grid_offset else None,
                           transposed=getattr(damage, "jpeg_transposed", None), level=damage.level,
                           strength=0.0 if decision.unchanged else decision.strength,
                           gain=psnr(copy_out, ref) - pin, out=digest(copy_out),
                           jpeg_strength=0.0 if jpeg_decision.unchanged else jpeg_decision.strength,
                           jpeg_gain=psnr(f(jpeg_out), ref) - pin)
                if turn == "none":
                    row.update(analysis=analysis(damage), jpeg_analysis=analysis(jpeg_damage), jpeg_out=digest(jpeg_out))
                out["copies"].append(row)
        print(f"copies {side} {part[2]} {q}: {time.time() - start:.0f} s", flush=True)
        out_path.write_text(json.dumps(out))  # each quality as it ends: a part stopped early keeps its rows


def clean(source, kind, path):
    loaded = read_image(path)
    for turn, f in (("none", TURNS["none"]), ("rot90", TURNS["rot90"])):
        Image.fromarray(f(np.asarray(Image.open(path)))).save(tmp / "turned.png")
        damage = analyze(read_image(tmp / "turned.png")) if turn != "none" else analyze(loaded)
        out["clean"].append(dict(source=source, kind=kind, turn=turn, read=damage.jpeg_quality,
                                 read_grid=list(damage.grid_offset) if damage.grid_offset else None,
                                 transposed=getattr(damage, "jpeg_transposed", None)))


if part[0] == "clean":
    for side in (256, 512):
        for gray in (False, True):
            for p in validation_faces.faces():
                im, _ = resized(p, side, gray)
                im.save(tmp / "clean.png", "PNG")
                clean(p.stem, f"face {side} {'gray' if gray else 'colour'}", tmp / "clean.png")
    for p in NATURAL:
        for gray in (False, True):
            Image.open(p).convert("L" if gray else "RGB").save(tmp / "clean.png", "PNG")
            clean(p.stem, f"natural {'gray' if gray else 'colour'}", tmp / "clean.png")
    print(f"clean: {time.time() - start:.0f} s", flush=True)
out_path.write_text(json.dumps(out))
