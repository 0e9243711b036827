"""Operators' views of runs, loads and gaps, and their few actions (dismiss a gap, close a
circuit), served by the process that owns the warehouse.

Locally DuckDB admits one process per file, so the CLI (backfill, gaps, players) goes through
these endpoints instead of opening the file; in production they read BigQuery the same way.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from libs.common.analytics import (
    ANALYTICS_TABLES,
    AnalyticsTableName,
    analytics_table,
    export_sql,
)
from libs.common.audit import RUN_ROWS_FINAL_FIRST, final_runs, pending_executions
from libs.common.auth import Claims, require_admin_identity
from libs.common.deps import WarehouseDep
from libs.common.messages import ExecutionId, GameDate
from libs.common.players import unmatched_names
from libs.common.sources.registry import SOURCES
from libs.common.warehouse import TableNotFoundError
from services.scrapers.backfill_gaps import reconcile_gap_alerts
from services.scrapers.deps import RunnerDep
from services.scrapers.failures import dismissed, gap_by_id, recent_gaps, save_gap

EXECUTION_COLUMNS = (
    "execution_id, scraper_name, workflow, status, game_date, params, gcs_path, record_count, "
    "duration_seconds, error_class, error_message, started_at, finished_at, log_seq"
)


class ProgressRequest(BaseModel):
    """Runs whose progress through the phases the caller waits on."""

    execution_ids: list[ExecutionId] = Field(
        max_length=5000, examples=[["9b2f6a8e-4d1c-4f6e-9a51-0c1d2e3f4a5b"]]
    )
    reprocess_id: uuid.UUID | None = Field(
        None,
        description="wait on that `nba-pipeline reprocess` of the runs instead of their first load",
        examples=["3f1c2b7e-8d4a-4c61-9e0b-5a6f7d8e9c01"],
    )


RunStatus = Literal["success", "no_data", "failed"]
MAX_UNMATCHED_DAYS = 400
"""A season and then some: one request lists the unmatched names of at most this many days."""
MAX_OFFSET = 10_000_000
"""More runs than any log holds (a season is about 100,000); beyond a 64-bit integer the
warehouse itself would fail."""


def query_error(field: str, message: str) -> HTTPException:
    """A 422 shaped like FastAPI's own validation errors, naming the query parameter."""
    return HTTPException(422, [{"loc": ["query", field], "msg": message, "type": "value_error"}])


@contextlib.contextmanager
def analytics_table_needed(table: str) -> Iterator[None]:
    """A read of an analytics table the analytics service has not created yet is a 503
    saying so (it creates its tables when it starts)."""
    try:
        yield
    except TableNotFoundError:
        raise HTTPException(
            503, f"{table} does not exist yet: start the analytics service"
        ) from None


def tables_with_game_date() -> list[str]:
    """Raw and analytics tables that carry a game_date column."""
    tables = {s.table.fqn: s.table for s in SOURCES.values()} | {t.fqn: t for t in ANALYTICS_TABLES}
    return sorted(name for name, table in tables.items() if "game_date" in table.column_names)


router = APIRouter(tags=["admin"], dependencies=[Depends(require_admin_identity)])
"""`/executions/{id}`, `/admin/recent-executions`, `/admin/pipeline-progress`,
`/admin/table-counts`, `/admin/players/unmatched`, `/admin/export`, `/admin/gaps`,
`/admin/gaps/{failure_id}/dismiss`, `/admin/circuit-breakers/reset`."""


@router.get(
    "/executions/{execution_id}",
    summary="One run: its final log row, and every row, final first",
    responses={404: {"description": "no run has this execution_id"}},
)
def execution(execution_id: uuid.UUID, warehouse: WarehouseDep) -> dict[str, Any]:
    rows = warehouse.query(
        f"SELECT {EXECUTION_COLUMNS} FROM {{nba_orchestration.scraper_execution_log}} "
        f"WHERE execution_id = @id ORDER BY {RUN_ROWS_FINAL_FIRST}",
        {"id": str(execution_id)},
    )
    if not rows:
        raise HTTPException(
            404,
            f"no run with execution_id '{execution_id}'; GET /admin/recent-executions lists runs",
        )
    return {"execution": rows[0], "history": rows}


