"""DuckDB warehouse: one file, one writing connection, writes serialised in-process."""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import json
import re
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb

from libs.common.warehouse.base import (
    APPEND,
    LOAD,
    REBUILD,
    REBUILD_ONWARDS,
    Capabilities,
    RebuildTarget,
    Row,
    TableNotFoundError,
    WriteKinds,
    newer_or_same,
    render_tables,
    unique_rows,
    widest,
)
from libs.common.warehouse.duckdb.config import DuckDBConfig
from libs.common.warehouse.schema import ColumnType, Table, added_columns

DUCKDB_TYPES: dict[ColumnType, str] = {
    "STRING": "VARCHAR",
    "INT64": "BIGINT",
    "FLOAT64": "DOUBLE",
    "BOOL": "BOOLEAN",
    "DATE": "DATE",
    "TIMESTAMP": "TIMESTAMPTZ",
    "JSON": "JSON",
}

BATCH_COLUMN = "_batch"
"""Staging-only column saying which batch of an `upsert_many` a row came from."""


PARAM = re.compile(r"@([a-zA-Z_][a-zA-Z0-9_]*)")


class WarehouseClosedError(RuntimeError):
    """A call reached the warehouse after `close` began."""


def ddl(table: Table) -> str:
    """CREATE TABLE statement for `table`."""
    columns = ", ".join(
        f'"{c.name}" {DUCKDB_TYPES[c.type]}{" NOT NULL" if c.required else ""}'
        for c in table.columns
    )
    return f'CREATE TABLE IF NOT EXISTS {table.dataset}."{table.name}" ({columns})'


def _with_json(value: tuple[Any, ...], json_columns: Sequence[int]) -> tuple[Any, ...]:
    """A row tuple with its JSON columns serialised (None stays NULL)."""
    cells = list(value)
    for i in json_columns:
        if cells[i] is not None:
            cells[i] = json.dumps(cells[i], default=str)
    return tuple(cells)


