"""How damaged one decoded image is: its JPEG history, intensity collapse and pixelation, and the damage level
they add up to on the scale training uses (``facerestore.damage.levels``).

A JPEG file's tables state its last compression; its pixels can show an earlier, harsher one (a quality 20 photo
re-saved at 90 is still a quality 20 photo, so the lower quality is the one that counts). A lossy WebP file's
header states its quantiser (``facerestore.damage.webp_header``). Other files are judged from their pixels alone.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from facerestore.damage import jpeg_pixels, jpeg_steps, levels
from facerestore.damage.jpeg_cost import recompression_psnr
from facerestore.damage.jpeg_tables import LUMA_BASE, ijg_table, table_quality
from facerestore.damage.pixels import (effective_levels, main_colours, on_posterized_scale, pixelation_factor,
                                      sharp_edge_share)
from facerestore.imageio import LoadedImage

# The pixels show a double compression when their lattice is this many quality points below the file's tables
# (the lattice reads a single compression within a point or two), or their blocking this many below (coarser).
LATTICE_MARGIN = 10
BLOCKINESS_MARGIN = 25
# Equal neighbours count as pixelation only where neither collapsed intensities (fewer than this many in use per
# channel: posterizing to 64 leaves runs of equal pixels in every smooth gradient) nor heavy JPEG explain them.
PIXELATION_MIN_LEVELS = 128
PIXELATION_MIN_QUALITY = 40
# An image whose commonest colours, at most this many, cover DRAWING_SHARE of it is a drawing, a chart, a logo or a
# bilevel scan (anti-aliased edges add many rare colours), not a damaged photo: its few levels are no evidence of
# banding, nor its edges of pixelation or (in a file without JPEG tables) of blocking. Of the 103 training faces
# posterized to 4 levels per channel, none needs fewer than 6 colours to cover 99 %; gray and posterized to 12
# levels (the fewest that training draws), none fewer than 7.
DRAWING_MAX_COLOURS = 5
DRAWING_SHARE = 0.99
# Up to this many, colours that do not all lie on one posterized scale (N evenly spaced levels per channel, what
# posterizing leaves) are a drawing's too: a bar chart's four colours with black and white read as banding
# (level 0.89) and came back 33 dB from itself. Posterized photos keep their scale exactly.
DRAWING_MAX_PICKED_COLOURS = 12
# Blocking counts as a JPEG's without a lattice only where the steps across the grid exceed those inside blocks by
# this many grey levels. PNGs of JPEGs at quality 10-50 whose lattice a gamma change erased: 1.28 or more (36 face
# and natural photos); studio portraits and a sky saved at 80-95, whose smoothness alone lifts the ratio: 0.74 or less.
MIN_BLOCK_STEP = 1.0
# ... and only where the grid lifts at least this share of its bands of 8 lines on both axes: a logo's or a chart's
# few straight edges lying on one phase lift it as much, from a few bands (a logo saved as JPEG or WebP 75-95 read
# as an earlier JPEG of quality 35-47 and was smoothed 0.4-1.7 dB away from itself). Training faces as JPEGs at 10-70,
# also brightened or cropped and re-saved at 95: 0.52 or more; logos, charts, text and a UI screenshot: 0.13 or less.
MIN_BLOCK_SPREAD = 0.3
# Text, line art, charts and screenshots: at least this share of the steps between neighbouring pixels that are
# not flat are sharp edges (pixels.sharp_edge_share). The training and validation faces, the natural photos and 34
# photos of an archive audit (night, high ISO, grain, bokeh, studio) have at most 0.045, also as JPEGs of quality
# 10-90 (the 10,949 face cases of every archive, fit and WebP damage: 0.032 but where pixelated); rendered text, line
# art, charts, a screenshot and a code editor 0.068 or more from JPEG 30 up (0.04-0.25 at JPEG 10, which blurs
# their edges). A photo taken for one is restored less, never more (damage.strength).
GRAPHIC_SHARP_EDGES = 0.06
# ... in an image at least this many px across: shrunk to thumbnails, photos pack their detail into sharp steps (the
# faces and natural photos reach 0.08 at 48-160 px, 0.06 at 192, at most 0.057 from 200 px on; 0.048 from 256).
GRAPHIC_MIN_SIDE = 200
# Banding and pixelation are read from every 4th line: histograms and neighbour counts need no more.
LINE_STRIDE = 4
# The damages the level adds up, each on the level scale: the kinds a model's strength curve can tell apart.
KINDS = ("jpeg", "banding", "pixelation", "webp")
# The orientations of the IJG tables a copy's pixels are read in: as they are, and transposed (a lossless copy of a
# JPEG turned by 90 or 270 degrees, a phone's portrait stored sideways and saved upright, has its blocks transposed).
EITHER_ORIENTATION = (False, True)


@dataclass(frozen=True)
class Damage:
    """One image's damage. Qualities are IJG qualities (1-100, what ``--quality`` and most software mean)."""

    jpeg_quality: int | None            # the quality that counts: the harshest compression found, None if none
    jpeg_quality_source: str | None     # "tables" (the file's header) or "pixels" (read from the pixels)
    table_quality: int | None           # the luma table's quality (nearest equivalent for custom tables)
    chroma_quality: int | None          # the chroma table's quality
    standard_tables: bool | None        # the tables are exactly IJG's (False: a camera's or editor's own)
    subsampling: str | None             # chroma subsampling of a JPEG file: "4:2:0", "4:2:2", "4:4:4"...
    double_compression: bool | None     # the pixels were compressed harder before the file's last save
    pixel_quality: int | None           # the quality read from the pixels, None where they show no JPEG
    grid_offset: tuple[int, int] | None  # (rows, columns) of the 8 px grid that quality was read on, in the
    #                                      image's own rows and columns (a turned copy's too)
    blockiness: float                   # excess of steps across the strongest 8 px grid over steps inside
    effective_levels: float             # intensities in use per channel, of 256 (a posterized image: its N)
    banding: float                      # levels.banding_level(effective_levels): 0 clean .. 1 at 4 levels
    pixelation: float                   # size in px of uniform blocks (1: none)
    webp_index: float | None            # a lossy WebP file's luma quantiser index (0 finest .. 127), else None
    level: float                        # the damage level in [0, 1] these add up to (levels.combine)
    sharp_edges: float = 0.0            # share of the steps that are not flat that are sharp edges (0 if small)
    cost_quality: int | None = None     # the quality whose damage jpeg_quality did to this content, on the
    #                                     training faces' scale (levels.cost_quality; >= jpeg_quality): the
    #                                     quality the level follows
    jpeg_transposed: bool = False       # the pixels' blocks hold the IJG table transposed: a copy of a JPEG
    #                                     turned by 90 or 270 degrees (never a JPEG file: its tables are its own)

    @property
    def graphic(self) -> bool:
        """Text, line art, a chart or a screenshot rather than a photo (:func:`is_graphic`)."""
        return is_graphic(self.sharp_edges, self.pixelation)

    @property
    def parts(self) -> dict[str, float]:
        """The level of each kind of damage found (KINDS), before ``levels.combine`` adds them up."""
        return _parts(self.cost_quality or self.jpeg_quality, self.banding, self.pixelation, self.webp_index)

    @property
    def kind(self) -> str:
        """The damage that dominates the level: the kind with the largest part (JPEG where none shows)."""
        parts = self.parts
        return max(KINDS, key=lambda k: parts[k])  # the first of KINDS on a tie

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["kind"] = self.kind
        out["graphic"] = self.graphic
        out["grid_offset"] = list(self.grid_offset) if self.grid_offset is not None else None
        for key in ("blockiness", "effective_levels", "banding", "pixelation", "level", "sharp_edges"):
            out[key] = round(float(out[key]), 4)
        if out["webp_index"] is not None:
            out["webp_index"] = round(float(out["webp_index"]), 2)
        return out


