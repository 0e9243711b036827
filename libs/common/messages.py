"""Message contracts (schema v1): imported by every publisher and every receiver.

Nothing else declares these field names; see docs/contracts.md.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from enum import StrEnum
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from libs.common.errors import PipelineError
from libs.common.validation import bounded, describe

SCRAPER_COMPLETE_TOPIC = "nba-scraper-complete"
PHASE2_COMPLETE_TOPIC = "nba-phase2-complete"
SCHEMA_VERSION: Literal[1] = 1
REPROCESS_ATTRIBUTE = "reprocess_id"
"""Attribute of a completion republished to apply its run's work once more (`nba-pipeline
reprocess` after a parser fix, cleanup after a lost phase-2 event); copied onto the phase-2
message its load publishes. Without it, work already applied is a duplicate."""

RunStatus = Literal["success", "no_data", "failed"]


class Phase(StrEnum):
    """The phases a run goes through. The value (the service that applies the phase) is what
    metrics, logs, `processed_messages.phase` and work keys hold; `action` names its span."""

    SCRAPE = "scrape"
    LOAD = "processors"
    BUILD = "analytics"

    @property
    def action(self) -> str:
        """What the phase does to a run: scrape, load or build."""
        return self.name.lower()


def utc_now() -> dt.datetime:
    """Timezone-aware now, the only clock messages are stamped with."""
    return dt.datetime.now(dt.UTC)


FIRST_GAME_DAY = dt.date(1946, 11, 1)
"""The league's first game (BAA, 1946-11-01): no upstream knows an earlier game date."""
DAYS_AHEAD = 366
"""How far ahead of today a game date may be: no upstream lists games further out."""


def check_game_date(day: dt.date) -> dt.date:
    """`day` if an upstream could know games on it; ValueError naming the range otherwise.

    Outside it nothing can succeed, and near year 1 or 9999 the Eastern-day arithmetic of
    the requests and the schedule overflows.
    """
    last = utc_now().date() + dt.timedelta(days=DAYS_AHEAD)
    if not FIRST_GAME_DAY <= day <= last:
        raise ValueError(
            f"{day} is not a game date an upstream can know: give one from {FIRST_GAME_DAY} "
            f"(the league's first game) to {last} (a year from today)"
        )
    return day


GameDate = Annotated[dt.date, AfterValidator(check_game_date)]
"""A game date (US Eastern calendar day) within the range any upstream can answer for."""

Workflow = Annotated[
    str,
    Field(
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="workflow that asked for the run (letters, digits, `_.-`; at most 100): "
        "published as a Pub/Sub attribute, whose values are limited to 1,024 bytes",
    ),
]
ExecutionId = Annotated[
    str, Field(min_length=1, max_length=64, description="full uuid4 of the run")
]
GCS_PATH_LENGTH = 1280
"""`gs://`, a bucket name (at most 222 characters) and an object name (at most 1,024 bytes)."""


class PipelineMessage(BaseModel):
    """What every message between the phases carries: the run it comes from."""

    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = SCHEMA_VERSION
    scraper_name: str = Field(max_length=64, description="exactly the registry name")
    execution_id: ExecutionId = Field(
        description="full uuid4 of the run, carried through all phases"
    )


class ScraperComplete(PipelineMessage):
    """Topic nba-scraper-complete: one per scraper run, after the file is written and logged."""

    status: RunStatus
    gcs_path: str | None = Field(
        max_length=GCS_PATH_LENGTH, description="gs://bucket/... of the raw file, null if none"
    )
    game_date: GameDate | None = Field(description="game date the run is about; never defaulted")
    record_count: int = Field(ge=0)
    duration_seconds: float = Field(ge=0)
    workflow: Workflow = "MANUAL"
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


