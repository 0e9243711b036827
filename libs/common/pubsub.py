"""Pub/Sub: publishing (every publish waits for its ack and raises on failure, never swallows)
and the one scan that reads a dead-letter queue (`services/scrapers/dead_letters.py` counts
them)."""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Callable, Iterator
from typing import Any

from pydantic import BaseModel

from libs.common.errors import PipelineError
from libs.common.messages import encode_message


class PublishError(PipelineError, RuntimeError):
    """A message Pub/Sub did not accept; the caller fails the run (it is retried, then recorded).
    A push answers it 503: the work is done and idempotent, only its announcement is missing."""

    status_code = 503


RETRIED_CODES = (
    "Aborted",
    "Cancelled",
    "DeadlineExceeded",
    "InternalServerError",
    "ResourceExhausted",
    "ServiceUnavailable",
    "Unknown",
)
"""The errors the client library retries a Publish on (its gapic defaults)."""


def publish_rpc(client: Any) -> Callable[..., Any]:
    """The Publish RPC of `client`: the library's PublisherClient overrides `publish` with its
    batching one, so the RPC is the GAPIC base class's method; any other client (a test
    double) is called as it is."""
    from google.pubsub_v1.services.publisher import PublisherClient as GapicPublisherClient

    if isinstance(client, GapicPublisherClient):
        return functools.partial(GapicPublisherClient.publish, client)
    publish: Callable[..., Any] = client.publish
    return publish


class Publisher:
    """Publishes message models to topics of one project."""

    def __init__(self, project: str, timeout_seconds: float = 30.0, client: Any = None) -> None:
        from google.api_core import exceptions, retry
        from google.cloud import pubsub_v1  # type: ignore[attr-defined, unused-ignore]

        self.project = project
        self.timeout_seconds = timeout_seconds
        self._client = client or pubsub_v1.PublisherClient()
        self._publish_rpc = publish_rpc(self._client)
        self._message = pubsub_v1.types.PubsubMessage
        self._retry = retry.Retry(
            predicate=retry.if_exception_type(*(getattr(exceptions, c) for c in RETRIED_CODES)),
            initial=0.1,
            maximum=5.0,
            multiplier=4,
            timeout=timeout_seconds,
        )

    def topic_path(self, topic: str) -> str:
        """`projects/{project}/topics/{topic}`."""
        return f"projects/{self.project}/topics/{topic}"

    def publish(self, topic: str, message: BaseModel, attributes: dict[str, str]) -> str:
        """Publish and wait for the server's message id."""
        return self.publish_bytes(topic, encode_message(message), attributes)

    def publish_bytes(self, topic: str, data: bytes, attributes: dict[str, str]) -> str:
        """Publish raw bytes (DLQ replay keeps the original body) and wait for the message id.

        One Publish call on the caller's thread, retried for `timeout_seconds`: every caller
        waits for its own message, so the client's batching (a timer and a commit thread per
        batch) only added work, 0.87 against 0.33 ms of CPU and 2.7 against 0.7 ms per publish.
        """
        message = self._message(data=data, attributes=attributes)
        try:
            response = self._publish_rpc(
                topic=self.topic_path(topic),
                messages=[message],
                retry=self._retry,
                timeout=self.timeout_seconds,
            )
        except Exception as exc:
            raise PublishError(f"publish to {topic} failed: {exc}") from exc
        return str(response.message_ids[0])

    def check_topic(self, topic: str) -> None:
        """Raise PublishError unless the topic exists (readiness): publishing to a missing
        topic fails every run that follows."""
        from google.api_core.exceptions import NotFound

        try:
            self._client.get_topic(request={"topic": self.topic_path(topic)}, timeout=5)
        except NotFound as exc:
            raise PublishError(
                f"topic {self.topic_path(topic)} does not exist: create the topology with "
                "`make infra-apply` (infra/pubsub/topology.yaml)"
            ) from exc

    def close(self) -> None:
        """Stop the library client (publishes bypass its batching, so nothing is pending)."""
        self._client.stop()


