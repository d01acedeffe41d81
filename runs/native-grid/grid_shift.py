"""Is a loss measured on a face at its own size the restoration's or its reference's?

A face cropped from a JPEG at its own size keeps the source's 8 px blocks; saved again as a JPEG on the same grid it
reproduces itself almost exactly, and a restoration that takes JPEG steps off is scored against a reference that
has them. Cropping the face 1-4 px off that grid before saving moves the new grid off the old one. Each face is
saved at JPEG 85 and 95 at each offset, restored by `big` under auto (the runtime's analysis, strength and JPEG
constraint) and scored as a PNG against the crop it was saved from.

    PYTHONPATH=. python runs/native-grid/grid_shift.py 023 159 160 > runs/native-grid/grid_shift.txt
"""
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from facerestore.damage.analysis import analyze
from facerestore.damage.strength import decide_image
from facerestore.imageio import read_image
from facerestore.registry import MODELS_DIR
from facerestore.restore import restore_image
from facerestore.session import open_model

FACES = Path(__file__).resolve().parents[3] / "shared" / "data" / "faces" / "crops"
TMP = Path("/tmp/grid_shift.jpg")


def psnr(a, b):
    return 10 * np.log10(1 / np.mean((a.astype(np.float64) - b) ** 2))


def main(names):
    big = open_model(MODELS_DIR / "big.onnx", device="cpu")
    print("face\toffset\tquality\tread\tstrength\tinput_dB\toutput_dB\tgain_dB")
    for name in names:
        whole = Image.open(FACES / f"{name}.png").convert("RGB")
        for off in (0, 1, 3, 4):
            im = whole.crop((off, off, whole.width - 8 + off, whole.height - 8 + off))
            ref = np.asarray(im, dtype=np.float64) / 255
            for q in (85, 95):
                im.save(TMP, "JPEG", quality=q)
                loaded = read_image(TMP)
                damage = analyze(loaded)
                decision = decide_image(big, damage, loaded.pixels.shape)
                out = loaded.pixels if decision.unchanged else restore_image(big, loaded, damage,
                                                                             strength=decision.strength)
                a, b = psnr(loaded.pixels, ref), psnr(np.round(out * 255) / 255, ref)
                print(f"{name}\t{off}\t{q}\t{damage.jpeg_quality}\t{decision.strength}\t{a:.2f}\t{b:.2f}\t{b - a:+.2f}")


if __name__ == "__main__":
    main(sys.argv[1:])
