"""What a dead letter is: Pub/Sub's attributes on it, the ones a replay adds, and filters."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

DEAD_LETTER_PREFIX = "CloudPubSubDeadLetterSource"
SOURCE_SUBSCRIPTION = f"{DEAD_LETTER_PREFIX}Subscription"
SOURCE_DELIVERY_COUNT = f"{DEAD_LETTER_PREFIX}DeliveryCount"
SOURCE_PUBLISH_TIME = f"{DEAD_LETTER_PREFIX}TopicPublishTime"
SOURCE_PROJECT = f"{DEAD_LETTER_PREFIX}SubscriptionProject"
REPLAY_COUNT = "replay_count"
ORIGINAL_MESSAGE_ID = "original_message_id"


class DlqError(RuntimeError):
    """A request that cannot be carried out (unknown subscription, no project); says why."""


def short_name(path: str) -> str:
    """`projects/p/subscriptions/name` (or `.../topics/name`) to `name`."""
    return path.rsplit("/", 1)[-1]


def _as_int(value: str | None) -> int:
    """A counter attribute; absent or garbled counts as 0."""
    try:
        return max(0, int(value or 0))
    except ValueError:
        return 0


@dataclass(frozen=True)
class DlqMessage:
    """One dead-lettered message as pulled (its ack id stays with the scan that pulled it)."""

    dlq_subscription: str
    message_id: str
    data: bytes
    attributes: dict[str, str]
    publish_time: dt.datetime | None = None

    @classmethod
    def pulled(cls, dlq_subscription: str, message: Any) -> DlqMessage:
        """From the PubsubMessage a scan of `dlq_subscription` pulled."""
        return cls(
            dlq_subscription,
            message.message_id,
            bytes(message.data),
            dict(message.attributes),
            message.publish_time or None,
        )

    @property
    def scraper_name(self) -> str:
        return self.attributes.get("scraper_name", "")

    @property
    def source_subscription(self) -> str | None:
        """The push subscription that gave up on it (short name), from Pub/Sub's attribute."""
        value = self.attributes.get(SOURCE_SUBSCRIPTION)
        return short_name(value) if value else None

    @property
    def delivery_count(self) -> int | None:
        value = self.attributes.get(SOURCE_DELIVERY_COUNT)
        return _as_int(value) if value else None

    @property
    def replay_count(self) -> int:
        return _as_int(self.attributes.get(REPLAY_COUNT))

    @property
    def published(self) -> str:
        """When it was first published to its source topic (else when it reached the DLQ)."""
        if SOURCE_PUBLISH_TIME in self.attributes:
            return self.attributes[SOURCE_PUBLISH_TIME]
        if self.publish_time is None:
            return ""
        stamp = self.publish_time.astimezone(dt.UTC).isoformat(timespec="milliseconds")
        return stamp.replace("+00:00", "Z")

    def preview(self, width: int = 60) -> str:
        """The start of the data on one line, for tables."""
        text = self.data.decode(errors="replace").replace("\n", " ")
        return text if len(text) <= width else text[: width - 1] + "…"

    def pretty_data(self) -> str:
        """Indented JSON when the data is JSON, else the text as received."""
        try:
            return json.dumps(json.loads(self.data), indent=2, ensure_ascii=False)
        except ValueError:
            return self.data.decode(errors="replace")


def clean_attributes(attributes: Mapping[str, str]) -> dict[str, str]:
    """The message's own attributes: those Pub/Sub added when dead-lettering are dropped."""
    return {k: v for k, v in attributes.items() if not k.startswith(DEAD_LETTER_PREFIX)}


def replay_attributes(message: DlqMessage) -> dict[str, str]:
    """Attributes of the republished message: its own, one more replay, and the first DLQ id.

    `original_message_id` keeps the id of the first dead-lettered copy across repeated
    replays, so every generation of one message can be traced back to it.
    """
    return clean_attributes(message.attributes) | {
        REPLAY_COUNT: str(message.replay_count + 1),
        ORIGINAL_MESSAGE_ID: message.attributes.get(ORIGINAL_MESSAGE_ID) or message.message_id,
    }


@dataclass(frozen=True)
class MessageFilter:
    """Which messages a command acts on; every given criterion must hold."""

    scraper: str | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)
    message_id: str | None = None

    def matches(self, message: DlqMessage) -> bool:
        return (
            (self.scraper is None or message.scraper_name == self.scraper)
            and (self.message_id is None or message.message_id == self.message_id)
            and all(message.attributes.get(k) == v for k, v in self.attributes.items())
        )


ALL_MESSAGES = MessageFilter()
"""No criterion: every message."""


def parse_attribute_filters(values: Iterable[str]) -> dict[str, str]:
    """`["key=value", ...]` (the repeatable --attribute option) to a dict."""
    pairs = {}
    for value in values:
        key, sep, wanted = value.partition("=")
        if not sep or not key:
            raise DlqError(f"--attribute '{value}': expected key=value")
        pairs[key] = wanted
    return pairs
