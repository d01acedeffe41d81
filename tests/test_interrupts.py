"""Ctrl-C while the run waits on its pools: counted, then raised by ``wait`` itself, never inside a lock or a join."""

from __future__ import annotations

import os
import signal
import threading
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from facerestore.interrupts import DeferredInterrupts, TerminateAsInterrupt, Terminated


def _ctrl_c() -> None:
    os.kill(os.getpid(), signal.SIGINT)


@pytest.fixture(autouse=True)
def _default_sigint():
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_is_counted_then_raised_by_wait_and_the_handler_comes_back():
    done: Future[int] = Future()
    done.set_result(7)
    with DeferredInterrupts() as interrupts:
        _ctrl_c()
        sum(range(1000))  # the handler runs here: a plain count, no exception
        assert interrupts.count == 1
        with pytest.raises(KeyboardInterrupt):
            interrupts.wait(done)
        assert interrupts.wait(done) == 7  # that one is handled now
        _ctrl_c()
        sum(range(1000))  # a second one is counted too, not raised wherever the clean-up happens to be
        assert interrupts.count == 2
        with pytest.raises(KeyboardInterrupt):  # it aborts the clean-up's next wait
            interrupts.wait(done)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ctrl_c_while_waiting_on_a_pool_leaves_the_future_usable():
    release = threading.Event()
    with ThreadPoolExecutor(1) as pool, DeferredInterrupts() as interrupts:
        future = pool.submit(lambda: release.wait(30) and "written")
        threading.Timer(0.2, _ctrl_c).start()
        with pytest.raises(KeyboardInterrupt):
            interrupts.wait(future)  # not "RuntimeError: cannot release un-acquired lock"
        release.set()
        assert future.result(timeout=30) == "written"  # its condition's lock is intact


def test_a_second_ctrl_c_never_interrupts_the_join_of_a_worker_still_running():
    """A second Ctrl-C was raised by the handler wherever the main thread was: in the clean-up, inside the join
    of a pool's thread still restoring an image, where Python then marks that thread stopped while it runs
    (CPython gh-90882). The interpreter exited without waiting for it, and the process aborted (SIGABRT) when the
    thread came back from ONNX Runtime during finalization: 5 double Ctrl-Cs in 65 with --threads 1."""
    finished = threading.Event()

    def restoring() -> None:  # the image in inference: Ctrl-C comes while the main thread joins its thread
        threading.Event().wait(0.2)
        _ctrl_c()
        threading.Event().wait(0.3)
        finished.set()

    with DeferredInterrupts() as interrupts:
        _ctrl_c()
        with pytest.raises(KeyboardInterrupt):  # the first, handled: the clean-up begins
            interrupts.check()
        worker = threading.Thread(target=restoring)
        try:
            worker.start()
            worker.join()
        except KeyboardInterrupt:
            finished.wait(30)
            pytest.fail("the second Ctrl-C was raised inside the join of a thread still running")
        assert finished.is_set() and not worker.is_alive() and interrupts.count == 2
        with pytest.raises(KeyboardInterrupt):  # raised after the join, at a safe point
            interrupts.check()


def test_results_and_errors_of_the_future_pass_through():
    with ThreadPoolExecutor(1) as pool, DeferredInterrupts() as interrupts:
        assert interrupts.wait(pool.submit(lambda: threading.Event().wait(0.3) or "late")) == "late"
        with pytest.raises(ZeroDivisionError):
            interrupts.wait(pool.submit(lambda: 1 / 0))


def test_a_custom_handler_and_other_threads_are_left_alone():
    def mine(signum, frame):
        pass

    signal.signal(signal.SIGINT, mine)
    with DeferredInterrupts():
        assert signal.getsignal(signal.SIGINT) is mine
    assert signal.getsignal(signal.SIGINT) is mine

    signal.signal(signal.SIGINT, signal.default_int_handler)
    seen = []

    def in_a_thread():
        with DeferredInterrupts():
            seen.append(signal.getsignal(signal.SIGINT))

    thread = threading.Thread(target=in_a_thread)
    thread.start()
    thread.join()
    assert seen == [signal.default_int_handler]


def _sigterm() -> None:
    os.kill(os.getpid(), signal.SIGTERM)


@pytest.fixture()
def _default_sigterm():
    if signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
        pytest.skip("SIGTERM has a handler in this process already")
    yield
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def test_sigterm_is_a_ctrl_c_where_the_command_asks_for_it(_default_sigterm):
    done: Future[int] = Future()
    done.set_result(7)
    with DeferredInterrupts():  # not asked: SIGTERM keeps its default action
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    with TerminateAsInterrupt() as term:
        with DeferredInterrupts() as interrupts:
            assert signal.getsignal(signal.SIGTERM) == interrupts._note  # else the next line ends pytest
            _sigterm()
            sum(range(1000))  # counted, not raised
            assert interrupts.count == 1 and term.count == 1
            with pytest.raises(Terminated):  # a KeyboardInterrupt: whatever handles a Ctrl-C handles it
                interrupts.wait(done)
            _ctrl_c()
            sum(range(1000))
            with pytest.raises(Terminated):  # a Ctrl-C during the clean-up after a SIGTERM aborts its next wait
                interrupts.wait(done)
        assert signal.getsignal(signal.SIGTERM) == term.handle  # a later SIGTERM would end the process at once
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    with TerminateAsInterrupt() as term:
        assert signal.getsignal(signal.SIGTERM) == term.handle
        with pytest.raises(Terminated):  # outside the pools' waits: raised where the main thread is
            _sigterm()
            sum(range(1000))
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
