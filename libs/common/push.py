"""Pub/Sub push handling shared by phases 2 and 3: dedupe on the work, status codes, audit.

Status codes are the delivery contract: 200 acks (applied, duplicate, nothing to do);
400/422 where a retry cannot help and 500/503 where it can are both nacks, so the message
is retried and, after the subscription's max attempts, lands intact in its DLQ. A failure's
code is its error's own (`libs/common/errors.py`). Never 202:
the work is done before the answer (and the emulator takes a 202 as a nack).
A delivery that arrives while another of the same message is being applied gets a 409.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Generic, Literal, TypeVar

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from libs.common.audit import record_processed
from libs.common.auth import require_push_identity
from libs.common.deps import Clients, ClientsDep, SettingsDep, app_state
from libs.common.errors import status_code_of
from libs.common.ledger import WarehouseLedger, Work, WorkLedger, open_ledger
from libs.common.messages import (
    REPROCESS_ATTRIBUTE,
    MessageError,
    Phase,
    PipelineMessage,
    PushEnvelope,
    decode_message,
)
from libs.common.metrics import count_run
from libs.common.settings import CommonSettings
from libs.common.validation import bounded

log = logging.getLogger(__name__)

M = TypeVar("M", bound=PipelineMessage)

LOGGED_ATTRIBUTES = 20
"""Attributes a rejection's log line keeps, each cut to a few hundred characters."""


class Deliveries:
    """Which units of work this process is applying now, and which it applied lately.

    Pub/Sub may deliver a message again while the first delivery is still being applied.
    Both would find no processed row, apply, and log the work twice; acking the second could
    also ack a message whose first delivery then fails. So the second is nacked with a 409
    and comes back later. Work this process applied lately is a duplicate without a
    lookup (the raw files it read are immutable); older work is looked up in the work ledger.
    A redelivery of the very same message (its data and reprocess attribute) is known before
    its body is decoded, so a duplicate costs no more than the envelope's parse.
    """

    def __init__(self, remembered: int = 10_000) -> None:
        self._applying: set[str] = set()
        self._applied: OrderedDict[str, None] = OrderedDict()
        self._payloads: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._remembered = remembered
        self._lock = threading.Lock()

    def applied_payload(self, payload: tuple[str, str]) -> bool:
        """Whether a message with this (data, reprocess attribute) was applied lately: the
        same data names the same work."""
        with self._lock:
            return payload in self._payloads

    def begin(self, key: str) -> Literal["claimed", "applying", "applied"]:
        """Claim `key` for this thread, unless it is being applied or was applied lately."""
        with self._lock:
            if key in self._applied:
                return "applied"
            if key in self._applying:
                return "applying"
            self._applying.add(key)
            return "claimed"

    def end(self, key: str, applied: bool, payload: tuple[str, str] | None = None) -> None:
        """Release a claimed `key`; `applied` once the work is recorded as applied (and then
        the `payload` that named it is remembered too)."""
        with self._lock:
            self._applying.discard(key)
            if applied:
                self._remember(self._applied, key)
                if payload is not None:
                    self._remember(self._payloads, payload)

    def _remember(self, seen: OrderedDict[Any, None], item: Any) -> None:
        seen[item] = None
        if len(seen) > self._remembered:
            seen.popitem(last=False)


DUPLICATE = "duplicate"
"""`Applied.outcome` of work found already applied once its input's version was known."""


@dataclass
class Applied:
    """What applying a message did; recorded in processed_messages."""

    outcome: str
    scraper_name: str
    execution_id: str
    record_count: int = 0
    rows_changed: int = 0
    version: str = ""
    """The version of the input applied (a raw file's generation), part of the work key."""
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Delivery(Generic[M]):
    """One push delivery being applied: its decoded message and its unit of work."""

    envelope: PushEnvelope
    message: M
    work: Work
    ledger: WorkLedger

    def already_applied(self, version: str = "") -> bool:
        """Whether this work, at this version of its input, was applied by any delivery."""
        return self.ledger.applied(self.work, version)


