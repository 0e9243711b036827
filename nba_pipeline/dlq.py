"""Dead-letter queues: list, inspect, replay and purge what Pub/Sub gave up on (DESIGN §9).

A push delivery that keeps failing is moved by Pub/Sub to `<topic>-dlq`, read through the pull
subscription `<topic>-dlq-sub`. Replay sends it back to the topic it came from, unchanged but
for `replay_count` and `original_message_id`, and deletes it from the DLQ only once the
republish is acknowledged, so a crash in between can duplicate a message (the loads are
idempotent) but never lose one.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table as RichTable

from libs.common.pubsub import Publisher, PublishError
from nba_pipeline.topology import Topology

DEAD_LETTER_PREFIX = "CloudPubSubDeadLetterSource"
SOURCE_SUBSCRIPTION = f"{DEAD_LETTER_PREFIX}Subscription"
SOURCE_DELIVERY_COUNT = f"{DEAD_LETTER_PREFIX}DeliveryCount"
SOURCE_PUBLISH_TIME = f"{DEAD_LETTER_PREFIX}TopicPublishTime"
SOURCE_PROJECT = f"{DEAD_LETTER_PREFIX}SubscriptionProject"
REPLAY_COUNT = "replay_count"
ORIGINAL_MESSAGE_ID = "original_message_id"

LOCAL_PROJECT = "nba-local"
"""The project of the local stack (`make run`), used when --project is omitted."""
PULL_BATCH = 100
PULL_TIMEOUT_SECONDS = 3.0
"""An empty pull returns after about this long (the emulator answers ~1 s before it)."""
UNREACHABLE_AFTER_SECONDS = 10.0
"""Transient pull errors are retried this long before the command gives up with a reason."""
DEFAULT_MAX_REPLAYS = 3


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


def parse_attribute_filters(values: Iterable[str]) -> dict[str, str]:
    """`["key=value", ...]` (the repeatable --attribute option) to a dict."""
    pairs = {}
    for value in values:
        key, sep, wanted = value.partition("=")
        if not sep or not key:
            raise DlqError(f"--attribute '{value}': expected key=value")
        pairs[key] = wanted
    return pairs


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

    def _pull(self, path: str) -> list[Any]:
        from google.api_core.exceptions import GoogleAPICallError, NotFound, RetryError
        from google.api_core.retry import Retry

        try:
            response = self.subscriber.pull(
                request={"subscription": path, "max_messages": PULL_BATCH},
                timeout=self.pull_timeout,
                retry=Retry(timeout=UNREACHABLE_AFTER_SECONDS),
            )
        except NotFound:
            raise DlqError(f"subscription {path} does not exist") from None
        except (GoogleAPICallError, RetryError) as exc:
            where = os.environ.get("PUBSUB_EMULATOR_HOST") or "Pub/Sub"
            reason = getattr(exc, "message", None) or type(exc).__name__
            raise DlqError(
                f"cannot pull {path} from {where}: {reason} "
                "(is the local stack up? `make run`; for a real project give --project)"
            ) from None
        return list(response.received_messages)

    def _ack(self, path: str, ack_ids: list[str]) -> None:
        if ack_ids:
            self.subscriber.acknowledge(request={"subscription": path, "ack_ids": ack_ids})

    def _nack(self, path: str, ack_ids: list[str]) -> None:
        if ack_ids:
            self.subscriber.modify_ack_deadline(
                request={"subscription": path, "ack_ids": ack_ids, "ack_deadline_seconds": 0}
            )

    def _scan(
        self,
        subscription: str,
        flt: MessageFilter,
        limit: int | None,
        handle: Callable[[DlqMessage], bool],
    ) -> _Scan:
        """Pull every message once; `handle` gets those matching `flt` (up to `limit`).

        `handle` returns True to delete the message (acked at once). All others stay leased
        until the scan ends and are then nacked back together: nacking earlier would make them
        pullable again at once and the scan would see them twice, and leaving them would hide
        them from other readers until their ack deadline expires.
        """
        path = self.subscription_path(subscription)
        scan = _Scan()
        held: dict[str, str] = {}  # message id -> latest ack id
        seen: set[str] = set()
        try:
            while limit is None or scan.matched < limit:
                received = self._pull(path)
                fresh = [r for r in received if r.message.message_id not in seen]
                for again in (r for r in received if r.message.message_id in seen):
                    # redelivered after its lease ran out: keep holding, or ack if it was handled
                    if again.message.message_id in held:
                        held[again.message.message_id] = again.ack_id
                    else:
                        self._ack(path, [again.ack_id])
                if not fresh:
                    break
                for item in fresh:
                    message = DlqMessage(
                        subscription,
                        item.message.message_id,
                        bytes(item.message.data),
                        dict(item.message.attributes),
                        item.message.publish_time or None,
                    )
                    seen.add(message.message_id)
                    held[message.message_id] = item.ack_id
                    if limit is not None and scan.matched >= limit:
                        continue
                    if not flt.matches(message):
                        scan.filtered_out += 1
                        continue
                    scan.matched += 1
                    if handle(message):
                        self._ack(path, [held.pop(message.message_id)])
        finally:
            self._nack(path, list(held.values()))
        return scan

    def peek(
        self,
        subscriptions: Iterable[str] | None = None,
        flt: MessageFilter = MessageFilter(),
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
        flt: MessageFilter = MessageFilter(),
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
        flt: MessageFilter = MessageFilter(),
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


# --- CLI: `nba-pipeline dlq ...` -------------------------------------------------------------

dlq_app = typer.Typer(
    help="Dead-letter queues: list, show, replay and purge dead-lettered messages.",
    no_args_is_help=True,
)

ProjectOption = Annotated[
    str | None,
    typer.Option(help="Google Cloud project; omit for the emulator (PUBSUB_EMULATOR_HOST)"),
]
SubscriptionOption = Annotated[
    list[str] | None,
    typer.Option(
        "--subscription",
        help="scraper-complete, phase2-complete or a subscription name; repeatable (default: both DLQs)",
    ),
]
ScraperOption = Annotated[str | None, typer.Option(help="only messages with this scraper_name")]
AttributeOption = Annotated[
    list[str] | None,
    typer.Option("--attribute", help="only messages with attribute key=value; repeatable"),
]
MessageIdOption = Annotated[str | None, typer.Option(help="only the DLQ message with this id")]
MaxOption = Annotated[
    int | None, typer.Option("--max", min=1, help="act on at most N matching messages")
]
DryRunOption = Annotated[
    bool, typer.Option("--dry-run", help="show what would happen; every message stays")
]


def _fail(message: str, code: int = 2) -> typer.Exit:
    """Print a one-line reason on stderr and exit with `code`."""
    typer.echo(message, err=True)
    return typer.Exit(code)


def _queues(project: str | None) -> DeadLetterQueues:
    """The project's DLQs; without --project, the emulator's local stack project."""
    if project is None and not os.environ.get("PUBSUB_EMULATOR_HOST"):
        raise _fail(
            "give --project, or set PUBSUB_EMULATOR_HOST (e.g. 127.0.0.1:8085) for the local stack"
        )
    return DeadLetterQueues(project or LOCAL_PROJECT)


def _filter(
    scraper: str | None, attribute: list[str] | None, message_id: str | None
) -> MessageFilter:
    try:
        return MessageFilter(scraper, parse_attribute_filters(attribute or []), message_id)
    except DlqError as exc:
        raise _fail(str(exc)) from None


def _run(project: str | None, action: Callable[[DeadLetterQueues], Any]) -> Any:
    """Run `action` on the project's DLQs, closing clients and turning DlqError into exit 2."""
    queues = _queues(project)
    try:
        return action(queues)
    except DlqError as exc:
        raise _fail(str(exc)) from None
    finally:
        queues.close()


