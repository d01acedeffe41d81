"""``facerestore degrade HQ_DIR -o PAIRS_DIR``: make degraded/clean training or test pairs.

Writes ``PAIRS_DIR/hq/<rel>.png`` (the original pixels, lossless) and ``PAIRS_DIR/lq/<rel>.png`` (the
degraded pixels) for every image under ``HQ_DIR``, mirroring its folders, plus ``PAIRS_DIR/manifest.json``
recording the chain applied to each image. Numpy + Pillow only (``facerestore.degrade``): no torch, no
ONNX Runtime. Each image's randomness comes from ``--seed`` and its relative path, so a result does not
depend on which other files are present or in what order they are processed.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:  # numpy, Pillow and the degradations load only when the command runs (fast --help)
    import numpy as np

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif"}
MANIFEST_NAME = "manifest.json"
RANDOM = "random"  # --chain random: a fresh blind-training mixture per image (facerestore.degrade.random_chain)
_GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"}


@dataclass(frozen=True)
class PairResult:
    source: str  # path relative to HQ_DIR, POSIX separators
    hq: str  # relative to PAIRS_DIR
    lq: str
    chain: str
    width: int
    height: int


def find_images(root: Path, exclude: Path | None = None) -> list[Path]:
    """Image files under ``root`` (sorted, hidden entries skipped), never inside ``exclude``."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".")
                             and (exclude is None or (here / d).resolve() != exclude))
        found += [here / f for f in sorted(filenames)
                  if not f.startswith(".") and Path(f).suffix.lower() in IMAGE_SUFFIXES]
    return found


def read_pixels(path: Path) -> np.ndarray:
    """uint8 HxWx3 (or HxW for grayscale sources), EXIF orientation applied, alpha dropped."""
    import numpy as np
    from PIL import Image, ImageOps

    with Image.open(path) as im:
        im.seek(0)
        im = ImageOps.exif_transpose(im)
        if im.mode in _GRAY_MODES:
            if im.mode.startswith("I;16"):  # 16-bit gray: keep the high byte
                return (np.asarray(im, dtype=np.uint16) >> 8).astype(np.uint8)
            return np.asarray(im.convert("L"))
        return np.asarray(im.convert("RGB"))


def image_seed(seed: int, rel: str) -> np.random.Generator:
    """A generator that depends only on ``seed`` and the image's relative path."""
    import numpy as np

    return np.random.default_rng([seed, int(hashlib.sha256(rel.encode()).hexdigest()[:16], 16)])


