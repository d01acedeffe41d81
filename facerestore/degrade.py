"""Deterministic image degradations (numpy + Pillow only, so ``facerestore degrade`` needs no torch).

Every operation maps an 8-bit ``HxWxC`` (or ``HxW``) uint8 array to one of the same shape and dtype.
A chain is written ``name:arg[:arg...],name:arg`` and applied left to right, e.g. ``posterize:12,jpeg:20``.
Randomness (noise, random chains) always comes from an explicit ``numpy.random.Generator``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Callable

import numpy as np
from PIL import Image, ImageFilter

from .damage import levels as damage
from .errors import DegradationSpecError

# Pillow's JPEG chroma subsampling codes.
_SUBSAMPLING = {"444": 0, "422": 1, "420": 2}


def _to_image(arr: np.ndarray) -> Image.Image:
    return Image.fromarray(arr)


def jpeg(arr: np.ndarray, quality: float = 20, subsampling: str = "420") -> np.ndarray:
    """Encode and decode as baseline JPEG at ``quality`` (1-95) with the given chroma subsampling."""
    quality = int(quality)
    if not 1 <= quality <= 100:
        raise DegradationSpecError(f"jpeg quality must be 1..100, got {quality}")
    subsampling = str(subsampling)
    if subsampling not in _SUBSAMPLING:
        raise DegradationSpecError(f"jpeg subsampling must be one of {', '.join(_SUBSAMPLING)}, got {subsampling}")
    buf = io.BytesIO()
    kwargs = {} if arr.ndim == 2 else {"subsampling": _SUBSAMPLING[subsampling]}
    _to_image(arr).save(buf, format="JPEG", quality=quality, **kwargs)
    buf.seek(0)
    with Image.open(buf) as im:
        return np.asarray(im.convert("L" if arr.ndim == 2 else "RGB"))


def double_jpeg(arr: np.ndarray, first: float = 30, second: float = 20, shift: float = 0) -> np.ndarray:
    """Two JPEG generations (an archive photo re-saved by another program), the second one's 8 px grid moved
    ``shift`` px right and down from the first's (a crop between the two saves)."""
    shift = int(shift)
    if not 0 <= shift < 8:
        raise DegradationSpecError(f"jpeg2 grid shift must be 0..7, got {shift}")
    once = jpeg(arr, first)
    if not shift:
        return jpeg(once, second)
    pad = ((shift, 0), (shift, 0)) + (((0, 0),) if arr.ndim == 3 else ())
    return jpeg(np.pad(once, pad, mode="edge"), second)[shift:, shift:]


def webp(arr: np.ndarray, quality: float = 75) -> np.ndarray:
    """Encode and decode as lossy WebP at libwebp ``quality`` (0-100), as a web service serves a photo. WebP has
    no gray mode: a gray image goes through it as RGB."""
    quality = int(quality)
    if not 0 <= quality <= 100:
        raise DegradationSpecError(f"webp quality must be 0..100, got {quality}")
    buf = io.BytesIO()
    _to_image(arr).convert("RGB").save(buf, format="WEBP", quality=quality)
    buf.seek(0)
    with Image.open(buf) as im:
        return np.asarray(im.convert("L" if arr.ndim == 2 else "RGB"))


def posterize(arr: np.ndarray, levels: float = 16) -> np.ndarray:
    """Collapse each channel to ``levels`` evenly spaced intensities: histogram spikes with gaps between."""
    levels = int(levels)
    if not 2 <= levels <= 256:
        raise DegradationSpecError(f"posterize levels must be 2..256, got {levels}")
    step = 255.0 / (levels - 1)
    return (np.round(np.round(arr.astype(np.float32) / step) * step)).clip(0, 255).astype(np.uint8)


def _down_up(arr: np.ndarray, factor: float, name: str, down: Image.Resampling, up: Image.Resampling) -> np.ndarray:
    """Shrink by ``factor`` with ``down`` and enlarge back to the same size with ``up``."""
    factor = float(factor)
    if factor < 1:
        raise DegradationSpecError(f"{name} factor must be >= 1, got {factor}")
    h, w = arr.shape[:2]
    small = (max(1, round(w / factor)), max(1, round(h / factor)))
    return np.asarray(_to_image(arr).resize(small, down).resize((w, h), up))