@dlq_app.command("list")
def list_messages(
    project: ProjectOption = None,
    subscription: SubscriptionOption = None,
    scraper: ScraperOption = None,
    attribute: AttributeOption = None,
    message_id: MessageIdOption = None,
    max_messages: MaxOption = None,
) -> None:
    """Print a table of dead-lettered messages; nothing is removed."""
    flt = _filter(scraper, attribute, message_id)
    messages: list[DlqMessage] = _run(project, lambda q: q.peek(subscription, flt, max_messages))
    table = RichTable(title=f"{len(messages)} dead-lettered message(s)")
    for column in ("message id", "scraper_name", "source subscription", "deliveries",
                   "published", "replay_count", "data"):  # fmt: skip
        table.add_column(column, overflow="fold")
    for m in messages:
        table.add_row(m.message_id, m.scraper_name, m.source_subscription or "?",
                      str(m.delivery_count or "?"), m.published, str(m.replay_count), m.preview())  # fmt: skip
    Console().print(table)


@dlq_app.command("show")
def show(
    message_id: Annotated[str, typer.Option(help="the DLQ message id (see `dlq list`)")],
    project: ProjectOption = None,
    subscription: SubscriptionOption = None,
) -> None:
    """Print one message's full data (indented if JSON) and all its attributes."""
    messages: list[DlqMessage] = _run(
        project, lambda q: q.peek(subscription, MessageFilter(message_id=message_id), 1)
    )
    if not messages:
        raise _fail(f"message {message_id} is not in the dead-letter queue(s)", 1)
    message = messages[0]
    typer.echo(f"message id:   {message.message_id}\nsubscription: {message.dlq_subscription}")
    typer.echo("attributes:")
    for key, value in sorted(message.attributes.items()):
        typer.echo(f"  {key} = {value}")
    typer.echo("data:")
    typer.echo(message.pretty_data())


