"""int8 (QDQ) and fp16 versions of the shipped models, accepted only if they keep the fp32 accuracy.

``python -m export.quantize --models facerestore/models --faces ../shared/data/faces`` writes, per model,
``<name>.int8.onnx`` and ``<name>.int8.json`` (accuracy, speed-up, recipe). The int8 model is built with static
calibration on degraded crops of the *training* split of the real faces (``split_faces``: validation and test
photos are never seen), then scored on the validation faces at the fixed evaluation degradations (for a
conditioned model, light JPEG, banding and pixelation too). It is kept only if for every degradation its mean
PSNR is within ``PSNR_BUDGET_DB`` of fp32; recipes are tried from fastest to most conservative.

The speed-up is measured here (fp32 vs int8 interleaved, model only) and recorded with the CPU's ISA so the
runtime's ``--precision auto`` picks int8 only on machines of the kind where it was faster.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import logging
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from export.data import (CONDITIONED_EVAL_DEGRADATIONS, EVAL_DEGRADATIONS, DataError, eval_pairs, load_rgb,
                         split_faces, to_gray, to_nchw)
from facerestore.degrade import random_chain, random_damage
from facerestore.metrics import psnr
from facerestore.model_choice import cpu_isa, sidecar_path

log = logging.getLogger(__name__)

PSNR_BUDGET_DB = 0.1
CALIB_COUNT = 32
CALIB_SIDE = 256


@dataclass(frozen=True)
class Recipe:
    name: str
    activation: str = "QUInt8"      # onnxruntime.quantization.QuantType member names
    weight: str = "QInt8"
    per_channel: bool = True
    reduce_range: bool = True       # 7-bit weights: no int16 saturation in AVX2's vpmaddubsw (no VNNI)
    method: str = "MinMax"          # onnxruntime.quantization.CalibrationMethod member names
    keep_ends_fp32: bool = False    # leave the first and last conv in fp32 (they carry the image itself)
    keep_float: tuple[str, ...] = ()  # and the convs whose weight names match these patterns (fnmatch)


# From fastest to most accurate; the first within budget wins.
# 8-bit weights (reduce_range off) may saturate in AVX2 kernels; the PSNR check below would show it.
RECIPES = (
    Recipe("u8s8-perchannel-minmax-7bit"),
    Recipe("u8s8-perchannel-minmax", reduce_range=False),
    Recipe("u8s8-perchannel-percentile", reduce_range=False, method="Percentile"),
    Recipe("u8s8-perchannel-minmax-fp32-ends", reduce_range=False, keep_ends_fp32=True),
    # Each block of a DARN's body scales and shifts its first conv's output by the damage level, after that output
    # is rounded, which magnifies the rounding: with those 8 convs in float too the shipped darn lost 0.06 dB over
    # JPEG 10, 20 and paper on validation, with only the ends in float 0.14, with its half-resolution branch in
    # float instead 0.12. Other models have no such convs. 7-bit weights: no x86 kernel saturates on them.
    Recipe("u8s8-perchannel-percentile-7bit-float-ends-and-scaled-convs", method="Percentile", keep_ends_fp32=True,
           keep_float=("body.*.conv1.weight",)),
)
# What quantisation-aware training (export.qat) simulates and `--qat-weights` builds with.
QAT_RECIPE = RECIPES[-1]


def _sample_input(path: Path, channels: int, side: int, rng: np.random.Generator,
                  condition: str | None = None) -> dict[str, np.ndarray]:
    """The feed of one calibration run: a random side x side crop (histogram calibrators need one shape) of the
    face scaled to 1.5 x side, damaged the way the model was trained (with its level, for a conditioned model)."""
    rgb = load_rgb(path, max_side=side * 3 // 2)
    h, w = rgb.shape[:2]
    if min(h, w) < side:
        raise ValueError(f"{path}: {w}x{h} is smaller than the {side} px calibration crop")
    y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    rgb = np.ascontiguousarray(rgb[y:y + side, x:x + side])
    img = to_gray(rgb) if channels == 1 else rgb
    chain = random_damage(rng) if condition else random_chain(rng)
    feed = {"input": to_nchw(chain.apply(img, rng))[None]}
    if condition:
        feed[condition] = np.array([[chain.level]], np.float32)
    return feed


def calibration_inputs(faces: Path, channels: int, count: int = CALIB_COUNT, side: int = CALIB_SIDE,
                       seed: int = 0, condition: str | None = None) -> list[dict[str, np.ndarray]]:
    """Degraded training faces (the inputs the model really sees), NCHW float32, one feed per run."""
    train = [p for p in split_faces(faces).train if _min_side(p) >= side]
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(train), size=min(count, len(train)), replace=False)
    return [_sample_input(train[i], channels, side, rng, condition) for i in sorted(picks)]


def _min_side(path: Path) -> int:
    from PIL import Image

    with Image.open(path) as im:
        return min(im.size)


class _Reader:
    """onnxruntime.quantization.CalibrationDataReader protocol: one input feed per call, None at the end."""

    def __init__(self, feeds: list[dict[str, np.ndarray] | np.ndarray]):
        # A bare array is the image input of a model that takes nothing else.
        self._it = iter(f if isinstance(f, dict) else {"input": f} for f in feeds)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._it, None)

    def rewind(self) -> None:  # the protocol allows it; calibration here makes one pass
        raise NotImplementedError


def quantize(fp32: Path, out: Path, inputs: list[dict[str, np.ndarray]], recipe: Recipe) -> Path:
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    model = onnx.load(str(fp32))
    for i, node in enumerate(model.graph.node):  # exclusion works by node name: name the anonymous ones
        node.name = node.name or f"{node.op_type.lower()}_{i}"
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    floats = [c.name for c in convs if any(fnmatch.fnmatchcase(c.input[1], pattern) for pattern in recipe.keep_float)]
    if recipe.keep_ends_fp32:
        floats += [convs[0].name, convs[-1].name]
    extra = {"CalibPercentile": 99.999} if recipe.method == "Percentile" else {}
    quantize_static(
        model, str(out), _Reader(inputs), quant_format=QuantFormat.QDQ, op_types_to_quantize=["Conv"],
        per_channel=recipe.per_channel, reduce_range=recipe.reduce_range,
        activation_type=QuantType[recipe.activation], weight_type=QuantType[recipe.weight],
        calibrate_method=CalibrationMethod[recipe.method], nodes_to_exclude=floats or None, extra_options=extra)
    # Carry the model card over (quantize_static drops custom metadata) and say what this file is.
    q = onnx.load(str(out))
    props = {p.key: p.value for p in model.metadata_props}
    props["facerestore.precision"] = "int8"
    props["facerestore.int8_recipe"] = recipe.name
    onnx.helper.set_model_props(q, props)
    onnx.save(q, str(out))
    return out


def _session(model: Path | bytes, threads: int | None = None):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    if threads:
        opts.intra_op_num_threads = threads
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, sess_options=opts, providers=["CPUExecutionProvider"])


def _session_with_level(path: Path, condition: str, level: float):
    from facerestore.onnx_wire import with_constant_input

    return _session(with_constant_input(path.read_bytes(), condition, np.full((1, 1), level, np.float32)))


def _level_input(sess) -> str | None:
    """The damage-level input of an open conditioned model, else None."""
    names = [i.name for i in sess.get_inputs()]
    return names[1] if len(names) > 1 else None


def _condition(path: Path) -> str | None:
    """The damage-level input of a conditioned model file, else None."""
    return _level_input(_session(path))


def validation_scores(model: Path, faces: Path, channels: int) -> dict[str, float]:
    """Mean PSNR (dB) of the restored validation faces against their clean originals, per fixed degradation (a
    conditioned model across the range it claims, told each one's level, its input cut to even sizes).

    Clean photos are left out: the runtime returns them unchanged without running the model."""
    sess = _session(model)
    condition = _level_input(sess)
    scores: dict[str, list[float]] = {}
    for pair in eval_pairs(split_faces(faces).val, CONDITIONED_EVAL_DEGRADATIONS if condition else EVAL_DEGRADATIONS):
        if pair.degradation == "clean":
            continue
        lq, hq = (to_gray(pair.lq), to_gray(pair.hq)) if channels == 1 else (pair.lq, pair.hq)
        feed = {"input": to_nchw(lq)[None]}
        if condition:
            h, w = lq.shape[0] // 2 * 2, lq.shape[1] // 2 * 2
            feed = {"input": to_nchw(lq[:h, :w])[None], condition: np.array([[pair.level]], np.float32)}
            hq = hq[:h, :w]
        out = sess.run(["output"], feed)[0][0]
        restored = np.clip(out, 0.0, 1.0)
        scores.setdefault(pair.degradation, []).append(psnr(restored, to_nchw(hq), data_range=1.0))
    return {deg: float(statistics.mean(v)) for deg, v in scores.items()}


def verdict(base: dict[str, float], scores: dict[str, float], precision: str) -> dict:
    """The accuracy record of a build scored ``scores`` against its fp32 model's ``base``: the budget holds for
    every degradation, since a mean over heavy damage hides what a build costs a light one (a darn int8 build:
    0.06 dB below fp32 over JPEG 10, 20 and the paper preset, 0.19 dB at JPEG 90; runs/darn-int8)."""
    deltas = {deg: base[deg] - scores[deg] for deg in base}
    worst = max(deltas.values())
    return {"accepted": worst <= PSNR_BUDGET_DB, "delta_db": worst,
            "psnr_fp32": float(statistics.mean(base.values())),
            f"psnr_{precision}": float(statistics.mean(scores.values())),
            "delta_db_by_degradation": deltas}


def speedup(fp32: Path, int8: Path, channels: int, side: int = 512, repeats: int = 5) -> float:
    """fp32 time / int8 time, model only, the two interleaved so machine load hits both alike.

    A conditioned model runs as the runtime runs it, its level a constant of the graph (``session.LevelSessions``),
    which lets ONNX Runtime fold what the level computes into the fp32 weights."""
    feed = {"input": np.random.default_rng(0).random((1, channels, side, side), dtype=np.float32)}
    if condition := _condition(fp32):
        a, b = (_session_with_level(path, condition, 0.7) for path in (fp32, int8))
    else:
        a, b = _session(fp32), _session(int8)
    ta, tb = [], []
    for sess, times in ((a, ta), (b, tb)) * (repeats + 1):
        t0 = time.perf_counter()
        sess.run(["output"], feed)
        times.append(time.perf_counter() - t0)
    return statistics.median(ta[1:]) / statistics.median(tb[1:])


def build_int8(fp32: Path, faces: Path, out: Path | None = None, recipes: tuple[Recipe, ...] = RECIPES,
               measure_speed: bool = True, weights: Path | None = None) -> dict:
    """Quantise ``fp32``; write ``out`` (default ``<stem>.int8.onnx`` beside it) and its JSON sidecar if accepted.

    ``weights``: quantise this float export of the same graph instead (weights fine-tuned for int8, export.qat);
    the budget is still counted from ``fp32``, the model users would otherwise run.
    Returns the record that goes into the sidecar (``accepted`` false and no file when no recipe keeps the
    accuracy within budget).
    """
    out = out or fp32.with_name(f"{fp32.stem}.int8.onnx")
    source = weights or fp32
    sess = _session(fp32)
    channels, condition = int(sess.get_inputs()[0].shape[1]), _level_input(sess)
    inputs = calibration_inputs(faces, channels, condition=condition)
    base = validation_scores(fp32, faces, channels)
    tried = []
    with tempfile.TemporaryDirectory(prefix="facerestore-int8-") as tmp:
        for recipe in recipes:
            candidate = quantize(source, Path(tmp) / f"{recipe.name}.onnx", inputs, recipe)
            judged = verdict(base, validation_scores(candidate, faces, channels), "int8")
            tried.append({"recipe": recipe.name, **judged})
            log.info("%s %s: %.3f dB below fp32 at worst (%s)", fp32.stem, recipe.name, judged["delta_db"],
                     max(judged["delta_db_by_degradation"], key=judged["delta_db_by_degradation"].get))
            if judged["accepted"]:
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(candidate.read_bytes())
                record = {"model": fp32.name, **judged, "budget_db": PSNR_BUDGET_DB, "recipe": asdict(recipe),
                          "calibration": {"images": len(inputs), "side": CALIB_SIDE, "split": "train",
                                          "degradation": "random_damage" if condition else "random_chain"},
                          "validation": "split_faces(...).val, per degradation, mean PSNR", "tried": tried}
                if weights is not None:
                    record["weights"] = str(weights)
                if measure_speed:
                    record.update(speedup=speedup(fp32, out, channels), cpu_isa=cpu_isa(),
                                  measured=time.strftime("%Y-%m-%d %H:%M"))
                sidecar_path(out).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
                return record
    record = {"model": fp32.name, "accepted": False, "psnr_fp32": float(statistics.mean(base.values())),
              "budget_db": PSNR_BUDGET_DB, "tried": tried}
    log.warning("%s: no int8 recipe within %.2f dB of fp32 on every degradation; no int8 model written", fp32.name,
                PSNR_BUDGET_DB)
    return record


def to_fp16(fp32: Path, out: Path) -> Path:
    """fp16 weights and activations with fp32 input/output (Casts at both ends), for the CUDA provider.

    The I/O stays float32 so the model contract (and the runtime's validation) is unchanged.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(fp32))
    graph = model.graph
    for init in graph.initializer:
        if init.data_type == TensorProto.FLOAT:
            init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), init.name))
    inputs, outp = [i.name for i in graph.input], graph.output[0].name  # the image, and a damage level if any
    for node in graph.node:
        if node.op_type == "ConstantOfShape" and not node.attribute:  # its fill value defaults to a float32 zero
            node.attribute.append(helper.make_attribute("value", numpy_helper.from_array(np.zeros(1, np.float16))))
        for attr in node.attribute:  # tensors inside nodes too: Constant, and ConstantOfShape's fill value
            if attr.type == onnx.AttributeProto.TENSOR and attr.t.data_type == TensorProto.FLOAT:
                attr.t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(attr.t).astype(np.float16), attr.t.name))
        node.input[:] = [f"{n}_fp16" if n in inputs else n for n in node.input]
        node.output[:] = [f"{outp}_fp16" if n == outp else n for n in node.output]
    del graph.value_info[:]  # intermediate types changed: let ONNX Runtime infer them again
    for i, inp in enumerate(inputs):
        graph.node.insert(0, helper.make_node("Cast", [inp], [f"{inp}_fp16"], to=TensorProto.FLOAT16,
                                              name="to_fp16" if i == 0 else f"{inp}_to_fp16"))
    graph.node.append(helper.make_node("Cast", [f"{outp}_fp16"], [outp], to=TensorProto.FLOAT, name="to_fp32"))
    props = {p.key: p.value for p in model.metadata_props}
    props["facerestore.precision"] = "fp16"
    onnx.helper.set_model_props(model, props)
    onnx.checker.check_model(model, full_check=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out))
    return out


