"""Who is mutating each table right now: BigQuery's rules 1 and 2 (see `rules`).

A transaction that mutates a table claims it until it ends; another transaction mutating the
same table meanwhile is aborted (the later one). Mutating DML outside a transaction waits
instead: up to `MUTATING_DML_RUNNING` run per table, up to `MUTATING_DML_QUEUE` more wait,
and the next one fails.
"""

from __future__ import annotations

import contextlib
import threading
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

from tests.utils.bigquery_double import rules


@dataclass
class _Activity:
    transaction: str | None = None
    """The transaction that mutated the table and has not ended."""
    running: int = 0
    pending: int = 0


class TableActivity:
    """Claims and queues per table id, shared by every thread using one double."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._tables: dict[str, _Activity] = defaultdict(_Activity)
        self._writers: dict[str, threading.Lock] = defaultdict(threading.Lock)

    def claim(self, table_id: str, transaction_id: str) -> None:
        """Rule 1: `transaction_id` mutates `table_id`; aborted if another job mutates it."""
        with self._changed:
            activity = self._tables[table_id]
            if activity.transaction == transaction_id:
                return
            if activity.transaction is not None or activity.running:
                raise rules.concurrent_update(table_id, transaction_id)
            activity.transaction = transaction_id

    def release(self, transaction_id: str) -> None:
        """The transaction ended (committed or rolled back): its tables are free."""
        with self._changed:
            for activity in self._tables.values():
                if activity.transaction == transaction_id:
                    activity.transaction = None
            self._changed.notify_all()

    @contextlib.contextmanager
    def mutating(self, table_id: str) -> Iterator[None]:
        """Rule 2: run one mutating DML statement outside a transaction, queued behind the
        table's running statements and any transaction mutating it."""
        with self._changed:
            activity = self._tables[table_id]

            def may_run() -> bool:
                return (
                    activity.transaction is None and activity.running < rules.MUTATING_DML_RUNNING
                )

            if not may_run():
                if activity.pending >= rules.MUTATING_DML_QUEUE:
                    raise rules.too_many_dml(table_id)
                activity.pending += 1
                self._changed.notify_all()
                try:
                    self._changed.wait_for(may_run)
                finally:
                    activity.pending -= 1
            activity.running += 1
            self._changed.notify_all()
        try:
            # DuckDB fails one of two statements changing the same rows at once, where
            # BigQuery reruns it ("DML statement conflicts"), so the two take turns here.
            with self.writing(table_id):
                yield
        finally:
            with self._changed:
                activity.running -= 1
                self._changed.notify_all()

    def writing(self, table_id: str) -> threading.Lock:
        """The lock DuckDB writes that may touch the same rows of `table_id` take in turn."""
        with self._changed:
            return self._writers[table_id]

    def pending(self, table_id: str) -> int:
        """Mutating DML statements waiting for `table_id`."""
        with self._changed:
            return self._tables[table_id].pending

    def wait_for_pending(self, table_id: str, count: int, timeout: float) -> bool:
        """Wait until `count` statements wait for `table_id` (False after `timeout` seconds)."""
        with self._changed:
            return self._changed.wait_for(lambda: self._tables[table_id].pending >= count, timeout)

    def busy(self) -> int:
        """Mutating DML statements running or waiting, over every table."""
        with self._changed:
            return sum(a.running + a.pending for a in self._tables.values())

    def wait_until_busy(self, count: int, timeout: float) -> bool:
        """Wait until `count` mutating statements run or wait (False after `timeout`)."""
        with self._changed:
            return self._changed.wait_for(lambda: self.busy() >= count, timeout)
