"""DLQ replay logic without Pub/Sub: attributes, filters, topology mapping, rate limit, ack rules."""

from __future__ import annotations

import itertools
from types import SimpleNamespace
from typing import Any

import pytest
from typer.testing import CliRunner

from libs.common.pubsub import Publisher, PullScan
from nba_pipeline import cli
from nba_pipeline.dlq.cli import dlq_app
from nba_pipeline.dlq.messages import (
    DlqError,
    DlqMessage,
    MessageFilter,
    clean_attributes,
    parse_attribute_filters,
    replay_attributes,
)
from nba_pipeline.dlq.queues import DeadLetterQueues, DlqTopology, RateLimiter
from nba_pipeline.topology import Topology
from services.scrapers.dead_letters import DeadLetterCounter

DLQ_SUB = "nba-scraper-complete-dlq-sub"
SOURCE = "projects/p/subscriptions/nba-processors-sub"


def dead(message_id: str = "m1", **attributes: str) -> DlqMessage:
    attrs = {"CloudPubSubDeadLetterSourceSubscription": SOURCE,
             "CloudPubSubDeadLetterSourceDeliveryCount": "5", **attributes}  # fmt: skip
    return DlqMessage(DLQ_SUB, message_id, b'{"a": 1}', attrs)


class FakeSubscriber:
    """One in-memory pull subscription: a pulled message is hidden until acked or nacked."""

    def __init__(self, messages: list[DlqMessage], topics: dict[str, str] | None = None) -> None:
        self.messages = {m.message_id: m for m in messages}
        self.leases: dict[str, str] = {}  # ack id -> message id
        self.acked: list[str] = []
        self.topics = topics or {}
        self._ids = itertools.count()

    def pull(self, request: dict[str, Any], timeout: float, retry: Any = None) -> Any:
        leased = set(self.leases.values())
        free = [m for m in self.messages.values() if m.message_id not in leased]
        received = []
        for m in free[: request["max_messages"]]:
            ack_id = f"ack-{next(self._ids)}"
            self.leases[ack_id] = m.message_id
            message = SimpleNamespace(message_id=m.message_id, data=m.data,
                                      attributes=m.attributes, publish_time=None)  # fmt: skip
            received.append(SimpleNamespace(ack_id=ack_id, message=message))
        return SimpleNamespace(received_messages=received)

    def acknowledge(self, request: dict[str, Any]) -> None:
        for ack_id in request["ack_ids"]:
            message_id = self.leases.pop(ack_id)
            self.acked.append(message_id)
            del self.messages[message_id]

    def modify_ack_deadline(self, request: dict[str, Any]) -> None:
        assert request["ack_deadline_seconds"] == 0
        for ack_id in request["ack_ids"]:
            del self.leases[ack_id]

    def get_subscription(self, request: dict[str, Any]) -> Any:
        return SimpleNamespace(topic=f"projects/p/topics/{self.topics[request['subscription']]}")

    def close(self) -> None:
        pass


class FakePublisherClient:
    """Records publishes (the Publish RPC's signature); a message whose data is b"fail" is
    refused."""

    def __init__(self) -> None:
        self.published: list[tuple[str, bytes, dict[str, str]]] = []

    def publish(self, topic: str, messages: list[Any], **options: Any) -> Any:
        (message,) = messages
        if message.data == b"fail":
            raise OSError("down")
        self.published.append((topic, message.data, dict(message.attributes)))
        return SimpleNamespace(message_ids=[f"new-{len(self.published)}"])


@pytest.fixture
def topology() -> DlqTopology:
    return DlqTopology.from_topology(Topology.load())


def queues_with(
    topology: DlqTopology, messages: list[DlqMessage]
) -> tuple[DeadLetterQueues, FakeSubscriber, FakePublisherClient]:
    subscriber, client = FakeSubscriber(messages), FakePublisherClient()
    publisher = Publisher("p", client=client)
    return DeadLetterQueues("p", topology, subscriber, publisher), subscriber, client


def test_clean_attributes_drops_only_what_dead_lettering_added() -> None:
    attrs = dead(scraper_name="bdl_games", execution_id="e").attributes | {
        "CloudPubSubDeadLetterSourceTopicPublishTime": "t",
        "CloudPubSubDeadLetterSourceSubscriptionProject": "p",
    }
    assert clean_attributes(attrs) == {"scraper_name": "bdl_games", "execution_id": "e"}


@pytest.mark.parametrize(
    ("existing", "expected_count", "expected_original"),
    [
        ({}, "1", "m1"),
        ({"replay_count": "2", "original_message_id": "m0"}, "3", "m0"),
        ({"replay_count": "garbled"}, "1", "m1"),
    ],
    ids=["first-replay", "again-keeps-first-id", "garbled-count"],
)
def test_replay_attributes_increment_the_count_and_keep_the_first_id(
    existing: dict[str, str], expected_count: str, expected_original: str
) -> None:
    attrs = replay_attributes(dead(scraper_name="bdl_games", **existing))
    assert attrs == {"scraper_name": "bdl_games", "replay_count": expected_count,
                     "original_message_id": expected_original}  # fmt: skip


