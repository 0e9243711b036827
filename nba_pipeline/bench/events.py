"""Scraper-complete events for files already in GCS: written once, published at a set pace.

Landing is read from `processed_messages.processed_at`, which each phase stamps right after
its write commits, so detecting it adds no polling to the path being measured.
"""

from __future__ import annotations

import datetime as dt
import itertools
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from libs.common.gcs import RawFileStore, object_name
from libs.common.messages import (
    SCRAPER_COMPLETE_TOPIC,
    Phase,
    ScraperComplete,
    encode_message,
    utc_now,
)
from libs.common.pubsub import Publisher
from libs.common.sources.registry import get_source
from libs.common.warehouse.base import Warehouse
from nba_pipeline.replay import balldontlie
from nba_pipeline.replay.season import Season

EVENT_SCRAPERS = ("bdl_games", "bdl_box_scores")
"""A phase-1 event is one of these runs: both load a raw table and rebuild four analytics tables."""
PUBLISH_THREADS = 16
"""Publishes in flight at once, so a paced publisher never waits on one ack."""


def body(season: Season, scraper_name: str, day: dt.date) -> Any:
    """The upstream body the scraper would have stored for `day`, from the replayed season."""
    if scraper_name == "bdl_games":
        return {"data": [balldontlie.game(g) for g in season.games_on(day)], "meta": {}}
    return balldontlie.box_scores(season, day)


@dataclass
class Event:
    """One run's message; `sent` is the wall-clock time its publish was called."""

    message: ScraperComplete
    sent: float = 0.0
    message_id: str = ""

    @property
    def execution_id(self) -> str:
        return self.message.execution_id


def write_events(
    store: RawFileStore, season: Season, count: int, first_day: dt.date
) -> list[Event]:
    """`count` runs over the season's game dates from `first_day`, each with its own file in GCS."""
    days = [day for day in season.game_dates() if day >= first_day]
    runs = itertools.cycle(itertools.product(days, EVENT_SCRAPERS))
    events = []
    for _ in range(count):
        day, name = next(runs)
        source = get_source(name)
        execution_id = str(uuid.uuid4())
        fetched = utc_now()
        path = object_name(source.gcs_prefix, day, fetched, execution_id)
        meta = {
            "scraper_name": name,
            "execution_id": execution_id,
            "fetched_at": fetched.isoformat(),
            "request": {"params": {"date": day.isoformat()}},
        }
        store.write_json(path, {"meta": meta, "data": body(season, name, day)})
        message = ScraperComplete(
            scraper_name=name,
            execution_id=execution_id,
            status="success",
            gcs_path=store.gcs_path(path),
            game_date=day,
            record_count=0,
            duration_seconds=0,
            workflow="BENCH",
            params={"date": day.isoformat()},
        )
        events.append(Event(message))
    return events


def publish_paced(
    publisher: Publisher,
    topic: str,
    payloads: Sequence[tuple[bytes, dict[str, str]]],
    rate: float | None,
) -> tuple[list[float], list[str]]:
    """Publish each (data, attributes), `rate` per second (None: at once): (send times, message ids)."""
    sent: list[float] = []
    with ThreadPoolExecutor(PUBLISH_THREADS) as pool:
        start = time.time()
        futures = []
        for index, (data, attributes) in enumerate(payloads):
            if rate is not None:
                time.sleep(max(0.0, start + index / rate - time.time()))
            sent.append(time.time())
            futures.append(pool.submit(publisher.publish_bytes, topic, data, attributes))
        return sent, [future.result() for future in futures]


def publish(publisher: Publisher, events: Sequence[Event], rate: float | None) -> None:
    """Publish the events' messages to nba-scraper-complete, recording send times and ids."""
    payloads = [(encode_message(e.message), e.message.attributes()) for e in events]
    sent, ids = publish_paced(publisher, SCRAPER_COMPLETE_TOPIC, payloads, rate)
    for event, at, message_id in zip(events, sent, ids, strict=True):
        event.sent, event.message_id = at, message_id


def landed(warehouse: Warehouse, events: Sequence[Event]) -> dict[tuple[str, str], list[float]]:
    """(execution_id, phase) -> every processed_at recorded for it (one each, if nothing doubled)."""
    rows = warehouse.query(
        "SELECT execution_id, phase, processed_at FROM {nba_orchestration.processed_messages} "
        "WHERE list_contains(@ids, execution_id)",
        {"ids": [event.execution_id for event in events]},
    )
    found: dict[tuple[str, str], list[float]] = {}
    for row in rows:
        found.setdefault((row["execution_id"], row["phase"]), []).append(
            row["processed_at"].timestamp()
        )
    return found


def wait_landed(
    warehouse: Warehouse, events: Sequence[Event], timeout: float
) -> dict[tuple[str, str], list[float]]:
    """Poll (gently) until every event reached analytics, or the timeout; returns what landed.

    The poll counts rows instead of fetching them, so the driver takes little CPU from the
    stack it measures."""
    deadline = time.monotonic() + timeout
    ids = [event.execution_id for event in events]
    while time.monotonic() < deadline:
        rows = warehouse.query(
            "SELECT count(DISTINCT execution_id) AS done FROM "
            "{nba_orchestration.processed_messages} "
            "WHERE phase = @phase AND list_contains(@ids, execution_id)",
            {"phase": Phase.BUILD, "ids": ids},
        )
        if rows[0]["done"] == len(ids):
            break
        time.sleep(0.25)
    return landed(warehouse, events)


def delays(
    events: Sequence[Event], found: dict[tuple[str, str], list[float]], phase: Phase
) -> list[float]:
    """Seconds from publish to the phase's commit, for the events that reached it."""
    return [
        min(found[(e.execution_id, phase)]) - e.sent
        for e in events
        if (e.execution_id, phase) in found
    ]


def tables_loaded(events: Sequence[Event]) -> list[tuple[str, dt.date]]:
    """(raw table, game date) of each event."""
    return [
        (get_source(e.message.scraper_name).table.fqn, e.message.game_date)
        for e in events
        if e.message.game_date
    ]


def check_exactly_once(
    found: dict[tuple[str, str], list[float]], events: Sequence[Event]
) -> list[str]:
    """Problems: an event a phase never applied, or applied twice."""
    problems = []
    for phase in (Phase.LOAD, Phase.BUILD):
        missing = [e.execution_id for e in events if (e.execution_id, phase) not in found]
        doubled = [
            e.execution_id for e in events if len(found.get((e.execution_id, phase), [])) > 1
        ]
        if missing:
            problems.append(
                f"{phase}: {len(missing)} of {len(events)} events never applied, e.g. {missing[0]}"
            )
        if doubled:
            problems.append(f"{phase}: {len(doubled)} events applied twice, e.g. {doubled[0]}")
    return problems
