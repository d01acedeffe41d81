"""The rule's judgement (runs/README.txt, "Pixelation constraint") on validate.py's output: per model, damage and
size, faces worse than their input and mean gain with the constraint, and its mean against without.
  python runs/pixelation-constraint/judge.py OUT.json"""
import json
import sys
from collections import defaultdict

import numpy as np

doc = json.load(open(sys.argv[1]))
groups = defaultdict(list)
for row in doc["pixelation"]:
    groups[(row["damage"], row["side"])].append(row)
failures = []
print(f"other damages constrained: {doc['other_damages_constrained']}")
for (damage, side), rows in groups.items():
    constrained = sum(r["constrained"] for r in rows)
    line = f"{damage:14s} {side}: constrained {constrained}/{len(rows)}"
    for name in ("basic", "big", "gan", "darn"):
        without = np.array([r[name]["without"] - r["input"] for r in rows])
        with_ = np.array([r[name]["with"] - r["input"] for r in rows])
        worse = int((with_ < -1e-9).sum())
        line += f" | {name} {without.mean():+.2f} -> {with_.mean():+.2f} ({worse} worse, min {with_.min():+.2f})"
        if worse > len(rows) // 20 or with_.mean() < 0:
            failures.append(f"(a) {name} {damage} {side}")
        if with_.mean() < without.mean() - 0.01:
            failures.append(f"(b) {name} {damage} {side}")
    print(line)
if doc["other_damages_constrained"]:
    failures.append("(c)")
print("passed" if not failures else f"failed: {failures}")