def _pixel_quality(y: np.ndarray, blocking: jpeg_pixels.Blocking, grids: list[tuple[int, int]],
                   orientations: tuple[bool, ...] = (False,)
                   ) -> tuple[int | None, tuple[int, int] | None, str | None, bool]:
    """(quality, grid, how, transposed) of the harshest JPEG compression the luma shows on any of ``grids``, from
    its lattice where one fits ("lattice"), in whichever of ``orientations`` of the IJG tables a lattice fits with
    the most evidence (as they are on a tie), else from the strength of its blocking ("blockiness": the same in
    either orientation, so as they are)."""
    found = [fit for offset in dict.fromkeys(grids) for fit in jpeg_pixels.lattice_fits(y, offset, orientations) or ()
             if fit.found]
    if found:
        # The orientation first: a turned copy's blocks fit the table as it lies too, at a coarser quality.
        transposed = max(found, key=lambda f: (f.evidence, not f.transposed)).transposed
        harshest = min((f for f in found if f.transposed == transposed), key=lambda f: f.quality)
        return harshest.quality, harshest.offset, "lattice", transposed
    # Blockiness is a ratio of the steps across the grid to those inside blocks, so smooth content (a plain
    # backdrop, a sky) inflates it: a studio portrait saved at 80 reads like 20. The steps themselves tell.
    if blocking.step < MIN_BLOCK_STEP or blocking.spread < MIN_BLOCK_SPREAD:
        return None, None, None, False
    quality = jpeg_pixels.blockiness_quality(blocking.strength)
    return (quality, blocking.offset, "blockiness", False) if quality is not None else (None, None, None, False)


