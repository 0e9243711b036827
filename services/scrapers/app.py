"""Scrapers service (phase 1): `POST /process` runs one scraper by registry name."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from libs.common.auth import require_admin_identity
from libs.common.clock import Clock
from libs.common.deps import Clients
from libs.common.errors import UnknownScraperError
from libs.common.messages import SCRAPER_COMPLETE_TOPIC, RunResult, Workflow
from libs.common.secrets import secrets_from_settings, with_secrets
from libs.common.service import create_service_app
from libs.common.validation import error_details
from services.scrapers.admin import router as admin_router
from services.scrapers.dashboard import DashboardCache
from services.scrapers.dashboard import router as dashboard_router
from services.scrapers.dead_letters import DeadLetterCounter, observe_dlq_depth
from services.scrapers.deps import RunnerDep
from services.scrapers.orchestration.config import load_workflows
from services.scrapers.orchestration.engine import Orchestrator
from services.scrapers.orchestration.router import router as orchestration_router
from services.scrapers.reprocess import router as reprocess_router
from services.scrapers.runner import ScrapeRunner
from services.scrapers.settings import ScraperSettings
from services.scrapers.tables import SCRAPERS_TABLES


class ScrapeRequest(BaseModel):
    """A direct request to run one scraper (Cloud Scheduler, the CLI, tests)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "scraper_name": "bdl_games",
                    "params": {"date": "2025-02-20"},
                    "workflow": "MANUAL",
                }
            ]
        },
    )

    scraper_name: str = Field(
        max_length=64, description="registry name, e.g. bdl_games; GET /scrapers lists them"
    )
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="the scraper's parameters, bounded to what its upstream can answer "
        "(GET /scrapers shows each scraper's)",
    )
    workflow: Workflow = "MANUAL"


router = APIRouter(tags=["scrape"], dependencies=[Depends(require_admin_identity)])
"""`POST /process` and the scraper catalog."""


@router.post(
    "/process",
    response_model=RunResult,
    summary="Run one scraper",
    responses={
        400: {"description": "unknown scraper_name (lists the known ones)"},
        422: {
            "description": "params invalid for that scraper, or outside what its upstream "
            "can answer (`loc` names `params.<field>`); nothing is run or recorded"
        },
        502: {
            "model": RunResult,
            "description": "the run failed; it is recorded with its error",
        },
        503: {
            "model": RunResult,
            "description": "the completion could not be published: the run is recorded as "
            "failed, with `publish failed: ...` in error_message",
        },
    },
)
async def process(body: ScrapeRequest, runner: RunnerDep) -> JSONResponse:
    try:
        run = await runner.run(body.scraper_name, body.params, body.workflow)
    except UnknownScraperError as exc:
        raise HTTPException(exc.status_code, str(exc)) from None
    except ValidationError as exc:
        raise HTTPException(422, error_details(exc.errors(), ("params",))) from None
    code = 200 if run.status != "failed" else 502 if run.published else 503
    return JSONResponse(run.model_dump(mode="json"), code)


@router.get("/scrapers", summary="The scraper catalog")
def scrapers() -> list[dict[str, Any]]:
    from libs.common.sources.registry import SOURCES

    return [
        {
            "scraper_name": s.name,
            "upstream": s.upstream,
            "table": s.table.fqn,
            "description": s.description,
            "params": s.params_model.model_json_schema(),
        }
        for s in SOURCES.values()
    ]


def create_app(
    settings: ScraperSettings | None = None,
    clients: Clients | None = None,
    clock: Clock | None = None,
) -> FastAPI:
    """The scrapers service app; `clock` is settable so tests drive orchestration without sleeping."""
    settings = settings or ScraperSettings()
    settings = with_secrets(settings, secrets_from_settings(settings))
    clock = clock or Clock()
    config = load_workflows(settings.workflows_file)

    def start_runner(app: FastAPI) -> None:
        app.state.dead_letters = DeadLetterCounter(settings.gcp_project)
        observe_dlq_depth(app, app.state.dead_letters.depths)
        app.state.runner = ScrapeRunner(settings, app.state.clients, clock)
        app.state.orchestrator = Orchestrator(
            config, app.state.runner, app.state.clients.warehouse, clock,
            dt.timedelta(minutes=settings.closing_line_max_age_minutes),
        )  # fmt: skip

    async def close_runner(app: FastAPI) -> None:
        observe_dlq_depth(app, None)
        app.state.dead_letters.close()
        await app.state.runner.aclose()

    return create_service_app(
        "NBA scrapers (phase 1)",
        "Fetches upstreams, writes immutable raw files to GCS, publishes nba-scraper-complete.",
        settings,
        SCRAPERS_TABLES,
        [router, admin_router, orchestration_router, reprocess_router, dashboard_router],
        clients,
        on_startup=start_runner,
        on_shutdown=close_runner,
        publishes=SCRAPER_COMPLETE_TOPIC,
        state={"clock": clock, "dashboard_cache": DashboardCache()},
    )
