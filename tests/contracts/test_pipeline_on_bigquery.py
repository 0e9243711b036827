"""The real processors and analytics over generated days give the same tables on the BigQuery
backend (over the client double) as on DuckDB, in order or shuffled with redeliveries, and
say how many BigQuery jobs each event costs (docs/bigquery.md, rule 5)."""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from collections.abc import Callable

import pytest

from libs.common.settings import WorkLedgerKind
from libs.common.warehouse.bigquery import BigQueryWarehouse
from libs.common.warehouse.combining import CombiningWarehouse
from tests.utils.bigquery_double import BigQueryDouble
from tests.utils.offline import Built, MemoryStore, Pipeline, Published, built

DAYS = (dt.date(2024, 11, 4), dt.date(2024, 11, 5))


@pytest.fixture(scope="module")
def on_duckdb() -> Built:
    """The files, their messages, and every table of an in-order DuckDB run."""
    return built(*DAYS)


def on_bigquery(
    store: MemoryStore, ledger: WorkLedgerKind = "warehouse"
) -> tuple[Pipeline, BigQueryDouble]:
    double = BigQueryDouble()
    # one delivery at a time: no write ever has company to wait for, so none waits
    warehouse = CombiningWarehouse(BigQueryWarehouse(double.project, client=double), window_s=0)
    return Pipeline(store, warehouse=warehouse, work_ledger=ledger), double


def jobs(double: BigQueryDouble) -> int:
    return sum(double.counts.jobs.values())


def applied_rows(pipeline: Pipeline) -> int:
    """processed_messages rows: one per unit of work applied."""
    rows = pipeline.warehouse.query(
        "SELECT count(*) AS n FROM {nba_orchestration.processed_messages}"
    )
    return int(rows[0]["n"])


@pytest.mark.parametrize("ledger", ["warehouse", "gcs"])
def test_in_order_the_tables_equal_duckdb_and_each_event_costs_few_jobs(
    on_duckdb: Built, record_property: Callable[[str, object], None], ledger: WorkLedgerKind
) -> None:
    store, messages, expected = on_duckdb
    pipeline, double = on_bigquery(store, ledger)
    cost: dict[str, list[int]] = defaultdict(list)

    def push(message: Published, kind: str) -> None:
        before = jobs(double)
        assert pipeline.push(message) == 200
        cost[kind].append(jobs(double) - before)

    for message in messages:
        sent = len(pipeline.publisher.sent)
        push(message, "phase 1")
        for loaded in pipeline.publisher.sent[sent:]:
            push(loaded, "phase 2")
    for message in messages:
        push(message, "duplicate")
    assert pipeline.tables() == expected
    assert pipeline.duplicate_keys() == {}
    for kind, counts in cost.items():
        record_property(f"bigquery jobs per {kind} event", sorted(counts))
    # A load is a dedupe lookup (a query with the warehouse ledger, a GCS metadata GET with
    # the gcs one) and one upsert script (its rows in the request, counted and merged); a
    # build is a lookup and one rebuild script (the day's tables and the rolling one); a
    # duplicate this process applied costs none.
    lookup = 1 if ledger == "warehouse" else 0
    assert max(cost["phase 1"]) == 1 + lookup
    assert max(cost["phase 2"]) == 1 + lookup
    assert cost["duplicate"] == [0] * len(messages)


@pytest.mark.parametrize(("ledger", "jobs_per_duplicate"), [("warehouse", 1), ("gcs", 0)])
def test_a_duplicate_delivered_to_a_new_process_costs_no_job_with_the_gcs_ledger(
    on_duckdb: Built,
    record_property: Callable[[str, object], None],
    ledger: WorkLedgerKind,
    jobs_per_duplicate: int,
) -> None:
    """After a restart (or on another instance) the in-process memory cannot answer: the
    warehouse ledger asks BigQuery (a query job per message), the gcs one asks the bucket."""
    store, messages, expected = on_duckdb
    pipeline, double = on_bigquery(store, ledger)
    pipeline.run_in_order(messages)
    logged = applied_rows(pipeline)
    pipeline.restart()
    cost = []
    for message in [*messages, *pipeline.publisher.sent]:
        before = jobs(double)
        assert pipeline.push(message) == 200
        cost.append(jobs(double) - before)
    record_property(f"bigquery jobs per duplicate after a restart ({ledger} ledger)", cost[0])
    assert cost == [jobs_per_duplicate] * len(cost)
    assert applied_rows(pipeline) == logged, "every redelivery was a duplicate, none reapplied"
    assert pipeline.tables() == expected


@pytest.mark.parametrize("ledger", ["warehouse", "gcs"])
def test_shuffled_with_redeliveries_and_a_restart_the_tables_equal_duckdb(
    on_duckdb: Built, ledger: WorkLedgerKind
) -> None:
    """Pub/Sub's at-least-once, any-order delivery, on BigQuery: every message delivered from
    a shuffled pool, some again, the processes restarted half-way."""
    store, messages, expected = on_duckdb
    pipeline, _ = on_bigquery(store, ledger)
    order = random.Random(15)
    pool = list(messages)
    delivered = 0
    while pool:
        message = pool.pop(order.randrange(len(pool)))
        sent = len(pipeline.publisher.sent)
        assert pipeline.push(message) == 200
        pool += pipeline.publisher.sent[sent:]
        if order.randrange(3) == 0:
            pool.append(message)  # a redelivery, a replay, a republish
        delivered += 1
        if delivered == len(messages):
            pipeline.restart()
    assert pipeline.tables() == expected
    assert pipeline.duplicate_keys() == {}