def pixelate(arr: np.ndarray, factor: float = 2) -> np.ndarray:
    """Box-downscale by ``factor`` then nearest-upscale back: blocky, blotchy pixels."""
    return _down_up(arr, factor, "pixelate", Image.Resampling.BOX, Image.Resampling.NEAREST)


def blur(arr: np.ndarray, sigma: float = 1.0) -> np.ndarray:
    """Gaussian blur with standard deviation ``sigma`` pixels."""
    sigma = float(sigma)
    if sigma < 0:
        raise DegradationSpecError(f"blur sigma must be >= 0, got {sigma}")
    return np.asarray(_to_image(arr).filter(ImageFilter.GaussianBlur(sigma)))


def resample(arr: np.ndarray, factor: float = 2) -> np.ndarray:
    """Downscale by ``factor`` and back up (bicubic): a photo that was once stored small."""
    return _down_up(arr, factor, "resample", Image.Resampling.BICUBIC, Image.Resampling.BICUBIC)


def _gaussian_smooth(field: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of a float plane (Pillow blurs only 8-bit images), edges replicated."""
    r = max(1, int(np.ceil(3 * sigma)))
    taps = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2).astype(np.float32)
    taps /= taps.sum()
    h, w = field.shape
    padded = np.pad(field, r, mode="edge")
    rows = sum(t * padded[:, i:i + w] for i, t in enumerate(taps))
    return sum(t * rows[i:i + h] for i, t in enumerate(taps))


def grain(arr: np.ndarray, sigma: float = 6.0, size: float = 1.0, *, rng: np.random.Generator) -> np.ndarray:
    """Film grain: Gaussian noise of ``sigma`` grey levels, blurred to grains of about ``size`` px, the same on
    every channel with a little colour of its own (scanned film)."""
    sigma, size = float(sigma), float(size)
    if sigma < 0 or size < 0:
        raise DegradationSpecError(f"grain sigma and size must be >= 0, got {sigma}, {size}")
    h, w = arr.shape[:2]
    field = rng.normal(0.0, 1.0, size=(h, w)).astype(np.float32)
    if size > 0:
        field = _gaussian_smooth(field, size)
        field = field / max(float(field.std()), 1e-6)
    noisy = arr.astype(np.float32)
    if arr.ndim == 3:
        tint = rng.normal(0.0, 0.3, size=(h, w, arr.shape[2])).astype(np.float32)
        noisy += sigma * (field[..., None] + tint)
    else:
        noisy += sigma * field
    return np.round(noisy).clip(0, 255).astype(np.uint8)


def noise(arr: np.ndarray, sigma: float = 5.0, *, rng: np.random.Generator) -> np.ndarray:
    """Additive Gaussian noise with standard deviation ``sigma`` grey levels (0-255 scale)."""
    sigma = float(sigma)
    if sigma < 0:
        raise DegradationSpecError(f"noise sigma must be >= 0, got {sigma}")
    noisy = arr.astype(np.float32) + rng.normal(0.0, sigma, size=arr.shape).astype(np.float32)
    return np.round(noisy).clip(0, 255).astype(np.uint8)


@dataclass(frozen=True)
class Op:
    name: str
    fn: Callable[..., np.ndarray]
    arity: int  # maximum number of positional arguments
    level: Callable[..., float]  # the damage level (facerestore.damage.levels) of the same arguments
    needs_rng: bool = False


OPS: dict[str, Op] = {
    "jpeg": Op("jpeg", jpeg, 2, lambda q=20, *_: damage.jpeg_level(float(q))),
    "jpeg2": Op("jpeg2", double_jpeg, 3, lambda a=30, b=20, *_: damage.combine(
        [damage.jpeg_level(float(a)), damage.jpeg_level(float(b))])),
    "webp": Op("webp", webp, 1, lambda q=75: damage.webp_quality_level(float(q))),
    "posterize": Op("posterize", posterize, 1, lambda n=16: damage.banding_level(float(n))),
    "pixelate": Op("pixelate", pixelate, 1, lambda f=2: damage.pixelation_level(float(f))),
    "resample": Op("resample", resample, 1, lambda f=2: damage.resample_level(float(f))),
    "blur": Op("blur", blur, 1, lambda s=1.0: damage.blur_level(float(s))),
    "noise": Op("noise", noise, 1, lambda s=5.0: damage.noise_level(float(s)), needs_rng=True),
    "grain": Op("grain", grain, 2, lambda s=6.0, *_: damage.noise_level(float(s)), needs_rng=True),
}

# The research report's degradation: JPEG blocking, then per-channel quantisation. Quantising last keeps
# the histogram's collapse visible (spikes with empty gaps); a JPEG after it would fill the gaps back in.
PRESETS: dict[str, str] = {
    "paper": "jpeg:30,posterize:20",
    "jpeg5": "jpeg:5",
    "jpeg10": "jpeg:10",
    "jpeg20": "jpeg:20",
    "jpeg30": "jpeg:30",
    "jpeg50": "jpeg:50",
    "jpeg75": "jpeg:75",
    "jpeg90": "jpeg:90",
    "jpeg95": "jpeg:95",
    "posterize": "posterize:16",
    "pixelate": "pixelate:2",
}


@dataclass(frozen=True)
class Step:
    name: str
    args: tuple[str, ...] = ()

    def __str__(self) -> str:
        return ":".join((self.name, *self.args))


@dataclass(frozen=True)
class Chain:
    steps: tuple[Step, ...]

    def __str__(self) -> str:
        return ",".join(str(s) for s in self.steps)

    @property
    def level(self) -> float:
        """The damage level in [0, 1] these steps add up to (what a conditioned model is told at training)."""
        return damage.combine(OPS[s.name].level(*s.args) for s in self.steps)

    def apply(self, arr: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        if arr.dtype != np.uint8 or arr.ndim not in (2, 3):
            raise ValueError("degradations work on 8-bit HxW or HxWxC arrays")
        rng = rng if rng is not None else np.random.default_rng(0)
        out = arr
        for step in self.steps:
            op = OPS[step.name]
            out = op.fn(out, *step.args, rng=rng) if op.needs_rng else op.fn(out, *step.args)
        return out


def _non_finite(arg: str) -> bool:
    try:
        return not np.isfinite(float(arg))
    except ValueError:
        return False  # not a number at all (a chroma subsampling such as "420"): the operation judges it


def parse_chain(spec: str) -> Chain:
    """Parse ``posterize:12,jpeg:20`` or a preset name into a :class:`Chain`."""
    spec = PRESETS.get(spec.strip(), spec)
    steps = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        name, *args = part.split(":")
        op = OPS.get(name)
        if op is None:
            raise DegradationSpecError(f"unknown degradation {name!r} (known: {', '.join(OPS)})")
        if len(args) > op.arity:
            raise DegradationSpecError(f"{name} takes at most {op.arity} argument(s), got {part!r}")
        for arg in args:
            if _non_finite(arg):  # float() takes "nan" and "inf", which would turn every pixel black
                raise DegradationSpecError(f"{name} arguments must be finite numbers, got {part!r}")
        steps.append(Step(name, tuple(args)))
    if not steps:
        raise DegradationSpecError(f"empty degradation chain {spec!r}")
    chain = Chain(tuple(steps))
    # Validate every argument once on a tiny image so a bad spec fails before any real work.
    try:
        chain.apply(np.zeros((8, 8, 3), np.uint8))
    except DegradationSpecError:
        raise
    except (TypeError, ValueError) as exc:
        raise DegradationSpecError(f"bad degradation {spec!r}: {exc}") from None
    return chain


def random_chain(rng: np.random.Generator) -> Chain:
    """A random mixture of the degradations archive photos really have, for blind training.

    JPEG at quality 5-50 (single or double, varied chroma subsampling), the report's intensity collapse,
    and mild pixelation and blur, in realistic orders.
    """
    steps: list[Step] = []
    if rng.random() < 0.2:
        steps.append(Step("blur", (f"{rng.uniform(0.4, 1.2):.2f}",)))
    if rng.random() < 0.15:
        steps.append(Step("pixelate", (f"{rng.uniform(1.25, 2.0):.2f}",)))
    q = int(rng.integers(5, 51))
    sub = str(rng.choice(["420", "420", "422", "444"]))
    kind = rng.random()
    if kind < 0.6:
        steps.append(Step("jpeg", (str(q), sub)))
    elif kind < 0.8:
        steps.append(Step("jpeg2", (str(int(rng.integers(q, 71))), str(q))))
    if kind >= 0.8 or rng.random() < 0.15:
        steps.append(Step("posterize", (str(int(rng.integers(12, 41))),)))
    if not steps:
        steps.append(Step("jpeg", (str(q), sub)))
    return Chain(tuple(steps))


def _jpeg_quality(rng: np.random.Generator) -> int:
    """JPEG quality as archives hold it: every quality 5-95, the damaging low half drawn more often."""
    return int(rng.integers(5, 51)) if rng.random() < 0.6 else int(rng.integers(51, 96))


def random_damage(rng: np.random.Generator, banding_only: float = 0.0, webp_share: float = 0.0) -> Chain:
    """The wider mixture a damage-conditioned model trains on: everything an archive holds, clean photos included.

    JPEG 5-95 single or double (second grid shifted), 4:2:0 / 4:2:2 / 4:4:4; the report's intensity collapse;
    down-and-up scaling and pixelation; blur; sensor noise and film grain; and about one patch in ten left clean
    (an empty chain, level 0), so the model learns to leave good photos alone. ``banding_only`` is a further share
    of patches that get the intensity collapse alone (12-64 levels). ``webp_share`` is a further share served as
    lossy WebP (quality 5-95, drawn as JPEG's is): half of them WebPs made from the mixture's own draw, JPEG and
    all (as image services convert JPEGs), half with the WebP in place of its JPEG. At 0 and 0 the draws are
    exactly the mixture's.
    """
    # One draw shares the patches out, so each share is of all patches (a run with --banding-only alone draws as
    # it always did).
    extra = rng.random() if banding_only > 0 or webp_share > 0 else 1.0
    if extra < banding_only:
        return Chain((Step("posterize", (str(int(rng.integers(12, 65))),)),))
    if extra < banding_only + webp_share:
        steps = list(random_damage(rng).steps)
        if rng.random() < 0.5:
            steps = [step for step in steps if step.name not in ("jpeg", "jpeg2")]
        return Chain((*steps, Step("webp", (str(_jpeg_quality(rng)),))))
    if rng.random() < 0.1:
        return Chain(())
    steps: list[Step] = []
    if rng.random() < 0.15:
        steps.append(Step("blur", (f"{rng.uniform(0.4, 1.5):.2f}",)))
    scale = rng.random()
    if scale < 0.08:
        steps.append(Step("pixelate", (f"{rng.uniform(1.25, 3.0):.2f}",)))
    elif scale < 0.16:
        steps.append(Step("resample", (f"{rng.uniform(1.3, 3.0):.2f}",)))
    noisy = rng.random()
    if noisy < 0.07:
        steps.append(Step("noise", (f"{rng.uniform(2.0, 15.0):.1f}",)))
    elif noisy < 0.14:
        steps.append(Step("grain", (f"{rng.uniform(2.0, 12.0):.1f}", f"{rng.uniform(0.5, 1.5):.2f}")))
    q = _jpeg_quality(rng)
    sub = str(rng.choice(["420", "420", "422", "444"]))
    kind = rng.random()
    if kind < 0.62:
        steps.append(Step("jpeg", (str(q), sub)))
    elif kind < 0.8:
        steps.append(Step("jpeg2", (str(int(rng.integers(q, 96))), str(q), str(int(rng.integers(0, 8))))))
    # The intensity collapse alone, or last after JPEG as in the report's preset (its gaps stay visible).
    if rng.random() < (0.6 if kind >= 0.8 else 0.15):
        steps.append(Step("posterize", (str(int(rng.integers(12, 65))),)))
    return Chain(tuple(steps))
