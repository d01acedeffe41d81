"""Archive-style cases: each face damaged into a FILE as an archive holds it, then read and analysed by the runtime.

What ``enhance`` sees is a file, not an array: a JPEG carries its quantisation tables, a PNG that was once a JPEG
carries only its pixels. So the strength fit (``export.fit_strength``) and the archive table of the model card
(``export.archive_eval``) both build real files here and send them through the runtime's own reader, damage
analysis and restoration (``facerestore.imageio.read_image``, ``facerestore.damage.analysis.analyze``,
``facerestore.restore.restore_image``), output rounded to 8 bits as a PNG would store it.

Degradation names: ``jpegQ`` is the original saved as a JPEG file at quality Q (Pillow: IJG tables, 4:2:0);
``jpegQ>R`` saved at quality Q, decoded and saved again at R (a photo re-posted or re-edited: its tables tell the
last save only); ``webpQ`` saved as a lossy WebP file at quality Q (libwebp through Pillow: its header
states the quantiser); ``clean`` the original as a PNG; any other name or chain (``paper``, ``pixelate``, ``posterize:24``) is applied
with ``facerestore.degrade`` and saved as a PNG (a converted or edited file: only its pixels tell its history).
"""

from __future__ import annotations

import io
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from facerestore.damage.analysis import Damage, analyze
from facerestore.degrade import parse_chain
from facerestore.imageio import LoadedImage, read_image

from .data import EVAL_SIDE, _stable_key, _three_channels, load_rgb, to_gray

_JPEG_FILE = re.compile(r"jpeg(\d+)(?:>(\d+))?$")
_WEBP_FILE = re.compile(r"webp(\d+)$")

# What the model card reports: every JPEG quality an archive holds, a re-saved one, the report's preset, banding,
# pixelation and clean photos. The fit uses a denser set of qualities (FIT_DEGRADATIONS) on the validation faces.
ARCHIVE_DEGRADATIONS = ("jpeg5", "jpeg10", "jpeg20", "jpeg30", "jpeg50", "jpeg75", "jpeg90", "jpeg95", "jpeg10>95",
                        "paper", "posterize:24", "pixelate", "clean")
FIT_DEGRADATIONS = ("jpeg5", "jpeg10", "jpeg15", "jpeg20", "jpeg30", "jpeg40", "jpeg50", "jpeg60", "jpeg70",
                    "jpeg75", "jpeg80", "jpeg85", "jpeg90", "jpeg95", "jpeg10>95", "jpeg30>90", "paper",
                    "posterize:16", "posterize:32", "posterize:64", "pixelate:1.2", "pixelate:1.25", "pixelate:1.33",
                    "pixelate:1.5", "pixelate", "pixelate:3", "pixelate:4", "jpeg:30,posterize:40", "clean")


@dataclass(frozen=True)
class Case:
    face: str
    degradation: str
    loaded: LoadedImage  # the file read back by the runtime
    damage: Damage  # the runtime's analysis of that file
    hq: np.ndarray  # the original, uint8 H x W x 3
    side: int = EVAL_SIDE  # the size it was made at (make_cases' max_side): the fit keeps its promise per size


def encode(hq: np.ndarray, degradation: str, seed: int, gray: bool = False) -> tuple[bytes, str]:
    """The file an archive would hold for ``hq`` damaged by ``degradation``: (bytes, suffix). ``gray``: a
    grayscale file (``hq`` with equal channels), as a black-and-white scan is kept."""
    def image(pixels: np.ndarray) -> Image.Image:
        im = Image.fromarray(pixels)
        return im.convert("L") if gray else im

    buf = io.BytesIO()
    match = _JPEG_FILE.match(degradation)
    if match:
        first, resave = match.groups()
        pixels = hq
        if resave is not None:
            image(hq).save(buf, format="JPEG", quality=int(first))
            with Image.open(io.BytesIO(buf.getvalue())) as im:
                pixels = np.asarray(im.convert("RGB"))
            buf = io.BytesIO()
        image(pixels).save(buf, format="JPEG", quality=int(resave or first))
        return buf.getvalue(), ".jpg"
    match = _WEBP_FILE.match(degradation)
    if match:
        image(hq).save(buf, format="WEBP", quality=int(match.group(1)))
        return buf.getvalue(), ".webp"
    pixels = hq if degradation == "clean" else parse_chain(degradation).apply(hq, np.random.default_rng(seed))
    image(pixels).save(buf, format="PNG")
    return buf.getvalue(), ".png"


def as_gray(rgb: np.ndarray) -> np.ndarray:
    """An 8-bit RGB photo as grayscale (``data.to_gray``), kept in three equal channels."""
    return _three_channels(to_gray(rgb))


def make_cases(paths: tuple[Path, ...], degradations: tuple[str, ...], max_side: int = EVAL_SIDE,
               gray: bool = False, upscale: bool = False) -> list[Case]:
    """Every face damaged every way, as files read back and analysed by the runtime (``gray``: the faces in
    grayscale, as grayscale files; ``upscale``: smaller faces brought up to ``max_side``, see ``load_rgb``)."""
    cases = []
    with tempfile.TemporaryDirectory(prefix="facerestore-archive-") as tmp:
        for path in paths:
            hq = load_rgb(path, max_side, upscale)
            if gray:
                hq = as_gray(hq)
            for degradation in degradations:
                seed = int(_stable_key(f"{path.name}|{degradation}")[:8], 16)
                data, suffix = encode(hq, degradation, seed, gray)
                file = Path(tmp) / f"case{suffix}"
                file.write_bytes(data)
                loaded = read_image(file)
                cases.append(Case(path.name, degradation, loaded, analyze(loaded), hq, max_side))
    return cases


def to_uint8(pixels: np.ndarray) -> np.ndarray:
    """[0, 1] floats -> the 8-bit RGB an output file stores (gray replicated, as a comparison needs)."""
    out = np.clip(np.rint(pixels * 255.0), 0, 255).astype(np.uint8)
    return np.repeat(out, 3, axis=2) if out.shape[2] == 1 else out
