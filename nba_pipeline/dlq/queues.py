"""Dead-letter queues: list, inspect, replay and purge what Pub/Sub gave up on (DESIGN §9).

A push delivery that keeps failing is moved by Pub/Sub to `<topic>-dlq`, read through the pull
subscription `<topic>-dlq-sub`. Replay sends it back to the topic it came from, unchanged but
for `replay_count` and `original_message_id`, and deletes it from the DLQ only once the
republish is acknowledged, so a crash in between can duplicate a message (the loads are
idempotent) but never lose one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from libs.common.pubsub import Publisher, PublishError, PullError, PullScan
from nba_pipeline.dlq.messages import (
    ALL_MESSAGES,
    SOURCE_PROJECT,
    SOURCE_SUBSCRIPTION,
    DlqError,
    DlqMessage,
    MessageFilter,
    replay_attributes,
    short_name,
)
from nba_pipeline.topology import Topology

PULL_TIMEOUT_SECONDS = 3.0
"""An empty pull returns after about this long (the emulator answers ~1 s before it)."""
DEFAULT_MAX_REPLAYS = 3
UNREACHABLE_HINT = "(is the local stack up? `make run`; for a real project give --project)"


class RateLimiter:
    """At most `per_second` calls of `wait()` per second, by sleeping on a monotonic clock."""

    def __init__(
        self,
        per_second: float | None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if per_second is not None and per_second <= 0:
            raise DlqError("--rate must be positive")
        self.interval = 1 / per_second if per_second else 0.0
        self.clock = clock
        self.sleep = sleep
        self._next: float | None = None

    def wait(self) -> None:
        """Return when the next call is allowed (at once for the first, or without a rate)."""
        if not self.interval:
            return
        now = self.clock()
        if self._next is not None and now < self._next:
            self.sleep(self._next - now)
            now = self._next
        self._next = now + self.interval


@dataclass(frozen=True)
class DlqTopology:
    """What the commands need from infra/pubsub/topology.yaml."""

    dlq_subscriptions: dict[str, str]
    """Short alias (`scraper-complete`) to DLQ pull subscription (`nba-scraper-complete-dlq-sub`)."""
    source_topics: dict[str, str]
    """Push subscription to the topic it reads (where a dead letter of it is replayed)."""

    @classmethod
    def from_topology(cls, topology: Topology) -> DlqTopology:
        dlq_topics = {push.dead_letter_topic: push.topic for push in topology.push_subscriptions}
        aliases = {
            dlq_topics[pull.topic].removeprefix("nba-"): pull.name
            for pull in topology.pull_subscriptions
            if pull.topic in dlq_topics
        }
        return cls(aliases, {push.name: push.topic for push in topology.push_subscriptions})

    @classmethod
    def load(cls) -> DlqTopology:
        return cls.from_topology(Topology.load())

    def resolve(self, names: Iterable[str] | None) -> list[str]:
        """Subscription names for --subscription values: aliases, names or full paths; none: all."""
        names = list(names or [])
        if not names:
            return list(self.dlq_subscriptions.values())
        return [self.dlq_subscriptions.get(name) or short_name(name) for name in names]


@dataclass(frozen=True)
class Replayed:
    """A message republished (or, in a dry run, that would be) to `topic`."""

    message: DlqMessage
    topic: str
    new_message_id: str | None


@dataclass(frozen=True)
class Failed:
    message: DlqMessage
    reason: str


@dataclass
class ReplayReport:
    """What a replay did; every message not in `replayed` (of a real run) is still in the DLQ."""

    dry_run: bool
    replayed: list[Replayed] = field(default_factory=list)
    skipped_ceiling: list[DlqMessage] = field(default_factory=list)
    filtered_out: int = 0
    failed: list[Failed] = field(default_factory=list)


@dataclass
class PurgeReport:
    """What a purge deleted (or, in a dry run, would delete)."""

    dry_run: bool
    purged: list[DlqMessage] = field(default_factory=list)
    filtered_out: int = 0


@dataclass
class _Scan:
    """Counts of one scan: messages handed to the handler, and messages the filter rejected."""

    matched: int = 0
    filtered_out: int = 0


class DeadLetterQueues:
    """The DLQ subscriptions of one project (the emulator's when PUBSUB_EMULATOR_HOST is set)."""

    def __init__(
        self,
        project: str,
        topology: DlqTopology | None = None,
        subscriber: Any = None,
        publisher: Publisher | None = None,
        pull_timeout: float = PULL_TIMEOUT_SECONDS,
    ) -> None:
        if subscriber is None:
            from google.cloud import pubsub_v1  # type: ignore[attr-defined, unused-ignore]

            subscriber = pubsub_v1.SubscriberClient()
        self.project = project
        self.topology = topology or DlqTopology.load()
        self.subscriber = subscriber
        self._publisher = publisher
        self.pull_timeout = pull_timeout
        self._topics: dict[str, str] = dict(self.topology.source_topics)

    @property
    def publisher(self) -> Publisher:
        """Created on first replay: listing and purging never publish."""
        if self._publisher is None:
            self._publisher = Publisher(self.project)
        return self._publisher

    def subscription_path(self, name: str, project: str | None = None) -> str:
        return f"projects/{project or self.project}/subscriptions/{name}"

    def topic_of(self, message: DlqMessage) -> str:
        """The topic a dead letter came from: topology.yaml, else Pub/Sub's own record."""
        source = message.source_subscription
        if source is None:
            raise DlqError(f"no {SOURCE_SUBSCRIPTION} attribute: its source topic is unknown")
        if source not in self._topics:
            from google.api_core.exceptions import NotFound

            try:
                found = self.subscriber.get_subscription(
                    request={
                        "subscription": self.subscription_path(
                            source, message.attributes.get(SOURCE_PROJECT)
                        )
                    }
                )
            except NotFound:
                raise DlqError(f"source subscription {source} no longer exists") from None
            self._topics[source] = short_name(found.topic)
        return self._topics[source]

    def _scan(
        self,
        subscription: str,
        flt: MessageFilter,
        limit: int | None,
        handle: Callable[[DlqMessage], bool],
    ) -> _Scan:
        """Pull every message once; `handle` gets those matching `flt` (up to `limit`) and
        returns True to delete the message (acked at once); all others stay in the DLQ."""
        scan, path = _Scan(), self.subscription_path(subscription)
        try:
            with PullScan(self.subscriber, path, self.pull_timeout) as pulled:
                for pubsub_message in pulled:
                    message = DlqMessage.pulled(subscription, pubsub_message)
                    if not flt.matches(message):
                        scan.filtered_out += 1
                        continue
                    scan.matched += 1
                    if handle(message):
                        pulled.ack(message.message_id)
                    if limit is not None and scan.matched >= limit:
                        break
        except PullError as exc:
            raise DlqError(f"{exc} {UNREACHABLE_HINT}" if exc.unreachable else str(exc)) from None
        return scan

    def peek(
        self,
        subscriptions: Iterable[str] | None = None,
        flt: MessageFilter = ALL_MESSAGES,
        limit: int | None = None,
    ) -> list[DlqMessage]:
        """Matching messages, all left in the DLQ."""
        found: list[DlqMessage] = []

        def keep(message: DlqMessage) -> bool:
            found.append(message)
            return False

        self._each(subscriptions, flt, limit, keep)
        return found

    def replay(
        self,
        subscriptions: Iterable[str] | None = None,
        flt: MessageFilter = ALL_MESSAGES,
        limit: int | None = None,
        max_replays: int = DEFAULT_MAX_REPLAYS,
        dry_run: bool = False,
        limiter: RateLimiter | None = None,
    ) -> ReplayReport:
        """Republish matching messages to their source topic; ack each after its publish."""
        report = ReplayReport(dry_run)
        limiter = limiter or RateLimiter(None)

        def handle(message: DlqMessage) -> bool:
            if message.replay_count >= max_replays:
                report.skipped_ceiling.append(message)
                return False
            try:
                topic = self.topic_of(message)
                if dry_run:
                    report.replayed.append(Replayed(message, topic, None))
                    return False
                limiter.wait()
                new_id = self.publisher.publish_bytes(
                    topic, message.data, replay_attributes(message)
                )
            except (DlqError, PublishError) as exc:
                report.failed.append(Failed(message, str(exc)))
                return False
            report.replayed.append(Replayed(message, topic, new_id))
            return True

        report.filtered_out = self._each(subscriptions, flt, limit, handle)
        return report

    def purge(
        self,
        subscriptions: Iterable[str] | None = None,
        flt: MessageFilter = ALL_MESSAGES,
        limit: int | None = None,
        dry_run: bool = False,
    ) -> PurgeReport:
        """Delete (ack) matching messages for good."""
        report = PurgeReport(dry_run)

        def handle(message: DlqMessage) -> bool:
            report.purged.append(message)
            return not dry_run

        report.filtered_out = self._each(subscriptions, flt, limit, handle)
        return report

    def _each(
        self,
        subscriptions: Iterable[str] | None,
        flt: MessageFilter,
        limit: int | None,
        handle: Callable[[DlqMessage], bool],
    ) -> int:
        """Scan each subscription in turn, `limit` counting across all; returns how many did not match."""
        matched = filtered_out = 0
        for subscription in self.topology.resolve(subscriptions):
            remaining = None if limit is None else limit - matched
            if remaining is not None and remaining <= 0:
                break
            scan = self._scan(subscription, flt, remaining, handle)
            matched += scan.matched
            filtered_out += scan.filtered_out
        return filtered_out

    def close(self) -> None:
        self.subscriber.close()
        if self._publisher is not None:
            self._publisher.close()
