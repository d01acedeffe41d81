"""Checked after the refit, not selected on: big under auto on the gray rows of the copy measurement
(runs/jpeg-copy/copies_measure.py: the 20 validation faces at exactly 256 and 512 px, gray, saved as JPEG 30-95 and
restored as enhance restores a JPEG file written as PNG), beside copies_after_big.json's rows (the shipped curves).

    PYTHONPATH=. python runs/strength-gray-soft/check_copies.py > runs/strength-gray-soft/check_copies.txt
"""
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "jpeg-copy"))
import facerestore  # noqa: E402
from facerestore.damage.analysis import analyze  # noqa: E402
from facerestore.damage.strength import decide, model_curve  # noqa: E402
from facerestore.imageio import read_image  # noqa: E402
from facerestore.metrics import psnr  # noqa: E402
from facerestore.restore import restore_image  # noqa: E402
from facerestore.session import open_model  # noqa: E402
from validation_faces import faces, resized  # noqa: E402

HERE = Path(__file__).parent
before = json.loads((HERE.parent / "jpeg-copy" / "copies_after_big.json").read_text())
model = open_model(Path(facerestore.__file__).parent / "models" / "big.onnx", device="cpu", threads=1)
u8 = lambda a: np.clip(np.rint(a * 255), 0, 255).astype(np.uint8)  # noqa: E731
tmp = Path("/tmp/check_copies.jpg")
for side in (256, 512):
    for q in (30, 50, 75, 85, 90, 95):
        gains = []
        for p in faces():
            im, hq = resized(p, side, True)
            im.save(tmp, "JPEG", quality=q)
            loaded = read_image(tmp)
            dmg = analyze(loaded)
            dec = decide(dmg.level, model_curve(model, dmg.kind, True))
            out = loaded.pixels if dec.unchanged else restore_image(model, loaded, dmg, strength=dec.strength)
            gains.append(psnr(u8(out), hq) - psnr(u8(loaded.pixels), hq))
        old = [r["gain"] for r in before if r["side"] == side and r["gray"] and r["q"] == q and r["kind"] == "jpeg"]
        print(f"{side} px gray JPEG {q}: shipped curves {np.mean(old):+.3f} dB ({sum(g < 0 for g in old)} of 20 "
              f"worse, worst {min(old):+.3f}); refit {np.mean(gains):+.3f} ({sum(g < 0 for g in gains)} worse, "
              f"worst {min(gains):+.3f})", flush=True)
