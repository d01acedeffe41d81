"""Export a training checkpoint to a self-contained ONNX file that obeys ``facerestore.contract``.

Steps: rebuild the network from the checkpoint (JSON config + safetensors weights), export it with
dynamic batch/height/width, run ``onnx.checker`` with the full check, prove ONNX Runtime agrees with
torch on real photos, then stamp the metadata the runtime reads and write the file atomically.

torch 2.13's default exporter is the dynamo one (``torch.export`` + onnxscript); it emits opset 18 and
converts down when an older opset is asked for. We take its in-memory ``ModelProto`` and save it
ourselves, so weights are always embedded (no external-data side file) and the write is atomic.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch
from PIL import Image

from facerestore import contract, registry
from facerestore.atomic import write_atomic, write_json
from facerestore.registry import sha256_of

from . import archs, checkpoint
from .data import EVAL_DEGRADATIONS, DataError, eval_pairs, load_rgb, to_gray, to_nchw

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CHECK_IMAGE = ROOT / "examples" / "originals" / "grace_hopper.jpg"
PACKAGE_MODELS = ROOT / "facerestore" / "models"  # where shipped models live (facerestore.registry.MODELS_DIR)
PARITY_TOLERANCE = 1e-4  # max absolute difference between torch and ONNX Runtime, on [0, 1] values
MIN_OPSET = 17
CHECKSUMS_NAME = registry.CHECKSUMS_FILE.name

# What the blind training mixture is, in words (facerestore.degrade.random_chain), for the metadata.
BLIND_MIXTURE = ("blind mixture (random chain per patch): JPEG quality 5-50, single or double, 4:2:0/4:2:2/4:4:4 "
                 "chroma; per-channel intensity collapse to 12-40 levels; mild pixelation (x1.25-2) and "
                 "Gaussian blur (sigma 0.4-1.2)")


# The wider mixture a damage-conditioned model trains on (facerestore.degrade.random_damage).
DAMAGE_MIXTURE = ("damage mixture (random chain per patch, told its damage level): 10% clean; JPEG quality 5-95, "
                  "single or double with a shifted grid, 4:2:0/4:2:2/4:4:4 chroma; per-channel intensity collapse to "
                  "12-64 levels; resampling and pixelation (x1.25-3); Gaussian blur (sigma 0.4-1.5); sensor noise "
                  "and film grain")


class ExportError(Exception):
    """The checkpoint cannot be exported, or the exported file fails a check."""


class InputError(ExportError):
    """Bad input, not a failed export: a missing or unreadable checkpoint or check photo, too old an opset."""


def _checkpoint_base(path: str | Path) -> Path:
    """Accept ``runs/big/best``, ``runs/big/best.json`` or ``runs/big/best.safetensors``."""
    path = Path(path)
    base = path.with_suffix("") if path.suffix in (".json", ".safetensors") else path
    for suffix in (".json", ".safetensors"):
        if not base.with_suffix(suffix).is_file():
            raise InputError(f"{base.with_suffix(suffix)}: checkpoint file missing")
    return base


def load_model(path: str | Path) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Rebuild the generator of a checkpoint in eval mode on the CPU; return it and the JSON metadata."""
    base = _checkpoint_base(path)
    try:
        meta = checkpoint.load_meta(base)
        arch = checkpoint.arch_of(meta)
        if arch not in archs.TRAINABLE:
            raise InputError(f"{base}: unknown or missing architecture {arch!r}")
        model = archs.build(arch)
        checkpoint.load(base, {"model": model})
    except checkpoint.CheckpointError as exc:
        raise InputError(str(exc)) from None
    return model.eval(), meta


