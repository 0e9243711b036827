"""Declarative Pub/Sub topology: load infra/pubsub/topology.yaml, diff it, apply it idempotently."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import yaml
from google.api_core.exceptions import AlreadyExists, NotFound
from google.protobuf import duration_pb2, field_mask_pb2
from pydantic import BaseModel, ConfigDict

TOPOLOGY_FILE = Path(__file__).resolve().parents[1] / "infra" / "pubsub" / "topology.yaml"


class RetryPolicy(BaseModel):
    """Backoff between redeliveries of a nacked message."""

    model_config = ConfigDict(extra="forbid")
    minimum_backoff_seconds: int
    maximum_backoff_seconds: int


class PushSubscription(BaseModel):
    """A push subscription to one of our services, with its dead-letter policy."""

    model_config = ConfigDict(extra="forbid")
    name: str
    topic: str
    service: str
    path: str
    dead_letter_topic: str
    max_delivery_attempts: int
    ack_deadline_seconds: int
    retry_policy: RetryPolicy


class PullSubscription(BaseModel):
    """A pull subscription (the DLQ readers)."""

    model_config = ConfigDict(extra="forbid")
    name: str
    topic: str
    ack_deadline_seconds: int
    message_retention_days: int


class LocalOverrides(BaseModel):
    """Settings the local stack uses instead of the production ones."""

    model_config = ConfigDict(extra="forbid")
    retry_policy: RetryPolicy | None = None
    ack_deadline_seconds: int | None = None


class Topology(BaseModel):
    """The whole file."""

    model_config = ConfigDict(extra="forbid")
    topics: list[str]
    push_subscriptions: list[PushSubscription]
    pull_subscriptions: list[PullSubscription]
    local_overrides: LocalOverrides = LocalOverrides()

    @classmethod
    def load(cls, path: Path = TOPOLOGY_FILE, local: bool = False) -> Topology:
        """Parse and validate the file; `local` applies local_overrides."""
        topology = cls.model_validate(yaml.safe_load(path.read_text()))
        overrides = topology.local_overrides
        for sub in topology.push_subscriptions if local else []:
            sub.retry_policy = overrides.retry_policy or sub.retry_policy
            sub.ack_deadline_seconds = overrides.ack_deadline_seconds or sub.ack_deadline_seconds
        return topology


def _seconds(value: int) -> duration_pb2.Duration:
    return duration_pb2.Duration(seconds=value)


def _dur(value: Any) -> int:
    """Seconds of a proto Duration or a datetime.timedelta (the client returns either)."""
    if hasattr(value, "total_seconds"):
        return int(value.total_seconds())
    return int(getattr(value, "seconds", 0))


class TopologyApplier:
    """Creates or updates topics and subscriptions of one project to match a Topology."""

    def __init__(
        self,
        project: str,
        service_urls: dict[str, str],
        push_service_account: str = "",
        connect: bool = True,
    ) -> None:
        """`connect` False builds no client: only `create_requests` works (a dry run)."""
        self.project = project
        self.service_urls = service_urls
        self.push_service_account = push_service_account
        if connect:
            from google.cloud import pubsub_v1  # type: ignore[attr-defined, unused-ignore]

            self.publisher = pubsub_v1.PublisherClient()
            self.subscriber = pubsub_v1.SubscriberClient()

    def topic_path(self, name: str) -> str:
        return f"projects/{self.project}/topics/{name}"

    def sub_path(self, name: str) -> str:
        return f"projects/{self.project}/subscriptions/{name}"

    def endpoint(self, sub: PushSubscription) -> str:
        try:
            return self.service_urls[sub.service].rstrip("/") + sub.path
        except KeyError:
            raise ValueError(
                f"no URL given for service '{sub.service}' (subscription {sub.name})"
            ) from None

    def _desired_push(self, sub: PushSubscription) -> dict[str, Any]:
        return {
            "name": self.sub_path(sub.name),
            "topic": self.topic_path(sub.topic),
            "push_config": self._push_config(sub),
            "ack_deadline_seconds": sub.ack_deadline_seconds,
            "dead_letter_policy": {
                "dead_letter_topic": self.topic_path(sub.dead_letter_topic),
                "max_delivery_attempts": sub.max_delivery_attempts,
            },
            "retry_policy": {
                "minimum_backoff": _seconds(sub.retry_policy.minimum_backoff_seconds),
                "maximum_backoff": _seconds(sub.retry_policy.maximum_backoff_seconds),
            },
        }

    def _push_config(self, sub: PushSubscription) -> dict[str, Any]:
        """Push endpoint, and in production an OIDC token for the service to verify."""
        config: dict[str, Any] = {"push_endpoint": self.endpoint(sub)}
        if self.push_service_account:
            audience = self.service_urls[sub.service].rstrip("/")
            config["oidc_token"] = {
                "service_account_email": self.push_service_account,
                "audience": audience,
            }
        return config

    def _desired_pull(self, sub: PullSubscription) -> dict[str, Any]:
        return {
            "name": self.sub_path(sub.name),
            "topic": self.topic_path(sub.topic),
            "ack_deadline_seconds": sub.ack_deadline_seconds,
            "message_retention_duration": _seconds(sub.message_retention_days * 86400),
        }

    def _push_differences(self, current: Any, sub: PushSubscription) -> list[str]:
        """Fields of an existing push subscription that differ from the declaration."""
        wanted = {
            "push_config": current.push_config.push_endpoint == self.endpoint(sub)
            and current.push_config.oidc_token.service_account_email == self.push_service_account
            and (
                not self.push_service_account
                or current.push_config.oidc_token.audience
                == self.service_urls[sub.service].rstrip("/")
            ),
            "ack_deadline_seconds": current.ack_deadline_seconds == sub.ack_deadline_seconds,
            "dead_letter_policy": (
                current.dead_letter_policy.dead_letter_topic
                == self.topic_path(sub.dead_letter_topic)
                and current.dead_letter_policy.max_delivery_attempts == sub.max_delivery_attempts
            ),
            "retry_policy": (
                _dur(current.retry_policy.minimum_backoff)
                == sub.retry_policy.minimum_backoff_seconds
                and _dur(current.retry_policy.maximum_backoff)
                == sub.retry_policy.maximum_backoff_seconds
            ),
        }
        return [name for name, same in wanted.items() if not same]

    def create_requests(self, topology: Topology) -> list[tuple[str, dict[str, Any]]]:
        """The API requests that create the topology in an empty project, in order."""
        return [
            *[("CreateTopic", {"name": self.topic_path(topic)}) for topic in topology.topics],
            *[
                ("CreateSubscription", self._desired_push(sub))
                for sub in topology.push_subscriptions
            ],
            *[
                ("CreateSubscription", self._desired_pull(sub))
                for sub in topology.pull_subscriptions
            ],
        ]

    def plan(self, topology: Topology) -> list[str]:
        """What apply would change, one line per action; empty when everything matches."""
        actions = []
        for topic in topology.topics:
            try:
                self.publisher.get_topic(request={"topic": self.topic_path(topic)})
            except NotFound:
                actions.append(f"create topic {topic}")
        for sub in topology.push_subscriptions:
            try:
                current = self.subscriber.get_subscription(
                    request={"subscription": self.sub_path(sub.name)}
                )
            except NotFound:
                actions.append(f"create push subscription {sub.name} -> {self.endpoint(sub)}")
                continue
            changed = self._push_differences(current, sub)
            if changed:
                actions.append(f"update subscription {sub.name}: {', '.join(changed)}")
        for pull in topology.pull_subscriptions:
            try:
                self.subscriber.get_subscription(request={"subscription": self.sub_path(pull.name)})
            except NotFound:
                actions.append(f"create pull subscription {pull.name}")
        return actions

    def apply(self, topology: Topology) -> list[str]:
        """Make the project match the topology; returns the actions taken."""
        actions = self.plan(topology)
        for topic in topology.topics:
            with contextlib.suppress(AlreadyExists):
                self.publisher.create_topic(request={"name": self.topic_path(topic)})
        for sub in topology.push_subscriptions:
            desired = self._desired_push(sub)
            try:
                self.subscriber.create_subscription(request=desired)
            except AlreadyExists:
                current = self.subscriber.get_subscription(
                    request={"subscription": desired["name"]}
                )
                changed = self._push_differences(current, sub)
                if changed:
                    self.subscriber.update_subscription(
                        request={
                            "subscription": desired,
                            "update_mask": field_mask_pb2.FieldMask(paths=changed),
                        }
                    )
        for pull in topology.pull_subscriptions:
            with contextlib.suppress(AlreadyExists):
                self.subscriber.create_subscription(request=self._desired_pull(pull))
        return actions

    def close(self) -> None:
        self.subscriber.close()
