"""The props board (`GET /props` of the analytics service) over a DuckDB warehouse we filled."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from libs.common.analytics import ANALYTICS_TABLES
from libs.common.sources.registry import raw_tables
from libs.common.warehouse.duckdb import DuckDBWarehouse
from services.analytics.app import create_app
from services.analytics.board import sparkline
from tests.utils.fakes import fake_clients
from tests.utils.props import DAY, UNSCORED_DAY, fill_two_days


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    path: Path = tmp_path_factory.mktemp("board") / "w.duckdb"
    warehouse = DuckDBWarehouse(path)
    warehouse.ensure_tables([*raw_tables(), *ANALYTICS_TABLES])
    fill_two_days(warehouse)
    with TestClient(create_app(clients=fake_clients(warehouse))) as client:
        yield client
    warehouse.close()


def board(service: TestClient, **params: str) -> str:
    answer = service.get("/props", params={"date": DAY.isoformat(), **params})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    return answer.text


def rows(page: str) -> dict[str, dict[str, str]]:
    """Each line's cells as text, by "player|source/bookmaker", in page order."""
    found = {}
    for player, book, cells in re.findall(
        r'<tr data-player="([^"]+)" data-book="([^"]+)">(.*?)</tr>', page, re.S
    ):
        found[f"{player}|{book}"] = {
            col: re.sub(r"<[^>]+>", "", text).strip()
            for col, text in re.findall(r'data-col="([a-z_]+)">(.*?)</td>', cells, re.S)
        }
    return found


def test_the_board_shows_each_line_of_the_date_with_its_values(service: TestClient) -> None:
    lines = rows(board(service))
    assert list(lines) == [
        "Jalen Brunson|oddsapi/fanduel",
        "Jaren Jackson Jr.|oddsapi/draftkings",
        "Jayson Tatum|oddsapi/draftkings",
    ], "the points lines only, by player"
    tatum = lines["Jayson Tatum|oddsapi/draftkings"]
    assert tatum["open"] == "27.5" and tatum["close"] == "29.5" and tatum["movement"] == "+2"
    assert tatum["prices"] == "-115 / -105"
    # -115 / -105: decimal 1.8696 / 1.9524, the over's fair share 1.9524 / 3.8219
    assert tatum["no_vig"] == "51.1%"
    assert tatum["taken"] == "5 min before tip"
    assert tatum["result"] == "30 over" and tatum["margin"] == "+0.5"
    assert tatum["rate"] == "100% (1/1)", "yesterday's over, today's game left out"
    jackson = lines["Jaren Jackson Jr.|oddsapi/draftkings"]
    assert jackson["result"] == "12 under" and jackson["margin"] == "-2.5"
    assert jackson["movement"] == "+0" and jackson["rate"] == "-"


def test_each_row_charts_its_snapshots_from_open_to_close(service: TestClient) -> None:
    page = board(service)
    tatum = re.search(r'data-player="Jayson Tatum".*?</tr>', page, re.S)
    assert tatum is not None
    chart = re.search(r'<svg class="spark" data-points="(\d+)".*?<polyline class="(\w+)"', tatum[0])
    assert chart is not None
    assert chart.groups() == ("3", "up"), "27.5, 28.5, 29.5; the snapshot after tip-off left out"
    assert "27.5 (19:30) → 28.5 (21:30) → 29.5 (00:25) UTC" in tatum[0]


def test_sorting_orders_the_rows_by_the_chosen_column(service: TestClient) -> None:
    by_close = rows(board(service, sort="close", desc="true"))
    assert [r["close"] for r in by_close.values()] == ["29.5", "25", "14.5"]
    ascending = board(service, sort="close")
    assert [r["close"] for r in rows(ascending).values()] == ["14.5", "25", "29.5"]
    assert "sort=close&amp;desc=true" in ascending, "its header links to the reverse order"
    by_rate = rows(board(service, sort="rate", desc="true"))
    assert next(iter(by_rate)) == "Jayson Tatum|oddsapi/draftkings", "players without a rate last"


def test_another_market_shows_its_own_lines(service: TestClient) -> None:
    lines = rows(board(service, market="player_rebounds"))
    assert list(lines) == ["Jayson Tatum|oddsapi/draftkings"]
    assert lines["Jayson Tatum|oddsapi/draftkings"]["result"] == "3 under"


def test_a_date_without_lines_says_why(service: TestClient) -> None:
    nothing = board(service, date="2025-01-01")
    assert "<tr data-player" not in nothing
    assert "No points props were captured for 2025-01-01" in nothing
    unscored = board(service, date=UNSCORED_DAY.isoformat())
    assert "2 points snapshots were captured for 2025-01-18, but no line is scored yet" in unscored
    assert "2 of the 2 names matched none" in unscored, "no box score to match them to yet"


@pytest.mark.parametrize(
    ("params", "field", "text"),
    [({"date": "1900-01-01"}, "date", "1946-11-01"),
     ({"date": "2025-02-30"}, "date", "date"),
     ({"market": "player_steals"}, "market", "player_points_rebounds_assists"),
     ({"sort": "points"}, "sort", "movement")],
)  # fmt: skip
def test_bad_parameters_are_a_422_naming_the_field(
    service: TestClient, params: dict[str, str], field: str, text: str
) -> None:
    answer = service.get("/props", params={"date": DAY.isoformat(), **params})
    assert answer.status_code == 422
    [error] = answer.json()["detail"]
    assert error["loc"] == ["query", field] and text in error["msg"]


def test_the_board_costs_two_queries(service: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    warehouse = service.app.state.clients.warehouse  # type: ignore[attr-defined]
    calls: list[dict[str, object]] = []
    query = warehouse.query

    def counted(sql: str, params: dict[str, object] | None = None) -> object:
        calls.append(dict(params or {}))
        return query(sql, params)

    monkeypatch.setattr(warehouse, "query", counted)
    board(service)
    assert calls == [{"game_date": DAY, "market": "player_points"}] * 2


def test_a_line_of_one_snapshot_is_its_closing_dot_at_the_right_edge() -> None:
    at = dt.datetime(2025, 2, 20, 23, 55, tzinfo=dt.UTC)
    chart = sparkline([(at, 24.5)], width=120)
    dot = re.search(r'<circle cx="([\d.]+)" cy="([\d.]+)"', chart)
    assert dot is not None and float(dot[1]) > 100, "the close sits where closes sit"
    assert "24.5 (23:55) UTC" in chart
