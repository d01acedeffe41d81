"""The 20 validation faces (runs/darn8u-g2/split.json, "val") as the copy measurements here resize them."""
import io
import json
from pathlib import Path

import numpy as np
from PIL import Image

SPLIT = Path("/work/main/runs/darn8u-g2/split.json")
CROPS = Path("/work/shared/data/faces/crops")


def faces():
    return [CROPS / Path(n).with_suffix(".png").name for n in json.loads(SPLIT.read_text())["val"]]


def resized(path, side, gray):
    """(the face with its longest side ``side`` px, LANCZOS, colour or gray; its pixels H x W x C, the reference)."""
    im = Image.open(path).convert("L" if gray else "RGB")
    s = side / max(im.size)
    im = im.resize((round(im.width * s), round(im.height * s)), Image.LANCZOS)
    hq = np.asarray(im)
    return im, (hq[..., None] if gray else hq)


def png_copy(im, quality, path):
    """``im`` saved as a JPEG at ``quality`` (Pillow's default 4:2:0), decoded and saved as the PNG ``path``."""
    b = io.BytesIO()
    im.save(b, "JPEG", quality=quality)
    b.seek(0)
    Image.open(b).save(path, "PNG")
