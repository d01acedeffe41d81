"""A Ctrl-C sent from inside a model's first tile run, for the tests of every command that runs tiles in threads."""

from __future__ import annotations

import os
import signal
import threading
import time


def interrupt_first_tile(monkeypatch, ctrl_cs: int) -> dict[str, int]:
    """Patch OnnxModel.run so that its first run sends SIGINT to this process (a second one too when ``ctrl_cs`` is
    2, only where a DeferredInterrupts holds SIGINT: one raised in pytest's main thread would end the session),
    then runs. Returns the live counts: ``runs`` started, ``running`` now, Ctrl-Cs ``sent``."""
    from facerestore.interrupts import DeferredInterrupts
    from facerestore.session import OnnxModel

    real_run = OnnxModel.run
    lock = threading.Lock()
    state = {"runs": 0, "running": 0, "sent": 0}

    def ctrl_c() -> None:
        state["sent"] += 1
        os.kill(os.getpid(), signal.SIGINT)

    def run(self, batch, strength=1.0):  # a tile in ONNX Runtime, on one of the model's stream threads
        with lock:
            state["runs"] += 1
            state["running"] += 1
            first = state["runs"] == 1
        try:
            if first:
                ctrl_c()
                time.sleep(0.3)  # the main thread acts on it within interrupts.POLL_SECONDS, then waits
                if ctrl_cs == 2 and isinstance(getattr(signal.getsignal(signal.SIGINT), "__self__", None),
                                               DeferredInterrupts):
                    ctrl_c()
                time.sleep(0.3)
            return real_run(self, batch, strength)
        finally:
            with lock:
                state["running"] -= 1

    monkeypatch.setattr(OnnxModel, "run", run)
    return state
