"""Which file of a shipped model to run: fp32, or its int8 / fp16 version where that is both accurate and faster.

No onnx/onnxruntime import: the choice reads only the JSON sidecar that ``python -m export.quantize`` writes next
to ``<name>.int8.onnx`` (accuracy on the validation faces, and the speed-up measured on the building machine
with its CPU's instruction-set class).

``--precision auto`` rule: int8 only when its sidecar says it was accepted (PSNR within budget of fp32), it
was measured at least ``AUTO_MIN_SPEEDUP`` times faster, and the measuring CPU had the same instruction-set class
as this one (int8 speed hinges on VNNI: a speed-up measured with it does not carry over to a CPU without it).
Otherwise fp32. ``--precision int8`` forces int8 (a ModelError if that file is missing or was rejected).

On a CUDA card ``auto`` runs ``<name>.fp16.onnx`` when it ships with a sidecar that accepted it (same 0.1 dB
budget on the validation faces); ``gpu.for_device`` makes that switch once the session says CUDA really runs,
so a machine whose card is unusable never runs the fp16 file on its CPU. ``--precision fp16`` forces it.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path

from facerestore import registry
from facerestore.errors import ModelError

PRECISIONS = ("fp32", "int8", "fp16", "auto")
DEFAULT_PRECISION = "auto"
AUTO_MIN_SPEEDUP = 1.1  # below this, measurement noise could flip the sign: not worth the accuracy cost
MODELS_DIR = registry.MODELS_DIR


def cpu_isa() -> str:
    """A coarse instruction-set class that decides int8 speed: ``x86_64-vnni``, ``x86_64-avx2``, ``arm64``..."""
    machine = platform.machine().lower()
    if machine in ("x86_64", "amd64"):
        flags: set[str] = set()
        try:
            with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
                for line in fh:
                    if line.startswith("flags"):
                        flags = set(line.split(":", 1)[1].split())
                        break
        except OSError:
            return "x86_64"
        if flags & {"avx512_vnni", "avx_vnni", "amx_int8"}:
            return "x86_64-vnni"
        if "avx2" in flags:
            return "x86_64-avx2"
        return "x86_64"
    return {"aarch64": "arm64"}.get(machine, machine)


def sidecar_path(variant_file: Path) -> Path:
    return variant_file.with_suffix(".json")


def build_record(variant_file: Path) -> dict | None:
    """The build record of an int8 or fp16 model, or None when the model or its record is absent or unreadable."""
    try:
        record = json.loads(sidecar_path(variant_file).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and variant_file.is_file() else None


def card_file(name: str, models_dir: Path = MODELS_DIR) -> Path | None:
    """The fp16 file ``--precision auto`` runs on a CUDA card for shipped model ``name``, or None (stay fp32)."""
    fp16 = models_dir / f"{name}.fp16.onnx"
    record = build_record(fp16)
    return fp16 if record and record.get("accepted") else None


def auto_prefers_int8(record: dict | None, isa: str | None = None) -> bool:
    if not record or not record.get("accepted"):
        return False
    speed = record.get("speedup")
    return (isinstance(speed, (int, float)) and speed >= AUTO_MIN_SPEEDUP
            and record.get("cpu_isa") == (isa or cpu_isa()))


def resolve_model_file(name: str, precision: str = "fp32", models_dir: Path = MODELS_DIR) -> Path:
    """The model file to open for shipped model ``name`` at ``precision`` (``fp32``, ``int8`` or ``auto``).

    Raises ValueError for an unknown precision and ModelError when ``int8`` is forced but unavailable.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, not {precision!r}")
    fp32 = models_dir / f"{name}.onnx"
    if precision == "fp32":
        return fp32
    kind = "fp16" if precision == "fp16" else "int8"
    other = models_dir / f"{name}.{kind}.onnx"
    record = build_record(other)
    if precision == "auto":
        return other if auto_prefers_int8(record) else fp32
    if not other.is_file():
        raise ModelError(f"model {name!r} has no {kind} version (missing {other}); use --precision fp32")
    if record is not None and not record.get("accepted", False):
        raise ModelError(f"{kind} version of {name!r} was rejected at build time (accuracy budget not met)")
    return other


def model_spec(model: str, precision: str = DEFAULT_PRECISION) -> str:
    """What ``open_model`` should open for ``--model`` and ``--precision``.

    A shipped name at fp32 stays the name (the registry verifies its checksum). Its int8 file is returned as a
    path, after the same checksum check against ``checksums.json``. A user ``.onnx`` path is run as given;
    forcing ``int8`` on it is an error (there is no int8 version to pick).
    """
    if model not in registry.SHIPPED:
        if precision in ("int8", "fp16"):
            raise ModelError(f"--precision {precision} applies to the shipped models, not to {model!r}; "
                             "convert your model yourself and pass its path")
        return model
    return verified_spec(model, resolve_model_file(model, precision))


def verified_spec(model: str, path: Path) -> str:
    """``model`` for its fp32 file, else the path of its int8/fp16 file once its checksum is verified."""
    if path.name == registry.SHIPPED[model].filename:
        return model
    kind = path.suffixes[-2].lstrip(".") if len(path.suffixes) > 1 else "variant"
    digest = registry._recorded_checksums().get(path.name)  # noqa: SLF001 - the one checksum source
    registry.verify(registry.ModelSpec(f"{model} ({kind})", path.name, digest, kind))
    return str(path)
