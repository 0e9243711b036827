"""The warehouses the contract suite runs against: DuckDB, and the BigQuery backend over the
client double that keeps BigQuery's rules (tests/utils/bigquery_double)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from libs.common.warehouse.base import Warehouse
from libs.common.warehouse.bigquery import BigQueryWarehouse
from libs.common.warehouse.duckdb import DuckDBWarehouse
from tests.utils.bigquery_double import BigQueryDouble
from tests.utils.threads import in_thread

BACKENDS = ("duckdb", "bigquery-double")


@dataclass
class Backend:
    """One warehouse under test: open it (again) over the same storage, and overlap writes."""

    name: str
    path: Path
    double: BigQueryDouble | None = None
    opened: list[Warehouse] = field(default_factory=list)

    def open(self) -> Warehouse:
        """A warehouse over this backend's storage (a restart sees what was written)."""
        warehouse: Warehouse
        if self.double is None:
            for earlier in self.opened:  # one DuckDB writer per file
                earlier.close()
            warehouse = DuckDBWarehouse(self.path)
        else:
            warehouse = BigQueryWarehouse(self.double.project, client=self.double)
        self.opened.append(warehouse)
        return warehouse

    def open_in_another_process(self) -> Warehouse | str:
        """The warehouse as another process opens it over the same storage (a second Cloud Run
        instance of BigQuery), or the error that process met (a second process of DuckDB's
        file, which DuckDB locks to one)."""
        if self.double is not None:
            return BigQueryWarehouse(self.double.project, client=self.double)
        code = f"from libs.common.warehouse.duckdb import DuckDBWarehouse; DuckDBWarehouse({str(self.path)!r})"
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)  # fmt: skip
        return done.stderr if done.returncode else "opened"

    def overlapping(self, first: Callable[[], Any], second: Callable[[], Any]) -> list[Any]:
        """Run `second` while `first` is inside its first write; both outcomes (a result or
        the exception raised).

        On the BigQuery double `first` is held at its first commit until `second` has started
        writing or finished, so the two really overlap; on DuckDB they just run at once.
        """
        if self.double is None:
            runs = [in_thread(first), in_thread(second)]
        else:
            hold = self.double.hold_next_commit()
            runs = [in_thread(first)]
            assert hold.reached.wait(10), "the first write never reached its commit"
            runs.append(in_thread(second))
            self.double.activity.wait_until_busy(2, timeout=2)
            hold.release()
        for thread, _ in runs:
            thread.join(30)
        return [outcome[0] if outcome else None for _, outcome in runs]

    def close(self) -> None:
        for warehouse in self.opened:
            warehouse.close()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    double = BigQueryDouble() if request.param == "bigquery-double" else None
    opened = Backend(request.param, tmp_path / "w.duckdb", double)
    yield opened
    opened.close()


@pytest.fixture
def warehouse(backend: Backend) -> Warehouse:
    return backend.open()
