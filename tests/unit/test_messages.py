"""Message contracts: the push envelope's two spellings and decode errors that name the field."""

from __future__ import annotations

import base64
import json
import uuid

import pytest

from libs.common.messages import (
    MessageError,
    Phase2Complete,
    PushEnvelope,
    RunResult,
    ScraperComplete,
    decode_message,
    encode_message,
)


def envelope_for(data: bytes, **message: object) -> PushEnvelope:
    return PushEnvelope.model_validate(
        {"message": {"data": base64.b64encode(data).decode(), "messageId": "1", **message}}
    )


def completed(**overrides: object) -> ScraperComplete:
    fields: dict[str, object] = {
        "scraper_name": "bdl_games", "execution_id": str(uuid.uuid4()), "status": "success",
        "gcs_path": "gs://b/ball-dont-lie/games/2025-02-20/x.json", "game_date": "2025-02-20",
        "record_count": 9, "duration_seconds": 0.5,
    }  # fmt: skip
    return ScraperComplete.model_validate(fields | overrides)


def test_envelope_accepts_camel_and_snake_case_spellings() -> None:
    camel = PushEnvelope.model_validate(
        {
            "message": {"messageId": "42", "publishTime": "2025-02-20T23:00:00Z"},
            "deliveryAttempt": 3,
        }
    )
    snake = PushEnvelope.model_validate(
        {"message": {"message_id": "42", "publish_time": "2025-02-20T23:00:00Z"}}
    )
    assert camel.message.message_id == snake.message.message_id == "42"
    assert camel.message.publish_time == snake.message.publish_time
    assert camel.delivery_attempt == 3 and snake.delivery_attempt is None


def test_message_round_trips_through_the_push_encoding() -> None:
    message = completed()
    decoded = decode_message(envelope_for(encode_message(message)), ScraperComplete)
    assert decoded == message
    assert decoded.attributes()["schema_version"] == "1"


def test_attributes_carry_routing_and_traceparent() -> None:
    attrs = completed(workflow="post_game_collection").attributes("00-abc-def-01")
    assert attrs["scraper_name"] == "bdl_games"
    assert attrs["workflow"] == "post_game_collection"
    assert attrs["traceparent"] == "00-abc-def-01"


def test_decode_error_names_the_bad_field() -> None:
    body = completed().model_dump(mode="json") | {"record_count": -1}
    with pytest.raises(MessageError, match=r"record_count"):
        decode_message(envelope_for(json.dumps(body).encode()), ScraperComplete)


def test_decode_rejects_an_unknown_field_so_no_ambiguous_name_slips_in() -> None:
    body = completed().model_dump(mode="json") | {"name": "bdl_games"}
    with pytest.raises(MessageError, match=r"name: Extra inputs"):
        decode_message(envelope_for(json.dumps(body).encode()), ScraperComplete)


def test_decode_rejects_bad_base64_and_non_json() -> None:
    bad_base64 = PushEnvelope.model_validate({"message": {"data": "%%%", "messageId": "1"}})
    with pytest.raises(MessageError, match=r"message\.data"):
        decode_message(bad_base64, ScraperComplete)
    with pytest.raises(MessageError, match=r"message\.data"):
        decode_message(envelope_for(b"not json"), ScraperComplete)


def test_schema_version_other_than_1_is_rejected() -> None:
    body = completed().model_dump(mode="json") | {"schema_version": 2}
    with pytest.raises(MessageError, match="schema_version"):
        decode_message(envelope_for(json.dumps(body).encode()), ScraperComplete)


def test_phase2_attributes_name_the_table_and_date() -> None:
    message = Phase2Complete(
        scraper_name="bdl_games", source_table="nba_raw.bdl_games", game_date="2025-02-20",
        record_count=9, rows_changed=9, execution_id="e", gcs_path=None,
    )  # fmt: skip
    assert message.attributes() == {
        "scraper_name": "bdl_games", "source_table": "nba_raw.bdl_games", "game_date": "2025-02-20",
        "execution_id": "e", "schema_version": "1",
    }  # fmt: skip


def test_a_run_result_is_its_completion_plus_what_only_the_caller_needs() -> None:
    message = completed()
    run = RunResult(**message.model_dump(), message_id="42", error_class=None, rows=[{"id": 1}])
    assert run.completion() == message, "the published message carries no result-only field"
    answer = run.model_dump(mode="json")
    assert "rows" not in answer, "parsed rows never leave the process that ran the scrape"
    assert RunResult.model_validate_json(json.dumps(answer)) == run.model_copy(update={"rows": []})
    assert run.published and not run.model_copy(update={"message_id": None}).published
