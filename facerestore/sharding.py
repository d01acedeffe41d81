"""``--shard I/N``: split one run's work into N disjoint parts without any coordination between them.

Each job belongs to shard ``1 + h mod N``, where ``h`` is the first 8 bytes (big-endian) of the BLAKE2b
digest of its relative path in POSIX form (``Job.rel``: the path under its input folder, the part the output
mirrors). The choice depends only on that path, never on the walk's order, the machine, the mount point of
the tree or Python's salted ``hash()``, so N array tasks running the same command on different hosts split
the tree the same way: every file is restored by exactly one of them, and a rerun of shard I resumes the
same files. Shards are balanced in expectation (a file count of n gives about n/N each).

Inputs rejected while planning (missing files, special files, ...) are split by their path as given, so
each is reported by one shard only.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from pathlib import PurePath
from typing import TYPE_CHECKING

from facerestore.errors import UsageError

if TYPE_CHECKING:
    from facerestore.discovery import Plan

_SHARD_RE = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count``, counted from 1 (``Shard(1, 1)`` is the whole run)."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1 or not 1 <= self.index <= self.count:
            raise UsageError(f"shard {self.index}/{self.count} does not exist: use I/N with 1 <= I <= N")

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def owns(self, key: str | PurePath) -> bool:
        """Whether the item with this key (a relative path) belongs to this shard."""
        return shard_of(key, self.count) == self.index


def parse_shard(text: str) -> Shard:
    """``"2/8"`` -> ``Shard(2, 8)``; raises :class:`UsageError` for anything else (shards count from 1)."""
    match = _SHARD_RE.fullmatch(text)
    if match is None:
        raise UsageError(f"--shard expects I/N (for example 3/8), not {text!r}")
    index, count = int(match.group(1)), int(match.group(2))
    if index == 0 and count > 0:
        raise UsageError(f"shards are counted from 1: use {index + 1}/{count} for the first of {count}")
    return Shard(index, count)


def shard_of(key: str | PurePath, count: int) -> int:
    """The shard (1..count) that owns ``key``: a pure function of the key's POSIX form."""
    text = key.as_posix() if isinstance(key, PurePath) else str(key).replace("\\", "/")
    digest = hashlib.blake2b(text.encode("utf-8", "surrogateescape"), digest_size=8).digest()
    return 1 + int.from_bytes(digest, "big") % count


def shard_plan(plan: Plan, shard: Shard) -> Plan:
    """The part of ``plan`` this shard runs: its jobs and rejected inputs, in the plan's order.

    Notices about folders skipped on purpose (symbolic link loops) and the count of photos left alone for their
    format (the whole tree's) stay with shard 1 only.
    """
    return replace(plan, jobs=[job for job in plan.jobs if shard.owns(job.rel)],
                   rejected=[r for r in plan.rejected if shard.owns(PurePath(r.path))],
                   skipped=list(plan.skipped) if shard.index == 1 else [],
                   unread=dict(plan.unread) if shard.index == 1 else {})
