"""Every SQL statement the BigQuery backend can send parses as BigQuery SQL (sqlglot's BigQuery
dialect): the writes for every declared table (upserts, replaces, rebuilds) and every query
template the services and libraries run, rendered as the backend renders them. Each service
function that queries is driven for real (over DuckDB), so a template built at run time is
checked as built; and every `.query(` call site in services/ and libs/ must have been reached.
"""

from __future__ import annotations

import datetime as dt
import re
import sys
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlglot
from fastapi.testclient import TestClient
from google.cloud import bigquery
from sqlglot import exp
from sqlglot.errors import ErrorLevel

from libs.common import audit
from libs.common.analytics import ANALYTICS_TABLES, builds_reading
from libs.common.audit import DAILY_EXPECTED_SCHEDULE, ORCHESTRATION_TABLES, record_run
from libs.common.service import dependency_checks
from libs.common.sources.registry import raw_tables
from libs.common.warehouse.base import Row
from libs.common.warehouse.bigquery import BigQueryWarehouse
from libs.common.warehouse.duckdb import DuckDBWarehouse
from libs.common.warehouse.schema import Table
from services.scrapers import dashboard, failures
from services.scrapers.app import create_app
from services.scrapers.breakers import BreakerRegistry
from services.scrapers.orchestration import cleanup, engine
from tests.utils.bigquery_double import dialect
from tests.utils.fakes import fake_clients

ROOT = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2025, 2, 21, 12, tzinfo=dt.UTC)
DAY = dt.date(2025, 2, 20)
DECLARED = (*ORCHESTRATION_TABLES, *raw_tables(), *ANALYTICS_TABLES)
QUERY_CALL = re.compile(r"\.query\(")


@dataclass
class Sent:
    """One SQL text the backend handed the client, and the parameters it bound."""

    origin: str
    sql: str
    params: frozenset[str]


@dataclass
class RecordingClient:
    """Keeps every SQL text a `BigQueryWarehouse` sends; runs nothing, answers no rows."""

    origin: str = ""
    sent: list[Sent] = field(default_factory=list)

    def create_dataset(self, dataset: Any, exists_ok: bool) -> None:
        """Datasets are not SQL."""

    def create_table(self, table: Any, exists_ok: bool) -> Any:
        return table

    def load_table_from_json(self, rows: Any, table_id: str, job_config: Any) -> Any:
        return self  # a load job is not SQL

    def query(self, sql: str, job_config: Any = None) -> Any:
        names = {p.name for p in job_config.query_parameters} if job_config else set()
        self.sent.append(Sent(self.origin, sql, frozenset(names)))
        return self

    def result(self) -> list[Any]:
        return []

    def delete_table(self, table_id: str, not_found_ok: bool) -> None:
        """Not SQL."""


class RecordingWarehouse(DuckDBWarehouse):
    """A DuckDB warehouse that notes each query template with the call site that ran it."""

    def __init__(self) -> None:
        super().__init__(":memory:")
        self.templates: list[tuple[str, str, dict[str, Any]]] = []

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        self.templates.append((_call_site(), sql, dict(params or {})))
        return super().query(sql, params)


def _call_site() -> str:
    """`path:line` of the nearest caller in services/ or libs/ outside the warehouse package."""
    frame = sys._getframe(2)
    while frame is not None:
        path = Path(frame.f_code.co_filename)
        if path.is_relative_to(ROOT):
            relative = path.relative_to(ROOT).as_posix()
            if relative.startswith(("services/", "libs/")) and "/warehouse/" not in relative:
                return f"{relative}:{frame.f_lineno}"
        frame = frame.f_back  # type: ignore[assignment]
    return "tests"


def sample_row(table: Table) -> Row:
    """A row with a value of each column's type."""
    values = {"STRING": "x", "INT64": 1, "FLOAT64": 1.5, "BOOL": True, "DATE": DAY,
              "TIMESTAMP": NOW, "JSON": {"a": 1}}  # fmt: skip
    return {c.name: values[c.type] for c in table.columns}


def drive_services(w: RecordingWarehouse) -> None:
    """Run every function of services/ and libs/ that queries the warehouse, each variant."""
    w.ensure_tables(DECLARED)
    clients = fake_clients(w)
    run_id = str(uuid.uuid4())
    record_run(w, execution_id=run_id, scraper_name="bdl_games", workflow="MANUAL",
               status="success", gcs_path="gs://b/f.json", started_at=NOW - dt.timedelta(hours=2),
               finished_at=NOW - dt.timedelta(hours=2), game_date=DAY)  # fmt: skip
    dependency_checks(clients, uses=(), publishes=None)
    audit.already_processed(w, "work")
    audit.pending_executions(w, [run_id, "other"])
    audit.pending_executions(w, [run_id], reprocess_id="r1")
    cleanup.run_cleanup(clients, NOW, dt.timedelta(days=1), dt.timedelta(minutes=30))
    cleanup.run_cleanup(clients, NOW, dt.timedelta(days=1), dt.timedelta(0), [run_id])
    engine.games_on(w, DAY)
    engine.history_of(w, "morning_operations", DAY)
    failures.open_gap(w, "bdl_games", "{}")
    failures.open_gaps(w, 10)
    failures.stale_unalerted_gaps(w, NOW)
    dashboard.collect(w, NOW)
    breakers = BreakerRegistry(w)
    breakers.get("direct", "api.example")
    breakers.reset()
    with TestClient(create_app(clients=clients)) as app:
        assert app.get(f"/executions/{run_id}").status_code == 200
        for params in ({}, {"status": "success", "scraper_name": "bdl_games", "workflow": "MANUAL",
                            "game_date": DAY.isoformat(), "from": DAY.isoformat(),
                            "to": DAY.isoformat(), "limit": 5, "offset": 1}):  # fmt: skip
            assert app.get("/admin/recent-executions", params=params).status_code == 200
        counts = app.get(
            "/admin/table-counts", params={"from": DAY.isoformat(), "to": DAY.isoformat()}
        )
        assert counts.status_code == 200 and None not in counts.json().values()
        progress = app.post("/admin/pipeline-progress", json={"execution_ids": [run_id]})
        assert progress.status_code == 200