@router.get(
    "/admin/recent-executions",
    summary="Runs (each by its final log row), newest first, filtered and paginated",
)
def recent_executions(
    warehouse: WarehouseDep,
    scraper_name: str | None = None,
    status: RunStatus | None = None,
    workflow: Annotated[str | None, Query(max_length=100)] = None,
    game_date: dt.date | None = None,
    date_from: Annotated[dt.date | None, Query(alias="from")] = None,
    date_to: Annotated[dt.date | None, Query(alias="to")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> dict[str, Any]:
    if scraper_name is not None and scraper_name not in SOURCES:
        raise query_error(
            "scraper_name", f"unknown scraper '{scraper_name}'; known: {', '.join(SOURCES)}"
        )
    if date_from and date_to and date_from > date_to:
        raise query_error("from", f"'from' ({date_from}) is after 'to' ({date_to})")
    filters = {"scraper_name": scraper_name, "workflow": workflow, "game_date": game_date}
    where = [f"{name} = @{name}" for name, value in filters.items() if value is not None]
    params: dict[str, Any] = {k: v for k, v in filters.items() if v is not None}
    if date_from:
        where.append("game_date >= @date_from")
        params["date_from"] = date_from
    if date_to:
        where.append("game_date <= @date_to")
        params["date_to"] = date_to
    by_status = ""
    if status is not None:  # on the final row: a superseded row has another status
        by_status = "WHERE status = @status"
        params["status"] = status
    rows = warehouse.query(
        f"SELECT {EXECUTION_COLUMNS} FROM {final_runs(' AND '.join(where) or 'TRUE')} "
        f"{by_status} ORDER BY finished_at DESC, execution_id "
        f"LIMIT {limit + 1} OFFSET {offset}",
        params,
    )
    return {
        "executions": rows[:limit],
        "limit": limit,
        "offset": offset,
        "has_more": len(rows) > limit,
    }


@router.post(
    "/admin/pipeline-progress", summary="Which of these runs have not reached every phase yet"
)
def pipeline_progress(body: ProgressRequest, warehouse: WarehouseDep) -> dict[str, list[str]]:
    reprocess_id = str(body.reprocess_id) if body.reprocess_id else None
    return {"pending": pending_executions(warehouse, body.execution_ids, reprocess_id)}


@router.get("/admin/table-counts", summary="Rows per raw and analytics table over a date range")
def table_counts(
    warehouse: WarehouseDep,
    date_from: Annotated[dt.date, Query(alias="from")],
    date_to: Annotated[dt.date, Query(alias="to")],
) -> dict[str, int | None]:
    counts: dict[str, int | None] = {}
    for table in tables_with_game_date():
        try:
            rows = warehouse.query(
                f"SELECT count(*) AS n FROM {{{table}}} WHERE game_date BETWEEN @a AND @b",
                {"a": date_from, "b": date_to},
            )
        except TableNotFoundError:  # no service that writes it has started yet
            counts[table] = None
        else:
            counts[table] = int(rows[0]["n"])
    return counts


@router.get(
    "/admin/players/unmatched",
    summary="Prop names of a date range that matched no player (nba_analytics.player_map)",
    responses={503: {"description": "the analytics service has not created the map yet"}},
)
def players_unmatched(
    warehouse: WarehouseDep,
    date_from: Annotated[dt.date, Query(alias="from")],
    date_to: Annotated[dt.date, Query(alias="to")],
) -> dict[str, Any]:
    if date_from > date_to:
        raise query_error("from", f"'from' ({date_from}) is after 'to' ({date_to})")
    if (date_to - date_from).days >= MAX_UNMATCHED_DAYS:
        raise query_error(
            "to", f"at most {MAX_UNMATCHED_DAYS} days at once; ask for a shorter range"
        )
    with analytics_table_needed("nba_analytics.player_map"):
        return {"names": unmatched_names(warehouse, date_from, date_to)}


@router.get(
    "/admin/export",
    summary="One game date of an analytics table, for `nba-pipeline export`",
    responses={503: {"description": "the analytics service has not created the table yet"}},
)
def export(
    warehouse: WarehouseDep,
    table: AnalyticsTableName,
    date: GameDate,
) -> dict[str, Any]:
    # One date per request: a day of player_game_lines is a few MB of JSON, well under
    # Cloud Run's 32 MB response limit; a season in one answer would not be.
    declared = analytics_table(table)
    with analytics_table_needed(table):
        rows = warehouse.query(export_sql(declared), {"game_date": date})
    return {"table": table, "columns": declared.column_names, "rows": rows}


class ResetRequest(BaseModel):
    """Which circuits to close; both empty closes every open one."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{}, {"host": "api.balldontlie.io"}]}
    )
    provider: str | None = Field(None, description="proxy provider name (`direct` without proxies)")
    host: str | None = Field(None, description="upstream host, with :port when it has one")


@router.post(
    "/admin/circuit-breakers/reset",
    summary="Close open circuits now instead of waiting for the cooldown",
)
def reset_breakers(body: ResetRequest, runner: RunnerDep) -> dict[str, list[str]]:
    return {"closed": runner.breakers.reset(body.provider, body.host)}


@router.get("/admin/gaps", summary="Failed scrapes (gaps), the last failed first")
def gaps(
    warehouse: WarehouseDep,
    include_closed: Annotated[
        bool, Query(description="also gaps closed by data or dismissed by an operator")
    ] = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> dict[str, Any]:
    return {"gaps": recent_gaps(warehouse, include_closed, limit)}


class DismissGapRequest(BaseModel):
    """Why no run will ever fill the gap; it is kept on the gap."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"reason": "game postponed: no box score will exist"}]},
    )
    reason: str = Field(min_length=3, max_length=500)


@router.post(
    "/admin/gaps/{failure_id}/dismiss",
    summary="Close a gap no run can fill; the backfiller stops re-running it, its alert clears",
    responses={
        404: {"description": "no gap has this failure_id"},
        409: {"description": "data has closed the gap already"},
    },
)
async def dismiss_gap(
    failure_id: uuid.UUID,
    body: DismissGapRequest,
    runner: RunnerDep,
    caller: Annotated[Claims | None, Depends(require_admin_identity)],
) -> dict[str, Any]:
    """Dismissing a dismissed gap again changes nothing (its first reason stays): safe to
    repeat. A later failure of the same scrape opens a new gap. With authentication on, the
    caller's email is kept on the gap (`dismissed_by`)."""
    warehouse = runner.clients.warehouse
    gap = await run_in_threadpool(gap_by_id, warehouse, str(failure_id))
    if gap is None:
        raise HTTPException(
            404, f"no gap has failure_id '{failure_id}'; GET /admin/gaps lists the open ones"
        )
    if gap["backfilled"]:
        raise HTTPException(
            409,
            f"gap '{failure_id}' was closed by data at {gap['backfilled_at']} (run "
            f"{gap['backfill_execution_id']}); there is nothing to dismiss",
        )
    if gap["dismissed_at"] is None:
        gap = dismissed(gap, body.reason, caller.email if caller else None, runner.clock.now())
        await run_in_threadpool(save_gap, warehouse, runner.gaps, gap)
    _, cleared = await reconcile_gap_alerts(runner)
    return {"gap": gap, "cleared_alerts": cleared}
