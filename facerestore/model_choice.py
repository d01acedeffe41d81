"""Which model file runs, and how it is opened: ``--model`` (a shipped name or a path), ``--precision``, ``--device``.

A shipped model is ``<name>.onnx`` (fp32) and may have reduced-precision builds beside it,
``<name>.<precision>.onnx``, each with a JSON sidecar written by ``python -m export.quantize``: a build is
accepted when its mean PSNR on the validation faces stays within 0.1 dB of fp32. Every shipped file is checked
against its recorded sha256 before it runs (``registry.verify``). A user's ``.onnx`` file runs as given.

``--precision auto`` runs the accepted build made for the device that really runs (``AUTO_BUILDS``), picked once
the session reports its provider: where the card is unusable ONNX Runtime falls back to the CPU, which must not
then run the fp16 file. ``fp32`` and ``fp16`` force that file on any device.

No onnxruntime import at module level: the CLI's option choices come from here and ``--help`` stays instant.
"""

from __future__ import annotations

import json
import logging
import platform
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from facerestore import registry
from facerestore.errors import ModelError

if TYPE_CHECKING:
    from facerestore.session import OnnxModel

log = logging.getLogger(__name__)

PRECISIONS = ("fp32", "fp16", "auto")
DEFAULT_PRECISION = "auto"
# The build ``auto`` runs, by the kind of device that runs it, wherever its sidecar accepted it. An int8 build for
# the CPU would be one more entry ("cpu": "int8", and "int8" in PRECISIONS), its acceptance also asking that the
# speed-up was measured on a CPU of this ``cpu_isa`` (int8 speed hinges on VNNI: a gain measured with it does not
# carry over to a CPU without it). No int8 build ships: every recipe lost more than 0.1 dB.
AUTO_BUILDS = {"cuda": "fp16"}


@dataclass(frozen=True)
class ModelFile:
    name: str  # what records and the summary call it: the shipped name, else the file's name
    path: Path  # installed and intact (shipped) or present (a user's file)


@dataclass(frozen=True)
class ModelRequest:
    """The run's model and how to open it. Built once from the options and handed as is to every engine: Ray
    workers open their own session from it (sessions do not travel between processes)."""

    model: str = registry.DEFAULT_MODEL  # a shipped name or a path to an .onnx file
    precision: str = DEFAULT_PRECISION  # one of PRECISIONS
    device: str = "auto"  # auto | cuda | cpu
    threads: int | None = None  # CPU threads for inference in all; None: every CPU this process may use
    verbose: bool = False  # let ONNX Runtime's own log lines through

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> ModelRequest:
        return cls(model=params["model"], precision=params.get("precision", DEFAULT_PRECISION).lower(),
                   device=params["device"].lower(), threads=params["threads"],
                   verbose=params.get("verbose", False))

    def file(self, on_card: bool = False) -> ModelFile:
        """The checked file to open for a run on a CUDA card (``on_card``) or anywhere else."""
        return choose_file(self.model, self.precision, on_card)

    def open(self) -> OnnxModel:
        """The session for this request; on a CUDA card that really runs, the build ``auto`` picks there.

        Raises ModelError (unknown, missing, corrupt, rejected or contract-breaking file) and
        DeviceUnavailableError (``device="cuda"`` without a usable CUDA runtime).
        """
        from facerestore.session import CUDA, open_model

        chosen = self.file()
        model = open_model(chosen.path, self.device, self.threads, self.verbose, name=chosen.name)
        if model.provider == CUDA:
            on_card = self.file(on_card=True)
            if on_card.path != chosen.path:
                log.debug("CUDA: running %s instead of %s", on_card.path.name, chosen.path.name)
                model = open_model(on_card.path, "cuda", self.threads, self.verbose, name=on_card.name)
        return model


def choose_file(model: str, precision: str = "fp32", on_card: bool = False) -> ModelFile:
    """The checked file ``model`` runs as at ``precision``, on a CUDA card (``on_card``) or anywhere else.

    Raises ValueError for an unknown precision; ModelError for an unknown name, a missing, corrupt or rejected
    file, or a forced build of a user's file (there is none to pick).
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, not {precision!r}")
    spec = registry.SHIPPED.get(model)
    if spec is None:
        return _user_file(model, precision)
    build = shipped_build(spec, precision, on_card)
    path = registry.verify(build)
    return ModelFile(spec.name if build is spec else path.name, path)


def shipped_build(spec: registry.ModelSpec, precision: str, on_card: bool = False) -> registry.ModelSpec:
    """The file of shipped model ``spec`` for ``precision`` (not yet verified): fp32, a forced build, or the
    accepted build ``auto`` runs on this kind of device."""
    kind = AUTO_BUILDS.get("cuda" if on_card else "cpu") if precision == "auto" else precision
    if kind is None or kind == "fp32":
        return spec
    build = registry.build_of(spec, kind)
    record = build_record(build.path)
    if precision == "auto":
        return build if record and record.get("accepted") else spec
    if not build.installed:
        raise ModelError(f"model {spec.name!r} has no {kind} version (missing {build.path}); use --precision fp32")
    if record is not None and not record.get("accepted", False):
        raise ModelError(f"{kind} version of {spec.name!r} was rejected at build time (accuracy budget not met)")
    return build


def _user_file(model: str, precision: str) -> ModelFile:
    if precision not in ("fp32", "auto"):
        raise ModelError(f"--precision {precision} applies to the shipped models, not to {model!r}; "
                         "convert your model yourself and pass its path")
    path = Path(model).expanduser()
    if path.suffix.lower() != ".onnx" and not path.exists():
        raise ModelError(f"unknown model {model!r}: use one of {', '.join(registry.SHIPPED)} "
                         "or a path to an .onnx file")
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    return ModelFile(path.name, path)


def sidecar_path(build_file: Path) -> Path:
    return build_file.with_suffix(".json")


def build_record(build_file: Path) -> dict | None:
    """The sidecar of a reduced-precision build, or None when the build or its sidecar is absent or unreadable."""
    try:
        record = json.loads(sidecar_path(build_file).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and build_file.is_file() else None


def cpu_isa() -> str:
    """A coarse instruction-set class that decides int8 speed: ``x86_64-vnni``, ``x86_64-avx2``, ``arm64``...

    ``export.quantize`` records it with each int8 build's measured speed-up.
    """
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
