"""The shipped ink reading (facerestore.pixelation_constraint._ink_blocks) against the version judged by the "Ink
blocks" rule (old_ink below, which sorted every pixel of the mixed blocks), on the marks read from validation and
training variants in colour and gray: counts the reads, those the ink changed, and any where the two differ.
  PYTHONPATH=. python runs/pixelation-refit/ink_equivalence.py"""
import sys
from pathlib import Path
import numpy as np
from PIL import Image
sys.path.insert(0, "/work/main/runs/pixelation-refit")
import facerestore.pixelation_constraint as pc
from export.data import load_rgb, split_faces
from gray_tolerant import newer_marks
from unconstrained import variants

def old_ink(values, block, kept, whole):
    _, key = np.unique(values, axis=0, return_inverse=True)
    key = key.ravel()
    marked = key[~kept]
    if marked.size == 0:
        return kept
    ink = np.bincount(marked, minlength=key.max() + 1) >= pc.INK_SHARE * marked.size
    for k in np.flatnonzero(ink):
        ink[k] = not (whole == values[key == k][0]).all(axis=-1).any()
    blocks, which = np.unique(block, return_inverse=True)
    value = np.empty(blocks.size, dtype=key.dtype)
    value[which[kept]] = key[kept]
    other = ~ink[key] & ink[value][which]
    low = np.full(blocks.size, key.size); high = np.full(blocks.size, -1)
    np.minimum.at(low, which[other], key[other]); np.maximum.at(high, which[other], key[other])
    again = low == high
    return np.where(again[which], key == low[which], kept)

captured = {}
real = pc._ink_blocks
def spy(values, block, kept, blocks, whole_values):
    new = real(values, block, kept, blocks, whole_values)
    old = old_ink(values, block, kept, whole_values())
    captured["n"] = captured.get("n", 0) + 1
    if not np.array_equal(new, old):
        captured["diff"] = captured.get("diff", 0) + 1
    captured["changed"] = captured.get("changed", 0) + int(not np.array_equal(new, kept))
    return new
pc._ink_blocks = spy
split = split_faces(Path("/work/shared/data/faces"))
for face in split.val[:6] + split.train[2::17]:
    for side in (256, 512):
        im = Image.fromarray(load_rgb(face, side, True))
        for f in (1.5, 2, 3):
            for label, damaged, *_ in [*variants(im, f), *newer_marks(im, f)]:
                for gray in (False, True):
                    p = (np.asarray(damaged.convert("L"))[..., None] if gray else np.asarray(damaged)).astype(np.float32) / 255
                    rows, cols = pc.block_starts(p, 0, pc.MARK_SHARE), pc.block_starts(p, 1, pc.MARK_SHARE)
                    pc.marked_pixels(p, rows, cols)
print(captured)
