"""The BigQuery warehouse: `config` (what it is opened with), `client` (the warehouse)."""

from libs.common.warehouse.bigquery.client import BigQueryWarehouse
from libs.common.warehouse.bigquery.config import MUTATING_DML_PER_TABLE, BigQueryConfig

__all__ = ["MUTATING_DML_PER_TABLE", "BigQueryConfig", "BigQueryWarehouse"]