@dataclass(frozen=True)
class PushPhase(Generic[M]):
    """A push-driven phase: the message it takes, what work a message names, how to apply it.

    `apply` calls `delivery.already_applied(version)` as soon as it knows its input's version
    (the processors once they read the file) and then returns `Applied(DUPLICATE, ...)`.
    """

    name: Phase
    model: type[M]
    target: Callable[[M], str]
    apply: Callable[[Clients, Delivery[M]], Applied]

    def work(self, envelope: PushEnvelope) -> tuple[M, Work]:
        """The decoded message and the work it names (MessageError, a 400, if it has none)."""
        message = decode_message(envelope, self.model)
        reprocess_id = envelope.message.attributes.get(REPROCESS_ATTRIBUTE, "")
        return message, Work(self.name, message.execution_id, self.target(message), reprocess_id)


def nack(status: str, message_id: str, reason: str, code: int) -> JSONResponse:
    """A non-2xx answer (Pub/Sub redelivers the message), closing the push connection."""
    return JSONResponse(
        {"status": status, "message_id": message_id, "reason": reason},
        code,
        headers={"Connection": "close"},
    )


def handle_push(
    envelope: PushEnvelope,
    phase: PushPhase[Any],
    clients: Clients,
    deliveries: Deliveries,
    ledger: WorkLedger | None = None,
) -> JSONResponse:
    """Apply a push delivery's work once; answer with the code that tells Pub/Sub what to do.

    `ledger` says which work was applied already (default: processed_messages).
    """
    message_id = envelope.message.message_id
    if not message_id.strip():
        empty = MessageError("message.messageId is empty: Pub/Sub gives every message an id")
        return _rejected(envelope, phase.name, empty, time.monotonic())
    payload = (envelope.message.data, envelope.message.attributes.get(REPROCESS_ATTRIBUTE, ""))
    if deliveries.applied_payload(payload):
        return JSONResponse({"status": DUPLICATE, "message_id": message_id})
    try:
        message, work = phase.work(envelope)
    except MessageError as exc:
        return _rejected(envelope, phase.name, exc, time.monotonic())
    key = work.key()
    state = deliveries.begin(key)
    if state == "applied":
        return JSONResponse({"status": DUPLICATE, "message_id": message_id})
    if state == "applying":
        reason = "another delivery of this work is being applied; retry later"
        return nack("in_progress", message_id, reason, 409)
    response = None
    try:
        ledger = ledger or WarehouseLedger(clients.warehouse)
        delivery = Delivery(envelope, message, work, ledger)
        response = _apply_once(delivery, phase, clients)
        return response
    finally:
        applied = response is not None and response.status_code == 200
        deliveries.end(key, applied, payload)


def _rejected(envelope: PushEnvelope, phase: Phase, exc: Exception, started: float) -> JSONResponse:
    """The nack for a failure, logged with its reason and counted."""
    message_id = envelope.message.message_id
    status = status_code_of(exc)
    reason = bounded(f"{type(exc).__name__}: {exc}", 2000)
    scraper_name = bounded(envelope.message.attributes.get("scraper_name", ""), 64)
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
                "attributes": logged_attributes(envelope.message.attributes),
            }
        },
    )
    return nack("rejected", message_id, reason, status)


def logged_attributes(attributes: dict[str, str]) -> dict[str, str]:
    """The first LOGGED_ATTRIBUTES attributes, keys and values cut: one bad message makes one
    short log line, whatever it carries."""
    kept = list(attributes.items())[:LOGGED_ATTRIBUTES]
    return {bounded(key, 64): bounded(value) for key, value in kept}


