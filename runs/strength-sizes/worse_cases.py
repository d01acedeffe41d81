import sys, numpy as np
from pathlib import Path
sys.path.insert(0, '/work/main')
from export.fit_strength import fit_cases, _strength_now, _at, Table
cases = fit_cases(Path('/work/shared/data/faces'), sides=(256, 512))
z = np.load('/work/main/runs/strength-sizes/table.npz')
t = Table(cases, z['psnr'], z['input_psnr'])
now = _at(t, np.array([_strength_now('big', False, c, False) for c in cases]))
for deg in ('clean', 'jpeg95'):
    for i, c in enumerate(cases):
        if c.degradation == deg and now[i] < t.input_psnr[i] - 1e-9:
            d = c.damage
            print(deg, c.face, c.hq.shape[:2], 'kind', d.kind, 'q', d.jpeg_quality, d.jpeg_quality_source, 'level %.3f' % d.level, 'gain %+.3f' % (now[i] - t.input_psnr[i]))
