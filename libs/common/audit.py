"""Orchestration logs every phase writes: the scraper execution log and processed messages.

The tables only the scrapers service writes (schedule, decisions, cleanup, gaps, alerts,
breakers) are declared in `services/scrapers/tables.py`."""

from __future__ import annotations

from typing import Any

from libs.common.messages import Phase, utc_now
from libs.common.warehouse.base import Row, TableNotFoundError, Warehouse
from libs.common.warehouse.schema import Table, col

SCRAPER_EXECUTION_LOG = Table(
    "nba_orchestration",
    "scraper_execution_log",
    (
        col("execution_id", "STRING", True, "uuid4 of the run"),
        col("scraper_name", "STRING", True),
        col("workflow", "STRING", True, "MANUAL, a workflow name, BACKFILL, CLEANUP..."),
        col("status", "STRING", True, "success | no_data | failed"),
        col("game_date", "DATE"),
        col("params", "JSON"),
        col("gcs_path", "STRING"),
        col("record_count", "INT64"),
        col("duration_seconds", "FLOAT64"),
        col("error_class", "STRING"),
        col("error_message", "STRING"),
        col("started_at", "TIMESTAMP", True),
        col("finished_at", "TIMESTAMP", True),
        col(
            "log_seq",
            "INT64",
            description="order of a run's rows: 1 written before the publish, 2 supersedes it "
            "(status failed) when the publish failed; null in older rows: 2 if failed, else 1",
        ),
        col(
            "quota_remaining",
            "INT64",
            description="upstream credits left after the run (lowest x-requests-remaining of its "
            "responses); null for an upstream without quota headers (`libs/common/quota.py`)",
        ),
        col(
            "quota_used",
            "INT64",
            description="upstream credits used since the quota reset (highest x-requests-used)",
        ),
        col(
            "quota_cost",
            "INT64",
            description="credits the run spent: the sum of x-requests-last over its responses",
        ),
    ),
    partition_column="started_at",
    description="One row per scraper run, written before its completion is published, plus a "
    "superseding row (log_seq 2, failed) if the publish failed; a run's status is its final "
    "row's (`audit.final_runs`).",
)

PROCESSED_MESSAGES = Table(
    "nba_orchestration",
    "processed_messages",
    (
        col("subscription", "STRING", True, "push subscription (or 'direct'), for tracing"),
        col("message_id", "STRING", True, "Pub/Sub message id, for tracing only"),
        col("phase", "STRING", True, f"{Phase.LOAD} | {Phase.BUILD}"),
        col("scraper_name", "STRING", True),
        col("execution_id", "STRING", True),
        col(
            "work_key",
            "STRING",
            description="the work applied (ledger.Work.key): what decides a duplicate; "
            "null on rows written before it existed",
        ),
        col("reprocess_id", "STRING", description="the `nba-pipeline reprocess` run, if any"),
        col("target_table", "STRING"),
        col("gcs_path", "STRING"),
        col("gcs_generation", "INT64", description="generation of the file that was loaded"),
        col("game_date", "DATE"),
        col("outcome", "STRING", True, "loaded | no_data | skipped_failed_run | built | ignored"),
        col("record_count", "INT64"),
        col("rows_changed", "INT64"),
        col(
            "rows_dropped",
            "INT64",
            description="rows the load dropped because a later row of the file had the same key",
        ),
        col("processed_at", "TIMESTAMP", True),
    ),
    cluster_by=("work_key", "execution_id"),
    description="One row per applied unit of work, appended: its redeliveries, replays and "
    "republishes are acked without applying it again.",
)


def already_processed(warehouse: Warehouse, work_key: str) -> bool:
    """Whether this unit of work was applied already, by any delivery of any message."""
    rows = warehouse.query(
        "SELECT 1 AS hit FROM {nba_orchestration.processed_messages} "
        "WHERE work_key = @work_key LIMIT 1",
        {"work_key": work_key},
    )
    return bool(rows)


