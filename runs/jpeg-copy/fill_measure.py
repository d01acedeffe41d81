"""Rule measurement: PNG copies of JPEGs of the validation faces held within the luma steps read from their pixels
(shipped) against those steps completed from the IJG table they all belong to, with and without its DC step."""
import sys, json
sys.path.insert(0, "/work/main")
import numpy as np
from pathlib import Path
from facerestore.imageio import read_image
from facerestore.damage.analysis import analyze
from facerestore.damage.jpeg_tables import standard_tables
from facerestore.damage.strength import decide, model_curve
from facerestore.restore import restore_pixels
from facerestore.session import open_model
from facerestore.metrics import psnr
from facerestore.constraints import read_constraint
from facerestore.jpeg_constraint import JpegConstraint
from facerestore.jpeg_copy import JpegCopyConstraint
from facerestore.damage.jpeg_steps import luma_blocks, read_steps
import validation_faces
from validation_faces import png_copy, resized


def completed(steps, dc):
    read = steps > 0
    tables = standard_tables("luma")
    matches = tables[(tables[:, read] == steps[read]).all(axis=1)]
    if not len(matches):
        return steps
    fill = (matches == matches[0]).all(axis=0) & ~read
    if not dc:
        fill[0] = False
    return np.where(fill, matches[0], steps)


faces = validation_faces.faces()
name = sys.argv[1]
model = open_model(Path(f"/work/main/facerestore/models/{name}.onnx"), device="cpu", threads=1)
u8 = lambda a: np.clip(np.rint(a * 255), 0, 255).astype(np.uint8)
out_rows = []
tmp = Path(f"/tmp/pxc/fill_{name}.png")
VARIANTS = ("read", "fill", "fill_no_dc")
for side in (256, 512):
    for gray in (False, True):
        for q in (30, 50, 75, 85, 90, 95):
            res = []
            for p in faces:
                im, hq = resized(p, side, gray)
                png_copy(im, q, tmp)
                loaded = read_image(tmp)
                dmg = analyze(loaded)
                dec = decide(dmg.level, model_curve(model, dmg.kind, loaded.pixels.shape[2] == 1))
                pin = psnr(u8(loaded.pixels), hq)
                con = read_constraint(loaded, dmg)
                if dec.unchanged:
                    res.append([pin] * 4 + [False, False]); continue
                out = restore_pixels(model, loaded.pixels, strength=dec.strength)
                if not isinstance(con, JpegCopyConstraint):
                    p = psnr(u8(con.enforce(out) if con else np.clip(out, 0, 1)), hq)
                    res.append([pin, p, p, p, False, False]); continue
                oy, ox = con.offset
                coefficients, clipped = luma_blocks(loaded.pixels[oy:, ox:])
                steps = read_steps(coefficients[~clipped])
                grid = ((loaded.pixels.shape[0] - oy) // 8, (loaded.pixels.shape[1] - ox) // 8)
                row = [pin]
                for v in VARIANTS:
                    st = steps if v == "read" else completed(steps, v == "fill")
                    c = JpegCopyConstraint(JpegConstraint.of_pixels(loaded.pixels[oy:, ox:], st), (oy, ox))
                    row.append(psnr(u8(c.enforce(out)), hq))
                table = standard_tables("luma")[q - 1]
                row += [True, bool((completed(steps, True)[steps == 0] > 0).any())]
                res.append(row)
            a = np.array([r[:4] for r in res])
            row = dict(model=name, side=side, gray=gray, q=q, input=round(a[:, 0].mean(), 3),
                       **{v: round(a[:, i + 1].mean(), 3) for i, v in enumerate(VARIANTS)},
                       **{f"worse_{v}": int(np.sum(a[:, i + 1] < a[:, 0] - 1e-9)) for i, v in enumerate(VARIANTS)},
                       copies=int(sum(r[4] for r in res)), filled=int(sum(r[5] for r in res)))
            out_rows.append(row)
            print(json.dumps(row), flush=True)
Path(f"/work/main/runs/jpeg-copy/fill_{name}.json").write_text(json.dumps(out_rows, indent=1))
