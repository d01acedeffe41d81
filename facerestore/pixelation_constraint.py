"""Pixelated images: each restored block keeps the mean the file gives it.

A nearest-neighbour upscale (:func:`facerestore.degrade.pixelate`, an old small photo zoomed, a mosaic) is made of
blocks: runs of identical rows crossed with runs of identical columns. Each block's value is the mean of the
original over it where the small image was made by averaging (a box downscale by a whole factor, a mosaic filter),
and close to it after other downscalers. So the originals lie in (or near) the set of images whose block means are
the file's block values, and the closest image of that set to a restoration is the restoration less, in each block,
the mean of what it changed there. Nothing else holds a restoration of pixelation to its photo: without it `big`
drifted the colours of a saturated portrait enough to make it 1.4-4.8 dB worse than its input. On the validation
faces pixelated by 1.2-4 at 256 and 512 px every model gained more with it on every damage and size, none of 20
faces worse (`big` +1.0 to +1.9 dB more on upscales by 1.2-1.5; runs/README.txt, "Pixelation constraint").

The blocks are taken from the file itself, and only where they explain the pixelation the analysis read (their
mean size on each axis at least ``MIN_SIZE_SHARE`` of it): a photo pixelated in part, or resized or compressed
since, has no whole identical lines and keeps its restoration as it is. JPEG files are left to their own constraint.
A mark drawn after the zoom (a watermark, a caption strip) breaks the identical lines it crosses; where it leaves
too few of them, lines that differ in at most ``MARK_SHARE`` of their positions join a run up to the length of the
blocks, and in each block the pixels that differ from the value most of its corners share are the mark: kept as
the file has them (there the file is the original), while the rest keep their mean at the block's value
(runs/README.txt, "Tolerant block reading"). A stroke wider than half a block can cover most of its corners; its
ink, a colour much of the marks have and no whole block has, is then the mark there too ("Ink blocks"). The strict
reading wins wherever it holds, in colour and in gray ("The tolerant reading in gray, third rule"). Either way, a
run of identical lines longer than twice the blocks, or whose line is one value throughout, is a flat stretch, kept
as the file has it ("Flat stretches", "Lines of one value").
"""

from __future__ import annotations

import numpy as np

from facerestore.damage.analysis import Damage
from facerestore.imageio import LoadedImage

# Blocks must account for this share of the pixelation read: a nearest upscale by f has runs of mean length f on
# both axes, read as f within 0.1 up to 3 px and as about 4.6 for 4 px blocks (damage/pixels.py); at 0.9 most 4 px
# blocks at 512 px went without (runs/README.txt, "Pixelation constraint").
MIN_SIZE_SHARE = 0.8
# The most of a line a mark drawn after the zoom may cover: the validation watermark spans 27% of a row, the caption
# strip 12% of a column. A photo pixelated over half its width only still differs in every other position.
MARK_SHARE = 1 / 3
# A colour that makes up this share of the pixels first read as marks, and is no whole block's value, is a mark's
# own (a stroke's ink, a caption's letters): a block such a colour covers at most of its corners still has the
# photo's value (runs/README.txt, "Ink blocks").
INK_SHARE = 0.1


def block_starts(pixels: np.ndarray, axis: int, tolerance: float = 0.0) -> np.ndarray:
    """Where each run of identical lines along ``axis`` (0: rows, 1: columns) of ``pixels`` (H x W x C) starts.
    With a ``tolerance``, a line that differs from the one before in at most that share of its positions joins
    its run while the run stays as long as the blocks of identical lines (merged from the top or left), so that a
    mark drawn over blocks joins their lines again but two blocks of a flat photo do not become one."""
    lines = np.moveaxis(pixels, axis, 0)
    if tolerance == 0:
        same = (lines[1:] == lines[:-1]).all(axis=tuple(range(1, lines.ndim)))
        return np.flatnonzero(np.concatenate(([True], ~same)))
    differ = _differ(lines[1:], lines[:-1])
    starts = np.flatnonzero(np.concatenate(([True], differ.any(axis=1))))
    share = differ.mean(axis=1)
    longest = block_length(np.diff(np.append(starts, lines.shape[0])))
    kept = [0]
    for start, following in zip(starts[1:].tolist(), np.append(starts[2:], lines.shape[0]).tolist()):
        if share[start - 1] > tolerance or following - kept[-1] > longest:
            kept.append(start)
    return np.array(kept)


def block_length(lengths: np.ndarray) -> int:
    """The blocks' size on an axis whose runs of identical lines have ``lengths``: the longest length that makes up
    at least a tenth of the runs (a flat band's runs are longer, and few)."""
    common = np.flatnonzero(np.bincount(lengths) >= 0.1 * lengths.size)
    return int(common.max()) if common.size else int(lengths.max())  # no length that common: no flat band told


