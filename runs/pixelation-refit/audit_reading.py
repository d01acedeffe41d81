"""The archive audit's files (runs/graphics/audit_build.py, audit_followup.py): does the tolerant reading give
any a pixelation constraint the strict one did not? Reading only.
  PYTHONPATH=. python runs/pixelation-refit/audit_reading.py"""
import csv
from collections import Counter
from pathlib import Path

import facerestore.pixelation_constraint as pc
from facerestore.constraints import read_constraint
from facerestore.damage.analysis import analyze
from facerestore.imageio import read_image

counts = Counter()
for manifest in ("/tmp/neverworse/manifest.csv", "/tmp/neverworse/manifest2.csv"):
    for row in csv.DictReader(open(manifest)):
        path = Path(row["file"])
        if not path.is_absolute():
            path = Path("/tmp/neverworse") / path
        try:
            loaded = read_image(path)
        except Exception:  # noqa: BLE001  (counted, as the audit counts its unreadable files)
            counts["unreadable"] += 1
            continue
        damage = analyze(loaded)
        tolerance = pc.MARK_SHARE
        pc.MARK_SHARE = 0.0
        strict = read_constraint(loaded, damage)
        pc.MARK_SHARE = tolerance
        tolerant = read_constraint(loaded, damage)
        key = (type(strict).__name__, type(tolerant).__name__)
        counts[key] += 1
        if key[0] != key[1]:
            print(path, damage.kind, damage.pixelation, key, flush=True)
        if damage.pixelation > 1.0:
            counts["pixelation read > 1"] += 1
print(dict(counts))
