"""Rebuild examples/photos/ from the public-domain originals in examples/originals/.

Sources (both public domain): grace_hopper.jpg, US Navy official portrait of Grace Hopper, as shipped in
matplotlib 3.11.2 (mpl-data/sample_data); astronaut.png, NASA portrait of Eileen Collins, as shipped in
scikit-image 0.26.0 (skimage/data). Run: python examples/make_examples.py
"""

from pathlib import Path

import numpy as np
from PIL import Image

from facerestore.degrade import parse_chain

HERE = Path(__file__).parent
# (original, output path under photos/, chain, save kwargs)
EXAMPLES = [
    ("grace_hopper.jpg", "grace_hopper_jpeg10.jpg", "jpeg:10", {"quality": 95}),
    ("astronaut.png", "astronaut_paper.png", "paper", {}),
    ("astronaut.png", "more/astronaut_jpeg15.jpg", "jpeg:15", {"quality": 95}),
    ("grace_hopper.jpg", "more/grace_hopper_banded_gray.png", "jpeg:25,posterize:12", {}),
]


def main() -> None:
    for src, dst, chain, save_kwargs in EXAMPLES:
        with Image.open(HERE / "originals" / src) as im:
            rgb = np.asarray(im.convert("RGB"))
        arr = parse_chain(chain).apply(rgb, np.random.default_rng(0))
        out = Image.fromarray(arr)
        if "gray" in dst:
            out = out.convert("L")
        path = HERE / "photos" / dst
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".jpg":
            # The degraded pixels are stored near-losslessly so the sample shows exactly the chain's damage.
            out.save(path, subsampling=0, **save_kwargs)
        else:
            out.save(path, **save_kwargs)
        print(path)


if __name__ == "__main__":
    main()
