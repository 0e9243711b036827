"""DuckDB warehouse: one file, one writing connection, writes serialised in-process."""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb

from libs.common.warehouse.base import Row, render_tables
from libs.common.warehouse.schema import ColumnType, Table

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


def ddl(table: Table) -> str:
    """CREATE TABLE statement for `table`."""
    columns = ", ".join(
        f'"{c.name}" {DUCKDB_TYPES[c.type]}{" NOT NULL" if c.required else ""}'
        for c in table.columns
    )
    return f'CREATE TABLE IF NOT EXISTS {table.dataset}."{table.name}" ({columns})'


def _cell(value: Any, type_: ColumnType) -> Any:
    """Python value to what DuckDB binds for the column type."""
    if value is None:
        return None
    if type_ == "JSON":
        return json.dumps(value, default=str)
    if type_ == "TIMESTAMP" and isinstance(value, str):
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value


class DuckDBWarehouse:
    """The embedded warehouse used by `make run` and the tests.

    DuckDB allows one writing process per file, so the local stack runs all services in
    one process sharing this object; a lock serialises write transactions (concurrent
    deletes of the same key would otherwise conflict).
    """

    def __init__(self, path: Path | str) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = duckdb.connect(str(path))
        self._write_lock = threading.Lock()
        self._local = threading.local()
        self._cursors: list[duckdb.DuckDBPyConnection] = []
        self._cursors_lock = threading.Lock()

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
        with self._write_lock:
            cur = self._cursor()
            for table in tables:
                cur.execute(f"CREATE SCHEMA IF NOT EXISTS {table.dataset}")
                cur.execute(ddl(table))

    def upsert(self, table: Table, rows: Sequence[Row]) -> int:
        return self.upsert_many(table, [rows])[0]

    def upsert_many(self, table: Table, batches: Sequence[Sequence[Row]]) -> list[int]:
        if not table.natural_key:
            raise ValueError(f"{table.fqn} has no natural key to upsert by")
        rows = [row for batch in batches for row in batch]
        if not rows:
            return [0] * len(batches)
        target = self._ref(table.dataset, table.name)
        keys = " AND ".join(f't."{k}" IS NOT DISTINCT FROM s."{k}"' for k in table.natural_key)
        compared = [c for c in table.column_names if c != "loaded_at"]
        same = " AND ".join(f't."{c}" IS NOT DISTINCT FROM s."{c}"' for c in compared)
        with self._write_lock:
            cur = self._cursor()
            cur.execute("BEGIN TRANSACTION")
            try:
                cur.execute(
                    f"CREATE OR REPLACE TEMP TABLE staging AS "
                    f"SELECT *, 0 AS {BATCH_COLUMN} FROM {target} LIMIT 0"
                )
                batch_of_row = [i for i, batch in enumerate(batches) for _ in batch]
                self._insert_into(cur, "staging", table, rows, batch_of_row)
                changed = cur.execute(
                    f"SELECT s.{BATCH_COLUMN}, count(*) FROM staging s WHERE NOT EXISTS "
                    f"(SELECT 1 FROM {target} t WHERE {same}) GROUP BY 1"
                ).fetchall()
                cur.execute(f"DELETE FROM {target} t USING staging s WHERE {keys}")
                cur.execute(f"INSERT INTO {target} SELECT * EXCLUDE ({BATCH_COLUMN}) FROM staging")
                cur.execute("DROP TABLE staging")
                cur.execute("COMMIT")
            except Exception:
                cur.execute("ROLLBACK")
                raise
        counts = [0] * len(batches)
        for batch, n in changed:
            counts[batch] = int(n)
        return counts

    def _insert_into(
        self,
        cur: duckdb.DuckDBPyConnection,
        target: str,
        table: Table,
        rows: Sequence[Row],
        batch_of_row: Sequence[int] | None = None,
    ) -> None:
        """One INSERT binding a list per column: binding one parameter per cell is ~15x slower.

        `batch_of_row` fills the staging table's batch column when given."""
        names = [f'"{n}"' for n in table.column_names]
        unnests = [
            f"unnest(${i}::{DUCKDB_TYPES[c.type]}[])" for i, c in enumerate(table.columns, 1)
        ]
        columns: list[list[Any]] = [
            [_cell(row.get(c.name), c.type) for row in rows] for c in table.columns
        ]
        if batch_of_row is not None:
            names.append(BATCH_COLUMN)
            unnests.append(f"unnest(${len(columns) + 1}::INTEGER[])")
            columns.append(list(batch_of_row))
        cur.execute(
            f"INSERT INTO {target} ({', '.join(names)}) SELECT {', '.join(unnests)}", columns
        )

    def append(self, table: Table, rows: Sequence[Row]) -> None:
        if not rows:
            return
        with self._write_lock:
            self._insert_into(self._cursor(), self._ref(table.dataset, table.name), table, rows)

    def replace(self, table: Table, where: Mapping[str, Any], rows: Sequence[Row]) -> None:
        target = self._ref(table.dataset, table.name)
        condition = " AND ".join(f'"{k}" = ${k}' for k in where) or "TRUE"
        with self._write_lock:
            cur = self._cursor()
            cur.execute("BEGIN TRANSACTION")
            try:
                cur.execute(f"DELETE FROM {target} WHERE {condition}", dict(where))
                if rows:
                    self._insert_into(cur, target, table, rows)
                cur.execute("COMMIT")
            except Exception:
                cur.execute("ROLLBACK")
                raise

    def rebuild(self, table: Table, where: Mapping[str, Any], select_sql: str) -> int:
        target = self._ref(table.dataset, table.name)
        condition = " AND ".join(f'"{k}" = ${k}' for k in where) or "TRUE"
        names = ", ".join(f'"{n}"' for n in table.column_names)
        with self._write_lock:
            cur = self._cursor()
            cur.execute("BEGIN TRANSACTION")
            try:
                cur.execute(f"DELETE FROM {target} WHERE {condition}", dict(where))
                written = cur.execute(
                    f"INSERT INTO {target} ({names}) {self._sql(select_sql)}", dict(where)
                ).fetchone()  # DuckDB answers an INSERT with its row count
                cur.execute("COMMIT")
            except Exception:
                cur.execute("ROLLBACK")
                raise
        return int(written[0]) if written else 0

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        cur = self._cursor()
        result = cur.execute(self._sql(sql), dict(params or {}))
        names = [d[0] for d in result.description or []]
        return [dict(zip(names, values, strict=True)) for values in result.fetchall()]

    def close(self) -> None:
        """Checkpoint (no .wal left to replay) and close every thread's cursor with the file."""
        with self._write_lock:
            self._conn.execute("CHECKPOINT")
            with self._cursors_lock:
                for cursor in self._cursors:
                    cursor.close()
                self._cursors.clear()
            self._conn.close()
