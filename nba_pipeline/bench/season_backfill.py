"""The generated season through the real pipeline, beside the same parse + load in process."""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from pathlib import Path

import orjson

from libs.common.analytics import ANALYTICS_TABLES, builds_reading
from libs.common.gcs import RawFileStore
from libs.common.messages import RunResult
from libs.common.rawfile import fetched_at, split_envelope
from libs.common.sources.base import ParseContext
from libs.common.sources.registry import get_source, raw_tables
from libs.common.warehouse.duckdb import DuckDBWarehouse
from nba_pipeline.backfill import backfill, dates
from nba_pipeline.bench.integrity import duplicated_keys, missing_rows
from nba_pipeline.bench.parsers import Sample
from nba_pipeline.bench.report import Figure, Results
from nba_pipeline.pipeline import PipelineClient
from nba_pipeline.replay.season import Season
from nba_pipeline.stack import LocalStack

BACKFILL_PARALLEL = 4
"""Scrapes of a date at once (`nba-pipeline backfill --parallel 4`); the floor runs one by one."""
FLOOR_TARGET = 3.0
"""The pipeline's wall time at most this many times the in-process floor."""
PARSER_SAMPLES = 40
"""Files per scraper handed on to the parser bench (evenly spread over the season)."""
STATE_TABLES = ("nba_raw.bdl_games", "nba_raw.bdl_player_boxscores", "nba_raw.espn_scoreboard")
"""Tables with one row per key whatever the snapshot, so their counts follow from the season."""


def floor_seconds(samples: list[Sample], path: Path) -> float:
    """Decode, parse, upsert and rebuild analytics for every file, in process, on a fresh DuckDB."""
    warehouse = DuckDBWarehouse(path)
    warehouse.ensure_tables([*raw_tables(), *ANALYTICS_TABLES])
    started = time.perf_counter()
    for sample in samples:
        rows = sample.source.parse(split_envelope(orjson.loads(sample.content))[1], sample.context)
        if rows:
            warehouse.upsert(sample.source.table, rows)
            builds = builds_reading(sample.source.table.fqn)
            warehouse.rebuild(
                [build.target for build in builds], {"game_date": sample.context.game_date}
            )
    elapsed = time.perf_counter() - started
    warehouse.close()
    return elapsed


def sample_of(store: RawFileStore, run: RunResult) -> Sample:
    """A run's stored file and the context its processor parses it with."""
    content, _ = store.read_bytes(str(run.gcs_path))
    meta, _ = split_envelope(orjson.loads(content))
    context = ParseContext(
        run.execution_id,
        str(run.gcs_path),
        dt.date.fromisoformat(run.params["date"]),
        fetched_at(meta),
        run.params,
    )
    return Sample(get_source(run.scraper_name), content, context)


def _check(
    stack: LocalStack,
    season: Season,
    start: dt.date,
    end: dt.date,
    runs: list[RunResult],
    results: Results,
) -> None:
    """Every run loaded exactly its rows: state tables match the season, snapshots their runs."""
    assert stack.clients is not None
    warehouse = stack.clients.warehouse
    loaded = [(t, d) for t in STATE_TABLES for d in dates(start, end)]
    for problem in missing_rows(warehouse, season, loaded) + duplicated_keys(warehouse):
        results.problem(f"backfill: {problem}")
    snapshots: dict[str, int] = defaultdict(int)
    for run in runs:
        target = get_source(run.scraper_name).table
        if "source_file" in target.natural_key:
            snapshots[target.fqn] += run.record_count
    for table, expected in snapshots.items():
        rows = warehouse.query(
            f"SELECT count(*) AS n FROM {{{table}}} WHERE list_contains(@ids, execution_id)",
            {"ids": [run.execution_id for run in runs]},
        )
        if rows[0]["n"] != expected:
            results.problem(
                f"backfill: {table} has {rows[0]['n']} rows from the runs, they parsed {expected}"
            )


def season_backfill(
    stack: LocalStack, season: Season, start: dt.date, end: dt.date, workdir: Path, results: Results
) -> list[Sample]:
    """Wall time, rows/s and the floor ratio of a backfill; returns some of its files for the
    parser bench."""
    assert stack.clients is not None
    client = PipelineClient(stack.url("scrapers"))
    started = time.perf_counter()
    report = backfill(client, start, end, force=True, parallel=BACKFILL_PARALLEL)
    wall = time.perf_counter() - started
    client.close()
    for run in report.failures:
        results.problem(f"backfill: {run.scraper_name} {run.params} failed: {run.error_message}")
    loaded = [run.result for run in report.runs if run.result and run.result.status == "success"]
    _check(stack, season, start, end, loaded, results)
    samples = [sample_of(stack.clients.store, run) for run in loaded]
    rows = sum(run.record_count for run in loaded)
    floor = floor_seconds(samples, workdir / "floor.duckdb")
    days = (end - start).days + 1
    results.add(
        Figure(
            "backfill",
            f"{days} days, {len(report.runs)} runs, {rows:,} rows, --parallel {BACKFILL_PARALLEL}: wall time",
            wall,
            "s",
            ratio=wall / floor,
            ratio_of="in-process floor",
            target=f"<= {FLOOR_TARGET:g}x floor",
            met=wall / floor <= FLOOR_TARGET,
        ),
        Figure("backfill", "rows per second (pipeline)", rows / wall, "rows/s"),
        Figure(
            "backfill", "rows per second (in-process parse + load floor)", rows / floor, "rows/s"
        ),
    )
    by_scraper: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        by_scraper[sample.source.name].append(sample)
    return [
        s for group in by_scraper.values() for s in group[:: max(1, len(group) // PARSER_SAMPLES)]
    ]
