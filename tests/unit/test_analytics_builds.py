"""Analytics SQL on DuckDB: closing lines, over/under/push, team totals and hit rates."""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from libs.common.analytics import ANALYTICS_TABLES, BUILDS, builds_reading
from libs.common.messages import Phase2Complete, encode_message
from libs.common.settings import CommonSettings
from libs.common.sources.registry import get_source, raw_tables
from libs.common.warehouse.duckdb import DuckDBWarehouse
from services.analytics.app import create_app as analytics_app
from tests.utils.fakes import fake_clients
from tests.utils.props import DAY, TIP, box, prop


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[DuckDBWarehouse]:
    w = DuckDBWarehouse(tmp_path / "a.duckdb")
    w.ensure_tables([*raw_tables(), *ANALYTICS_TABLES])
    yield w
    w.close()


def build_all(warehouse: DuckDBWarehouse, day: dt.date = DAY) -> None:
    warehouse.rebuild([build.target for build in BUILDS], {"game_date": day})


def load_day(warehouse: DuckDBWarehouse) -> None:
    warehouse.upsert(get_source("bdl_box_scores").table, [
        box(1, "Jayson Tatum", "BOS", "NYK", 30, True),
        box(2, "Jalen Brunson", "NYK", "BOS", 25, False),
        box(3, "Jaren Jackson Jr.", "BOS", "NYK", 12, True),
    ])  # fmt: skip
    odds = get_source("oddsa_player_props").table
    early, closing, after_tip = (
        TIP - dt.timedelta(hours=5),
        TIP - dt.timedelta(minutes=5),
        TIP + dt.timedelta(minutes=5),
    )
    warehouse.upsert(odds, [
        prop("draftkings", "Jayson Tatum", 27.5, early, "f1"),
        prop("draftkings", "Jayson Tatum", 29.5, closing, "f2"),
        prop("draftkings", "Jayson Tatum", 35.5, after_tip, "f3"),
        prop("fanduel", "Jalen Brunson", 25.0, closing, "f2"),
        prop("draftkings", "Jaren Jackson", 14.5, closing, "f2"),
    ])  # fmt: skip
    warehouse.upsert(get_source("bp_player_props").table, [
        prop("consensus", "Jayson Tatum", 31.5, closing, "b1") | {"commence_time": None, "event_id": "27001:1"},
        prop("draftkings", "Jayson Tatum", 10.5, closing, "b1") | {"commence_time": None, "event_id": "27001:1"},
    ])  # fmt: skip


def test_closing_line_is_the_last_snapshot_before_tipoff_and_outcomes_follow(
    warehouse: DuckDBWarehouse,
) -> None:
    load_day(warehouse)
    build_all(warehouse)
    lines = warehouse.query(
        "SELECT player_name, source, bookmaker, line, points, outcome, margin FROM {nba_analytics.player_game_lines} "
        "ORDER BY player_name, source, bookmaker"
    )
    assert lines == [
        {"player_name": "Jalen Brunson", "source": "oddsapi", "bookmaker": "fanduel", "line": 25.0, "points": 25,
         "outcome": "push", "margin": 0.0},
        {"player_name": "Jaren Jackson Jr.", "source": "oddsapi", "bookmaker": "draftkings", "line": 14.5,
         "points": 12, "outcome": "under", "margin": -2.5},
        {"player_name": "Jayson Tatum", "source": "bettingpros", "bookmaker": "consensus", "line": 31.5,
         "points": 30, "outcome": "under", "margin": -1.5},
        {"player_name": "Jayson Tatum", "source": "oddsapi", "bookmaker": "draftkings", "line": 29.5,
         "points": 30, "outcome": "over", "margin": 0.5},
    ]  # fmt: skip


def test_team_summary_sums_players_and_names_the_winner(warehouse: DuckDBWarehouse) -> None:
    load_day(warehouse)
    build_all(warehouse)
    teams = warehouse.query(
        "SELECT team_abbr, points, opponent_points, result, players_used FROM {nba_analytics.team_game_summary} "
        "ORDER BY team_abbr"
    )
    assert teams == [
        {"team_abbr": "BOS", "points": 42, "opponent_points": 25, "result": "W", "players_used": 2},
        {"team_abbr": "NYK", "points": 25, "opponent_points": 42, "result": "L", "players_used": 1},
    ]


