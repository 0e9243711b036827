"""Pub/Sub test helpers: observe what a topic carries, and pull a DLQ."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from google.cloud import pubsub_v1

from libs.common.pubsub import PullScan


class TopicObserver:
    """A pull subscription on a topic, so a test can count the messages it carried."""

    def __init__(self, project: str, topic: str) -> None:
        self.subscriber = pubsub_v1.SubscriberClient()
        self.path = f"projects/{project}/subscriptions/observer-{topic}-{uuid.uuid4().hex[:8]}"
        self.subscriber.create_subscription(
            request={"name": self.path, "topic": f"projects/{project}/topics/{topic}"}
        )
        self.seen: list[Any] = []

    def drain(self, until: Any = None, timeout: float = 20) -> list[Any]:
        """Pull (and ack) until `until(messages)` holds or the timeout passes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            response = self.subscriber.pull(
                request={"subscription": self.path, "max_messages": 100}, timeout=5
            )
            if response.received_messages:
                self.seen.extend(m.message for m in response.received_messages)
                self.subscriber.acknowledge(
                    request={"subscription": self.path,
                             "ack_ids": [m.ack_id for m in response.received_messages]}
                )  # fmt: skip
            if until is not None and until(self.seen):
                break
            if until is None and not response.received_messages:
                break
        return self.seen

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(m.data) for m in self.seen]


def pull_dlq(
    project: str, subscription: str, match: Any, expected: int, timeout: float = 90
) -> list[Any]:
    """Scan a DLQ subscription until `expected` messages satisfy `match`; those are acked, the
    others handed back."""
    subscriber = pubsub_v1.SubscriberClient()
    path = f"projects/{project}/subscriptions/{subscription}"
    found: dict[str, Any] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(found) < expected:
        with PullScan(subscriber, path) as scan:
            for message in scan:
                if match(message):
                    found[message.message_id] = message
                    scan.ack(message.message_id)
        if len(found) < expected:
            time.sleep(0.5)
    subscriber.close()
    return list(found.values())
