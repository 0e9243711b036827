"""`BigQueryDouble`: what `libs/common/warehouse/bigquery/client.py` calls on a
`google.cloud.bigquery.Client`, run on an in-process DuckDB under BigQuery's rules.

No BigQuery emulator installs offline that keeps BigQuery's rules (docs/LOCAL_STACK.md), so
the production warehouse is tested against this instead: every statement is parsed as
BigQuery SQL (sqlglot) and run translated to DuckDB; the rules in `rules` raise BigQuery's
own exception types and messages; and the jobs, DML statements, loads and streamed rows per
table are counted, and each job is recorded with the bytes an on-demand project would be
billed for it (`billing`), so a test can say what a piece of work costs. A test's own reads
go through `observing()` and are neither counted nor recorded.

Supported: datasets and tables (create, get, add columns, delete), load jobs from JSON
(WRITE_APPEND, WRITE_TRUNCATE), insertAll, and query jobs with scalar, struct and array
parameters (an array of structs unnests into columns): one statement, or a script, whose
temporary tables (`CREATE TEMP TABLE`) last until it ends and whose BEGIN TRANSACTION ...
COMMIT TRANSACTION runs as one DuckDB transaction (its last statement's rows are the job's
result). A request over BigQuery's size limit is refused before any job. Thread-safe.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import json
import threading
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
from google.api_core.exceptions import GoogleAPICallError
from google.cloud import bigquery
from sqlglot import exp

from libs.common.warehouse.bigquery.client import request_bytes
from tests.utils.bigquery_double import billing, dialect, rules, tables
from tests.utils.bigquery_double.concurrency import TableActivity
from tests.utils.bigquery_double.streaming import Clock, StreamingBuffer


@dataclass
class Counts:
    """What the double was asked to do, for jobs-per-event figures."""

    jobs: Counter[str] = field(default_factory=Counter)
    """API jobs by kind: "query" (a script is one) and "load"."""
    statements: Counter[str] = field(default_factory=Counter)
    """Statements run, by kind (SELECT, INSERT, MERGE, ...), scripts' included."""
    dml: Counter[str] = field(default_factory=Counter)
    """DML statements per table id (BigQuery's DML quotas count per table)."""
    loads: Counter[str] = field(default_factory=Counter)
    """Load jobs per table id (a table takes 1,500 a day)."""
    streamed: Counter[str] = field(default_factory=Counter)
    """Rows streamed per table id (insertAll)."""


@dataclass(frozen=True)
class JobRecord:
    """One job, as BigQuery would count and bill it."""

    kind: str
    """"query" (a script is one) or "load"."""
    tables: frozenset[str]
    """Table ids it read or wrote."""
    dml: int
    """DML statements it ran."""
    processed: int
    """Estimated bytes processed (`billing`); 0 for a load, which is free."""
    billed: int
    """Estimated on-demand bytes billed; 0 for a load or a failed job (neither is charged)."""
    failed: bool


@dataclass
class _Tally:
    """What a query job's statements have read, written and cost so far."""

    tables: set[str] = field(default_factory=set)
    dml: int = 0
    estimate: billing.Estimate = field(default_factory=billing.Estimate)

    def record(self, failed: bool) -> JobRecord:
        billed = 0 if failed else self.estimate.billed
        return JobRecord("query", frozenset(self.tables), self.dml, self.estimate.processed,
                         billed, failed)  # fmt: skip


@dataclass
class CommitHold:
    """Holds the next transaction or mutating statement to reach its COMMIT, its table still
    claimed (or its DML slot taken), so a test can make two writes overlap without racing."""

    timeout: float
    reached: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)

    def release(self) -> None:
        self.released.set()


class Job:
    """A finished job: `result()` returns its rows or raises its error, like a real job."""

    def __init__(self, job_id: str, rows: list[bigquery.Row], error: Exception | None) -> None:
        self.job_id = job_id
        self.state = "DONE"
        self._rows = rows
        self.error = error

    def done(self) -> bool:
        return True

    def result(self, *args: Any, **kwargs: Any) -> list[bigquery.Row]:
        if self.error is not None:
            raise self.error
        return list(self._rows)


