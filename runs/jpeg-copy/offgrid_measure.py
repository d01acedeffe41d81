"""Rule measurement for copies cropped off the 8 px grid, run once per tree (PYTHONPATH picks it):
  PYTHONPATH=TREE:runs/jpeg-copy OMP_NUM_THREADS=1 python runs/jpeg-copy/offgrid_measure.py big OUT.json

copies: the 20 validation faces at 256 and 512 px, colour and gray, saved by Pillow as JPEG 85, 90 and 95 (4:2:0),
decoded, cropped at (0, 0), (3, 5), (1, 0) and (7, 7) and saved as PNG; what the analysis reads (quality, grid) and
the gain under auto through restore_image (the copy's constraint included). Beside each, the JPEG file of the same
pixels: the uncropped JPEG restored as a file under auto, its output cropped the same way.
clean: never-JPEG images at all 64 crops (0..7 rows and columns off the top-left corner): the validation faces as
PNGs of their LANCZOS resize (256 and 512 px, colour and gray) and the lossless natural photos (colour and gray);
what the analysis reads. The crops are taken from the decoded PNG's pixels (a PNG of a crop decodes to the same)."""
import dataclasses, hashlib, io, json, sys, time
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

OFFSETS = [(0, 0), (3, 5), (1, 0), (7, 7)]
QUALITIES = [85, 90, 95]
NATURAL = sorted(Path("/work/shared/data/natural").glob("*.png"))  # the lossless ones (SOURCES.md)

name, out_path = sys.argv[1], Path(sys.argv[2])
models = Path(facerestore.__file__).parent / "models"  # the tree's own files (else a user's model: no curve)
model = open_model(models / f"{name}.onnx", device="cpu", threads=1)
tmp = Path(f"/tmp/offgrid_{name}_{out_path.stem}")
tmp.mkdir(parents=True, exist_ok=True)
u8 = lambda a: np.clip(np.rint(a * 255), 0, 255).astype(np.uint8)
sha = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()[:16]
out = {"tree": str(Path(facerestore.__file__).parent.parent), "model": name,
       "sha256": {"model": sha(models / f"{name}.onnx"), "strength.json": sha(models / "strength.json")},
       "copies": [], "clean": []}


def restored(loaded):
    damage = analyze(loaded)
    decision = decide_image(model, damage, loaded.pixels.shape)
    pixels = loaded.pixels if decision.unchanged else restore_image(model, loaded, damage, strength=decision.strength)
    return damage, decision, pixels


start = time.time()
for side in (256, 512):
    for gray in (False, True):
        for q in QUALITIES:
            for p in validation_faces.faces():
                im, hq = resized(p, side, gray)
                im.save(tmp / "file.jpg", "JPEG", quality=q)
                jpeg = read_image(tmp / "file.jpg")
                _, jpeg_decision, jpeg_out = restored(jpeg)
                decoded = u8(jpeg.pixels)
                for oy, ox in OFFSETS:
                    Image.fromarray(decoded[oy:, ox:, 0] if gray else decoded[oy:, ox:]).save(tmp / "copy.png")
                    copy = read_image(tmp / "copy.png")
                    damage, decision, copy_out = restored(copy)
                    ref = hq[oy:, ox:]
                    pin = psnr(decoded[oy:, ox:], ref)
                    out["copies"].append(dict(
                        side=side, gray=gray, q=q, face=p.stem, offset=[oy, ox], grid=[-oy % 8, -ox % 8],
                        read=damage.jpeg_quality, read_grid=list(damage.grid_offset) if damage.grid_offset else None,
                        strength=0.0 if decision.unchanged else decision.strength,
                        gain=psnr(u8(copy_out), ref) - pin,
                        jpeg_strength=0.0 if jpeg_decision.unchanged else jpeg_decision.strength,
                        jpeg_gain=psnr(u8(jpeg_out)[oy:, ox:], ref) - pin))
            print(f"copies {side} {'gray' if gray else 'colour'} {q}: {time.time() - start:.0f} s", flush=True)


def clean(source, kind, pixels_loaded):
    for oy in range(8):
        for ox in range(8):
            loaded = dataclasses.replace(pixels_loaded, pixels=np.ascontiguousarray(pixels_loaded.pixels[oy:, ox:]))
            damage = analyze(loaded)
            out["clean"].append(dict(source=source, kind=kind, offset=[oy, ox], read=damage.jpeg_quality,
                                     read_grid=list(damage.grid_offset) if damage.grid_offset else None))


for side in (256, 512):
    for gray in (False, True):
        for p in validation_faces.faces():
            im, _ = resized(p, side, gray)
            im.save(tmp / "clean.png", "PNG")
            clean(p.stem, f"face {side} {'gray' if gray else 'colour'}", read_image(tmp / "clean.png"))
        print(f"clean faces {side} {'gray' if gray else 'colour'}: {time.time() - start:.0f} s", flush=True)
for p in NATURAL:
    for gray in (False, True):
        Image.open(p).convert("L" if gray else "RGB").save(tmp / "clean.png", "PNG")
        clean(p.stem, f"natural {'gray' if gray else 'colour'}", read_image(tmp / "clean.png"))
print(f"clean natural: {time.time() - start:.0f} s", flush=True)
out_path.write_text(json.dumps(out))