def score_days(warehouse: DuckDBWarehouse, points: list[int]) -> None:
    """Jayson Tatum's points on consecutive days from DAY, each against a 25.5 line, built."""
    table = get_source("oddsa_player_props").table
    for offset, scored in enumerate(points):
        day = DAY + dt.timedelta(days=offset)
        warehouse.upsert(
            get_source("bdl_box_scores").table,
            [box(1, "Jayson Tatum", "BOS", "NYK", scored, True, day)],
        )
        warehouse.upsert(table, [prop("draftkings", "Jayson Tatum", 25.5, TIP - dt.timedelta(hours=1), f"f{offset}", day)
                                 | {"commence_time": None}])  # fmt: skip
        build_all(warehouse, day)


def test_hit_rate_looks_back_over_the_players_recent_games(warehouse: DuckDBWarehouse) -> None:
    score_days(warehouse, [20, 30, 10])
    last = warehouse.query(
        "SELECT games, lines, overs, unders, hit_rate FROM {nba_analytics.player_prop_results} WHERE game_date = @d",
        {"d": DAY + dt.timedelta(days=2)},
    )
    assert last == [
        {"games": 3, "lines": 3, "overs": 1, "unders": 2, "hit_rate": pytest.approx(1 / 3)}
    ]


def test_rebuilding_a_date_twice_changes_nothing(warehouse: DuckDBWarehouse) -> None:
    load_day(warehouse)
    build_all(warehouse)
    first = warehouse.query(
        "SELECT * EXCLUDE (built_at) FROM {nba_analytics.player_game_lines} ORDER BY ALL"
    )
    build_all(warehouse)
    assert (
        warehouse.query(
            "SELECT * EXCLUDE (built_at) FROM {nba_analytics.player_game_lines} ORDER BY ALL"
        )
        == first
    )


def test_each_raw_table_triggers_only_the_builds_that_read_it() -> None:
    assert [b.table.name for b in builds_reading("nba_raw.bdl_games")] == [
        "player_game_summary", "team_game_summary", "player_game_lines", "player_prop_results"]  # fmt: skip
    assert [b.table.name for b in builds_reading("nba_raw.odds_api_player_points_props")] == [
        "player_map", "player_game_lines", "player_prop_results"]  # fmt: skip
    assert [b.table.name for b in builds_reading("nba_raw.nbac_team_roster")] == ["player_map"]
    assert builds_reading("nba_raw.odds_api_events") == []


def test_every_build_selects_its_table_columns_by_name() -> None:
    """BigQuery replaces a partition with one MERGE that inserts the select's rows by name."""
    warehouse = DuckDBWarehouse(":memory:")
    warehouse.ensure_tables([*raw_tables(), *ANALYTICS_TABLES])
    for build in BUILDS:
        sql = warehouse._sql(build.target.select_sql)
        with warehouse._using() as cur:
            described = cur.execute(f"DESCRIBE {sql}", {"game_date": dt.date(2025, 2, 20)})
            names = [row[0] for row in described.fetchall()]
        assert names == list(build.table.column_names), build.table.fqn
    warehouse.close()


def lines_of(warehouse: DuckDBWarehouse, columns: str) -> list[dict[str, Any]]:
    return warehouse.query(
        f"SELECT {columns} FROM {{nba_analytics.player_game_lines}} "
        "ORDER BY player_name, source, bookmaker, market"
    )


def test_each_market_is_scored_against_its_own_box_score_stat(
    warehouse: DuckDBWarehouse,
) -> None:
    """Tatum: 30 points, 3 rebounds (reb), 4 assists, 1 three; 38 points+rebounds+assists."""
    warehouse.upsert(
        get_source("bdl_box_scores").table, [box(1, "Jayson Tatum", "BOS", "NYK", 30, True)]
    )
    at = TIP - dt.timedelta(minutes=10)
    lines = {"player_points": 29.5, "player_rebounds": 3.5, "player_assists": 3.5,
             "player_threes": 1.0, "player_points_rebounds_assists": 38.5}  # fmt: skip
    warehouse.upsert(get_source("oddsa_player_props").table, [
        prop("draftkings", "Jayson Tatum", line, at, "f1") | {"market": market}
        for market, line in lines.items()
    ])  # fmt: skip
    build_all(warehouse)
    scored = lines_of(warehouse, "market, line, stat, outcome, margin")
    assert {r["market"]: (r["stat"], r["outcome"], r["margin"]) for r in scored} == {
        "player_points": (30, "over", 0.5),
        "player_rebounds": (3, "under", -0.5),
        "player_assists": (4, "over", 0.5),
        "player_threes": (1, "push", 0.0),
        "player_points_rebounds_assists": (37, "under", -1.5),
    }


def minutes(n: int) -> dt.datetime:
    """`n` minutes before tip-off."""
    return TIP - dt.timedelta(minutes=n)


