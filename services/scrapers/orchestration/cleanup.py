"""Cleanup: republish completions that never led to a raw load (a lost or dropped event)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from libs.common.audit import CLEANUP_OPERATIONS, final_runs
from libs.common.deps import Clients
from libs.common.messages import SCRAPER_COMPLETE_TOPIC, ScraperComplete


@dataclass
class CleanupReport:
    """What one pass found and did; also the `cleanup_operations` row."""

    cleanup_id: str
    run_at: dt.datetime
    files_checked: int = 0
    missing_files_found: int = 0
    files_republished: int = 0
    files_absent: int = 0
    republished_execution_ids: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def unapplied_runs(
    clients: Clients, since: dt.datetime, until: dt.datetime
) -> tuple[int, list[dict[str, Any]]]:
    """Runs with a file that finished in [since, until], and those no processor has applied.

    Only runs whose final status is success or no_data: a run whose publish failed is
    failed, and its scrape an open gap that /backfill-gaps re-runs; republishing its file
    as well would load that scrape twice (two snapshots of a snapshot source).
    """
    window = "gcs_path IS NOT NULL AND finished_at >= @since AND finished_at <= @until"
    runs = clients.warehouse.query(
        "SELECT execution_id, scraper_name, workflow, status, game_date, params, gcs_path, record_count, "
        f"duration_seconds, finished_at FROM {final_runs(window)} "
        "WHERE status IN ('success', 'no_data')",
        {"since": since, "until": until},
    )
    by_id = {run["execution_id"]: run for run in runs}
    if not by_id:
        return 0, []
    params = {f"id{i}": execution_id for i, execution_id in enumerate(by_id)}
    applied = clients.warehouse.query(
        "SELECT DISTINCT execution_id FROM {nba_orchestration.processed_messages} WHERE phase = 'processors' "
        f"AND execution_id IN ({', '.join('@' + name for name in params)})",
        params,
    )
    done = {row["execution_id"] for row in applied}
    return len(by_id), [run for execution_id, run in by_id.items() if execution_id not in done]


def run_cleanup(
    clients: Clients, now: dt.datetime, lookback: dt.timedelta, grace: dt.timedelta
) -> CleanupReport:
    """Republish runs whose completion was published at least `grace` ago but never loaded."""
    report = CleanupReport(str(uuid.uuid4()), now)
    report.files_checked, missing = unapplied_runs(clients, now - lookback, now - grace)
    report.missing_files_found = len(missing)
    for run in missing:
        if not clients.store.exists(run["gcs_path"]):
            report.files_absent += 1
            continue
        params = (
            run["params"] if isinstance(run["params"], dict) else json.loads(run["params"] or "{}")
        )
        message = ScraperComplete(
            scraper_name=run["scraper_name"], execution_id=run["execution_id"], status=run["status"],
            gcs_path=run["gcs_path"], game_date=run["game_date"], record_count=run["record_count"] or 0,
            duration_seconds=run["duration_seconds"] or 0, workflow=run["workflow"], params=params,
        )  # fmt: skip
        try:
            clients.publisher.publish(
                SCRAPER_COMPLETE_TOPIC,
                message,
                message.attributes() | {"republished_by": "cleanup"},
            )
        except Exception as exc:
            report.errors.append(f"{run['execution_id']}: {exc}")
            continue
        report.files_republished += 1
        report.republished_execution_ids.append(run["execution_id"])
    clients.warehouse.upsert(CLEANUP_OPERATIONS, [vars(report)])
    return report