class BigQueryDouble:
    """Stands in for `google.cloud.bigquery.Client` (see the module docstring)."""

    def __init__(
        self,
        project: str = "nba-test",
        location: str = "US",
        clock: Clock | None = None,
        estimates_bytes: bool = True,
    ) -> None:
        """`estimates_bytes` off: no job's bytes are estimated (faster, for a test that
        counts none)."""
        self.project = project
        self.estimates_bytes = estimates_bytes
        self.location = location
        self.clock = clock or Clock()
        self.counts = Counts()
        self.sql: list[str] = []
        """Every SQL text `query` was given, in order."""
        self.errors: list[GoogleAPICallError] = []
        """Every error a job failed with, in order: what the code under test had to recover
        from (a job's error is raised by its `result()`)."""
        self.jobs: list[JobRecord] = []
        """Every job, in order."""
        self._local = threading.local()
        self.activity = TableActivity()
        self.buffer = StreamingBuffer(self.clock)
        self._db = duckdb.connect()
        self._lock = threading.RLock()
        """Guards the catalog, the counts and the holds."""
        self._catalogs: set[str] = set()
        self._datasets: set[str] = set()
        self._tables: dict[str, bigquery.Table] = {}
        self._holds: list[CommitHold] = []

    # datasets and tables

    def create_dataset(self, dataset: Any, exists_ok: bool = False, **_: Any) -> bigquery.Dataset:
        dataset_id = _dataset_id(dataset, self.project)
        with self._lock:
            if dataset_id in self._datasets:
                if not exists_ok:
                    raise rules.already_exists("Dataset", dataset_id)
            else:
                project, name = dataset_id.split(".")
                self._attach(project)
                self._db.execute(f"CREATE SCHEMA {tables.quoted(project)}.{tables.quoted(name)}")
                self._datasets.add(dataset_id)
        return bigquery.Dataset(dataset_id)

    def create_table(self, table: Any, exists_ok: bool = False, **_: Any) -> bigquery.Table:
        if isinstance(table, str):
            table = bigquery.Table(table)
        table_id = _table_id(table, self.project)
        with self._lock:
            if table_id in self._tables:
                if not exists_ok:
                    raise rules.already_exists("Table", table_id)
                return tables.copy_of(self._tables[table_id])
            self._require_dataset(table_id)
            tables.check_layout(table)
            self._db.execute(tables.create_sql(table_id, table.schema))
            self._tables[table_id] = tables.copy_of(table)
            return tables.copy_of(table)

    def get_table(self, table: Any, **_: Any) -> bigquery.Table:
        table_id = _table_id(table, self.project)
        with self._lock:
            if table_id not in self._tables:
                raise rules.table_not_found(table_id, self.location)
            return tables.copy_of(self._tables[table_id])

    def update_table(
        self, table: bigquery.Table, fields: Sequence[str], **_: Any
    ) -> bigquery.Table:
        """Columns may be added, NULLABLE only; none changed or dropped (BigQuery's schema
        modification rules)."""
        table_id = _table_id(table, self.project)
        with self._lock:
            stored = self._tables.get(table_id)
            if stored is None:
                raise rules.table_not_found(table_id, self.location)
            if "schema" in fields:
                old = {f.name: f for f in stored.schema}
                new = {f.name: f for f in table.schema}
                for name, before in old.items():
                    after = new.get(name)
                    if after is None or (after.field_type, after.mode) != (
                        before.field_type,
                        before.mode,
                    ):
                        raise rules.invalid(
                            f"Provided Schema does not match Table {table_id}. Field {name} "
                            "is missing or changed in new schema"
                        )
                for name, added in new.items():
                    if name in old:
                        continue
                    if added.mode == "REQUIRED":
                        raise rules.invalid(
                            f"Provided Schema does not match Table {table_id}. Cannot add "
                            f"required fields to an existing schema. (field: {name})"
                        )
                    self._db.execute(
                        f"ALTER TABLE {tables.ref(table_id)} ADD COLUMN {tables.column_ddl(added)}"
                    )
                stored.schema = list(table.schema)
            if "description" in fields:
                stored.description = table.description
            return tables.copy_of(stored)

    def delete_table(self, table: Any, not_found_ok: bool = False, **_: Any) -> None:
        table_id = _table_id(table, self.project)
        with self._lock:
            if table_id not in self._tables:
                if not_found_ok:
                    return
                raise rules.table_not_found(table_id, self.location)
            self._db.execute(f"DROP TABLE {tables.ref(table_id)}")
            del self._tables[table_id]

    # writes that are not DML

    def load_table_from_json(
        self, json_rows: Iterable[Mapping[str, Any]], destination: Any,
        job_config: bigquery.LoadJobConfig | None = None, **_: Any,
    ) -> Job:  # fmt: skip
        """A load job: atomic, creating the table if needed, appending or replacing rows."""
        table_id = _table_id(destination, self.project)
        job_id = f"load_{uuid.uuid4().hex}"
        counted = not self._observing()
        if counted:
            with self._lock:
                self.counts.jobs["load"] += 1
                self.counts.loads[table_id] += 1
        error = None
        try:
            self._load(table_id, list(json_rows), job_config or bigquery.LoadJobConfig())
        except GoogleAPICallError as refused:
            error = refused
        if counted:
            self._record(
                JobRecord("load", frozenset({table_id}), 0, 0, 0, error is not None), error
            )
        return Job(job_id, [], error)

    def _load(
        self, table_id: str, rows: list[Mapping[str, Any]], config: bigquery.LoadJobConfig
    ) -> None:
        disposition = config.write_disposition or bigquery.WriteDisposition.WRITE_APPEND
        with self._lock:
            existing = self._tables.get(table_id)
            if existing is None or disposition == bigquery.WriteDisposition.WRITE_TRUNCATE:
                if not config.schema:
                    raise rules.invalid(f"No schema specified on job or table {table_id}.")
                self._require_dataset(table_id)
                schema = list(config.schema)
            else:
                schema = list(existing.schema)
            for index, row in enumerate(rows):
                problems = tables.row_problems(schema, row)
                if problems:
                    raise rules.invalid(
                        "Error while reading data, error message: JSON parsing error in row "
                        f"starting at position {index}: {problems[0][1]}"
                    )
            cur = self._cursor()
            try:
                cur.execute("BEGIN TRANSACTION")
                if existing is not None and disposition == bigquery.WriteDisposition.WRITE_TRUNCATE:
                    cur.execute(f"DROP TABLE {tables.ref(table_id)}")
                if existing is None or disposition == bigquery.WriteDisposition.WRITE_TRUNCATE:
                    cur.execute(tables.create_sql(table_id, schema))
                self._insert(cur, table_id, schema, rows)
                cur.execute("COMMIT")
            except Exception:
                cur.execute("ROLLBACK")
                raise
            finally:
                cur.close()
            if existing is None:
                self._tables[table_id] = bigquery.Table(table_id, schema=schema)
            elif disposition == bigquery.WriteDisposition.WRITE_TRUNCATE:
                existing.schema = schema

    def insert_rows_json(
        self, table: Any, json_rows: Sequence[Mapping[str, Any]],
        skip_invalid_rows: bool = False, **_: Any,
    ) -> list[dict[str, Any]]:  # fmt: skip
        """insertAll: the per-row errors, nothing inserted if a row is refused (unless
        `skip_invalid_rows`); inserted rows join the streaming buffer (rule 4)."""
        table_id = _table_id(table, self.project)
        schema = self.get_table(table_id).schema
        errors = []
        for index, row in enumerate(json_rows):
            problems = tables.row_problems(schema, row)
            if problems:
                errors.append({"index": index, "errors": [
                    {"reason": "invalid", "location": name, "debugInfo": "", "message": message}
                    for name, message in problems
                ]})  # fmt: skip
        refused = {error["index"] for error in errors}
        if errors and not skip_invalid_rows:
            stop = {"reason": "stopped", "location": "", "debugInfo": "", "message": ""}
            stopped = [
                {"index": i, "errors": [stop]} for i in range(len(json_rows)) if i not in refused
            ]
            return sorted(errors + stopped, key=lambda error: int(error["index"]))
        accepted = [row for i, row in enumerate(json_rows) if i not in refused]
        cur = self._cursor()
        try:
            stored = self._insert(cur, table_id, schema, accepted, returning=True)
        finally:
            cur.close()
        self.buffer.add(table_id, stored)
        with self._lock:
            self.counts.streamed[table_id] += len(accepted)
        return errors

    def _insert(
        self, cur: duckdb.DuckDBPyConnection, table_id: str,
        schema: Sequence[bigquery.SchemaField], rows: Sequence[Mapping[str, Any]],
        returning: bool = False,
    ) -> list[dict[str, Any]]:  # fmt: skip
        """Insert JSON rows; with `returning`, the rows as DuckDB stored them."""
        names = [f.name for f in schema]
        columns = ", ".join(tables.quoted(name) for name in names)
        sql = (
            f"INSERT INTO {tables.ref(table_id)} ({columns}) VALUES ({', '.join('?' * len(names))})"
        )
        stored = []
        for row in rows:
            cells = tables.cells(schema, row)
            if returning:
                found = cur.execute(f"{sql} RETURNING {columns}", cells).fetchone()
                stored.append(dict(zip(names, found or (), strict=True)))
            else:
                cur.execute(sql, cells)
        return stored

    # queries

    def query(self, query: str, job_config: bigquery.QueryJobConfig | None = None, **_: Any) -> Job:
        """A query job: parsed as BigQuery SQL, run under BigQuery's rules; errors are raised
        by `result()`, as a real job's are."""
        job_config = job_config or bigquery.QueryJobConfig()
        if request_bytes(query, job_config) > rules.MAX_REQUEST_BYTES:  # as the client sends it
            raise rules.request_too_large()  # the API refuses the request: no job is made
        job_id = f"job_{uuid.uuid4().hex}"
        params = dialect.parameters(job_config)
        tally = None if self._observing() else _Tally()
        if tally is not None:
            with self._lock:
                self.counts.jobs["query"] += 1
                self.sql.append(query)
        error: GoogleAPICallError | None = None
        rows: list[bigquery.Row] = []
        try:
            rows = self._script(query, params, job_id, tally)
        except GoogleAPICallError as refused:
            error = refused
        except duckdb.Error as refused:  # a statement BigQuery parses but the data refuses
            error = rules.invalid(f"{type(refused).__name__}: {refused}")
        if tally is not None:
            self._record(tally.record(failed=error is not None), error)
        return Job(job_id, [], error) if error is not None else Job(job_id, rows, None)

    def _record(self, job: JobRecord, error: GoogleAPICallError | None) -> None:
        with self._lock:
            self.jobs.append(job)
            if error is not None:
                self.errors.append(error)

    @contextlib.contextmanager
    def observing(self) -> Iterator[None]:
        """Jobs this thread runs inside are neither counted nor recorded: a test's or the
        bench's own reads, kept out of the figures of the code they watch."""
        self._local.observing = True
        try:
            yield
        finally:
            self._local.observing = False

    def _observing(self) -> bool:
        return bool(getattr(self._local, "observing", False))

    def _script(
        self, sql: str, params: Mapping[str, Any], job_id: str, tally: _Tally | None
    ) -> list[bigquery.Row]:
        """Run a job's statements on a cursor of its own, whose temporary tables DuckDB drops
        with it when the job ends."""
        statements = dialect.parse_script(sql)
        temporary = dialect.check_script(statements)
        statements = [dialect.bind(statement, params) for statement in statements]
        cur = self._cursor()
        in_transaction = False
        rows: list[bigquery.Row] = []
        try:
            temporary |= _parameter_tables(cur, params)
            for statement in statements:
                if isinstance(statement, exp.Transaction):
                    cur.execute("BEGIN TRANSACTION")
                    in_transaction = True
                elif isinstance(statement, exp.Commit | exp.Rollback):
                    if isinstance(statement, exp.Commit):
                        self._wait_if_held()
                    cur.execute("COMMIT" if isinstance(statement, exp.Commit) else "ROLLBACK")
                    in_transaction = False
                    self.activity.release(job_id)
                else:
                    rows = self._statement(cur, statement, job_id, in_transaction, tally, temporary)
            if in_transaction:  # a script ending inside a transaction rolls it back
                cur.execute("ROLLBACK")
                in_transaction = False
        except Exception:
            if in_transaction:
                cur.execute("ROLLBACK")
            raise
        finally:
            self.activity.release(job_id)
            cur.close()
        return rows

    def _statement(
        self, cur: duckdb.DuckDBPyConnection, statement: exp.Expression, job_id: str,
        in_transaction: bool, tally: _Tally | None, temporary: frozenset[str],
    ) -> list[bigquery.Row]:  # fmt: skip
        """Run one statement, estimated first (as the tables are when it starts); a mutating
        one under rules 1-4. `temporary`: the script's temporary tables."""
        creates = dialect.temporary_table(statement) is not None
        if not (dialect.is_query(statement) or isinstance(statement, dialect.DML) or creates):
            raise NotImplementedError(
                f"the BigQuery double runs queries, DML, temporary tables and transactions, "
                f"not {statement.key}"
            )
        stored = dialect.tables_in(statement, temporary)
        for table in stored:
            self.get_table(dialect.table_id(table, self.project))  # NotFound if absent
        written = dialect.written_table(statement)
        target = dialect.table_id(written, self.project) if written is not None else None
        if tally is not None:
            with self._lock:
                self.counts.statements[statement.key.upper()] += 1
                if target is not None:
                    self.counts.dml[target] += 1
                catalog = billing.Catalog(self.project, dict(self._tables))
            if self.estimates_bytes:
                tally.estimate += billing.estimate(cur, statement, catalog)
            tally.tables |= {dialect.table_id(t, self.project) for t in stored}
            tally.dml += target is not None
        sql = dialect.to_duckdb(statement)
        if creates:
            cur.execute(sql)
            return []
        if target is None:
            return _rows(cur.execute(sql))
        if not isinstance(statement, dialect.MUTATING):
            cur.execute(sql)  # INSERT: never conflicts, never queued
        elif in_transaction:
            self.activity.claim(target, job_id)
            self._mutate(cur, statement, sql, target)
        else:
            with self.activity.mutating(target):
                cur.execute("BEGIN TRANSACTION")
                try:
                    self._mutate(cur, statement, sql, target)
                except Exception:
                    cur.execute("ROLLBACK")
                    raise
                self._wait_if_held()
                cur.execute("COMMIT")
        return []

    def _mutate(
        self, cur: duckdb.DuckDBPyConnection, statement: exp.Expression, sql: str, target: str
    ) -> None:
        """Run a mutating statement inside the open transaction: rule 3 before, rule 4 after
        (the caller rolls back when either raises)."""
        if isinstance(statement, exp.Merge):
            _check_merge_sources(cur, statement)
        cur.execute(sql)
        if self.buffer.live(target):
            self.buffer.check_untouched(cur, tables.ref(target), target)

    # test hooks

    def hold_next_commit(self, timeout: float = 10.0) -> CommitHold:
        """Make the next transaction or mutating DML statement to reach its COMMIT wait there
        until released (or `timeout` seconds pass)."""
        hold = CommitHold(timeout)
        with self._lock:
            self._holds.append(hold)
        return hold

    def _wait_if_held(self) -> None:
        with self._lock:
            hold = self._holds.pop(0) if self._holds else None
        if hold is not None:
            hold.reached.set()
            hold.released.wait(hold.timeout)

    def close(self) -> None:
        """Like the real client's: later calls still work (tests read after a warehouse closed)."""

    # internals

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            return self._db.cursor()

    def _attach(self, project: str) -> None:
        if project not in self._catalogs:
            self._db.execute(f"ATTACH ':memory:' AS {tables.quoted(project)}")
            self._catalogs.add(project)

    def _require_dataset(self, table_id: str) -> None:
        dataset_id = table_id.rsplit(".", 1)[0]
        if dataset_id not in self._datasets:
            raise rules.dataset_not_found(dataset_id)