def _atomic_tmp(dst: Path) -> Path:
    # A sibling opened with "x" (not mkstemp): same filesystem for the rename, umask permissions, not 0600.
    return dst.with_name(f".{dst.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


def _write_png_atomic(pixels: np.ndarray, dst: Path) -> None:
    from PIL import Image

    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = _atomic_tmp(dst)
    try:
        with open(tmp, "xb") as fh:
            Image.fromarray(pixels).save(fh, format="PNG")
        os.replace(tmp, dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def degrade_one(src: Path, rel: Path, out: Path, spec: str, seed: int) -> PairResult:
    """Degrade one image and write its pair; raises OSError/ValueError for unreadable or unwritable files."""
    from facerestore.degrade import parse_chain, random_chain

    key = rel.as_posix()
    rng = image_seed(seed, key)
    chain = random_chain(rng) if spec == RANDOM else parse_chain(spec)
    hq = read_pixels(src)
    lq = chain.apply(hq, rng)
    name = rel.with_suffix(".png")
    _write_png_atomic(hq, out / "hq" / name)
    _write_png_atomic(lq, out / "lq" / name)
    return PairResult(key, f"hq/{name.as_posix()}", f"lq/{name.as_posix()}", str(chain), hq.shape[1], hq.shape[0])


def write_manifest(out: Path, spec: str, seed: int, pairs: list[PairResult], failed: dict[str, str]) -> Path:
    from facerestore.degrade import parse_chain

    doc = {
        "chain": spec if spec == RANDOM else str(parse_chain(spec)),
        "seed": seed,
        "pairs": [vars(p) for p in pairs],
        "failed": [{"source": k, "error": v} for k, v in failed.items()],
    }
    dst = out / MANIFEST_NAME
    tmp = _atomic_tmp(dst)
    with open(tmp, "x", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=1)
        fh.write("\n")
    os.replace(tmp, dst)
    return dst


def _resolve_spec(preset: str | None, chain: str | None) -> str:
    from facerestore.degrade import PRESETS, parse_chain
    from facerestore.errors import DegradationSpecError

    if preset and chain:
        raise click.UsageError("give --preset or --chain, not both")
    if chain and chain.strip() == RANDOM:
        return RANDOM
    spec = PRESETS[preset] if preset else (chain or PRESETS["paper"])
    try:
        parse_chain(spec)
    except DegradationSpecError as exc:
        raise click.BadParameter(str(exc), param_hint="--chain") from None
    return spec


class _PresetChoice(click.Choice):
    """``click.Choice`` over ``facerestore.degrade.PRESETS``, read only when needed (help, parsing)."""

    def __init__(self) -> None:
        super().__init__(())

    @property
    def choices(self) -> Sequence[str]:
        from facerestore.degrade import PRESETS

        return tuple(sorted(PRESETS))

    @choices.setter
    def choices(self, value: Sequence[str]) -> None:  # click.Choice.__init__ assigns it
        pass


@click.command("degrade")
@click.argument("hq_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("-o", "--output", "pairs_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for hq/, lq/ and manifest.json.")
@click.option("--preset", type=_PresetChoice(),
              help="A named degradation (default: paper, the research report's).")
@click.option("--chain", "chain_spec", metavar="SPEC",
              help="A chain such as 'posterize:12,jpeg:20', or 'random' for a blind-training mixture per image.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for noise and random chains.")
@click.option("-q", "--quiet", is_flag=True, help="No progress or summary on stderr (errors still shown).")
def degrade(hq_dir: Path, pairs_dir: Path, preset: str | None, chain_spec: str | None, seed: int,
            quiet: bool) -> None:
    """Write degraded/clean image pairs from the clean photos in HQ_DIR."""
    from PIL import Image
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    spec = _resolve_spec(preset, chain_spec)
    out = pairs_dir.resolve()
    if hq_dir.resolve() in (out / "hq", out / "lq") or out == hq_dir.resolve():
        raise click.UsageError(f"the output folder {pairs_dir} would overwrite the input {hq_dir}")
    sources = find_images(hq_dir, exclude=out)
    if not sources:
        raise click.UsageError(f"no images found in {hq_dir} (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
    out.mkdir(parents=True, exist_ok=True)

    console = Console(stderr=True, highlight=False, soft_wrap=True)
    pairs: list[PairResult] = []
    failed: dict[str, str] = {}
    claimed: dict[Path, str] = {}  # output name -> source, so a.jpg and a.png cannot overwrite each other
    with Progress(TextColumn("Degrading"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console, disable=quiet or not console.is_terminal, redirect_stdout=False,
                  redirect_stderr=False) as bar:
        task = bar.add_task("degrade", total=len(sources))
        for src in sources:
            rel = src.relative_to(hq_dir)
            key = rel.as_posix()
            name = rel.with_suffix(".png")
            try:
                if name in claimed:
                    raise ValueError(f"same output name as {claimed[name]} ({name.as_posix()})")
                claimed[name] = key
                pairs.append(degrade_one(src, rel, out, spec, seed))
            except (OSError, ValueError, Image.DecompressionBombError) as exc:
                reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                failed[key] = reason
                console.print(f"error: {src}: {reason}", markup=False)
            bar.advance(task)
    manifest = write_manifest(out, spec, seed, pairs, failed)
    if not quiet:
        console.print(f"{len(pairs)} pair(s) written to {pairs_dir}"
                      + (f", {len(failed)} failed" if failed else "") + f"; manifest: {manifest}", markup=False)
    if failed:
        click.get_current_context().exit(1)
