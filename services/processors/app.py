"""Processors service (phase 2): `POST /process` takes nba-scraper-complete push deliveries."""

from __future__ import annotations

from fastapi import FastAPI

from libs.common.audit import PROCESSED_MESSAGES
from libs.common.deps import Clients
from libs.common.messages import PHASE2_COMPLETE_TOPIC
from libs.common.push import push_router, push_state
from libs.common.service import create_service_app
from libs.common.settings import CommonSettings
from libs.common.sources.registry import raw_tables
from services.processors.loader import LOAD_PHASE

router = push_router(
    "Load the raw file of one scraper run",
    "loaded, no data, or a failed run",
    lambda settings: LOAD_PHASE,
)


def create_app(settings: CommonSettings | None = None, clients: Clients | None = None) -> FastAPI:
    """The processors service app."""
    return create_service_app(
        "NBA processors (phase 2)",
        "Loads raw files into nba_raw.* idempotently and publishes nba-phase2-complete.",
        settings or CommonSettings(),
        (PROCESSED_MESSAGES, *raw_tables()),
        [router],
        clients,
        publishes=PHASE2_COMPLETE_TOPIC,
        state=push_state(),
    )