class RunResult(ScraperComplete):
    """What one scraper run did, as the scrapers' `POST /process` answers it and the CLI reads
    it: the run's completion message, the id Pub/Sub gave it (null when the publish failed,
    which fails the run) and the class of the error that failed the run."""

    message_id: str | None = None
    error_class: str | None = None
    rows: list[dict[str, Any]] = Field(default_factory=list, exclude=True, repr=False)
    """The parsed rows, in the process that ran the scrape only (never serialized):
    orchestration fans out from them, e.g. one props run per event found."""

    @property
    def published(self) -> bool:
        """Whether its completion reached Pub/Sub: every run publishes one, a failed run too."""
        return self.message_id is not None

    def completion(self) -> ScraperComplete:
        """The message published for this run."""
        return ScraperComplete.model_validate(
            self.model_dump(include=set(ScraperComplete.model_fields))
        )


class Phase2Complete(PipelineMessage):
    """Topic nba-phase2-complete: one per raw-table load."""

    event_type: Literal["raw_data_loaded"] = "raw_data_loaded"
    source_table: str = Field(
        max_length=128, description="dataset.table that was loaded, e.g. nba_raw.bdl_games"
    )
    game_date: GameDate | None
    record_count: int = Field(ge=0)
    rows_changed: int = Field(ge=0)
    gcs_path: str | None = Field(max_length=GCS_PATH_LENGTH)
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


ATTRIBUTES_PER_MESSAGE = 100
ATTRIBUTE_KEY_BYTES = 256
ATTRIBUTE_VALUE_BYTES = 1024
"""Pub/Sub's limits on a message's attributes (https://cloud.google.com/pubsub/quotas): a
push carrying more was not sent by Pub/Sub."""


class PushMessage(BaseModel):
    """`message` of a Pub/Sub push request; both spellings Pub/Sub sends are accepted."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    data: str = Field("", description="base64 of the JSON message body")
    attributes: dict[str, str] = Field(
        default_factory=dict,
        description=f"at most {ATTRIBUTES_PER_MESSAGE}, keys of at most {ATTRIBUTE_KEY_BYTES} "
        f"bytes, values of at most {ATTRIBUTE_VALUE_BYTES} bytes (Pub/Sub's limits)",
    )
    message_id: str = Field(
        max_length=128,
        validation_alias=AliasChoices("messageId", "message_id"),
        description="Pub/Sub's id of the message; an empty one is refused with 400",
    )
    publish_time: dt.datetime | None = Field(
        None, validation_alias=AliasChoices("publishTime", "publish_time")
    )

    @field_validator("attributes")
    @classmethod
    def _within_pubsub_limits(cls, attributes: dict[str, str]) -> dict[str, str]:
        if len(attributes) > ATTRIBUTES_PER_MESSAGE:
            raise ValueError(
                f"{len(attributes)} attributes; Pub/Sub sends at most {ATTRIBUTES_PER_MESSAGE}"
            )
        for key, value in attributes.items():
            if len(key.encode()) > ATTRIBUTE_KEY_BYTES:
                raise ValueError(
                    f"attribute key '{bounded(key, 64)}' is longer than Pub/Sub's "
                    f"{ATTRIBUTE_KEY_BYTES} bytes"
                )
            if len(value.encode()) > ATTRIBUTE_VALUE_BYTES:
                raise ValueError(
                    f"attribute '{bounded(key, 64)}' has a value longer than Pub/Sub's "
                    f"{ATTRIBUTE_VALUE_BYTES} bytes"
                )
        return attributes


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


class MessageError(PipelineError, ValueError):
    """A push message whose body cannot be decoded into its schema; retrying will not help."""

    status_code = 400


M = TypeVar("M", bound=BaseModel)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number; our publishers never send it")


def decode_message(envelope: PushEnvelope, model: type[M]) -> M:
    """Decode `message.data` (base64 JSON) into `model`, with an error naming the bad field."""
    try:
        raw = base64.b64decode(envelope.message.data, validate=True)
        payload = json.loads(raw, parse_constant=_no_constant)
    except (binascii.Error, ValueError) as exc:
        reason = bounded(str(exc))
        raise MessageError(f"message.data is not base64-encoded JSON: {reason}") from exc
    except RecursionError:
        raise MessageError("message.data is JSON nested too deeply to be a message") from None
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        problems = describe(exc.errors())
        raise MessageError(f"message.data does not match {model.__name__} v1: {problems}") from exc


def encode_message(message: BaseModel) -> bytes:
    """The JSON bytes published for a message model."""
    return message.model_dump_json().encode()
