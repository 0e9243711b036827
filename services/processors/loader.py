"""Load the file a phase-1 message points at into its raw table, then announce the load."""

from __future__ import annotations

import logging
from typing import Any

from libs.common.deps import Clients
from libs.common.gcs import RawFileStore
from libs.common.messages import (
    PHASE2_COMPLETE_TOPIC,
    REPROCESS_ATTRIBUTE,
    MessageError,
    Phase,
    Phase2Complete,
    ScraperComplete,
)
from libs.common.push import DUPLICATE, Applied, Delivery, PushPhase
from libs.common.rawfile import fetched_at, recorded_game_date, split_envelope
from libs.common.sources.base import ParseContext, ParseError, Source
from libs.common.sources.registry import get_source
from libs.common.tracing import span_from, traceparent
from libs.common.validation import bounded
from libs.common.warehouse.base import last_row_per_key

log = logging.getLogger(__name__)


def load_message(clients: Clients, delivery: Delivery[ScraperComplete]) -> Applied:
    """Apply one nba-scraper-complete message: parse its file, upsert rows, publish phase 2."""
    attributes = delivery.envelope.message.attributes
    with span_from(
        attributes,
        Phase.LOAD.action,
        scraper_name=attributes.get("scraper_name", ""),
        execution_id=delivery.work.execution_id,
    ):
        return _load(clients, delivery)


def _load(clients: Clients, delivery: Delivery[ScraperComplete]) -> Applied:
    message = delivery.message
    source = get_source(message.scraper_name)
    applied = Applied(
        "skipped", source.name, message.execution_id, details={"game_date": message.game_date}
    )
    if message.status == "failed" or message.gcs_path is None:
        if delivery.already_applied():
            applied.outcome = DUPLICATE
        else:
            applied.outcome = "skipped_failed_run" if message.status == "failed" else "no_data"
        return applied
    check_under_prefix(clients.store, source, message.gcs_path, "gcs_path")
    stored = clients.store.read_json(message.gcs_path)
    applied.version = str(stored.generation)
    if delivery.already_applied(applied.version):
        applied.outcome = DUPLICATE
        return applied
    meta, body = split_envelope(stored.document)
    check_message_against_file(source, message, meta)
    if meta and meta.get("body_file"):
        body_file = str(meta["body_file"])
        check_under_prefix(clients.store, source, body_file, "meta.body_file")
        body = clients.store.read_gzip_text(body_file)
    context = ParseContext(
        message.execution_id, message.gcs_path, message.game_date, fetched_at(meta), message.params
    )
    rows, dropped = last_row_per_key(source.table, source.parse(body, context))
    applied.details |= {
        "target_table": source.table.fqn,
        "gcs_path": message.gcs_path,
        "gcs_generation": stored.generation,
        "rows_dropped": dropped,
    }
    if dropped:
        log.warning(
            "rows sharing a natural key dropped; the last one listed was loaded",
            extra={
                "fields": {
                    "scraper_name": source.name,
                    "gcs_path": message.gcs_path,
                    "table": source.table.fqn,
                    "rows_dropped": dropped,
                }
            },
        )
    applied.record_count = len(rows)
    if not rows:
        applied.outcome = "no_data"
        return applied
    applied.rows_changed = clients.warehouse.upsert(source.table, rows)
    loaded = Phase2Complete(
        scraper_name=source.name,
        source_table=source.table.fqn,
        game_date=message.game_date,
        record_count=len(rows),
        rows_changed=applied.rows_changed,
        execution_id=message.execution_id,
        gcs_path=message.gcs_path,
    )
    attributes = loaded.attributes(traceparent())
    if delivery.work.reprocess_id:
        attributes[REPROCESS_ATTRIBUTE] = delivery.work.reprocess_id
    clients.publisher.publish(PHASE2_COMPLETE_TOPIC, loaded, attributes)
    applied.outcome = "loaded"
    return applied


def check_under_prefix(store: RawFileStore, source: Source, gcs_path: str, field: str) -> None:
    """MessageError (400) unless `gcs_path` lies under the scraper's own prefix (and `..`
    does not lead out of it): another scraper's file, a workflow claim or a ledger marker is
    never this scraper's raw file."""
    prefix = store.gcs_path(f"{source.gcs_prefix}/")
    if not gcs_path.startswith(prefix) or ".." in gcs_path.split("/"):
        raise MessageError(
            f"{field} '{bounded(gcs_path)}' is not under {source.name}'s prefix {prefix}"
        )


def check_message_against_file(
    source: Source, message: ScraperComplete, meta: dict[str, Any] | None
) -> None:
    """The file is the record of its run: MessageError (400) naming both values if the
    message says another scraper, run or game date than the file's meta envelope does."""
    if meta is None:
        raise ParseError(
            source.name,
            "meta",
            "missing: not a raw file of a scraper run (no meta envelope "
            "with scraper_name, execution_id, fetched_at)",
        )
    day = message.game_date.isoformat() if message.game_date else None
    facts = [
        ("scraper_name", message.scraper_name, "meta.scraper_name", meta.get("scraper_name")),
        ("execution_id", message.execution_id, "meta.execution_id", meta.get("execution_id")),
        ("game_date", day, "meta.request.params.date", recorded_game_date(meta)),
    ]
    disagreements = [
        f"{field} '{said}', but the file's {where} is '{bounded(str(recorded))}'"
        for field, said, where, recorded in facts
        if said != (None if recorded is None else str(recorded))
    ]
    if disagreements:
        raise MessageError(
            f"the message disagrees with its raw file {bounded(str(message.gcs_path))}: "
            + "; ".join(disagreements)
        )


LOAD_PHASE = PushPhase(
    Phase.LOAD, ScraperComplete, lambda message: message.gcs_path or "", load_message
)
"""Phase 2: a phase-1 message's work is its run's raw file (at the generation read)."""