def _differ(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Where two ... x C arrays differ in any channel: channel by channel, as numpy reduces a 3-long last axis
    slowly."""
    out = a[..., 0] != b[..., 0]
    for channel in range(1, a.shape[-1]):
        out |= a[..., channel] != b[..., channel]
    return out


def _equal(a: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Where the ... x C array ``a`` is ``value`` in every channel (C values, or C arrays of a's other shape)."""
    out = a[..., 0] == value[0]
    for channel in range(1, a.shape[-1]):
        out &= a[..., channel] == value[channel]
    return out


def _one_value(lines: np.ndarray) -> np.ndarray:
    """Which of ``lines`` (N x L x C, a view) are one value throughout: each line against its first pixel, channel
    by channel, so that the only copy is one boolean per pixel."""
    return _equal(lines, np.moveaxis(lines[:, :1], -1, 0)).all(axis=1)


def _spread(values: np.ndarray, heights: np.ndarray, widths: np.ndarray) -> np.ndarray:
    """One value per block (rows x columns x ...) repeated over the blocks' pixels."""
    return np.repeat(np.repeat(values, heights, axis=0), widths, axis=1)


def marked_pixels(pixels: np.ndarray, rows: np.ndarray, columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where (row and column indices) a pixel differs from its block's value, the one the most of the block's four
    corners share (ties to the earlier corner in top-left, top-right, bottom-left, bottom-right): a mark. Only the
    blocks whose pixels are not all one value are looked into, so the work follows the marks' size."""
    heights = np.diff(np.append(rows, pixels.shape[0]))
    widths = np.diff(np.append(columns, pixels.shape[1]))
    starts_row = np.zeros(pixels.shape[0], dtype=bool)
    starts_row[rows] = True
    starts_column = np.zeros(pixels.shape[1], dtype=bool)
    starts_column[columns] = True
    # A pixel unlike the one above or to its left within its block: a block without one is a single value.
    breaks = np.zeros(pixels.shape[:2], dtype=bool)
    breaks[1:] = _differ(pixels[1:], pixels[:-1]) & ~starts_row[1:, None]
    breaks[:, 1:] |= _differ(pixels[:, 1:], pixels[:, :-1]) & ~starts_column[None, 1:]
    mixed = np.logical_or.reduceat(np.logical_or.reduceat(breaks, rows, axis=0), columns, axis=1)
    del breaks
    ys, xs = np.nonzero(_spread(mixed, heights, widths))
    row_block = np.repeat(np.arange(rows.size), heights)[ys]
    column_block = np.repeat(np.arange(columns.size), widths)[xs]
    block = row_block * columns.size + column_block
    values = pixels[ys, xs]
    best_count, best = None, None
    for r in (rows, rows + heights - 1):
        for c in (columns, columns + widths - 1):
            equal = (values == pixels[r[row_block], c[column_block]]).all(axis=-1)
            count = np.bincount(block, weights=equal, minlength=rows.size * columns.size)[block]
            if best is None:
                best_count, best = count, equal
            else:
                wins = count > best_count
                best_count = np.where(wins, count, best_count)
                best = np.where(wins, equal, best)
    if INK_SHARE and best.size:
        best = _ink_blocks(values, block, best, rows.size * columns.size,
                           lambda: pixels[np.ix_(rows, columns)][~mixed])
    return ys[~best], xs[~best]


def _ink_blocks(values: np.ndarray, block: np.ndarray, kept: np.ndarray, blocks: int, whole_values) -> np.ndarray:
    """``kept`` (which of the mixed blocks' pixels ``values`` in blocks ``block``, of ``blocks``, have their block's
    value) read again where a mark covers most of a block's corners: the mark's colours are the values that each
    make up at least ``INK_SHARE`` of the pixels read as marks and that no block of one value has (``whole_values()``:
    their values, N x C); a block whose value is one of them, and whose other pixels all share one value, has that
    value (a zoomed block is one value) and its ink is the mark."""
    colours, counts = np.unique(values[~kept], axis=0, return_counts=True)
    ink = np.zeros(kept.size, dtype=bool)
    whole = None
    for colour in colours[counts >= max(INK_SHARE * (~kept).sum(), 1)]:
        inked = _equal(values, colour)
        if not (inked & kept).any():  # no block has it for its value: nothing to read again
            continue
        # A value some block of one value has is the photo's (or a box's, as a half-transparent box's blend).
        whole = whole_values() if whole is None else whole
        if not _equal(whole, colour).any():
            ink |= inked
    inked_block = np.zeros(blocks, dtype=bool)
    inked_block[block[kept & ink]] = True  # blocks whose value is ink
    other = np.flatnonzero(~ink & inked_block[block])  # their pixels unlike the ink
    if other.size == 0:
        return kept
    one = np.full(blocks, -1)
    one[block[other]] = other  # one pixel unlike the ink of each such block (any: all must share its value)
    alike = _equal(values[other], values[one[block[other]]].T)
    unlike = np.zeros(blocks, dtype=bool)
    unlike[block[other[~alike]]] = True
    again = (one >= 0) & ~unlike  # one value besides the ink: the block's own
    moved = np.flatnonzero(again[block])
    out = kept.copy()
    out[moved] = _equal(values[moved], values[one[block[moved]]].T)
    return out


class PixelationConstraint:
    """The blocks of one decoded pixelated image, to keep each block's mean of a restoration at the file's."""

    def __init__(self, pixels: np.ndarray, rows: np.ndarray, columns: np.ndarray,
                 marks: tuple[np.ndarray, np.ndarray] | None = None):
        self._pixels = pixels    # H x W x C floats, the decoded image
        self._rows = rows        # where each run of rows starts
        self._columns = columns  # where each run of columns starts
        self._marks = marks      # row and column indices of the pixels of marks drawn after the zoom; None: none
        self._heights = np.diff(np.append(rows, pixels.shape[0]))
        self._widths = np.diff(np.append(columns, pixels.shape[1]))
        sizes = self._heights[:, None] * self._widths[None, :]
        if marks is not None:  # a mark's pixels do not count in its block's mean
            blocks = (np.searchsorted(rows, marks[0], side="right") - 1) * columns.size \
                + np.searchsorted(columns, marks[1], side="right") - 1
            sizes = sizes - np.bincount(blocks, minlength=sizes.size).reshape(sizes.shape)
        self._sizes = sizes[..., None].astype(np.float32)  # the pixels each block's mean is taken over
        # Runs of identical lines longer than twice the blocks are no blocks of the zoom (an upscale by f makes runs
        # of floor(f) and ceil(f) lines) but a flat stretch drawn over it (a caption strip's box, a print's border,
        # a letterbox bar) or a flat part of the photo: kept as the file has them, since holding only their mean
        # left a model's ringing in a caption's box (runs/README.txt, "Flat stretches"). So are runs whose line is
        # one value throughout, whatever their length: a box's rows at its edge, where a model blurs the photo in
        # ("Lines of one value").
        self._flat_rows = np.repeat(
            (self._heights > 2 * block_length(self._heights)) | _one_value(pixels)[rows], self._heights)
        self._flat_columns = np.repeat(
            (self._widths > 2 * block_length(self._widths)) | _one_value(pixels.swapaxes(0, 1))[columns], self._widths)

    @classmethod
    def of(cls, loaded: LoadedImage, damage: Damage) -> PixelationConstraint | None:
        """The constraint of a decoded file (``damage``: its analysis), or None where no pixelation is read or its
        blocks are not runs of rows and columns identical but for a mark."""
        if loaded.jpeg is not None or damage.pixelation <= 1.0:
            return None
        pixels = loaded.pixels
        least = MIN_SIZE_SHARE * damage.pixelation
        for tolerance in (0.0, MARK_SHARE):
            rows, columns = block_starts(pixels, 0, tolerance), block_starts(pixels, 1, tolerance)
            if pixels.shape[0] / rows.size >= least and pixels.shape[1] / columns.size >= least:
                marks = marked_pixels(pixels, rows, columns) if tolerance else None
                return cls(pixels, rows, columns, marks if marks is not None and marks[0].size else None)
        return None

    def enforce(self, restored: np.ndarray) -> np.ndarray:
        """``restored`` (H x W x C floats in [0, 1], the decoded image's shape) less, in each block, the mean of its
        difference from the decoded image there, and the decoded image's own pixels on a mark and a flat stretch;
        kept in [0, 1]."""
        out = np.array(restored, dtype=np.float32)  # a copy, then worked in place: a 12 MP photo is 144 MB a copy
        change = out - self._pixels
        if self._marks is not None:
            change[self._marks] = 0.0
        sums = np.add.reduceat(np.add.reduceat(change, self._rows, axis=0), self._columns, axis=1)
        del change
        out -= _spread(sums / self._sizes, self._heights, self._widths)
        if self._marks is not None:
            out[self._marks] = self._pixels[self._marks]
        if self._flat_rows.any():
            out[self._flat_rows] = self._pixels[self._flat_rows]
        if self._flat_columns.any():
            out[:, self._flat_columns] = self._pixels[:, self._flat_columns]
        return np.clip(out, 0.0, 1.0, out=out)
