"""In-process faults for resilience tests: a load that crashes halfway, storage that refuses
writes, publishes to a topic that does not exist, a service port that drops every connection."""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from google.api_core.exceptions import ServiceUnavailable

from libs.common.gcs import RawFileStore
from libs.common.pubsub import Publisher
from libs.common.warehouse.duckdb import DuckDBWarehouse


class InjectedCrash(RuntimeError):
    """What a faulted statement raises after doing half its work."""


@dataclass
class LoadCrash:
    """While armed, the final `INSERT INTO <table> SELECT ... FROM staging` of an upsert writes
    half the staged rows and then raises, inside the upsert's transaction."""

    table: str
    armed: bool = True
    fired: int = 0
    written_before_crash: int = 0


class _CrashingCursor:
    def __init__(self, inner: Any, crash: LoadCrash) -> None:
        self._inner = inner
        self._crash = crash

    def execute(self, sql: str, *args: Any) -> Any:
        final_insert = sql.startswith(f"INSERT INTO {self._crash.table} SELECT")
        staged_from = re.search(r" FROM (staging_\w+)", sql)
        if self._crash.armed and final_insert and staged_from:
            staging = staged_from.group(1)
            staged = self._inner.execute(f"SELECT count(*) FROM {staging}").fetchone()[0]
            self._inner.execute(f"{sql} LIMIT {staged // 2}")
            self._crash.written_before_crash = staged // 2
            self._crash.fired += 1
            raise InjectedCrash(f"injected crash after {staged // 2} of {staged} rows")
        return self._inner.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@contextmanager
def crash_mid_load(warehouse: DuckDBWarehouse, table: str) -> Iterator[LoadCrash]:
    """Arm a `LoadCrash` for `table` (as DuckDB names it, e.g. `nba_raw."bdl_games"`)."""
    crash = LoadCrash(table)
    original = warehouse._cursor
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(warehouse, "_cursor", lambda: _CrashingCursor(original(), crash))
        yield crash


@dataclass
class WriteOutage:
    """GCS answers 503 to every upload while `down`."""

    down: bool = True
    refused: int = 0


@contextmanager
def gcs_write_outage(store: RawFileStore) -> Iterator[WriteOutage]:
    """Uploads fail as the storage client reports a 503 until `outage.down` is set False."""
    outage = WriteOutage()
    original = store.write_new

    def write_new(name: str, content: bytes, content_type: str) -> int:
        if outage.down:
            outage.refused += 1
            raise ServiceUnavailable(f"injected: upload of {name} refused")
        return original(name, content, content_type)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(store, "write_new", write_new)
        yield outage


@dataclass
class Dropped:
    """Connections a stand-in accepted and closed at once."""

    connections: int = 0


@contextmanager
def dropping_port(port: int) -> Iterator[Dropped]:
    """Listen on `port` and close every connection unanswered: a service that is down, but
    where a test can count the delivery attempts that reached it."""
    dropped = Dropped()
    listener = socket.create_server(("127.0.0.1", port))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            connection.close()
            dropped.connections += 1

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield dropped
    finally:
        stop.set()
        thread.join()
        listener.close()


@contextmanager
def missing_topic(publisher: Publisher, topic: str) -> Iterator[None]:
    """Publishes to `topic` go to a topic that does not exist, so the real Publish RPC fails
    (404 Topic not found) as it would after the topic was deleted."""
    original = publisher.topic_path

    def topic_path(name: str) -> str:
        return original(f"{name}-missing" if name == topic else name)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(publisher, "topic_path", topic_path)
        yield
