"""Rebuild docs/before-after.png (the README's picture) with the shipped BigCNN, through `facerestore enhance`.

    python docs/make_before_after.py

Prints the whole-image PSNR of the input and of the restored photo against the original, for the caption.
Pillow's optimised PNG is lossless but not the smallest; the committed file was recompressed losslessly with
oxipng (zopfli deflate), 434 kB -> 402 kB, pixels unchanged.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from facerestore.metrics import psnr

ROOT = Path(__file__).resolve().parent.parent
DEGRADED = ROOT / "examples/photos/more/astronaut_jpeg15.jpg"
ORIGINAL = ROOT / "examples/originals/astronaut.png"
OUT = ROOT / "docs/before-after.png"
BOX = (106, 10, 386, 290)  # the face and the top of the suit, 280 px square
SCALE = 2  # nearest-neighbour, so the blocks stay visible as blocks
GAP, LABEL = 6, 26


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in" / DEGRADED.name
        src.parent.mkdir()
        src.write_bytes(DEGRADED.read_bytes())
        subprocess.run([sys.executable, "-m", "facerestore", "enhance", str(src.parent), "-o", str(Path(tmp) / "out"),
                        "--format", "png", "--no-report", "--quiet"], check=True)
        restored = np.asarray(Image.open(Path(tmp) / "out" / f"{DEGRADED.stem}.png").convert("RGB")).copy()
    degraded = np.asarray(Image.open(DEGRADED).convert("RGB"))
    original = np.asarray(Image.open(ORIGINAL).convert("RGB"))
    print(f"PSNR input {psnr(degraded, original):.2f} dB, BigCNN {psnr(restored, original):.2f} dB")

    side = (BOX[2] - BOX[0]) * SCALE
    canvas = Image.new("RGB", (3 * side + 2 * GAP, side + LABEL), "white")
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=15)
    panels = (("JPEG quality 15 (input)", degraded), ("facerestore enhance (BigCNN)", restored), ("original", original))
    for i, (title, pixels) in enumerate(panels):
        crop = Image.fromarray(pixels).crop(BOX).resize((side, side), Image.Resampling.NEAREST)
        x = i * (side + GAP)
        canvas.paste(crop, (x, LABEL))
        width = draw.textlength(title, font=font)
        draw.text((x + (side - width) / 2, 4), title, fill="black", font=font)
    canvas.save(OUT, optimize=True)
    print(OUT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