@contextlib.contextmanager
def _quiet_loggers(names: tuple[str, ...] = ("onnxscript", "onnx_ir", "torch.onnx", "torch.export")):
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _to_proto(model: torch.nn.Module, opset: int):
    """Trace ``model`` to an in-memory ONNX ``ModelProto`` with dynamic batch, height and width."""
    # Non-square so H and W cannot be confused; a batch of 2, since from a batch of 1 the exporter may fix the
    # batch at 1 (it did for darn8u), which breaks batched tiles on CUDA.
    example = torch.rand(2, model.spec.in_channels, 64, 48)
    batch = torch.export.Dim("batch")
    args: tuple[torch.Tensor, ...] = (example,)
    input_names = [contract.INPUT_NAME]
    if isinstance(model, archs.Darn):
        # Height and width are multiples of what the model folds; the level is one number per image.
        multiple = model.spec.multiple
        dims = {0: batch, 2: multiple * torch.export.Dim("folded_height"),
                3: multiple * torch.export.Dim("folded_width")}
        args = (example, torch.rand(2, 1))
        input_names.append(model.spec.condition)
        model = archs.padded_for_onnx(model)
        dynamic_shapes: dict[str, Any] = {"x": dims, "level": {0: batch}}
    else:
        dims = {0: batch, 2: torch.export.Dim("height"), 3: torch.export.Dim("width")}
        dynamic_shapes = {"x": dims}
    # The exporter chats on stdout ("[torch.onnx] ...") and logs every optimisation pass and the
    # 18 -> 17 opset conversion; stdout belongs to data, and the checks below are what matter.
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings(), _quiet_loggers():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            model, args, dynamo=True, opset_version=opset, verbose=False,
            input_names=input_names, output_names=[contract.OUTPUT_NAME],
            dynamic_shapes=dynamic_shapes, external_data=False)
    proto = program.model_proto
    got = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)
    if got is None or got < MIN_OPSET:
        raise ExportError(f"exporter produced opset {got}, need >= {MIN_OPSET}")
    if got != opset:
        log.warning("asked for opset %d, the exporter produced opset %d", opset, got)
    return proto