def build_fp16(fp32: Path, faces: Path, out: Path | None = None) -> dict:
    """Convert to fp16, score on the validation faces (on the CPU provider here; the CUDA benchmark re-checks
    on the card), keep the file and its sidecar only within ``PSNR_BUDGET_DB``."""
    out = out or fp32.with_name(f"{fp32.stem}.fp16.onnx")
    channels = int(_session(fp32).get_inputs()[0].shape[1])
    with tempfile.TemporaryDirectory(prefix="facerestore-fp16-") as tmp:
        candidate = to_fp16(fp32, Path(tmp) / out.name)
        judged = verdict(validation_scores(fp32, faces, channels), validation_scores(candidate, faces, channels),
                         "fp16")
        record = {"model": fp32.name, **judged, "budget_db": PSNR_BUDGET_DB, "validated_on": "CPUExecutionProvider"}
        sidecar = sidecar_path(out)
        if sidecar.is_file() and "card" in (earlier := json.loads(sidecar.read_text(encoding="utf-8"))):
            # The card's speed-up depends on the graph's shapes, which new weights leave as they were.
            record["card"] = earlier["card"]
        if record["accepted"]:
            out.write_bytes(candidate.read_bytes())
            sidecar.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    return record


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m export.quantize", description=__doc__.split("\n\n")[0])
    p.add_argument("--models", type=Path, default=Path("facerestore/models"), help="folder of fp32 <name>.onnx")
    p.add_argument("--names", default="basic,big,gan")
    p.add_argument("--faces", type=Path, default=Path("../shared/data/faces"))
    p.add_argument("--no-speed", action="store_true", help="skip the fp32/int8 timing (e.g. on a busy machine)")
    p.add_argument("--fp16", action="store_true", help="also build <name>.fp16.onnx for the CUDA provider")
    p.add_argument("--no-int8", action="store_true", help="skip the int8 build (with --fp16: only the fp16 files)")
    p.add_argument("--qat-weights", type=Path, metavar="MODEL.onnx",
                   help="one model only: build its int8 file from this float export of weights fine-tuned for int8 "
                   "(train --qat), with the recipe made for them")
    args = p.parse_args(argv)
    if args.qat_weights and "," in args.names:
        p.error("--qat-weights belongs to one model: name it with --names")
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    from facerestore.errors import ModelError
    from facerestore.session import read_metadata

    try:  # every input first: a missing or broken one is a one-line error, not a traceback after the first model
        for model in [args.models / f"{name}.onnx" for name in args.names.split(",")] + [args.qat_weights]:
            if model is not None:
                read_metadata(model)
        split_faces(args.faces)
    except (ModelError, DataError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    failed = 0
    for name in args.names.split(","):
        if not args.no_int8:
            record = build_int8(args.models / f"{name}.onnx", args.faces, measure_speed=not args.no_speed,
                                **({"weights": args.qat_weights, "recipes": (QAT_RECIPE,)} if args.qat_weights else {}))
            failed += not record["accepted"]
            print(json.dumps(record))
        if args.fp16:
            record = build_fp16(args.models / f"{name}.onnx", args.faces)
            failed += not record["accepted"]
            print(json.dumps(record))
    # The runtime refuses shipped files without a recorded digest: record the new ones with the fp32 ones.
    from export.onnx_export import write_checksums

    write_checksums(args.models)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
