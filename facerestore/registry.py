"""The shipped models: one explicit dict of frozen specs, and the checksum check that guards them.

The ``.onnx`` files live in ``facerestore/models/``; their sha256 digests are recorded in
``facerestore/models/checksums.json`` by the export step, so a truncated or swapped file is refused
instead of silently producing wrong pictures.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from facerestore.errors import ModelError

MODELS_DIR = Path(__file__).resolve().parent / "models"
CHECKSUMS_FILE = MODELS_DIR / "checksums.json"
DEFAULT_MODEL = "big"


@dataclass(frozen=True)
class ModelSpec:
    name: str
    filename: str
    sha256: str | None  # None until the export step records it in checksums.json
    summary: str
    origin: str = "report"  # "report": one of the research report's three networks; "facerestore": the project's own

    @property
    def path(self) -> Path:
        return MODELS_DIR / self.filename

    @property
    def installed(self) -> bool:
        return self.path.is_file()


def read_packaged_json(path: Path) -> dict:
    """A JSON file shipped beside the models: ``{}`` when it is absent, ModelError when it cannot be read."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read {path}: {exc}") from exc
    return data if isinstance(data, dict) else {}


def _recorded_checksums() -> dict[str, str]:
    """``{"big.onnx": "<hex sha256>", ...}`` from checksums.json (``{}`` when the file is absent or unreadable:
    every shipped model is then unverified, and refused by :func:`verify` with the reason)."""
    try:
        digests = read_packaged_json(CHECKSUMS_FILE).get("sha256", {})
    except ModelError:
        return {}
    if not isinstance(digests, dict):
        return {}
    return {str(k): str(v).lower() for k, v in digests.items() if v}


def _build_registry() -> dict[str, ModelSpec]:
    digests = _recorded_checksums()
    entries = (
        ("basic", "basic.onnx", "BasicCNN 3->64->64->3: the report's fast colour restoration", "report"),
        ("big", "big.onnx", "BigCNN 3->64->64->128->128->3: the report's best colour restoration (default)", "report"),
        ("gan", "gan.onnx", "grayscale GAN generator 1->64->64->1, applied to luminance (the report's)", "report"),
        ("darn", "darn.onnx", "DARN damage-aware residual network at half resolution, told each photo's damage level",
         "facerestore"),
    )
    return {name: ModelSpec(name, filename, digests.get(filename), summary, origin)
            for name, filename, summary, origin in entries}


SHIPPED: dict[str, ModelSpec] = _build_registry()


def build_of(spec: ModelSpec, precision: str) -> ModelSpec:
    """The ``<name>.<precision>.onnx`` build of a shipped model (``big.fp16.onnx``), with its recorded checksum."""
    filename = f"{spec.name}.{precision}.onnx"
    return ModelSpec(f"{spec.name} ({precision})", filename, _recorded_checksums().get(filename), spec.summary)


def _checksums_problem() -> str:
    """Why checksums.json gave no checksums, as a clause ('' when it reads fine)."""
    try:
        read_packaged_json(CHECKSUMS_FILE)
    except ModelError as exc:
        return f" ({exc})"
    return "" if CHECKSUMS_FILE.is_file() else " (the file is missing)"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(spec: ModelSpec) -> Path:
    """Return the path of a shipped model after checking it is installed and intact; raise ModelError otherwise."""
    if not spec.installed:
        raise ModelError(f"shipped model {spec.name!r} is not installed (missing {spec.path}); "
                         "reinstall facerestore or pass --model PATH.onnx")
    if spec.sha256 is None:
        raise ModelError(f"shipped model {spec.name!r} has no recorded checksum in {CHECKSUMS_FILE}"
                         f"{_checksums_problem()}; refusing to run an unverified file; reinstall facerestore")
    actual = sha256_of(spec.path)
    if actual != spec.sha256:
        raise ModelError(f"shipped model {spec.name!r} is corrupt: sha256 of {spec.path} is {actual}, "
                         f"expected {spec.sha256}; reinstall facerestore")
    return spec.path
