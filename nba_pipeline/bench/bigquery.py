"""BigQuery's cost on the page: the local stack on the BigQuery backend over the client double,
and what it asks of BigQuery per event of each phase, per duplicate delivery to a fresh
process, and per backfill of a slice of the generated season: jobs, DML statements and the
bytes an on-demand project would be billed (estimated by the double from what each job scans).

The double is test code (`tests/utils/bigquery_double`) and stays in `tests/`: this section
imports it only when the source tree's `tests/` is importable with the dev dependencies (a
checkout, as `make bench` runs it), and otherwise prints that it was skipped.

The bench's own reads (waiting, checking) run under `double.observing()`, so they are not
counted; everything the services do is.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from libs.common.audit import pending_executions
from libs.common.messages import Phase, Phase2Complete, ScraperComplete, encode_message
from libs.common.sources.registry import get_source
from libs.common.warehouse import Row, Warehouse
from nba_pipeline.backfill import backfill, dates
from nba_pipeline.bench import events as ev
from nba_pipeline.bench.integrity import duplicated_keys, missing_rows
from nba_pipeline.bench.report import Figure, Results
from nba_pipeline.bench.season_backfill import BACKFILL_PARALLEL, STATE_TABLES
from nba_pipeline.pipeline import PROGRESS_BATCH, PipelineClient
from nba_pipeline.replay.season import SEASON_END, SEASON_START, Season
from nba_pipeline.stack import LocalStack, Ports

if TYPE_CHECKING:
    from tests.utils.bigquery_double import BigQueryDouble

SECTION = "bigquery"
PROJECT = "nba-bench-bq"
HOT_PATH_TARGET = 1.0
"""Jobs per event, both phases together, amortised over concurrent events (issue 15)."""
ANALYTICS_SUBSCRIPTION = "nba-analytics-sub"
MB, GB = 2**20, 2**30


@dataclass(frozen=True)
class BigQueryPlan:
    """How much of the BigQuery section to run."""

    events: int
    """bdl_games and bdl_box_scores events published at once, after the backfill's dates."""
    duplicates: int
    """Of those, how many are delivered again to fresh processes, per phase."""
    backfill_from: dt.date
    backfill_to: dt.date
    """The slice of the season backfilled through the double (the whole season is too slow:
    every statement is parsed, translated and estimated in Python)."""


@dataclass(frozen=True)
class Spent:
    """What the double's jobs from one mark on cost."""

    jobs: int
    dml: int
    loads: int
    processed: int
    billed: int

    @classmethod
    def since(cls, double: BigQueryDouble, mark: int) -> Spent:
        jobs = double.jobs[mark:]
        return cls(
            len(jobs),
            sum(job.dml for job in jobs),
            sum(job.kind == "load" for job in jobs),
            sum(job.processed for job in jobs),
            sum(job.billed for job in jobs),
        )


