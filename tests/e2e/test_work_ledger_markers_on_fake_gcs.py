"""The gcs work ledger on the stack's real fake-gcs-server: after a restart, a redelivered
message is a duplicate found by its marker object, without a warehouse query."""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from libs.common.deps import Clients
from libs.common.gcs import object_name
from libs.common.ledger import GcsLedger, Work
from libs.common.messages import ScraperComplete, encode_message, utc_now
from libs.common.sources.registry import get_source
from nba_pipeline.stack import LocalStack
from services.processors.app import create_app
from tests.utils.fakes import RecordingPublisher

pytestmark = pytest.mark.e2e

GAME_DATE = dt.date(2024, 7, 15)


class CountedQueries:
    """The stack's warehouse, counting the queries a test app sends it."""

    def __init__(self, warehouse: Any) -> None:
        self._warehouse = warehouse
        self.queries = 0

    def query(self, *args: Any, **kwargs: Any) -> Any:
        self.queries += 1
        return self._warehouse.query(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._warehouse, name)


def empty_box_scores_run(stack: LocalStack) -> tuple[ScraperComplete, int]:
    """A run's file in the stack's bucket (a day without games: nothing to load or publish),
    its completion message and the file's generation."""
    source = get_source("bdl_box_scores")
    execution_id, fetched = str(uuid.uuid4()), utc_now()
    params = {"date": GAME_DATE.isoformat()}
    name = object_name(source.gcs_prefix, GAME_DATE, fetched, execution_id)
    meta = {"scraper_name": source.name, "execution_id": execution_id,
            "fetched_at": fetched.isoformat(), "request": {"params": params}}  # fmt: skip
    generation = stack.clients.store.write_json(name, {"meta": meta, "data": {"data": []}})
    message = ScraperComplete(
        scraper_name=source.name, execution_id=execution_id, status="success",
        gcs_path=stack.clients.store.gcs_path(name), game_date=GAME_DATE, record_count=0,
        duration_seconds=0, params=params,
    )  # fmt: skip
    return message, generation


def deliver(stack: LocalStack, clients: Clients, message: ScraperComplete, message_id: str) -> Any:
    """One push delivery to a processors process of its own with WORK_LEDGER=gcs."""
    settings = stack.settings().model_copy(update={"work_ledger": "gcs"})
    envelope = {
        "message": {"data": base64.b64encode(encode_message(message)).decode(),
                    "attributes": message.attributes(), "messageId": message_id},
        "subscription": f"projects/{stack.project}/subscriptions/nba-processors-sub",
    }  # fmt: skip
    with TestClient(create_app(settings, clients)) as process:
        response = process.post("/process", json=envelope)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_redelivery_after_a_restart_is_a_duplicate_found_in_the_bucket(
    stack: LocalStack,
) -> None:
    message, generation = empty_box_scores_run(stack)
    warehouse = CountedQueries(stack.clients.warehouse)
    clients = Clients(warehouse, stack.clients.store, RecordingPublisher())  # type: ignore[arg-type]

    assert deliver(stack, clients, message, "1")["status"] == "no_data"
    work = Work("processors", message.execution_id, str(message.gcs_path))
    ledger = GcsLedger(stack.clients.store)
    assert ledger.applied(work, str(generation)), "the marker is on fake-gcs-server"
    ledger.record(work, str(generation))  # another instance's create finds it: no error

    before = warehouse.queries
    # A new process (nothing in memory) and a restarted emulator numbering from 1 again.
    assert deliver(stack, clients, message, "1")["status"] == "duplicate"
    assert warehouse.queries == before, "a duplicate costs no warehouse query"
    rows = stack.clients.warehouse.query(
        "SELECT work_key FROM {nba_orchestration.processed_messages} WHERE execution_id = @e",
        {"e": message.execution_id},
    )
    assert rows == [{"work_key": work.key(str(generation))}], "applied and audited once"
    assert clients.publisher.published == []  # type: ignore[attr-defined]
