"""Load the file a phase-1 message points at into its raw table, then announce the load."""

from __future__ import annotations

from libs.common.deps import Clients
from libs.common.messages import (
    PHASE2_COMPLETE_TOPIC,
    Phase2Complete,
    PushEnvelope,
    ScraperComplete,
    decode_message,
)
from libs.common.push import Applied
from libs.common.rawfile import fetched_at, split_envelope
from libs.common.sources.base import ParseContext
from libs.common.sources.registry import get_source
from libs.common.tracing import span_from, traceparent


def load_message(clients: Clients, envelope: PushEnvelope) -> Applied:
    """Apply one nba-scraper-complete message: parse its file, upsert rows, publish phase 2."""
    attributes = envelope.message.attributes
    with span_from(attributes, "load", scraper_name=attributes.get("scraper_name", ""),
                   execution_id=attributes.get("execution_id", "")):  # fmt: skip
        return _load(clients, envelope)


def _load(clients: Clients, envelope: PushEnvelope) -> Applied:
    message = decode_message(envelope, ScraperComplete)
    source = get_source(message.scraper_name)
    applied = Applied(
        "skipped", source.name, message.execution_id, details={"game_date": message.game_date}
    )
    if message.status == "failed" or message.gcs_path is None:
        applied.outcome = "skipped_failed_run" if message.status == "failed" else "no_data"
        return applied
    stored = clients.store.read_json(message.gcs_path)
    meta, body = split_envelope(stored.document)
    if meta and meta.get("body_file"):
        body = clients.store.read_gzip_text(str(meta["body_file"]))
    context = ParseContext(
        message.execution_id, message.gcs_path, message.game_date, fetched_at(meta), message.params
    )
    rows = source.parse(body, context)
    applied.details |= {
        "target_table": source.table.fqn,
        "gcs_path": message.gcs_path,
        "gcs_generation": stored.generation,
    }
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
    clients.publisher.publish(PHASE2_COMPLETE_TOPIC, loaded, loaded.attributes(traceparent()))
    applied.outcome = "loaded"
    return applied
