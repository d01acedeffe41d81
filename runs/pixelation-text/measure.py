"""Development: both readings on text renders, 12 training faces pixelated by 1.5-4 at 256 and 512 px, two natural
crops, and pixelated faces saved as JPEG afterwards.  PYTHONPATH=. python runs/pixelation-text/measure.py"""
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, str(Path(__file__).parent))
from readings import readings  # noqa: E402

from export.data import split_faces  # noqa: E402
from facerestore import degrade  # noqa: E402


def show(*what):
    print(*what, flush=True)


rng = np.random.default_rng(0)
words = "the quick brown fox jumps over the lazy dog 0123456789 Lorem ipsum dolor sit amet".split()
for size in (12, 18, 24, 32, 48):
    for bg, fg in (("white", (0, 0, 0)), ((30, 30, 60), (250, 250, 200))):
        im = Image.new("RGB", (640, 480), bg)
        draw = ImageDraw.Draw(im)
        font = ImageFont.load_default(size=size)
        for y in range(5, 470, size + 4):
            draw.text((5, y), " ".join(rng.choice(words, 12)), fill=fg, font=font)
        show("text", size, bg, [round(r, 3) for r in readings(np.asarray(im))])
split = split_faces(Path("../shared/data/faces"), n_val=20, n_test=20)
for path in split.train[:12]:
    with Image.open(path) as im:
        face = np.asarray(im.convert("RGB"))
    for side in (256, 512):
        small = np.asarray(Image.fromarray(face).resize((side, side), Image.LANCZOS))
        show(path.name, side, [(f, [round(r, 3) for r in readings(degrade.pixelate(small, f))])
                               for f in (1.5, 2, 3, 4)])
for name in ("mate_Aqua", "mate_YellowFlower"):
    with Image.open(f"../shared/data/natural/{name}.jpg") as im:
        show(name, [round(r, 3) for r in readings(np.asarray(im.convert("RGB"))[:512, :512])])
folder = Path(tempfile.mkdtemp())
for path in split.train[:6]:
    with Image.open(path) as im:
        face = np.asarray(im.convert("RGB").resize((256, 256), Image.LANCZOS))
    for f in (2, 3):
        for q in (75, 90, 95):
            Image.fromarray(degrade.pixelate(face, f)).save(folder / "x.jpg", quality=q)
            with Image.open(folder / "x.jpg") as im:
                show(path.name, f"pixelate {f} then JPEG {q}", [round(r, 3) for r in readings(np.asarray(im))])
