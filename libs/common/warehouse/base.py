"""The warehouse interface: BigQuery in production, DuckDB embedded; callers see only this."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from libs.common.warehouse.schema import VERSION_COLUMNS, Table

Row = dict[str, Any]

TABLE_REF = re.compile(r"\{(nba_[a-z_]+)\.([a-z0-9_]+)\}")
"""SQL templates name tables as `{dataset.table}`; each warehouse renders its own reference."""


class TableNotFoundError(LookupError):
    """A query read a table that does not exist: no service that writes it has started yet.
    Each backend raises it for its own not-found error, so a caller can tell it apart."""


@dataclass(frozen=True)
class Capabilities:
    """What a backend guarantees beyond the interface, declared by the backend, so callers
    (open_warehouse, the contract suite) ask for a behaviour instead of naming a backend."""

    transactional_rebuild: bool
    """A rebuild's consecutive targets of one scope (the day's tables; the `onwards` ones)
    are all-or-nothing, one transaction. Otherwise each table is replaced atomically on its
    own, in order, and a build failing leaves the tables before it rebuilt (BigQuery:
    docs/bigquery.md, rule 1)."""
    sees_every_write: bool
    """One process makes every write the storage gets (DuckDB: one writing process per
    file), so a `CombiningWarehouse` in it knows every committed write."""
    counts_changed_rows: bool
    """`upsert` answers how many rows were new or different (0 for a file loaded again);
    otherwise how many rows it wrote."""
    combine_window_s: float = 0.0
    """How long a write waits for others to share its job. 0 where a write is cheap (DuckDB:
    writes that queue behind a running one are still combined). On BigQuery every job costs
    seconds, a DML slot per table and at least 10 MB billed per table it reads, so a write
    waits a fraction of a job's time, and then upserts into any tables, and rebuilds of any
    dates, that came in meanwhile go in one job (`CombiningWarehouse`)."""


@dataclass(frozen=True)
class RebuildTarget:
    """One table a rebuild replaces: the select giving its rows, and how far it reaches."""

    table: Table
    select_sql: str
    """A template with `{dataset.table}` references and `@name` parameters taken from the
    rebuild's `where`; it may read the tables rebuilt before it in the same call."""
    onwards: bool = False
    """Replace `where`'s partition and every later one: the table's rows read earlier
    partitions too (a rolling window), so a late load of one day refreshes the days after."""


class Warehouse(Protocol):
    """Operations the pipeline needs; every write is atomic."""

    @property
    def capabilities(self) -> Capabilities:
        """What this backend guarantees beyond the interface."""

    def ensure_tables(self, tables: Iterable[Table]) -> None:
        """Create datasets and tables that do not exist yet (never drops or alters data)."""

    def upsert(self, table: Table, rows: Sequence[Row]) -> int:
        """Replace the rows sharing a natural key with `rows`, in one transaction.

        Returns how many rows were new or different, so a redelivered file reports 0.
        """

    def upsert_many(self, table: Table, batches: Sequence[Sequence[Row]]) -> list[int]:
        """`upsert` of several batches whose natural keys do not overlap, in one transaction.

        Returns each batch's own count of new or different rows, in order.
        """

    def upsert_tables(
        self, writes: Sequence[tuple[Table, Sequence[Sequence[Row]]]]
    ) -> list[list[int]]:
        """`upsert_many` of several tables (each table at most once), in one job where the
        backend has jobs (BigQuery); each table's upsert is atomic on its own.

        Returns each table's per-batch counts, in order.
        """

    def replace(self, table: Table, where: Mapping[str, Any], rows: Sequence[Row]) -> None:
        """Atomically replace the rows matching `where` (column = value) with `rows`."""

    def append(self, table: Table, rows: Sequence[Row]) -> None:
        """Append log rows (execution log, decisions): no key, no replace."""

    def rebuild(self, targets: Sequence[RebuildTarget], where: Mapping[str, Any]) -> list[int]:
        """For each target in order, replace the rows of its table matching `where` (column =
        value; column >= value for an `onwards` target) with its select's rows; returns each
        table's row count written. One call per message, not one per scope: on BigQuery that is
        one script job. All-or-nothing per scope where `capabilities.transactional_rebuild`.
        """

    def rebuild_many(
        self, targets: Sequence[RebuildTarget], wheres: Sequence[Mapping[str, Any]]
    ) -> list[list[int]]:
        """`rebuild` for each of several `where`s (distinct, same columns), in one job where
        the backend has jobs (BigQuery); each target is rebuilt for every `where` before the
        next target. Returns each `where`'s counts, in order.
        """

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        """Run a read-only template query with `@name` parameters (`TableNotFoundError` when
        a table it reads does not exist)."""

    def close(self) -> None:
        """Flush and release the warehouse."""


