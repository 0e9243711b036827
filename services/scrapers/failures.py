"""Failure tracking: every failed run is a gap until a later run of the same scrape succeeds."""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from libs.common.audit import SCRAPER_FAILURES
from libs.common.messages import ScraperComplete
from libs.common.warehouse.base import Warehouse

log = logging.getLogger(__name__)


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
    """The unbackfilled failure of this scrape, if any."""
    rows = warehouse.query(
        "SELECT * FROM {nba_orchestration.scraper_failures} "
        "WHERE scraper_name = @s AND params_key = @k AND NOT backfilled",
        {"s": scraper_name, "k": key},
    )
    return _decoded(rows)[0] if rows else None


def track_run(
    warehouse: Warehouse, message: ScraperComplete, error_class: str | None, now: dt.datetime
) -> None:
    """Open or update a gap for a failed run; close the open gap when the same scrape succeeds."""
    key = params_key(message.params)
    gap = open_gap(warehouse, message.scraper_name, key)
    if message.status == "failed":
        row = gap or {
            "failure_id": message.execution_id, "scraper_name": message.scraper_name, "params": message.params,
            "params_key": key, "game_date": message.game_date, "workflow": message.workflow,
            "first_failed_at": now, "attempts": 0, "backfilled": False,
        }  # fmt: skip
        row |= {"error_class": error_class, "error_message": message.error_message, "last_failed_at": now,
                "last_execution_id": message.execution_id, "attempts": int(row["attempts"]) + 1}  # fmt: skip
        warehouse.upsert(SCRAPER_FAILURES, [row])
    elif gap is not None:
        gap |= {
            "backfilled": True,
            "backfilled_at": now,
            "backfill_execution_id": message.execution_id,
        }
        warehouse.upsert(SCRAPER_FAILURES, [gap])
        log.info(
            "gap closed",
            extra={
                "fields": {"failure_id": gap["failure_id"], "scraper_name": message.scraper_name}
            },
        )


def open_gaps(warehouse: Warehouse, limit: int) -> list[dict[str, Any]]:
    """Unbackfilled failures, oldest first."""
    return _decoded(
        warehouse.query(
            "SELECT * FROM {nba_orchestration.scraper_failures} WHERE NOT backfilled "
            f"ORDER BY first_failed_at, failure_id LIMIT {int(limit)}"
        )
    )


def stale_unalerted_gaps(warehouse: Warehouse, older_than: dt.datetime) -> list[dict[str, Any]]:
    """Gaps open since before `older_than` that have not alerted yet (one alert per gap)."""
    return _decoded(
        warehouse.query(
            "SELECT * FROM {nba_orchestration.scraper_failures} "
            "WHERE NOT backfilled AND alerted_at IS NULL AND first_failed_at < @t "
            "ORDER BY first_failed_at",
            {"t": older_than},
        )
    )
