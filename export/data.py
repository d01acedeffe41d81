"""Training data: an honest split of the face photos, random degraded patches, and whole-image eval sets.

The split is by source photo (crops of one photo never straddle train and eval) and deterministic.
Evaluation images are drawn only from clean sources (lossless or JPEG quality >= 85) so the targets
the metrics compare against are not themselves full of artefacts.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from facerestore.degrade import Chain, parse_chain, random_chain, random_damage

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}
EVAL_SIDE = 256  # evaluation images are shown to the model whole, at most this many pixels a side
EVAL_COUNT = 20  # the report validated on 20 held-out images


class DataError(Exception):
    """The data folder is missing, empty or unreadable."""


@dataclass(frozen=True)
class Split:
    train: tuple[Path, ...]
    val: tuple[Path, ...]
    test: tuple[Path, ...]


def list_images(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise DataError(f"{folder}: no images found (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
    return files


def _stable_key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def split_faces(faces_dir: Path, n_val: int = EVAL_COUNT, n_test: int = EVAL_COUNT) -> Split:
    """Split face crops into train / validation / test, grouped by source photo.

    With a ``manifest.csv`` beside the crops (as in shared/data/faces) crops are grouped by source photo
    and eval images come from clean sources only; without one, every file is its own group.
    """
    crops_dir = faces_dir / "crops" if (faces_dir / "crops").is_dir() else faces_dir
    files = list_images(crops_dir)
    meta: dict[str, dict[str, str]] = {}
    manifest = faces_dir / "manifest.csv"
    if manifest.is_file():
        with manifest.open(newline="") as fh:
            meta = {row["crop"]: row for row in csv.DictReader(fh)}

    groups: dict[str, list[Path]] = {}
    clean: dict[str, bool] = {}
    for f in files:
        row = meta.get(f.name)
        group = f"{row['source']}|{row['path']}" if row else f.name
        groups.setdefault(group, []).append(f)
        q = row["jpeg_q"] if row else ""
        is_clean = not q.isdigit() or int(q) >= 85
        clean[group] = clean.get(group, True) and is_clean

    order = sorted(groups, key=_stable_key)
    val: list[Path] = []
    test: list[Path] = []
    train: list[Path] = []
    for g in order:
        # One crop per photo in the eval sets keeps them diverse; extra crops of that photo are dropped
        # from training too, so nothing of an eval photo is ever seen.
        if clean[g] and len(test) < n_test:
            test.append(groups[g][0])
        elif clean[g] and len(val) < n_val:
            val.append(groups[g][0])
        else:
            train.extend(groups[g])
    if not train:
        raise DataError(f"{faces_dir}: too few images to hold out {n_val} + {n_test} for evaluation")
    return Split(tuple(sorted(train)), tuple(sorted(val)), tuple(sorted(test)))


def is_pairs_folder(folder: Path) -> bool:
    """A ``facerestore degrade`` output: mirrored ``hq/`` and ``lq/`` trees."""
    return (folder / "hq").is_dir() and (folder / "lq").is_dir()


def split_pairs(folder: Path, n_val: int = EVAL_COUNT, n_test: int = EVAL_COUNT) -> Split:
    """Split a pairs folder by clean image (paths into ``hq/``; the degraded twin has the same relative path).

    Small folders keep at least half their pairs for training: eval sets shrink before training does.
    """
    hq_root = folder / "hq"
    files = [p for p in list_images(hq_root) if (folder / "lq" / p.relative_to(hq_root)).is_file()]
    if not files:
        raise DataError(f"{folder}: no hq/ image has a degraded twin in lq/")
    order = sorted(files, key=lambda p: _stable_key(p.relative_to(hq_root).as_posix()))
    n_eval = min(n_val + n_test, len(order) // 2)
    n_test = min(n_test, n_eval // 2)
    test, val, train = order[:n_test], order[n_test:n_eval], order[n_eval:]
    return Split(tuple(sorted(train)), tuple(sorted(val)), tuple(sorted(test)))


def lq_twin(hq_path: Path) -> Path:
    """``PAIRS/hq/a/b.png`` -> ``PAIRS/lq/a/b.png``."""
    parts = list(hq_path.parts)
    index = len(parts) - 1 - parts[::-1].index("hq")
    parts[index] = "lq"
    return Path(*parts)


def load_pair(hq_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(degraded, clean) uint8 RGB arrays of one pair; they must have the same size."""
    lq, hq = load_rgb(lq_twin(hq_path)), load_rgb(hq_path)
    if lq.shape != hq.shape:
        raise DataError(f"{hq_path}: its degraded twin is {lq.shape[1]}x{lq.shape[0]}, not {hq.shape[1]}x{hq.shape[0]}")
    return lq, hq


def load_rgb(path: Path, max_side: int | None = None, upscale: bool = False) -> np.ndarray:
    """An image as 8-bit RGB, its longest side brought down to ``max_side`` (LANCZOS), or with ``upscale`` up to it
    too: a soft photo, as zoomed and upscaled photos are."""
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            if max_side and (max(im.size) > max_side or upscale and max(im.size) < max_side):
                scale = max_side / max(im.size)
                size = (max(1, round(im.width * scale)), max(1, round(im.height * scale)))
                im = im.resize(size, Image.Resampling.LANCZOS)
            return np.asarray(im).copy()
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read image ({exc})") from exc


