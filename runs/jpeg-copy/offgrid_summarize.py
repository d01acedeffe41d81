"""The rule's table from offgrid_measure.py's output before and after:
  python runs/jpeg-copy/offgrid_summarize.py BEFORE.json AFTER.json   (or .json.gz, as kept here)
Per row (size, colour or gray, quality, crop): copies read (at the JPEG's quality and grid) before -> after, the mean
gain before -> after, faces worse before -> after, and the JPEG files' of the same pixels (mean, faces worse);
then the never-JPEG crops read as a JPEG before -> after. Ends with the rule's verdict on (1)-(3)."""
import gzip, json, sys
from collections import defaultdict

import numpy as np

before, after = (json.load(gzip.open(p, "rt") if p.endswith(".gz") else open(p)) for p in sys.argv[1:3])
WORSE = -1e-6  # dB: a face's output below its input


def rows(data):
    out = defaultdict(list)
    for r in data["copies"]:
        out[r["side"], r["gray"], r["q"], tuple(r["offset"])].append(r)
    return out


b_rows, a_rows = rows(before), rows(after)
failures = []
print(f"before {before['tree']} {before['sha256']}\nafter  {after['tree']} {after['sha256']}")
print("side  image  q   crop    read b->a   mean gain b -> a      worse b->a  JPEG file: mean, worse")
for key in sorted(b_rows):
    b, a = b_rows[key], a_rows[key]
    assert [r["face"] for r in b] == [r["face"] for r in a]
    right = lambda rs: sum(r["read"] == r["q"] and r["read_grid"] == r["grid"] for r in rs)
    wrong = [r["face"] for r in a if r["read"] is not None and not (r["read"] == r["q"] and r["read_grid"] == r["grid"])]
    gb, ga = np.mean([r["gain"] for r in b]), np.mean([r["gain"] for r in a])
    wb, wa = sum(r["gain"] < WORSE for r in b), sum(r["gain"] < WORSE for r in a)
    jw = sum(r["jpeg_gain"] < WORSE for r in a)
    jm = np.mean([r["jpeg_gain"] for r in a])
    side, gray, q, crop = key
    flag = []
    if ga < gb - 1e-9:
        flag.append("mean below before")
    if wa > max(wb, jw):
        flag.append("more faces worse")
    if wrong:
        flag.append(f"misread {wrong}")
    failures += [f"{key}: {f}" for f in flag]
    print(f"{side:4d} {'gray  ' if gray else 'colour'} {q:3d} {str(crop):7s} {right(b):2d} -> {right(a):2d}   "
          f"{gb:+.3f} -> {ga:+.3f} ({ga - gb:+.3f})   {wb:2d} -> {wa:2d}   {jm:+.3f}, {jw:2d}  {'; '.join(flag)}")

clean_b = defaultdict(int)
clean_a = defaultdict(int)
newly = []
for rb, ra in zip(before["clean"], after["clean"]):
    assert (rb["source"], rb["kind"], rb["offset"]) == (ra["source"], ra["kind"], ra["offset"])
    clean_b[ra["kind"]] += rb["read"] is not None
    clean_a[ra["kind"]] += ra["read"] is not None
    if ra["read"] is not None and rb["read"] is None:
        newly.append((ra["source"], ra["kind"], ra["offset"], ra["read"], ra["read_grid"]))
print("never-JPEG crops read as a JPEG, before -> after:")
for kind in clean_b:
    n = sum(r["kind"] == kind for r in after["clean"])
    print(f"  {kind}: {clean_b[kind]} -> {clean_a[kind]} of {n}")
if newly:
    failures.append(f"never-JPEG crops read that were not before: {newly}")
print("rule (1)-(3):", "passed" if not failures else "FAILED")
for f in failures:
    print("  ", f)
