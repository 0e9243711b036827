"""Load the file a phase-1 message points at into its raw table, then announce the load."""

from __future__ import annotations

import logging

from libs.common.deps import Clients
from libs.common.messages import (
    PHASE2_COMPLETE_TOPIC,
    REPROCESS_ATTRIBUTE,
    Phase2Complete,
    ScraperComplete,
)
from libs.common.push import DUPLICATE, Applied, Delivery, PushPhase
from libs.common.rawfile import fetched_at, split_envelope
from libs.common.sources.base import ParseContext
from libs.common.sources.registry import get_source
from libs.common.tracing import span_from, traceparent
from libs.common.warehouse.base import last_row_per_key

log = logging.getLogger(__name__)


def load_message(clients: Clients, delivery: Delivery[ScraperComplete]) -> Applied:
    """Apply one nba-scraper-complete message: parse its file, upsert rows, publish phase 2."""
    attributes = delivery.envelope.message.attributes
    with span_from(attributes, "load", scraper_name=attributes.get("scraper_name", ""),
                   execution_id=delivery.work.execution_id):  # fmt: skip
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
    stored = clients.store.read_json(message.gcs_path)
    applied.version = str(stored.generation)
    if delivery.already_applied(applied.version):
        applied.outcome = DUPLICATE
        return applied
    meta, body = split_envelope(stored.document)
    if meta and meta.get("body_file"):
        body = clients.store.read_gzip_text(str(meta["body_file"]))
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
            extra={"fields": {"scraper_name": source.name, "gcs_path": message.gcs_path,
                              "table": source.table.fqn, "rows_dropped": dropped}},
        )  # fmt: skip
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


LOAD_PHASE = PushPhase(
    "processors", ScraperComplete, lambda message: message.gcs_path or "", load_message
)
"""Phase 2: a phase-1 message's work is its run's raw file (at the generation read)."""
