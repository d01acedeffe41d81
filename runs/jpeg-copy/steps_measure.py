"""Rule measurement: PNG copies of JPEGs that the lattice fit does not read, read by the copy's step reader instead
(the IJG quality whose table holds every step read), against leaving them as the analysis reads them now."""
import dataclasses, io, json, sys
sys.path.insert(0, "/work/main")
import numpy as np
from pathlib import Path
from PIL import Image
from facerestore.imageio import read_image
from facerestore.damage import analysis, levels
from facerestore.damage.analysis import analyze
from facerestore.damage.jpeg_cost import recompression_psnr
from facerestore.damage.jpeg_pixels import luma255
from facerestore.damage.jpeg_tables import LUMA_BASE, ijg_table, standard_tables
from facerestore.damage.strength import decide, model_curve
from facerestore.restore import restore_pixels
from facerestore.session import open_model
from facerestore.metrics import psnr
from facerestore.constraints import read_constraint
from facerestore.damage.jpeg_steps import MIN_FREQUENCIES, luma_steps
import validation_faces
from validation_faces import resized


def step_quality(loaded, damage):
    """(quality, grid) the step reader names, or None."""
    y = luma255(loaded.pixels)
    from facerestore.damage.jpeg_pixels import blocking, BLOCKINESS_CLEAN_MAX
    b = blocking(y)
    grids = [b.offset] + ([(0, 0)] if b.strength <= BLOCKINESS_CLEAN_MAX else [])
    for oy, ox in dict.fromkeys(grids):
        steps = luma_steps(loaded.pixels[oy:, ox:])
        read = steps > 0
        if read.sum() < MIN_FREQUENCIES:
            continue
        tables = standard_tables("luma")
        hits = np.flatnonzero((tables[:, read] == steps[read]).all(axis=1))
        if hits.size:
            return int(hits[hits.size // 2]) + 1, (oy, ox)
    return None


def with_quality(loaded, damage, q, grid):
    y = luma255(loaded.pixels)
    cost = levels.cost_quality(q, recompression_psnr(y, ijg_table(LUMA_BASE, q), grid))
    level = levels.combine(analysis._parts(cost, damage.banding, damage.pixelation, damage.webp_index).values())
    return dataclasses.replace(damage, jpeg_quality=q, jpeg_quality_source="pixels", pixel_quality=q,
                               grid_offset=grid, cost_quality=cost, level=level)


faces = validation_faces.faces()
name = sys.argv[1]
model = open_model(Path(f"/work/main/facerestore/models/{name}.onnx"), device="cpu", threads=1)
u8 = lambda a: np.clip(np.rint(a * 255), 0, 255).astype(np.uint8)
tmp = Path(f"/tmp/steps/in_{name}.png")
rows = []


def restored_psnr(loaded, damage, hq):
    dec = decide(damage.level, model_curve(model, damage.kind, loaded.pixels.shape[2] == 1))
    if dec.unchanged:
        return psnr(u8(loaded.pixels), hq)
    out = restore_pixels(model, loaded.pixels, strength=dec.strength)
    con = read_constraint(loaded, damage)
    return psnr(u8(con.enforce(out) if con else np.clip(out, 0, 1)), hq)


for side in (256, 512):
    for gray in (False, True):
        for q in (None, 30, 50, 75, 85, 90, 95):
            res = []
            for p in faces:
                im, hq = resized(p, side, gray)
                if q is None:
                    im.save(tmp, "PNG")
                else:
                    b = io.BytesIO(); im.save(b, "JPEG", quality=q); b.seek(0)
                    Image.open(b).save(tmp, "PNG")
                loaded = read_image(tmp)
                dmg = analyze(loaded)
                pin = psnr(u8(loaded.pixels), hq)
                now = restored_psnr(loaded, dmg, hq)
                read = None
                if dmg.jpeg_quality is None:
                    read = step_quality(loaded, dmg)
                new = restored_psnr(loaded, with_quality(loaded, dmg, *read), hq) if read else now
                res.append((pin, now, new, dmg.jpeg_quality is not None, read[0] if read else None))
            a = np.array([r[:3] for r in res])
            row = dict(model=name, side=side, gray=gray, q=q, input=round(a[:, 0].mean(), 3),
                       now=round(a[:, 1].mean(), 3), steps=round(a[:, 2].mean(), 3),
                       worse_now=int(np.sum(a[:, 1] < a[:, 0] - 1e-9)), worse_steps=int(np.sum(a[:, 2] < a[:, 0] - 1e-9)),
                       read_now=int(sum(r[3] for r in res)), read_by_steps=int(sum(r[4] is not None for r in res)),
                       step_qualities=sorted({r[4] for r in res if r[4] is not None}))
            rows.append(row)
            print(json.dumps(row), flush=True)
Path(f"/work/main/runs/jpeg-copy/steps_{name}.json").write_text(json.dumps(rows, indent=1))
