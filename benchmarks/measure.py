"""Small measuring tools: wall-clock samples and peak resident memory."""

from __future__ import annotations

import resource
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Samples:
    seconds: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def best(self) -> float:
        return min(self.seconds)

    @property
    def spread(self) -> float:
        """(max - min) / median: how noisy the machine was while measuring."""
        return (max(self.seconds) - min(self.seconds)) / self.median if self.median else 0.0

    def as_dict(self) -> dict[str, object]:
        return {"median_s": self.median, "best_s": self.best, "spread": round(self.spread, 4),
                "runs": [round(s, 6) for s in self.seconds]}


def sample(fn: Callable[[], object], repeats: int, warmup: int = 1) -> Samples:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return Samples(tuple(times))


_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def reset_peak_rss() -> bool:
    """Reset this process's high-water mark (Linux: writing 5 to clear_refs), so each cell gets its own peak."""
    try:
        _CLEAR_REFS.write_text("5")
        return True
    except OSError:
        return False


def peak_rss_bytes() -> int:
    """Peak resident set size since the last reset (VmHWM), else since the process started."""
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB
