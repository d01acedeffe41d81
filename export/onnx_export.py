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
import json
import logging
import os
import uuid
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch
from PIL import Image

from facerestore import contract, registry
from facerestore.registry import sha256_of

from . import archs, checkpoint
from .data import EVAL_DEGRADATIONS, eval_pairs, load_rgb, to_gray, to_nchw

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


class ExportError(Exception):
    """The checkpoint cannot be exported, or the exported file fails a check."""


def _checkpoint_base(path: str | Path) -> Path:
    """Accept ``runs/big/best``, ``runs/big/best.json`` or ``runs/big/best.safetensors``."""
    path = Path(path)
    base = path.with_suffix("") if path.suffix in (".json", ".safetensors") else path
    for suffix in (".json", ".safetensors"):
        if not base.with_suffix(suffix).is_file():
            raise ExportError(f"{base.with_suffix(suffix)}: checkpoint file missing")
    return base


def load_model(path: str | Path) -> tuple[archs.ConvStack, dict[str, Any]]:
    """Rebuild the generator of a checkpoint in eval mode on the CPU; return it and the JSON metadata."""
    base = _checkpoint_base(path)
    meta = checkpoint.load_meta(base)
    arch = meta.get("arch") or meta.get("config", {}).get("arch")
    if arch not in archs.ARCHS:
        raise ExportError(f"{base}: unknown or missing architecture {arch!r}")
    model = archs.build(arch)
    checkpoint.load(base, {"model": model})
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


def _to_proto(model: archs.ConvStack, opset: int):
    """Trace ``model`` to an in-memory ONNX ``ModelProto`` with dynamic batch, height and width."""
    example = torch.rand(1, model.spec.in_channels, 64, 48)  # non-square so H and W cannot be confused
    dims = {0: torch.export.Dim("batch"), 2: torch.export.Dim("height"), 3: torch.export.Dim("width")}
    # The exporter chats on stdout ("[torch.onnx] ...") and logs every optimisation pass and the
    # 18 -> 17 opset conversion; stdout belongs to data, and the checks below are what matter.
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings(), _quiet_loggers():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            model, (example,), dynamo=True, opset_version=opset, verbose=False,
            input_names=[contract.INPUT_NAME], output_names=[contract.OUTPUT_NAME],
            dynamic_shapes={"x": dims}, external_data=False)
    proto = program.model_proto
    got = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)
    if got is None or got < MIN_OPSET:
        raise ExportError(f"exporter produced opset {got}, need >= {MIN_OPSET}")
    if got != opset:
        log.warning("asked for opset %d, the exporter produced opset %d", opset, got)
    return proto


def _check_arrays(model: archs.ConvStack, check_images: Iterable[str | Path]) -> list[np.ndarray]:
    """NCHW float32 batches for the parity check: each given photo, or the default photo at two sizes."""
    gray = model.spec.in_channels == 1
    paths = [Path(p) for p in check_images]
    images: list[np.ndarray] = []
    if paths:
        images = [load_rgb(p) for p in paths]
    else:
        full = load_rgb(DEFAULT_CHECK_IMAGE)
        # A second, odd size (crop then resize) so the dynamic axes are really exercised.
        h, w = full.shape[:2]
        crop = full[h // 8: h - h // 8, w // 10: w - w // 10]
        images = [full, np.asarray(Image.fromarray(crop).resize((221, 187), Image.Resampling.LANCZOS))]
    return [to_nchw(to_gray(im) if gray else im)[None] for im in images]


def check_parity(model: archs.ConvStack, onnx_bytes: bytes, inputs: list[np.ndarray]) -> float:
    """Run torch and ONNX Runtime (CPU) on each input; return the max absolute difference (raises if too big)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(onnx_bytes, opts, providers=["CPUExecutionProvider"])
    worst = 0.0
    for x in inputs:
        with torch.no_grad():
            ref = model(torch.from_numpy(x)).numpy()
        got = sess.run([contract.OUTPUT_NAME], {contract.INPUT_NAME: x})[0]
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


def validation_ssim(model: archs.ConvStack, meta: dict[str, Any]) -> tuple[float, float] | None:
    """(PSNR, SSIM) on the checkpoint's validation photos, whole, over the eval degradations.

    Training records only PSNR; SSIM is measured here the same way (RGB, or luma for gray models).
    Returns None when the training data folder is not available.
    """
    from facerestore.metrics import psnr, ssim

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
        with torch.no_grad():
            y = model(torch.from_numpy(to_nchw(lq))[None]).clamp(0, 1).mul(255).round().to(torch.uint8)[0].numpy()
        out = y[0] if gray else y.transpose(1, 2, 0)
        psnrs.append(psnr(out, hq))
        ssims.append(ssim(out, hq))
    return float(np.mean(psnrs)), float(np.mean(ssims))


def build_metadata(model: archs.ConvStack, meta: dict[str, Any],
                   extra_meta: dict[str, str] | None = None) -> dict[str, str]:
    """Every ``contract.META_KEYS`` property, as strings; ``extra_meta`` overrides or adds keys."""
    spec = model.spec
    cfg = meta.get("config", {})
    split = meta.get("split", {})
    row = _best_row(meta)
    chain = cfg.get("chain", "random")
    extra = list(cfg.get("extra", []))
    training_data = (f"face crops from {cfg.get('data', '?')} ({len(split.get('train', []))} train, "
                     f"{len(split.get('val', []))} validation, {len(split.get('test', []))} test; split by "
                     f"source photo)" + (f" + photos from {', '.join(extra)}" if extra else "") +
                     f"; random {cfg.get('patch', '?')}px patches with flips and rescaling")
    val_psnr = row.get("val_psnr")
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
        contract.META_DESCRIPTION: (f"{spec.description}; trained {meta.get('step', '?')} steps; "
                                    f"validation PSNR/SSIM on {', '.join(EVAL_DEGRADATIONS)}, whole images"
                                    + (", luminance" if spec.in_channels == 1 else ", RGB")),
    }
    props.update({k: str(v) for k, v in (extra_meta or {}).items()})
    return props


def _atomic_write_bytes(data: bytes, dst: Path) -> None:
    """Write via a temporary sibling then rename: readers never see a half-written file.

    ``open(..., "xb")`` (not mkstemp) so the file gets the usual umask permissions, not 0600.
    """
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "xb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, dst)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def export_checkpoint(checkpoint: str | Path, output: str | Path, opset: int = 17,
                      check_images: Iterable[str | Path] = (), extra_meta: dict[str, str] | None = None) -> Path:
    """Export ``checkpoint`` to ``output`` (checked, parity-tested, with metadata); return the output path."""
    import onnx
    from onnx import helper

    if opset < MIN_OPSET:
        raise ExportError(f"opset {opset} is too old: the contract needs >= {MIN_OPSET}")
    output = Path(output)
    model, meta = load_model(checkpoint)
    proto = _to_proto(model, opset)
    props = build_metadata(model, meta, extra_meta)
    helper.set_model_props(proto, props)
    proto.doc_string = props[contract.META_DESCRIPTION]
    onnx.checker.check_model(proto, full_check=True)
    data = proto.SerializeToString()
    worst = check_parity(model, data, _check_arrays(model, check_images))
    _atomic_write_bytes(data, output)
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
    _atomic_write_bytes((json.dumps(sums, indent=2, sort_keys=True) + "\n").encode(), dst)
    return dst
