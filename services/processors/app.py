"""Processors service (phase 2): `POST /process` takes nba-scraper-complete push deliveries."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse

from libs.common.audit import ORCHESTRATION_TABLES
from libs.common.deps import Clients, ClientsDep
from libs.common.messages import PushEnvelope
from libs.common.push import handle_push
from libs.common.service import create_service_app
from libs.common.settings import CommonSettings
from libs.common.sources.registry import raw_tables
from services.processors.loader import load_message

PUSH_RESPONSES: dict[int | str, dict[str, str]] = {
    200: {"description": "acked: loaded, duplicate delivery, no data or a failed run"},
    400: {"description": "nack: bad envelope, bad base64/JSON, unknown scraper_name"},
    422: {"description": "nack: the raw file does not parse"},
    500: {"description": "nack: file unreadable or load failed (retried, then DLQ)"},
    503: {"description": "nack: phase-2 publish failed (retried)"},
}


def process_router() -> APIRouter:
    """`POST /process`."""
    router = APIRouter(tags=["process"])

    @router.post(
        "/process", summary="Load the raw file of one scraper run", responses=PUSH_RESPONSES
    )
    def process(envelope: PushEnvelope, clients: ClientsDep) -> JSONResponse:
        return handle_push(
            envelope, "processors", clients.warehouse, lambda e: load_message(clients, e)
        )

    return router


def create_app(settings: CommonSettings | None = None, clients: Clients | None = None) -> FastAPI:
    """The processors service app."""
    settings = settings or CommonSettings()
    return create_service_app(
        "NBA processors (phase 2)",
        "Loads raw files into nba_raw.* idempotently and publishes nba-phase2-complete.",
        settings,
        (*ORCHESTRATION_TABLES, *raw_tables()),
        [process_router()],
        clients,
    )
