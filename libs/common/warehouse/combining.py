"""Concurrent writes that share their work, for any warehouse (flat combining).

Under load many pushes write at once: each raw load is a transaction (DuckDB has one writer;
BigQuery queues DML per table), and many analytics messages ask to rebuild the same table
for the same game date. `CombiningWarehouse` wraps a warehouse so that

- upserts into one table that wait at the same time are applied as one `upsert_many`
  transaction, each caller still getting its own changed-row count; batches whose natural keys
  overlap are never combined, so the result is the same as applying them one by one in order;
- a rebuild of (tables, partition) asked for while the same one runs is answered by the next
  single rebuild, which starts after the request and so reads every load committed before it.

There is no background thread and no timer: the caller that gets the table's write turn does
the work for everyone queued behind it, so a lone write is applied at once, as before.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from libs.common.warehouse.base import Row, Warehouse
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


def natural_keys(table: Table, rows: Sequence[Row]) -> frozenset[tuple[Any, ...]]:
    """The natural-key values of `rows`, to tell whether two batches touch the same rows."""
    return frozenset(tuple(row.get(k) for k in table.natural_key) for row in rows)


class CombiningWarehouse:
    """A `Warehouse` whose concurrent upserts and rebuilds share transactions."""

    def __init__(self, inner: Warehouse, max_combined_rows: int = MAX_COMBINED_ROWS) -> None:
        self.inner = inner
        self.max_combined_rows = max_combined_rows
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
        for item in taken:
            item.done = True

    def upsert_many(self, table: Table, batches: Sequence[Sequence[Row]]) -> list[int]:
        return self.inner.upsert_many(table, batches)

    def rebuild(self, targets: Sequence[tuple[Table, str]], where: Mapping[str, Any]) -> list[int]:
        key = (tuple((table.fqn, sql) for table, sql in targets), tuple(sorted(where.items())))
        with self._guard:
            state = self._rebuilds.setdefault(key, _Rebuild())
            state.requested += 1
            state.waiting += 1
            wanted = state.requested
        try:
            with state.lock:
                if state.covered >= wanted:
                    return state.written
                with self._guard:
                    covers = state.requested
                state.written = self.inner.rebuild(targets, where)
                state.covered = covers
                return state.written
        finally:
            with self._guard:
                state.waiting -= 1
                if not state.waiting:
                    del self._rebuilds[key]

    def ensure_tables(self, tables: Iterable[Table]) -> None:
        self.inner.ensure_tables(tables)

    def replace(self, table: Table, where: Mapping[str, Any], rows: Sequence[Row]) -> None:
        self.inner.replace(table, where, rows)

    def append(self, table: Table, rows: Sequence[Row]) -> None:
        self.inner.append(table, rows)

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        return self.inner.query(sql, params)

    def close(self) -> None:
        self.inner.close()