class Observer:
    """The bench's reads of the warehouse, kept out of the double's counts."""

    def __init__(self, warehouse: Warehouse, double: BigQueryDouble) -> None:
        self.warehouse = warehouse
        self.double = double

    def query(self, sql: str, params: dict[str, Any] | None = None) -> list[Row]:
        with self.double.observing():
            return self.warehouse.query(sql, params)

    def pending(self, execution_ids: Sequence[str]) -> list[str]:
        """Runs not yet applied by every phase they should reach."""
        with self.double.observing():
            return [
                execution_id
                for first in range(0, len(execution_ids), PROGRESS_BATCH)
                for execution_id in pending_executions(
                    self.warehouse, list(execution_ids[first : first + PROGRESS_BATCH])
                )
            ]

    def applied(self, execution_ids: Sequence[str]) -> dict[tuple[str, str], list[float]]:
        """(execution_id, phase) -> the processed_at of each time it was applied."""
        params = {f"id{i}": execution_id for i, execution_id in enumerate(execution_ids)}
        rows = self.query(
            "SELECT execution_id, phase, processed_at FROM {nba_orchestration.processed_messages} "
            f"WHERE execution_id IN ({', '.join('@' + name for name in params)})",
            params,
        )
        found: dict[tuple[str, str], list[float]] = {}
        for row in rows:
            key = (row["execution_id"], row["phase"])
            found.setdefault(key, []).append(row["processed_at"].timestamp())
        return found

    def wait(self, execution_ids: Sequence[str], phase: Phase, timeout: float) -> None:
        """Until `phase` applied every run (or the timeout: the check that follows says so)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.applied(execution_ids)
            if all((execution_id, phase) in found for execution_id in execution_ids):
                return
            time.sleep(0.25)


class ObservedClient(PipelineClient):
    """The backfill's client, waiting through the observer instead of `/admin/pipeline-progress`
    (whose query would be counted as the pipeline's), and reading no table counts."""

    def __init__(self, scrapers_url: str, observer: Observer) -> None:
        super().__init__(scrapers_url)
        self.observer = observer

    def pending(self, execution_ids: list[str], reprocess_id: str | None = None) -> list[str]:
        return self.observer.pending(execution_ids)

    def table_counts(self, date_from: dt.date, date_to: dt.date) -> dict[str, int | None]:
        return {}


@contextlib.contextmanager
def held(stack: LocalStack, subscription: str) -> Iterator[None]:
    """The subscription's pushes wait while the block runs: without a push endpoint the
    emulator keeps its messages, and pushes them once the endpoint is back."""
    from google.cloud import pubsub_v1  # type: ignore[attr-defined, unused-ignore]

    subscriber = pubsub_v1.SubscriberClient()
    path = subscriber.subscription_path(stack.project, subscription)
    push_config = subscriber.get_subscription(request={"subscription": path}).push_config
    subscriber.modify_push_config(request={"subscription": path, "push_config": {}})
    try:
        yield
    finally:
        subscriber.modify_push_config(request={"subscription": path, "push_config": push_config})
        subscriber.close()


def envelope(message: ScraperComplete | Phase2Complete, subscription: str) -> dict[str, Any]:
    """A push delivery of `message`, as the emulator sends it."""
    return {
        "message": {
            "data": base64.b64encode(encode_message(message)).decode(),
            "attributes": message.attributes(),
            "messageId": "bench-duplicate",
        },
        "subscription": f"projects/{PROJECT}/subscriptions/{subscription}",
    }


def loaded(message: ScraperComplete) -> Phase2Complete:
    """The phase-2 message the processors published for `message`'s load."""
    return Phase2Complete(
        scraper_name=message.scraper_name,
        source_table=get_source(message.scraper_name).table.fqn,
        game_date=message.game_date,
        record_count=1,
        rows_changed=1,
        execution_id=message.execution_id,
        gcs_path=message.gcs_path,
    )


def per_event(section: str, phase: str, spent: Spent, count: int) -> list[Figure]:
    """Jobs, DML statements and bytes billed per event of one phase."""
    billed = spent.billed / count
    return [
        Figure(section, f"{phase}: jobs per event", spent.jobs / count, "jobs"),
        Figure(
            section,
            f"{phase}: DML statements per event",
            spent.dml / count,
            "stmts",
            spent.dml / spent.jobs if spent.jobs else None,
            "jobs",
        ),
        Figure(
            section,
            f"{phase}: est. bytes billed per event",
            billed / MB,
            "MB",
            spent.billed / spent.processed if spent.processed else None,
            "bytes scanned",
        ),
    ]


def event_costs(stack: LocalStack, double: BigQueryDouble, observer: Observer, season: Season,
                plan: BigQueryPlan, results: Results) -> list[ev.Event]:  # fmt: skip
    """Events published at once, phase 2 held until phase 1 applied them all, so each phase's
    jobs are its own; both amortised over the events in flight together."""
    assert stack.clients is not None
    events = ev.write_events(
        stack.clients.store, season, plan.events, plan.backfill_to + dt.timedelta(days=1)
    )
    ids = [event.execution_id for event in events]
    timeout = 120 + plan.events
    with held(stack, ANALYTICS_SUBSCRIPTION):
        mark = len(double.jobs)
        ev.publish(stack.clients.publisher, events, None)
        observer.wait(ids, Phase.LOAD, timeout)
        phase1 = Spent.since(double, mark)
    mark = len(double.jobs)
    observer.wait(ids, Phase.BUILD, timeout)
    phase2 = Spent.since(double, mark)
    for problem in ev.check_exactly_once(observer.applied(ids), events):
        results.problem(f"bigquery: {problem}")
    hot_path = (phase1.jobs + phase2.jobs) / len(events)
    results.add(
        *per_event(SECTION, "phase 1 (raw load)", phase1, len(events)),
        *per_event(SECTION, "phase 2 (analytics)", phase2, len(events)),
        Figure(
            SECTION,
            f"hot path: jobs per event, both phases ({len(events)} published at once, "
            "pushed 2 at a time per subscription)",
            hot_path,
            "jobs",
            hot_path / HOT_PATH_TARGET,
            "target",
            "<= 1 amortised",
            hot_path <= HOT_PATH_TARGET,
        ),
    )
    return events


def duplicate_costs(
    stack: LocalStack, double: BigQueryDouble, events: Sequence[ev.Event], results: Results
) -> None:
    """Applied messages delivered again, each to a new app (a fresh process: nothing in memory
    knows the work), one phase after the other."""
    from services.analytics.app import create_app as create_analytics
    from services.processors.app import create_app as create_processors

    assert stack.clients is not None
    clients = stack.clients
    common = stack.common_settings()
    phases: list[tuple[str, Any, Any]] = [
        ("phase 1", create_processors, lambda e: envelope(e.message, "nba-processors-sub")),
        (
            "phase 2",
            create_analytics,
            lambda e: envelope(loaded(e.message), ANALYTICS_SUBSCRIPTION),
        ),
    ]
    for phase, create, delivery in phases:
        mark = len(double.jobs)
        answers = [_deliver(create(common, clients), delivery(event)) for event in events]
        spent = Spent.since(double, mark)
        acked = sum(1 for code, status in answers if code == 200 and status == "duplicate")
        if acked != len(events):
            results.problem(f"bigquery: {len(events) - acked} {phase} duplicates not acked as such")
        per_duplicate = spent.jobs / len(events)
        results.add(
            Figure(
                SECTION,
                f"{phase}: jobs per duplicate delivery (fresh process, {len(events)})",
                per_duplicate,
                "jobs",
                target="0",
                met=spent.jobs == 0,
            ),
            Figure(
                SECTION,
                f"{phase}: est. bytes billed per duplicate",
                spent.billed / len(events) / MB,
                "MB",
            ),
        )


def _deliver(app: FastAPI, body: dict[str, Any]) -> tuple[int, str]:
    response = TestClient(app).post("/process", json=body)
    return response.status_code, str(response.json().get("status", ""))


def backfill_cost(stack: LocalStack, double: BigQueryDouble, observer: Observer, season: Season,
                  plan: BigQueryPlan, results: Results) -> None:  # fmt: skip
    """The slice backfilled as `nba-pipeline backfill --parallel 4` runs it; its cost in
    total, per run, and scaled to the whole season by its share of the season's runs."""
    client = ObservedClient(stack.url("scrapers"), observer)
    mark = len(double.jobs)
    try:
        report = backfill(
            client, plan.backfill_from, plan.backfill_to, force=True, parallel=BACKFILL_PARALLEL
        )
    finally:
        client.close()
    spent = Spent.since(double, mark)
    for run in report.failures:
        results.problem(
            f"bigquery backfill: {run.scraper_name} {run.params} failed: {run.error_message}"
        )
    days = list(dates(plan.backfill_from, plan.backfill_to))
    loaded_tables = [(table, day) for table in STATE_TABLES for day in days]
    with double.observing():
        problems = missing_rows(observer.warehouse, season, loaded_tables)
        problems += duplicated_keys(observer.warehouse)
    for problem in problems:
        results.problem(f"bigquery backfill: {problem}")
    runs = len(report.runs)
    season_days = (SEASON_END - SEASON_START).days + 1
    scale = season_days / len(days)
    slice_name = f"backfill {plan.backfill_from:%m-%d}..{plan.backfill_to:%m-%d} ({len(days)} days, {runs} runs)"
    results.add(
        Figure(SECTION, f"{slice_name}: jobs", spent.jobs, "jobs", spent.jobs / runs, "runs"),
        Figure(
            SECTION, f"{slice_name}: DML statements", spent.dml, "stmts", spent.dml / runs, "runs"
        ),
        Figure(
            SECTION,
            f"{slice_name}: load jobs (free)",
            spent.loads,
            "jobs",
            spent.loads / runs,
            "runs",
        ),
        Figure(
            SECTION,
            f"{slice_name}: est. bytes billed",
            spent.billed / GB,
            "GB",
            spent.billed / spent.processed if spent.processed else None,
            "bytes scanned",
        ),
        Figure(
            SECTION,
            f"whole season ({season_days} days), scaled x{scale:.1f} from the slice: jobs",
            spent.jobs * scale,
            "jobs",
        ),
        Figure(
            SECTION,
            f"whole season, scaled x{scale:.1f}: est. bytes billed",
            spent.billed * scale / GB,
            "GB",
        ),
    )


def bigquery_cost(plan: BigQueryPlan, season: Season, workdir: Path, results: Results) -> None:
    """The BigQuery section: a stack of its own on the BigQuery backend over the double."""
    try:
        from libs.common.warehouse.bigquery import BigQueryWarehouse
        from tests.utils.bigquery_double import BigQueryDouble
    except ImportError as missing:
        results.note(
            f"bigquery: skipped, the client double (tests/utils/bigquery_double) is not "
            f"importable here ({missing}); run the bench from a checkout with `uv sync`"
        )
        return
    double = BigQueryDouble(project=PROJECT)
    stack = LocalStack(
        ports=Ports.free(),
        workdir=workdir / "bigquery",
        project=PROJECT,
        bigquery=BigQueryWarehouse(PROJECT, client=double),
    )
    with stack:
        assert stack.clients is not None
        observer = Observer(stack.clients.warehouse, double)
        backfill_cost(stack, double, observer, season, plan, results)
        events = event_costs(stack, double, observer, season, plan, results)
        duplicate_costs(stack, double, events[: plan.duplicates], results)
    results.add(
        Figure(
            SECTION,
            "jobs that failed (BigQuery errors met, then redelivered)",
            len(double.errors),
            "jobs",
        )
    )
    for error in double.errors[:3]:
        results.note(f"bigquery: a job failed: {error}")
