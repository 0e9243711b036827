"""Stand-ins for the raw-file store and publisher where a test needs no emulator."""

from __future__ import annotations

from typing import Any

from google.api_core.exceptions import NotFound, PreconditionFailed
from pydantic import BaseModel

from libs.common.deps import Clients
from libs.common.gcs import RawFileStore
from libs.common.pubsub import PublishError
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


class MemoryStorage:
    """A google-cloud-storage client over a dict, for a real `RawFileStore` with no server:
    create-only uploads, downloads with their generation, listing by prefix."""

    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, int]] = {}

    def bucket(self, name: str) -> MemoryBucket:
        return MemoryBucket(self)

    def list_blobs(
        self, bucket: str, prefix: str = "", max_results: int | None = None
    ) -> list[MemoryBlob]:
        names = sorted(name for name in self.objects if name.startswith(prefix))
        return [MemoryBlob(self, name) for name in names[:max_results]]


class MemoryBucket:
    def __init__(self, storage: MemoryStorage) -> None:
        self.storage = storage

    def blob(self, name: str) -> MemoryBlob:
        return MemoryBlob(self.storage, name)


class MemoryBlob:
    def __init__(self, storage: MemoryStorage, name: str) -> None:
        self.storage, self.name = storage, name
        self.generation: int | None = None

    def upload_from_string(
        self, content: bytes, content_type: str, if_generation_match: int | None = None
    ) -> None:
        if if_generation_match == 0 and self.name in self.storage.objects:
            raise PreconditionFailed(f"{self.name} exists")
        self.generation = len(self.storage.objects) + 1
        self.storage.objects[self.name] = (content, self.generation)

    def download_as_bytes(self) -> bytes:
        if self.name not in self.storage.objects:
            raise NotFound(self.name)
        content, self.generation = self.storage.objects[self.name]
        return content

    def exists(self) -> bool:
        return self.name in self.storage.objects


def memory_store(bucket: str = "nba-scraped-data") -> RawFileStore:
    """The real raw-file store over `MemoryStorage`."""
    return RawFileStore(bucket, "nba-test", client=MemoryStorage())


class RecordingPublisher(FakePublisher):
    """Keeps every publish as (topic, message, attributes); `failing` makes each one fail."""

    def __init__(self, failing: bool = False) -> None:
        self.published: list[tuple[str, BaseModel, dict[str, str]]] = []
        self.failing = failing

    def publish(self, topic: str, message: BaseModel, attributes: dict[str, str]) -> str:
        if self.failing:
            raise PublishError(f"publish to {topic} failed: 503 unavailable")
        self.published.append((topic, message, attributes))
        return str(len(self.published))


def fake_clients(
    warehouse: Warehouse | None = None, store: Any = None, publisher: Any = None
) -> Clients:
    """Clients over an in-memory DuckDB (or `warehouse`), with a store and publisher that
    answer (or the given ones)."""
    fakes: dict[str, Any] = {
        "store": store or FakeStore(),
        "publisher": publisher or FakePublisher(),
    }
    return Clients(warehouse=warehouse or DuckDBWarehouse(":memory:"), **fakes)
