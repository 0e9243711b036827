"""Stand-ins for the raw-file store and publisher where a test needs no emulator."""

from __future__ import annotations

from typing import Any

from libs.common.deps import Clients
from libs.common.warehouse.base import Warehouse
from libs.common.warehouse.duckdb import DuckDBWarehouse


class FakeStore:
    def gcs_path(self, name: str) -> str:
        return f"gs://bucket/{name}"

    def exists(self, path: str) -> bool:
        return False

    def check_bucket(self) -> None:
        """The bucket is there."""


class FakePublisher:
    def check_topic(self, topic: str) -> None:
        """Every topic is there."""


def fake_clients(warehouse: Warehouse | None = None) -> Clients:
    """Clients over an in-memory DuckDB (or `warehouse`), with a store and publisher that answer."""
    fakes: dict[str, Any] = {"store": FakeStore(), "publisher": FakePublisher()}
    return Clients(warehouse=warehouse or DuckDBWarehouse(":memory:"), **fakes)
