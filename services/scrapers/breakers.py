"""Circuit breakers per (proxy provider, target host), persisted so every instance agrees.

pybreaker runs the state machine (CLOSED -> OPEN after `fail_max` consecutive failures,
-> HALF_OPEN after `reset_timeout`, one trial call); this module only gives it storage in
`nba_orchestration.circuit_breaker_state`. Transitions are written through and the state is
read back at most every `refresh_seconds`, so a circuit one instance opens is seen by every
instance; failure counters stay in memory ("3 consecutive failures" is counted per instance).
Times are on the pipeline clock (libs/common/clock.py), so a test advances the cooldown.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
import time
from typing import Any

import pybreaker

from libs.common.clock import Clock
from libs.common.warehouse.base import Warehouse
from services.scrapers.tables import CIRCUIT_BREAKER_STATE

log = logging.getLogger(__name__)

STATE_REFRESH_SECONDS = 5.0
"""How stale an instance's view of a circuit may be (each refresh is one warehouse query)."""


class WarehouseStorage(pybreaker.CircuitMemoryStorage):
    """pybreaker storage whose state and opened_at live in the warehouse.

    pybreaker compares opened_at with the system clock; the warehouse keeps pipeline-clock
    times, so opened_at is shifted by the clock's offset on the way in and out.
    """

    def __init__(
        self, warehouse: Warehouse, provider: str, host: str, clock: Clock, refresh_seconds: float
    ) -> None:
        super().__init__(pybreaker.STATE_CLOSED)
        self.warehouse, self.provider, self.host = warehouse, provider, host
        self.clock, self.refresh_seconds = clock, refresh_seconds
        self.opened_on_clock: dt.datetime | None = None
        self._read_at = 0.0
        self._load()

    def _load(self) -> None:
        rows = self.warehouse.query(
            "SELECT state, opened_at FROM {nba_orchestration.circuit_breaker_state} "
            "WHERE provider = @p AND host = @h",
            {"p": self.provider, "h": self.host},
        )
        if rows:
            self._state = rows[0]["state"]
            opened = rows[0]["opened_at"]
            self.opened_on_clock = opened.astimezone(dt.UTC) if opened is not None else None
        self._read_at = time.monotonic()

    def _persist(self) -> None:
        self.warehouse.upsert(CIRCUIT_BREAKER_STATE, [{
            "provider": self.provider, "host": self.host, "state": self._state,
            "failure_count": self._fail_counter, "opened_at": self.opened_on_clock,
            "updated_at": self.clock.now(),
        }])  # fmt: skip
        self._read_at = time.monotonic()

    def _clock_offset(self) -> dt.timedelta:
        return self.clock.now() - dt.datetime.now(dt.UTC)

    @property
    def state(self) -> str:
        if time.monotonic() - self._read_at >= self.refresh_seconds:
            self._load()
        return str(self._state)

    @state.setter
    def state(self, state: str) -> None:
        self._state = state
        self._persist()

    @property
    def opened_at(self) -> dt.datetime | None:
        if self.opened_on_clock is None:
            return None
        return self.opened_on_clock - self._clock_offset()

    @opened_at.setter
    def opened_at(self, value: dt.datetime) -> None:
        self.opened_on_clock = value + self._clock_offset()
        self._persist()


class TransitionLog(pybreaker.CircuitBreakerListener):
    """Logs every state change with the circuit's name."""

    def state_change(self, cb: pybreaker.CircuitBreaker, old_state: Any, new_state: Any) -> None:
        log.warning("circuit breaker transition", extra={"fields": {
            "circuit": cb.name, "from": getattr(old_state, "name", None), "to": new_state.name}})  # fmt: skip


class BreakerRegistry:
    """One breaker per (provider, host), created on first use."""

    def __init__(
        self,
        warehouse: Warehouse,
        fail_max: int = 3,
        reset_timeout: float = 300,
        clock: Clock | None = None,
        refresh_seconds: float = STATE_REFRESH_SECONDS,
    ) -> None:
        self.warehouse = warehouse
        self.fail_max = fail_max
        self.reset_timeout = reset_timeout
        self.clock = clock or Clock()
        self.refresh_seconds = refresh_seconds
        self._breakers: dict[tuple[str, str], pybreaker.CircuitBreaker] = {}
        self._storages: dict[tuple[str, str], WarehouseStorage] = {}
        self._lock = threading.Lock()

    def get(self, provider: str, host: str) -> pybreaker.CircuitBreaker:
        with self._lock:
            key = (provider, host)
            if key not in self._breakers:
                storage = WarehouseStorage(
                    self.warehouse, provider, host, self.clock, self.refresh_seconds
                )
                self._storages[key] = storage
                # A request cancelled (its service stopping) says nothing about the upstream.
                self._breakers[key] = pybreaker.CircuitBreaker(
                    fail_max=self.fail_max, reset_timeout=self.reset_timeout, state_storage=storage,
                    listeners=[TransitionLog()], name=f"{provider}->{host}",
                    exclude=[asyncio.CancelledError],
                )  # fmt: skip
            return self._breakers[key]

    def is_open(self, provider: str, host: str) -> bool:
        """OPEN and still cooling down (a HALF_OPEN trial is allowed through)."""
        breaker = self.get(provider, host)
        if breaker.current_state != pybreaker.STATE_OPEN:
            return False
        opened = self._storages[(provider, host)].opened_on_clock
        return opened is None or self.clock.now() - opened < dt.timedelta(
            seconds=self.reset_timeout
        )

    def reset(self, provider: str | None = None, host: str | None = None) -> list[str]:
        """Close every circuit that is not closed (optionally one provider's or one host's) now,
        for an operator who saw the upstream recover; every instance sees it at its next read."""
        rows = self.warehouse.query(
            "SELECT provider, host FROM {nba_orchestration.circuit_breaker_state} "
            "WHERE state <> 'closed' ORDER BY provider, host"
        )
        closed = []
        for row in rows:
            if provider in (None, row["provider"]) and host in (None, row["host"]):
                breaker = self.get(row["provider"], row["host"])
                breaker.close()
                closed.append(str(breaker.name))
        return closed
