"""Rule 4 (see `rules`): rows streamed with insertAll are out of reach of DML for 30 minutes
of the double's clock, which a test advances instead of waiting."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter, defaultdict
from typing import Any

import duckdb

from tests.utils.bigquery_double import rules

EPOCH = dt.datetime(2025, 2, 21, 12, tzinfo=dt.UTC)


class Clock:
    """The double's time: fixed until a test advances it."""

    def __init__(self, start: dt.datetime = EPOCH) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> dt.datetime:
        with self._lock:
            return self._now

    def advance(self, delta: dt.timedelta | None = None, **parts: float) -> dt.datetime:
        """Move time on by `delta` (or `timedelta(**parts)`); returns the new time."""
        with self._lock:
            self._now += delta if delta is not None else dt.timedelta(**parts)
            return self._now


class StreamingBuffer:
    """The rows each table was streamed, as stored, with the clock time they arrived."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._rows: dict[str, list[tuple[dt.datetime, dict[str, Any]]]] = defaultdict(list)
        self._lock = threading.Lock()

    def add(self, table_id: str, rows: list[dict[str, Any]]) -> None:
        at = self.clock.now()
        with self._lock:
            self._rows[table_id].extend((at, row) for row in rows)

    def live(self, table_id: str) -> list[dict[str, Any]]:
        """Rows streamed into `table_id` less than 30 minutes ago."""
        since = self.clock.now() - rules.STREAMING_BUFFER
        with self._lock:
            return [row for at, row in self._rows.get(table_id, []) if at > since]

    def check_untouched(self, cur: duckdb.DuckDBPyConnection, ref: str, table_id: str) -> None:
        """Raise BigQuery's error if a DML statement just run (its transaction still open on
        `cur`) deleted or changed a row of the buffer.

        Each live row must still be there, as many times as it was streamed; columns are
        compared as text, the way DuckDB stored them.
        """
        wanted = Counter(tuple(sorted(row.items())) for row in self.live(table_id))
        for cells, times in wanted.items():
            match = " AND ".join(
                f'CAST("{name}" AS VARCHAR) IS NOT DISTINCT FROM CAST(? AS VARCHAR)'
                for name, _ in cells
            )
            found = cur.execute(f"SELECT count(*) FROM {ref} WHERE {match}", [v for _, v in cells])
            (count,) = found.fetchone() or (0,)
            if count < times:
                raise rules.streaming_buffer(table_id)
