"""The second rule's table from copies_measure.py's records of the tree before and after:
    python runs/jpeg-copy/copies_summarize.py copies_before_big.json copies_after_big.json > copies_big.txt"""
import json, sys
from collections import defaultdict
import numpy as np

before, after = (json.load(open(p)) for p in sys.argv[1:3])
rows = defaultdict(dict)
for tree, records in (("before", before), ("after", after)):
    for r in records:
        rows[r["side"], r["gray"], r["q"]].setdefault((tree, r["kind"]), []).append(r)
passed = True
for (side, gray, q), cells in rows.items():
    def stats(key):
        gains = np.array([r["gain"] for r in cells.get(key, [])])
        return (gains.mean(), int((gains < -1e-9).sum()), sum(r["read"] is not None for r in cells.get(key, []))) \
            if len(gains) else (float("nan"), 0, 0)
    b, a = stats(("before", "copy")), stats(("after", "copy"))
    j = stats(("after", "jpeg"))
    if q is None:
        ok = a[2] == 0
        line = f"read as JPEG: before {b[2]}, after {a[2]}"
    else:
        ok = a[0] >= b[0] - 1e-9 and a[1] <= max(b[1], j[1])
        line = (f"copies {b[0]:+.3f} ({b[1]} worse, {b[2]} read) -> {a[0]:+.3f} ({a[1]} worse, {a[2]} read); "
                f"JPEG files {j[0]:+.3f} ({j[1]} worse)")
    passed &= ok
    print(f"{side} {'gray  ' if gray else 'colour'} {str(q):>4}: {line}{'' if ok else '   FAILS'}")
print("rule:", "passed" if passed else "failed")
