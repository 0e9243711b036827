"""Failure tracking: every failed run is a gap until a later run loads data for the same scrape."""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from collections.abc import Iterable
from typing import Any

from libs.common.clock import Clock
from libs.common.messages import ScraperComplete
from libs.common.warehouse.base import Warehouse
from services.scrapers.tables import SCRAPER_FAILURES

log = logging.getLogger(__name__)

NO_DATA = "NoData"
"""error_class of a gap whose last re-run answered no rows: only data closes a gap, since a
live-only upstream asked about a past date, or one not yet published, also answers nothing."""


OPEN = "NOT backfilled AND dismissed_at IS NULL"
"""The condition of an open gap: closed by data (backfilled) or by an operator (dismissed)."""


def params_key(params: dict[str, Any]) -> str:
    """Canonical text of a run's params: the same scrape always has the same key."""
    return json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)


def _decoded(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Gap rows with `params` as a dict: DuckDB returns JSON columns as text, which an upsert
    of the row would otherwise encode a second time (and a backfill could no longer read)."""
    for row in rows:
        if isinstance(row["params"], str):
            row["params"] = json.loads(row["params"])
    return rows


def open_gap(warehouse: Warehouse, scraper_name: str, key: str) -> dict[str, Any] | None:
    """The open gap of this scrape, if any."""
    rows = warehouse.query(
        "SELECT * FROM {nba_orchestration.scraper_failures} "
        f"WHERE scraper_name = @s AND params_key = @k AND {OPEN}",
        {"s": scraper_name, "k": key},
    )
    return _decoded(rows)[0] if rows else None


def all_open_gaps(warehouse: Warehouse) -> list[dict[str, Any]]:
    """Every open gap, oldest first: what the backfiller plans from and the gap alert counts."""
    return _decoded(
        warehouse.query(
            f"SELECT * FROM {{nba_orchestration.scraper_failures}} WHERE {OPEN} "
            "ORDER BY first_failed_at, failure_id"
        )
    )


class OpenGaps:
    """This instance's view of which scrapes have an open gap, so that a run that worked and
    has none, the common case, costs no warehouse query (on BigQuery a query job, about a
    second and 10 MB billed, per run).

    It is read once, at first use, then kept current by this process's own writes. Other
    instances' writes are seen when the view is read again: once it is older than `max_age`
    (one query per period, and none while the instance runs nothing), and whenever the gap
    backfiller reads every open gap anyway (`reload`). A run that failed always reads the
    warehouse, so two instances never open two gaps for one scrape; all that staleness can
    cost is a success, within `max_age` of another instance opening the gap, that leaves it
    open until the backfiller's next pass re-runs it (one upstream request more; the data is
    loaded either way). Considered instead: a GCS object every gap write bumps and every run
    checks (a request per run, and GCS takes about one write per second per object, so a
    burst of failures would be throttled), and BigQuery's table metadata (free to read, but
    DuckDB has none and the warehouse interface does not expose it).
    """

    def __init__(self, warehouse: Warehouse, clock: Clock, max_age: dt.timedelta) -> None:
        self.warehouse, self.clock, self.max_age = warehouse, clock, max_age
        self._keys: set[tuple[str, str]] = set()
        self._read_at: dt.datetime | None = None
        self._lock = threading.Lock()

    def reload(self, gaps: Iterable[dict[str, Any]]) -> None:
        """Replace the view with `gaps`, read from the warehouse just now."""
        keys = {(gap["scraper_name"], gap["params_key"]) for gap in gaps}
        with self._lock:
            self._keys, self._read_at = keys, self.clock.now()

    def has(self, scraper_name: str, key: str) -> bool:
        """Whether the scrape has an open gap, as far as this instance knows."""
        with self._lock:
            now = self.clock.now()
            if self._read_at is None or not dt.timedelta(0) <= now - self._read_at < self.max_age:
                rows = self.warehouse.query(
                    "SELECT scraper_name, params_key FROM {nba_orchestration.scraper_failures} "
                    f"WHERE {OPEN}"
                )
                self._keys = {(row["scraper_name"], row["params_key"]) for row in rows}
                self._read_at = now
            return (scraper_name, key) in self._keys

    def mark(self, scraper_name: str, key: str, is_open: bool) -> None:
        """Record this process's own write of a gap."""
        with self._lock:
            (self._keys.add if is_open else self._keys.discard)((scraper_name, key))