def test_opening_and_closing_lines_their_movement_and_the_closing_age(
    warehouse: DuckDBWarehouse,
) -> None:
    warehouse.upsert(get_source("bdl_box_scores").table, [
        box(1, "Jayson Tatum", "BOS", "NYK", 30, True), box(2, "Jalen Brunson", "NYK", "BOS", 25, False),
    ])  # fmt: skip
    warehouse.upsert(get_source("oddsa_player_props").table, [
        prop("draftkings", "Jayson Tatum", 27.5, minutes(300), "f1"),
        prop("draftkings", "Jayson Tatum", 28.5, minutes(60), "f2"),
        prop("draftkings", "Jayson Tatum", 29.5, minutes(5), "f3"),
        prop("draftkings", "Jayson Tatum", 35.5, TIP + dt.timedelta(minutes=5), "f4"),
        prop("fanduel", "Jalen Brunson", 24.5, minutes(180), "f1"),
        prop("fanduel", "Jalen Brunson", 24.5, minutes(120), "f5"),
    ])  # fmt: skip
    build_all(warehouse)
    columns = ("player_name, opening_line, line, movement, opening_snapshot_at, line_snapshot_at, "
               "minutes_before_tip, closing_stale")  # fmt: skip
    assert lines_of(warehouse, columns) == [
        {"player_name": "Jalen Brunson", "opening_line": 24.5, "line": 24.5, "movement": 0.0,
         "opening_snapshot_at": minutes(180), "line_snapshot_at": minutes(120),
         "minutes_before_tip": 120, "closing_stale": True},
        {"player_name": "Jayson Tatum", "opening_line": 27.5, "line": 29.5, "movement": 2.0,
         "opening_snapshot_at": minutes(300), "line_snapshot_at": minutes(5),
         "minutes_before_tip": 5, "closing_stale": False},
    ]  # fmt: skip
    strict = [build.target_for(4) for build in BUILDS]
    warehouse.rebuild(strict, {"game_date": DAY})
    assert [r["closing_stale"] for r in lines_of(warehouse, "closing_stale")] == [True, True]


def test_a_closing_snapshot_days_before_tipoff_counts_every_minute(
    warehouse: DuckDBWarehouse,
) -> None:
    """The two warehouses carry a timestamp difference over a day differently (days vs hours)."""
    warehouse.upsert(
        get_source("bdl_box_scores").table, [box(1, "Jayson Tatum", "BOS", "NYK", 30, True)]
    )
    early = TIP - dt.timedelta(days=2, hours=3, minutes=7, seconds=30)
    warehouse.upsert(
        get_source("oddsa_player_props").table,
        [prop("draftkings", "Jayson Tatum", 27.5, early, "f1")],
    )
    build_all(warehouse)
    assert lines_of(warehouse, "minutes_before_tip") == [
        {"minutes_before_tip": 2 * 1440 + 3 * 60 + 7}
    ]


def implied(american: float) -> float:
    """Win probability an american price implies, as books define it."""
    return -american / (100 - american) if american < 0 else 100 / (100 + american)


def test_no_vig_probability_from_american_and_decimal_prices(warehouse: DuckDBWarehouse) -> None:
    warehouse.upsert(get_source("bdl_box_scores").table, [
        box(1, "Jayson Tatum", "BOS", "NYK", 30, True), box(2, "Jalen Brunson", "NYK", "BOS", 25, False),
    ])  # fmt: skip
    at = TIP - dt.timedelta(minutes=10)
    warehouse.upsert(get_source("oddsa_player_props").table, [
        prop("draftkings", "Jayson Tatum", 29.5, at, "f1") | {"over_price": -120, "under_price": 100},
        prop("fanduel", "Jalen Brunson", 24.5, at, "f1")
        | {"over_price": 1.8, "under_price": 1.94, "odds_format": "decimal"},
        prop("betmgm", "Jalen Brunson", 24.5, at, "f1") | {"under_price": None},
    ])  # fmt: skip
    build_all(warehouse)
    got = {(r["player_name"], r["bookmaker"]): r["over_no_vig"]
           for r in lines_of(warehouse, "player_name, bookmaker, over_no_vig")}  # fmt: skip
    over, under = implied(-120), implied(100)
    assert got[("Jayson Tatum", "draftkings")] == pytest.approx(over / (over + under))
    assert got[("Jalen Brunson", "fanduel")] == pytest.approx((1 / 1.8) / (1 / 1.8 + 1 / 1.94))
    assert got[("Jalen Brunson", "betmgm")] is None  # one side alone has no margin to take out


