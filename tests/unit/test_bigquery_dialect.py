"""Every SQL statement the BigQuery backend can send parses as BigQuery SQL (sqlglot's BigQuery
dialect): the writes for every declared table (upserts, replaces, rebuilds) and every query
template the services and libraries run, rendered as the backend renders them. Each service
function that queries is driven for real (over DuckDB), so a template built at run time is
checked as built; and every `.query(` call site in services/ and libs/ must have been reached.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlglot
from google.cloud import bigquery
from sqlglot import exp
from sqlglot.errors import ErrorLevel

from libs.common.analytics import ANALYTICS_TABLES, builds_reading
from libs.common.sources.registry import raw_tables
from libs.common.warehouse.base import Row
from libs.common.warehouse.bigquery import BigQueryConfig, BigQueryWarehouse
from libs.common.warehouse.duckdb import DuckDBWarehouse
from libs.common.warehouse.schema import Table
from services.scrapers.tables import DAILY_EXPECTED_SCHEDULE
from tests.utils.bigquery_double import dialect
from tests.utils.service_queries import DAY, DECLARED, NOW, ROOT, Call, Recording, drive_services

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


def sample_row(table: Table) -> Row:
    """A row with a value of each column's type."""
    values = {"STRING": "x", "INT64": 1, "FLOAT64": 1.5, "BOOL": True, "DATE": DAY,
              "TIMESTAMP": NOW, "JSON": {"a": 1}}  # fmt: skip
    return {c.name: values[c.type] for c in table.columns}


@pytest.fixture(scope="module")
def templates() -> Iterator[list[Call]]:
    w = Recording(DuckDBWarehouse(":memory:"))
    drive_services(w)
    yield w.calls
    w.close()


def rendered_queries(calls: Iterable[Call]) -> list[Sent]:
    """Each template as the BigQuery backend sends it."""
    client = RecordingClient()
    backend = BigQueryWarehouse("nba-prod", client=client)
    for call in calls:
        client.origin = call.site
        backend.query(call.sql, call.params)
    return client.sent


def rendered_writes() -> list[Sent]:
    """The SQL of every write the backend makes for the declared tables: upserts of keyed
    tables, replaces by partition, and each group of rebuilds the analytics service runs."""
    client = RecordingClient()
    backend = BigQueryWarehouse("nba-prod", client=client)
    rebuilt = {table.fqn for table in ANALYTICS_TABLES}
    staging = BigQueryWarehouse(BigQueryConfig("nba-prod", max_inline_request_bytes=0), client)
    for table in DECLARED:
        if table.natural_key and table.fqn not in rebuilt:
            client.origin = f"upsert {table.fqn}"
            backend.upsert(table, [sample_row(table)])
            client.origin = f"upsert {table.fqn} (rows staged by a load job)"
            staging.upsert(table, [sample_row(table)])
    for table in (DAILY_EXPECTED_SCHEDULE,):  # the tables services replace()
        client.origin = f"replace {table.fqn}"
        assert table.partition_column is not None
        backend.replace(table, {table.partition_column: DAY}, [sample_row(table)])
        client.origin = f"replace {table.fqn} (rows staged by a load job)"
        staging.replace(table, {table.partition_column: DAY}, [sample_row(table)])
        client.origin = f"replace {table.fqn} with no rows"
        backend.replace(table, {table.partition_column: DAY}, [])
    keyed = [table for table in DECLARED if table.natural_key and table.fqn not in rebuilt]
    client.origin = "upserts of every keyed table combined in one script"
    backend.upsert_tables([(table, [[sample_row(table)]]) for table in keyed])
    for source in raw_tables():
        builds = builds_reading(source.fqn)
        if builds:
            targets = [build.target for build in builds]
            client.origin = f"rebuild after {source.fqn}"
            backend.rebuild(targets, {"game_date": DAY})
            client.origin = f"rebuilds of three dates after {source.fqn}, combined"
            days = [DAY + dt.timedelta(days=i) for i in range(3)]
            backend.rebuild_many(targets, [{"game_date": day} for day in days])
    return client.sent


def problems(sent: Sequence[Sent]) -> list[str]:
    """Why each statement would fail on BigQuery before running: a parse error, a rule of
    BigQuery's a parse does not check, a table left as a template, or a parameter not bound."""
    found = []
    for item in sent:
        try:
            parsed = sqlglot.parse(item.sql, read="bigquery", error_level=ErrorLevel.RAISE)
            statements = [statement for statement in parsed if statement is not None]
            dialect.check_script(statements)
            for statement in statements:
                unbound = {p.name for p in statement.find_all(exp.Parameter)} - item.params
                if unbound:
                    raise ValueError(f"parameters {sorted(unbound)} are not bound")
            if "{nba_" in item.sql:
                raise ValueError("a {dataset.table} reference was not rendered")
        except Exception as error:
            found.append(f"{item.origin}: {type(error).__name__}: {error}\n  {item.sql[:300]}")
    return found


def test_every_query_call_site_in_services_and_libs_was_exercised(
    templates: list[Call],
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
    reached = {call.site for call in templates}
    assert sites - reached == set(), "drive_services runs no query from these call sites"


def test_every_query_template_parses_as_bigquery(templates: list[Call]) -> None:
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
