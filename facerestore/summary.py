"""What happened to each image (``Record``, the ``--json`` line) and to the whole run (``RunSummary``)."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

# UNCHANGED: the analysis found nothing worth restoring; the output is the input (its bytes where the format
# is kept).
RESTORED, UNCHANGED, SKIPPED, FAILED = "restored", "unchanged", "skipped", "failed"

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_DEVICE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
# stdout's reader went away (`| head -1`): 128 + SIGPIPE, what a shell reports for a command SIGPIPE ended.
EXIT_STDOUT_CLOSED = 141
# SIGTERM (timeout, a SLURM time limit, kill), taken as a Ctrl-C: 128 + SIGTERM, as a shell reports for a command
# SIGTERM ended.
EXIT_TERMINATED = 143


@dataclass
class Record:
    """One image's outcome: exactly one JSON object per image on stdout with ``--json``."""

    input: str
    output: str | None
    status: str  # "restored" | "unchanged" | "skipped" | "failed"
    error: str | None
    width: int | None
    height: int | None
    seconds: float
    provider: str | None
    model: str | None
    metrics: dict[str, float] = field(default_factory=dict)  # filled by the report stage
    # Damage.to_json() plus "strength" (used; 0 when unchanged) and "reason" (why unchanged); None when the
    # image was skipped or failed before it was analysed.
    damage: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["seconds"] = round(self.seconds, 4)
        if self.metrics:
            data["metrics"] = {k: json_number(v) for k, v in self.metrics.items()}
        else:
            del data["metrics"]
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, allow_nan=False)


# The per-image fields of a Record beside its metrics and damage (dicts, flattened by the report).
RECORD_FIELDS = tuple(f.name for f in fields(Record) if f.name not in ("metrics", "damage"))


def json_number(value: float | None) -> float | str | None:
    """A number as JSON can carry it: JSON has no infinity nor NaN, so the PSNR of identical images is written
    ``"inf"`` (``"-inf"``), which ``float()`` and :func:`as_float` read back; NaN and None become null."""
    if value is None or math.isnan(value):
        return None
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return float(value)


def as_float(value: object) -> float | None:
    """A number read back from JSON or CSV (a number, ``"inf"``, empty or missing) as a float, or None."""
    if value is None or value == "":
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


@dataclass
class RunSummary:
    """Counts, throughput and the exit code of a run."""

    model: str | None = None
    provider: str | None = None
    restored: int = 0
    unchanged: int = 0
    skipped: int = 0
    failed: int = 0
    seconds: float = 0.0  # wall-clock time of the run
    megapixels: float = 0.0  # of restored images
    interrupted: bool = False
    terminated: bool = False  # the interrupt was a SIGTERM
    stdout_closed: bool = False  # the run stopped because nobody reads its --json lines any more
    stdout_failed: bool = False  # the run stopped because its --json lines could not be written (a full disk)

    def add(self, record: Record) -> None:
        if record.status == RESTORED:
            self.restored += 1
            if record.width and record.height:
                self.megapixels += record.width * record.height / 1e6
        elif record.status == UNCHANGED:
            self.unchanged += 1
        elif record.status == SKIPPED:
            self.skipped += 1
        else:
            self.failed += 1

    @property
    def total(self) -> int:
        return self.restored + self.unchanged + self.skipped + self.failed

    @property
    def megapixels_per_second(self) -> float:
        return self.megapixels / self.seconds if self.seconds > 0 else 0.0

    def exit_code(self) -> int:
        if self.interrupted:
            return EXIT_TERMINATED if self.terminated else EXIT_INTERRUPTED
        if self.stdout_closed:
            return EXIT_STDOUT_CLOSED
        return EXIT_FAILED if self.failed or self.stdout_failed else EXIT_OK

    def counts(self) -> str:
        """The outcomes so far that are not plain restorations, for the progress bar ("2 unchanged, 1 failed")."""
        parts = [f"{n} {label}" for n, label in ((self.unchanged, UNCHANGED), (self.skipped, SKIPPED),
                                                 (self.failed, FAILED)) if n]
        return ", ".join(parts)

    def describe(self) -> str:
        """One human line for the end of a run."""
        parts = [f"{self.restored} restored", f"{self.unchanged} unchanged", f"{self.skipped} skipped", f"{self.failed} failed",
                 f"{self.seconds:.1f} s", f"{self.megapixels_per_second:.2f} MP/s"]
        if self.provider:
            parts.append(f"on {self.provider}")
        interrupted = "Terminated: " if self.terminated else "Interrupted: "
        prefix = interrupted if self.interrupted else "Stopped, stdout closed: " if self.stdout_closed else \
            "Stopped, stdout could not be written: " if self.stdout_failed else ""
        return prefix + ", ".join(parts)
