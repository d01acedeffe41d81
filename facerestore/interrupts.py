"""Ctrl-C while the main thread waits on worker pools: counted by a signal handler, raised at a safe point.
SIGTERM, where a command asks for it (:class:`TerminateAsInterrupt`), is taken the same way.

Python's default SIGINT handler raises KeyboardInterrupt wherever the main thread happens to be, including
inside ``threading.Condition.wait`` between releasing and re-taking its lock; ``Future.result()`` then dies
with "RuntimeError: cannot release un-acquired lock" instead of the interrupt (seen under load), and the run
exits 1 instead of 130 without finishing the files it was writing. Inside ``Thread.join`` (a pool's
``shutdown(wait=True)``) it marks the thread joined as stopped while it still runs (CPython gh-90882; 3.11
does): the interpreter then exits without waiting for it, and a worker that comes back from ONNX Runtime while
the interpreter is finalizing is ended inside C++ frames, which aborts the process (SIGABRT, "terminate called
without an active exception") after the run has reported. While :class:`DeferredInterrupts` is active, SIGINT
only increments a counter, whichever Ctrl-C it is, and :meth:`DeferredInterrupts.wait` raises KeyboardInterrupt
itself between short waits.

SIGTERM is what ``timeout``, a SLURM time limit and a plain ``kill`` send: by default it ends the process
outright. :class:`TerminateAsInterrupt` makes a first SIGTERM raise :class:`Terminated`, a KeyboardInterrupt,
so that a run stops as after a Ctrl-C (``DeferredInterrupts`` defers it likewise), and a second one end the
process at once by SIGTERM's own default action, as whoever sent it twice expects.
"""

from __future__ import annotations

import os
import signal
import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from types import FrameType
from typing import Any, TypeVar

T = TypeVar("T")

POLL_SECONDS = 0.1  # how soon a counted Ctrl-C is acted on; a finished future returns at once regardless


class Terminated(KeyboardInterrupt):
    """A SIGTERM taken as a Ctrl-C (:class:`TerminateAsInterrupt`): the command exits 143 (128 + SIGTERM)."""


def _die(signum: int) -> None:
    """End the process now by ``signum``'s default action, as if no handler had been set."""
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
    raise Terminated  # only where the default action did not end the process


class TerminateAsInterrupt:
    """Context manager for a command: a first SIGTERM raises :class:`Terminated` in the main thread, wherever it
    is, as Python raises KeyboardInterrupt for a Ctrl-C; a second ends the process at once (:func:`_die`).

    Only the main thread can own SIGTERM, and only its default action is replaced: a handler someone else
    installed is left alone. ``count`` is the SIGTERMs received so far (those DeferredInterrupts counted too).
    """

    def __init__(self) -> None:
        self.count = 0
        self._previous: Any = None
        self._installed = False

    def __enter__(self) -> TerminateAsInterrupt:
        if threading.current_thread() is threading.main_thread() and \
                signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
            self._previous = signal.signal(signal.SIGTERM, self.handle)
            self._installed = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self._installed:
            signal.signal(signal.SIGTERM, self._previous)
            self._installed = False

    def handle(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        if self.count > 1:
            _die(signum)
        raise Terminated


class DeferredInterrupts:
    """Context manager. ``allowed`` is how many Ctrl-Cs the caller has already handled: ``wait`` raises once
    more than that have arrived, so a second Ctrl-C aborts the waits of the clean-up that follows the first. It is
    never raised by the handler, wherever the main thread is: not even a second one, which would land in the
    clean-up's joins of the pools (see the module docstring). ``check`` raises it after them.

    A SIGTERM is deferred the same way where the command takes SIGTERM as a Ctrl-C (its
    :class:`TerminateAsInterrupt` handler is the one in place): ``wait`` then raises :class:`Terminated`, and a
    second SIGTERM, whenever it comes, ends the process at once.

    Only the main thread can own SIGINT, and a handler someone else installed is left alone: there the
    interrupt behaves as Python's default, and ``count`` stays 0.
    """

    def __init__(self) -> None:
        self.count = 0
        self.allowed = 0
        self.terminated = False  # a SIGTERM was among the interrupts: they raise Terminated
        self._previous: dict[int, Any] = {}
        self._term: TerminateAsInterrupt | None = None

    def __enter__(self) -> DeferredInterrupts:
        if threading.current_thread() is threading.main_thread():
            if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
                self._previous[signal.SIGINT] = signal.signal(signal.SIGINT, self._note)
            owner = getattr(signal.getsignal(signal.SIGTERM), "__self__", None)
            if isinstance(owner, TerminateAsInterrupt):
                self._term = owner
                self._previous[signal.SIGTERM] = signal.signal(signal.SIGTERM, self._note)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()

    def _note(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1  # no lock: a handler that blocked on one the main thread holds would hang the run
        if signum == signal.SIGTERM and self._term is not None:
            self.terminated = True
            self._term.count += 1
            if self._term.count > 1:  # sent twice: whoever sent it means it
                _die(signum)

    def _interrupt(self) -> KeyboardInterrupt:
        return Terminated() if self.terminated else KeyboardInterrupt()

    def check(self) -> None:
        """Raise KeyboardInterrupt (Terminated after a SIGTERM) if more interrupts arrived than the caller has
        handled."""
        if self.count > self.allowed:
            self.allowed = self.count
            raise self._interrupt()

    def wait(self, future: Future[T]) -> T:
        """``future.result()``, with a pending Ctrl-C raised between short waits instead of inside one."""
        while True:
            self.check()
            try:
                return future.result(timeout=POLL_SECONDS)
            except FutureTimeout:
                continue
