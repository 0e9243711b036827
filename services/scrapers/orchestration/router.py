"""Orchestration endpoints, called by Cloud Scheduler (or the local scheduler loop)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from libs.common.auth import require_admin_identity
from libs.common.clock import Clock
from libs.common.deps import ClientsDep
from libs.common.messages import ExecutionId, GameDate
from services.scrapers.alerts import DEAD_LETTERS, dead_letter_conditions
from services.scrapers.backfill_gaps import backfill_gaps
from services.scrapers.dead_letters import dead_letter_depths
from services.scrapers.orchestration.cleanup import run_cleanup
from services.scrapers.orchestration.engine import DailySchedule, DecisionRecord, Orchestrator
from services.scrapers.runner import ScrapeRunner

log = logging.getLogger(__name__)


class ScheduleRequest(BaseModel):
    """Which day to write the expected schedule for."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{}, {"date": "2025-01-15"}]}
    )
    date: GameDate | None = Field(None, description="America/New_York day; default: today")


class CleanupRequest(BaseModel):
    """Which runs to republish if they have not reached every phase (default: the window)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{}, {"execution_ids": ["9b2f6a8e-4d1c-4f6e-9a51-0c1d2e3f4a5b"]}]
        },
    )
    execution_ids: list[ExecutionId] | None = Field(
        None,
        max_length=5000,
        description="these runs, whatever their age (a backfill resuming after a crash); "
        "default: runs that finished in the cleanup window",
    )


def orchestration_router() -> APIRouter:
    """`/generate-daily-schedule`, `/evaluate-workflows`, `/evaluate-captures`, `/run-cleanup`."""
    router = APIRouter(tags=["orchestration"], dependencies=[Depends(require_admin_identity)])

    @router.post("/generate-daily-schedule", summary="Write today's expected schedule (05:00 ET)")
    async def generate_daily_schedule(
        request: Request, body: ScheduleRequest | None = None
    ) -> DailySchedule:
        orchestrator: Orchestrator = request.app.state.orchestrator
        clock: Clock = request.app.state.clock
        return await orchestrator.daily_schedule(
            (body.date if body else None) or clock.eastern().date()
        )

    @router.post(
        "/evaluate-workflows",
        summary="Decide RUN / SKIP / ABORT for every workflow and run (hourly)",
    )
    async def evaluate_workflows(request: Request) -> list[DecisionRecord]:
        orchestrator: Orchestrator = request.app.state.orchestrator
        return await orchestrator.evaluate()

    @router.post(
        "/evaluate-captures",
        summary="Run the props captures due before each tip-off (every 5 min)",
    )
    async def evaluate_captures(request: Request) -> list[DecisionRecord]:
        orchestrator: Orchestrator = request.app.state.orchestrator
        return await orchestrator.evaluate_captures()

    @router.post(
        "/run-cleanup",
        summary="Republish runs whose completion never produced a raw load (every 15 min)",
    )
    async def cleanup(
        request: Request, clients: ClientsDep, body: CleanupRequest | None = None
    ) -> dict[str, Any]:
        settings = request.app.state.settings
        clock: Clock = request.app.state.clock
        report = await run_in_threadpool(
            run_cleanup, clients, clock.now(),
            dt.timedelta(minutes=settings.cleanup_lookback_minutes),
            dt.timedelta(minutes=settings.cleanup_grace_minutes),
            body.execution_ids if body else None,
        )  # fmt: skip
        return dataclasses.asdict(report)

    return router


class BackfillGapsRequest(BaseModel):
    """How many failed scrapes to re-run now (default: the configured budget)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{}, {"budget": 5}]})
    budget: int | None = Field(None, ge=1, le=1000)


def gaps_router() -> APIRouter:
    """`/backfill-gaps` (every 4 h) and `/check-dead-letters` (every 5 min)."""
    router = APIRouter(tags=["orchestration"], dependencies=[Depends(require_admin_identity)])

    @router.post(
        "/backfill-gaps",
        summary="Re-run failed scrapes oldest first; alert on scrapers with gaps on 3 of 7 days",
    )
    async def backfill(request: Request, body: BackfillGapsRequest | None = None) -> dict[str, Any]:
        settings = request.app.state.settings
        budget = (body.budget if body else None) or settings.backfill_budget
        report = await backfill_gaps(request.app.state.runner, budget)
        return report.as_dict()

    @router.post(
        "/check-dead-letters",
        summary="Alert at once when a dead-letter queue holds messages (every 5 min)",
    )
    async def check_dead_letters(request: Request) -> dict[str, Any]:
        runner: ScrapeRunner = request.app.state.runner
        depths = await run_in_threadpool(dead_letter_depths, request.app.state.dead_letters)
        unread = [f"{DEAD_LETTERS}:{name}" for name, depth in depths.items() if depth is None]
        reconciled = await run_in_threadpool(
            runner.alerts.reconcile, DEAD_LETTERS, dead_letter_conditions(depths), unread
        )
        return {"depths": depths} | dataclasses.asdict(reconciled)

    return router