def query_processed(warehouse: Warehouse, sql: str, params: dict[str, Any]) -> list[Row]:
    """A query of processed_messages from a service that reads it without writing it (the
    scrapers'): no rows until a push service, which creates the table, has started."""
    try:
        return warehouse.query(sql, params)
    except TableNotFoundError:
        return []


def record_processed(warehouse: Warehouse, **fields: Any) -> None:
    """Append an applied unit of work to the log `already_processed` reads.

    An append, not a keyed replace: the caller has just found no row for the work, so a
    delete would find nothing, and it cost a transaction (on BigQuery a DML job against a
    table every push writes). One process never applies two deliveries of one unit at once
    (`push.Deliveries`); two rows for one work key mean two instances did, and loads are
    idempotent, so the data is the same either way.
    """
    row = {name: fields.get(name) for name in PROCESSED_MESSAGES.column_names}
    row["processed_at"] = utc_now()
    warehouse.append(PROCESSED_MESSAGES, [row])


def record_run(warehouse: Warehouse, **fields: Any) -> None:
    """Append a row of one scraper run to the execution log (log_seq 1 unless given)."""
    row = {name: fields.get(name) for name in SCRAPER_EXECUTION_LOG.column_names}
    row["finished_at"] = row["finished_at"] or utc_now()
    row["log_seq"] = row["log_seq"] or 1
    warehouse.append(SCRAPER_EXECUTION_LOG, [row])


RUN_ROWS_FINAL_FIRST = "COALESCE(log_seq, CASE status WHEN 'failed' THEN 2 ELSE 1 END) DESC"
"""Order of one run's log rows, its final row first. An explicit sequence, not finished_at:
a superseding row repeats the run's times, and the log cannot be updated in place (BigQuery
keeps streamed rows out of DML for about 30 minutes). Rows from before log_seq have none;
two of one run were the row before a failed publish and then the failed one, so a failed
row among them is final."""


def final_runs(where: str = "TRUE") -> str:
    """The execution log with only each run's final row, as a FROM item (`AS runs`).

    Every reader of a run's status goes through this, so a run whose publish failed is read
    as failed and never also as success. `where` is applied before the final row is picked,
    so it may test only what every row of a run shares (not status, error_class,
    error_message or log_seq): test those on the result. It also keeps BigQuery's QUALIFY,
    which needs a WHERE beside it, valid.
    """
    return (
        f"(SELECT * FROM {{nba_orchestration.scraper_execution_log}} WHERE {where} "
        "QUALIFY ROW_NUMBER() OVER "
        f"(PARTITION BY execution_id ORDER BY {RUN_ROWS_FINAL_FIRST}) = 1) AS runs"
    )


def pending_executions(
    warehouse: Warehouse, execution_ids: list[str], reprocess_id: str | None = None
) -> list[str]:
    """Execution ids not yet applied by every phase they should reach.

    A run is done once processors applied its message and, if that loaded rows, analytics
    applied the phase-2 message too; with `reprocess_id`, once that reprocess of it was.
    """
    if not execution_ids:
        return []
    params: dict[str, Any] = {
        f"id{i}": execution_id for i, execution_id in enumerate(execution_ids)
    }
    by_reprocess = "TRUE"  # a run applied under a reprocess or cleanup was applied too
    if reprocess_id is not None:
        params["reprocess_id"] = reprocess_id
        by_reprocess = "reprocess_id = @reprocess_id"
    rows = query_processed(
        warehouse,
        "SELECT execution_id, phase, outcome FROM {nba_orchestration.processed_messages} "
        f"WHERE execution_id IN ({', '.join('@' + name for name in params if name.startswith('id'))}) "
        f"AND {by_reprocess}",
        params,
    )
    processed = {(row["execution_id"], row["phase"]): row["outcome"] for row in rows}
    return [
        execution_id
        for execution_id in execution_ids
        if (outcome := processed.get((execution_id, Phase.LOAD))) is None
        or (outcome == "loaded" and (execution_id, Phase.BUILD) not in processed)
    ]
