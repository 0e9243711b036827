"""The bdl slice end to end through the real Pub/Sub emulator and fake-gcs-server."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from typing import Any

import httpx
import pytest

from libs.common.messages import PHASE2_COMPLETE_TOPIC, SCRAPER_COMPLETE_TOPIC
from nba_pipeline.pipeline import PipelineClient
from nba_pipeline.stack import LocalStack
from tests.utils.pubsub import TopicObserver, pull_dlq

pytestmark = pytest.mark.e2e

DEMO_DATE = dt.date(2025, 2, 20)
EMPTY_DATE = dt.date(2024, 7, 15)
SLICE_TABLES = [
    "nba_raw.bdl_games",
    "nba_raw.bdl_player_boxscores",
    "nba_analytics.player_game_summary",
]


def slice_counts(stack: LocalStack, game_date: dt.date) -> dict[str, int | None]:
    counts = PipelineClient(stack.url("scrapers")).table_counts(game_date, game_date)
    return {table: counts[table] for table in SLICE_TABLES}


def table_state(stack: LocalStack, game_date: dt.date) -> dict[str, Any]:
    """Every row of the slice tables for a date, lineage timestamps aside: what a redelivery must not change."""
    warehouse = stack.clients.warehouse
    state: dict[str, Any] = {}
    for table in SLICE_TABLES:
        rows = warehouse.query(f"SELECT * FROM {{{table}}} WHERE game_date = @d", {"d": game_date})
        state[table] = sorted(
            json.dumps(
                {k: v for k, v in r.items() if k not in ("loaded_at", "built_at")},
                default=str,
                sort_keys=True,
            )
            for r in rows
        )
    return state


@pytest.fixture(scope="module")
def demo_day(stack: LocalStack) -> dict[str, Any]:
    """Scrape the slice for the demo date once, observing both topics."""
    phase1 = TopicObserver(stack.project, SCRAPER_COMPLETE_TOPIC)
    phase2 = TopicObserver(stack.project, PHASE2_COMPLETE_TOPIC)
    client = PipelineClient(stack.url("scrapers"))
    runs = [
        client.scrape(name, {"date": DEMO_DATE.isoformat()})
        for name in ("bdl_games", "bdl_box_scores")
    ]
    client.wait(runs, timeout=60)
    ids = {run.execution_id for run in runs}
    phase1.drain(
        until=lambda seen: len([m for m in seen if m.attributes["execution_id"] in ids]) >= 2
    )
    phase2.drain(
        until=lambda seen: len([m for m in seen if m.attributes["execution_id"] in ids]) >= 2
    )
    return {"runs": runs, "ids": ids, "phase1": phase1, "phase2": phase2}


def test_scrape_writes_file_publishes_once_and_fills_all_three_layers(
    stack: LocalStack, demo_day: dict[str, Any]
) -> None:
    runs = demo_day["runs"]
    assert [run.status for run in runs] == ["success", "success"]
    games_run = runs[0]
    stored = stack.clients.store.read_json(games_run.result.gcs_path)
    assert stored.document["meta"]["execution_id"] == games_run.execution_id
    assert stored.document["meta"]["scraper_name"] == "bdl_games"
    assert len(stored.document["data"]["data"]) == games_run.result.record_count == 9
    assert "/ball-dont-lie/games/2025-02-20/" in games_run.result.gcs_path

    phase1 = [m for m in demo_day["phase1"].seen if m.attributes["execution_id"] in demo_day["ids"]]
    assert sorted(m.attributes["scraper_name"] for m in phase1) == ["bdl_box_scores", "bdl_games"]
    body = json.loads(phase1[0].data)
    assert (
        body["schema_version"] == 1
        and body["status"] == "success"
        and body["game_date"] == "2025-02-20"
    )
    phase2 = [m for m in demo_day["phase2"].seen if m.attributes["execution_id"] in demo_day["ids"]]
    assert sorted(m.attributes["source_table"] for m in phase2) == [
        "nba_raw.bdl_games", "nba_raw.bdl_player_boxscores"]  # fmt: skip

    counts = slice_counts(stack, DEMO_DATE)
    box_rows = runs[1].result.record_count
    assert counts == {"nba_raw.bdl_games": 9, "nba_raw.bdl_player_boxscores": box_rows,
                      "nba_analytics.player_game_summary": box_rows}  # fmt: skip
    joined = stack.clients.warehouse.query(
        "SELECT count(*) AS n FROM {nba_analytics.player_game_summary} WHERE game_date = @d AND game_id IS NOT NULL",
        {"d": DEMO_DATE},
    )
    assert joined[0]["n"] == box_rows, "every player row is joined to its game"


def demo_message(demo_day: dict[str, Any], scraper: str) -> Any:
    """The phase-1 message of one of the demo day's runs of `scraper`."""
    return next(m for m in demo_day["phase1"].seen if m.attributes["scraper_name"] == scraper
                and m.attributes["execution_id"] in demo_day["ids"])  # fmt: skip


def push_envelope(message: Any, message_id: str) -> dict[str, Any]:
    """`message` as a push to the processors' subscription would carry it, under `message_id`."""
    return {
        "message": {"data": base64.b64encode(message.data).decode(), "attributes": dict(message.attributes),
                    "messageId": message_id, "publishTime": "2025-02-20T23:00:00Z"},
        "subscription": "projects/nba-test/subscriptions/nba-processors-sub",
    }  # fmt: skip


