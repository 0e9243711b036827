"""The bench's code path on the session stack, on a tiny plan: checked for lost or doubled data only.

Timings are printed by `make bench`, never asserted here (the machine is shared and noisy).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from libs.common.sources.base import ParseContext
from libs.common.sources.registry import get_source, raw_tables
from libs.common.warehouse.duckdb import DuckDBWarehouse
from nba_pipeline.bench.bigquery import SECTION, BigQueryPlan, bigquery_cost
from nba_pipeline.bench.command import Plan, measure
from nba_pipeline.bench.events import body
from nba_pipeline.bench.freshness import LoadPlan
from nba_pipeline.bench.integrity import duplicated_keys, missing_rows
from nba_pipeline.bench.report import Results
from nba_pipeline.replay.season import Season
from nba_pipeline.replay.settings import ReplaySettings
from nba_pipeline.stack import LocalStack

pytestmark = pytest.mark.e2e

TINY = Plan(
    LoadPlan(rates=(20,), seconds_per_rate=1, burst=20, first_day=dt.date(2025, 4, 1)),
    backfill_from=dt.date(2025, 4, 5),
    backfill_to=dt.date(2025, 4, 6),
    duplicates=50,
    bigquery=BigQueryPlan(
        events=6, duplicates=2, backfill_from=dt.date(2025, 4, 7), backfill_to=dt.date(2025, 4, 7)
    ),
)
"""Dates no other test reads, so the counts checked are the bench's own (the BigQuery section
runs a stack of its own)."""


def test_every_measurement_runs_and_the_pipeline_loses_or_doubles_nothing(
    stack: LocalStack, tmp_path: Path
) -> None:
    results = measure(stack, TINY, tmp_path)

    assert results.problems == []
    sections = {figure.section for figure in results.figures}
    assert sections == {"footprint", "freshness 20/s", "throughput", "redelivery", "backfill",
                        "parsers (recordings)", "parsers (generated)"}  # fmt: skip
    storm = next(f for f in results.figures if f.section == "redelivery" and f.met is not None)
    assert storm.value == TINY.duplicates and storm.met


def test_the_bigquery_section_counts_jobs_and_bytes_and_loses_or_doubles_nothing(
    tmp_path: Path,
) -> None:
    results = Results()
    bigquery_cost(TINY.bigquery, Season(ReplaySettings().seed), tmp_path, results)

    assert results.problems == [] and results.notes == []
    figures = {f.name: f for f in results.figures if f.section == SECTION}
    assert figures["phase 1 (raw load): jobs per event"].value > 0, "the double counted the loads"
    assert figures["phase 2 (analytics): est. bytes billed per event"].value > 0
    duplicates = [f for name, f in figures.items() if "per duplicate delivery" in name]
    assert len(duplicates) == 2 and all(f.met is not None for f in duplicates)
    hot_path = next(f for name, f in figures.items() if name.startswith("hot path"))
    assert hot_path.met == (hot_path.value <= 1)


def test_integrity_checks_name_a_doubled_key_and_a_wrong_count(tmp_path: Path) -> None:
    season = Season(ReplaySettings().seed)
    day = dt.date(2025, 4, 5)
    source = get_source("bdl_games")
    context = ParseContext("e1", "gs://b/f.json", day, dt.datetime.now(dt.UTC), {})
    rows = source.parse(body(season, source.name, day), context)
    warehouse = DuckDBWarehouse(tmp_path / "w.duckdb")
    warehouse.ensure_tables(raw_tables())
    warehouse.upsert(source.table, rows)
    assert duplicated_keys(warehouse) == []
    assert missing_rows(warehouse, season, [(source.table.fqn, day)]) == []

    warehouse.close()  # a loaded table refuses appends; a new instance has no such history
    warehouse = DuckDBWarehouse(tmp_path / "w.duckdb")
    warehouse.append(source.table, rows[:1])

    assert duplicated_keys(warehouse) == [
        f"{source.table.fqn}: 1 natural keys have more than one row"
    ]
    assert missing_rows(warehouse, season, [(source.table.fqn, day)]) == [
        f"{source.table.fqn} {day}: {len(rows) + 1} rows, the season has {len(rows)}"
    ]
    warehouse.close()
