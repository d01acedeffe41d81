"""Rule measurement: PNG copies of JPEGs of the validation faces, with and without the copy's luma intervals."""
import sys, json
sys.path.insert(0, "/work/main")
import numpy as np
from pathlib import Path
from facerestore.imageio import read_image
from facerestore.damage.analysis import analyze
from facerestore.damage.strength import decide, model_curve
from facerestore.restore import restore_pixels
from facerestore.session import open_model
from facerestore.metrics import psnr
from facerestore.constraints import read_constraint
from facerestore.level_constraint import LevelConstraint
from facerestore.jpeg_copy import JpegCopyConstraint
import validation_faces
from validation_faces import png_copy, resized

faces = validation_faces.faces()
name = sys.argv[1]
model = open_model(Path(f"/work/main/facerestore/models/{name}.onnx"), device="cpu", threads=1)
u8 = lambda a: np.clip(np.rint(a * 255), 0, 255).astype(np.uint8)
out_rows = []
tmp = Path(f"/tmp/pxc/in_{name}.png")
for side in (256, 512):
    for gray in (False, True):
        for q in (30, 50, 75, 85):
            res = []
            for p in faces:
                im, hq = resized(p, side, gray)
                png_copy(im, q, tmp)
                loaded = read_image(tmp)
                dmg = analyze(loaded)
                dec = decide(dmg.level, model_curve(model, dmg.kind, loaded.pixels.shape[2] == 1))
                pin = psnr(u8(loaded.pixels), hq)
                if dec.unchanged:
                    res.append((pin, pin, pin, False)); continue
                out = restore_pixels(model, loaded.pixels, strength=dec.strength)
                old = LevelConstraint.of(loaded, dmg)
                new = read_constraint(loaded, dmg)
                is_copy = isinstance(new, JpegCopyConstraint)
                p_old = psnr(u8(old.enforce(out) if old else np.clip(out, 0, 1)), hq)
                p_new = psnr(u8(new.enforce(out) if new else np.clip(out, 0, 1)), hq)
                res.append((pin, p_old, p_new, is_copy))
            a = np.array([r[:3] for r in res])
            row = dict(model=name, side=side, gray=gray, q=q, input=round(a[:, 0].mean(), 3),
                       without=round(a[:, 1].mean(), 3), with_=round(a[:, 2].mean(), 3),
                       worse_without=int(np.sum(a[:, 1] < a[:, 0] - 1e-9)), worse_with=int(np.sum(a[:, 2] < a[:, 0] - 1e-9)),
                       copies=int(sum(r[3] for r in res)))
            out_rows.append(row)
            print(json.dumps(row), flush=True)
Path(f"/tmp/pxc/measure_{name}.json").write_text(json.dumps(out_rows, indent=1))
