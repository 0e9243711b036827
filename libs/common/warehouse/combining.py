"""Concurrent writes that share their work, for any warehouse (flat combining).

Under load many pushes write at once: each raw load is a transaction (DuckDB has one writer;
BigQuery queues DML per table), and many analytics messages ask to rebuild the same table
for the same game date. `CombiningWarehouse` wraps a warehouse so that

- upserts into one table that wait at the same time are applied as one `upsert_many`
  transaction, each caller still getting its own changed-row count; batches whose natural keys
  overlap are never combined, so the result is the same as applying them one by one in order;
- a rebuild of (targets, partition) asked for while the same one runs is answered by the next
  single rebuild, which starts after the request and so reads every load committed before it;
- or, when this process makes every write the warehouse gets (DuckDB: one writing process
  per file), by the running one, if no table it reads had a write to that partition committed
  since it began: it then reads everything the request's caller loaded (`WriteClock`).

There is no background thread and no timer: the caller that gets the table's write turn does
the work for everyone queued behind it, so a lone write is applied at once, as before.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from libs.common.warehouse.base import TABLE_REF, Capabilities, RebuildTarget, Row, Warehouse
from libs.common.warehouse.schema import Table

log = logging.getLogger(__name__)

MAX_COMBINED_ROWS = 50_000
"""A combined upsert stops taking batches past this many rows (bounds one transaction)."""


@dataclass(eq=False)
class _Upsert:
    rows: Sequence[Row]
    keys: frozenset[tuple[Any, ...]]
    done: bool = False
    changed: int = 0
    error: BaseException | None = None


@dataclass(eq=False)
class _Rebuild:
    lock: threading.Lock = field(default_factory=threading.Lock)
    requested: int = 0
    covered: int = 0
    written: list[int] = field(default_factory=list)
    waiting: int = 0
    running: tuple[int, int] | None = None
    """(write clock when the running rebuild began, requests it covers)."""


class WriteClock:
    """The order of this process's committed writes, per table and partition.

    A transaction that begins after `now()` returned reads every write ticked at or before it,
    since a write ticks only once committed. Not thread-safe: the caller holds its lock.
    """

    def __init__(self) -> None:
        self._now = 0
        self._partition_column: dict[str, str | None] = {}
        self._partition: dict[tuple[str, str], int] = {}
        self._whole: dict[str, int] = {}
        """Writes to no known partition (a table without one, or rows without its value)."""
        self._any: dict[str, int] = {}

    def now(self) -> int:
        return self._now

    def tick(self, table: Table, partitions: Iterable[Any] | None) -> None:
        """Note a committed write to `table`: to these partition values, or None if unknown."""
        self._now += 1
        self._partition_column[table.fqn] = table.partition_column
        values = None if table.partition_column is None or partitions is None else set(partitions)
        if values is None or None in values:
            self._whole[table.fqn] = self._now
        else:
            for value in values:
                self._partition[(table.fqn, str(value))] = self._now
        self._any[table.fqn] = self._now

    def unchanged_since(self, tables: Iterable[str], where: Mapping[str, Any], since: int) -> bool:
        """Whether no write to `where`'s partition of these tables was ticked after `since`."""
        for fqn in tables:
            if fqn not in self._partition_column:
                continue  # never written by this process, so never written
            column = self._partition_column[fqn]
            if column is not None and column in where:
                value = str(where[column])
                last = max(self._partition.get((fqn, value), 0), self._whole.get(fqn, 0))
            else:
                last = self._any[fqn]
            if last > since:
                return False
        return True


@functools.cache
def tables_read(targets: tuple[RebuildTarget, ...]) -> frozenset[str]:
    """The tables a rebuild's targets read, other than the ones it writes itself; the same
    few rebuilds come back on every message, hence the cache."""
    named = {
        f"{m.group(1)}.{m.group(2)}" for t in targets for m in TABLE_REF.finditer(t.select_sql)
    }
    return frozenset(named - {t.table.fqn for t in targets})


def natural_keys(table: Table, rows: Sequence[Row]) -> frozenset[tuple[Any, ...]]:
    """The natural-key values of `rows`, to tell whether two batches touch the same rows."""
    return frozenset(tuple(row.get(k) for k in table.natural_key) for row in rows)


