"""Stop signals interrupt the work they are meant to, and never the shutdown after it."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from nba_pipeline.stopping import StopRequested, StopSignals


def send(signum: signal.Signals) -> None:
    os.kill(os.getpid(), signum)
    time.sleep(0.01)  # the handler runs at the main thread's next bytecode


def test_sigterm_interrupts_a_blocking_call_inside_the_interruptible_block() -> None:
    with StopSignals() as stops, pytest.raises(StopRequested) as stop, stops.interruptible():
        threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGTERM)).start()
        time.sleep(30)  # raises, or the test fails 30 s later without StopRequested
    assert stop.value.signum == signal.SIGTERM and stop.value.exit_code == 143
    assert str(stop.value) == "SIGTERM"


def test_outside_the_block_a_signal_is_only_noted_and_later_ones_are_ignored() -> None:
    with StopSignals() as stops:
        send(signal.SIGTERM)  # e.g. while the stack is stopping after a failure
        assert stops.requested == signal.SIGTERM
        send(signal.SIGINT)
        assert stops.requested == signal.SIGTERM
        with pytest.raises(StopRequested), stops.interruptible():
            pytest.fail("a block entered after the signal must not start")


def test_handlers_are_restored_and_an_ignored_sigint_stays_ignored() -> None:
    before = signal.getsignal(signal.SIGTERM)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with StopSignals():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) is not before
        assert signal.getsignal(signal.SIGTERM) is before
    finally:
        signal.signal(signal.SIGINT, previous)
