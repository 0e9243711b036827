"""Cleanup: republish completions that never reached every phase (a lost or dropped event)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from libs.common.audit import final_runs, pending_executions, query_processed
from libs.common.deps import Clients
from libs.common.messages import REPROCESS_ATTRIBUTE, SCRAPER_COMPLETE_TOPIC, Phase, ScraperComplete
from services.scrapers.tables import CLEANUP_OPERATIONS


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
    clients: Clients, where: str, params: dict[str, Any]
) -> tuple[int, list[dict[str, Any]]]:
    """Runs with a file matching `where`, and those not applied by every phase they should
    reach: no load (a lost phase-1 event), or a load no analytics build followed (a lost
    phase-2 event, e.g. the emulator died holding it).

    Only runs whose final status is success or no_data: a run whose publish failed is
    failed, and its scrape an open gap that /backfill-gaps re-runs; republishing its file
    as well would load that scrape twice (two snapshots of a snapshot source).
    """
    runs = clients.warehouse.query(
        "SELECT execution_id, scraper_name, workflow, status, game_date, params, gcs_path, record_count, "
        f"duration_seconds, finished_at FROM {final_runs(f'gcs_path IS NOT NULL AND {where}')} "
        "WHERE status IN ('success', 'no_data')",
        params,
    )
    by_id = {run["execution_id"]: run for run in runs}
    pending = set(pending_executions(clients.warehouse, list(by_id)))
    return len(by_id), [run for execution_id, run in by_id.items() if execution_id in pending]


def run_cleanup(
    clients: Clients,
    now: dt.datetime,
    lookback: dt.timedelta,
    grace: dt.timedelta,
    execution_ids: list[str] | None = None,
) -> CleanupReport:
    """Republish runs whose completion was published at least `grace` ago but never reached
    every phase; with `execution_ids`, those runs whatever their age (a resumed backfill's
    runs, whose events died with the previous stack)."""
    report = CleanupReport(str(uuid.uuid4()), now)
    if execution_ids is None:
        window = "finished_at >= @since AND finished_at <= @until"
        checked = unapplied_runs(clients, window, {"since": now - lookback, "until": now - grace})
    else:
        ids = {f"id{i}": execution_id for i, execution_id in enumerate(execution_ids)}
        where = f"execution_id IN ({', '.join('@' + name for name in ids) or 'NULL'})"
        checked = unapplied_runs(clients, where, ids)
    report.files_checked, missing = checked
    report.missing_files_found = len(missing)
    loaded = loaded_by_processors(clients, [run["execution_id"] for run in missing])
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
        attributes = message.attributes() | {"republished_by": "cleanup"}
        if run["execution_id"] in loaded:
            # The load is done, so the same work would be a duplicate that publishes nothing:
            # applied once more under this cleanup, it publishes the lost phase-2 event again.
            attributes[REPROCESS_ATTRIBUTE] = f"cleanup-{report.cleanup_id}"
        try:
            clients.publisher.publish(SCRAPER_COMPLETE_TOPIC, message, attributes)
        except Exception as exc:
            report.errors.append(f"{run['execution_id']}: {exc}")
            continue
        report.files_republished += 1
        report.republished_execution_ids.append(run["execution_id"])
    clients.warehouse.upsert(CLEANUP_OPERATIONS, [vars(report)])
    return report


def loaded_by_processors(clients: Clients, execution_ids: list[str]) -> set[str]:
    """Which of these runs the processors loaded already (their phase-2 event was published)."""
    if not execution_ids:
        return set()
    ids = {f"id{i}": execution_id for i, execution_id in enumerate(execution_ids)}
    rows = query_processed(
        clients.warehouse,
        "SELECT DISTINCT execution_id FROM {nba_orchestration.processed_messages} "
        "WHERE phase = @phase AND outcome = 'loaded' "
        f"AND execution_id IN ({', '.join('@' + name for name in ids)})",
        {**ids, "phase": Phase.LOAD},
    )
    return {row["execution_id"] for row in rows}
