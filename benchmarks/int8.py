"""int8 vs fp32 speed in the same run, and the accuracy recorded when the int8 model was built."""

from __future__ import annotations

import json
from pathlib import Path

from .measure import sample
from .modelonly import face_batch


def compare(fp32: Path, int8: Path, sizes: tuple[int, ...], threads: int, repeats: int) -> dict:
    from facerestore.session import open_model

    a = open_model(str(fp32), device="cpu", threads=threads)
    b = open_model(str(int8), device="cpu", threads=threads)
    rows = []
    for size in sizes:
        x = face_batch(size, a.channels)
        # Interleave the two so drifting machine load hits both alike.
        ta, tb = [], []
        a.run(x), b.run(x)
        for _ in range(repeats):
            ta.append(sample(lambda: a.run(x), 1, warmup=0).median)
            tb.append(sample(lambda: b.run(x), 1, warmup=0).median)
        fa, fb = sorted(ta)[len(ta) // 2], sorted(tb)[len(tb) // 2]
        rows.append({"size": size, "fp32_s": fa, "int8_s": fb, "speedup": fa / fb})
    sidecar = int8.with_suffix(".json")
    accuracy = json.loads(sidecar.read_text()) if sidecar.is_file() else None
    return {"file": str(int8), "rows": rows, "accuracy": accuracy}