def test_same_push_message_delivered_three_times_changes_no_table(
    stack: LocalStack, demo_day: dict[str, Any]
) -> None:
    before = table_state(stack, DEMO_DATE)
    message = demo_message(demo_day, "bdl_box_scores")
    envelope = push_envelope(message, message.message_id)
    for _ in range(3):
        response = httpx.post(f"{stack.url('processors')}/process", json=envelope, timeout=30)
        assert response.status_code == 200
        assert response.json()["status"] == "duplicate"
    assert table_state(stack, DEMO_DATE) == before
    processed = stack.clients.warehouse.query(
        "SELECT count(*) AS n FROM {nba_orchestration.processed_messages} "
        "WHERE execution_id = @e AND phase = 'processors'",
        {"e": message.attributes["execution_id"]},
    )
    assert processed[0]["n"] == 1


def test_the_same_run_republished_under_a_new_message_id_is_a_duplicate(
    stack: LocalStack, demo_day: dict[str, Any]
) -> None:
    before = table_state(stack, DEMO_DATE)
    envelope = push_envelope(demo_message(demo_day, "bdl_games"), f"republished-{uuid.uuid4()}")
    response = httpx.post(f"{stack.url('processors')}/process", json=envelope, timeout=30)
    assert response.status_code == 200
    assert response.json()["status"] == "duplicate", "the work decides, not the message id"
    assert table_state(stack, DEMO_DATE) == before


def publish_raw(stack: LocalStack, data: bytes, **attributes: str) -> str:
    publisher = stack.clients.publisher
    return publisher.publish_bytes(SCRAPER_COMPLETE_TOPIC, data, attributes)


def test_poison_messages_are_retried_and_land_intact_in_the_dlq(stack: LocalStack) -> None:
    marker = uuid.uuid4().hex
    missing_file = {"schema_version": 1, "scraper_name": "bdl_games", "execution_id": str(uuid.uuid4()),
                    "status": "success", "gcs_path": f"gs://{stack.bucket}/ball-dont-lie/games/2025-02-20/missing.json",
                    "game_date": "2025-02-20", "record_count": 9, "duration_seconds": 1.0}  # fmt: skip
    unknown = {**missing_file, "scraper_name": "not_a_scraper"}
    poison = {
        "not-json": b"\x00this is not json",
        "unknown-scraper": json.dumps(unknown).encode(),
        "missing-file": json.dumps(missing_file).encode(),
    }
    dead = []
    for kind, data in poison.items():
        # One at a time: the emulator stops redelivering when several pushes fail at once
        # (docs/local-stack.md), which real Pub/Sub does not.
        publish_raw(stack, data, poison_marker=marker, kind=kind)
        dead += pull_dlq(stack.project, "nba-scraper-complete-dlq-sub",
                         lambda m, kind=kind: m.attributes.get("poison_marker") == marker
                         and m.attributes.get("kind") == kind, expected=1)  # fmt: skip
    by_kind = {m.attributes["kind"]: m for m in dead}
    assert set(by_kind) == set(poison)
    for kind, data in poison.items():
        assert by_kind[kind].data == data, f"{kind}: the DLQ holds the message intact"
        attempts = int(by_kind[kind].attributes["CloudPubSubDeadLetterSourceDeliveryCount"])
        assert attempts >= 5, f"{kind}: retried before dead-lettering"


def test_bad_base64_in_a_push_is_a_400_naming_the_field(stack: LocalStack) -> None:
    envelope = {"message": {"data": "%%% not base64 %%%", "messageId": f"bad-{uuid.uuid4()}"}}
    response = httpx.post(f"{stack.url('processors')}/process", json=envelope, timeout=30)
    assert response.status_code == 400
    assert "message.data" in response.json()["reason"]


@pytest.mark.parametrize(
    "body",
    [None, {}, {"subscription": "x"}, {"message": {}}],
    ids=["empty-body", "empty-object", "no-message", "message-without-id"],
)
@pytest.mark.parametrize("service", ["processors", "analytics"])
def test_push_contract_rejects_malformed_envelopes(
    stack: LocalStack, service: str, body: Any
) -> None:
    response = httpx.post(f"{stack.url(service)}/process", json=body, timeout=30)
    assert response.status_code == 422
    assert response.status_code != 202


def test_unknown_scraper_is_a_400_listing_the_known_ones(stack: LocalStack) -> None:
    response = httpx.post(
        f"{stack.url('scrapers')}/process", json={"scraper_name": "nope", "params": {}}
    )
    assert response.status_code == 400
    assert "bdl_games" in response.json()["detail"]


def test_bad_params_are_a_422_naming_the_field(stack: LocalStack) -> None:
    response = httpx.post(f"{stack.url('scrapers')}/process",
                          json={"scraper_name": "bdl_games", "params": {"date": "20-02-2025"}})  # fmt: skip
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["params", "date"]


def test_no_data_run_writes_no_rows_and_is_acked(stack: LocalStack) -> None:
    observer = TopicObserver(stack.project, SCRAPER_COMPLETE_TOPIC)
    client = PipelineClient(stack.url("scrapers"))
    run = client.scrape("bdl_box_scores", {"date": EMPTY_DATE.isoformat()})
    assert run.status_code == 200 and run.status == "no_data" and run.result.record_count == 0
    client.wait([run], timeout=30)
    outcome = stack.clients.warehouse.query(
        "SELECT outcome FROM {nba_orchestration.processed_messages} WHERE execution_id = @e AND phase = 'processors'",
        {"e": run.execution_id},
    )
    assert [row["outcome"] for row in outcome] == ["no_data"]
    assert slice_counts(stack, EMPTY_DATE) == dict.fromkeys(SLICE_TABLES, 0)
    observer.drain(
        until=lambda seen: any(m.attributes["execution_id"] == run.execution_id for m in seen)
    )
    mine = [m for m in observer.seen if m.attributes["execution_id"] == run.execution_id]
    assert len(mine) == 1 and mine[0].attributes["status"] == "no_data"
