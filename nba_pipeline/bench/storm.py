"""Redelivery storm: one applied message delivered again and again; nothing may change."""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from libs.common.audit import already_processed
from libs.common.messages import Phase, encode_message
from libs.common.sources.registry import get_source
from libs.common.warehouse.base import Warehouse
from nba_pipeline.bench import events as ev
from nba_pipeline.bench.report import Figure, Results
from nba_pipeline.replay.season import Season
from nba_pipeline.stack import LocalStack

CLIENTS = 4
"""Deliveries in flight at once, as the emulator pushes several at a time."""
LINEAGE = ("loaded_at", "built_at")


def table_state(warehouse: Warehouse, table: str, event: ev.Event) -> list[str]:
    """Every row of the event's table and date (lineage timestamps aside), and its audit rows."""
    rows = warehouse.query(
        f"SELECT * FROM {{{table}}} WHERE game_date = @d", {"d": event.message.game_date}
    )
    audit = warehouse.query(
        "SELECT * FROM {nba_orchestration.processed_messages} WHERE execution_id = @id",
        {"id": event.execution_id},
    )
    return sorted(
        json.dumps({k: v for k, v in row.items() if k not in LINEAGE}, default=str, sort_keys=True)
        for row in rows + audit
    )


def _hammer(count: int, call: Callable[[httpx.Client], httpx.Response]) -> tuple[float, list[Any]]:
    """(seconds per call, JSON answers) of `count` calls over CLIENTS connections."""
    with httpx.Client(timeout=30) as client, ThreadPoolExecutor(CLIENTS) as pool:
        started = time.perf_counter()
        answers = list(pool.map(lambda _: call(client), range(count)))
        elapsed = time.perf_counter() - started
    return elapsed / count, [(a.status_code, a.json()) for a in answers]


def storm(stack: LocalStack, season: Season, count: int, day: dt.date, results: Results) -> None:
    """`count` duplicate pushes of an applied message: rows unchanged, cost per duplicate."""
    assert stack.clients is not None
    warehouse = stack.clients.warehouse
    events = ev.write_events(stack.clients.store, season, 1, day)
    ev.publish(stack.clients.publisher, events, None)
    ev.wait_landed(warehouse, events, timeout=60)
    event = events[0]
    table = get_source(event.message.scraper_name).table.fqn
    before = table_state(warehouse, table, event)
    subscription = f"projects/{stack.project}/subscriptions/nba-processors-sub"
    envelope = {
        "message": {
            "data": base64.b64encode(encode_message(event.message)).decode(),
            "attributes": event.message.attributes(),
            "messageId": event.message_id,
        },
        "subscription": subscription,
    }
    url = stack.url("processors")
    per_duplicate, answers = _hammer(count, lambda c: c.post(f"{url}/process", json=envelope))
    per_health, _ = _hammer(max(100, count // 10), lambda c: c.get(f"{url}/health"))
    lookups = max(100, count // 10)
    (applied,) = warehouse.query(
        "SELECT work_key FROM {nba_orchestration.processed_messages} "
        "WHERE execution_id = @id AND phase = @phase",
        {"id": event.execution_id, "phase": Phase.LOAD},
    )
    started = time.perf_counter()
    for _ in range(lookups):
        already_processed(warehouse, applied["work_key"])
    per_lookup = (time.perf_counter() - started) / lookups
    acked = sum(1 for code, body in answers if code == 200 and body.get("status") == "duplicate")
    if acked != count:
        results.problem(
            f"redelivery storm: {count - acked} of {count} duplicates not acked as duplicate"
        )
    unchanged = table_state(warehouse, table, event) == before
    if not unchanged:
        results.problem(f"redelivery storm: {table} or processed_messages changed")
    results.add(
        Figure(
            "redelivery",
            f"{count:,} duplicates: acked as duplicate, rows unchanged",
            acked,
            "msgs",
            target="all",
            met=acked == count and unchanged,
        ),
        Figure(
            "redelivery",
            "cost per duplicate (HTTP push to ack)",
            per_duplicate * 1000,
            "ms",
            per_duplicate / per_health,
            "GET /health",
        ),
        Figure(
            "redelivery",
            "dedupe lookup alone (in process)",
            per_lookup * 1000,
            "ms",
            per_lookup / per_duplicate,
            "whole duplicate",
        ),
    )
