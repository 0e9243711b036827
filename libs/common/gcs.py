"""Raw-file storage: DESIGN §4 object names, write-once uploads, reads confined to the bucket."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from dataclasses import dataclass
from typing import Any

import orjson

from libs.common.errors import PipelineError
from libs.common.validation import bounded

UNDATED = "undated"


def object_name(
    gcs_prefix: str,
    game_date: dt.date | None,
    fetched_at: dt.datetime,
    execution_id: str,
    ext: str = "json",
) -> str:
    """`{source}/{dataset}/{game_date|undated}/{YYYYmmddTHHMMSSZ}_{execution_id}.{ext}`."""
    day = game_date.isoformat() if game_date else UNDATED
    stamp = fetched_at.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{gcs_prefix}/{day}/{stamp}_{execution_id}.{ext}"


class StorageError(PipelineError, RuntimeError):
    """A raw file that cannot be written or read; the message names the path. Retried: the
    store may answer next time."""

    status_code = 500


class FileAlreadyExistsError(StorageError):
    """A write to a name that already exists: raw files are immutable."""


class InvalidPathError(StorageError):
    """A gs:// path outside the bucket or not a plain object name: no retry can reach it."""

    status_code = 400


class NotJsonError(StorageError):
    """A file that was read but is not JSON: reading it again gives the same bytes."""

    status_code = 422


@dataclass(frozen=True)
class StoredFile:
    """What a read returns: the decoded JSON document and its GCS generation."""

    gcs_path: str
    generation: int
    document: Any


class RawFileStore:
    """Writes and reads the raw files of one bucket."""

    def __init__(self, bucket: str, project: str, client: Any = None) -> None:
        self.bucket_name = bucket
        self._client = client or _storage_client(project)
        self._bucket = self._client.bucket(bucket)

    def gcs_path(self, name: str) -> str:
        """`gs://bucket/name`."""
        return f"gs://{self.bucket_name}/{name}"

    def object_of(self, gcs_path: str) -> str:
        """The object name of a gs:// path, refusing any other bucket or a path that escapes it."""
        prefix = f"gs://{self.bucket_name}/"
        shown = bounded(gcs_path)
        if not gcs_path.startswith(prefix):
            raise InvalidPathError(f"gcs_path '{shown}' is not in bucket gs://{self.bucket_name}")
        name = gcs_path[len(prefix) :]
        if not name or name.startswith("/") or ".." in name.split("/"):
            raise InvalidPathError(f"gcs_path '{shown}' is not a plain object path")
        return name

    def write_new(self, name: str, content: bytes, content_type: str) -> int:
        """Upload `content` only if `name` does not exist yet; returns the new generation."""
        from google.api_core.exceptions import PreconditionFailed  # loaded with the client

        blob = self._bucket.blob(name)
        try:
            blob.upload_from_string(content, content_type=content_type, if_generation_match=0)
        except PreconditionFailed as exc:
            raise FileAlreadyExistsError(f"{self.gcs_path(name)} already exists") from exc
        return int(blob.generation or 0)

    def write_json(self, name: str, document: Any) -> int:
        """Write a JSON document once."""
        content = json.dumps(document, separators=(",", ":"), default=str).encode()
        return self.write_new(name, content, "application/json")

    def write_gzip(self, name: str, text: str, content_type: str) -> int:
        """Write text gzip-compressed once (raw HTML pages)."""
        return self.write_new(name, gzip.compress(text.encode()), content_type)

    def read_bytes(self, gcs_path: str) -> tuple[bytes, int]:
        """The object's bytes and generation."""
        from google.api_core.exceptions import NotFound  # loaded with the client

        blob = self._bucket.blob(self.object_of(gcs_path))
        try:
            content: bytes = blob.download_as_bytes()
        except NotFound as exc:
            raise StorageError(f"{gcs_path} does not exist") from exc
        except Exception as exc:  # the client reports some 404s as InvalidResponse
            raise StorageError(f"{gcs_path} cannot be read: {exc}") from exc
        return content, int(blob.generation or 0)

    def read_json(self, gcs_path: str) -> StoredFile:
        """Read and decode a JSON raw file."""
        content, generation = self.read_bytes(gcs_path)
        try:
            document = orjson.loads(content)  # ~2x json.loads on upstream bodies (make bench)
        except ValueError as exc:
            raise NotJsonError(f"{gcs_path} is not valid JSON: {exc}") from exc
        return StoredFile(gcs_path, generation, document)

    def read_gzip_text(self, gcs_path: str) -> str:
        """Read a gzip-compressed text companion file."""
        content, _ = self.read_bytes(gcs_path)
        return gzip.decompress(content).decode()

    def check_bucket(self) -> None:
        """Raise StorageError unless the bucket exists (readiness): listing one object needs
        only object permissions, and a missing bucket fails every write that follows."""
        from google.api_core.exceptions import NotFound

        try:
            next(iter(self._client.list_blobs(self.bucket_name, max_results=1)), None)
        except NotFound as exc:
            raise StorageError(
                f"bucket gs://{self.bucket_name} does not exist: create it (docs/deploy.md) "
                "or set GCS_BUCKET to one that does"
            ) from exc

    def list_names(self, prefix: str) -> list[str]:
        """Names of the objects under `prefix`, sorted: a date folder lists in fetch order,
        since names there differ only from their `YYYYmmddTHHMMSSZ` stamp on."""
        if prefix.startswith("/") or ".." in prefix.split("/"):
            raise InvalidPathError(f"prefix '{bounded(prefix)}' is not a plain object path")
        return sorted(
            blob.name for blob in self._client.list_blobs(self.bucket_name, prefix=prefix)
        )

    def exists(self, gcs_path: str) -> bool:
        """Whether the object is there (cleanup checks this before republishing)."""
        return bool(self._bucket.blob(self.object_of(gcs_path)).exists())


def _storage_client(project: str) -> Any:
    """A storage client; anonymous against fake-gcs-server when STORAGE_EMULATOR_HOST is set."""
    import os

    from google.cloud import storage  # type: ignore[attr-defined, unused-ignore]

    if os.environ.get("STORAGE_EMULATOR_HOST"):
        from google.auth.credentials import AnonymousCredentials

        return storage.Client(project=project, credentials=AnonymousCredentials())  # type: ignore[no-untyped-call]
    return storage.Client(project=project)