def test_closing_line_value_of_a_bet_at_the_opening_price(warehouse: DuckDBWarehouse) -> None:
    """The over opened at -110 and closed at -150/+125 on the same line: taken at the open it
    was worth the closing fair probability times the opening payout."""
    warehouse.upsert(get_source("bdl_box_scores").table, [
        box(1, "Jayson Tatum", "BOS", "NYK", 30, True), box(2, "Jalen Brunson", "NYK", "BOS", 25, False),
    ])  # fmt: skip
    open_at, close_at = TIP - dt.timedelta(hours=6), TIP - dt.timedelta(minutes=5)
    warehouse.upsert(get_source("oddsa_player_props").table, [
        prop("draftkings", "Jayson Tatum", 25.5, open_at, "f1") | {"over_price": -110, "under_price": -110},
        prop("draftkings", "Jayson Tatum", 25.5, close_at, "f2") | {"over_price": -150, "under_price": 125},
        prop("draftkings", "Jalen Brunson", 22.5, open_at, "f1"),
        prop("draftkings", "Jalen Brunson", 23.5, close_at, "f2"),
    ])  # fmt: skip
    build_all(warehouse)
    got = {r["player_name"]: r for r in lines_of(warehouse, "player_name, over_clv, under_clv")}
    fair_over = implied(-150) / (implied(-150) + implied(125))
    payout = 1 + 100 / 110
    assert got["Jayson Tatum"]["over_clv"] == pytest.approx(fair_over * payout - 1)
    assert got["Jayson Tatum"]["under_clv"] == pytest.approx((1 - fair_over) * payout - 1)
    assert got["Jayson Tatum"]["over_clv"] > 0 > got["Jayson Tatum"]["under_clv"]
    assert got["Jalen Brunson"]["over_clv"] is got["Jalen Brunson"]["under_clv"] is None


def test_rates_before_the_day_leave_the_day_out(warehouse: DuckDBWarehouse) -> None:
    score_days(warehouse, [30, 30, 10])
    rates = warehouse.query(
        "SELECT game_date, games, hit_rate, games_before, lines_before, overs_before, hit_rate_before "
        "FROM {nba_analytics.player_prop_results} WHERE market = 'player_points' ORDER BY game_date"
    )
    assert rates == [
        {"game_date": DAY, "games": 1, "hit_rate": 1.0, "games_before": 0, "lines_before": 0,
         "overs_before": 0, "hit_rate_before": None},
        {"game_date": DAY + dt.timedelta(days=1), "games": 2, "hit_rate": 1.0, "games_before": 1,
         "lines_before": 1, "overs_before": 1, "hit_rate_before": 1.0},
        {"game_date": DAY + dt.timedelta(days=2), "games": 3, "hit_rate": pytest.approx(2 / 3),
         "games_before": 2, "lines_before": 2, "overs_before": 2, "hit_rate_before": 1.0},
    ]  # fmt: skip


def loaded(scraper: str) -> dict[str, Any]:
    """The push of the phase-2 message of a load of `scraper`'s table for DAY."""
    message = Phase2Complete(
        scraper_name=scraper, source_table=get_source(scraper).table.fqn, game_date=DAY,
        record_count=1, rows_changed=1, execution_id=str(uuid.uuid4()), gcs_path="gs://b/f",
    )  # fmt: skip
    data = base64.b64encode(encode_message(message)).decode()
    return {"message": {"data": data, "messageId": "1", "attributes": message.attributes()},
            "subscription": "projects/nba-test/subscriptions/nba-analytics-sub"}  # fmt: skip


@pytest.mark.parametrize(("limit", "stale"), [(30, True), (60, False)])
def test_the_analytics_service_flags_closing_lines_older_than_its_setting(
    warehouse: DuckDBWarehouse, limit: int, stale: bool
) -> None:
    """CLOSING_LINE_MAX_AGE_MINUTES: a closing snapshot 45 minutes before tip-off is stale
    under a 30-minute limit, not under a 60-minute one."""
    warehouse.upsert(
        get_source("bdl_box_scores").table, [box(1, "Jayson Tatum", "BOS", "NYK", 30, True)]
    )
    warehouse.upsert(
        get_source("oddsa_player_props").table,
        [prop("draftkings", "Jayson Tatum", 29.5, TIP - dt.timedelta(minutes=45), "f1")],
    )
    settings = CommonSettings(closing_line_max_age_minutes=limit)
    with TestClient(analytics_app(settings, fake_clients(warehouse))) as client:
        for scraper in ("bdl_box_scores", "oddsa_player_props"):
            assert client.post("/process", json=loaded(scraper)).status_code in (200, 204)
    assert lines_of(warehouse, "minutes_before_tip, closing_stale") == [
        {"minutes_before_tip": 45, "closing_stale": stale}
    ]
