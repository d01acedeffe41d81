"""The refitted pixelation curves capped at the curves they replaced from level 0.7 up (runs/README.txt, "Marked
upscales"): a file read as pixelation that the constraint cannot hold is restored no harder than before.
--monotone ("Pixelation curves refitted, capped monotone"): the curves they replaced from level 0.7 up, and every
knot below at most the value they had at 0.7, so more damage never gets less restoration.
  python runs/pixelation-refit/cap.py {curves,gray_curves} BEFORE.json OUT.json NAME=FIT.json... [--monotone]"""
import json
import sys
from pathlib import Path

FROM_LEVEL = 0.7
monotone = "--monotone" in sys.argv
args = [a for a in sys.argv[1:] if a != "--monotone"]
key, before_path, out_path = args[0], Path(args[1]), Path(args[2])
before = json.loads(before_path.read_text())
out = {key: {}}
for arg in args[3:]:
    name, fit_path = arg.split("=", 1)
    fitted = json.loads(Path(fit_path).read_text())[key][name]
    # A model without gray curves followed its colour ones in gray.
    old_row = before[key].get(name) or before["curves"][name]
    assert fitted["levels"] == old_row["levels"]
    old = old_row["strengths"]["pixelation"]
    if monotone:
        ceiling = old[fitted["levels"].index(FROM_LEVEL)]
        capped = [was if level >= FROM_LEVEL - 1e-9 else min(new, ceiling)
                  for level, new, was in zip(fitted["levels"], fitted["strengths"]["pixelation"], old)]
        assert all(a <= b for a, b in zip(capped, capped[1:])), capped
    else:
        capped = [min(new, was) if level >= FROM_LEVEL - 1e-9 else new
                  for level, new, was in zip(fitted["levels"], fitted["strengths"]["pixelation"], old)]
    out[key][name] = {"levels": fitted["levels"], "strengths": {"pixelation": capped},
                      "made_worse": fitted["made_worse"]}
    print(f"{key}.{name}: before {old}\n  refit  {fitted['strengths']['pixelation']}\n  capped {capped}")
out_path.write_text(json.dumps(out, indent=1) + "\n")
