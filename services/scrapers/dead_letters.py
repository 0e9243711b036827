"""How many messages wait in each dead-letter queue: the dashboard, `/check-dead-letters` and
the `nba.dlq.depth` gauge read it, all in the scrapers service."""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

from libs.common.messages import PHASE2_COMPLETE_TOPIC, SCRAPER_COMPLETE_TOPIC
from libs.common.pubsub import PullScan
from libs.common.tracing import TRACER_NAME

log = logging.getLogger(__name__)

DLQ_SUBSCRIPTIONS = tuple(f"{t}-dlq-sub" for t in (SCRAPER_COMPLETE_TOPIC, PHASE2_COMPLETE_TOPIC))
"""The dead-letter pull subscriptions (DESIGN §1: `<topic>-dlq-sub`)."""
DLQ_PULL_CAP = 1000
"""Counting stops here: a DLQ this deep needs a human, not an exact number."""


class DeadLetterCounter:
    """How many messages wait in each DLQ subscription (dashboard, the `nba.dlq.depth` gauge).

    Scans without waiting and hands every message back, so nothing is consumed; the count is
    what Pub/Sub would deliver now, capped at DLQ_PULL_CAP.
    """

    def __init__(
        self,
        project: str,
        subscriptions: Iterable[str] = DLQ_SUBSCRIPTIONS,
        subscriber: Any = None,
    ) -> None:
        self.project = project
        self.subscriptions = tuple(subscriptions)
        self._subscriber = subscriber
        if subscriber is None and os.environ.get("PUBSUB_EMULATOR_HOST"):
            self._client()  # bound now: the environment may name another emulator later

    def _client(self) -> Any:
        """Made on first use (an app that never counts needs no Pub/Sub credentials), except
        on an emulator, where the client is made with the app: a second local stack in the same
        process changes PUBSUB_EMULATOR_HOST, and a client made then would talk to it."""
        if self._subscriber is None:
            from google.cloud import pubsub_v1  # type: ignore[attr-defined, unused-ignore]

            self._subscriber = pubsub_v1.SubscriberClient()
        return self._subscriber

    def depth(self, subscription: str) -> int:
        """Messages waiting in one subscription (short name)."""
        path = f"projects/{self.project}/subscriptions/{subscription}"
        with PullScan(self._client(), path) as scan:
            return sum(1 for _ in itertools.islice(scan, DLQ_PULL_CAP))

    def depths(self) -> dict[str, int]:
        """Depth of every DLQ subscription."""
        return {name: self.depth(name) for name in self.subscriptions}

    def close(self) -> None:
        if self._subscriber is not None:
            self._subscriber.close()


def dead_letter_depths(counter: DeadLetterCounter | None) -> dict[str, int | None]:
    """Depth per DLQ subscription; None where Pub/Sub did not answer (the page still renders)."""
    if counter is None:
        return {}
    depths: dict[str, int | None] = {}
    for name in counter.subscriptions:
        try:
            depths[name] = counter.depth(name)
        except Exception as exc:
            log.warning("DLQ depth of %s unavailable: %s", name, exc)
            depths[name] = None
    return depths


DepthSource = Callable[[], Mapping[str, int]]
_dlq_depths: dict[object, DepthSource] = {}


def _observe_dlq(options: CallbackOptions) -> Iterable[Observation]:
    for depths in list(_dlq_depths.values()):
        for subscription, depth in depths().items():
            yield Observation(depth, {"subscription": subscription})


metrics.get_meter(TRACER_NAME).create_observable_gauge(
    "nba.dlq.depth",
    callbacks=[_observe_dlq],
    unit="{message}",
    description="messages waiting in each dead-letter subscription",
)


def observe_dlq_depth(owner: object, depths: DepthSource | None) -> None:
    """Set (None: remove) the source the DLQ gauge reads for `owner`, e.g. one scrapers app.

    Keyed by owner, so one app stopping (a test's second stack, a restart) never silences
    another's gauge, and a repeated start of the same app replaces its source.
    """
    if depths is None:
        _dlq_depths.pop(owner, None)
    else:
        _dlq_depths[owner] = depths