def test_topology_maps_aliases_and_source_subscriptions(topology: DlqTopology) -> None:
    assert topology.dlq_subscriptions == {
        "scraper-complete": "nba-scraper-complete-dlq-sub",
        "phase2-complete": "nba-phase2-complete-dlq-sub",
    }
    assert topology.source_topics == {
        "nba-processors-sub": "nba-scraper-complete",
        "nba-analytics-sub": "nba-phase2-complete",
    }
    assert topology.resolve(None) == list(topology.dlq_subscriptions.values())
    assert topology.resolve(["phase2-complete", "projects/p/subscriptions/other-dlq-sub"]) == [
        "nba-phase2-complete-dlq-sub",
        "other-dlq-sub",
    ]


def test_topic_of_uses_topology_then_asks_pubsub(topology: DlqTopology) -> None:
    subscriber = FakeSubscriber([], {"projects/p/subscriptions/extra-sub": "extra-topic",
                                     "projects/q/subscriptions/other-sub": "q-topic"})  # fmt: skip
    queues = DeadLetterQueues("p", topology, subscriber)
    assert queues.topic_of(dead()) == "nba-scraper-complete"
    extra = dead(CloudPubSubDeadLetterSourceSubscription="extra-sub")
    assert queues.topic_of(extra) == "extra-topic"
    other_project = dead(CloudPubSubDeadLetterSourceSubscription="other-sub",
                         CloudPubSubDeadLetterSourceSubscriptionProject="q")  # fmt: skip
    assert queues.topic_of(other_project) == "q-topic"
    with pytest.raises(DlqError, match="CloudPubSubDeadLetterSourceSubscription"):
        queues.topic_of(DlqMessage(DLQ_SUB, "m", b"", {}))


def test_filter_requires_every_given_criterion() -> None:
    message = dead("m7", scraper_name="bdl_games", run="r1")
    assert MessageFilter().matches(message)
    assert MessageFilter("bdl_games", {"run": "r1"}, "m7").matches(message)
    assert not MessageFilter("bdl_box_scores").matches(message)
    assert not MessageFilter(attributes={"run": "r2"}).matches(message)
    assert not MessageFilter(message_id="m8").matches(message)


def test_attribute_filters_parse_key_value_pairs() -> None:
    assert parse_attribute_filters(["a=1", "b=x=y", "c="]) == {"a": "1", "b": "x=y", "c": ""}
    with pytest.raises(DlqError, match="key=value"):
        parse_attribute_filters(["novalue"])


def test_rate_limiter_spaces_calls_on_the_clock() -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(4, clock=lambda: now[0], sleep=sleep)
    limiter.wait()
    limiter.wait()
    now[0] += 0.1
    limiter.wait()
    now[0] += 1.0
    limiter.wait()
    assert slept == [0.25, pytest.approx(0.15)]
    unlimited = RateLimiter(None, clock=lambda: 0.0, sleep=sleep)
    unlimited.wait()
    unlimited.wait()
    assert len(slept) == 2


def test_replay_acks_only_what_was_published_and_nacks_the_rest(topology: DlqTopology) -> None:
    messages = [
        dead("ok", scraper_name="bdl_games"),
        dead("ceiling", scraper_name="bdl_games", replay_count="3"),
        dead("other", scraper_name="bdl_box_scores"),
        DlqMessage(DLQ_SUB, "refused", b"fail", dead(scraper_name="bdl_games").attributes),
    ]
    queues, subscriber, client = queues_with(topology, messages)
    report = queues.replay(["scraper-complete"], MessageFilter("bdl_games"), max_replays=3)
    assert [r.message.message_id for r in report.replayed] == ["ok"]
    assert report.replayed[0].new_message_id == "new-1"
    assert [m.message_id for m in report.skipped_ceiling] == ["ceiling"]
    assert [f.message.message_id for f in report.failed] == ["refused"]
    assert report.filtered_out == 1
    assert subscriber.acked == ["ok"]
    assert subscriber.leases == {}, "every message not acked was nacked back"
    topic, data, attrs = client.published[0]
    assert topic == "projects/p/topics/nba-scraper-complete" and data == b'{"a": 1}'
    assert attrs == {"scraper_name": "bdl_games", "replay_count": "1", "original_message_id": "ok"}


