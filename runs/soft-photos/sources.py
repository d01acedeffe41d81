import json
from pathlib import Path
from PIL import Image, ImageFilter
import numpy as np
def sources(which):
    if which == 'faces':
        split = json.load(open('/work/main/runs/darn8u-g2/split.json'))
        for name in split['val']:
            p = Path('/work/shared/data/faces/crops') / (Path(name).stem + '.png')
            im = Image.open(p).convert('RGB')
            if im.size[0] < 1000: continue
            half = im.resize((512, 512), Image.LANCZOS)
            yield p.stem + '_512', np.asarray(half)
            yield p.stem + '_256', np.asarray(im.resize((256, 256), Image.LANCZOS))
            for s in (0.7, 1.2):
                yield p.stem + f'_512b{s}', np.asarray(half.filter(ImageFilter.GaussianBlur(s)))
    elif which == 'natural':
        d = Path('/work/shared/data/natural')
        for n in ['mate_Dune', 'mate_RainDrops', 'mate_Storm', 'mate_TwoWings', 'mate_Blinds']:
            im = Image.open(d / f'{n}.jpg').convert('RGB'); w, h = im.size
            yield n + '_crop', np.asarray(im.crop((w//2-400, h//2-300, w//2+400, h//2+300)))
            yield n + '_half', np.asarray(im.resize((w//2, h//2), Image.LANCZOS).crop((w//4-400, h//4-300, w//4+400, h//4+300)))
        for n in ['skimage_chelsea', 'skimage_coffee', 'skimage_motorcycle_left', 'opencv_chicky_512', 'opencv_graf1', 'opencv_rubberwhale1']:
            yield n, np.asarray(Image.open(d / f'{n}.png').convert('RGB'))

