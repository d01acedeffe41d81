"""The rule's table from turned_measure.py's parts before and after:
  python runs/jpeg-copy/turned_summarize.py BEFORE.json[.gz] AFTER.json[.gz]   (each the parts merged: see --merge)
  python runs/jpeg-copy/turned_summarize.py --merge OUT.json PART.json...      (one tree's parts into one file)
Per row (size, colour or gray, quality, turn): turned copies read as their unturned copy (quality, grid turned)
before -> after, the mean gain before -> after, faces worse before -> after, and the JPEG files' of the same pixels
(mean, faces worse); the unturned copies' and JPEG files' analysis and output before against after; the never-JPEG
images read as a JPEG before -> after. Ends with the rule's verdict on (1)-(4); (5) is bench_damage's."""
import gzip, json, sys
from collections import defaultdict

import numpy as np

load = lambda p: json.load(gzip.open(p, "rt") if p.endswith(".gz") else open(p))
if sys.argv[1] == "--merge":
    parts = [load(p) for p in sys.argv[3:]]
    merged = dict(parts[0], part="merged", copies=[r for p in parts for r in p["copies"]],
                  clean=[r for p in parts for r in p["clean"]])
    assert all(p["sha256"] == parts[0]["sha256"] and p["tree"] == parts[0]["tree"] for p in parts)
    json.dump(merged, open(sys.argv[2], "w"))
    sys.exit()
before, after = load(sys.argv[1]), load(sys.argv[2])
WORSE = -1e-6  # dB: a face's output below its input


def turned_grid(grid, width, turn):
    """The unturned copy's grid (rows, columns) where the turn puts it (Pillow's ROTATE_90 is counter-clockwise)."""
    gy, gx = grid
    return [(width - gx) % 8, gy] if turn == "rot90" else [gx, gy]


def rows(data):
    out = defaultdict(list)
    for r in data["copies"]:
        out[r["side"], r["gray"], r["q"], r["turn"]].append(r)
    return out


b_rows, a_rows = rows(before), rows(after)
failures = []
print(f"before {before['tree']} {before['sha256']}\nafter  {after['tree']} {after['sha256']}")
if before["sha256"] != after["sha256"]:
    failures.append("the trees' big.onnx or strength.json differ")
print("side  image  q   turn       read b->a  mean gain b -> a          worse b->a  JPEG file: mean, worse")
changed = 0
for key in sorted(k for k in b_rows if k[3] == "none" and k in a_rows):
    b, a = b_rows[key], a_rows[key]
    assert [r["face"] for r in b] == [r["face"] for r in a]
    for rb, ra in zip(b, a):  # (2): the unturned copy and the JPEG file, analysed and restored as before
        if (rb["analysis"], rb["out"], rb["jpeg_analysis"], rb["jpeg_out"]) != (ra["analysis"], ra["out"],
                                                                              ra["jpeg_analysis"], ra["jpeg_out"]):
            changed += 1
            failures.append(f"(2) {key} {ra['face']}: unturned copy or JPEG file changed")
        if ra["transposed"]:
            failures.append(f"(2) {key} {ra['face']}: unturned copy read as transposed")
for key in sorted(k for k in b_rows if k[3] != "none" and k in a_rows):
    b, a = b_rows[key], a_rows[key]
    unturned = {r["face"]: r for r in a_rows[key[:3] + ("none",)]}
    assert [r["face"] for r in b] == [r["face"] for r in a]

    def as_unturned(r):
        u = unturned[r["face"]]
        return (r["read"] == u["read"] and u["read_grid"] is not None
                and r["read_grid"] == turned_grid(u["read_grid"], u["width"], r["turn"]))

    right = lambda rs: sum(r["read"] is not None and as_unturned(r) for r in rs)
    wrong = [r["face"] for r in a if r["read"] is not None and not as_unturned(r)]
    gb, ga = np.mean([r["gain"] for r in b]), np.mean([r["gain"] for r in a])
    wb, wa = sum(r["gain"] < WORSE for r in b), sum(r["gain"] < WORSE for r in a)
    jw = sum(r["jpeg_gain"] < WORSE for r in a)
    jm = np.mean([r["jpeg_gain"] for r in a])
    side, gray, q, turn = key
    flag = []
    if wrong:
        flag.append(f"(3) misread {wrong}")
    if ga < gb - 1e-9:
        flag.append("(4) mean below before")
    if wa > max(wb, jw):
        flag.append("(4) more faces worse")
    failures += [f"{key}: {f}" for f in flag]
    print(f"{side:4d} {'gray  ' if gray else 'colour'} {q:3d} {turn:9s} {right(b):2d} -> {right(a):2d}   "
          f"{gb:+.3f} -> {ga:+.3f} ({ga - gb:+.3f})   {wb:2d} -> {wa:2d}   {jm:+.3f}, {jw:2d}  {'; '.join(flag)}")
n_unturned = sum(len(v) for k, v in a_rows.items() if k[3] == "none" and k in b_rows)
print(f"(2) unturned copies and JPEG files with any change in analysis or output: {changed} of {n_unturned}")

clean_b, clean_a, newly = defaultdict(int), defaultdict(int), []
for rb, ra in zip(before["clean"], after["clean"]):
    assert (rb["source"], rb["kind"], rb["turn"]) == (ra["source"], ra["kind"], ra["turn"])
    kind = f"{ra['kind']} {ra['turn']}"
    clean_b[kind] += rb["read"] is not None
    clean_a[kind] += ra["read"] is not None
    if ra["read"] is not None and rb["read"] is None:
        newly.append((ra["source"], kind, ra["read"], ra["read_grid"]))
    if ra["read"] is not None:
        print(f"  never-JPEG read: {ra['source']} {kind}: before {rb['read']} {rb['read_grid']}, after {ra['read']} "
              f"{ra['read_grid']} transposed {ra['transposed']}")
print("(1) never-JPEG images read as a JPEG, before -> after:")
for kind in clean_b:
    n = sum(f"{r['kind']} {r['turn']}" == kind for r in after["clean"])
    print(f"  {kind}: {clean_b[kind]} -> {clean_a[kind]} of {n}")
if newly:
    failures.append(f"(1) never-JPEG images read that were not before: {newly}")
print("rule (1)-(4):", "passed" if not failures else "FAILED")
for f in failures:
    print("  ", f)