def test_dry_run_and_max_leave_everything_in_place(topology: DlqTopology) -> None:
    queues, subscriber, client = queues_with(topology, [dead(f"m{i}") for i in range(5)])
    report = queues.replay(["scraper-complete"], limit=2, dry_run=True)
    assert [r.message.message_id for r in report.replayed] == ["m0", "m1"]
    assert report.replayed[0].new_message_id is None
    assert client.published == [] and subscriber.acked == [] and subscriber.leases == {}
    purged = queues.purge(["scraper-complete"], limit=3)
    assert [m.message_id for m in purged.purged] == subscriber.acked == ["m0", "m1", "m2"]
    assert [m.message_id for m in queues.peek(["scraper-complete"])] == ["m3", "m4"]


def test_cli_refuses_without_project_or_emulator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PUBSUB_EMULATOR_HOST", raising=False)
    result = CliRunner().invoke(cli.app, ["dlq", "list"])
    assert result.exit_code == 2
    assert "--project" in result.output and "PUBSUB_EMULATOR_HOST" in result.output


def test_cli_purge_needs_yes() -> None:
    result = CliRunner().invoke(dlq_app, ["purge", "--project", "p"])
    assert result.exit_code == 2
    assert "--yes" in result.output


def test_an_unreachable_pubsub_is_one_clear_error(topology: DlqTopology) -> None:
    from google.api_core.exceptions import ServiceUnavailable

    class Unreachable(FakeSubscriber):
        def pull(self, request: dict[str, Any], timeout: float, retry: Any = None) -> Any:
            raise ServiceUnavailable("failed to connect to all addresses")

    queues = DeadLetterQueues(
        "p", topology, Unreachable([]), Publisher("p", client=FakePublisherClient())
    )
    with pytest.raises(DlqError) as caught:
        queues.peek(["scraper-complete"])
    assert "cannot pull projects/p/subscriptions/" in str(caught.value)
    assert "failed to connect" in str(caught.value) and "--project" in str(caught.value)


def test_a_missing_subscription_is_named(topology: DlqTopology) -> None:
    from google.api_core.exceptions import NotFound

    class Missing(FakeSubscriber):
        def pull(self, request: dict[str, Any], timeout: float, retry: Any = None) -> Any:
            raise NotFound("no such subscription")

    with pytest.raises(DlqError) as caught:
        DeadLetterQueues("p", topology, Missing([])).peek(["gone"])
    assert str(caught.value) == "subscription projects/p/subscriptions/gone does not exist"


class Redelivering:
    """Pulls answer scripted batches, then nothing; records acks and hand-backs."""

    def __init__(self, *batches: list[tuple[str, str]]) -> None:
        self.batches = list(batches)
        self.acked: list[str] = []
        self.handed_back: list[str] = []

    def pull(self, request: dict[str, Any], timeout: float, retry: Any = None) -> Any:
        batch = self.batches.pop(0) if self.batches else []
        received = [
            SimpleNamespace(ack_id=ack_id, message=SimpleNamespace(message_id=message_id))
            for message_id, ack_id in batch
        ]
        return SimpleNamespace(received_messages=received)

    def acknowledge(self, request: dict[str, Any]) -> None:
        self.acked += request["ack_ids"]

    def modify_ack_deadline(self, request: dict[str, Any]) -> None:
        assert request["ack_deadline_seconds"] == 0
        self.handed_back += request["ack_ids"]


def test_a_scan_yields_each_message_once_and_hands_back_the_latest_leases() -> None:
    subscriber = Redelivering(
        [("m1", "a1"), ("m2", "a2")],
        [("m1", "a3"), ("m3", "a4")],  # m1's lease ran out: delivered again
        [("m2", "a5")],  # acked, and delivered again before the ack arrived
    )
    seen = []
    with PullScan(subscriber, "projects/p/subscriptions/s", wait_seconds=1) as scan:
        for message in scan:
            seen.append(message.message_id)
            if message.message_id == "m2":
                scan.ack("m2")
    assert seen == ["m1", "m2", "m3"]
    assert subscriber.acked == ["a2", "a5"]
    assert subscriber.handed_back == ["a3", "a4"], "all others, together, when the scan ends"


def test_the_counter_counts_each_waiting_message_once_and_consumes_none() -> None:
    subscriber = Redelivering([("m1", "a1"), ("m2", "a2")], [("m1", "a3")])
    counter = DeadLetterCounter("p", ["s"], subscriber)
    assert counter.depths() == {"s": 2}
    assert subscriber.acked == [] and subscriber.handed_back == ["a3", "a2"]


def test_on_an_emulator_the_counter_keeps_the_one_its_app_started_with(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A second local stack in the same process (the bench's BigQuery section) moves
    PUBSUB_EMULATOR_HOST; the first stack's dashboard must still count its own DLQs."""
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", "127.0.0.1:18001")
    counter = DeadLetterCounter("p")
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", "127.0.0.1:18002")
    try:
        assert counter._client()._target == "127.0.0.1:18001"
    finally:
        counter.close()