def widest(wheres: Sequence[Mapping[str, Any]]) -> list[int]:
    """The `where`s an `onwards` rebuild must run for so every one is covered: the earliest
    alone when they all bound the same single column, else all of them."""
    columns = {tuple(where) for where in wheres}
    if len(columns) != 1 or len(next(iter(columns))) != 1:
        return list(range(len(wheres)))
    return [min(range(len(wheres)), key=lambda k: next(iter(wheres[k].values())))]


def last_row_per_key(table: Table, rows: Sequence[Row]) -> tuple[list[Row], int]:
    """`rows` with one row per natural key, the last one listed; and how many were dropped.

    One rule for both warehouses: DuckDB would store both rows, BigQuery's MERGE rejects a
    source with two rows for one target row. A file listing a key twice means the later
    listing corrects the earlier one, as a later file's row replaces an earlier file's.
    """
    kept, _ = unique_rows(table, [rows])
    return kept, len(rows) - len(kept)


def unique_rows(table: Table, batches: Sequence[Sequence[Row]]) -> tuple[list[Row], list[int]]:
    """The rows of `batches` with one per natural key, the last listed (a later batch wins, as
    if applied after), and the batch each kept row came from."""
    tagged = [(row, i) for i, batch in enumerate(batches) for row in batch]
    by_key = {tuple(row[k] for k in table.natural_key): (row, i) for row, i in tagged}
    return [row for row, _ in by_key.values()], [i for _, i in by_key.values()]


def newer_or_same(table: Table, new: str, old: str, quote: str) -> str:
    """SQL: the `new` row may replace the `old` row with its key (`VERSION_COLUMNS` order;
    an old row without a version, loaded before versions existed, is older than any)."""
    if not table.versioned:
        return "TRUE"
    at, file = (f"{quote}{c}{quote}" for c in VERSION_COLUMNS)
    return (
        f"({old}.{at} IS NULL OR {new}.{at} > {old}.{at} "
        f"OR ({new}.{at} = {old}.{at} AND {new}.{file} >= {old}.{file}))"
    )


LOAD, APPEND, REBUILD, REBUILD_ONWARDS = "upsert or replace", "append", "rebuild", "rebuild onwards"
"""The ways a table is written; each table is written one way only (`WriteKinds`)."""


class WriteKinds:
    """Which way each table is written, refusing a second way.

    On DuckDB the write locks of one way do not exclude another's; on BigQuery a table that is
    streamed to (append) must never take DML, which fails over rows streamed in the last 30
    minutes. A table written one way only cannot hit either.
    """

    def __init__(self) -> None:
        self._kinds: dict[str, str] = {}
        self._lock = threading.Lock()

    def claim(self, tables: Iterable[Table], kind: str) -> None:
        """Note `kind` for each table; ValueError if one was written another way."""
        with self._lock:
            for table in tables:
                if self._kinds.setdefault(table.fqn, kind) != kind:
                    raise ValueError(
                        f"{table.fqn} is written by {self._kinds[table.fqn]}; it cannot "
                        f"also be written by {kind} (a table is loaded, appended to or "
                        "rebuilt, one of these)"
                    )


def render_tables(sql: str, ref: Any) -> str:
    """Replace each `{dataset.table}` in `sql` with `ref(dataset, table)`."""
    return TABLE_REF.sub(lambda m: str(ref(m.group(1), m.group(2))), sql)
