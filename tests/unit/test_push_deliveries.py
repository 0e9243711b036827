"""Deliveries of one unit of work: applied once, a concurrent one nacked, later ones acked,
whatever message id carries it."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterator

import pytest
from fastapi.responses import JSONResponse

from libs.common.deps import Clients
from libs.common.messages import PipelineMessage, PushEnvelope
from libs.common.push import Applied, Deliveries, Delivery, PushPhase, handle_push
from libs.common.warehouse.duckdb import DuckDBWarehouse
from tests.utils.fakes import fake_clients
from tests.utils.tables import ORCHESTRATION_TABLES


class Job(PipelineMessage):
    path: str


Apply = Callable[[Clients, Delivery[Job]], Applied]


@pytest.fixture
def clients() -> Iterator[Clients]:
    w = DuckDBWarehouse(":memory:")
    w.ensure_tables(ORCHESTRATION_TABLES)
    yield fake_clients(w)
    w.close()


def push(
    deliveries: Deliveries,
    clients: Clients,
    message_id: str,
    apply: Apply,
    execution_id: str = "exec-1",
    attributes: dict[str, str] | None = None,
) -> JSONResponse:
    data = json.dumps(
        {"scraper_name": "bdl_games", "execution_id": execution_id, "path": "gs://b/f.json"}
    ).encode()
    envelope = PushEnvelope.model_validate(
        {"message": {"messageId": message_id, "data": base64.b64encode(data).decode(),
                     "attributes": {"scraper_name": "bdl_games"} | (attributes or {})},
         "subscription": "projects/p/subscriptions/nba-processors-sub"}
    )  # fmt: skip
    return handle_push(envelope, PushPhase("processors", Job, lambda m: m.path, apply), clients,
                       deliveries)  # fmt: skip


def status(response: JSONResponse) -> str:
    return str(json.loads(bytes(response.body))["status"])


def loads(outcome: str = "loaded") -> Apply:
    def apply(clients: Clients, delivery: Delivery[Job]) -> Applied:
        if delivery.already_applied("7"):
            return Applied("duplicate", "bdl_games", delivery.work.execution_id)
        return Applied(outcome, "bdl_games", delivery.work.execution_id, record_count=5,
                       version="7")  # fmt: skip

    return apply


def log_rows(clients: Clients, execution_id: str) -> list[str]:
    rows = clients.warehouse.query(
        "SELECT message_id FROM {nba_orchestration.processed_messages} WHERE execution_id = @e",
        {"e": execution_id},
    )
    return [row["message_id"] for row in rows]


def test_a_delivery_arriving_mid_apply_is_nacked_then_acked_as_a_duplicate(
    clients: Clients,
) -> None:
    deliveries = Deliveries()
    applying, release = threading.Event(), threading.Event()
    applied: list[str] = []

    def slow_apply(c: Clients, delivery: Delivery[Job]) -> Applied:
        applying.set()
        release.wait(10)
        applied.append(delivery.envelope.message.message_id)
        return loads()(c, delivery)

    first: list[int] = []
    thread = threading.Thread(
        target=lambda: first.append(push(deliveries, clients, "m-1", slow_apply).status_code)
    )
    thread.start()
    assert applying.wait(10)
    second = push(deliveries, clients, "m-1", loads())
    republished = push(deliveries, clients, "m-9", loads())
    other_work = push(deliveries, clients, "m-2", loads("no_data"), execution_id="exec-2")
    release.set()
    thread.join()

    assert second.status_code == 409, "a nack: acking it could ack a message whose apply fails"
    assert republished.status_code == 409, "the same work under another message id waits too"
    assert "being applied" in json.loads(bytes(second.body))["reason"]
    assert other_work.status_code == 200, "other work is not held up"
    assert first == [200] and applied == ["m-1"]
    assert status(push(deliveries, clients, "m-1", slow_apply)) == "duplicate"
    assert log_rows(clients, "exec-1") == ["m-1"]


def test_another_instance_finds_the_applied_work_in_the_warehouse(clients: Clients) -> None:
    assert status(push(Deliveries(), clients, "m-4", loads())) == "loaded"
    assert status(push(Deliveries(), clients, "m-4", loads())) == "duplicate"
    assert log_rows(clients, "exec-1") == ["m-4"]


def test_the_transport_id_decides_nothing_after_a_restart(clients: Clients) -> None:
    """A restarted emulator numbers messages from 1 again: new work under an old id is
    applied, and old work under a new id (a replay, a republish) is a duplicate."""
    assert status(push(Deliveries(), clients, "1", loads())) == "loaded"
    assert status(push(Deliveries(), clients, "1", loads(), execution_id="exec-2")) == "loaded"
    assert status(push(Deliveries(), clients, "77", loads())) == "duplicate"
    assert log_rows(clients, "exec-1") == ["1"] and log_rows(clients, "exec-2") == ["1"]


def test_a_reprocess_applies_the_work_once_more(clients: Clients) -> None:
    reprocess = {"reprocess_id": "r-1"}
    assert status(push(Deliveries(), clients, "1", loads())) == "loaded"
    assert status(push(Deliveries(), clients, "2", loads(), attributes=reprocess)) == "loaded"
    assert status(push(Deliveries(), clients, "3", loads(), attributes=reprocess)) == "duplicate"
    rows = clients.warehouse.query(
        "SELECT reprocess_id, work_key FROM {nba_orchestration.processed_messages} ORDER BY 1"
    )
    assert [row["reprocess_id"] for row in rows] == ["r-1", None]
    assert rows[1]["work_key"] == "processors|exec-1|gs://b/f.json|7|"


def test_a_message_without_the_work_is_a_400_naming_the_field(clients: Clients) -> None:
    envelope = PushEnvelope.model_validate({"message": {"messageId": "x", "data": ""}})
    phase = PushPhase("processors", Job, lambda m: m.path, loads())
    response = handle_push(envelope, phase, clients, Deliveries())
    assert response.status_code == 400
    assert "message.data" in json.loads(bytes(response.body))["reason"]


def test_a_failed_apply_releases_the_work_for_the_next_delivery(clients: Clients) -> None:
    deliveries = Deliveries()

    def failing(c: Clients, delivery: Delivery[Job]) -> Applied:
        raise OSError("disk full")

    assert push(deliveries, clients, "m-3", failing).status_code == 500
    assert status(push(deliveries, clients, "m-3", loads())) == "loaded"
    assert log_rows(clients, "exec-1") == ["m-3"]


def test_only_the_latest_applied_work_is_remembered(clients: Clients) -> None:
    deliveries = Deliveries(remembered=2)
    for execution_id in ("a", "b", "c"):
        push(deliveries, clients, execution_id, loads(), execution_id=execution_id)
    assert deliveries.begin("processors|c|gs://b/f.json||") == "applied"
    assert deliveries.begin("processors|a|gs://b/f.json||") == "claimed"


def test_a_redelivered_message_is_a_duplicate_before_its_body_is_decoded(
    clients: Clients, monkeypatch: pytest.MonkeyPatch
) -> None:
    deliveries = Deliveries()
    assert status(push(deliveries, clients, "1", loads())) == "loaded"

    def undecodable(*args: object) -> None:
        raise AssertionError("a known message was decoded again")

    monkeypatch.setattr("libs.common.push.decode_message", undecodable)
    assert status(push(deliveries, clients, "2", loads())) == "duplicate"
    reprocess = {"reprocess_id": "r1"}
    with pytest.raises(AssertionError):  # another reprocess of it is new work: decoded
        push(deliveries, clients, "3", loads(), attributes=reprocess)