def analyze(loaded: LoadedImage) -> Damage:
    """The damage of a decoded image (its ``jpeg`` header facts included when it was read from a JPEG file)."""
    pixels = loaded.pixels
    y = jpeg_pixels.luma255(pixels)
    blocking = jpeg_pixels.blocking(y)
    info = loaded.jpeg

    table_q = chroma_q = None
    standard = double = None
    transposed = False
    if info is not None and info.luma_table is not None:
        luma = table_quality(info.luma_table, "luma")
        table_q, standard = luma.quality, luma.standard
        chroma_table = info.chroma_table
        if chroma_table is not None:
            chroma = table_quality(chroma_table, "chroma")
            chroma_q, standard = chroma.quality, standard and chroma.standard
        # The file's own grid first, then wherever blocking is strongest (an earlier save before a crop).
        pixel_q, grid, how, _ = _pixel_quality(y, blocking, [info.grid, blocking.offset])
        margin = LATTICE_MARGIN if how == "lattice" else BLOCKINESS_MARGIN
        # Blocking on the file's own grid is the file's own: its strength is a ratio to the steps inside blocks,
        # so a smooth photo saved once at 90 reads like quality 30. There, only a lattice shows an earlier save.
        own_blocking = how == "blockiness" and grid == info.grid
        # A lattice sees the first steps only: a camera's table that caps its fine steps (IJG 75's first steps,
        # none above 12: 89 in all) shows the lattice of 75 after one save. It is judged against those steps.
        if how == "lattice":
            seen = table_quality(info.luma_table, "luma", first=jpeg_pixels.LATTICE_COEFFICIENTS).quality
        double = (pixel_q is not None and not own_blocking
                  and pixel_q <= (seen if how == "lattice" else table_q) - margin)
        quality, source = (pixel_q, "pixels") if double else (table_q, "tables")
    else:
        # A crop moves the grid where blocking is strongest; where blocking is too faint to place it, an
        # uncropped conversion still has it at (0, 0).
        grids = [blocking.offset]
        if blocking.strength <= jpeg_pixels.BLOCKINESS_CLEAN_MAX:
            grids.append((0, 0))
        pixel_q, grid, how, transposed = _pixel_quality(y, blocking, grids, EITHER_ORIENTATION)
        if pixel_q is None:
            # Smooth content and the finest steps give the lattice fit too little to judge; the steps of a copy
            # of a JPEG, where they are an IJG table's, name its quality.
            read = jpeg_steps.copy_quality(pixels, grids, EITHER_ORIENTATION)
            if read is not None:
                pixel_q, grid, transposed = read
        quality, source = pixel_q, ("pixels" if pixel_q is not None else None)

    rows, columns = sampled_lines(pixels)
    n_levels = effective_levels(rows)
    banding = levels.banding_level(n_levels)
    factor = pixelation_factor(rows, columns)
    if n_levels < PIXELATION_MIN_LEVELS or (quality is not None and quality < PIXELATION_MIN_QUALITY):
        factor = 1.0
    if (banding > 0.0 or factor > 1.0 or source == "pixels") and _drawing(rows):
        # A drawing's flat colours and straight edges mimic banding, pixelation and JPEG blocking: none counts.
        banding, factor = 0.0, 1.0
        if info is None:
            quality = source = pixel_q = grid = None
            transposed = False
    sharp_edges = sharp_edge_share(y) if min(y.shape) >= GRAPHIC_MIN_SIDE else 0.0
    if banding > 0.0 and is_graphic(sharp_edges, factor):
        # Text and line art use few levels by nature, saved lossily or not (a form of grey rules and black text on
        # white read as banding 0.33 beside its JPEG 75): their histogram is no evidence of collapsed intensities.
        banding = 0.0
    webp_index = loaded.webp.luma_index if loaded.webp is not None else None
    cost_q = None
    if quality is not None:
        # What that compression cost this content: re-compressed with the file's own luma table where its last save
        # is the compression that counts, else with IJG's at the quality read from the pixels.
        own = source == "tables" and info is not None
        table = info.luma_table if own else ijg_table(LUMA_BASE, quality)
        if transposed:  # a turned copy's blocks: the table as they hold it
            table = jpeg_steps.transposed(table)
        cost_q = levels.cost_quality(quality, recompression_psnr(y, table, info.grid if own else grid or (0, 0)))
    level = levels.combine(_parts(cost_q or quality, banding, factor, webp_index).values())
    return Damage(jpeg_quality=quality, jpeg_quality_source=source, table_quality=table_q,
                  chroma_quality=chroma_q, standard_tables=standard,
                  subsampling=info.subsampling if info is not None else None, double_compression=double,
                  pixel_quality=pixel_q, grid_offset=grid, blockiness=blocking.strength,
                  effective_levels=n_levels, banding=banding, pixelation=factor, webp_index=webp_index,
                  level=level, sharp_edges=sharp_edges, cost_quality=cost_q, jpeg_transposed=transposed)


