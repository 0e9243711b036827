"""A scrapers app over an in-memory warehouse and store, with a publisher that can fail."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

import httpx
import respx
from fastapi.testclient import TestClient

from libs.common.clock import Clock
from libs.common.deps import Clients
from libs.common.gcs import RawFileStore
from libs.common.pubsub import Publisher
from libs.common.warehouse.duckdb import DuckDBWarehouse
from services.scrapers.app import create_app
from services.scrapers.failures import params_key
from services.scrapers.settings import ScraperSettings
from tests.conftest import RECORDINGS
from tests.utils.fakes import RecordingPublisher, memory_store

GAMES_URL = "https://api.balldontlie.io/v1/games"
DAY = dt.date(2025, 2, 20)
GAMES = json.loads((RECORDINGS / "balldontlie" / "bdl_games_v1_raw_2025-02-20.json").read_text())
STARTED = dt.datetime(2025, 2, 21, 4, 0, tzinfo=dt.UTC)


def open_gap_row(
    failure_id: str,
    scraper_name: str,
    params: dict[str, Any],
    first_failed_at: dt.datetime = STARTED,
    **columns: Any,
) -> dict[str, Any]:
    """A `scraper_failures` row as one failed run opens it (canonical params key, one attempt,
    not backfilled), for a test to write directly; `columns` add or replace columns."""
    return {"failure_id": failure_id, "scraper_name": scraper_name, "params": params,
            "params_key": params_key(params), "first_failed_at": first_failed_at, "attempts": 1,
            "backfilled": False} | columns  # fmt: skip


@dataclass
class Scrapers:
    """A scrapers app over an in-memory warehouse and store, and a publisher that can fail."""

    http: TestClient
    warehouse: DuckDBWarehouse
    store: RawFileStore
    publisher: RecordingPublisher
    clock: Clock
    upstream: respx.Route
    """balldontlie's games endpoint."""
    routes: respx.MockRouter
    """Every upstream: a request no route matches fails its run."""

    def scrape(self) -> httpx.Response:
        request = {"scraper_name": "bdl_games", "params": {"date": DAY.isoformat()}}
        return self.http.post("/process", json=request)

    def only_run(self) -> str:
        """The execution id of the one run logged, read from the log, not from the answer."""
        [row] = self.warehouse.query(
            "SELECT DISTINCT execution_id FROM {nba_orchestration.scraper_execution_log}"
        )
        return str(row["execution_id"])

    def gap(self) -> dict[str, Any]:
        [gap] = self.warehouse.query(
            "SELECT failure_id, attempts, backfilled, backfill_execution_id, error_class "
            "FROM {nba_orchestration.scraper_failures} WHERE scraper_name = 'bdl_games'"
        )
        return gap


@contextmanager
def scrapers_app(
    warehouse: DuckDBWarehouse | None = None, clock: Clock | None = None, **settings: Any
) -> Iterator[Scrapers]:
    """A fresh app (a process): over `warehouse` and `clock` if given, to restart one."""
    warehouse = warehouse or DuckDBWarehouse(":memory:")
    store, publisher, clock = memory_store(), RecordingPublisher(), clock or Clock(STARTED)
    configured = ScraperSettings.model_validate({"bdl_api_key": "test-key"} | settings)
    app = create_app(configured, Clients(warehouse, store, cast(Publisher, publisher)), clock)
    with respx.mock(assert_all_called=False) as upstream, TestClient(app) as http:
        route = upstream.get(GAMES_URL).mock(return_value=httpx.Response(200, json=GAMES))
        upstream.route(host="127.0.0.1").pass_through()  # local alert receivers
        yield Scrapers(http, warehouse, store, publisher, clock, route, upstream)
