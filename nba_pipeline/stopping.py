"""Stop signals as an exception in the main thread, so long work stops at once.

A flag checked by an idle loop leaves the demo, a backfill and their waits running until they
end on their own. Raising from the signal handler interrupts whatever the main thread is
blocked in (a socket read, a sleep, a lock), and the work's own `finally` blocks clean up.
SIGTERM is always handled: a shell starts background jobs with SIGINT ignored, and then it is
the only stop signal that arrives (LOCAL_STACK.md); SIGINT is handled unless it is ignored.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any


class StopRequested(BaseException):
    """A stop signal arrived. A BaseException, like KeyboardInterrupt, so that no
    `except Exception` in the interrupted work mistakes it for a failure and carries on."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        """The shell's convention for a command ended by this signal: 128 + its number."""
        return 128 + self.signum


class StopSignals:
    """Handles SIGTERM and (unless ignored) SIGINT while active (`with StopSignals() as stops`).

    The first signal raises StopRequested, but only inside `stops.interruptible()`: outside it
    (stopping the stack, closing the warehouse) a signal is only noted, so shutting down is
    never cut short. Later signals are ignored: stopping is already under way, and one Ctrl-C
    arrives twice under `uv run` (from the terminal, then forwarded by uv).
    """

    def __init__(self) -> None:
        self.requested: int | None = None
        self._armed = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is not threading.main_thread():
            return self  # Python runs handlers in the main thread only, and sets them there
        signums = [signal.SIGTERM]
        if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
            signums.append(signal.SIGINT)
        for signum in signums:
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested is not None:
            return
        self.requested = signum
        if self._armed:
            raise StopRequested(signum)

    @contextmanager
    def interruptible(self) -> Iterator[None]:
        """The block a stop signal interrupts; entered after a signal, it raises at once."""
        if self.requested is not None:
            raise StopRequested(self.requested)
        self._armed = True
        try:
            yield
        finally:
            self._armed = False


@contextmanager
def interruptible() -> Iterator[StopSignals]:
    """Stop signals handled and raising for the whole block: for a client command, which has
    nothing of its own to shut down that a signal could cut short."""
    with StopSignals() as stops, stops.interruptible():
        yield stops