@dlq_app.command("replay")
def replay(
    project: ProjectOption = None,
    subscription: SubscriptionOption = None,
    scraper: ScraperOption = None,
    attribute: AttributeOption = None,
    message_id: MessageIdOption = None,
    max_messages: MaxOption = None,
    rate: Annotated[
        float | None, typer.Option(min=0.001, help="at most N republishes per second")
    ] = None,
    max_replays: Annotated[
        int, typer.Option(min=1, help="leave messages already replayed this often in the DLQ")
    ] = DEFAULT_MAX_REPLAYS,
    dry_run: DryRunOption = False,
) -> None:
    """Republish dead-lettered messages to their original topic, then delete them from the DLQ."""
    flt = _filter(scraper, attribute, message_id)
    report: ReplayReport = _run(
        project,
        lambda q: q.replay(subscription, flt, max_messages, max_replays, dry_run,
                           RateLimiter(rate)),
    )  # fmt: skip
    verb = "would replay" if dry_run else "replayed"
    for done in report.replayed:
        new = f" as {done.new_message_id}" if done.new_message_id else ""
        typer.echo(f"{verb} {done.message.message_id} -> {done.topic}{new} "
                   f"(replay_count {done.message.replay_count + 1})")  # fmt: skip
    for message in report.skipped_ceiling:
        typer.echo(f"ceiling reached {message.message_id}: replayed {message.replay_count} "
                   f"time(s) (--max-replays {max_replays}), left in the DLQ")  # fmt: skip
    for failed in report.failed:
        typer.echo(f"failed {failed.message.message_id}: {failed.reason}; left in the DLQ")
    typer.echo(f"{verb}: {len(report.replayed)}, ceiling reached: {len(report.skipped_ceiling)}, "
               f"failed: {len(report.failed)}, not matching: {report.filtered_out}")  # fmt: skip
    if report.failed:
        raise typer.Exit(1)


@dlq_app.command("purge")
def purge(
    project: ProjectOption = None,
    subscription: SubscriptionOption = None,
    scraper: ScraperOption = None,
    attribute: AttributeOption = None,
    message_id: MessageIdOption = None,
    max_messages: MaxOption = None,
    yes: Annotated[bool, typer.Option("--yes", help="really delete")] = False,
    dry_run: DryRunOption = False,
) -> None:
    """Delete matching dead-lettered messages for good (--yes required)."""
    if not yes and not dry_run:
        raise _fail("purge deletes messages for good: add --yes (or --dry-run to preview)")
    flt = _filter(scraper, attribute, message_id)
    report: PurgeReport = _run(project, lambda q: q.purge(subscription, flt, max_messages, dry_run))
    verb = "would purge" if dry_run else "purged"
    for message in report.purged:
        typer.echo(f"{verb} {message.message_id} ({message.scraper_name or 'no scraper_name'})")
    typer.echo(f"{verb}: {len(report.purged)}, not matching: {report.filtered_out}")
