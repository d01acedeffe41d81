"""How long marked_pixels takes on a 13.5 MP nearest upscale (blocks of 3, 2 and 1.5 px) captioned across its width
and signed after the zoom, with and without ink blocks (runs/README.txt, "Ink blocks"), twice each, interleaved.
  PYTHONPATH=. python runs/pixelation-refit/ink_speed.py"""
import time
import numpy as np
from PIL import Image, ImageDraw
import facerestore.pixelation_constraint as pc
with Image.open("examples/originals/astronaut.png") as im:
    small = im.convert("RGB").resize((1500, 1000))
for f in (3, 2, 1.5):
    big = small.resize((round(4500 / f * 1) * 1, round(3000 / f)), Image.LANCZOS).resize((4500, 3000), Image.NEAREST)
    d = ImageDraw.Draw(big)
    d.rectangle((0, 2640, 4499, 2999), fill=(250, 250, 250))
    for i in range(40):
        d.text((20 + 110 * i, 2700), "(c) 2009 family", fill=(20, 20, 20))
    d.line([(3000, 2500), (3200, 2300), (3400, 2550), (3800, 2350)], fill=(25, 20, 40), width=2)
    p = np.asarray(big).astype(np.float32) / 255
    rows, cols = pc.block_starts(p, 0, pc.MARK_SHARE), pc.block_starts(p, 1, pc.MARK_SHARE)
    for share in (0.0, 0.1, 0.0, 0.1):
        pc.INK_SHARE = share
        t = time.perf_counter(); m = pc.marked_pixels(p, rows, cols); dt = time.perf_counter() - t
        print(f, share, len(rows), len(cols), m[0].size, f"{dt:.2f} s")
