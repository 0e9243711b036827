"""The push contract of every push endpoint, checked through TestClient as Pub/Sub calls it
(after the Cloud Run Pub/Sub sample's tests), so no emulator is needed: an empty body, an
envelope without `message`, a minimal and a full message, data that is not base64, and a
message of a scraper no registry lists. The emulator tests keep delivery behaviour."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from libs.common.deps import Clients
from libs.common.messages import PHASE2_COMPLETE_TOPIC, Phase2Complete, ScraperComplete
from libs.common.settings import CommonSettings
from libs.common.sources.registry import raw_tables
from libs.common.tables.raw import loaded_by
from libs.common.warehouse.duckdb import DuckDBWarehouse
from services.analytics.app import create_app as analytics_app
from services.processors.app import create_app as processors_app
from tests.conftest import RECORDINGS
from tests.utils.fakes import RecordingPublisher, memory_store
from tests.utils.rawfiles import stored_run

DAY = dt.date(2025, 2, 20)
GAMES = json.loads((RECORDINGS / "balldontlie" / "bdl_games_v1_raw_2025-02-20.json").read_text())


@dataclass
class Endpoint:
    """One service's `POST /process` over an in-memory warehouse, store and publisher."""

    service: str
    http: TestClient
    clients: Clients
    publisher: RecordingPublisher

    def post(self, body: dict[str, Any]) -> Any:
        return self.http.post("/process", json=body)

    def minimal(self) -> ScraperComplete | Phase2Complete:
        """A message with only its required fields: a run with no file, or a load of no date."""
        fields: dict[str, Any] = {"scraper_name": "bdl_games", "execution_id": str(uuid.uuid4()),
                                  "game_date": None, "record_count": 0, "gcs_path": None}  # fmt: skip
        if self.service == "processors":
            return ScraperComplete(**fields, status="no_data", duration_seconds=0)
        return Phase2Complete(**fields, source_table="nba_raw.bdl_games", rows_changed=0)

    def full(self) -> ScraperComplete | Phase2Complete:
        """A message with every field set, as the phase before publishes it."""
        run = stored_run(self.clients.store, "bdl_games", {"date": DAY.isoformat()}, GAMES)
        if self.service == "processors":
            return run.model_copy(update={"workflow": "post_game_collection"})
        return Phase2Complete(scraper_name="bdl_box_scores", execution_id=run.execution_id,
                              source_table=loaded_by("bdl_box_scores").fqn, game_date=DAY,
                              record_count=9, rows_changed=9, gcs_path=run.gcs_path)  # fmt: skip


def envelope(data: str, **message: Any) -> dict[str, Any]:
    """A push request body carrying `data` (base64 of the message) with message id 1."""
    return {"message": {"data": data, "messageId": "1"} | message}


def encoded(message: ScraperComplete | Phase2Complete) -> str:
    return base64.b64encode(message.model_dump_json().encode()).decode()


@pytest.fixture(scope="module", params=["processors", "analytics"])
def endpoint(request: pytest.FixtureRequest) -> Iterator[Endpoint]:
    warehouse = DuckDBWarehouse(":memory:")
    publisher = RecordingPublisher()
    clients = Clients(warehouse, memory_store(), publisher)  # type: ignore[arg-type]
    if request.param == "analytics":
        warehouse.ensure_tables(raw_tables())  # as the processors service creates them
    create = processors_app if request.param == "processors" else analytics_app
    app: FastAPI = create(CommonSettings(), clients)
    with TestClient(app) as http:
        yield Endpoint(request.param, http, clients, publisher)


def test_an_empty_body_is_a_422(endpoint: Endpoint) -> None:
    response = endpoint.http.post("/process")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body"]


def test_an_envelope_without_a_message_is_a_422_naming_it(endpoint: Endpoint) -> None:
    response = endpoint.post({"subscription": "projects/nba-local/subscriptions/s"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "message"]


def test_a_minimal_message_is_applied(endpoint: Endpoint) -> None:
    message = endpoint.minimal()
    response = endpoint.post(envelope(encoded(message)))
    assert response.status_code == 200, response.text
    expected = "no_data" if endpoint.service == "processors" else "ignored"
    assert response.json() == {
        "status": expected, "message_id": "1", "record_count": 0, "rows_changed": 0
    }  # fmt: skip


def test_a_full_message_is_applied_once(endpoint: Endpoint) -> None:
    message = endpoint.full()
    endpoint.publisher.published.clear()
    body = envelope(
        encoded(message),
        attributes=message.attributes("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
        publishTime="2025-02-21T04:00:01Z",
    ) | {"subscription": f"projects/nba-local/subscriptions/nba-{endpoint.service}-sub",
         "deliveryAttempt": 1}  # fmt: skip
    response = endpoint.post(body)
    assert response.status_code == 200, response.text
    if endpoint.service == "processors":
        assert response.json()["status"] == "loaded"
        [(topic, loaded, _)] = endpoint.publisher.published
        assert (topic, loaded.execution_id) == (PHASE2_COMPLETE_TOPIC, message.execution_id)  # type: ignore[attr-defined]
    else:
        assert response.json()["status"] == "built"
    assert endpoint.post(body).json()["status"] == "duplicate", "a redelivery is acked"


def test_data_that_is_not_base64_is_a_400(endpoint: Endpoint) -> None:
    response = endpoint.post(envelope("%%% not base64 %%%"))
    assert response.status_code == 400
    assert "message.data is not base64-encoded JSON" in response.json()["reason"]


def test_a_message_of_an_unknown_scraper_is_a_400_listing_the_known(endpoint: Endpoint) -> None:
    message = endpoint.minimal().model_copy(update={"scraper_name": "no_such_scraper"})
    response = endpoint.post(envelope(encoded(message)))
    assert response.status_code == 400
    reason = response.json()["reason"]
    assert "unknown scraper_name 'no_such_scraper'; known: " in reason and "bdl_games" in reason
