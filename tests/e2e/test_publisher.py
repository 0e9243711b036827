"""Publishing against the emulator: one Publish call per message, its id and body intact."""

from __future__ import annotations

import uuid

import pytest

from libs.common.pubsub import Publisher, PublishError
from nba_pipeline.stack import LocalStack

pytestmark = pytest.mark.e2e


def test_a_publish_returns_the_id_a_subscriber_receives_with_body_and_attributes(
    stack: LocalStack,
) -> None:
    from google.cloud import pubsub_v1  # type: ignore[attr-defined, unused-ignore]

    assert stack.clients is not None
    publisher = stack.clients.publisher
    name = f"publisher-test-{uuid.uuid4().hex[:8]}"
    subscriber = pubsub_v1.SubscriberClient()
    subscription = subscriber.subscription_path(stack.project, name)
    publisher._client.create_topic(name=publisher.topic_path(name))
    subscriber.create_subscription(name=subscription, topic=publisher.topic_path(name))
    try:
        message_id = publisher.publish_bytes(name, b'{"run": 1}', {"scraper_name": "bdl_games"})
        pulled = subscriber.pull(subscription=subscription, max_messages=10, timeout=10)
    finally:
        subscriber.delete_subscription(subscription=subscription)
        publisher._client.delete_topic(topic=publisher.topic_path(name))
        subscriber.close()
    (received,) = pulled.received_messages
    assert received.message.message_id == message_id
    assert received.message.data == b'{"run": 1}'
    assert dict(received.message.attributes) == {"scraper_name": "bdl_games"}


def test_a_publish_to_a_missing_topic_is_a_publish_error_naming_it(stack: LocalStack) -> None:
    publisher = Publisher(stack.project, timeout_seconds=5)
    with pytest.raises(PublishError, match="publish to no-such-topic failed: 404"):
        publisher.publish_bytes("no-such-topic", b"{}", {})
