"""DLQ list / show / replay / purge through the real Pub/Sub emulator and the running services.

Two tests send a real poison message through nba-processors-sub (one at a time: the emulator
stops redelivering when several pushes fail at once, docs/local-stack.md). The others put
harmless messages straight on the DLQ topic with the attributes Pub/Sub adds, which is faster
and replays without failing again. Each test marks its messages with its own `dlq_test`
attribute, acts only on those, and purges what is left of them.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from libs.common.gcs import object_name
from libs.common.messages import SCRAPER_COMPLETE_TOPIC, ScraperComplete
from nba_pipeline.dlq import DeadLetterQueues, DlqMessage, MessageFilter
from nba_pipeline.dlq.cli import dlq_app
from nba_pipeline.stack import LocalStack
from tests.utils.pubsub import TopicObserver

pytestmark = pytest.mark.e2e

RECORDING = (
    Path(__file__).resolve().parents[2]
    / "nba_pipeline/replay/recordings/balldontlie/bdl_games_v1_raw_2025-02-20.json"
)
GAME_DATE = dt.date(2019, 1, 1)
"""A date no other test loads, so the rows counted are this module's alone."""
MARK = "dlq_test"


@pytest.fixture(scope="module")
def queues(stack: LocalStack) -> Iterator[DeadLetterQueues]:
    dlq = DeadLetterQueues(stack.project, pull_timeout=1)
    yield dlq
    dlq.close()


@pytest.fixture
def marker(queues: DeadLetterQueues) -> Iterator[str]:
    """This test's marker; whatever carries it is purged afterwards."""
    value = uuid.uuid4().hex
    yield value
    queues.purge(flt=MessageFilter(attributes={MARK: value}))


def cli(stack: LocalStack, *args: str) -> Result:
    """`nba-pipeline dlq ...` against the test stack's project (wide, so tables do not wrap)."""
    return CliRunner().invoke(dlq_app, [*args, "--project", stack.project], env={"COLUMNS": "250"})


def mine(queues: DeadLetterQueues, marker: str, **extra: str) -> list[DlqMessage]:
    return queues.peek(["scraper-complete"], MessageFilter(attributes={MARK: marker, **extra}))


