"""A `google.cloud.bigquery.Client` double that keeps BigQuery's rules (see `client`)."""

from tests.utils.bigquery_double.client import BigQueryDouble, CommitHold, Counts
from tests.utils.bigquery_double.streaming import Clock

__all__ = ["BigQueryDouble", "Clock", "CommitHold", "Counts"]
