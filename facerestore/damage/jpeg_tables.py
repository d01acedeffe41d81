"""What a JPEG file's own header says about its compression: the IJG quality of its quantisation tables, and
its chroma subsampling.

Encoders built on the IJG library (libjpeg, libjpeg-turbo, Pillow, ImageMagick, most web tools) scale the two
example tables of the JPEG standard (ITU-T T.81 Annex K) by one quality factor, so a standard table names its
quality exactly. Cameras and some editors write tables of their own; those get the IJG quality whose steps are
nearest in log step size (the visible damage follows the ratio of steps, not their difference).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

# T.81 Annex K, Tables K.1 (luminance) and K.2 (chrominance), in natural (row-major) order.
LUMA_BASE = np.array([
    16, 11, 10, 16, 24, 40, 51, 61,
    12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77,
    24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101,
    72, 92, 95, 98, 112, 100, 103, 99,
], dtype=np.int64)
CHROMA_BASE = np.full(64, 99, dtype=np.int64)
CHROMA_BASE[[0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 24, 25]] = [17, 18, 24, 47, 18, 21, 26, 66, 24, 26, 56, 47, 66]


def _zigzag() -> np.ndarray:
    """ZIGZAG[k] = natural index of the k-th coefficient in zigzag order (the order a DQT segment stores)."""
    cells = sorted(((r, c) for r in range(8) for c in range(8)),
                   key=lambda rc: (rc[0] + rc[1], rc[0] if (rc[0] + rc[1]) % 2 else rc[1]))
    return np.array([r * 8 + c for r, c in cells], dtype=np.int64)


ZIGZAG = _zigzag()


def ijg_scale_percent(quality: int) -> int:
    """IJG's ``jpeg_quality_scaling``: integer percent (5000 // q below 50, 200 - 2q from 50)."""
    q = min(100, max(1, int(quality)))
    return 5000 // q if q < 50 else 200 - 2 * q


def ijg_table(base: np.ndarray, quality: int, baseline: bool = True) -> np.ndarray:
    """The table an IJG encoder writes at ``quality``: rounded scaled steps, at least 1, and at most 255 when
    forced to baseline (8-bit steps, what Pillow and nearly every encoder ask for) else 32767."""
    steps = (base * ijg_scale_percent(quality) + 50) // 100
    return np.clip(steps, 1, 255 if baseline else 32767)


@lru_cache(maxsize=4)
def _all_tables(which: str, baseline: bool) -> np.ndarray:
    """100 x 64: row q - 1 holds the table at quality q."""
    base = LUMA_BASE if which == "luma" else CHROMA_BASE
    return np.stack([ijg_table(base, q, baseline) for q in range(1, 101)])


def standard_tables(which: str) -> np.ndarray:
    """The baseline IJG ``luma`` or ``chroma`` tables at every quality (100 x 64, row q - 1; read-only)."""
    tables = _all_tables(which, True)
    tables.setflags(write=False)
    return tables


@dataclass(frozen=True)
class TableQuality:
    quality: int        # IJG quality 1-100 of the table (nearest equivalent when not standard)
    standard: bool      # the table is exactly IJG's at that quality


