"""Rule measurement, run once per tree (PYTHONPATH picks it): the 20 validation faces at 256 and 512 px, colour and
gray, as PNGs of themselves (resized, no JPEG) and of their JPEGs at 30-95 (Pillow, 4:2:0), and as those JPEG files,
restored under auto through restore_image (the file's constraint included). Writes one record per case."""
import json, sys
import numpy as np
from pathlib import Path
from PIL import Image
from facerestore.imageio import read_image
from facerestore.damage.analysis import analyze
from facerestore.damage.strength import decide, model_curve
from facerestore.restore import restore_image
from facerestore.session import open_model
import validation_faces
from validation_faces import resized
from facerestore.metrics import psnr

faces = validation_faces.faces()
name, out_path = sys.argv[1], Path(sys.argv[2])  # e.g. darn /tmp/cm/after_darn.json
# The tree's own file: a model outside the package it runs with is a user's model, told no strength curve.
import facerestore
model = open_model(Path(facerestore.__file__).parent / "models" / f"{name}.onnx", device="cpu", threads=1)
u8 = lambda a: np.clip(np.rint(a * 255), 0, 255).astype(np.uint8)
tmp = out_path.with_suffix("")
records = []
for side in (256, 512):
    for gray in (False, True):
        for q in (None, 30, 50, 75, 85, 90, 95):
            for p in faces:
                im, hq = resized(p, side, gray)
                files = []
                if q is None:
                    im.save(f"{tmp}.png", "PNG"); files.append(("copy", f"{tmp}.png"))
                else:
                    im.save(f"{tmp}.jpg", "JPEG", quality=q); files.append(("jpeg", f"{tmp}.jpg"))
                    Image.open(f"{tmp}.jpg").save(f"{tmp}.png", "PNG"); files.append(("copy", f"{tmp}.png"))
                for kind, f in files:
                    loaded = read_image(Path(f))
                    dmg = analyze(loaded)
                    dec = decide(dmg.level, model_curve(model, dmg.kind, gray))
                    out = loaded.pixels if dec.unchanged else restore_image(model, loaded, dmg, strength=dec.strength)
                    pin = psnr(u8(loaded.pixels), hq)
                    records.append(dict(side=side, gray=gray, q=q, face=p.stem, kind=kind, read=dmg.jpeg_quality,
                                        gain=(psnr(u8(out), hq) - pin) if np.isfinite(pin) else 0.0))
            print(side, gray, q, flush=True)
out_path.write_text(json.dumps(records))
