"""Circuit breakers per (proxy provider, target host), persisted so every instance agrees.

pybreaker runs the state machine (CLOSED -> OPEN after `fail_max` consecutive failures,
-> HALF_OPEN after `reset_timeout`, one trial call); this module only gives it storage in
`nba_orchestration.circuit_breaker_state`. Transitions are written through; failure counters
stay in memory, so "3 consecutive failures" is counted per instance while an OPEN circuit
is seen by all instances at their next state read.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import Any

import pybreaker

from libs.common.audit import CIRCUIT_BREAKER_STATE
from libs.common.warehouse.base import Warehouse

log = logging.getLogger(__name__)


class WarehouseStorage(pybreaker.CircuitMemoryStorage):
    """pybreaker storage whose state and opened_at live in the warehouse."""

    def __init__(self, warehouse: Warehouse, provider: str, host: str) -> None:
        self.warehouse = warehouse
        self.provider = provider
        self.host = host
        rows = warehouse.query(
            "SELECT state, opened_at FROM {nba_orchestration.circuit_breaker_state} "
            "WHERE provider = @p AND host = @h",
            {"p": provider, "h": host},
        )
        super().__init__(rows[0]["state"] if rows else pybreaker.STATE_CLOSED)
        if rows and rows[0]["opened_at"] is not None:
            self._opened_at = rows[0]["opened_at"].astimezone(dt.UTC)

    def _persist(self) -> None:
        opened = self._opened_at
        self.warehouse.upsert(CIRCUIT_BREAKER_STATE, [{
            "provider": self.provider, "host": self.host, "state": self._state,
            "failure_count": self._fail_counter, "opened_at": opened, "updated_at": dt.datetime.now(dt.UTC),
        }])  # fmt: skip

    @property
    def state(self) -> str:
        return str(self._state)

    @state.setter
    def state(self, state: str) -> None:
        self._state = state
        self._persist()

    @property
    def opened_at(self) -> dt.datetime | None:
        return self._opened_at

    @opened_at.setter
    def opened_at(self, value: dt.datetime) -> None:
        self._opened_at = value
        self._persist()


class TransitionLog(pybreaker.CircuitBreakerListener):
    """Logs every state change with the circuit's name."""

    def state_change(self, cb: pybreaker.CircuitBreaker, old_state: Any, new_state: Any) -> None:
        log.warning("circuit breaker transition", extra={"fields": {
            "circuit": cb.name, "from": getattr(old_state, "name", None), "to": new_state.name}})  # fmt: skip


class BreakerRegistry:
    """One breaker per (provider, host), created on first use."""

    def __init__(self, warehouse: Warehouse, fail_max: int = 3, reset_timeout: float = 300) -> None:
        self.warehouse = warehouse
        self.fail_max = fail_max
        self.reset_timeout = reset_timeout
        self._breakers: dict[tuple[str, str], pybreaker.CircuitBreaker] = {}
        self._lock = threading.Lock()

    def get(self, provider: str, host: str) -> pybreaker.CircuitBreaker:
        with self._lock:
            key = (provider, host)
            if key not in self._breakers:
                self._breakers[key] = pybreaker.CircuitBreaker(
                    fail_max=self.fail_max, reset_timeout=self.reset_timeout,
                    state_storage=WarehouseStorage(self.warehouse, provider, host),
                    listeners=[TransitionLog()], name=f"{provider}->{host}",
                )  # fmt: skip
            return self._breakers[key]

    def is_open(self, provider: str, host: str) -> bool:
        """OPEN and still cooling down (a HALF_OPEN trial is allowed through)."""
        breaker = self.get(provider, host)
        if breaker.current_state != pybreaker.STATE_OPEN:
            return False
        opened = breaker._state_storage.opened_at
        return opened is None or dt.datetime.now(dt.UTC) - opened < dt.timedelta(
            seconds=self.reset_timeout
        )
