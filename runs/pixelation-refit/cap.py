"""The refitted pixelation curves capped at the curves they replaced from level 0.7 up (runs/README.txt, "Marked
upscales"): a file read as pixelation that the constraint cannot hold is restored no harder than before.
  python runs/pixelation-refit/cap.py {curves,gray_curves} BEFORE.json OUT.json NAME=FIT.json..."""
import json
import sys
from pathlib import Path

FROM_LEVEL = 0.7
key, before_path, out_path = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
before = json.loads(before_path.read_text())
out = {key: {}}
for arg in sys.argv[4:]:
    name, fit_path = arg.split("=", 1)
    fitted = json.loads(Path(fit_path).read_text())[key][name]
    # A model without gray curves followed its colour ones in gray.
    old_row = before[key].get(name) or before["curves"][name]
    assert fitted["levels"] == old_row["levels"]
    old = old_row["strengths"]["pixelation"]
    capped = [min(new, was) if level >= FROM_LEVEL - 1e-9 else new
              for level, new, was in zip(fitted["levels"], fitted["strengths"]["pixelation"], old)]
    out[key][name] = {"levels": fitted["levels"], "strengths": {"pixelation": capped},
                      "made_worse": fitted["made_worse"]}
    print(f"{key}.{name}: before {old}\n  refit  {fitted['strengths']['pixelation']}\n  capped {capped}")
out_path.write_text(json.dumps(out, indent=1) + "\n")
