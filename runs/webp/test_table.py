"""WebP rows of the model card: the test faces saved as lossy WebP, restored as enhance --strength auto does.

    PYTHONPATH=. python runs/webp/test_table.py > runs/webp/test_table.md

export.archive_eval on WEBP_DEGRADATIONS' qualities (the same code path as the archive table), the classical
filters tuned on the validation faces for each quality, scored on the test faces.
"""
import json
import sys
from pathlib import Path

from export.archive_eval import evaluate, write_report

ROOT = Path(__file__).resolve().parents[2]
models = {name: ROOT / "facerestore" / "models" / f"{name}.onnx" for name in ("big", "darn")}
report = evaluate(ROOT.parent / "shared" / "data" / "faces", models,
                  degradations=("webp5", "webp10", "webp20", "webp40", "webp60", "webp75", "webp90"), threads=2)
here = Path(__file__).parent
sys.stdout.write(write_report(report, here / "test_table.json", here / "test_table.md"))
