"""Analytics service (phase 3): `POST /process` takes nba-phase2-complete push deliveries."""

from __future__ import annotations

from functools import cache, partial

from fastapi import FastAPI

from libs.common.analytics import ANALYTICS_TABLES, builds_reading
from libs.common.audit import PROCESSED_MESSAGES
from libs.common.deps import Clients
from libs.common.ledger import ledger_uses
from libs.common.messages import MessageError, Phase, Phase2Complete
from libs.common.push import DUPLICATE, Applied, Delivery, PushPhase, push_router, push_state
from libs.common.service import create_service_app
from libs.common.settings import CommonSettings
from libs.common.sources.props import CLOSING_LINE_MAX_AGE_MINUTES
from libs.common.tables.raw import loaded_by
from libs.common.tracing import span_from
from services.analytics.board import router as board_router


def build_for(
    clients: Clients, delivery: Delivery[Phase2Complete], closing_line_max_age_minutes: int
) -> Applied:
    """Rebuild, for the message's game date, every analytics table that reads the loaded table."""
    attributes = delivery.envelope.message.attributes
    with span_from(attributes, Phase.BUILD.action, source_table=delivery.work.target,
                   execution_id=delivery.work.execution_id):  # fmt: skip
        return _build(clients, delivery, closing_line_max_age_minutes)


def _build(
    clients: Clients, delivery: Delivery[Phase2Complete], closing_line_max_age_minutes: int
) -> Applied:
    message = delivery.message
    table = loaded_by(message.scraper_name)
    if message.source_table != table.fqn:
        raise MessageError(
            f"source_table '{message.source_table}' is not {message.scraper_name}'s table "
            f"({table.fqn})"
        )
    applied = Applied(
        "ignored",
        message.scraper_name,
        message.execution_id,
        details={"game_date": message.game_date, "target_table": message.source_table},
    )
    if delivery.already_applied():
        applied.outcome = DUPLICATE
        return applied
    builds = builds_reading(message.source_table)
    if not builds or message.game_date is None:
        return applied
    # One rebuild, one BigQuery job: the builds in dependency order, so the day's own tables
    # come before the onwards ones that read them.
    targets = [build.target_for(closing_line_max_age_minutes) for build in builds]
    written = clients.warehouse.rebuild(targets, {"game_date": message.game_date})
    applied.record_count = sum(written)
    applied.outcome = "built"
    applied.details["target_table"] = ",".join(build.table.fqn for build in builds)
    return applied


@cache
def build_phase(closing_line_max_age_minutes: int) -> PushPhase[Phase2Complete]:
    """Phase 3: a phase-2 message's work is its run's load of one raw table."""
    apply = partial(build_for, closing_line_max_age_minutes=closing_line_max_age_minutes)
    return PushPhase(Phase.BUILD, Phase2Complete, lambda message: message.source_table, apply)


BUILD_PHASE = build_phase(CLOSING_LINE_MAX_AGE_MINUTES)
"""Phase 3 with the default closing-line age limit."""

router = push_router(
    "Rebuild the analytics a raw-table load affects",
    "built, or no analytics table reads that raw table",
    lambda settings: build_phase(settings.closing_line_max_age_minutes),
)


def create_app(settings: CommonSettings | None = None, clients: Clients | None = None) -> FastAPI:
    """The analytics service app."""
    settings = settings or CommonSettings()
    return create_service_app(
        "NBA analytics (phase 3)",
        "Builds nba_analytics.* for a game date whenever a raw table it reads is loaded.",
        settings,
        (PROCESSED_MESSAGES, *ANALYTICS_TABLES),
        [router, board_router],
        clients,
        # Builds read and write only the warehouse: no raw files, no next phase; the bucket
        # only when it holds the work ledger, so otherwise no storage client at cold start.
        uses=ledger_uses(settings.work_ledger),
        state=push_state(),
    )
