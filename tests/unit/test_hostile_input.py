"""Hostile and malformed input, case by case (issue 17): a 4xx naming the field, never a 5xx,
and a request that could never succeed leaves no run and no gap behind."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from libs.common.deps import Clients
from libs.common.messages import ATTRIBUTE_VALUE_BYTES, PushEnvelope
from libs.common.settings import CommonSettings
from libs.common.warehouse.duckdb import DuckDBWarehouse
from services.analytics.app import create_app as analytics_app
from services.processors.app import create_app as processors_app
from tests.utils.fakes import RecordingPublisher, memory_store
from tests.utils.scrapers import Scrapers, scrapers_app


@pytest.fixture
def scrapers() -> Iterator[Scrapers]:
    with scrapers_app() as app:
        yield app


@dataclass
class Pushes:
    """A push service over an in-memory warehouse, store and publisher."""

    http: TestClient
    clients: Clients

    def push(self, message: dict[str, Any] | str, **fields: Any) -> Any:
        """POST one envelope carrying `message` (a dict is encoded as Pub/Sub encodes it)."""
        data = message if isinstance(message, str) else json.dumps(message)
        envelope = {"message": {"data": base64.b64encode(data.encode()).decode(),
                                "messageId": "1", "attributes": {}} | fields}  # fmt: skip
        return self.http.post("/process", json=envelope)


@pytest.fixture(params=["processors", "analytics"])
def pushes(request: pytest.FixtureRequest) -> Iterator[Pushes]:
    warehouse = DuckDBWarehouse(":memory:")
    clients = Clients(warehouse, memory_store(), RecordingPublisher())  # type: ignore[arg-type]
    create = processors_app if request.param == "processors" else analytics_app
    app: FastAPI = create(CommonSettings(), clients)
    with TestClient(app) as http:
        yield Pushes(http, clients)


def field_of(response: Any) -> list[list[Any]]:
    """The `loc` of each error of a 422, after checking the answer is one."""
    assert response.status_code == 422, response.text
    return [error["loc"] for error in response.json()["detail"]]


def recorded(scrapers: Scrapers) -> dict[str, int]:
    """Rows a scrape request left in the run log and the gap table."""
    counts = {}
    for table in ("scraper_execution_log", "scraper_failures"):
        [row] = scrapers.warehouse.query(f"SELECT count(*) AS n FROM {{nba_orchestration.{table}}}")
        counts[table] = row["n"]
    return counts


def post_text(client: TestClient, path: str, body: str) -> Any:
    """POST a JSON body as written, NaN and Infinity included (Python's json reads them)."""
    return client.post(path, content=body, headers={"content-type": "application/json"})


NOTHING = {"scraper_execution_log": 0, "scraper_failures": 0}


@pytest.mark.parametrize("scraper", ["oddsa_events_his", "oddsa_player_props_his"])
@pytest.mark.parametrize("snapshot", ["9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00"])
def test_a_snapshot_at_the_end_of_time_is_a_422_not_an_overflow(
    scrapers: Scrapers, scraper: str, snapshot: str
) -> None:
    params = {"date": "2024-01-24", "snapshot": snapshot}
    response = scrapers.http.post("/process", json={"scraper_name": scraper, "params": params})
    assert field_of(response) == [["params", "snapshot"]]
    assert "a year from today" in response.json()["detail"][0]["msg"]
    assert recorded(scrapers) == NOTHING


def test_a_daily_schedule_for_year_one_is_a_422(scrapers: Scrapers) -> None:
    response = scrapers.http.post("/generate-daily-schedule", json={"date": "0001-01-01"})
    assert field_of(response) == [["body", "date"]]


@pytest.mark.parametrize("offset", ["9223372036854775808", "10000001", "-1"])
def test_an_offset_past_any_log_is_a_422(scrapers: Scrapers, offset: str) -> None:
    response = scrapers.http.get("/admin/recent-executions", params={"offset": offset})
    assert field_of(response) == [["query", "offset"]]


NAN_BODIES = {
    "scrape-name": ("/process", '{{"scraper_name": {c}}}', ["body", "scraper_name"]),
    "scrape-param": ("/process", '{{"scraper_name": "nbac_roster", "params": {{"team_id": {c}, "slug": "x"}}}}',
                     ["params", "team_id"]),
    "backfill-budget": ("/backfill-gaps", '{{"budget": {c}}}', ["body", "budget"]),
}  # fmt: skip


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize(("path", "body", "field"), NAN_BODIES.values(), ids=NAN_BODIES.keys())
def test_nan_and_infinity_in_a_scrapers_request_are_a_422(
    scrapers: Scrapers, constant: str, path: str, body: str, field: list[str]
) -> None:
    assert field_of(post_text(scrapers.http, path, body.format(c=constant))) == [field]


@pytest.mark.parametrize("constant", ["NaN", "Infinity"])
def test_nan_and_infinity_in_a_push_are_a_422(pushes: Pushes, constant: str) -> None:
    body = f'{{"message": {{"messageId": "1", "data": ""}}, "deliveryAttempt": {constant}}}'
    assert field_of(post_text(pushes.http, "/process", body)) == [["body", "deliveryAttempt"]]


def test_nan_inside_a_push_message_is_a_400_naming_the_data(pushes: Pushes) -> None:
    response = pushes.push('{"scraper_name": "bdl_games", "record_count": NaN}')
    assert response.status_code == 400
    assert (
        "message.data is not base64-encoded JSON: NaN is not a JSON number"
        in response.json()["reason"]
    )


def test_deeply_nested_push_data_is_a_400(pushes: Pushes) -> None:
    response = pushes.push("[" * 100_000 + "]" * 100_000)
    assert response.status_code == 400
    assert "message.data is JSON nested too deeply" in response.json()["reason"]


def test_an_invalid_value_is_named_not_repeated(scrapers: Scrapers) -> None:
    huge = "x" * 500_000
    response = scrapers.http.post("/process", json={"scraper_name": huge})
    assert field_of(response) == [["body", "scraper_name"]]
    assert len(response.content) < 1000


def test_a_list_of_bad_items_is_summarised(scrapers: Scrapers) -> None:
    ids = ["not-an-id" * 10] * 1000
    response = scrapers.http.post("/admin/pipeline-progress", json={"execution_ids": ids})
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail[-1]["msg"] == "and 980 more errors"
    assert len(response.content) < 10_000


CANNOT_SUCCEED = {
    "date-far-future": ("oddsa_events", {"date": "9999-12-31"}, "date"),
    "date-before-the-league": ("bdl_games", {"date": "1900-01-01"}, "date"),
    "before-odds-history": ("oddsa_events_his", {"date": "2019-12-01"}, "date"),
    "before-props-history": ("oddsa_player_props_his", {"date": "2023-05-01"}, "date"),
    "espn-team-200kb": ("espn_roster", {"team_id": "9" * 200_000}, "team_id"),
    "espn-team-dot-dot": ("espn_roster", {"team_id": ".."}, "team_id"),
    "espn-team-unknown": ("espn_roster", {"team_id": "99"}, "team_id"),
    "bp-100k-event-ids": ("bp_player_props", {"date": "2025-02-20", "event_ids": list(range(1, 100_001))}, "event_ids"),
    "bp-event-id-zero": ("bp_player_props", {"date": "2025-02-20", "event_ids": [0]}, "event_ids"),
    "nbac-team-1e40": ("nbac_roster", {"team_id": 1e40, "slug": "warriors"}, "team_id"),
    "nbac-long-slug": ("nbac_roster", {"team_id": 1610612744, "slug": "w" * 500}, "slug"),
}  # fmt: skip
"""Parameters that passed validation and then failed at fetch time, each a failed run and a gap."""


@pytest.mark.parametrize(
    ("scraper", "params", "field"), CANNOT_SUCCEED.values(), ids=CANNOT_SUCCEED.keys()
)
def test_params_no_upstream_can_answer_are_a_422_and_leave_no_run_or_gap(
    scrapers: Scrapers, scraper: str, params: dict[str, Any], field: str
) -> None:
    response = scrapers.http.post("/process", json={"scraper_name": scraper, "params": params})
    assert ["params", field] == field_of(response)[0][:2]
    assert recorded(scrapers) == NOTHING


@pytest.mark.parametrize("workflow", ["w" * 900_000, "", "morning operations", "a\nb", "é"])
def test_a_workflow_that_cannot_be_a_pubsub_attribute_is_a_422(
    scrapers: Scrapers, workflow: str
) -> None:
    request = {"scraper_name": "bdl_games", "params": {"date": "2025-02-20"}, "workflow": workflow}
    assert field_of(scrapers.http.post("/process", json=request)) == [["body", "workflow"]]
    assert recorded(scrapers) == NOTHING
    assert scrapers.upstream.call_count == 0


def test_an_empty_message_id_is_a_400_every_time(pushes: Pushes) -> None:
    for data in ('{"scraper_name": "bdl_games"}', '{"scraper_name": "bdl_games", "x": 1}'):
        response = pushes.push(data, messageId="")
        assert response.status_code == 400, response.text
        assert "message.messageId is empty" in response.json()["reason"]


def test_attributes_beyond_pubsub_limits_are_a_422(pushes: Pushes) -> None:
    too_long = {"workflow": "w" * (ATTRIBUTE_VALUE_BYTES + 1)}
    response = pushes.push("{}", attributes=too_long)
    assert field_of(response) == [["body", "message", "attributes"]]
    assert len(response.content) < 1000
    too_many = {f"a{i}": "v" for i in range(101)}
    assert field_of(pushes.push("{}", attributes=too_many)) == [["body", "message", "attributes"]]


def test_a_rejected_push_logs_bounded_attributes(
    pushes: Pushes, caplog: pytest.LogCaptureFixture
) -> None:
    attributes = {f"attribute-{i}": "v" * ATTRIBUTE_VALUE_BYTES for i in range(100)}
    with caplog.at_level(logging.ERROR, logger="libs.common.push"):
        response = pushes.push("not json", attributes=attributes)
    assert response.status_code == 400
    [record] = [r for r in caplog.records if r.getMessage() == "push message rejected"]
    logged = json.dumps(record.fields)  # type: ignore[attr-defined]
    assert len(logged) < 10_000, "one bad message makes one short log line"
    assert "attribute-0" in logged


def test_the_envelope_model_refuses_what_pubsub_never_sends() -> None:
    with pytest.raises(ValueError, match="attribute key"):
        PushEnvelope.model_validate({"message": {"messageId": "1", "attributes": {"k" * 300: "v"}}})
