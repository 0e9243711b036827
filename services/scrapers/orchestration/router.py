"""Orchestration endpoints, called by Cloud Scheduler (or the local scheduler loop)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from libs.common.auth import require_admin_identity
from libs.common.deps import ClientsDep
from libs.common.messages import ExecutionId, GameDate
from services.scrapers.alerts import DEAD_LETTERS, dead_letter_conditions
from services.scrapers.backfill_gaps import backfill_gaps
from services.scrapers.dead_letters import dead_letter_depths
from services.scrapers.deps import (
    ClockDep,
    DeadLettersDep,
    OrchestratorDep,
    RunnerDep,
    SettingsDep,
)
from services.scrapers.orchestration.cleanup import run_cleanup
from services.scrapers.orchestration.engine import DailySchedule, DecisionRecord

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


router = APIRouter(tags=["orchestration"], dependencies=[Depends(require_admin_identity)])
"""`/generate-daily-schedule`, `/evaluate-workflows`, `/evaluate-captures`, `/run-cleanup`,
`/backfill-gaps` (every 4 h) and `/check-dead-letters` (every 5 min), called by Cloud
Scheduler."""


@router.post("/generate-daily-schedule", summary="Write today's expected schedule (05:00 ET)")
async def generate_daily_schedule(
    orchestrator: OrchestratorDep, clock: ClockDep, body: ScheduleRequest | None = None
) -> DailySchedule:
    return await orchestrator.daily_schedule(
        (body.date if body else None) or clock.eastern().date()
    )


@router.post(
    "/evaluate-workflows",
    summary="Decide RUN / SKIP / ABORT for every workflow and run (hourly)",
)
async def evaluate_workflows(orchestrator: OrchestratorDep) -> list[DecisionRecord]:
    return await orchestrator.evaluate()


@router.post(
    "/evaluate-captures",
    summary="Run the props captures due before each tip-off (every 5 min)",
)
async def evaluate_captures(orchestrator: OrchestratorDep) -> list[DecisionRecord]:
    return await orchestrator.evaluate_captures()


@router.post(
    "/run-cleanup",
    summary="Republish runs whose completion never produced a raw load (every 15 min)",
)
async def cleanup(
    clients: ClientsDep, settings: SettingsDep, clock: ClockDep, body: CleanupRequest | None = None
) -> dict[str, Any]:
    report = await run_in_threadpool(
        run_cleanup, clients, clock.now(),
        dt.timedelta(minutes=settings.cleanup_lookback_minutes),
        dt.timedelta(minutes=settings.cleanup_grace_minutes),
        body.execution_ids if body else None,
    )  # fmt: skip
    return dataclasses.asdict(report)


class BackfillGapsRequest(BaseModel):
    """How many failed scrapes to re-run now (default: the configured budget)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{}, {"budget": 5}]})
    budget: int | None = Field(None, ge=1, le=1000)


@router.post(
    "/backfill-gaps",
    summary="Re-run failed scrapes oldest first; alert on scrapers with gaps on 3 of 7 days",
)
async def backfill(
    runner: RunnerDep, settings: SettingsDep, body: BackfillGapsRequest | None = None
) -> dict[str, Any]:
    budget = (body.budget if body else None) or settings.backfill_budget
    report = await backfill_gaps(runner, budget)
    return report.as_dict()


@router.post(
    "/check-dead-letters",
    summary="Alert at once when a dead-letter queue holds messages (every 5 min)",
)
async def check_dead_letters(runner: RunnerDep, dead_letters: DeadLettersDep) -> dict[str, Any]:
    depths = await run_in_threadpool(dead_letter_depths, dead_letters)
    unread = [f"{DEAD_LETTERS}:{name}" for name, depth in depths.items() if depth is None]
    reconciled = await run_in_threadpool(
        runner.alerts.reconcile, DEAD_LETTERS, dead_letter_conditions(depths), unread
    )
    return {"depths": depths} | dataclasses.asdict(reconciled)
