"""The BigQuery double's billing estimate follows BigQuery's on-demand rules
(tests/utils/bigquery_double/billing.py cites them): referenced columns only, partitions
pruned by a filter on the partitioning column, DML adding the partitions it changes, and
the 10 MB minimums."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from google.cloud import bigquery

from tests.utils.bigquery_double import BigQueryDouble
from tests.utils.bigquery_double.billing import MB, billed

T = "nba-test.d.t"
STAGED = "nba-test.d.staged"
SCHEMA = [
    bigquery.SchemaField("d", "DATE", mode="REQUIRED"),
    bigquery.SchemaField("k", "INT64"),
    bigquery.SchemaField("s", "STRING"),
]
DAY = dt.date(2025, 1, 1)


@pytest.fixture
def double() -> BigQueryDouble:
    """`t`, partitioned by d: 2025-01-01 holds (1, 'ab') and (2, NULL): 16 + 16 + 4 bytes;
    2025-01-02 holds (3, 'xyz'): 8 + 8 + 5 bytes (STRING is 2 + its UTF-8 bytes, NULL 0)."""
    client = BigQueryDouble()
    client.create_dataset("nba-test.d")
    table = bigquery.Table(T, schema=SCHEMA)
    table.time_partitioning = bigquery.TimePartitioning(field="d")
    client.create_table(table)
    rows = [{"d": "2025-01-01", "k": 1, "s": "ab"}, {"d": "2025-01-01", "k": 2, "s": None},
            {"d": "2025-01-02", "k": 3, "s": "xyz"}]  # fmt: skip
    client.load_table_from_json(rows, T).result()
    return client


def run(double: BigQueryDouble, sql: str, **params: tuple[str, Any]) -> tuple[int, int]:
    """(bytes processed, bytes billed) of the query job running `sql`."""
    config = bigquery.QueryJobConfig(
        query_parameters=[bigquery.ScalarQueryParameter(n, t, v) for n, (t, v) in params.items()]
    )
    double.query(sql, job_config=config).result()
    job = double.jobs[-1]
    return job.processed, job.billed


def test_a_query_reads_its_columns_in_the_partitions_its_filter_leaves(
    double: BigQueryDouble,
) -> None:
    assert run(double, f"SELECT k FROM `{T}` WHERE d = @d", d=("DATE", DAY)) == (32, 10 * MB)
    assert run(double, f"SELECT s FROM `{T}`") == (9, 10 * MB)
    assert run(double, f"SELECT COUNT(*) AS n FROM `{T}` WHERE d >= '2025-01-02'") == (8, 10 * MB)
    assert run(double, "SELECT 1 AS one") == (0, 0)


def test_a_partition_replacing_merge_adds_every_column_of_the_partition_it_replaces(
    double: BigQueryDouble,
) -> None:
    merge = (
        f"MERGE `{T}` T USING (SELECT DATE '2025-01-01' AS d, 9 AS k, 'q' AS s) S ON FALSE "
        "WHEN NOT MATCHED BY SOURCE AND T.d = @d THEN DELETE "
        "WHEN NOT MATCHED THEN INSERT (d, k, s) VALUES (S.d, S.k, S.s)"
    )
    assert run(double, merge, d=("DATE", DAY)) == (16 + 36, 10 * MB)


def test_an_upsert_merge_scans_its_key_everywhere_and_adds_the_partitions_it_updates(
    double: BigQueryDouble,
) -> None:
    double.create_table(bigquery.Table(STAGED, schema=SCHEMA))
    double.load_table_from_json([{"d": "2025-01-02", "k": 3, "s": "z"}], STAGED).result()
    merge = (
        f"MERGE `{T}` T USING `{STAGED}` S ON T.k = S.k "
        "WHEN MATCHED THEN UPDATE SET s = S.s "
        "WHEN NOT MATCHED THEN INSERT (d, k, s) VALUES (S.d, S.k, S.s)"
    )
    staged, keys, updated = 8 + 8 + 3, 3 * 8, 8 + 8 + 5
    assert run(double, merge) == (staged + keys + updated, 2 * 10 * MB)


def test_billing_rounds_each_table_up_to_a_mb_with_10_mb_minimums() -> None:
    assert billed([25 * MB + 1, 3]) == 26 * MB + 10 * MB
    assert billed([3]) == 10 * MB
    assert billed([]) == 0


def test_loads_are_free_and_observed_reads_are_not_counted(double: BigQueryDouble) -> None:
    assert [(job.kind, job.billed) for job in double.jobs] == [("load", 0)]
    with double.observing():
        double.query(f"SELECT k FROM `{T}`").result()
    assert len(double.jobs) == 1 and double.counts.jobs == {"load": 1}