def gap_by_id(warehouse: Warehouse, failure_id: str) -> dict[str, Any] | None:
    """One gap, open or closed."""
    rows = warehouse.query(
        "SELECT * FROM {nba_orchestration.scraper_failures} WHERE failure_id = @id",
        {"id": failure_id},
    )
    return _decoded(rows)[0] if rows else None


def recent_gaps(warehouse: Warehouse, include_closed: bool, limit: int) -> list[dict[str, Any]]:
    """The newest gaps first (by last failure), open ones only unless `include_closed`."""
    where = "" if include_closed else f"WHERE {OPEN} "
    return _decoded(
        warehouse.query(
            f"SELECT * FROM {{nba_orchestration.scraper_failures}} {where}"
            f"ORDER BY coalesce(last_failed_at, first_failed_at) DESC, failure_id LIMIT {int(limit)}"
        )
    )


def dismissed(gap: dict[str, Any], reason: str, by: str | None, now: dt.datetime) -> dict[str, Any]:
    """The gap closed by an operator: no run will be asked to fill it again, and the data it
    lacks stays lacking (`backfilled` stays false, so no report counts it as filled)."""
    return gap | {"dismissed_at": now, "dismissed_reason": reason, "dismissed_by": by}


def after_run(
    gap: dict[str, Any], message: ScraperComplete, error_class: str | None, now: dt.datetime
) -> dict[str, Any]:
    """The gap after a run meant to fill it: closed if the run loaded data, else one attempt
    more, with the run's error (or NO_DATA) as the gap's last error."""
    if message.status == "success":
        return gap | {
            "backfilled": True,
            "backfilled_at": now,
            "backfill_execution_id": message.execution_id,
        }
    error_message = message.error_message
    if message.status == "no_data":
        error_class = NO_DATA
        error_message = (f"{NO_DATA}: {message.scraper_name} answered no rows (run "
                         f"{message.execution_id}); only data closes a gap")  # fmt: skip
    return gap | {"error_class": error_class, "error_message": error_message, "last_failed_at": now,
                  "last_execution_id": message.execution_id, "attempts": int(gap["attempts"]) + 1}  # fmt: skip


def is_open(gap: dict[str, Any]) -> bool:
    """Whether neither data nor an operator has closed the gap (the row form of OPEN)."""
    return not gap["backfilled"] and gap.get("dismissed_at") is None


def save_gap(warehouse: Warehouse, gaps: OpenGaps, row: dict[str, Any]) -> None:
    """Write a gap and keep this instance's view of open gaps current."""
    warehouse.upsert(SCRAPER_FAILURES, [row])
    gaps.mark(row["scraper_name"], row["params_key"], is_open(row))
    if is_open(row):
        return
    by = "backfill_execution_id" if row["backfilled"] else "dismissed_reason"
    log.info("gap closed", extra={"fields": {"failure_id": row["failure_id"],
                                             "scraper_name": row["scraper_name"], by: row[by]}})  # fmt: skip


def track_run(
    warehouse: Warehouse,
    gaps: OpenGaps,
    message: ScraperComplete,
    error_class: str | None,
    now: dt.datetime,
) -> None:
    """Open or update the scrape's gap for a failed run; for a run that worked, close its open
    gap if it loaded data, or count the no-data answer against it.

    A failed run always reads the warehouse; a run that worked reads it only when `gaps` says
    a gap is open, so a run with none costs no query.
    """
    key = params_key(message.params)
    failed = message.status == "failed"
    if not failed and not gaps.has(message.scraper_name, key):
        return
    gap = open_gap(warehouse, message.scraper_name, key)
    if gap is None and not failed:
        gaps.mark(message.scraper_name, key, False)
        return
    gap = gap or {
        "failure_id": message.execution_id, "scraper_name": message.scraper_name, "params": message.params,
        "params_key": key, "game_date": message.game_date, "workflow": message.workflow,
        "first_failed_at": now, "attempts": 0, "backfilled": False,
    }  # fmt: skip
    save_gap(warehouse, gaps, after_run(gap, message, error_class, now))
