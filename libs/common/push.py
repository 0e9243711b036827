"""Pub/Sub push handling shared by phases 2 and 3: dedupe, status codes, audit.

Status codes are the delivery contract: 200 acks (applied, duplicate, nothing to do);
400/422 where a retry cannot help and 500/503 where it can are both nacks, so the message
is retried and, after the subscription's max attempts, lands intact in its DLQ. Never 202.
A delivery that arrives while another of the same message is being applied gets a 409.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from libs.common.audit import already_processed, record_processed
from libs.common.auth import require_push_identity
from libs.common.deps import Clients, ClientsDep
from libs.common.gcs import StorageError
from libs.common.messages import MessageError, PushEnvelope
from libs.common.metrics import count_run
from libs.common.pubsub import PublishError
from libs.common.sources.base import ParseError
from libs.common.sources.registry import UnknownScraperError
from libs.common.warehouse.base import Warehouse

log = logging.getLogger(__name__)

REJECTION_STATUS: tuple[tuple[type[Exception], int], ...] = (
    (MessageError, 400),
    (UnknownScraperError, 400),
    (ParseError, 422),
    (StorageError, 500),
    (PublishError, 503),
)
"""Known failures and the code each gets; anything else is a 500 (retried)."""


class Deliveries:
    """Which messages this process is applying now, and which it applied lately.

    Pub/Sub may deliver a message again while the first delivery is still being applied.
    Both would find no processed row, apply, and log the message twice; acking the second
    could also ack a message whose first delivery then fails. So the second is nacked with a
    409 and comes back later. A message this process applied lately is a duplicate without a
    warehouse lookup; older ones are looked up in processed_messages.
    """

    def __init__(self, remembered: int = 10_000) -> None:
        self._applying: set[tuple[str, str]] = set()
        self._applied: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._remembered = remembered
        self._lock = threading.Lock()

    def begin(self, key: tuple[str, str]) -> Literal["claimed", "applying", "applied"]:
        """Claim `key` for this thread, unless it is being applied or was applied lately."""
        with self._lock:
            if key in self._applied:
                return "applied"
            if key in self._applying:
                return "applying"
            self._applying.add(key)
            return "claimed"

    def end(self, key: tuple[str, str], applied: bool) -> None:
        """Release a claimed `key`; `applied` once its processed_messages row is written."""
        with self._lock:
            self._applying.discard(key)
            if applied:
                self._applied[key] = None
                if len(self._applied) > self._remembered:
                    self._applied.popitem(last=False)


@dataclass
class Applied:
    """What applying a message did; recorded in processed_messages."""

    outcome: str
    scraper_name: str
    execution_id: str
    record_count: int = 0
    rows_changed: int = 0
    details: dict[str, Any] = field(default_factory=dict)


def nack(status: str, message_id: str, reason: str, code: int) -> JSONResponse:
    """A non-2xx answer (Pub/Sub redelivers the message), closing the push connection."""
    return JSONResponse(
        {"status": status, "message_id": message_id, "reason": reason},
        code,
        headers={"Connection": "close"},
    )


def handle_push(
    envelope: PushEnvelope,
    phase: str,
    warehouse: Warehouse,
    apply: Callable[[PushEnvelope], Applied],
    deliveries: Deliveries,
) -> JSONResponse:
    """Apply a push delivery once; answer with the code that tells Pub/Sub what to do."""
    subscription = envelope.subscription or "direct"
    message_id = envelope.message.message_id
    key = (subscription, message_id)
    state = deliveries.begin(key)
    if state == "applied":
        return JSONResponse({"status": "duplicate", "message_id": message_id})
    if state == "applying":
        reason = "another delivery of this message is being applied; retry later"
        return nack("in_progress", message_id, reason, 409)
    response = None
    try:
        response = _apply_once(envelope, subscription, phase, warehouse, apply)
        return response
    finally:
        deliveries.end(key, applied=response is not None and response.status_code == 200)


def _apply_once(
    envelope: PushEnvelope,
    subscription: str,
    phase: str,
    warehouse: Warehouse,
    apply: Callable[[PushEnvelope], Applied],
) -> JSONResponse:
    message_id = envelope.message.message_id
    if already_processed(warehouse, subscription, message_id):
        return JSONResponse({"status": "duplicate", "message_id": message_id})
    started = time.monotonic()
    try:
        applied = apply(envelope)
    except Exception as exc:
        status = next((code for kind, code in REJECTION_STATUS if isinstance(exc, kind)), 500)
        reason = f"{type(exc).__name__}: {exc}"
        scraper_name = envelope.message.attributes.get("scraper_name", "")
        count_run(phase, scraper_name, "rejected", 0, time.monotonic() - started)
        log.error(
            "push message rejected",
            exc_info=status == 500,
            extra={
                "fields": {
                    "phase": phase,
                    "message_id": message_id,
                    "status_code": status,
                    "reason": reason,
                    "attributes": envelope.message.attributes,
                }
            },
        )
        return nack("rejected", message_id, reason, status)
    count_run(
        phase, applied.scraper_name, applied.outcome, applied.record_count,
        time.monotonic() - started,
    )  # fmt: skip
    record_processed(
        warehouse,
        subscription=subscription,
        message_id=message_id,
        phase=phase,
        outcome=applied.outcome,
        scraper_name=applied.scraper_name,
        execution_id=applied.execution_id,
        record_count=applied.record_count,
        rows_changed=applied.rows_changed,
        **applied.details,
    )
    return JSONResponse(
        {
            "status": applied.outcome,
            "message_id": message_id,
            "record_count": applied.record_count,
            "rows_changed": applied.rows_changed,
        }
    )


def push_responses(acked: str) -> dict[int | str, dict[str, Any]]:
    """The status codes a push endpoint answers, as the /docs page lists them."""
    return {
        200: {"description": f"acked: {acked}, or a duplicate delivery already applied"},
        400: {"description": "nack: bad envelope, data not base64 JSON, unknown scraper_name"},
        401: {"description": "nack: missing or invalid OIDC token (when push auth is on)"},
        403: {"description": "nack: token of another identity"},
        409: {"description": "nack: another delivery of this message is being applied (retried)"},
        422: {"description": "nack: envelope fields missing, or the raw file does not parse"},
        500: {"description": "nack: file unreadable or the load/build failed (retried, then DLQ)"},
        503: {"description": "nack: publishing the next phase's message failed (retried)"},
    }


def push_router(
    phase: str, summary: str, acked: str, apply: Callable[[Clients, PushEnvelope], Applied]
) -> APIRouter:
    """The one `POST /process` of a push-driven service."""
    router = APIRouter(tags=["process"])
    deliveries = Deliveries()

    @router.post(
        "/process",
        summary=summary,
        responses=push_responses(acked),
        dependencies=[Depends(require_push_identity)],
    )
    def process(envelope: PushEnvelope, clients: ClientsDep) -> JSONResponse:
        return handle_push(
            envelope, phase, clients.warehouse, lambda e: apply(clients, e), deliveries
        )

    return router
