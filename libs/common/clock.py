"""Time as orchestration sees it: the system clock in production, a settable one in tests."""

from __future__ import annotations

import datetime as dt
import threading
from zoneinfo import ZoneInfo

EASTERN = ZoneInfo("America/New_York")
"""The league's calendar: game dates, schedules and workflow windows are Eastern."""


def eastern_date(moment: dt.datetime) -> dt.date:
    """The US Eastern calendar day of a UTC moment (a 02:00Z tip-off is the previous day)."""
    return moment.astimezone(EASTERN).date()


class Clock:
    """The system clock, unless a test sets it; setting it never sleeps."""

    def __init__(self, start: dt.datetime | None = None) -> None:
        self._fixed = start
        self._lock = threading.Lock()

    def now(self) -> dt.datetime:
        """Aware UTC now."""
        with self._lock:
            return self._fixed if self._fixed is not None else dt.datetime.now(dt.UTC)

    def set(self, moment: dt.datetime) -> None:
        """Freeze the clock at `moment` (aware)."""
        if moment.tzinfo is None:
            raise ValueError("set the clock with an aware datetime")
        with self._lock:
            self._fixed = moment.astimezone(dt.UTC)

    def release(self) -> None:
        """Go back to the system clock."""
        with self._lock:
            self._fixed = None

    def advance(self, delta: dt.timedelta) -> dt.datetime:
        """Move a frozen clock forward."""
        with self._lock:
            if self._fixed is None:
                raise RuntimeError("advance() needs a clock frozen with set()")
            self._fixed += delta
            return self._fixed

    def eastern(self) -> dt.datetime:
        """Now in America/New_York."""
        return self.now().astimezone(EASTERN)