PULL_BATCH = 100
UNREACHABLE_AFTER_SECONDS = 10.0
"""A waiting pull's transient errors are retried this long before the scan gives up."""


class PullError(RuntimeError):
    """A pull that failed: `unreachable` when Pub/Sub did not answer, else the subscription is
    missing."""

    def __init__(self, message: str, unreachable: bool) -> None:
        super().__init__(message)
        self.unreachable = unreachable


class PullScan:
    """Every message of a pull subscription, once each, leased until the scan ends.

    The one way this code reads a dead-letter queue (the DLQ commands, the depth counter,
    the tests). `ack` deletes a message at once; every other one is handed back (ack deadline
    0) when the scan closes, all together: handing one back earlier would make it pullable
    again at once, so the scan would see it twice, and keeping it would hide it from other
    readers until its ack deadline ran out.
    """

    def __init__(self, subscriber: Any, path: str, wait_seconds: float | None = None) -> None:
        """`wait_seconds` None: pulls return at once (Pub/Sub deprecates this and may answer
        short, but a waiting pull holds the caller for its whole deadline on every empty
        queue); else each pull waits up to that long."""
        self.subscriber = subscriber
        self.path = path
        self.wait_seconds = wait_seconds
        self._held: dict[str, str] = {}  # message id -> latest ack id
        self._seen: set[str] = set()

    def _pull(self) -> list[Any]:
        from google.api_core.exceptions import GoogleAPICallError, NotFound, RetryError
        from google.api_core.retry import Retry

        request = {"subscription": self.path, "max_messages": PULL_BATCH}
        try:
            if self.wait_seconds is None:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", DeprecationWarning)
                    response = self.subscriber.pull(
                        request=request | {"return_immediately": True},
                        timeout=5,
                        retry=Retry(timeout=UNREACHABLE_AFTER_SECONDS),
                    )
            else:
                response = self.subscriber.pull(
                    request=request,
                    timeout=self.wait_seconds,
                    retry=Retry(timeout=UNREACHABLE_AFTER_SECONDS),
                )
        except NotFound:
            raise PullError(f"subscription {self.path} does not exist", False) from None
        except (GoogleAPICallError, RetryError) as exc:
            where = os.environ.get("PUBSUB_EMULATOR_HOST") or "Pub/Sub"
            reason = getattr(exc, "message", None) or type(exc).__name__
            raise PullError(f"cannot pull {self.path} from {where}: {reason}", True) from None
        return list(response.received_messages)

    def __iter__(self) -> Iterator[Any]:
        """Each message (a PubsubMessage) not pulled before, until a pull brings none new."""
        while True:
            fresh = []
            for item in self._pull():
                message_id = item.message.message_id
                if message_id not in self._seen:
                    self._seen.add(message_id)
                    self._held[message_id] = item.ack_id
                    fresh.append(item.message)
                elif message_id in self._held:  # redelivered after its lease ran out
                    self._held[message_id] = item.ack_id
                else:  # acked, and delivered again before the ack reached Pub/Sub
                    self._acknowledge([item.ack_id])
            if not fresh:
                return
            yield from fresh

    def ack(self, message_id: str) -> None:
        """Delete a message this scan pulled."""
        self._acknowledge([self._held.pop(message_id)])

    def _acknowledge(self, ack_ids: list[str]) -> None:
        self.subscriber.acknowledge(request={"subscription": self.path, "ack_ids": ack_ids})

    def close(self) -> None:
        """Hand back every message not acked."""
        held, self._held = list(self._held.values()), {}
        if held:
            self.subscriber.modify_ack_deadline(
                request={"subscription": self.path, "ack_ids": held, "ack_deadline_seconds": 0}
            )

    def __enter__(self) -> PullScan:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