class CombiningWarehouse:
    """A `Warehouse` whose concurrent upserts and rebuilds share transactions."""

    def __init__(
        self,
        inner: Warehouse,
        max_combined_rows: int = MAX_COMBINED_ROWS,
        sees_every_write: bool = False,
    ) -> None:
        """`sees_every_write`: no other process writes to `inner` (then a running rebuild may
        answer requests that came after it began; see the module docstring)."""
        self.inner = inner
        self.max_combined_rows = max_combined_rows
        self.sees_every_write = sees_every_write
        self._clock = WriteClock()
        self._guard = threading.Lock()
        self._queues: dict[str, list[_Upsert]] = defaultdict(list)
        self._turns: dict[str, threading.Lock] = defaultdict(threading.Lock)
        self._rebuilds: dict[tuple[Any, ...], _Rebuild] = {}

    def upsert(self, table: Table, rows: Sequence[Row]) -> int:
        if not rows or not table.natural_key:
            return self.inner.upsert(table, rows)
        mine = _Upsert(rows, natural_keys(table, rows))
        with self._guard:
            self._queues[table.fqn].append(mine)
            turn = self._turns[table.fqn]
        with turn:
            while not mine.done:
                self._apply_next(table)
        if mine.error is not None:
            raise mine.error
        return mine.changed

    def _take(self, table: Table) -> list[_Upsert]:
        """The longest run at the queue's head with no key in common and a bounded size."""
        with self._guard:
            queue = self._queues[table.fqn]
            taken: list[_Upsert] = []
            keys: set[tuple[Any, ...]] = set()
            size = 0
            for item in queue:
                if taken and (item.keys & keys or size + len(item.rows) > self.max_combined_rows):
                    break
                taken.append(item)
                keys |= item.keys
                size += len(item.rows)
            del queue[: len(taken)]
        return taken

    def _apply_next(self, table: Table) -> None:
        """Apply the next combinable run; if it fails as a whole, each batch on its own."""
        taken = self._take(table)
        try:
            counts = self.inner.upsert_many(table, [item.rows for item in taken])
        except Exception as exc:
            if len(taken) == 1:
                taken[0].error = exc
            else:
                log.warning(
                    "combined upsert failed; applying its batches one by one",
                    extra={
                        "fields": {"table": table.fqn, "batches": len(taken), "error": str(exc)}
                    },
                )
                for item in taken:
                    try:
                        item.changed = self.inner.upsert(table, item.rows)
                    except Exception as own:
                        item.error = own
        else:
            for item, changed in zip(taken, counts, strict=True):
                item.changed = changed
        self._wrote(table, [row for item in taken if item.error is None for row in item.rows])
        for item in taken:
            item.done = True

    def _wrote(self, table: Table, rows: Sequence[Row]) -> None:
        """Tick the write clock for committed `rows` of `table` (their partition values)."""
        if not rows:
            return
        column = table.partition_column
        partitions = None if column is None else [row.get(column) for row in rows]
        with self._guard:
            self._clock.tick(table, partitions)

    def upsert_many(self, table: Table, batches: Sequence[Sequence[Row]]) -> list[int]:
        counts = self.inner.upsert_many(table, batches)
        self._wrote(table, [row for batch in batches for row in batch])
        return counts

    def rebuild(self, targets: Sequence[RebuildTarget], where: Mapping[str, Any]) -> list[int]:
        """Shared with an equal request: the same targets in the same order, the same `where`."""
        targets = tuple(targets)
        key = (targets, tuple(sorted(where.items())))
        with self._guard:
            state = self._rebuilds.setdefault(key, _Rebuild())
            state.requested += 1
            state.waiting += 1
            wanted = state.requested
            if (
                self.sees_every_write
                and state.running is not None
                and self._clock.unchanged_since(tables_read(targets), where, state.running[0])
            ):
                wanted = state.running[1]
        try:
            with state.lock:
                if state.covered >= wanted:
                    return state.written
                with self._guard:
                    covers = state.requested
                    state.running = (self._clock.now(), covers)
                try:
                    written = self.inner.rebuild(targets, where)
                finally:
                    with self._guard:
                        state.running = None
                for target in targets:  # onwards wrote later partitions too: count it as all
                    self._wrote(target.table, [{} if target.onwards else dict(where)])
                state.written, state.covered = written, covers
                return state.written
        finally:
            with self._guard:
                state.waiting -= 1
                if not state.waiting:
                    del self._rebuilds[key]

    @property
    def capabilities(self) -> Capabilities:
        return self.inner.capabilities

    def ensure_tables(self, tables: Iterable[Table]) -> None:
        self.inner.ensure_tables(tables)

    def replace(self, table: Table, where: Mapping[str, Any], rows: Sequence[Row]) -> None:
        self.inner.replace(table, where, rows)
        self._wrote(table, [dict(where), *rows])

    def append(self, table: Table, rows: Sequence[Row]) -> None:
        self.inner.append(table, rows)
        self._wrote(table, rows)

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        return self.inner.query(sql, params)

    def close(self) -> None:
        self.inner.close()
