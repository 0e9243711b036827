"""Concurrent writes that share their work, for any warehouse (flat combining).

Under load many pushes write at once: each raw load is a transaction (DuckDB has one writer;
BigQuery queues DML per table and every job costs seconds and billed bytes), and many
analytics messages ask to rebuild the same tables for one game date or several. A
`CombiningWarehouse` wraps a warehouse so that

- upserts into one table that wait at the same time are applied as one `upsert_many`
  transaction, each caller still getting its own changed-row count; batches whose natural keys
  overlap are never combined, so the result is the same as applying them one by one in order;
- rebuilds of the same targets asked for while one runs are answered by the next single
  `rebuild_many`, of every partition they asked for, which starts after the requests and so
  reads every load committed before them;
- or, when this process makes every write the warehouse gets (DuckDB: one writing process
  per file), by the running one, if it covers the request's partition and no table it reads
  had a write to that partition committed since it began (`WriteClock`).

There is no background thread and no timer: the caller that gets the turn does the work for
everyone queued behind it, so with no window a lone write is applied at once. With a window
(the backend's `combine_window_s`, BigQuery's 0.25 s) the caller first waits out the window
opened by the oldest write queued, upserts into every table share one queue, so the loads
of different raw tables that arrive together go in one `upsert_tables` script job, and
rebuilds of different targets share one too: every target asked for, merged in dependency
order, for every partition asked for, in one `rebuild_many` (docs/bigquery.md, rule 5).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from libs.common.warehouse.base import TABLE_REF, Capabilities, RebuildTarget, Row, Warehouse
from libs.common.warehouse.schema import Table

log = logging.getLogger(__name__)

MAX_COMBINED_ROWS = 50_000
"""A combined upsert stops taking batches past this many rows (bounds one transaction)."""
MAX_COMBINED_PARTITIONS = 16
"""A combined rebuild takes at most this many partitions (bounds one script's statements)."""


@dataclass(eq=False)
class _Upsert:
    table: Table
    rows: Sequence[Row]
    keys: frozenset[tuple[Any, ...]]
    queued_at: float
    done: bool = False
    changed: int = 0
    error: BaseException | None = None


@dataclass(eq=False)
class _Rebuild:
    """One caller's request: its targets and partition, and what the rebuild that covered it
    wrote to each of its targets."""

    targets: tuple[RebuildTarget, ...]
    where: tuple[tuple[str, Any], ...]
    queued_at: float
    done: bool = False
    written: list[int] = field(default_factory=list)
    error: BaseException | None = None


Asked = tuple[tuple[tuple[str, Any], ...], tuple[RebuildTarget, ...]]
"""What one rebuild request asks for: its partition and its targets."""


@dataclass(eq=False)
class _Running:
    """The rebuild being run: one call for every request it took."""

    began: int
    """The write clock when it began."""
    asked: list[Asked]
    """Each partition and list of targets it rebuilds for a request."""
    requests: list[_Rebuild]
    """Every request it answers: the ones it took, and those that joined it (`sees_every_write`)."""


@dataclass(eq=False)
class _Rebuilds:
    """The rebuilds of one list of targets (with a window: of any): whose turn it is, who
    waits, what runs."""

    turn: threading.Lock = field(default_factory=threading.Lock)
    pending: list[_Rebuild] = field(default_factory=list)
    running: _Running | None = None
    callers: int = 0


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


def merged_targets(lists: Sequence[tuple[RebuildTarget, ...]]) -> tuple[RebuildTarget, ...]:
    """Every target of several requests once, in an order that keeps each list's own (each
    lists its targets in dependency order, so the merge does too)."""
    remaining = [list(targets) for targets in lists]
    order: list[RebuildTarget] = []
    while any(remaining):
        head = next(
            (
                targets[0]
                for targets in remaining
                if targets and not any(targets[0] in other[1:] for other in remaining)
            ),
            None,
        )
        if head is None:
            raise ValueError("rebuild targets asked for in conflicting orders")
        order.append(head)
        for targets in remaining:
            if targets and targets[0] == head:
                targets.pop(0)
    return tuple(order)


def natural_keys(table: Table, rows: Sequence[Row]) -> frozenset[tuple[Any, ...]]:
    """The natural-key values of `rows`, to tell whether two batches touch the same rows."""
    return frozenset(tuple(row.get(k) for k in table.natural_key) for row in rows)


class CombiningWarehouse:
    """A `Warehouse` whose concurrent upserts and rebuilds share transactions or jobs."""

    def __init__(
        self,
        inner: Warehouse,
        max_combined_rows: int = MAX_COMBINED_ROWS,
        sees_every_write: bool = False,
        window_s: float | None = None,
    ) -> None:
        """`sees_every_write`: no other process writes to `inner` (then a running rebuild may
        answer requests that came after it began; see the module docstring). `window_s`: how
        long a write waits for others to share its job (default: the backend's
        `combine_window_s`); with a window, upserts into different tables share one too."""
        self.inner = inner
        self.max_combined_rows = max_combined_rows
        self.sees_every_write = sees_every_write
        self.window_s = inner.capabilities.combine_window_s if window_s is None else window_s
        self._clock = WriteClock()
        self._guard = threading.Lock()
        self._queues: dict[str, list[_Upsert]] = defaultdict(list)
        self._turns: dict[str, threading.Lock] = defaultdict(threading.Lock)
        self._rebuilds: dict[tuple[object, ...], _Rebuilds] = {}

    def _linger(self, queued_at: float) -> None:
        """Wait out the window opened by the oldest write waiting for this turn."""
        delay = queued_at + self.window_s - time.monotonic()
        if delay > 0:
            time.sleep(delay)

    def upsert(self, table: Table, rows: Sequence[Row]) -> int:
        if not rows or not table.natural_key:
            return self.inner.upsert(table, rows)
        mine = _Upsert(table, rows, natural_keys(table, rows), time.monotonic())
        queue = "*" if self.window_s > 0 else table.fqn
        with self._guard:
            self._queues[queue].append(mine)
            turn = self._turns[queue]
        with turn:
            while not mine.done:
                self._linger(self._queues[queue][0].queued_at)
                self._apply_next(queue)
        if mine.error is not None:
            raise mine.error
        return mine.changed

    def _take(self, queue: str) -> list[_Upsert]:
        """The longest run at the queue's head with no key in common within a table and a
        bounded size."""
        with self._guard:
            waiting = self._queues[queue]
            taken: list[_Upsert] = []
            keys: dict[str, set[tuple[Any, ...]]] = defaultdict(set)
            size = 0
            for item in waiting:
                table_keys = keys[item.table.fqn]
                if taken and (
                    item.keys & table_keys or size + len(item.rows) > self.max_combined_rows
                ):
                    break
                taken.append(item)
                table_keys |= item.keys
                size += len(item.rows)
            del waiting[: len(taken)]
        return taken

    def _apply_next(self, queue: str) -> None:
        """Apply the next combinable run; if it fails as a whole, each batch on its own."""
        taken = self._take(queue)
        tables: dict[str, list[_Upsert]] = defaultdict(list)
        for item in taken:
            tables[item.table.fqn].append(item)
        writes = [(items[0].table, [item.rows for item in items]) for items in tables.values()]
        try:
            counts = self.inner.upsert_tables(writes)
        except Exception as exc:
            if len(taken) == 1:
                taken[0].error = exc
            else:
                log.warning(
                    "combined upsert failed; applying its batches one by one",
                    extra={"fields": {"tables": list(tables), "batches": len(taken),
                                      "error": str(exc)}},
                )  # fmt: skip
                for item in taken:
                    try:
                        item.changed = self.inner.upsert(item.table, item.rows)
                    except Exception as own:
                        item.error = own
        else:
            for items, table_counts in zip(tables.values(), counts, strict=True):
                for item, changed in zip(items, table_counts, strict=True):
                    item.changed = changed
        for items in tables.values():
            committed = [row for item in items if item.error is None for row in item.rows]
            self._wrote(items[0].table, committed)
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
        return self.upsert_tables([(table, batches)])[0]

    def upsert_tables(
        self, writes: Sequence[tuple[Table, Sequence[Sequence[Row]]]]
    ) -> list[list[int]]:
        counts = self.inner.upsert_tables(writes)
        for table, batches in writes:
            self._wrote(table, [row for batch in batches for row in batch])
        return counts

    def rebuild(self, targets: Sequence[RebuildTarget], where: Mapping[str, Any]) -> list[int]:
        """Shared with the requests for the same targets in the same order (with a window: for
        any targets) of any partition when they wait together (one `rebuild_many`), or
        answered by the running one."""
        mine = _Rebuild(tuple(targets), tuple(sorted(where.items())), time.monotonic())
        key: tuple[object, ...] = ("*",) if self.window_s > 0 else mine.targets
        with self._guard:
            state = self._rebuilds.setdefault(key, _Rebuilds())
            state.callers += 1
            running = state.running
            if (
                self.sees_every_write
                and running is not None
                and (mine.where, mine.targets) in running.asked
                and self._clock.unchanged_since(tables_read(mine.targets), where, running.began)
            ):
                running.requests.append(mine)
            else:
                state.pending.append(mine)
        try:
            with state.turn:
                while not mine.done:
                    self._linger(state.pending[0].queued_at)
                    self._rebuild_next(state)
        finally:
            with self._guard:
                state.callers -= 1
                if not state.callers:
                    del self._rebuilds[key]
        if mine.error is not None:
            raise mine.error
        return mine.written

    def _rebuild_next(self, state: _Rebuilds) -> None:
        """Rebuild every target and partition asked for so far (up to
        `MAX_COMBINED_PARTITIONS`) in one call; if it fails as a whole, what each request asked
        for on its own, so only a request whose own rebuild fails gets an error. Every
        partition gets every target asked for: more work than each request needs, still one
        job, and a rebuild gives the same rows whoever asks."""
        with self._guard:
            wheres = list(dict.fromkeys(request.where for request in state.pending))
            wheres = wheres[:MAX_COMBINED_PARTITIONS]
            taken = [request for request in state.pending if request.where in wheres]
            state.pending = [request for request in state.pending if request.where not in wheres]
            targets = merged_targets([request.targets for request in taken])
            asked = list(dict.fromkeys((request.where, request.targets) for request in taken))
            running = state.running = _Running(self._clock.now(), asked, taken)
        written: dict[Asked, list[int] | BaseException] = {}
        rebuilt: list[Asked] = []  # for the write clock: a combined call wrote every target
        try:
            results = self.inner.rebuild_many(targets, [dict(where) for where in wheres])
            by_where = dict(zip(wheres, results, strict=True))
            for where, own in asked:
                written[(where, own)] = [by_where[where][targets.index(t)] for t in own]
            rebuilt = [(where, targets) for where in wheres]
        except Exception as exc:
            if len(asked) == 1:
                written[asked[0]] = exc
            else:
                log.warning(
                    "combined rebuild failed; rebuilding what each request asked for alone",
                    extra={"fields": {"requests": len(asked), "error": str(exc)}},
                )
                for where, own in asked:
                    try:
                        written[(where, own)] = self.inner.rebuild(own, dict(where))
                    except Exception as error:
                        written[(where, own)] = error
            rebuilt = [key for key, result in written.items() if isinstance(result, list)]
        for where, done in rebuilt:
            for target in done:  # onwards wrote later partitions too: count it as all
                self._wrote(target.table, [{} if target.onwards else dict(where)])
        with self._guard:
            for request in running.requests:
                result = written[(request.where, request.targets)]
                if isinstance(result, BaseException):
                    request.error = result
                else:
                    request.written = result
                request.done = True
            state.running = None

    def rebuild_many(
        self, targets: Sequence[RebuildTarget], wheres: Sequence[Mapping[str, Any]]
    ) -> list[list[int]]:
        return [self.rebuild(targets, where) for where in wheres]

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
