"""API budgets: quota headers recorded with each run, credits on the dashboard, the replay
server charging like The Odds API, and a backfill that prices itself before it starts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any, cast

import httpx
import pytest
import respx
from fastapi.testclient import TestClient
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, NumberDataPoint
from typer.testing import CliRunner

from libs.common.audit import SCRAPER_EXECUTION_LOG, record_run
from libs.common.clock import Clock
from libs.common.deps import Clients
from libs.common.messages import RunResult
from libs.common.pubsub import Publisher
from libs.common.quota import QUOTA_HEADERS, QuotaTally, odds_api_cost
from libs.common.sources.oddsapi import MARKET
from libs.common.sources.registry import SOURCES
from libs.common.sources.upstreams import UPSTREAMS
from libs.common.warehouse.duckdb import DuckDBWarehouse
from libs.common.warehouse.schema import Table
from nba_pipeline.backfill import ODDS_API_RUNS, plan_backfill
from nba_pipeline.cli import app as cli_app
from nba_pipeline.pipeline import PipelineClient
from nba_pipeline.replay.app import create_app as create_replay
from nba_pipeline.replay.settings import ReplaySettings
from services.scrapers.app import create_app as create_scrapers
from services.scrapers.dashboard import collect, credit_stats, render
from services.scrapers.settings import ScraperSettings
from tests.utils.fakes import RecordingPublisher, memory_store
from tests.utils.tables import ORCHESTRATION_TABLES

NOW = dt.datetime(2025, 2, 21, 12, tzinfo=dt.UTC)
DAY = dt.date(2024, 11, 12)
"""A generated date with a full slate."""
ODDS = "https://api.the-odds-api.com"
SERVICE = "http://scrapers"
HEADERS = ("x-requests-remaining", "x-requests-used", "x-requests-last")
MARKETS = len(MARKET.split(","))
"""Props markets an odds request asks for, in one region: 10 credits each when historical."""
PER_PROPS_DATE = 1 + 15 * 10 * MARKETS
"""A date of historical props at most: its events list, then the odds of 15 games."""


def quota(remaining: str, used: str, last: str) -> dict[str, str]:
    return dict(zip(HEADERS, (remaining, used, last), strict=True))


def test_a_run_keeps_the_lowest_remaining_the_highest_used_and_the_sum_of_costs() -> None:
    tally = QuotaTally("oddsapi")
    for headers in (quota("980", "20", "10"), quota("990", "10", "10"), quota("979", "21", "1")):
        tally.observe(headers)  # answers of requests in flight arrive in any order
    tally.observe({})  # a response without the headers (a 429 of a proxy) changes nothing
    tally.observe(quota("inf", "nan", "ten"))  # nor headers that are not counts
    assert tally.columns() == {"quota_remaining": 979, "quota_used": 21, "quota_cost": 21}


def test_an_upstream_without_quota_headers_records_none() -> None:
    tally = QuotaTally("balldontlie")
    tally.observe(quota("1", "2", "3"))
    assert tally.columns() == {"quota_remaining": None, "quota_used": None, "quota_cost": None}
    assert set(QUOTA_HEADERS) <= set(UPSTREAMS)


def test_odds_api_costs_follow_its_pricing() -> None:
    assert odds_api_cost(historical=False) == 0, "the current events list is free"
    assert odds_api_cost(historical=True) == 1, "a historical events list costs 1"
    assert odds_api_cost(False, markets=2, regions=1) == 2
    assert odds_api_cost(True, markets=1, regions=2) == 20, "10 per market per region"


@pytest.fixture
def replay() -> TestClient:
    return TestClient(create_replay(ReplaySettings(odds_api_credits=5000)))


def test_the_replay_server_answers_with_the_odds_api_quota_headers(replay: TestClient) -> None:
    snapshot = {"apiKey": "k", "date": "2024-11-12T21:00:00Z"}
    listed = replay.get("/oddsapi/v4/historical/sports/basketball_nba/events", params=snapshot)
    assert [listed.headers[name] for name in HEADERS] == ["4999", "1", "1"]
    event = listed.json()["data"][0]["id"]
    odds = replay.get(
        f"/oddsapi/v4/historical/sports/basketball_nba/events/{event}/odds",
        params={**snapshot, "markets": "player_points", "regions": "us,eu"},
    )
    assert [odds.headers[name] for name in HEADERS] == ["4979", "21", "20"]
    free = replay.get("/oddsapi/v4/sports/basketball_nba/events", params={"apiKey": "k"})
    assert [free.headers[name] for name in HEADERS] == ["4979", "21", "0"]
    bdl = replay.get("/balldontlie/v1/players", headers={"Authorization": "k"})
    assert not set(HEADERS) & set(bdl.headers)


def credits_gauge(reader: InMemoryMetricReader, upstream: str) -> list[float]:
    """Values of the credits-remaining gauge for one upstream (the Odds API credits alert)."""
    data = reader.get_metrics_data()
    return [
        point.value
        for resource in (data.resource_metrics if data else [])
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == "nba.upstream.credits_remaining"
        for point in metric.data.data_points
        if isinstance(point, NumberDataPoint)
        and (point.attributes or {}).get("upstream") == upstream
    ]


def test_a_scrape_records_what_its_responses_said_about_the_quota(
    replay: TestClient, metric_reader: InMemoryMetricReader
) -> None:
    def forward(request: httpx.Request) -> httpx.Response:
        answer = replay.get(f"/oddsapi{request.url.path}", params=request.url.params)
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)

    warehouse = DuckDBWarehouse(":memory:")
    clients = Clients(warehouse, memory_store(), cast(Publisher, RecordingPublisher()))
    scrapers = create_scrapers(ScraperSettings(odds_api_key="k"), clients, Clock(NOW))
    with respx.mock(assert_all_called=False) as upstream, TestClient(scrapers) as http:
        upstream.get(url__startswith=ODDS).mock(side_effect=forward)
        run = {"scraper_name": "oddsa_player_props_his", "params": {"date": DAY.isoformat()}}
        answer = http.post("/process", json=run)
        assert answer.status_code == 200, answer.json()
    games = len(replay.app.state.season.games_on(DAY))  # type: ignore[attr-defined]
    cost = 1 + games * 10 * MARKETS  # the historical events list, then the odds of each game
    assert warehouse.query(
        "SELECT quota_remaining, quota_used, quota_cost "
        "FROM {nba_orchestration.scraper_execution_log}"
    ) == [{"quota_remaining": 5000 - cost, "quota_used": cost, "quota_cost": cost}]
    assert credits_gauge(metric_reader, "oddsapi") == [5000 - cost]
    warehouse.close()


def test_a_log_table_from_before_the_quota_columns_gains_them_at_start() -> None:
    warehouse = DuckDBWarehouse(":memory:")
    old = Table(
        SCRAPER_EXECUTION_LOG.dataset,
        SCRAPER_EXECUTION_LOG.name,
        tuple(c for c in SCRAPER_EXECUTION_LOG.columns if not c.name.startswith("quota_")),
        partition_column=SCRAPER_EXECUTION_LOG.partition_column,
    )
    warehouse.ensure_tables([old])
    before = {"execution_id": "old", "scraper_name": "bdl_games", "workflow": "MANUAL",
              "status": "success", "started_at": NOW, "finished_at": NOW}  # fmt: skip
    warehouse.append(old, [{name: before.get(name) for name in old.column_names}])
    warehouse.ensure_tables(ORCHESTRATION_TABLES)
    log(warehouse, NOW, remaining=900, cost=10)
    rows = warehouse.query(
        "SELECT scraper_name, quota_remaining FROM {nba_orchestration.scraper_execution_log} "
        "ORDER BY quota_remaining NULLS FIRST"
    )
    assert rows == [
        {"scraper_name": "bdl_games", "quota_remaining": None},
        {"scraper_name": "oddsa_events_his", "quota_remaining": 900},
    ]
    warehouse.close()


def log(
    warehouse: DuckDBWarehouse,
    at: dt.datetime,
    remaining: int | None,
    cost: int | None,
    scraper: str = "oddsa_events_his",
    log_seq: int = 1,
    execution_id: str | None = None,
) -> None:
    record_run(warehouse, execution_id=execution_id or f"run-{at.isoformat()}-{scraper}",
               scraper_name=scraper, workflow="MANUAL", status="success", started_at=at,
               finished_at=at, log_seq=log_seq, quota_remaining=remaining,
               quota_used=None if remaining is None else 10_000 - remaining,
               quota_cost=cost)  # fmt: skip


@pytest.fixture
def warehouse() -> Iterator[DuckDBWarehouse]:
    w = DuckDBWarehouse(":memory:")
    w.ensure_tables(ORCHESTRATION_TABLES)
    yield w
    w.close()


def test_the_dashboard_shows_credits_left_what_was_spent_and_the_trend(
    warehouse: DuckDBWarehouse,
) -> None:
    hours = dt.timedelta(hours=1)
    log(warehouse, NOW - 8 * 24 * hours, remaining=9990, cost=10)  # outside the 7 days
    log(warehouse, NOW - 72 * hours, remaining=9000, cost=400)
    log(warehouse, NOW - 50 * hours, remaining=8600, cost=400)
    log(warehouse, NOW - 30 * hours, remaining=8200, cost=400)
    log(warehouse, NOW - 2 * hours, remaining=8000, cost=200, execution_id="late")
    log(warehouse, NOW - 2 * hours, remaining=8000, cost=200, execution_id="late", log_seq=2)
    log(warehouse, NOW - hours, remaining=None, cost=None, scraper="bdl_games")
    log(warehouse, NOW - hours, remaining=1, cost=1, scraper="a_scraper_since_removed")

    credits = credit_stats(warehouse, NOW)["oddsapi"]
    assert (credits.remaining, credits.as_of) == (8000, NOW - 2 * hours)
    assert credits.spent_24h == 200, "a run's superseding log row is not counted twice"
    assert credits.spent_7d == 1400
    assert credits.days_left == pytest.approx(8000 / (1400 / 3)), "at the rate of the last 3 days"
    assert credits.daily == [(dt.date(2025, 2, 18), 9000), (dt.date(2025, 2, 19), 8600),
                             (dt.date(2025, 2, 20), 8200), (dt.date(2025, 2, 21), 8000)]  # fmt: skip
    assert credits.css == "ok"

    page = render(collect(warehouse, NOW))
    row = page[page.index('<tr data-upstream="oddsapi">') :].split("</tr>")[0]
    assert 'data-col="remaining">8000</td>' in row and 'data-col="spent_7d">1400</td>' in row
    assert "02-18 9,000 → 02-19 8,600 → 02-20 8,200 → 02-21 8,000" in row
    assert "report no usage quota: balldontlie, espn" in page


def test_an_upstream_nearly_out_of_credits_is_red_and_one_never_seen_is_grey(
    warehouse: DuckDBWarehouse,
) -> None:
    assert credit_stats(warehouse, NOW)["oddsapi"].css == "idle"
    assert "no quota headers seen in 7 d" in render(collect(warehouse, NOW))
    log(warehouse, NOW - dt.timedelta(hours=1), remaining=500, cost=10)
    assert credit_stats(warehouse, NOW)["oddsapi"].css == "bad", "5% of the plan left"


def test_every_odds_api_scraper_is_priced_for_a_backfill() -> None:
    odds_api = {name for name, source in SOURCES.items() if source.upstream == "oddsapi"}
    assert odds_api == set(ODDS_API_RUNS)


class Service:
    """The scrapers service as a backfill sees it: earlier runs, and scrapes that load nothing."""

    def __init__(self, loaded: list[tuple[str, str]]) -> None:
        self.runs = [{"scraper_name": name, "game_date": day, "execution_id": f"{name}-{day}"}
                     for name, day in loaded]  # fmt: skip
        self.scraped: list[dict[str, Any]] = []

    def executions(self, request: httpx.Request) -> httpx.Response:
        found = self.runs if request.url.params["status"] == "success" else []
        return httpx.Response(200, json={"executions": found, "has_more": False})

    def scrape(self, request: httpx.Request) -> httpx.Response:
        asked = httpx.Response(200, content=request.content).json()
        self.scraped.append(asked)
        run = RunResult(scraper_name=asked["scraper_name"], execution_id="e", status="no_data",
                        gcs_path=None, game_date=None, record_count=0, duration_seconds=0)  # fmt: skip
        return httpx.Response(200, json=run.model_dump(mode="json"))


@pytest.fixture
def service() -> Iterator[Service]:
    fake = Service(loaded=[("oddsa_player_props_his", "2024-11-01")])
    with respx.mock(base_url=SERVICE, assert_all_called=False) as mock:
        mock.get("/admin/recent-executions").mock(side_effect=fake.executions)
        mock.post("/process").mock(side_effect=fake.scrape)
        mock.post("/admin/pipeline-progress").mock(return_value=httpx.Response(200, json={"pending": []}))  # fmt: skip
        mock.post("/run-cleanup").mock(
            return_value=httpx.Response(200, json={"republished_execution_ids": []})
        )
        mock.get("/admin/table-counts").mock(return_value=httpx.Response(200, json={}))
        yield fake


def test_the_estimate_prices_only_the_runs_a_resumed_backfill_makes(service: Service) -> None:
    scrapers = ["oddsa_events_his", "oddsa_player_props_his", "bdl_games"]
    plan = plan_backfill(
        PipelineClient(SERVICE), dt.date(2024, 11, 1), dt.date(2024, 11, 7), scrapers
    )
    assert plan.credits.per_scraper == {
        "oddsa_events_his": (7, 1),
        "oddsa_player_props_his": (6, PER_PROPS_DATE),
    }, "the date already loaded is not paid twice; balldontlie costs no credit"
    assert plan.credits.total == 7 + 6 * PER_PROPS_DATE


def backfill(*args: str) -> Any:
    return CliRunner().invoke(
        cli_app, ["backfill", "--from", "2024-11-01", "--to", "2024-11-14", *args, "--url", SERVICE]
    )


def test_a_backfill_over_its_credit_budget_does_not_start_without_yes(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ODDS_API_BACKFILL_CREDITS", "1000")
    refused = backfill("--scrapers", "oddsa_player_props_his")
    assert refused.exit_code == 2 and service.scraped == []
    estimate = (
        f"at most {13 * PER_PROPS_DATE:,} (oddsa_player_props_his: 13 dates x {PER_PROPS_DATE})"
    )
    assert f"Odds API credits: {estimate}" in refused.output
    assert "over the budget of 1,000 (ODDS_API_BACKFILL_CREDITS)" in refused.output
    assert "re-run with --yes" in refused.output

    monkeypatch.setenv("ODDS_API_BACKFILL_CREDITS", str(13 * PER_PROPS_DATE))
    within = backfill("--scrapers", "oddsa_player_props_his")
    assert within.exit_code == 0, within.output
    assert len(service.scraped) == 13


def test_yes_spends_over_the_budget_and_a_free_backfill_asks_nothing(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ODDS_API_BACKFILL_CREDITS", "100")
    approved = backfill("--scrapers", "oddsa_events_his", "--scrapers", "oddsa_player_props_his",
                        "--yes")  # fmt: skip
    assert approved.exit_code == 0, approved.output
    assert len(service.scraped) == 14 + 13
    free = backfill("--scrapers", "bdl_games")
    assert free.exit_code == 0 and "Odds API credits" not in free.output
