"""Drive scrapes through a running pipeline and wait until every phase has applied them."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from libs.common.warehouse.base import Warehouse


class PipelineTimeout(RuntimeError):
    """Some runs did not reach every phase in time; the message lists them."""


@dataclass
class RunReport:
    """What one scrape request returned."""

    scraper_name: str
    params: dict[str, Any]
    status_code: int
    body: dict[str, Any]

    @property
    def execution_id(self) -> str | None:
        value = self.body.get("execution_id")
        return str(value) if value else None

    @property
    def status(self) -> str:
        return str(self.body.get("status", "error"))


@dataclass
class PipelineReport:
    """Runs, rows per table and end-to-end latency of one batch of scrapes."""

    runs: list[RunReport]
    rows: dict[str, int] = field(default_factory=dict)
    latency_seconds: float = 0.0


def scrape(scrapers_url: str, scraper_name: str, params: dict[str, Any], workflow: str = "MANUAL",
           client: httpx.Client | None = None) -> RunReport:  # fmt: skip
    """POST one scrape request to the scrapers service."""
    request = {"scraper_name": scraper_name, "params": params, "workflow": workflow}
    http = client or httpx.Client(timeout=120)
    response = http.post(f"{scrapers_url}/process", json=request)
    body = (
        response.json()
        if response.headers.get("content-type", "").startswith("application/json")
        else {}
    )
    return RunReport(scraper_name, params, response.status_code, body)


def pending_executions(warehouse: Warehouse, runs: list[RunReport]) -> list[str]:
    """Execution ids not yet applied by every phase they should reach.

    A run is done when processors applied it and, if it loaded rows, analytics applied its
    phase-2 message too.
    """
    ids = [run.execution_id for run in runs if run.execution_id and run.status != "failed"]
    if not ids:
        return []
    params = {f"id{i}": execution_id for i, execution_id in enumerate(ids)}
    rows = warehouse.query(
        "SELECT execution_id, phase, outcome FROM {nba_orchestration.processed_messages} "
        f"WHERE execution_id IN ({', '.join('@' + name for name in params)})",
        params,
    )
    processed = {(r["execution_id"], r["phase"]): r["outcome"] for r in rows}
    pending = []
    for execution_id in ids:
        outcome = processed.get((execution_id, "processors"))
        if outcome is None or (
            outcome == "loaded" and (execution_id, "analytics") not in processed
        ):
            pending.append(execution_id)
    return pending


def wait_for_pipeline(warehouse: Warehouse, runs: list[RunReport], timeout: float = 60) -> float:
    """Block until every run went through all phases; returns the seconds waited."""
    started = time.monotonic()
    while pending := pending_executions(warehouse, runs):
        if time.monotonic() - started > timeout:
            raise PipelineTimeout(
                f"{len(pending)} runs not applied after {timeout:.0f}s: {pending[:5]}"
            )
        time.sleep(0.05)
    return time.monotonic() - started


def rows_for_date(warehouse: Warehouse, tables: list[str], game_date: dt.date) -> dict[str, int]:
    """Row count of each `dataset.table` for one game date."""
    counts = {}
    for table in tables:
        result = warehouse.query(
            f"SELECT count(*) AS n FROM {{{table}}} WHERE game_date = @d", {"d": game_date}
        )
        counts[table] = int(result[0]["n"])
    return counts