def is_graphic(sharp_edges: float, pixelation: float) -> bool:
    """Whether an image with this share of sharp edges (GRAPHIC_SHARP_EDGES) and pixelation is text, line art, a
    chart or a screenshot. Not where pixelation is read: flat blocks with hard steps between them lift the share
    too (faces pixelated by 4: up to 0.064)."""
    return sharp_edges >= GRAPHIC_SHARP_EDGES and pixelation == 1.0


def _drawing(rows: np.ndarray) -> bool:
    """Whether 8-bit ``rows`` of an image are a drawing's: few colours, or not many more picked off any
    posterized scale."""
    colours = main_colours(rows, DRAWING_SHARE)
    return colours <= DRAWING_MAX_COLOURS or (colours <= DRAWING_MAX_PICKED_COLOURS
                                              and not on_posterized_scale(rows, DRAWING_SHARE))


def _parts(jpeg_quality: int | None, banding: float, pixelation: float,
           webp_index: float | None) -> dict[str, float]:
    return {"jpeg": levels.jpeg_level(jpeg_quality) if jpeg_quality is not None else 0.0, "banding": banding,
            "pixelation": levels.pixelation_level(pixelation),
            "webp": levels.webp_level(webp_index) if webp_index is not None else 0.0}


def sampled_lines(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The lines the pixel-level readings use: every ``LINE_STRIDE``-th row, and every ``LINE_STRIDE``-th column
    laid out as a row, as 8-bit levels of float ``pixels`` (H x W x C in [0, 1])."""
    return _levels8(pixels[::LINE_STRIDE]), _levels8(pixels[:, ::LINE_STRIDE].swapaxes(0, 1))


def _levels8(pixels: np.ndarray) -> np.ndarray:
    """8-bit levels of float pixels in [0, 1] (those decoded from 8-bit files are exact multiples of 1/255)."""
    scaled = pixels * np.float32(255.0)
    scaled += np.float32(0.5)
    return scaled.astype(np.uint8)
