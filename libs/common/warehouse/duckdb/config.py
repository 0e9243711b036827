"""What a DuckDB warehouse is opened with, each default with its unit."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DuckDBConfig:
    """Where the database lives and how the one process writing it behaves."""

    path: Path | str
    """The database file (`DUCKDB_PATH`), or ":memory:" for one that lives with the object."""
    threads: int = 1
    """DuckDB worker threads per query: the services run many small writes at once, each on
    its own cursor, so one query spreading over every core would only make them queue."""
    close_wait_seconds: float = 30.0
    """Seconds `close` lets calls in flight finish before interrupting them."""