def _check_merge_sources(cur: duckdb.DuckDBPyConnection, merge: exp.Merge) -> None:
    """Rule 3: with a WHEN MATCHED clause, no target row may join two source rows.

    Checked on the join alone, before any WHEN condition: stricter than BigQuery if BigQuery
    only counts matches a clause acts on, never more lenient.
    """
    whens = merge.args["whens"].expressions
    if not any(when.args.get("matched") for when in whens):
        return
    target = merge.this
    alias = exp.to_identifier(target.alias_or_name).sql(dialect="duckdb")
    found = cur.execute(
        f"SELECT 1 FROM {target.sql(dialect='duckdb')} "
        f"JOIN {merge.args['using'].sql(dialect='duckdb')} ON {merge.args['on'].sql(dialect='duckdb')} "
        f"GROUP BY {alias}.rowid HAVING count(*) > 1 LIMIT 1"
    ).fetchone()
    if found:
        raise rules.merge_matches_many()


def _rows(result: duckdb.DuckDBPyConnection) -> list[bigquery.Row]:
    """DuckDB rows as the BigQuery client returns them: `Row`s, JSON parsed, timestamps in
    UTC, FLOAT64 as float."""
    description = result.description or []
    names = {column[0]: i for i, column in enumerate(description)}
    kinds = [str(column[1]) for column in description]
    return [
        bigquery.Row(tuple(_cell(v, kind) for v, kind in zip(values, kinds, strict=True)), names)
        for values in result.fetchall()
    ]


