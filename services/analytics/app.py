"""Analytics service (phase 3): `POST /process` takes nba-phase2-complete push deliveries."""

from __future__ import annotations

from fastapi import FastAPI

from libs.common.analytics import ANALYTICS_TABLES, builds_reading
from libs.common.audit import ORCHESTRATION_TABLES
from libs.common.deps import Clients
from libs.common.messages import MessageError, Phase2Complete, PushEnvelope, decode_message
from libs.common.push import Applied, push_router
from libs.common.service import create_service_app
from libs.common.settings import CommonSettings
from libs.common.sources.registry import get_source, raw_tables
from libs.common.tracing import span_from


def build_for(clients: Clients, envelope: PushEnvelope) -> Applied:
    """Rebuild, for the message's game date, every analytics table that reads the loaded table."""
    attributes = envelope.message.attributes
    with span_from(attributes, "build", source_table=attributes.get("source_table", ""),
                   execution_id=attributes.get("execution_id", "")):  # fmt: skip
        return _build(clients, envelope)


def _build(clients: Clients, envelope: PushEnvelope) -> Applied:
    message = decode_message(envelope, Phase2Complete)
    source = get_source(message.scraper_name)
    if message.source_table != source.table.fqn:
        raise MessageError(
            f"source_table '{message.source_table}' is not {source.name}'s table ({source.table.fqn})"
        )
    applied = Applied(
        "ignored",
        source.name,
        message.execution_id,
        details={"game_date": message.game_date, "target_table": message.source_table},
    )
    builds = builds_reading(message.source_table)
    if not builds or message.game_date is None:
        return applied
    written = clients.warehouse.rebuild(
        [(build.table, build.select_sql) for build in builds], {"game_date": message.game_date}
    )
    applied.record_count = sum(written)
    applied.outcome = "built"
    applied.details["target_table"] = ",".join(build.table.fqn for build in builds)
    return applied


def create_app(settings: CommonSettings | None = None, clients: Clients | None = None) -> FastAPI:
    """The analytics service app."""
    settings = settings or CommonSettings()
    return create_service_app(
        "NBA analytics (phase 3)",
        "Builds nba_analytics.* for a game date whenever a raw table it reads is loaded.",
        settings,
        (*ORCHESTRATION_TABLES, *raw_tables(), *ANALYTICS_TABLES),
        [
            push_router(
                "analytics",
                "Rebuild the analytics a raw-table load affects",
                "built, or no analytics table reads that raw table",
                build_for,
            )
        ],
        clients,
        uses=(),  # builds read and write only the warehouse: no raw files, no next phase
    )
