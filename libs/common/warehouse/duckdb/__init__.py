"""The embedded DuckDB warehouse: `config` (what it is opened with), `client` (the warehouse)."""

from libs.common.warehouse.duckdb.client import DuckDBWarehouse, WarehouseClosedError
from libs.common.warehouse.duckdb.config import DuckDBConfig

__all__ = ["DuckDBConfig", "DuckDBWarehouse", "WarehouseClosedError"]
