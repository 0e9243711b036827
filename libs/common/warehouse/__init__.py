"""Warehouse selection: one factory so no caller names an implementation."""

from __future__ import annotations

from typing import TYPE_CHECKING

from libs.common.warehouse.base import Capabilities, Row, TableNotFoundError, Warehouse
from libs.common.warehouse.combining import CombiningWarehouse
from libs.common.warehouse.schema import Column, Table, col

if TYPE_CHECKING:  # settings import the props contract, which imports the table declarations
    from libs.common.settings import CommonSettings

__all__ = [
    "Capabilities",
    "Column",
    "Row",
    "Table",
    "TableNotFoundError",
    "Warehouse",
    "col",
    "open_warehouse",
]


def open_warehouse(settings: CommonSettings) -> Warehouse:
    """The configured warehouse, its concurrent writes combined; heavy clients are imported
    only when chosen."""
    inner: Warehouse
    if settings.warehouse == "bigquery":
        from libs.common.warehouse.bigquery import BigQueryConfig, BigQueryWarehouse

        config = BigQueryConfig(
            settings.gcp_project,
            settings.bigquery_location,
            combine_window_s=settings.bigquery_combine_window_seconds,
        )
        inner = BigQueryWarehouse(config)
    else:
        from libs.common.warehouse.duckdb import DuckDBConfig, DuckDBWarehouse

        inner = DuckDBWarehouse(DuckDBConfig(settings.duckdb_path))
    return CombiningWarehouse(inner, sees_every_write=inner.capabilities.sees_every_write)
