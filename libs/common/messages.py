"""Message contracts (schema v1): imported by every publisher and every receiver.

Nothing else declares these field names; see docs/contracts.md.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from typing import Any, Literal, TypeVar

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError

SCRAPER_COMPLETE_TOPIC = "nba-scraper-complete"
PHASE2_COMPLETE_TOPIC = "nba-phase2-complete"
SCHEMA_VERSION: Literal[1] = 1
REPROCESS_ATTRIBUTE = "reprocess_id"
"""Attribute of a completion republished to apply its run's work once more (`nba-pipeline
reprocess` after a parser fix, cleanup after a lost phase-2 event); copied onto the phase-2
message its load publishes. Without it, work already applied is a duplicate."""

RunStatus = Literal["success", "no_data", "failed"]


def utc_now() -> dt.datetime:
    """Timezone-aware now, the only clock messages are stamped with."""
    return dt.datetime.now(dt.UTC)


class PipelineMessage(BaseModel):
    """What every message between the phases carries: the run it comes from."""

    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = SCHEMA_VERSION
    scraper_name: str = Field(description="exactly the registry name")
    execution_id: str = Field(description="full uuid4 of the run, carried through all phases")


class ScraperComplete(PipelineMessage):
    """Topic nba-scraper-complete: one per scraper run, after the file is written and logged."""

    status: RunStatus
    gcs_path: str | None = Field(description="gs://bucket/... of the raw file, null if none")
    game_date: dt.date | None = Field(description="game date the run is about; never defaulted")
    record_count: int = Field(ge=0)
    duration_seconds: float = Field(ge=0)
    workflow: str = "MANUAL"
    error_message: str | None = None
    published_at: dt.datetime = Field(default_factory=utc_now)
    params: dict[str, Any] = Field(default_factory=dict)

    def attributes(self, traceparent: str | None = None) -> dict[str, str]:
        """Pub/Sub attributes: routing without decoding the body."""
        attrs = {
            "scraper_name": self.scraper_name,
            "status": self.status,
            "execution_id": self.execution_id,
            "workflow": self.workflow,
            "schema_version": str(self.schema_version),
        }
        return attrs | ({"traceparent": traceparent} if traceparent else {})


class Phase2Complete(PipelineMessage):
    """Topic nba-phase2-complete: one per raw-table load."""

    event_type: Literal["raw_data_loaded"] = "raw_data_loaded"
    source_table: str = Field(description="dataset.table that was loaded, e.g. nba_raw.bdl_games")
    game_date: dt.date | None
    record_count: int = Field(ge=0)
    rows_changed: int = Field(ge=0)
    gcs_path: str | None
    published_at: dt.datetime = Field(default_factory=utc_now)

    def attributes(self, traceparent: str | None = None) -> dict[str, str]:
        """Pub/Sub attributes: routing without decoding the body."""
        attrs = {
            "scraper_name": self.scraper_name,
            "source_table": self.source_table,
            "game_date": self.game_date.isoformat() if self.game_date else "",
            "execution_id": self.execution_id,
            "schema_version": str(self.schema_version),
        }
        return attrs | ({"traceparent": traceparent} if traceparent else {})


class PushMessage(BaseModel):
    """`message` of a Pub/Sub push request; both spellings Pub/Sub sends are accepted."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    data: str = Field("", description="base64 of the JSON message body")
    attributes: dict[str, str] = Field(default_factory=dict)
    message_id: str = Field(validation_alias=AliasChoices("messageId", "message_id"))
    publish_time: dt.datetime | None = Field(
        None, validation_alias=AliasChoices("publishTime", "publish_time")
    )


class PushEnvelope(BaseModel):
    """A Pub/Sub push request body."""

    model_config = ConfigDict(
        populate_by_name=True,
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "message": {
                        "data": "eyJzY2hlbWFfdmVyc2lvbiI6IDF9",
                        "attributes": {"scraper_name": "bdl_games"},
                        "messageId": "1234567890",
                        "publishTime": "2025-02-20T23:15:00Z",
                    },
                    "subscription": "projects/nba-local/subscriptions/nba-processors-sub",
                }
            ]
        },
    )

    message: PushMessage
    subscription: str = ""
    delivery_attempt: int | None = Field(
        None, validation_alias=AliasChoices("deliveryAttempt", "delivery_attempt")
    )


class MessageError(ValueError):
    """A push message whose body cannot be decoded into its schema; retrying will not help."""


M = TypeVar("M", bound=BaseModel)


def decode_message(envelope: PushEnvelope, model: type[M]) -> M:
    """Decode `message.data` (base64 JSON) into `model`, with an error naming the bad field."""
    try:
        raw = base64.b64decode(envelope.message.data, validate=True)
        payload = json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise MessageError(f"message.data is not base64-encoded JSON: {exc}") from exc
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<body>'}: {err['msg']}"
            for err in exc.errors()
        )
        raise MessageError(f"message.data does not match {model.__name__} v1: {problems}") from exc


def encode_message(message: BaseModel) -> bytes:
    """The JSON bytes published for a message model."""
    return message.model_dump_json().encode()