def _check_arrays(model: torch.nn.Module, check_images: Iterable[str | Path]) -> list[np.ndarray]:
    """NCHW float32 batches for the parity check: each given photo, or the default photo at two sizes."""
    gray = model.spec.in_channels == 1
    paths = [Path(p) for p in check_images]
    images: list[np.ndarray] = []
    if paths:
        try:
            images = [load_rgb(p) for p in paths]
        except DataError as exc:
            raise InputError(str(exc)) from None
    else:
        full = load_rgb(DEFAULT_CHECK_IMAGE)
        # A second, odd size (crop then resize) so the dynamic axes are really exercised.
        h, w = full.shape[:2]
        crop = full[h // 8: h - h // 8, w // 10: w - w // 10]
        # Odd for the report's models; a multiple of 2 but not of 4 for a model that folds pixels.
        odd = (222, 186) if isinstance(model, archs.Darn) else (221, 187)
        images = [full, np.asarray(Image.fromarray(crop).resize(odd, Image.Resampling.LANCZOS))]
    if isinstance(model, archs.Darn):
        multiple = model.spec.multiple
        images = [im[:im.shape[0] - im.shape[0] % multiple, :im.shape[1] - im.shape[1] % multiple] for im in images]
    arrays = [to_nchw(to_gray(im) if gray else im)[None] for im in images]
    # The first check is a batch of two (the photo and its mirror image), so a graph that only takes one fails here.
    arrays[0] = np.concatenate([arrays[0], arrays[0][..., ::-1]])
    return arrays


def _levels(model: torch.nn.Module) -> tuple[float | None, ...]:
    """The damage levels a conditioned model is checked at (its whole range); None for the report's models."""
    return (0.0, 0.5, 1.0) if isinstance(model, archs.Darn) else (None,)


def check_parity(model: torch.nn.Module, onnx_bytes: bytes, inputs: list[np.ndarray]) -> float:
    """Run torch and ONNX Runtime (CPU) on each input; return the max absolute difference (raises if too big)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(onnx_bytes, opts, providers=["CPUExecutionProvider"])
    worst = 0.0
    for x, level in ((x, level) for x in inputs for level in _levels(model)):
        feeds = {contract.INPUT_NAME: x}
        with torch.no_grad():
            if level is None:
                ref = model(torch.from_numpy(x)).numpy()
            else:
                feeds[model.spec.condition] = np.full((x.shape[0], 1), level, np.float32)
                ref = model(torch.from_numpy(x), torch.from_numpy(feeds[model.spec.condition])).numpy()
        got = sess.run([contract.OUTPUT_NAME], feeds)[0]
        if got.shape != ref.shape:
            raise ExportError(f"ONNX output shape {got.shape} != torch {ref.shape}")
        diff = float(np.max(np.abs(got - ref)))
        log.info("parity %s: max |onnx - torch| = %.2e", "x".join(map(str, x.shape)), diff)
        worst = max(worst, diff)
        if not diff <= PARITY_TOLERANCE:  # also catches NaN
            raise ExportError(f"ONNX Runtime differs from torch by {diff:.3g} (> {PARITY_TOLERANCE}) "
                              f"on input {x.shape}")
    return worst


def _best_row(meta: dict[str, Any]) -> dict[str, Any]:
    """The history row of this checkpoint (the last one: a ``best`` checkpoint is saved right after it)."""
    history = meta.get("history") or []
    return history[-1] if history else {}


def validation_ssim(model: torch.nn.Module, meta: dict[str, Any]) -> tuple[float, float] | None:
    """(PSNR, SSIM) on the checkpoint's validation photos, whole, over the eval degradations.

    Training records only PSNR; SSIM is measured here the same way (RGB, or luma for gray models).
    Returns None when the training data folder is not available.
    """
    from facerestore.metrics import psnr, ssim

    from .train import run_model

    cfg = meta.get("config", {})
    names = meta.get("split", {}).get("val") or []
    data = Path(cfg.get("data", ""))
    crops = data / "crops" if (data / "crops").is_dir() else data
    paths = tuple(crops / n for n in names)
    if not paths or not all(p.is_file() for p in paths):
        return None
    gray = model.spec.in_channels == 1
    psnrs, ssims = [], []
    for pair in eval_pairs(paths, EVAL_DEGRADATIONS):
        lq, hq = (to_gray(pair.lq), to_gray(pair.hq)) if gray else (pair.lq, pair.hq)
        out = run_model(model, lq, torch.device("cpu"), pair.level)
        psnrs.append(psnr(out, hq))
        ssims.append(ssim(out, hq))
    return float(np.mean(psnrs)), float(np.mean(ssims))


def build_metadata(model: torch.nn.Module, meta: dict[str, Any],
                   extra_meta: dict[str, str] | None = None) -> dict[str, str]:
    """Every ``contract.META_KEYS`` property, as strings; ``extra_meta`` overrides or adds keys."""
    spec = model.spec
    cfg = meta.get("config", {})
    split = meta.get("split", {})
    row = _best_row(meta)
    chain = cfg.get("chain", "random")
    extra = list(cfg.get("extra", []))
    # Folders by name only: where the data lay on the training machine (a packed copy on a GPU host) is no
    # description of it.
    training_data = (f"face crops from {Path(cfg.get('data', '?')).name} ({len(split.get('train', []))} train, "
                     f"{len(split.get('val', []))} validation, {len(split.get('test', []))} test; split by "
                     f"source photo)" + (f" + photos from {', '.join(Path(e).name for e in extra)}" if extra else "")
                     + f"; random {cfg.get('patch', '?')}px patches with flips and rescaling")
    conditioned = isinstance(model, archs.Darn)
    # A conditioned model validates on a wider set in training; the card's figures use the report's three.
    val_psnr = None if conditioned else row.get("val_psnr")
    val_ssim = row.get("val_ssim")
    if val_ssim is None:
        measured = validation_ssim(model, meta)
        if measured is not None:
            val_ssim = measured[1]
            val_psnr = val_psnr if val_psnr is not None else measured[0]
    props = {
        contract.META_CONTRACT: contract.CONTRACT_VERSION,
        contract.META_ARCH: spec.name,
        contract.META_PARAMS: str(archs.count_params(model)),
        contract.META_CHANNELS: str(spec.in_channels),
        contract.META_RECEPTIVE: str(spec.receptive_radius),
        contract.META_TRAINING_DATA: training_data,
        contract.META_DEGRADATION: BLIND_MIXTURE if chain == "random" else f"fixed chain {chain}",
        contract.META_EPOCHS: str(meta.get("epoch", len(meta.get("history", [])))),
        contract.META_VAL_PSNR: f"{val_psnr:.3f}" if val_psnr is not None else "unknown",
        contract.META_VAL_SSIM: f"{val_ssim:.4f}" if val_ssim is not None else "unknown",
        contract.META_DATE: datetime.now(timezone.utc).date().isoformat(),
        contract.META_DESCRIPTION: (f"{spec.description}; "
                                    + (f"{cfg['loss'].upper()} loss; " if conditioned and "loss" in cfg else "")
                                    + f"trained {meta.get('step', '?')} steps; "
                                    f"validation PSNR/SSIM on {', '.join(EVAL_DEGRADATIONS)}, whole images"
                                    + (", luminance" if spec.in_channels == 1 else ", RGB")),
    }
    if conditioned:
        banding, webp = float(cfg.get("banding_only", 0.0)), float(cfg.get("webp_share", 0.0))
        gray = float(cfg.get("gray_share", 0.0))
        more = ([f"{banding:.0%} more patches banded only"] if banding else []) + (
            [f"{webp:.0%} more served as lossy WebP 5-95"] if webp else []) + (
            [f"{gray:.0%} of patches grayscale, damaged as gray files"] if gray else [])
        props[contract.META_DEGRADATION] = DAMAGE_MIXTURE + (f"; last trained with {' and '.join(more)}" if more else "")
        props[contract.META_CONDITION_INPUT] = spec.condition
        props[contract.META_CONDITION_RANGE] = "0 1"
        props[contract.META_MULTIPLE] = str(spec.multiple)
        props[contract.META_BYTES_PER_PIXEL] = str(spec.bytes_per_pixel)
    props.update({k: str(v) for k, v in (extra_meta or {}).items()})
    return props


def export_checkpoint(checkpoint: str | Path, output: str | Path, opset: int = 17,
                      check_images: Iterable[str | Path] = (), extra_meta: dict[str, str] | None = None) -> Path:
    """Export ``checkpoint`` to ``output`` (checked, parity-tested, with metadata); return the output path."""
    import onnx
    from onnx import helper

    if opset < MIN_OPSET:
        raise InputError(f"opset {opset} is too old: the contract needs >= {MIN_OPSET}")
    output = Path(output)
    model, meta = load_model(checkpoint)
    inputs = _check_arrays(model, check_images)  # before the slow export: a bad photo fails at once
    proto = _to_proto(model, opset)
    props = build_metadata(model, meta, extra_meta)
    helper.set_model_props(proto, props)
    proto.doc_string = props[contract.META_DESCRIPTION]
    onnx.checker.check_model(proto, full_check=True)
    data = proto.SerializeToString()
    worst = check_parity(model, data, inputs)
    write_atomic(output, data, fsync=True)
    log.info("wrote %s (%s, %s params, opset %d, parity %.1e)", output, props[contract.META_ARCH],
             props[contract.META_PARAMS], opset, worst)
    return output


def write_checksums(models_dir: str | Path) -> Path:
    """(Re)write ``models_dir/checksums.json`` for every ONNX file in the folder.

    Format (what ``facerestore.registry`` reads): ``{"sha256": {"big.onnx": "<hex digest>", ...}}``.
    """
    models_dir = Path(models_dir)
    sums = {"sha256": {p.name: sha256_of(p) for p in sorted(models_dir.glob("*.onnx"))}}
    dst = models_dir / CHECKSUMS_NAME
    write_json(dst, sums, indent=2, sort_keys=True, fsync=True)
    return dst