def to_gray(rgb: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma, the Y of the YCbCr that JPEG and the runtime's GAN path use."""
    return np.asarray(Image.fromarray(rgb).convert("L"))


def _three_channels(gray: np.ndarray) -> np.ndarray:
    return np.repeat(gray[..., None], 3, axis=2)


class PatchSampler:
    """Random degraded/clean patch pairs, degraded on the fly.

    Each sample: pick an image, a random scale (faces appear at many sizes in archives), a random crop
    of ``patch`` pixels, a flip, then a degradation (a random chain for blind training, or a fixed one).
    """

    def __init__(self, images: list[np.ndarray], patch: int, chain: Chain | None = None, gray: bool = False,
                 min_scale: float = 0.25, conditioned: bool = False, banding_only: float = 0.0,
                 webp_share: float = 0.0, gray_share: float = 0.0):
        if not images:
            raise DataError("no training images")
        if not 0.0 <= gray_share <= 1.0 or gray_share and gray:
            raise ValueError(f"gray_share is a share in [0, 1] of a colour model's patches, got {gray_share:g}"
                             + (" for a gray model" if gray else ""))
        self.images = images
        self.patch = patch
        self.chain = chain
        self.gray = gray
        self.min_scale = min_scale
        # A damage-conditioned model trains on the wider mixture (clean patches included) and is told each
        # patch's level, drawn from its degradation's parameters.
        self.conditioned = conditioned
        self.banding_only = banding_only  # a further share of banding-only patches (random_damage)
        self.webp_share = webp_share  # a further share of patches served as lossy WebP (random_damage)
        # A share of the patches made grayscale before their damage, as black-and-white scans reach the runtime.
        self.gray_share = gray_share

    def _clean_patch(self, rng: np.random.Generator) -> np.ndarray:
        img = self.images[int(rng.integers(len(self.images)))]
        h, w = img.shape[:2]
        p = self.patch
        # Scale down by up to 1/min_scale, never below the patch size, never up.
        lo = max(self.min_scale, p / min(h, w))
        scale = float(rng.uniform(lo, 1.0)) if lo < 1.0 else 1.0
        src = min(h, w, max(p, round(p / scale)))
        y = int(rng.integers(0, h - src + 1))
        x = int(rng.integers(0, w - src + 1))
        crop = img[y:y + src, x:x + src]
        if src != p:
            crop = np.asarray(Image.fromarray(crop).resize((p, p), Image.Resampling.LANCZOS))
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        return np.ascontiguousarray(crop)

    def sample(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(degraded, clean) uint8 arrays, HxWx3 (or HxW when gray)."""
        lq, hq, _ = self.sample_with_level(rng)
        return lq, hq

    def sample_with_level(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float]:
        """(degraded, clean, damage level of the degradation applied)."""
        clean = self._clean_patch(rng)
        # Drawn only where a share is asked for, so a run without one draws exactly the patches it always did.
        gray_photo = self.gray_share > 0 and rng.random() < self.gray_share
        if self.gray or gray_photo:
            clean = to_gray(clean)
        chain = self.chain or (random_damage(rng, self.banding_only, self.webp_share) if self.conditioned
                               else random_chain(rng))
        # A gray photo's file is damaged as gray: on an HxW array the chain saves 1-channel JPEGs (no chroma, no
        # subsampling), as Pillow saves a grayscale photo. Its level is a colour patch's: the runtime reads a gray
        # JPEG's quality from its luma table, as a colour one's (facerestore.damage.analysis).
        lq = chain.apply(clean, rng)
        if gray_photo:
            # What facerestore.restore feeds a colour model for a gray photo: its gray in three equal channels.
            lq, clean = _three_channels(lq), _three_channels(clean)
        return lq, clean, chain.level

    def batch(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        """(degraded, clean) float32 NCHW in [0, 1]; conditioned: also the levels, float32 (N, 1)."""
        triples = [self.sample_with_level(rng) for _ in range(n)]
        lq = np.stack([to_nchw(d) for d, _, _ in triples])
        hq = np.stack([to_nchw(c) for _, c, _ in triples])
        if not self.conditioned:
            return lq, hq
        levels = np.array([[level] for _, _, level in triples], np.float32)
        return lq, hq, levels


class PairPatchSampler(PatchSampler):
    """Aligned random patches from pre-degraded pairs (a ``facerestore degrade`` output).

    No rescaling here: resampling would change the degradation the pairs were made with.
    """

    def __init__(self, pairs: list[tuple[np.ndarray, np.ndarray]], patch: int, gray: bool = False):
        pairs = [(lq, hq) for lq, hq in pairs if min(hq.shape[:2]) >= patch]
        if not pairs:
            raise DataError(f"no training pair is at least {patch}x{patch} pixels")
        super().__init__([hq for _, hq in pairs], patch, gray=gray)
        self.pairs = pairs

    def sample_with_level(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float]:
        lq, hq = self.sample(rng)
        return lq, hq, float("nan")  # the pairs' degradation is not known

    def sample(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        lq, hq = self.pairs[int(rng.integers(len(self.pairs)))]
        h, w = hq.shape[:2]
        p = self.patch
        y, x = int(rng.integers(0, h - p + 1)), int(rng.integers(0, w - p + 1))
        lq, hq = lq[y:y + p, x:x + p], hq[y:y + p, x:x + p]
        if rng.random() < 0.5:
            lq, hq = lq[:, ::-1], hq[:, ::-1]
        lq, hq = np.ascontiguousarray(lq), np.ascontiguousarray(hq)
        return (to_gray(lq), to_gray(hq)) if self.gray else (lq, hq)


class BatchStream:
    """The training batches, step by step: batch ``s`` depends only on (seed, s), never on what ran before.

    That makes a resumed run draw exactly the batches an uninterrupted one would, and lets ``workers``
    processes cut and degrade batches ahead of the training loop (on a GPU, one Python thread degrading
    patches with Pillow cannot keep up) without changing a single pixel of them.
    """

    def __init__(self, sampler: PatchSampler, batch: int, seed: int, workers: int = 0):
        self.sampler, self.size, self.seed, self.workers = sampler, batch, seed, workers
        self._pool = None

    def __enter__(self) -> "BatchStream":
        if self.workers > 0:
            import multiprocessing as mp

            # fork: the workers share the decoded images copy-on-write instead of pickling them.
            self._pool = mp.get_context("fork").Pool(self.workers, _init_worker, (self.sampler, self.size, self.seed))
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool = None

    def steps(self, start: int, stop: int):
        """(degraded, clean) float32 NCHW batches for steps start .. stop-1, in order."""
        if self._pool is None:
            for step in range(start, stop):
                yield _batch_at(self.sampler, self.size, self.seed, step)
            return
        # A bounded window of batches in flight (Pool.imap would queue them all and fill the memory when
        # the model is the slower side).
        from collections import deque

        pending: deque = deque()
        nxt = start
        while nxt < stop or pending:
            while nxt < stop and len(pending) < 2 * self.workers:
                pending.append(self._pool.apply_async(_worker_batch, (nxt,)))
                nxt += 1
            yield pending.popleft().get()


def _batch_at(sampler: PatchSampler, size: int, seed: int, step: int) -> tuple[np.ndarray, np.ndarray]:
    return sampler.batch(size, np.random.default_rng([seed, step]))


_WORKER: tuple[PatchSampler, int, int] | None = None


def _init_worker(sampler: PatchSampler, size: int, seed: int) -> None:
    global _WORKER
    _WORKER = (sampler, size, seed)


def _worker_batch(step: int) -> tuple[np.ndarray, np.ndarray]:
    assert _WORKER is not None
    return _batch_at(*_WORKER, step)


def to_nchw(arr: np.ndarray) -> np.ndarray:
    """uint8 HxW or HxWxC -> float32 CxHxW in [0, 1]."""
    x = arr.astype(np.float32) / 255.0
    return x[None] if x.ndim == 2 else x.transpose(2, 0, 1)


# Fixed degradations for validation and the model card: the goals are stated at JPEG 10 and 20,
# and the report's own intensity collapse is the third.
EVAL_DEGRADATIONS = ("jpeg10", "jpeg20", "paper")


# A damage-conditioned model is validated across the range it claims: light JPEG and clean photos too.
CONDITIONED_EVAL_DEGRADATIONS = ("jpeg10", "jpeg20", "paper", "jpeg50", "jpeg90", "posterize", "pixelate", "clean")


@dataclass(frozen=True)
class EvalPair:
    name: str
    degradation: str
    lq: np.ndarray  # uint8 HxWx3
    hq: np.ndarray
    level: float = float("nan")  # damage level of the degradation (nan when unknown)


def pair_eval_pairs(paths: tuple[Path, ...]) -> list[EvalPair]:
    """Evaluation pairs of a pairs folder: whole images, with the degradation they were made with."""
    pairs = []
    for path in paths:
        lq, hq = load_pair(path)
        pairs.append(EvalPair(path.name, "pairs", lq, hq))
    return pairs


def eval_pairs(paths: tuple[Path, ...], degradations: tuple[str, ...] = EVAL_DEGRADATIONS,
               max_side: int = EVAL_SIDE) -> list[EvalPair]:
    pairs = []
    for path in paths:
        hq = load_rgb(path, max_side)
        for i, spec in enumerate(degradations):
            if spec == "clean":
                pairs.append(EvalPair(path.name, spec, hq, hq, 0.0))
                continue
            rng = np.random.default_rng(int(_stable_key(f"{path.name}|{spec}")[:8], 16) + i)
            chain = parse_chain(spec)
            pairs.append(EvalPair(path.name, spec, chain.apply(hq, rng), hq, chain.level))
    return pairs
