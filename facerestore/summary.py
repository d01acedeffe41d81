"""What happened to each image (``Record``, the ``--json`` line) and to the whole run (``RunSummary``)."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field

RESTORED, SKIPPED, FAILED = "restored", "skipped", "failed"

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_DEVICE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


@dataclass
class Record:
    """One image's outcome: exactly one JSON object per image on stdout with ``--json``."""

    input: str
    output: str | None
    status: str  # "restored" | "skipped" | "failed"
    error: str | None
    width: int | None
    height: int | None
    seconds: float
    provider: str | None
    model: str | None
    metrics: dict[str, float] = field(default_factory=dict)  # filled by the report stage

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["seconds"] = round(self.seconds, 4)
        if self.metrics:
            # JSON has no inf/NaN: PSNR of identical images is written "inf" (as in summary.json), NaN null.
            data["metrics"] = {k: _json_number(v) for k, v in self.metrics.items()}
        else:
            del data["metrics"]
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, allow_nan=False)


def _json_number(value: float) -> float | str | None:
    if math.isnan(value):
        return None
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


@dataclass
class RunSummary:
    """Counts, throughput and the exit code of a run."""

    model: str | None = None
    provider: str | None = None
    restored: int = 0
    skipped: int = 0
    failed: int = 0
    seconds: float = 0.0  # wall-clock time of the run
    megapixels: float = 0.0  # of restored images
    interrupted: bool = False

    def add(self, record: Record) -> None:
        if record.status == RESTORED:
            self.restored += 1
            if record.width and record.height:
                self.megapixels += record.width * record.height / 1e6
        elif record.status == SKIPPED:
            self.skipped += 1
        else:
            self.failed += 1

    @property
    def total(self) -> int:
        return self.restored + self.skipped + self.failed

    @property
    def megapixels_per_second(self) -> float:
        return self.megapixels / self.seconds if self.seconds > 0 else 0.0

    def exit_code(self) -> int:
        if self.interrupted:
            return EXIT_INTERRUPTED
        return EXIT_FAILED if self.failed else EXIT_OK

    def describe(self) -> str:
        """One human line for the end of a run."""
        parts = [f"{self.restored} restored", f"{self.skipped} skipped", f"{self.failed} failed",
                 f"{self.seconds:.1f} s", f"{self.megapixels_per_second:.2f} MP/s"]
        if self.provider:
            parts.append(f"on {self.provider}")
        prefix = "Interrupted: " if self.interrupted else ""
        return prefix + ", ".join(parts)
