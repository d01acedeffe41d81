#!/usr/bin/env bash
# DARN stage W1 on a lent GPU: the shipped darn (stage G2) trained on with 20 % more patches served as lossy WebP
# (train --webp-share), in one device call (its plan and selection rule: runs/README.txt, stage W1).
#
# Here, first (the packed crops travel beside the tree; the test faces only as 1-px stand-ins):
#   python -m export.pack ../shared/data/faces --extra ../shared/data/natural -o .gpudata
# then the device tool's run, from the repository root there:
#   command "bash runs/gpu_darn_w1.sh", carry [".gpudata"], timeout_s 600
# and back here: copy the returned files into runs/darn8u-w1/ and apply the rule.
set -euo pipefail
: "${OUT:?the device machine sets OUT}"
# train refuses to train over a run: to repeat the stage, give a fresh folder (RUN=runs/darn8u-w1-again ...).
RUN=${RUN:-runs/darn8u-w1}
MINUTES=${MINUTES:-8}
export PYTHONUNBUFFERED=1

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv >"$OUT/gpu.txt" 2>&1 || true

# The packed folder must split into the same training, validation and test faces as the stage it starts from:
# otherwise validation would score faces the model trained on.
python3 - <<'PY'
import json, sys
from pathlib import Path
from export.data import split_faces

split = split_faces(Path(".gpudata/faces"))
want = json.loads(Path("runs/darn8u-g2/split.json").read_text())
for part in ("train", "val", "test"):
    got = sorted(Path(p.name).stem for p in getattr(split, part))
    if got != sorted(Path(n).stem for n in want[part]):
        sys.exit(f"the packed faces split differently from runs/darn8u-g2 ({part}); not training")
print("split matches runs/darn8u-g2")
PY

python3 -m export train --arch darn8u --data .gpudata/faces --extra .gpudata/natural --out "$RUN" \
    --init runs/darn8u-g2/best --epochs 100 --steps-per-epoch 500 --batch 32 --patch 256 --lr 5e-5 --lr-min 5e-6 \
    --loss mse --ema 0.999 --fp32 --workers 14 --minutes "$MINUTES" --seed 51 --banding-only 0.15 \
    --webp-share 0.2 --no-progress 2>&1 | tee "$OUT/train.log"

cp "$RUN/best.safetensors" "$RUN/best.json" "$RUN/last.safetensors" "$RUN/last.json" "$RUN/curves.csv" \
    "$RUN/split.json" "$OUT/"
