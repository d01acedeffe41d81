"""``facerestore degrade HQ_DIR -o PAIRS_DIR``: make degraded/clean training or test pairs.

Writes ``PAIRS_DIR/hq/<rel>.png`` (the original pixels, lossless) and ``PAIRS_DIR/lq/<rel>.png`` (the
degraded pixels) for every image under ``HQ_DIR``, mirroring its folders, plus ``PAIRS_DIR/manifest.json``
recording the chain applied to each image. Images are found, decoded and written by the runtime's own
``discovery`` and ``imageio`` (the same formats, limits and one-line errors as ``enhance``); numpy + Pillow
only (``facerestore.degrade``): no torch, no ONNX Runtime. Each image's randomness comes from ``--seed`` and its relative path, so a result does not
depend on which other files are present or in what order they are processed.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:  # numpy, Pillow and the degradations load only when the command runs (fast --help)
    import numpy as np

    from facerestore.imageio import LoadedImage

MANIFEST_NAME = "manifest.json"
RANDOM = "random"  # --chain random: a fresh blind-training mixture per image (facerestore.degrade.random_chain)


@dataclass(frozen=True)
class PairResult:
    source: str  # path relative to HQ_DIR, POSIX separators
    hq: str  # relative to PAIRS_DIR
    lq: str
    chain: str
    width: int
    height: int


def read_levels(path: Path) -> tuple[np.ndarray, LoadedImage]:
    """uint8 HxWx3 (or HxW for grayscale sources), EXIF orientation applied, alpha dropped, and the decoded
    image (``facerestore.imageio.read_image``: same formats, limits and error lines as ``enhance``)."""
    import numpy as np

    from facerestore.imageio import read_image
    from facerestore.metrics import to_uint8

    loaded = read_image(path)
    if loaded.bit_depth == 16:  # 16-bit sources keep their high byte
        levels = to_uint8(np.rint(loaded.pixels * 65535.0).astype(np.uint16))
    else:
        levels = to_uint8(loaded.pixels)
    return (levels[..., 0] if levels.shape[-1] == 1 else levels), loaded


def image_seed(seed: int, rel: str) -> np.random.Generator:
    """A generator that depends only on ``seed`` and the image's relative path."""
    import numpy as np

    return np.random.default_rng([seed, int(hashlib.sha256(rel.encode()).hexdigest()[:16], 16)])


def _write_png(levels: np.ndarray, like: LoadedImage, dst: Path) -> None:
    import numpy as np

    from facerestore.imageio import write_image

    write_image(dst, levels.astype(np.float32) / 255.0, like, fmt="png")


def degrade_one(src: Path, rel: Path, out: Path, spec: str, seed: int) -> PairResult:
    """Degrade one image and write its pair; raises FaceRestoreError (ImageError, OutputError) or ValueError."""
    import dataclasses

    from facerestore.degrade import parse_chain, random_chain

    key = rel.as_posix()
    rng = image_seed(seed, key)
    chain = random_chain(rng) if spec == RANDOM else parse_chain(spec)
    hq, loaded = read_levels(src)
    lq = chain.apply(hq, rng)
    # Training pairs are 8-bit pixels only: no alpha, no metadata to carry over.
    plain = dataclasses.replace(loaded, alpha=None, bit_depth=8, exif=None, icc_profile=None, dpi=None)
    name = rel.with_suffix(".png")
    _write_png(hq, plain, out / "hq" / name)
    _write_png(lq, plain, out / "lq" / name)
    return PairResult(key, f"hq/{name.as_posix()}", f"lq/{name.as_posix()}", str(chain), hq.shape[1], hq.shape[0])