def _apply_once(delivery: Delivery[Any], phase: PushPhase[Any], clients: Clients) -> JSONResponse:
    envelope, work = delivery.envelope, delivery.work
    message_id = envelope.message.message_id
    started = time.monotonic()
    try:
        applied = phase.apply(clients, delivery)
    except Exception as exc:
        return _rejected(envelope, phase.name, exc, started)
    if applied.outcome == DUPLICATE:
        return JSONResponse({"status": DUPLICATE, "message_id": message_id})
    count_run(
        phase.name, applied.scraper_name, applied.outcome, applied.record_count,
        time.monotonic() - started, execution_id=applied.execution_id,
        rows_changed=applied.rows_changed, message_id=message_id,
    )  # fmt: skip
    record_processed(
        clients.warehouse,
        subscription=envelope.subscription or "direct",
        message_id=message_id,
        phase=phase.name,
        work_key=work.key(applied.version),
        reprocess_id=work.reprocess_id or None,
        outcome=applied.outcome,
        scraper_name=applied.scraper_name,
        execution_id=applied.execution_id,
        record_count=applied.record_count,
        rows_changed=applied.rows_changed,
        **applied.details,
    )
    _record_applied(delivery, applied.version)
    return JSONResponse(
        {
            "status": applied.outcome,
            "message_id": message_id,
            "record_count": applied.record_count,
            "rows_changed": applied.rows_changed,
        }
    )


def _record_applied(delivery: Delivery[Any], version: str) -> None:
    """Record committed work in the ledger. A failure still acks: the work and its audit row
    are in, and the worst a missing record costs is one idempotent reapply of a redelivery,
    where a nack would reapply it now and log it twice."""
    try:
        delivery.ledger.record(delivery.work, version)
    except Exception:
        log.exception(
            "applied work not recorded in the work ledger; a redelivery will apply it again",
            extra={"fields": {"work_key": delivery.work.key(version),
                              "message_id": delivery.envelope.message.message_id}},
        )  # fmt: skip


def push_responses(acked: str) -> dict[int | str, dict[str, Any]]:
    """The status codes a push endpoint answers, as the /docs page lists them."""
    return {
        200: {"description": f"acked: {acked}, or a duplicate delivery already applied"},
        400: {
            "description": "nack: bad envelope (empty messageId), data not base64 JSON, unknown "
            "scraper_name, a message its raw file contradicts, a gcs_path outside its prefix"
        },
        401: {"description": "nack: missing or invalid OIDC token (when push auth is on)"},
        403: {"description": "nack: token of another identity"},
        409: {"description": "nack: another delivery of the same work is being applied (retried)"},
        422: {
            "description": "nack: envelope fields missing or invalid, or the raw file is not "
            "JSON or does not parse"
        },
        500: {"description": "nack: file unreadable or the load/build failed (retried, then DLQ)"},
        503: {"description": "nack: publishing the next phase's message failed (retried)"},
    }


DeliveriesDep = Annotated[Deliveries, Depends(app_state("deliveries", Deliveries))]
"""The deliveries this app is applying and applied lately (`push_state`)."""


async def get_ledger(settings: SettingsDep, clients: ClientsDep) -> WorkLedger:
    """The work ledger the settings choose (`WORK_LEDGER`)."""
    return open_ledger(settings.work_ledger, clients)


LedgerDep = Annotated[WorkLedger, Depends(get_ledger)]


def push_state() -> dict[str, object]:
    """What a push-driven app keeps for its `POST /process` (`create_service_app(state=...)`)."""
    return {"deliveries": Deliveries()}


def push_router(
    summary: str, acked: str, phase_for: Callable[[CommonSettings], PushPhase[Any]]
) -> APIRouter:
    """The `POST /process` of a push-driven service, which only Pub/Sub's push identity may
    call; `phase_for` is the service's phase under its settings."""
    router = APIRouter(tags=["process"], dependencies=[Depends(require_push_identity)])

    @router.post("/process", summary=summary, responses=push_responses(acked))
    def process(
        envelope: PushEnvelope,
        settings: SettingsDep,
        clients: ClientsDep,
        deliveries: DeliveriesDep,
        ledger: LedgerDep,
    ) -> JSONResponse:
        return handle_push(envelope, phase_for(settings), clients, deliveries, ledger)

    return router
