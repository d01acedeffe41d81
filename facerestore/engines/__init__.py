"""Engines run a planned list of jobs through THE per-image code path of :mod:`facerestore.pipeline`.

``local`` is :func:`facerestore.engines.local.run_local` (threads on this machine). ``ray`` hands the same jobs to
Ray Data (:mod:`facerestore.engines.ray_engine`), whose workers call the same stage functions; it needs the
optional ``ray`` extra and is imported only when chosen. Both deliver one :class:`~facerestore.summary.Record`
per job to ``on_record`` in the calling thread, in plan order, so the CLI's JSON lines, progress and summary
are the same whichever engine ran. Each opens the model from one
:class:`~facerestore.model_choice.ModelRequest`. No click here: engines are library code.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from facerestore.errors import UsageError

if TYPE_CHECKING:
    from facerestore.discovery import Job
    from facerestore.model_choice import ModelRequest
    from facerestore.options import EngineOptions  # the dataclass only: the click bundles stay in the CLI
    from facerestore.pipeline import Context
    from facerestore.summary import Record

ENGINES = ("local", "ray")
RAY_INSTALL_HINT = "pip install 'facerestore[ray]'"


def check_engine(options: EngineOptions) -> None:
    """Fail early (before walking or opening anything) when the chosen engine cannot run here."""
    if options.name not in ENGINES:
        raise UsageError(f"unknown engine {options.name!r} (choose from {', '.join(ENGINES)})")
    if options.ray_address is not None and options.name != "ray":
        raise UsageError("--ray-address only applies to --engine ray")
    if options.name == "ray":
        from facerestore.engines.ray_engine import require_ray

        require_ray()


def run_jobs(options: EngineOptions, jobs: Sequence[Job], ctx: Context, on_record: Callable[[Record], None], *,
             request: ModelRequest, fail_fast: bool = False, on_start: Callable[[Job], None] | None = None,
             stop: threading.Event | None = None) -> bool:
    """Restore ``jobs`` on the chosen engine; return False when stopped early (``fail_fast`` or ``stop``).

    ``ctx.model`` is the driver's own session (the local engine runs on it); Ray workers open theirs from
    ``request``. KeyboardInterrupt propagates after the engine has cleaned up.
    """
    check_engine(options)
    if options.name == "ray":
        from facerestore.engines.ray_engine import run_ray

        return run_ray(jobs, ctx, on_record, request=request, address=options.ray_address,
                       fail_fast=fail_fast, stop=stop)
    from facerestore.engines.local import run_local

    return run_local(jobs, ctx, on_record, fail_fast=fail_fast, on_start=on_start, stop=stop)