def wait_for_dead_letter(queues: DeadLetterQueues, marker: str, timeout: float = 90) -> DlqMessage:
    """Poll the DLQ (leaving it intact) until the marked message arrives."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = mine(queues, marker)
        if found:
            return found[0]
        time.sleep(0.5)
    raise AssertionError(f"message {marker} did not reach the DLQ within {timeout:.0f}s")


def missing_file_message(stack: LocalStack) -> ScraperComplete:
    """A valid bdl_games completion pointing at a file that does not exist (yet)."""
    execution_id = str(uuid.uuid4())
    name = object_name("ball-dont-lie/games", GAME_DATE, dt.datetime.now(dt.UTC), execution_id)
    return ScraperComplete(scraper_name="bdl_games", execution_id=execution_id, status="success",
                           gcs_path=stack.clients.store.gcs_path(name), game_date=GAME_DATE,
                           record_count=9, duration_seconds=1.0,
                           params={"date": GAME_DATE.isoformat()})  # fmt: skip


def send_poison(stack: LocalStack, message: ScraperComplete, **attributes: str) -> None:
    stack.clients.publisher.publish(
        SCRAPER_COMPLETE_TOPIC, message, message.attributes() | attributes
    )


def put_on_dlq(stack: LocalStack, scraper_name: str, **attributes: str) -> str:
    """A dead letter as Pub/Sub leaves it, of a failed run that replays harmlessly (it is acked)."""
    message = ScraperComplete(scraper_name=scraper_name, execution_id=str(uuid.uuid4()),
                              status="failed", gcs_path=None, game_date=None, record_count=0,
                              duration_seconds=0.1, error_message="synthetic dead letter")  # fmt: skip
    dead_letter = {
        "CloudPubSubDeadLetterSourceSubscription": "nba-processors-sub",
        "CloudPubSubDeadLetterSourceSubscriptionProject": stack.project,
        "CloudPubSubDeadLetterSourceDeliveryCount": "5",
    }
    stack.clients.publisher.publish(
        f"{SCRAPER_COMPLETE_TOPIC}-dlq", message, message.attributes() | dead_letter | attributes
    )
    return message.execution_id


def games_file(message: ScraperComplete) -> dict[str, Any]:
    """The recorded games of 2025-02-20 moved to GAME_DATE under game ids nobody else uses."""
    body = json.loads(RECORDING.read_text())
    for i, game in enumerate(body["data"]):
        game["date"] = GAME_DATE.isoformat()
        game["id"] = 2_019_000_000 + i
    request = {"requests": [{"url": "https://api.balldontlie.io/v1/games",
                             "params": {"dates[]": GAME_DATE.isoformat()}}],
               "params": {"date": GAME_DATE.isoformat()}}  # fmt: skip
    meta = {"scraper_name": "bdl_games", "execution_id": message.execution_id,
            "fetched_at": dt.datetime.now(dt.UTC).isoformat(), "request": request}  # fmt: skip
    return {"meta": meta, "data": body}


def game_rows(stack: LocalStack) -> int:
    rows = stack.clients.warehouse.query(
        "SELECT count(*) AS n FROM {nba_raw.bdl_games} WHERE game_date = @d", {"d": GAME_DATE}
    )
    return int(rows[0]["n"])


def replays_seen(observer: TopicObserver, marker: str, expected: int) -> list[Any]:
    """Drain the topic until `expected` replayed copies carrying `marker` went by."""

    def marked(seen: list[Any]) -> list[Any]:
        return [m for m in seen if m.attributes.get(MARK) == marker]

    observer.drain(until=lambda seen: len(marked(seen)) >= expected, timeout=15)
    return marked(observer.seen)


def test_poison_message_is_listed_fixed_replayed_once_and_loaded(
    stack: LocalStack, queues: DeadLetterQueues, marker: str
) -> None:
    message = missing_file_message(stack)
    send_poison(stack, message, **{MARK: marker})
    dead = wait_for_dead_letter(queues, marker)
    assert json.loads(dead.data)["execution_id"] == message.execution_id
    assert dead.source_subscription == "nba-processors-sub" and dead.delivery_count

    listed = cli(stack, "list", "--attribute", f"{MARK}={marker}")
    assert listed.exit_code == 0, listed.output
    assert dead.message_id in listed.output and "nba-processors-sub" in listed.output
    shown = cli(stack, "show", "--message-id", dead.message_id)
    assert shown.exit_code == 0, shown.output
    assert f'"execution_id": "{message.execution_id}"' in shown.output
    assert f"{MARK} = {marker}" in shown.output

    observer = TopicObserver(stack.project, SCRAPER_COMPLETE_TOPIC)
    dry = cli(stack, "replay", "--dry-run", "--attribute", f"{MARK}={marker}")
    assert dry.exit_code == 0, dry.output
    assert f"would replay {dead.message_id} -> nba-scraper-complete" in dry.output
    assert [m.message_id for m in mine(queues, marker)] == [dead.message_id]
    assert replays_seen(observer, marker, expected=0) == []

    name = stack.clients.store.object_of(str(message.gcs_path))
    stack.clients.store.write_json(name, games_file(message))
    done = cli(stack, "replay", "--attribute", f"{MARK}={marker}")
    assert done.exit_code == 0, done.output
    assert f"replayed {dead.message_id} -> nba-scraper-complete" in done.output

    [replayed] = replays_seen(observer, marker, expected=1)
    assert replayed.data == dead.data
    assert replayed.attributes["replay_count"] == "1"
    assert replayed.attributes["original_message_id"] == dead.message_id
    assert replayed.attributes["execution_id"] == message.execution_id
    assert not any(key.startswith("CloudPubSubDeadLetter") for key in replayed.attributes)
    assert mine(queues, marker) == []

    deadline = time.monotonic() + 30
    while game_rows(stack) < 9 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert game_rows(stack) == 9
    loads = stack.clients.warehouse.query(
        "SELECT message_id, outcome FROM {nba_orchestration.processed_messages} "
        "WHERE execution_id = @e AND phase = 'processors'",
        {"e": message.execution_id},
    )
    assert loads == [{"message_id": replayed.message_id, "outcome": "loaded"}]


def test_message_at_the_replay_ceiling_stays_in_the_dlq(
    stack: LocalStack, queues: DeadLetterQueues, marker: str
) -> None:
    send_poison(stack, missing_file_message(stack), replay_count="3", **{MARK: marker})
    dead = wait_for_dead_letter(queues, marker)

    result = cli(stack, "replay", "--max-replays", "3", "--attribute", f"{MARK}={marker}")
    assert result.exit_code == 0, result.output
    assert f"ceiling reached {dead.message_id}" in result.output
    assert [m.message_id for m in mine(queues, marker)] == [dead.message_id]
    higher = queues.replay(
        flt=MessageFilter(attributes={MARK: marker}), max_replays=4, dry_run=True
    )
    assert [r.message.message_id for r in higher.replayed] == [dead.message_id]


def test_scraper_filter_replays_only_that_scraper(
    stack: LocalStack, queues: DeadLetterQueues, marker: str
) -> None:
    games = put_on_dlq(stack, "bdl_games", **{MARK: marker})
    put_on_dlq(stack, "bdl_box_scores", **{MARK: marker})
    observer = TopicObserver(stack.project, SCRAPER_COMPLETE_TOPIC)

    report = queues.replay(flt=MessageFilter("bdl_games", {MARK: marker}))
    assert [json.loads(r.message.data)["execution_id"] for r in report.replayed] == [games]
    assert [m.attributes["scraper_name"] for m in replays_seen(observer, marker, 1)] == [
        "bdl_games"
    ]
    assert [m.scraper_name for m in mine(queues, marker)] == ["bdl_box_scores"]


def test_max_replays_at_most_n_messages(
    stack: LocalStack, queues: DeadLetterQueues, marker: str
) -> None:
    for _ in range(3):
        put_on_dlq(stack, "bdl_games", **{MARK: marker})
    result = cli(stack, "replay", "--max", "2", "--rate", "50", "--attribute", f"{MARK}={marker}")
    assert result.exit_code == 0, result.output
    assert "replayed: 2," in result.output
    assert len(mine(queues, marker)) == 1


def test_purge_needs_yes_and_deletes_only_what_matches(
    stack: LocalStack, queues: DeadLetterQueues, marker: str
) -> None:
    for kind in ("keep", "drop", "drop"):
        put_on_dlq(stack, "bdl_games", kind=kind, **{MARK: marker})
    only = ["--attribute", f"{MARK}={marker}", "--attribute", "kind=drop"]

    refused = cli(stack, "purge", *only)
    assert refused.exit_code == 2 and "--yes" in refused.output
    preview = cli(stack, "purge", "--dry-run", *only)
    assert preview.exit_code == 0 and "would purge: 2," in preview.output
    assert len(mine(queues, marker)) == 3

    purged = cli(stack, "purge", "--yes", *only)
    assert purged.exit_code == 0 and "purged: 2," in purged.output
    assert [m.attributes["kind"] for m in mine(queues, marker)] == ["keep"]
