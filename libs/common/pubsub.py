"""Publishing: every publish waits for its ack and raises on failure, never swallows."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from libs.common.messages import encode_message


class PublishError(RuntimeError):
    """A message Pub/Sub did not accept; the caller fails the run (it is retried, then recorded)."""


class Publisher:
    """Publishes message models to topics of one project."""

    def __init__(self, project: str, timeout_seconds: float = 30.0, client: Any = None) -> None:
        from google.cloud import pubsub_v1  # type: ignore[attr-defined, unused-ignore]

        self.project = project
        self.timeout_seconds = timeout_seconds
        self._client = client or pubsub_v1.PublisherClient()

    def topic_path(self, topic: str) -> str:
        """`projects/{project}/topics/{topic}`."""
        return f"projects/{self.project}/topics/{topic}"

    def publish(self, topic: str, message: BaseModel, attributes: dict[str, str]) -> str:
        """Publish and wait for the server's message id."""
        return self.publish_bytes(topic, encode_message(message), attributes)

    def publish_bytes(self, topic: str, data: bytes, attributes: dict[str, str]) -> str:
        """Publish raw bytes (DLQ replay keeps the original body) and wait for the message id."""
        try:
            future = self._client.publish(self.topic_path(topic), data, **attributes)
            message_id: str = future.result(timeout=self.timeout_seconds)
        except Exception as exc:
            raise PublishError(f"publish to {topic} failed: {exc}") from exc
        return message_id

    def topic_exists(self, topic: str) -> bool:
        """Whether the topic exists (readiness probe); raises if Pub/Sub is unreachable."""
        from google.api_core.exceptions import NotFound

        try:
            self._client.get_topic(request={"topic": self.topic_path(topic)}, timeout=5)
        except NotFound:
            return False
        return True

    def close(self) -> None:
        """Flush pending batches."""
        self._client.stop()
