"""Every query the services and libraries run, run for real: the functions that query the
warehouse, each variant, over any `Warehouse`, with each query's call site, template,
parameters and rows noted (the BigQuery dialect check and the contract suite read them)."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from libs.common import audit
from libs.common.analytics import ANALYTICS_TABLES
from libs.common.audit import record_run
from libs.common.clock import Clock
from libs.common.service import dependency_checks
from libs.common.sources.registry import get_source, raw_tables
from libs.common.warehouse.base import Row, Warehouse
from services.analytics import board
from services.scrapers import alerts, dashboard, failures
from services.scrapers.app import create_app
from services.scrapers.breakers import BreakerRegistry
from services.scrapers.orchestration import cleanup, engine
from services.scrapers.orchestration.lines import observe_games_without_lines
from services.scrapers.settings import ScraperSettings
from tests.utils.fakes import fake_clients
from tests.utils.scrapers import open_gap_row
from tests.utils.tables import ORCHESTRATION_TABLES

ROOT = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2025, 2, 21, 12, tzinfo=dt.UTC)
DAY = dt.date(2025, 2, 20)
RUN_ID = "0b7e2c8e-5d1a-4f7e-9a44-3f1f6c2d9b10"
DECLARED = (*ORCHESTRATION_TABLES, *raw_tables(), *ANALYTICS_TABLES)


@dataclass
class Call:
    """One `query` call: where in services/ or libs/ it came from, what it ran and got."""

    site: str
    sql: str
    params: dict[str, Any]
    rows: list[Row]


class Recording:
    """A warehouse that notes every `query` call (everything else passes through)."""

    def __init__(self, inner: Warehouse) -> None:
        self.inner = inner
        self.calls: list[Call] = []

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        site = call_site()
        rows = self.inner.query(sql, params)
        self.calls.append(Call(site, sql, dict(params or {}), rows))
        return rows

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def call_site() -> str:
    """`path:line` of the nearest caller in services/ or libs/ outside the warehouse package."""
    frame = sys._getframe(2)
    while frame is not None:
        path = Path(frame.f_code.co_filename)
        if path.is_relative_to(ROOT):
            relative = path.relative_to(ROOT).as_posix()
            if relative.startswith(("services/", "libs/")) and "/warehouse/" not in relative:
                return f"{relative}:{frame.f_lineno}"
        frame = frame.f_back  # type: ignore[assignment]
    return "tests"


def drive_services(w: Recording) -> None:
    """Run every function of services/ and libs/ that queries the warehouse, each variant, over
    one logged run (RUN_ID) with a file and no load yet."""
    w.ensure_tables(DECLARED)
    clients = fake_clients(w)  # type: ignore[arg-type]
    record_run(w, execution_id=RUN_ID, scraper_name="bdl_games", workflow="MANUAL",
               status="success", gcs_path="gs://b/f.json", started_at=NOW - dt.timedelta(hours=2),
               finished_at=NOW - dt.timedelta(hours=2), game_date=DAY)  # fmt: skip
    dependency_checks(clients, uses=(), publishes=None)
    audit.already_processed(w, "work")  # type: ignore[arg-type]
    audit.pending_executions(w, [RUN_ID, "other"])  # type: ignore[arg-type]
    audit.pending_executions(w, [RUN_ID], reprocess_id="r1")  # type: ignore[arg-type]
    cleanup.run_cleanup(clients, NOW, dt.timedelta(days=1), dt.timedelta(minutes=30))
    cleanup.run_cleanup(clients, NOW, dt.timedelta(days=1), dt.timedelta(0), [RUN_ID])
    warehouse: Any = w
    engine.games_on(warehouse, DAY)
    engine.history_of(warehouse, "morning_operations", DAY)
    engine.capture_history(warehouse, "props_captures", DAY)
    tipoff = {"game_id": "g-lines", "game_date": DAY, "start_time_utc": NOW + dt.timedelta(minutes=30),
              "execution_id": RUN_ID, "source_file": "gs://b/s.json", "loaded_at": NOW}  # fmt: skip
    w.upsert(get_source("nbac_schedule").table, [tipoff])  # so the props are looked up too
    observe_games_without_lines(warehouse, NOW, dt.timedelta(minutes=30))
    gap = open_gap_row(RUN_ID, "bdl_games", {}, NOW)
    failures.save_gap(warehouse, failures.OpenGaps(warehouse, Clock(NOW), dt.timedelta(0)), gap)
    failures.open_gap(warehouse, "bdl_games", "{}")
    failures.gap_by_id(warehouse, RUN_ID)
    failures.recent_gaps(warehouse, include_closed=False, limit=5)
    failures.recent_gaps(warehouse, include_closed=True, limit=5)
    failures.all_open_gaps(warehouse)
    failures.OpenGaps(warehouse, Clock(NOW), dt.timedelta(0)).has("bdl_games", "{}")
    alerts.AlertBook(ScraperSettings(), warehouse, Clock(NOW)).active(alerts.GAPS)
    alerts.recovered_since(warehouse, "bdl_games", NOW - dt.timedelta(hours=3))
    dashboard.collect(warehouse, NOW)
    board.load(warehouse, DAY, "player_points")
    breakers = BreakerRegistry(warehouse)
    breakers.get("direct", "api.example")
    breakers.reset()
    with TestClient(create_app(clients=clients)) as app:
        assert app.get(f"/executions/{RUN_ID}").status_code == 200
        for params in ({}, {"status": "success", "scraper_name": "bdl_games", "workflow": "MANUAL",
                            "game_date": DAY.isoformat(), "from": DAY.isoformat(),
                            "to": DAY.isoformat(), "limit": 5, "offset": 0}):  # fmt: skip
            assert app.get("/admin/recent-executions", params=params).status_code == 200
        dates = {"from": DAY.isoformat(), "to": DAY.isoformat()}
        counts = app.get("/admin/table-counts", params=dates)
        assert counts.status_code == 200 and None not in counts.json().values(), counts.json()
        progress = app.post("/admin/pipeline-progress", json={"execution_ids": [RUN_ID]})
        assert progress.status_code == 200
        assert app.get("/admin/players/unmatched", params=dates).status_code == 200
        lines = {"table": "nba_analytics.player_game_lines", "date": DAY.isoformat()}
        assert app.get("/admin/export", params=lines).status_code == 200
