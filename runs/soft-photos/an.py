import json, sys, numpy as np
rows = json.load(open(sys.argv[1]))
G = np.linspace(0, 1, 11)
for r in rows:
    g = np.array(r['grid']) - r['input']
    at = np.interp(r['auto'], G, g) if r['auto'] > 0 else 0
    fine = np.linspace(0,1,101); gi = np.interp(fine, G, g)
    r['gauto'] = at; r['sopt'] = fine[gi.argmax()]; r['gopt'] = gi.max()
print(f"{'name':28s} q  auto  gain@auto  sopt gopt corr_rms nz mean|k|")
for r in rows:
    flag = ' <<' if r['gauto'] < 0 else ''
    print(f"{r['name'][:28]:28s} {r['q']:2d} {r['auto']:.2f} {r['gauto']:+.2f} {r['sopt']:.2f} {r['gopt']:+.2f} {r['corr_rms']:.2f} {r['nz']:.3f} {r['mean_abs_k']:.2f}{flag}")
