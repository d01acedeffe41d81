"""Score the archive audit's non-JPEG files restored by two trees: `facerestore enhance in -o RUN_MODEL --format png
--json > RUN_MODEL.jsonl` with each tree (PYTHONPATH=<worktree> for the older) over in/, every case of the audit's
manifest.csv and manifest2.csv whose file is no JPEG or WebP (224), copied as ORIGIN__VARIANT.ext; refs.json maps
each to its reference (audit_build.py's refs/, audit_followup.py's refs2/).

    python audit_copies_score.py big darn base after     # RUN names: the tree before, the tree after
"""
import json, sys
import numpy as np
from pathlib import Path
from PIL import Image
refs = json.load(open('refs.json'))
def px(p, mode):
    with Image.open(p) as im: return np.asarray(im.convert(mode), dtype=np.float64)
def psnr(a, b):
    m = np.mean((a - b) ** 2); return float('inf') if m == 0 else 10 * np.log10(255 ** 2 / m)
def score(run):
    out = {}
    for l in open(run):
        r = json.loads(l); name = Path(r['input']).name
        with Image.open(refs[name]) as im: mode = 'L' if im.mode in ('L', 'LA', 'I;16', 'I') else 'RGB'
        ref = px(refs[name], mode); inp = px(r['input'], mode)
        o = px(r['output'], mode) if r.get('output') else inp
        pi, po = psnr(inp, ref), psnr(o, ref)
        out[name] = (po - pi) if np.isfinite(pi) else 0.0
    return out
for m in sys.argv[1:-2]:
    b, a = score(f'{sys.argv[-2]}_{m}.jsonl'), score(f'{sys.argv[-1]}_{m}.jsonl')
    common = sorted(set(a) & set(b))
    ch = [n for n in common if abs(a[n] - b[n]) > 1e-6]
    print(m, 'cases', len(common), 'changed', len(ch), 'mean before %+.3f after %+.3f' % (np.mean([b[n] for n in common]), np.mean([a[n] for n in common])),
          'worse before', sum(b[n] < -0.005 for n in common), 'after', sum(a[n] < -0.005 for n in common))
    print('  changed mean before %+.3f after %+.3f' % (np.mean([b[n] for n in ch]) if ch else 0, np.mean([a[n] for n in ch]) if ch else 0))
    for n in sorted(ch, key=lambda n: a[n] - b[n])[:5] + sorted(ch, key=lambda n: a[n] - b[n])[-5:]:
        print('  %-40s %+.3f -> %+.3f' % (n, b[n], a[n]))
    for n in common:
        if a[n] < -0.005: print('  worse after', n, '%+.3f' % a[n])
