"""The rule of "Gray curves for soft photos: darn" and of "Colour curves for soft photos: darn" (runs/README.txt),
read off the fit's own output.

    python runs/strength-gray-soft-darn/rule.py runs/strength-gray-soft-darn/strength_fit.json gray_curves
    python runs/strength-gray-soft-darn/rule.py runs/strength-soft-darn/strength_fit.json curves
"""
import json
import sys

row = json.loads(open(sys.argv[1], encoding="utf-8").read())[sys.argv[2]]["darn"]
shipped_worse = row["made_worse_by_current_curve"]
refit_worse = row["made_worse"]
at256 = row["by_size"]["256"]
checks = {
    "(1) the shipped curves make a damage worse at either size": bool(shipped_worse),
    "(2) the refit makes none worse at either size": not refit_worse,
    "(3) 256 px mean within 0.05 dB of the shipped curves'":
        at256["validation_mean_psnr"] >= at256["validation_mean_psnr_current_curve"] - 0.05,
    "(4) combined mean within 0.05 dB of the shipped curves'":
        row["validation_mean_psnr"] >= row["validation_mean_psnr_current_curve"] - 0.05,
}
print("shipped curves make worse:", shipped_worse)
print("refit makes worse:", refit_worse)
for side, scores in row["by_size"].items():
    print(f"{side} px: refit {scores['validation_mean_psnr']:.4f}, shipped {scores['validation_mean_psnr_current_curve']:.4f}")
print(f"combined: refit {row['validation_mean_psnr']:.4f}, shipped {row['validation_mean_psnr_current_curve']:.4f}")
print("strengths:", json.dumps(row["strengths"]))
for check, ok in checks.items():
    print("passed" if ok else "FAILED", check)
print("rule:", "passed" if all(checks.values()) else "failed")
