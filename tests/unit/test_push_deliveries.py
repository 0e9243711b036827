"""Deliveries of one message: applied once, a concurrent one nacked, later ones acked."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator

import pytest
from fastapi.responses import JSONResponse

from libs.common.audit import ORCHESTRATION_TABLES
from libs.common.messages import PushEnvelope
from libs.common.push import Applied, Deliveries, handle_push
from libs.common.warehouse.duckdb import DuckDBWarehouse

Apply = Callable[[PushEnvelope], Applied]


@pytest.fixture
def warehouse() -> Iterator[DuckDBWarehouse]:
    w = DuckDBWarehouse(":memory:")
    w.ensure_tables(ORCHESTRATION_TABLES)
    yield w
    w.close()


def push(
    deliveries: Deliveries, warehouse: DuckDBWarehouse, message_id: str, apply: Apply
) -> JSONResponse:
    envelope = PushEnvelope.model_validate(
        {"message": {"messageId": message_id, "attributes": {"scraper_name": "bdl_games"}},
         "subscription": "projects/p/subscriptions/nba-processors-sub"}
    )  # fmt: skip
    return handle_push(envelope, "processors", warehouse, apply, deliveries)


def status(response: JSONResponse) -> str:
    return str(json.loads(bytes(response.body))["status"])


def loads(outcome: str = "loaded") -> Apply:
    return lambda e: Applied(outcome, "bdl_games", "exec-1", record_count=5)


def log_rows(warehouse: DuckDBWarehouse, message_id: str) -> int:
    rows = warehouse.query(
        "SELECT count(*) AS n FROM {nba_orchestration.processed_messages} WHERE message_id = @m",
        {"m": message_id},
    )
    return int(rows[0]["n"])


def test_a_delivery_arriving_mid_apply_is_nacked_then_acked_as_a_duplicate(
    warehouse: DuckDBWarehouse,
) -> None:
    deliveries = Deliveries()
    applying, release = threading.Event(), threading.Event()
    applied: list[str] = []

    def slow_apply(e: PushEnvelope) -> Applied:
        applying.set()
        release.wait(10)
        applied.append(e.message.message_id)
        return loads()(e)

    first: list[int] = []
    thread = threading.Thread(
        target=lambda: first.append(push(deliveries, warehouse, "m-1", slow_apply).status_code)
    )
    thread.start()
    assert applying.wait(10)
    second = push(deliveries, warehouse, "m-1", loads())
    other_message = push(deliveries, warehouse, "m-2", loads("no_data"))
    release.set()
    thread.join()

    assert second.status_code == 409, "a nack: acking it could ack a message whose apply fails"
    assert "being applied" in json.loads(bytes(second.body))["reason"]
    assert other_message.status_code == 200, "other messages are not held up"
    assert first == [200] and applied == ["m-1"]
    assert status(push(deliveries, warehouse, "m-1", slow_apply)) == "duplicate"
    assert log_rows(warehouse, "m-1") == 1


def test_another_instance_finds_the_applied_message_in_the_warehouse(
    warehouse: DuckDBWarehouse,
) -> None:
    assert status(push(Deliveries(), warehouse, "m-4", loads())) == "loaded"
    assert status(push(Deliveries(), warehouse, "m-4", loads())) == "duplicate"
    assert log_rows(warehouse, "m-4") == 1


def test_a_failed_apply_releases_the_message_for_the_next_delivery(
    warehouse: DuckDBWarehouse,
) -> None:
    deliveries = Deliveries()

    def failing(e: PushEnvelope) -> Applied:
        raise OSError("disk full")

    assert push(deliveries, warehouse, "m-3", failing).status_code == 500
    assert status(push(deliveries, warehouse, "m-3", loads())) == "loaded"
    assert log_rows(warehouse, "m-3") == 1


def test_only_the_latest_applied_messages_are_remembered(warehouse: DuckDBWarehouse) -> None:
    deliveries = Deliveries(remembered=2)
    for message_id in ("a", "b", "c"):
        push(deliveries, warehouse, message_id, loads())
    assert deliveries.begin(("projects/p/subscriptions/nba-processors-sub", "c")) == "applied"
    assert deliveries.begin(("projects/p/subscriptions/nba-processors-sub", "a")) == "claimed"