def table_quality(table: np.ndarray, which: str, first: int = 64) -> TableQuality:
    """The IJG quality of one 64-step table in natural order, ``which`` = "luma" or "chroma", judged on its
    ``first`` steps in zigzag order (all by default; fewer: only what a lattice of the pixels can see)."""
    table = np.asarray(table, dtype=np.int64).reshape(64)
    seen = ZIGZAG[:first]
    for baseline in (True, False):
        hits = np.flatnonzero((_all_tables(which, baseline)[:, seen] == table[seen]).all(axis=1))
        if hits.size:
            # Several qualities can share one table where clamping flattens them (q 1-3 luma): the middle one.
            return TableQuality(int(hits[hits.size // 2]) + 1, first == 64)
    logs = np.log(np.maximum(_all_tables(which, False)[:, seen], 1).astype(np.float64))
    error = ((logs - np.log(np.maximum(table[seen], 1))) ** 2).sum(axis=1)
    return TableQuality(int(np.argmin(error)) + 1, False)


@dataclass(frozen=True)
class JpegInfo:
    """A JPEG file's compression, as its header states it (read before any pixel is decoded)."""

    tables: tuple[tuple[int, ...], ...]   # quantisation tables by slot, 64 steps each in natural order
    luma_slot: int | None                 # the table slot the first (Y) component uses
    chroma_slot: int | None               # the slot of the second component (Cb), None for gray files
    subsampling: str | None               # "4:4:4", "4:2:2", "4:2:0", "4:4:0", "4:1:1"; None for gray files
    grid: tuple[int, int]                 # (rows, columns) offset of the file's 8 px block grid in the
    #                                       oriented pixels (not 0 when an EXIF rotation moved it)
    ycbcr: bool = False                   # three components Y, Cb, Cr (not RGB or CMYK), Cb and Cr with one
    #                                       table and one sampling: what the decoded pixels can be matched against

    @property
    def luma_table(self) -> np.ndarray | None:
        return np.array(self.tables[self.luma_slot]) if self.luma_slot is not None else None

    @property
    def chroma_table(self) -> np.ndarray | None:
        return np.array(self.tables[self.chroma_slot]) if self.chroma_slot is not None else None


_SUBSAMPLING_NAMES = {(1, 1): "4:4:4", (2, 1): "4:2:2", (2, 2): "4:2:0", (1, 2): "4:4:0", (4, 1): "4:1:1"}


def _natural(table: Any) -> np.ndarray:
    """A table as Pillow returns it, in natural order whatever the Pillow version.

    Pillow before 8.3 returned the steps in zigzag (file) order. Every real table grows from the top-left
    corner, so the order whose first row and column rise more smoothly is the natural one.
    """
    steps = np.asarray(list(table), dtype=np.int64)
    if steps.size != 64:
        raise ValueError("a quantisation table has 64 steps")
    unzig = np.empty(64, dtype=np.int64)
    unzig[ZIGZAG] = steps
    return steps if _roughness(steps) <= _roughness(unzig) else unzig


def _roughness(steps: np.ndarray) -> float:
    # A step of 0 (a damaged table, which libjpeg still decodes) counts as 1: the log would warn on stderr.
    grid = np.log(np.maximum(steps.reshape(8, 8), 1).astype(np.float64))
    return float(np.abs(np.diff(grid, axis=0)).sum() + np.abs(np.diff(grid, axis=1)).sum())


def _grid_offset(width: int, height: int, orientation: int) -> tuple[int, int]:
    """Where the stored image's block grid (at 0, 0) lands after the EXIF orientation is applied."""
    from facerestore.imageio import apply_orientation

    # A canvas the same size as the image modulo 8, its first block marked: where that block starts afterwards.
    marks = np.zeros((8 + height % 8, 8 + width % 8), dtype=np.uint8)
    marks[:8, :8] = 1
    rows, cols = np.nonzero(apply_orientation(marks, orientation))
    return int(rows.min()) % 8, int(cols.min()) % 8


def _codes_chroma(im: Any, layers: list) -> bool:
    """Whether the components after the first are chroma (YCbCr, or Adobe's YCCK), by libjpeg's own reading of
    the colour space: JFIF means YCbCr, else an Adobe marker's transform flag, else three components are YCbCr
    unless their ids are R, G, B. In a CMYK or RGB-coded file the second component is magenta or green, usually
    under the first component's table, which read as chroma would be misjudged."""
    if len(layers) < 3:
        return False
    if "jfif" in im.info and len(layers) == 3:
        return True
    if "adobe_transform" in im.info:
        return im.info["adobe_transform"] != 0
    return len(layers) == 3 and tuple(layer[0] for layer in layers) != (82, 71, 66)  # "R", "G", "B"


def _is_ycbcr(im: Any, layers: list) -> bool:
    """Whether the three components are Y, Cb, Cr sharing one chroma table and sampling."""
    return len(layers) == 3 and layers[1][1:] == layers[2][1:] and _codes_chroma(im, layers)


def read_jpeg_info(im: Any, orientation: int = 1) -> JpegInfo | None:
    """The header facts of an opened Pillow JPEG image; None when it has no usable tables."""
    try:
        tables_by_slot = dict(getattr(im, "quantization", None) or {})
        if not tables_by_slot:
            return None
        slots = sorted(tables_by_slot)
        tables = tuple(tuple(int(v) for v in _natural(tables_by_slot[s])) for s in slots)
        layers = list(getattr(im, "layer", None) or [])
        index = {slot: i for i, slot in enumerate(slots)}
        luma = index.get(layers[0][3], 0) if layers else 0
        chroma = index.get(layers[1][3]) if _codes_chroma(im, layers) else None
        subsampling = None
        if len(layers) >= 3:
            ratio = (layers[0][1] // max(1, layers[1][1]), layers[0][2] // max(1, layers[1][2]))
            subsampling = _SUBSAMPLING_NAMES.get(ratio, f"{ratio[0]}x{ratio[1]}")
        return JpegInfo(tables, luma, chroma, subsampling, _grid_offset(im.size[0], im.size[1], orientation),
                        _is_ycbcr(im, layers))
    except (ValueError, TypeError, IndexError, KeyError):
        return None  # a malformed header costs the analysis its tables, never the image
