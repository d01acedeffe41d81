#!/usr/bin/env bash
# DARN stage G2 on a lent GPU: stage G1's script trained on from runs/darn8u-g1/best at a lower rate (its plan and
# selection rule: runs/README.txt).
#
# Here, first: the packed crops as for stage G1 (runs/gpu_darn_g1.sh), and runs/darn8u2/best.safetensors moved
# aside for the call, so the tree with .gpudata fits the 64 MiB the device takes; then the device tool's run:
#   command "bash runs/gpu_darn_g2.sh", carry [".gpudata"], timeout_s 385
# and back here: copy the returned files into runs/darn8u-g2/ and apply the rule.
set -euo pipefail
: "${OUT:?the device machine sets OUT}"
# Its run folder now holds the stage's records, and train refuses to train over a run: to repeat the stage,
# give a fresh one (RUN=runs/darn8u-g2-again bash runs/gpu_darn_g2.sh).
RUN=${RUN:-runs/darn8u-g2}
export PYTHONUNBUFFERED=1

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv >"$OUT/gpu.txt" 2>&1 || true

# The packed folder must split into the same training, validation and test faces as the stage it starts from:
# otherwise validation would score faces the model trained on.
python3 - <<'EOF'
import json, sys
from pathlib import Path
from export.data import split_faces

split = split_faces(Path(".gpudata/faces"))
want = json.loads(Path("runs/darn8u2/split.json").read_text())
for part in ("train", "val", "test"):
    got = sorted(Path(p.name).stem for p in getattr(split, part))
    if got != sorted(Path(n).stem for n in want[part]):
        sys.exit(f"the packed faces split differently from runs/darn8u2 ({part}); not training")
print("split matches runs/darn8u2")
EOF

python3 -m export train --arch darn8u --data .gpudata/faces --extra .gpudata/natural --out "$RUN" \
    --init runs/darn8u-g1/best --epochs 100 --steps-per-epoch 500 --batch 32 --patch 256 --lr 5e-5 --lr-min 5e-6 \
    --loss mse --ema 0.999 --fp32 --workers 14 --minutes 4.2 --seed 33 --banding-only 0.15 --no-progress \
    2>&1 | tee "$OUT/train.log"

cp "$RUN/best.safetensors" "$RUN/best.json" "$RUN/curves.csv" "$RUN/split.json" "$OUT/"
