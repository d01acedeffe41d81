"""Mean gain, faces worse (by more than 0.05 dB) and the worst case per group, old level -> new, of compare_levels."""
import csv, sys
import numpy as np
rows = list(csv.DictReader(open(sys.argv[1])))
def line(sel, label):
    out = []
    for m in ("big", "darn"):
        o = np.array([float(r[f"{m}_old"]) for r in sel]); n = np.array([float(r[f"{m}_new"]) for r in sel])
        out.append(f"{m} {o.mean():+.3f}->{n.mean():+.3f} worse {int((o<-0.05).sum())}->{int((n<-0.05).sum())} min {o.min():+.2f}->{n.min():+.2f}")
    print(f"{label:14s} n={len(sel):3d} ", " | ".join(out))
line(rows, "ALL")
tags = sorted({r["case"].split("_", 1)[1].rsplit("_q", 1)[0] for r in rows})
for t in tags:
    line([r for r in rows if r["case"].split("_", 1)[1].rsplit("_q", 1)[0] == t], t)
for q in sorted({int(r["q"]) for r in rows}):
    line([r for r in rows if int(r["q"]) == q], f"q{q}")
