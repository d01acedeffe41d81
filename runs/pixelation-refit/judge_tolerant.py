"""The tolerant block reading's rule (runs/README.txt, "Tolerant block reading") applied to tolerant.py's rows.
  python runs/pixelation-refit/judge_tolerant.py ROWS.json
  python runs/pixelation-refit/judge_tolerant.py --held ROWS.json   (criterion (3) alone, on the marked files the
                                                                    strict reading holds: tolerant.py --held)
  python runs/pixelation-refit/judge_tolerant.py --limit 0.1 --no-new-harm ROWS.json   (the second gray rule's (3'):
                                                                    gray_tolerant.py)
  python runs/pixelation-refit/judge_tolerant.py --held --no-new-harm ROWS.json   (ink blocks in colour, flat
                                                                    stretches: every file restored, where the
                                                                    readings differ; gray rows apart)
  python runs/pixelation-refit/judge_tolerant.py --gray-rule3 ROWS.json   (the third gray rule's (3''): each model's
                                                                    files weighed together, a group's mean may
                                                                    fall by 0.05 dB, a restoration by 0.25)"""
import collections
import json
import sys

MODELS = ("basic", "big", "gan", "darn")
MARKED = ("watermark", "caption", "logo", "stamp", "translucent", "banner", "signature")
held = "--held" in sys.argv
limit = float(sys.argv[sys.argv.index("--limit") + 1]) if "--limit" in sys.argv else 0.05
no_new_harm = "--no-new-harm" in sys.argv  # a restoration worse than its input fails only where it was not before
rule3 = "--gray-rule3" in sys.argv
if rule3:
    limit, no_new_harm, group_slack = 0.25, True, 0.05
else:
    group_slack = 0.0
rows = json.load(open(sys.argv[-1]))
ok = True
if held:
    judged = [r for r in rows if "darn" in r]
else:
    newly = [r for r in rows if r["old_constraint"] != r["new_constraint"]]
    other = [r for r in newly if r["variant"] not in MARKED]
    print(f"(1) other variants given a constraint they did not have: {len(other)}")
    ok &= not other
    judged = [r for r in rows if r["variant"] in MARKED and r["kind"] == "pixelation" and r["old_constraint"] is None]
    unheld = [r for r in judged if r["new_constraint"] != "PixelationConstraint"]
    print(f"(2) marked files the strict reading left without a constraint: {len(judged)}; still without: "
          f"{len(unheld)}")
    ok &= not unheld
groups = collections.defaultdict(list)
for r in judged:
    groups[(r["variant"] + (" gray" if r.get("gray") else ""), r["side"], r["f"])].append(r)
failed = set()
for key, group in sorted(groups.items()):
    parts = []
    for name in MODELS:
        old = [r[name]["old"][1] - r["input"] for r in group]
        new = [r[name]["new"][1] - r["input"] for r in group]
        lower = [n - o for n, o in zip(new, old) if n - o < -limit]
        worse = sum(n < 0 for n in new)
        harmed = sum(n < 0 <= o for n, o in zip(new, old))
        parts.append(f"{name} {sum(old) / len(old):+.2f} -> {sum(new) / len(new):+.2f} "
                     f"({len(lower)} lower, {worse} worse than input"
                     + (f" ({harmed} not before)" if no_new_harm else "") + f", min {min(new):+.2f})")
        if sum(new) < sum(old) - group_slack * len(group) or lower or (no_new_harm and harmed):
            failed.add(name)
    print(f"(3) {key[0]:11s} {key[1]} f={key[2]}: {len(group)} | " + " | ".join(parts))
if rule3:
    for name in MODELS:
        old = sum(r[name]["old"][1] - r["input"] for r in judged) / len(judged)
        new = sum(r[name]["new"][1] - r["input"] for r in judged) / len(judged)
        print(f"(3) {name} over all {len(judged)} files: {old:+.3f} -> {new:+.3f}")
        if new < old:
            failed.add(name)
print("(3) failed by: " + (", ".join(sorted(failed)) or "none"))
print("passed" if ok and not failed else "failed")
