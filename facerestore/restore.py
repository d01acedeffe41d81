"""Array-level restoration: colour/gray adaptation, tiling with receptive-field overlap, batching.

Tiling is exact, not blended: every tile is cut out with ``receptive_radius`` extra pixels of real
image on each side (fewer only at the image border, where the whole-image run sees the same zero
padding), and only its core is kept. Each output pixel therefore sees exactly the inputs it would see in
a whole-image run, so the two agree to float rounding (< 1e-5).

Memory: ONNX Runtime on CPU peaks at about ``BYTES_PER_PIXEL`` bytes per input pixel for BigCNN
(128-channel activations plus convolution workspace; measured 1.58 KB/px with ORT 1.31). The automatic
tile keeps one run's window under ``MEMORY_BUDGET`` (1 GiB) for any image size: an 800 px tile core,
i.e. an 810 x 810 window for BigCNN, about 0.98 GiB. Images that fit in one tile run whole. A model that
records its own measured figure (``contract.META_BYTES_PER_PIXEL``; DARN needs under a fifth of BigCNN's) gets
tiles sized by it: fewer tiles, so less context is computed twice.

A model that folds pixels into channels needs heights and widths that are multiples of its ``size_multiple``:
the whole image is edge-padded once to that multiple and every tile is cut on that grid, so tiles still see what a
whole run sees, and the padding is cut off the result.

Constraints: :func:`restore_image` keeps the result within what the file says its original could have been, after
the strength is applied (:mod:`facerestore.constraints`): a JPEG's block DCT coefficients within the intervals its
quantisation tables allow, a banded image's values within the bins of their levels.

Strength: a model told the damage level (``model.condition``) gets ``strength`` as that level; for the report's
models, which take the image alone, ``strength`` blends their output with the input (0 keeps the input, 1 is the
model's full output).

Concurrency: a model with several CPU ``streams`` (one single-threaded run per core) gets at least that
many tiles per image, a multiple of it where the image is tall enough, so every core works on its own
tile; the memory budget is then shared between the concurrent runs. A caller that keeps the other streams busy
with other images (the local engine, with the next image queued) passes ``spread=False``: an image that fits
the budget then runs whole, without the context rows a cut costs twice (for darn's 77 px reach, 16 % more pixels
on a 1024 px photo).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from typing import Literal

import numpy as np

from facerestore.constraints import Constraint, read_constraint
from facerestore.damage.analysis import Damage
from facerestore.imageio import LoadedImage
from facerestore.metrics import luminance
from facerestore.session import OnnxModel

MEMORY_BUDGET = 1 << 30  # bytes of inference working memory a single model run may use
BYTES_PER_PIXEL = 1600  # measured peak for BigCNN, the widest shipped model, rounded up
MIN_TILE = 16
# The shortest tile cut to give every stream work: below it the recomputed context rows (2 x 5 for BigCNN,
# 15 % at 64 rows... 8 % when only one side is cut) cost more than the idle core would.
MIN_SPLIT = 64


@dataclass(frozen=True)
class Tile:
    """One model run: ``window`` is cut from the input, ``core`` (inside it) is kept in the output."""

    y0: int  # window in image coordinates
    y1: int
    x0: int
    x1: int
    cy0: int  # core in image coordinates
    cy1: int
    cx0: int
    cx1: int

    @property
    def shape(self) -> tuple[int, int]:
        return self.y1 - self.y0, self.x1 - self.x0


def auto_tile(radius: int, budget: int = MEMORY_BUDGET, bytes_per_pixel: int = BYTES_PER_PIXEL) -> int:
    """The largest tile core (a multiple of 32) whose window stays within ``budget``."""
    window = math.isqrt(budget // bytes_per_pixel)
    return max(MIN_TILE, (window - 2 * radius) // 32 * 32)


def run_budget(streams: int, budget: int = MEMORY_BUDGET) -> int:
    """Working memory one run may use when ``streams`` runs share ``budget`` (never under a quarter of it)."""
    return budget if streams <= 1 else max(budget // streams, budget // 4)


def plan_cores(height: int, width: int, radius: int, tile: int | None = None, streams: int = 1,
               bytes_per_pixel: int = BYTES_PER_PIXEL, spread: bool = True) -> tuple[int, int]:
    """Core (height, width) of the tiles for one image: at most ``tile`` (default: the memory budget's share of
    one of ``streams`` concurrent runs), equal sizes rather than full tiles plus a sliver, and with ``spread`` at
    least ``streams`` tiles (a multiple of it) where the image is tall enough, so concurrent runs finish
    together."""
    limit = tile or auto_tile(radius, run_budget(streams), bytes_per_pixel)
    rows, cols = math.ceil(height / limit), math.ceil(width / limit)
    if streams > 1 and spread:
        # More rows (never rows shorter than MIN_SPLIT) until the tile count is a multiple of the streams.
        step = streams // math.gcd(cols, streams)
        balanced = math.ceil(max(rows, math.ceil(streams / cols)) / step) * step
        most = max(1, height // MIN_SPLIT)
        rows = balanced if balanced <= most else max(rows, min(most, math.ceil(streams / cols)))
    return math.ceil(height / rows), math.ceil(width / cols)


def plan_tiles(height: int, width: int, tile: int, overlap: int, tile_w: int | None = None) -> list[Tile]:
    """Cover the image with ``tile`` x ``tile_w`` cores (square by default), each extended by ``overlap`` pixels
    of context."""
    tile_w = tile_w or tile
    if tile < 1 or tile_w < 1:
        raise ValueError(f"tile must be positive, not {tile} x {tile_w}")
    tiles = []
    for cy0 in range(0, height, tile):
        cy1 = min(cy0 + tile, height)
        for cx0 in range(0, width, tile_w):
            cx1 = min(cx0 + tile_w, width)
            tiles.append(Tile(max(0, cy0 - overlap), min(height, cy1 + overlap),
                              max(0, cx0 - overlap), min(width, cx1 + overlap), cy0, cy1, cx0, cx1))
    return tiles


def batches(tiles: list[Tile], max_pixels: int, max_batch: int | None = None) -> Iterator[list[Tile]]:
    """Group consecutive same-shaped tiles so one run holds at most ``max_pixels`` window pixels."""
    group: list[Tile] = []
    for tile in tiles:
        h, w = tile.shape
        limit = max(1, max_pixels // (h * w))
        if max_batch is not None:
            limit = min(limit, max_batch)
        if group and (group[0].shape != tile.shape or len(group) >= limit):
            yield group
            group = []
        group.append(tile)
    if group:
        yield group


def restore_pixels(model: OnnxModel, pixels: np.ndarray, tile: int | None = None, strength: float = 1.0,
                   spread: bool = True) -> np.ndarray:
    """H x W x C float32 in [0, 1] -> same shape, clamped to [0, 1].

    A 1-channel model on colour input works on luminance and keeps the original chroma; a 3-channel model
    on gray input runs on the gray replicated to RGB and returns the luma of its output. ``spread``: cut the
    image so every stream gets a tile (False where other images keep them busy; the pixels are the same).
    """
    if pixels.ndim != 3 or pixels.shape[2] not in (1, 3):
        raise ValueError(f"expected H x W x 1 or H x W x 3 pixels, got shape {pixels.shape}")
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be in [0, 1], not {strength}")
    pixels = np.asarray(pixels, dtype=np.float32)
    if strength == 0.0 and model.condition is None:
        return pixels.copy()
    out = np.clip(_restore(model, pixels, tile, strength, spread), 0.0, 1.0)
    if model.condition is None and strength < 1.0:
        # A blend of two images in [0, 1] stays in [0, 1].
        out = pixels + np.float32(strength) * (out - pixels)
    return out


class _Unread(enum.Enum):
    """restore_image's default: the caller has not read the file's constraint (None means it has, and there is none)."""

    UNREAD = "unread"


def restore_image(model: OnnxModel, loaded: LoadedImage, damage: Damage, tile: int | None = None,
                  strength: float = 1.0,
                  constraint: Constraint | None | Literal[_Unread.UNREAD] = _Unread.UNREAD,
                  spread: bool = True) -> np.ndarray:
    """What every command restores: :func:`restore_pixels` of a decoded file (``damage``: its analysis), kept within
    the file's constraint where one holds (:mod:`facerestore.constraints`). ``constraint`` is
    ``read_constraint(loaded, damage)`` where the caller has read it already, None included (the pipeline reads it
    with the file); ``spread`` as for :func:`restore_pixels`."""
    out = restore_pixels(model, loaded.pixels, tile, strength, spread)
    if constraint is _Unread.UNREAD:
        constraint = read_constraint(loaded, damage)
    return out if constraint is None else constraint.enforce(out)


def _restore(model: OnnxModel, pixels: np.ndarray, tile: int | None, strength: float, spread: bool) -> np.ndarray:
    channels = pixels.shape[2]
    if model.channels == 1 and channels == 3:
        luma = luminance(pixels, keepdims=True)  # BT.601 Y, the Y of JPEG's YCbCr
        restored_luma = _restore_plane(model, luma, tile, strength, spread)
        # Adding the luma change to R, G and B is the exact inverse of YCbCr with Cb, Cr held fixed.
        out = pixels + (restored_luma - luma)
    elif model.channels == 3 and channels == 1:
        # Luma of the clamped colour result: the gray a colour run of the same picture would show.
        rgb = _restore_plane(model, np.repeat(pixels, 3, axis=2), tile, strength, spread)
        out = luminance(np.clip(rgb, 0.0, 1.0), keepdims=True)
    else:
        out = _restore_plane(model, pixels, tile, strength, spread)
    return out


def _round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def _restore_plane(model: OnnxModel, image: np.ndarray, tile: int | None, strength: float = 1.0,
                   spread: bool = True) -> np.ndarray:
    """Run the model over ``image`` (H x W x model.channels) tile by tile; unclamped result."""
    height, width, _ = image.shape
    radius = model.receptive_radius
    if model.fixed_hw is not None:
        return _restore_fixed(model, image, strength)
    m = model.size_multiple
    if height % m or width % m:
        padded = np.pad(image, ((0, -height % m), (0, -width % m), (0, 0)), mode="edge")
        return _restore_plane(model, padded, tile, strength, spread)[:height, :width]
    streams = max(1, model.streams)
    # A model that declares its memory figure gets tiles to match: fewer, larger tiles recompute less context.
    bytes_per_pixel = model.bytes_per_pixel or BYTES_PER_PIXEL
    core_h, core_w = plan_cores(height, width, radius, tile, streams, bytes_per_pixel, spread)
    # Cores and context on the model's grid, so every window starts where a whole run's pixels fold together.
    core_h, core_w, overlap = _round_up(core_h, m), _round_up(core_w, m), _round_up(radius, m)
    tiles = plan_tiles(height, width, core_h, overlap, tile_w=core_w)
    budget_pixels = run_budget(streams) // bytes_per_pixel
    max_batch = math.ceil(len(tiles) / streams)  # never so many tiles in one run that a stream sits idle
    if model.max_batch is not None:
        max_batch = min(max_batch, model.max_batch)
    nchw = np.ascontiguousarray(image.transpose(2, 0, 1))[None]
    out = np.empty_like(image)
    groups = list(batches(tiles, budget_pixels, max_batch))
    inputs = (np.concatenate([nchw[:, :, t.y0:t.y1, t.x0:t.x1] for t in group]) for group in groups)
    # Closed on the way out: an interrupt raised here between two tiles still waits for the runs under way.
    with closing(model.run_all(inputs, strength)) as results:
        for group, result in zip(groups, results):
            for t, res in zip(group, result):
                core_part = res[:, t.cy0 - t.y0:t.cy1 - t.y0, t.cx0 - t.x0:t.cx1 - t.x0]
                out[t.cy0:t.cy1, t.cx0:t.cx1] = core_part.transpose(1, 2, 0)
    return out


def _restore_fixed(model: OnnxModel, image: np.ndarray, strength: float = 1.0) -> np.ndarray:
    """A model with a fixed input size: windows of exactly that size, zero-padded past the image border.

    Exact in the interior; within ``receptive_radius`` of the border the padding differs from the
    network's own zero padding only through biases, which such models accept by construction.
    """
    assert model.fixed_hw is not None
    fh, fw = model.fixed_hw
    radius = model.receptive_radius
    if fh <= 2 * radius or fw <= 2 * radius:
        raise ValueError(f"model input {fh}x{fw} is too small for its receptive radius {radius}")
    height, width, channels = image.shape
    core_h, core_w = fh - 2 * radius, fw - 2 * radius
    padded = np.zeros((height + fh, width + fw, channels), np.float32)
    padded[radius:radius + height, radius:radius + width] = image
    out = np.empty_like(image)
    for y in range(0, height, core_h):
        for x in range(0, width, core_w):
            window = padded[y:y + fh, x:x + fw].transpose(2, 0, 1)[None]
            res = model.run(np.ascontiguousarray(window), strength)[0].transpose(1, 2, 0)
            h, w = min(core_h, height - y), min(core_w, width - x)
            out[y:y + h, x:x + w] = res[radius:radius + h, radius:radius + w]
    return out
