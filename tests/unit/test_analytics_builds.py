"""Analytics SQL on DuckDB: closing lines, over/under/push, team totals and hit rates."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from libs.common.analytics import ANALYTICS_TABLES, BUILDS, builds_reading
from libs.common.sources.registry import get_source, raw_tables
from libs.common.warehouse.duckdb import DuckDBWarehouse

DAY = dt.date(2025, 1, 15)
TIP = dt.datetime(2025, 1, 16, 0, 30, tzinfo=dt.UTC)
NOW = dt.datetime(2025, 1, 16, 6, tzinfo=dt.UTC)


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[DuckDBWarehouse]:
    w = DuckDBWarehouse(tmp_path / "a.duckdb")
    w.ensure_tables([*raw_tables(), *ANALYTICS_TABLES])
    yield w
    w.close()


def box(
    player_id: int, name: str, team: str, opp: str, pts: int, home: bool, day: dt.date = DAY
) -> dict[str, Any]:
    return {"game_date": day, "season": 2024, "game_status": "Final", "player_id": player_id, "player_name": name,
            "position": "G", "team_abbr": team, "opponent_abbr": opp, "is_home": home, "minutes": 30.0,
            "fgm": 1, "fga": 2, "fg3m": 1, "fg3a": 1, "ftm": 0, "fta": 0, "oreb": 1, "dreb": 2, "reb": 3,
            "ast": 4, "stl": 1, "blk": 0, "turnover": 1, "pf": 2, "pts": pts,
            "execution_id": "e", "source_file": "gs://b/f", "loaded_at": NOW}  # fmt: skip


def prop(
    book: str, name: str, line: float, snapshot: dt.datetime, source_file: str, day: dt.date = DAY
) -> dict[str, Any]:
    return {"event_id": "ev1", "game_date": day, "commence_time": TIP, "home_team": "Boston Celtics",
            "away_team": "New York Knicks", "bookmaker": book, "market": "player_points", "player_name": name,
            "line": line, "over_price": -115, "under_price": -105, "odds_format": "american",
            "snapshot_at": snapshot, "execution_id": "e", "source_file": source_file, "loaded_at": NOW}  # fmt: skip


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


def test_hit_rate_looks_back_over_the_players_recent_games(warehouse: DuckDBWarehouse) -> None:
    table = get_source("oddsa_player_props").table
    for offset, points in enumerate([20, 30, 10]):
        day = DAY + dt.timedelta(days=offset)
        warehouse.upsert(
            get_source("bdl_box_scores").table,
            [box(1, "Jayson Tatum", "BOS", "NYK", points, True, day)],
        )
        warehouse.upsert(table, [prop("draftkings", "Jayson Tatum", 25.5, TIP - dt.timedelta(hours=1), f"f{offset}", day)
                                 | {"commence_time": None}])  # fmt: skip
        build_all(warehouse, day)
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
        "player_game_lines", "player_prop_results"]  # fmt: skip
    assert builds_reading("nba_raw.odds_api_events") == []


def test_every_build_selects_its_table_columns_by_name() -> None:
    """BigQuery replaces a partition with one MERGE that inserts the select's rows by name."""
    warehouse = DuckDBWarehouse(":memory:")
    warehouse.ensure_tables([*raw_tables(), *ANALYTICS_TABLES])
    for build in BUILDS:
        sql = warehouse._sql(build.select_sql)
        with warehouse._using() as cur:
            described = cur.execute(f"DESCRIBE {sql}", {"game_date": dt.date(2025, 2, 20)})
            names = [row[0] for row in described.fetchall()]
        assert names == list(build.table.column_names), build.table.fqn
    warehouse.close()
