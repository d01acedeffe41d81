"""Ctrl-C while the main thread waits on worker pools: counted by a signal handler, raised at a safe point.

Python's default SIGINT handler raises KeyboardInterrupt wherever the main thread happens to be, including
inside ``threading.Condition.wait`` between releasing and re-taking its lock; ``Future.result()`` then dies
with "RuntimeError: cannot release un-acquired lock" instead of the interrupt (seen under load), and the run
exits 1 instead of 130 without finishing the files it was writing. While :class:`DeferredInterrupts` is
active, SIGINT only increments a counter, and :meth:`DeferredInterrupts.wait` raises KeyboardInterrupt itself
between short waits.
"""

from __future__ import annotations

import signal
import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TypeVar

T = TypeVar("T")

POLL_SECONDS = 0.1  # how soon a counted Ctrl-C is acted on; a finished future returns at once regardless


class DeferredInterrupts:
    """Context manager. ``allowed`` is how many Ctrl-Cs the caller has already handled: ``wait`` raises once
    more than that have arrived. Once one has been handled, the next is raised at once, as Python would, so a
    second Ctrl-C aborts the clean-up that follows the first.

    Only the main thread can own SIGINT, and a handler someone else installed is left alone: there the
    interrupt behaves as Python's default, and ``count`` stays 0.
    """

    def __init__(self) -> None:
        self.count = 0
        self.allowed = 0
        self._previous = None

    def __enter__(self) -> DeferredInterrupts:
        if threading.current_thread() is threading.main_thread() and \
                signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self._previous = signal.signal(signal.SIGINT, self._note)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None

    def _note(self, signum: int, frame: object) -> None:
        self.count += 1  # no lock: a handler that blocked on one the main thread holds would hang the run
        if self.allowed:  # the caller is already cleaning up after a Ctrl-C: another one aborts at once
            raise KeyboardInterrupt

    def check(self) -> None:
        """Raise KeyboardInterrupt if more Ctrl-Cs arrived than the caller has handled."""
        if self.count > self.allowed:
            self.allowed = self.count
            raise KeyboardInterrupt

    def wait(self, future: Future[T]) -> T:
        """``future.result()``, with a pending Ctrl-C raised between short waits instead of inside one."""
        while True:
            self.check()
            try:
                return future.result(timeout=POLL_SECONDS)
            except FutureTimeout:
                continue
