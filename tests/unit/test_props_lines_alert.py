"""The gauge behind the "no props lines" alert: games tipping off within the hour without
usable lines, by the rule that flags a closing line as stale."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, NumberDataPoint

from libs.common.sources.registry import get_source
from libs.common.warehouse.duckdb import DuckDBWarehouse
from services.scrapers.orchestration.lines import (
    BookEvent,
    games_without_lines,
    observe_games_without_lines,
)

NOW = dt.datetime(2025, 2, 20, 23, 0, tzinfo=dt.UTC)
MAX_AGE = dt.timedelta(minutes=30)
TIP = NOW + dt.timedelta(minutes=45)


def minutes(n: int) -> dt.timedelta:
    return dt.timedelta(minutes=n)


@pytest.mark.parametrize(
    ("tipoffs", "events", "missing"),
    [
        ([TIP], [], 1),
        ([TIP], [BookEvent("oddsa_player_props", TIP, NOW - minutes(120))], 0),
        ([TIP, TIP], [BookEvent("oddsa_player_props", TIP, NOW)], 1),
        (
            [TIP, TIP],
            [BookEvent("oddsa_player_props", TIP, NOW), BookEvent("bp_player_props", TIP, NOW)],
            1,
        ),
        ([TIP], [BookEvent("oddsa_player_props", TIP + minutes(30), NOW)], 1),
        (
            [NOW + minutes(20)],
            [BookEvent("oddsa_player_props", NOW + minutes(20), NOW - minutes(40))],
            1,
        ),
        (
            [NOW + minutes(20)],
            [BookEvent("bp_player_props", NOW + minutes(25), NOW - minutes(10))],
            0,
        ),
        ([NOW + minutes(90), NOW - minutes(5)], [], 0),
    ],
    ids=[
        "no lines",
        "lines an hour before tip-off",
        "two games, one with lines",
        "the same game in both books covers one",
        "another tip-off's event",
        "stale this close to tip-off",
        "fresh this close to tip-off",
        "beyond the hour or already started",
    ],
)
def test_a_game_counts_when_it_lacks_usable_lines_within_the_hour(
    tipoffs: list[dt.datetime], events: list[BookEvent], missing: int
) -> None:
    assert games_without_lines(tipoffs, events, NOW, MAX_AGE) == missing


@pytest.fixture
def warehouse() -> Iterator[DuckDBWarehouse]:
    w = DuckDBWarehouse(":memory:")
    w.ensure_tables([get_source(name).table for name in ("nbac_schedule", "oddsa_player_props")])
    w.ensure_tables([get_source("bp_player_props").table])
    yield w
    w.close()


def gauge(reader: InMemoryMetricReader) -> list[float]:
    data = reader.get_metrics_data()
    return [point.value for resource in (data.resource_metrics if data else [])
            for scope in resource.scope_metrics for metric in scope.metrics
            if metric.name == "nba.props.games_without_lines"
            for point in metric.data.data_points if isinstance(point, NumberDataPoint)]  # fmt: skip


def test_the_gauge_reads_the_loaded_schedule_and_props(
    warehouse: DuckDBWarehouse, metric_reader: InMemoryMetricReader
) -> None:
    lineage = {"execution_id": "e", "source_file": "gs://b/f.json", "loaded_at": NOW}
    warehouse.upsert(get_source("nbac_schedule").table, [
        lineage | {"game_id": game, "game_date": NOW.date(), "start_time_utc": TIP}
        for game in ("g1", "g2")
    ])  # fmt: skip
    assert observe_games_without_lines(warehouse, NOW, MAX_AGE) == 2
    assert gauge(metric_reader)[-1] == 2
    warehouse.upsert(get_source("oddsa_player_props").table, [
        lineage | {"event_id": "ev1", "game_date": NOW.date(), "commence_time": TIP,
                   "bookmaker": "fanduel", "market": "player_points", "player_name": "A B",
                   "line": 20.5, "odds_format": "american", "snapshot_at": NOW - minutes(60)}
    ])  # fmt: skip
    assert observe_games_without_lines(warehouse, NOW, MAX_AGE) == 1, "one of the two games"
    later = NOW + minutes(30)  # 15 minutes before tip-off: the 90-minute-old lines are stale
    assert observe_games_without_lines(warehouse, later, MAX_AGE) == 2
    assert gauge(metric_reader)[-1] == 2


def test_props_tables_not_created_yet_mean_no_lines() -> None:
    """The scrapers service does not create raw tables; before the processors ever loaded
    props, every game about to tip off is without lines, not an error."""
    w = DuckDBWarehouse(":memory:")
    w.ensure_tables([get_source("nbac_schedule").table])
    w.upsert(get_source("nbac_schedule").table, [
        {"game_id": "g1", "game_date": NOW.date(), "start_time_utc": TIP, "execution_id": "e",
         "source_file": "gs://b/f.json", "loaded_at": NOW}
    ])  # fmt: skip
    assert observe_games_without_lines(w, NOW, MAX_AGE) == 1
    w.close()
