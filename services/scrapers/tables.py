"""The tables only the scrapers service writes, and every table it creates at startup.

The execution log is declared with the processed messages in `libs/common/audit.py`: the
CLI and the work ledger read them too.
"""

from __future__ import annotations

from libs.common.audit import SCRAPER_EXECUTION_LOG
from libs.common.warehouse.schema import Table, col

DAILY_EXPECTED_SCHEDULE = Table(
    "nba_orchestration",
    "daily_expected_schedule",
    (
        col("schedule_date", "DATE", True, "the day (America/New_York) the schedule is for"),
        col("workflow", "STRING", True),
        col(
            "expected_at",
            "TIMESTAMP",
            True,
            "when an hourly evaluation should decide RUN, or a tip-anchored capture is due",
        ),
        col("decision_type", "STRING", True),
        col("target_date", "DATE", True, "game date the runs scrape"),
        col("games", "INT64", True, "games on target_date"),
        col("reason", "STRING"),
        col("generated_at", "TIMESTAMP", True),
    ),
    natural_key=("schedule_date", "workflow", "expected_at"),
    partition_column="schedule_date",
    description="Which workflows should run when on a day, given its games; rewritten per date.",
)

WORKFLOW_DECISIONS = Table(
    "nba_orchestration",
    "workflow_decisions",
    (
        col("decision_id", "STRING", True),
        col("decided_at", "TIMESTAMP", True),
        col("schedule_date", "DATE", True),
        col("workflow", "STRING", True),
        col("decision", "STRING", True, "RUN | SKIP | ABORT"),
        col("reason", "STRING", True),
        col("target_date", "DATE"),
        col("attempt", "INT64", description="1-based attempt number of a RUN that day"),
        col(
            "expected_at",
            "TIMESTAMP",
            description="tip-anchored captures only: the capture time (daily_expected_schedule."
            "expected_at) the decision is for; attempts count per capture time",
        ),
        col(
            "outcome",
            "STRING",
            description="RUN only: running (while its plan runs), then succeeded | failed",
        ),
        col("execution_ids", "JSON", description="runs a RUN made"),
    ),
    natural_key=("decision_id",),
    partition_column="schedule_date",
    description="Every decision per workflow (hourly, or per capture time when tip-anchored) "
    "with its reason, and what a RUN did.",
)

CLEANUP_OPERATIONS = Table(
    "nba_orchestration",
    "cleanup_operations",
    (
        col("cleanup_id", "STRING", True),
        col("run_at", "TIMESTAMP", True),
        col("files_checked", "INT64", True, "runs with a file in the lookback window"),
        col("missing_files_found", "INT64", True, "of those, runs no processor ever applied"),
        col("files_republished", "INT64", True),
        col("files_absent", "INT64", True, "unapplied runs whose file is gone (not republished)"),
        col("republished_execution_ids", "JSON"),
        col("errors", "JSON"),
    ),
    natural_key=("cleanup_id",),
    description="What each cleanup pass checked and republished.",
)

SCRAPER_FAILURES = Table(
    "nba_orchestration",
    "scraper_failures",
    (
        col("failure_id", "STRING", True, "execution_id of the first failed run of this scrape"),
        col("scraper_name", "STRING", True),
        col("params", "JSON"),
        col("params_key", "STRING", True, "canonical params: one open gap per scrape"),
        col("game_date", "DATE"),
        col("workflow", "STRING"),
        col("error_class", "STRING"),
        col("error_message", "STRING"),
        col(
            "attempts",
            "INT64",
            True,
            "runs of this scrape (or its historical counterpart) that did not fill it: failed, "
            "or answered no data",
        ),
        col("first_failed_at", "TIMESTAMP", True),
        col("last_failed_at", "TIMESTAMP"),
        col("last_execution_id", "STRING"),
        col("backfilled", "BOOL", True, "closed: a later run loaded data for this scrape"),
        col("backfilled_at", "TIMESTAMP"),
        col("backfill_execution_id", "STRING"),
        col(
            "alerted_at",
            "TIMESTAMP",
            description="rows before per-scraper gap alerts only: when this gap alerted "
            "(alerts are recorded in `alerts` now)",
        ),
        col(
            "unrecoverable",
            "STRING",
            description="why no re-run can fill it (a live-only upstream, no historical "
            "counterpart, a date gone by); it stays open and the backfiller skips it",
        ),
        col(
            "dismissed_at",
            "TIMESTAMP",
            description="closed by an operator (`nba-pipeline gaps dismiss`), not by data: "
            "no run is expected to fill it (a postponed game, a scrape no upstream can answer)",
        ),
        col("dismissed_reason", "STRING", description="why the operator closed it"),
        col(
            "dismissed_by",
            "STRING",
            description="the operator's email, from the admin token (NULL without authentication)",
        ),
    ),
    natural_key=("failure_id",),
    description="Failed scrapes (gaps), open until a re-run of the same scraper and params (or "
    "its historical counterpart) loads data, or an operator dismisses it; a run with no data "
    "does not close one.",
)

ALERTS = Table(
    "nba_orchestration",
    "alerts",
    (
        col(
            "alert_key",
            "STRING",
            True,
            "the condition: `gaps:SCRAPER`, `run_failed:SCRAPER` or `dead_letters:SUBSCRIPTION`",
        ),
        col("kind", "STRING", True, "gaps, run_failed or dead_letters"),
        col(
            "facts",
            "JSON",
            description="what the alerts of this condition named so far (gap days, error "
            "classes, a queue's order of magnitude); a fact not in it alerts again",
        ),
        col("subject", "STRING", True),
        col("text", "STRING", True, "the last alert sent"),
        col("channels", "JSON", description="channels that accepted it: slack, email"),
        col("first_alerted_at", "TIMESTAMP", True, "the first alert since the condition began"),
        col("alerted_at", "TIMESTAMP", True, "the last alert"),
        col(
            "cleared_at",
            "TIMESTAMP",
            description="when the condition was seen gone (null while it holds); it alerts "
            "again if it comes back",
        ),
    ),
    natural_key=("alert_key",),
    description="One row per alert condition: an alert goes out when it begins or names a new "
    "fact, never twice for the same, whatever instance or restart evaluates it.",
)

CIRCUIT_BREAKER_STATE = Table(
    "nba_orchestration",
    "circuit_breaker_state",
    (
        col("provider", "STRING", True, "proxy provider name, or 'direct'"),
        col("host", "STRING", True, "upstream host"),
        col("state", "STRING", True, "closed | open | half-open"),
        col("failure_count", "INT64", True, "consecutive failures seen by the instance that wrote"),
        col("opened_at", "TIMESTAMP"),
        col("updated_at", "TIMESTAMP", True),
    ),
    natural_key=("provider", "host"),
    description="Circuit breaker per (proxy provider, upstream host), shared by every instance.",
)

SCRAPERS_TABLES = (
    SCRAPER_EXECUTION_LOG,
    DAILY_EXPECTED_SCHEDULE,
    WORKFLOW_DECISIONS,
    CLEANUP_OPERATIONS,
    SCRAPER_FAILURES,
    ALERTS,
    CIRCUIT_BREAKER_STATE,
)
"""What the scrapers service writes, so what it creates when it starts."""
