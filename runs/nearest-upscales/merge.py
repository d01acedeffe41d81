"""The nearest-upscales fit's pixelation curves into strength.json, for the models whose refit passed its rule
(runs/README.txt, "Whole duplicated lines" and after): only the pixelation curve of each is replaced.
  PYTHONPATH=. python runs/nearest-upscales/merge.py [--constraint] colour:big=FIT.json gray:big=FIT.json ...
--constraint: the refit with the pixelation constraint (runs/README.txt, "Pixelation curves refitted with the
pixelation constraint"), named with its models in fitted_on / gray_fitted_on."""
import json
import re
import sys
from pathlib import Path

from export.archive import FIT_DEGRADATIONS

UPSCALED = "exactly 256 and 512 px, smaller faces upscaled (LANCZOS)"
path = Path("facerestore/models/strength.json")
doc = json.loads(path.read_text())
args = sys.argv[1:]
constraint = args[:1] == ["--constraint"]
REFIT = "; pixelation curves refitted with the pixelation constraint on 2026-12-06 (runs/pixelation-refit): "
for arg in args[constraint:]:
    which, rest = arg.split(":", 1)
    name, fit_path = rest.split("=", 1)
    key = "gray_curves" if which == "gray" else "curves"
    fitted = json.loads(Path(fit_path).read_text())[key][name]
    row = doc[key][name]
    assert fitted["levels"] == row["levels"]
    row["strengths"]["pixelation"] = fitted["strengths"]["pixelation"]
    others = row["sizes"].split(";")[0]  # the sizes its other curves were fitted at
    row["sizes"] = UPSCALED if others == UPSCALED else f"{others}; its pixelation curve {UPSCALED}"
    if constraint:
        on = "gray_fitted_on" if which == "gray" else "fitted_on"
        named = re.search(re.escape(REFIT) + r"([a-z, ]+)$", doc[on])
        models = sorted(set(named.group(1).split(", ") if named else []) | {name})
        doc[on] = (doc[on][:named.start()] if named else doc[on]) + REFIT + ", ".join(models)
    print(f"{key}.{name}: pixelation {fitted['strengths']['pixelation']}; sizes: {row['sizes']}")
doc["fitted_on"] = doc["fitted_on"].replace(doc["fitted_on"].split(" ways: ")[1].split(";")[0],
                                            ", ".join(FIT_DEGRADATIONS)).replace("damaged 25 ways",
                                                                                 f"damaged {len(FIT_DEGRADATIONS)} ways")
JOINED = ("; the nearest upscales by 1.2-1.5 (read as pixelation) joined on 2026-12-06, when the "
          "pixelation curves were refitted: a model's other curves were fitted on the other 25")
if JOINED not in doc["fitted_on"]:  # a later merge of another model's curve must not repeat it
    doc["fitted_on"] += JOINED
doc["gray_fitted_on"] = doc["gray_fitted_on"].replace("the 25 ways", f"the {len(FIT_DEGRADATIONS)} ways")
path.write_text(json.dumps(doc, indent=1) + "\n")
