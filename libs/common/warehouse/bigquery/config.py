"""What a BigQuery warehouse is opened with, each default with its unit."""

from __future__ import annotations

from dataclasses import dataclass

MUTATING_DML_PER_TABLE = 2
"""Mutating DML statements one instance runs at once against one table: BigQuery runs 2 per
table and queues up to 20 more, so up to 11 instances stay inside the queue."""


@dataclass(frozen=True)
class BigQueryConfig:
    """The project and location the datasets live in, and how hard one instance writes."""

    project: str
    """Google Cloud project id holding the datasets (`GCP_PROJECT`)."""
    location: str = "US"
    """Location of the datasets (`BIGQUERY_LOCATION`)."""
    combine_window_s: float = 0.25
    """Seconds a write waits for others to share its job (`BIGQUERY_COMBINE_WINDOW_SECONDS`):
    a job takes one to a few seconds and bills at least 10 MB per table it reads, so a quarter
    of a second more per write buys fewer jobs as soon as two writes come together."""
    mutating_dml_per_table: int = MUTATING_DML_PER_TABLE
    """Mutating DML statements (statements, not jobs) this instance runs at once per table."""
    max_inline_request_bytes: int = 9 * 2**20
    """Bytes (JSON: the script and its parameters) up to which a load sends its rows in the
    query request; a heavier load stages them with a load job first. BigQuery refuses a request
    over 10,485,760 bytes, query parameters included (quotas, "Maximum request size"); the
    last MiB is left for the rest of the job resource."""
