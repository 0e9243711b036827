"""The body of `nba-pipeline bench`: one local stack, every measurement, one table."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import platform
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from nba_pipeline.bench.bare import NoopEndpoint
from nba_pipeline.bench.bigquery import BigQueryPlan, bigquery_cost
from nba_pipeline.bench.footprint import RssSampler, cold_starts, stack_pids
from nba_pipeline.bench.freshness import LoadPlan, freshness, throughput
from nba_pipeline.bench.parsers import parser_speed, recorded_samples
from nba_pipeline.bench.report import Results, markdown, print_table
from nba_pipeline.bench.season_backfill import season_backfill
from nba_pipeline.bench.storm import storm
from nba_pipeline.replay.season import SEASON_END, SEASON_START, Season
from nba_pipeline.replay.settings import ReplaySettings
from nba_pipeline.stack import LocalStack, Ports


@dataclass(frozen=True)
class Plan:
    """How much of each measurement to run."""

    load: LoadPlan
    backfill_from: dt.date
    backfill_to: dt.date
    duplicates: int
    bigquery: BigQueryPlan


FULL = Plan(
    LoadPlan((20, 50, 100), 5, 500),
    SEASON_START,
    SEASON_END,
    10_000,
    BigQueryPlan(100, 50, SEASON_START, SEASON_START + dt.timedelta(days=13)),
)
QUICK = Plan(
    LoadPlan((20, 50, 100), 2, 200),
    SEASON_START,
    SEASON_START + dt.timedelta(days=13),
    1_000,
    BigQueryPlan(40, 10, SEASON_START, SEASON_START + dt.timedelta(days=6)),
)
"""A smoke run: two weeks of season, two seconds per rate, fewer duplicates, a week on BigQuery."""


def machine() -> str:
    """One line describing where the numbers come from."""
    import psutil

    cpu = platform.machine()
    with contextlib.suppress(OSError):
        models = [
            line for line in Path("/proc/cpuinfo").read_text().splitlines() if "model name" in line
        ]
        cpu = models[0].split(":", 1)[1].strip() if models else cpu
    memory = psutil.virtual_memory().total / 2**30
    return (
        f"{cpu}, {os.cpu_count()} cores, {memory:.0f} GiB, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )


def measure(stack: LocalStack, plan: Plan, workdir: Path) -> Results:
    """Every measurement against one running stack."""
    results = Results()
    season = Season(ReplaySettings().seed)
    cold_starts(stack, workdir, results)
    noop = NoopEndpoint.start(stack.project)
    try:
        with RssSampler(stack_pids(stack)) as rss:
            freshness(stack, season, noop, plan.load, results)
        results.add(*rss.figures())
        throughput(stack, season, noop, plan.load, results)
    finally:
        noop.stop()
    storm(stack, season, plan.duplicates, plan.load.first_day, results)
    generated = season_backfill(
        stack, season, plan.backfill_from, plan.backfill_to, workdir, results
    )
    parser_speed([("recordings", recorded_samples()), ("generated", generated)], results)
    return results


def run(quick: bool, markdown_file: Path | None) -> int:
    """Run the bench; 1 if the pipeline lost or duplicated data, else 0 (timings never fail it)."""
    plan = QUICK if quick else FULL
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="nba-bench-") as tmp:
        workdir = Path(tmp)
        with LocalStack(ports=Ports.free(), workdir=workdir, project="nba-bench") as stack:
            results = measure(stack, plan, workdir)
        bigquery_cost(plan.bigquery, Season(ReplaySettings().seed), workdir, results)
    title = f"nba-pipeline bench{' --quick' if quick else ''} ({time.monotonic() - started:.0f} s; {machine()})"
    print_table(results, title)
    if markdown_file is not None:
        markdown_file.write_text(f"{title}\n\n{markdown(results)}")
    return 1 if results.problems else 0