def _literal(value: Any) -> str:
    """A partition value as a SQL literal, for EXECUTE (dates and integers only, so nothing
    a caller passes can be read as SQL)."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise TypeError(
        f"rebuild partitions are dates or integers, not {type(value).__name__} ({value!r})"
    )


def _condition(where: Mapping[str, Any], op: str = "=") -> str:
    """`where` (column `op` value) as SQL with `$column` parameters."""
    return " AND ".join(f'"{k}" {op} ${k}' for k in where) or "TRUE"


class DuckDBWarehouse:
    """The embedded warehouse used by `make run` and the tests.

    DuckDB allows one writing process per file, so the local stack runs all services in
    one process sharing this object; loads of one table, and rebuilds of one table and
    partition, are serialised, appends are not (see `_writing`).
    """

    capabilities = Capabilities(
        transactional_rebuild=True, sees_every_write=True, counts_changed_rows=True
    )
    """A rebuild is one transaction; DuckDB locks its file to one writing process."""

    def __init__(self, config: DuckDBConfig | Path | str) -> None:
        """`config`, or a path alone for `DuckDBConfig(path)`."""
        self.config = config if isinstance(config, DuckDBConfig) else DuckDBConfig(config)
        if str(self.config.path) != ":memory:":
            Path(self.config.path).parent.mkdir(parents=True, exist_ok=True)
        self._path = str(self.config.path)
        self._conn = duckdb.connect(self._path, config={"threads": self.config.threads})
        self._write_lock = threading.Lock()
        self._locks: dict[str, threading.Lock] = defaultdict(threading.Lock)
        self._kinds = WriteKinds()
        self._local = threading.local()
        self._cursors: list[duckdb.DuckDBPyConnection] = []
        self._cursors_lock = threading.Lock()
        self._idle = threading.Condition()
        self._in_flight = 0
        self._closed = False

    @contextlib.contextmanager
    def _writing(
        self, tables: Sequence[Table], kind: str, where: Mapping[str, Any] | None = None
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """Hold the write locks `kind` needs on `tables`, in a fixed order.

        DuckDB runs the transactions of one process concurrently and fails one of two that
        delete the same row. So loads (upsert, replace) serialise per table, rebuilds per
        table and `where` partition, and appends (which delete nothing) take no lock;
        everything else runs in parallel (a raw load beside the rebuilds of two game dates),
        DuckDB releasing the GIL meanwhile. A table is written one way only, or the kinds of
        lock would not exclude each other.
        """
        partition = repr(sorted(where.items())) if where is not None else ""
        self._kinds.claim(tables, kind)
        with self._write_lock:
            names = {f"{t.fqn}{partition}" for t in tables} if kind != APPEND else set()
            locks = [self._locks[name] for name in sorted(names)]
        with contextlib.ExitStack() as held:
            for lock in locks:
                held.enter_context(lock)
            yield held.enter_context(self._using())

    @contextlib.contextmanager
    def _transaction(
        self, tables: Sequence[Table], kind: str, where: Mapping[str, Any] | None = None
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """`_writing` inside one transaction: committed if the block returns, else rolled back."""
        with self._writing(tables, kind, where) as cur:
            cur.execute("BEGIN TRANSACTION")
            try:
                yield cur
                cur.execute("COMMIT")
            except Exception:
                cur.execute("ROLLBACK")
                self._local.staged = set()  # the rollback dropped staging tables it created
                raise

    @contextlib.contextmanager
    def _using(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """This thread's cursor, counted in flight until the block ends, so `close` can wait
        for it: a thread still inside DuckDB when Python exits aborts the whole process."""
        with self._idle:
            if self._closed:
                raise WarehouseClosedError(
                    f"the DuckDB warehouse {self._path} is closed; this call came after "
                    "close() (stop the services before closing their warehouse)"
                )
            self._in_flight += 1
        try:
            yield self._cursor()
        finally:
            with self._idle:
                self._in_flight -= 1
                self._idle.notify_all()

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        cursor: duckdb.DuckDBPyConnection | None = getattr(self._local, "cursor", None)
        if cursor is None:
            cursor = self._conn.cursor()
            self._local.cursor = cursor
            with self._cursors_lock:
                self._cursors.append(cursor)
        return cursor

    @staticmethod
    def _ref(dataset: str, table: str) -> str:
        return f'{dataset}."{table}"'

    def _sql(self, template: str) -> str:
        return PARAM.sub(r"$\1", render_tables(template, self._ref))

    def ensure_tables(self, tables: Iterable[Table]) -> None:
        with self._write_lock, self._using() as cur:
            for table in tables:
                cur.execute(f"CREATE SCHEMA IF NOT EXISTS {table.dataset}")
                cur.execute(ddl(table))
                present = {
                    name
                    for (name,) in cur.execute(
                        "SELECT column_name FROM information_schema.columns "
                        "WHERE table_schema = ? AND table_name = ?",
                        [table.dataset, table.name],
                    ).fetchall()
                }
                for column in added_columns(table, present):
                    cur.execute(
                        f'ALTER TABLE {self._ref(table.dataset, table.name)} ADD COLUMN "{column.name}" '
                        f"{DUCKDB_TYPES[column.type]}"
                    )

    def upsert(self, table: Table, rows: Sequence[Row]) -> int:
        return self.upsert_many(table, [rows])[0]

    def upsert_many(self, table: Table, batches: Sequence[Sequence[Row]]) -> list[int]:
        if not table.natural_key:
            raise ValueError(f"{table.fqn} has no natural key to upsert by")
        rows, batch_of_row = unique_rows(table, batches)
        if not rows:
            return [0] * len(batches)
        target = self._ref(table.dataset, table.name)
        # Natural keys are NOT NULL (schema.py), so `=` joins: a hash join on IS NOT DISTINCT
        # FROM, or on every column, costs 2-3x more.
        keys = " AND ".join(f't."{k}" = s."{k}"' for k in table.natural_key)
        differs = " OR ".join(
            f't."{c}" IS DISTINCT FROM s."{c}"'
            for c in table.column_names
            if c not in table.natural_key and c != "loaded_at"
        )
        newer = newer_or_same(table, "s", "t", '"')
        replaces = f"{newer} AND ({differs or 'FALSE'})"
        first_key = table.natural_key[0]
        with self._transaction([table], LOAD) as cur:
            staging = self._staging(cur, table)
            self._insert_into(cur, staging, table, rows, batch_of_row)
            per_batch = None
            if len(batches) > 1:  # a combined upsert: each batch's own count, before writing
                per_batch = cur.execute(
                    f"SELECT s.{BATCH_COLUMN}, count(*) FROM {staging} s LEFT JOIN {target} t "
                    f'ON {keys} WHERE t."{first_key}" IS NULL OR ({replaces}) GROUP BY 1'
                ).fetchall()
            # Rows kept as they are (identical, or from an older file) are not rewritten: the
            # replaced ones are deleted, then every staged row whose key is gone goes in.
            cur.execute(f"DELETE FROM {target} t USING {staging} s WHERE {keys} AND {replaces}")
            written = cur.execute(
                f"INSERT INTO {target} SELECT * EXCLUDE ({BATCH_COLUMN}) FROM {staging} s "
                f"WHERE NOT EXISTS (SELECT 1 FROM {target} t WHERE {keys})"
            ).fetchone()  # DuckDB answers an INSERT with its row count: new or replaced rows
            cur.execute(f"TRUNCATE {staging}")
        if per_batch is None:
            return [int(written[0]) if written else 0]
        counts = [0] * len(batches)
        for batch, n in per_batch:
            counts[batch] = int(n)
        return counts

    def upsert_tables(
        self, writes: Sequence[tuple[Table, Sequence[Sequence[Row]]]]
    ) -> list[list[int]]:
        """One transaction per table: a DuckDB write has no job to share."""
        return [self.upsert_many(table, batches) for table, batches in writes]

    def _staging(self, cur: duckdb.DuckDBPyConnection, table: Table) -> str:
        """This thread's empty staging table for `table`, created on first use.

        Temp tables belong to one cursor, and every upsert leaves its staging table empty, so
        it is reused instead of created and dropped per upsert (two statements fewer).
        """
        name = f"staging_{table.dataset}_{table.name}"
        staged: set[str] = self._local.__dict__.setdefault("staged", set())
        if name not in staged:
            cur.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {name} AS "
                f"SELECT *, 0 AS {BATCH_COLUMN} FROM {self._ref(table.dataset, table.name)} LIMIT 0"
            )
            staged.add(name)
        return name

    def _insert_into(
        self,
        cur: duckdb.DuckDBPyConnection,
        target: str,
        table: Table,
        rows: Sequence[Row],
        batch_of_row: Sequence[int] | None = None,
    ) -> None:
        """Rows through DuckDB's appender, inside the caller's transaction: about 2x faster
        than binding a list per column and 20x faster than a parameter per cell. One row (an
        audit row, every push writes two) goes in as a plain INSERT, which skips creating an
        appender: 0.8 ms of CPU instead of 1.3.

        `batch_of_row` fills the staging table's batch column when given."""
        names = list(table.column_names)
        values = [tuple(map(row.get, names)) for row in rows]  # the appender casts ISO strings
        json_columns = [i for i, c in enumerate(table.columns) if c.type == "JSON"]
        if json_columns:
            values = [_with_json(value, json_columns) for value in values]
        if batch_of_row is not None:
            names.append(BATCH_COLUMN)
            values = [(*value, batch) for value, batch in zip(values, batch_of_row, strict=True)]
        if len(values) == 1:
            columns = ", ".join(f'"{name}"' for name in names)
            cur.execute(
                f"INSERT INTO {target} ({columns}) VALUES ({', '.join('?' * len(names))})",
                values[0],
            )
            return
        appender = cur.appender(target, columns=names)
        appender.append_rows(values)
        appender.flush()

    def append(self, table: Table, rows: Sequence[Row]) -> None:
        if not rows:
            return
        with self._writing([table], APPEND) as cur:
            self._insert_into(cur, self._ref(table.dataset, table.name), table, rows)

    def replace(self, table: Table, where: Mapping[str, Any], rows: Sequence[Row]) -> None:
        target = self._ref(table.dataset, table.name)
        with self._transaction([table], LOAD) as cur:
            cur.execute(f"DELETE FROM {target} WHERE {_condition(where)}", dict(where))
            if rows:
                self._insert_into(cur, target, table, rows)

    def rebuild(self, targets: Sequence[RebuildTarget], where: Mapping[str, Any]) -> list[int]:
        """Each run of consecutive targets of one scope is one transaction: the day's tables
        under per-partition locks, then the `onwards` ones under whole-table locks (they delete
        from every later partition). Two transactions rather than one, so the day's tables of
        other dates are rebuilt while an onwards one holds its table."""
        written: list[int] = []
        for onwards, run in itertools.groupby(targets, key=lambda target: target.onwards):
            written += self._rebuild_scope(list(run), where, onwards)
        return written

    def rebuild_many(
        self, targets: Sequence[RebuildTarget], wheres: Sequence[Mapping[str, Any]]
    ) -> list[list[int]]:
        """Scope by scope, as `rebuild`: the day's tables for every `where`, then an onwards
        run once from the widest `where`, the others' rows counted after it."""
        written: list[list[int]] = [[] for _ in wheres]
        for onwards, scope in itertools.groupby(targets, key=lambda target: target.onwards):
            run = list(scope)
            reach = widest(wheres) if onwards else range(len(wheres))
            for k in reach:
                written[k] += self._rebuild_scope(run, wheres[k], onwards)
            for k in set(range(len(wheres))) - set(reach):
                written[k] += [self._count(target.table, wheres[k], ">=") for target in run]
        return written

    def _count(self, table: Table, where: Mapping[str, Any], op: str) -> int:
        """Rows of `table` matching `where` (column `op` value)."""
        with self._using() as cur:
            sql = f"SELECT count(*) FROM {self._ref(table.dataset, table.name)} WHERE {_condition(where, op)}"
            found = cur.execute(sql, dict(where)).fetchone()
        return int(found[0]) if found else 0

    def _rebuild_scope(
        self, targets: Sequence[RebuildTarget], where: Mapping[str, Any], onwards: bool
    ) -> list[int]:
        written: list[int] = []
        kind, partition = (REBUILD_ONWARDS, None) if onwards else (REBUILD, where)
        condition = _condition(where, ">=" if onwards else "=")
        with self._transaction([t.table for t in targets], kind, partition) as cur:
            for target in targets:
                table = self._ref(target.table.dataset, target.table.name)
                names = ", ".join(f'"{n}"' for n in target.table.column_names)
                self._execute_prepared(cur, f"DELETE FROM {table} WHERE {condition}", where)
                count = self._execute_prepared(
                    cur, f"INSERT INTO {table} ({names}) {self._sql(target.select_sql)}", where
                ).fetchone()  # DuckDB answers an INSERT with its row count
                written.append(int(count[0]) if count else 0)
        return written

    def _execute_prepared(
        self, cur: duckdb.DuckDBPyConnection, sql: str, params: Mapping[str, Any]
    ) -> duckdb.DuckDBPyConnection:
        """Run `sql` through a statement this thread's cursor prepared once. DuckDB still
        re-plans a statement that scans a table on every EXECUTE, but skips parsing it:
        15-25% off each rebuild query. DuckDB's EXECUTE takes literals only, hence `_literal`."""
        prepared: dict[str, str] = self._local.__dict__.setdefault("prepared", {})
        name = prepared.get(sql)
        if name is None:
            name = f"prepared_{len(prepared)}"
            cur.execute(f"PREPARE {name} AS {sql}")
            prepared[sql] = name  # only once prepared: a failed PREPARE is tried again next time
        arguments = ", ".join(f"{key} := {_literal(value)}" for key, value in params.items())
        return cur.execute(f"EXECUTE {name}({arguments})")

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        with self._using() as cur:
            try:
                result = cur.execute(self._sql(sql), dict(params or {}))
            except duckdb.CatalogException as exc:
                if "does not exist" in str(exc):
                    raise TableNotFoundError(str(exc)) from exc
                raise
            names = [d[0] for d in result.description or []]
            return [dict(zip(names, values, strict=True)) for values in result.fetchall()]

    def close(self, wait_seconds: float | None = None) -> None:
        """Refuse new calls, let those in flight finish (interrupted after `wait_seconds`,
        by default `config.close_wait_seconds`), then checkpoint (no .wal left to replay) and
        close every cursor with the file. Closing again does nothing."""
        if wait_seconds is None:
            wait_seconds = self.config.close_wait_seconds
        with self._idle:
            if self._closed:
                return
            self._closed = True
            if not self._idle.wait_for(lambda: self._in_flight == 0, wait_seconds):
                with self._cursors_lock:
                    for cursor in self._cursors:
                        cursor.interrupt()
                self._idle.wait_for(lambda: self._in_flight == 0, wait_seconds)
        with self._write_lock:
            self._conn.execute("CHECKPOINT")
            with self._cursors_lock:
                for cursor in self._cursors:
                    cursor.close()
                self._cursors.clear()
            # Each thread's cursor is freed now, while the interpreter runs: a worker thread
            # still idle at exit would otherwise free it during finalization, where duckdb's
            # connection destructor can abort the process (duckdb/duckdb#13904).
            self._local = threading.local()
            self._conn.close()