@pytest.fixture(scope="module")
def templates() -> Iterator[list[tuple[str, str, dict[str, Any]]]]:
    w = RecordingWarehouse()
    drive_services(w)
    yield w.templates
    w.close()


def rendered_queries(templates: Iterable[tuple[str, str, dict[str, Any]]]) -> list[Sent]:
    """Each template as the BigQuery backend sends it."""
    client = RecordingClient()
    backend = BigQueryWarehouse("nba-prod", client=client)
    for site, sql, params in templates:
        client.origin = site
        backend.query(sql, params)
    return client.sent


def rendered_writes() -> list[Sent]:
    """The SQL of every write the backend makes for the declared tables: upserts of keyed
    tables, replaces by partition, and each group of rebuilds the analytics service runs."""
    client = RecordingClient()
    backend = BigQueryWarehouse("nba-prod", client=client)
    rebuilt = {table.fqn for table in ANALYTICS_TABLES}
    for table in DECLARED:
        if table.natural_key and table.fqn not in rebuilt:
            client.origin = f"upsert {table.fqn}"
            backend.upsert(table, [sample_row(table)])
    for table in (DAILY_EXPECTED_SCHEDULE,):  # the tables services replace()
        client.origin = f"replace {table.fqn}"
        assert table.partition_column is not None
        backend.replace(table, {table.partition_column: DAY}, [sample_row(table)])
    for source in raw_tables():
        builds = builds_reading(source.fqn)
        for onwards in (False, True):
            targets = [(b.table, b.select_sql) for b in builds if b.onwards == onwards]
            if targets:
                client.origin = f"rebuild after {source.fqn} (onwards={onwards})"
                backend.rebuild(targets, {"game_date": DAY}, onwards)
    return client.sent


def problems(sent: Sequence[Sent]) -> list[str]:
    """Why each statement would fail on BigQuery before running: a parse error, a rule of
    BigQuery's a parse does not check, a table left as a template, or a parameter not bound."""
    found = []
    for item in sent:
        try:
            statements = sqlglot.parse(item.sql, read="bigquery", error_level=ErrorLevel.RAISE)
            for statement in statements:
                if statement is None:
                    continue
                dialect.check(statement)
                unbound = {p.name for p in statement.find_all(exp.Parameter)} - item.params
                if unbound:
                    raise ValueError(f"parameters {sorted(unbound)} are not bound")
            if "{nba_" in item.sql:
                raise ValueError("a {dataset.table} reference was not rendered")
        except Exception as error:
            found.append(f"{item.origin}: {type(error).__name__}: {error}\n  {item.sql[:300]}")
    return found


def test_every_query_call_site_in_services_and_libs_was_exercised(
    templates: list[tuple[str, str, dict[str, Any]]],
) -> None:
    sites = {
        f"{path.relative_to(ROOT).as_posix()}:{number}"
        for folder in ("services", "libs")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if "/warehouse/" not in path.as_posix()
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if QUERY_CALL.search(line)
    }
    assert sites, "found no call sites: the scan is broken"
    reached = {site for site, _, _ in templates}
    assert sites - reached == set(), "drive_services runs no query from these call sites"


def test_every_query_template_parses_as_bigquery(
    templates: list[tuple[str, str, dict[str, Any]]],
) -> None:
    sent = rendered_queries(templates)
    assert len(sent) == len(templates)
    assert problems(sent) == []


def test_every_write_for_every_declared_table_parses_as_bigquery() -> None:
    sent = rendered_writes()
    kinds = {statement.key for item in sent for statement in sqlglot.parse(item.sql, read="bigquery") if statement}  # fmt: skip
    assert {"merge", "select"} <= kinds
    assert any(item.origin.startswith("rebuild") for item in sent)
    assert problems(sent) == []


def test_a_statement_bigquery_would_refuse_is_reported() -> None:
    """The check itself: a typo, an unbound parameter and an unrendered table are caught."""
    bad = [
        Sent("typo", "SELEC 1", frozenset()),
        Sent("unbound", "SELECT 1 FROM `p.d.t` WHERE a = @a", frozenset()),
        Sent("template", "SELECT 1 FROM `p.d.t` WHERE b = '{nba_raw.x}'", frozenset()),
    ]
    assert [line.split(":")[0] for line in problems(bad)] == ["typo", "unbound", "template"]


def test_loaded_columns_are_sent_as_bigquery_types() -> None:
    """Load jobs are not SQL; their schema fields must still be BigQuery types."""
    types = {c.type for table in DECLARED for c in table.columns}
    assert types <= {t.value for t in bigquery.enums.StandardSqlTypeNames}