def write_manifest(out: Path, spec: str, seed: int, pairs: list[PairResult], failed: dict[str, str]) -> Path:
    from facerestore.atomic import write_json
    from facerestore.degrade import parse_chain
    from facerestore.errors import OutputError

    doc = {
        "chain": spec if spec == RANDOM else str(parse_chain(spec)),
        "seed": seed,
        "pairs": [vars(p) for p in pairs],
        "failed": [{"source": k, "error": v} for k, v in failed.items()],
    }
    dst = out / MANIFEST_NAME
    try:
        write_json(dst, doc)
    except OSError as exc:
        raise OutputError(f"cannot write {dst}: {exc.strerror or exc}") from None
    return dst


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


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
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed for noise and random chains.")
@click.option("-q", "--quiet", is_flag=True, help="No progress or summary on stderr (errors still shown).")
def degrade(hq_dir: Path, pairs_dir: Path, preset: str | None, chain_spec: str | None, seed: int,
            quiet: bool) -> None:
    """Write degraded/clean image pairs from the clean photos in HQ_DIR."""
    from collections import Counter

    from rich.text import Text

    from facerestore.commands import exit_on_error, interrupted, note_skipped, note_unread
    from facerestore.console import make_console, progress
    from facerestore.discovery import IMAGE_SUFFIXES, Found, Skipped, iter_inputs, printable
    from facerestore.errors import FaceRestoreError, OutputError
    from facerestore.imageio import make_folder

    spec = _resolve_spec(preset, chain_spec)
    out = pairs_dir.resolve()
    if hq_dir.resolve() in (out / "hq", out / "lq") or out == hq_dir.resolve():
        raise click.UsageError(f"the output folder {pairs_dir} would overwrite the input {hq_dir}")
    console = make_console()
    with exit_on_error(console):  # Ctrl-C while a large tree is walked: exit 130, as later
        # Pairs written inside HQ_DIR by an earlier run are never read back as clean photos (those folders alone:
        # with HQ_DIR inside the output folder, -o ., every photo lies in it).
        pair_dirs = [os.path.realpath(out / "hq"), os.path.realpath(out / "lq")]
        unread: Counter[str] = Counter()
        items = [item for item in iter_inputs([hq_dir], unread=unread)
                 if not any(_inside(os.path.realpath(item.path), folder) for folder in pair_dirs)]
    if not quiet:  # before a refusal for want of images: it may be why there are none
        note_unread(console, unread)
    sources = [item for item in items if isinstance(item, Found)]
    if not sources:
        raise click.UsageError(f"no images found in {hq_dir} (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")

    with exit_on_error(console):  # an -o that cannot be made fails the run as enhance's does: one line, exit 1
        make_folder(pairs_dir)
    pairs: list[PairResult] = []
    failed: dict[str, str] = {}

    def fail(path: Path, key: str, reason: str) -> None:
        failed[key] = reason
        console.print(Text.assemble(("error", "bold red"), f": {printable(str(path))}: {printable(reason)}"))

    for item in items:
        if isinstance(item, Skipped):
            if not quiet:
                note_skipped(console, [item])
        elif not isinstance(item, Found):
            fail(item.path, Path(os.path.relpath(item.path, hq_dir)).as_posix(), item.reason)
    claimed: dict[Path, str] = {}  # output name -> source, so a.jpg and a.png cannot overwrite each other
    interruption: KeyboardInterrupt | None = None
    with exit_on_error(console):
        try:
            with progress(console, len(sources), not quiet, "Degrading") as bar:
                for item in sources:
                    key = item.rel.as_posix()
                    name = item.rel.with_suffix(".png")
                    bar.current(printable(key))
                    try:
                        if name in claimed:
                            raise ValueError(f"same output name as {claimed[name]} ({name.as_posix()})")
                        pair = degrade_one(item.path, item.rel, out, spec, seed)
                        claimed[name] = key  # once written: a file that fails leaves the name to the next one
                        pairs.append(pair)
                        bar.advance(pair.width * pair.height / 1e6)
                    except (FaceRestoreError, ValueError) as exc:
                        fail(item.path, key, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
                        bar.advance()
                        if isinstance(exc, OutputError) and exc.fatal:  # no later pair could be written either
                            break
        except KeyboardInterrupt as exc:  # the pairs written so far are whole: the manifest still lists them
            interruption = exc
        manifest = write_manifest(out, spec, seed, pairs, failed)
    if not quiet or interruption is not None:
        console.print(f"{len(pairs)} pair(s) written to {printable(str(pairs_dir))}"
                      + (f", {len(failed)} failed" if failed else "")
                      + f"; manifest: {printable(str(manifest))}", markup=False)
    if interruption is not None:
        raise interrupted(interruption, console) from interruption
    if failed:
        click.get_current_context().exit(1)