def _cell(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind == "JSON":
        return json.loads(value)
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC)
    if isinstance(value, decimal.Decimal):
        return float(value)
    return value


def _parameter_tables(cur: duckdb.DuckDBPyConnection, params: Mapping[str, Any]) -> frozenset[str]:
    """A temporary table per array-of-structs parameter (`dialect.bind` unnests it from there),
    filled from the values as the request carries them, each cast to its field's type."""
    names = set()
    for name, param in params.items():
        if not isinstance(param, dialect.StructRows):
            continue
        resource = param.resource
        fields = [(f["name"], tables.DUCKDB_TYPES[f["type"]["type"]])
                  for f in resource["parameterType"]["arrayType"]["structTypes"]]  # fmt: skip
        values = [{field: item["structValues"].get(field, {}).get("value") for field, _ in fields}
                  for item in resource["parameterValue"].get("arrayValues", [])]  # fmt: skip
        table = tables.quoted(dialect.parameter_table(name))
        columns = ", ".join(f"{tables.quoted(field)} {type_}" for field, type_ in fields)
        cur.execute(f"CREATE TEMP TABLE {table} ({columns})")
        if values:
            cast = ", ".join(f"CAST(r['{field}'] AS {type_})" for field, type_ in fields)
            cur.execute(
                f"INSERT INTO {table} SELECT {cast} FROM (SELECT UNNEST($1) AS r)", [values]
            )
        names.add(dialect.parameter_table(name))
    return frozenset(names)


def _table_id(table: Any, project: str) -> str:
    """`project.dataset.table` from a string (`p.d.t`, `p:d.t` or `d.t`) or a table object."""
    if isinstance(table, str):
        parts = table.replace(":", ".").split(".")
        return ".".join([project, *parts] if len(parts) == 2 else parts)
    return f"{table.project}.{table.dataset_id}.{table.table_id}"


def _dataset_id(dataset: Any, project: str) -> str:
    if isinstance(dataset, str):
        return dataset if "." in dataset else f"{project}.{dataset}"
    return f"{dataset.project}.{dataset.dataset_id}"
