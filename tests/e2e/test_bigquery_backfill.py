"""Two generated weeks backfilled through the real emulators with WAREHOUSE=bigquery: the
BigQuery backend over the client double (tests/utils/bigquery_double), with every message
pushed four times at once, so that at least 8 deliveries are applied side by side.

The emulator keeps 2 pushes in flight per subscription (docs/local-stack.md), so the test adds
three more push subscriptions to each topic, pointing at the same `/process` endpoints: up to
8 pushes in flight per topic, many of them deliveries of a message another one is applying.
Whether 8 overlap by chance depends on how fast the machine applies one, so the first
deliveries wait in the app until 8 are in (at most `GATHER_SECONDS`), then all go on
together; the most in flight at once is counted, not assumed.
"""

from __future__ import annotations

import json
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.responses import JSONResponse

from libs.common import push
from libs.common.warehouse.bigquery import BigQueryWarehouse
from nba_pipeline.backfill import BackfillReport, backfill
from nba_pipeline.pipeline import PipelineClient
from nba_pipeline.replay.season import Season
from nba_pipeline.stack import LocalStack, Ports
from nba_pipeline.topology import Topology, TopologyApplier
from tests.e2e.test_crash import FIRST, LAST, TABLES_BY_DATE, dead_letters, expected_counts
from tests.utils.bigquery_double import BigQueryDouble
from tests.utils.offline import duplicate_keys

pytestmark = pytest.mark.e2e

PROJECT = "nba-bq"
EXTRA_SUBSCRIPTIONS = 3
"""Push subscriptions added to each topic beside the declared one: 4 x 2 pushes in flight."""
CONCURRENT_DELIVERIES = 8
BACKFILL_PARALLEL = 4
GATHER_SECONDS = 30.0
"""How long the first deliveries wait for the rest of the 8 before going on regardless."""
APPLIED_TWICE = (
    "SELECT work_key FROM {nba_orchestration.processed_messages} "
    "GROUP BY work_key HAVING COUNT(*) > 1 LIMIT 5"
)


class InFlight:
    """Push deliveries processors and analytics are handling right now, the most at once, and
    how each was answered: measured in the app, not inferred from the subscriptions. Until
    `gather` are in at once, each waits for the others (at most GATHER_SECONDS)."""

    def __init__(self, gather: int) -> None:
        self.gather = gather
        self.now = 0
        self.peak = 0
        self.answers: Counter[tuple[int, str]] = Counter()
        """(HTTP status, the answer's `status`) of every delivery."""
        self._lock = threading.Lock()
        self._gathered = threading.Event()

    def counting(self, handle: Callable[..., JSONResponse]) -> Callable[..., JSONResponse]:
        """`handle` (push.handle_push), counted while it runs."""

        def counted(*args: Any, **kwargs: Any) -> JSONResponse:
            with self._lock:
                self.now += 1
                self.peak = max(self.peak, self.now)
                if self.now >= self.gather:
                    self._gathered.set()
            self._gathered.wait(GATHER_SECONDS)
            self._gathered.set()  # gathered, or waited out once: nobody waits again
            response = None
            try:
                response = handle(*args, **kwargs)
                return response
            finally:
                with self._lock:
                    self.now -= 1
                    if response is not None:
                        answer = json.loads(bytes(response.body)).get("status", "")
                        self.answers[(response.status_code, answer)] += 1

        return counted


def add_push_subscriptions(stack: LocalStack, copies: int) -> list[str]:
    """`copies` more push subscriptions per declared one, same endpoint and dead-letter
    policy: each message is then pushed `copies + 1` times at once."""
    declared = Topology.load(local=True)
    extra = [
        sub.model_copy(update={"name": f"{sub.name}-{n}"})
        for sub in declared.push_subscriptions
        for n in range(1, copies + 1)
    ]
    topology = declared.model_copy(update={"push_subscriptions": extra})
    applier = TopologyApplier(stack.project, {n: stack.url(n) for n in ("processors", "analytics")})
    try:
        applier.apply(topology)
    finally:
        applier.close()
    return [sub.name for sub in extra]


@pytest.fixture(scope="module")
def double() -> BigQueryDouble:
    return BigQueryDouble(project=PROJECT, estimates_bytes=False)  # bytes are `make bench`'s


@pytest.fixture(scope="module")
def in_flight() -> Iterator[InFlight]:
    counter = InFlight(gather=CONCURRENT_DELIVERIES)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(push, "handle_push", counter.counting(push.handle_push))
        yield counter


@pytest.fixture(scope="module")
def on_bigquery(
    tmp_path_factory: pytest.TempPathFactory, double: BigQueryDouble, in_flight: InFlight
) -> Iterator[LocalStack]:
    """A stack of its own on the BigQuery backend (the session stack's emulator variables come
    back when it stops)."""
    bigquery = BigQueryWarehouse(PROJECT, client=double)
    with LocalStack(ports=Ports.free(), workdir=tmp_path_factory.mktemp("bigquery"),
                    project=PROJECT, bigquery=bigquery) as stack:  # fmt: skip
        add_push_subscriptions(stack, EXTRA_SUBSCRIPTIONS)
        yield stack


@pytest.fixture(scope="module")
def two_weeks(on_bigquery: LocalStack) -> BackfillReport:
    client = PipelineClient(on_bigquery.url("scrapers"))
    try:
        return backfill(client, FIRST, LAST, parallel=BACKFILL_PARALLEL)
    finally:
        client.close()


def test_two_weeks_on_bigquery_load_every_row_once_with_8_deliveries_at_once(
    on_bigquery: LocalStack, double: BigQueryDouble, in_flight: InFlight, two_weeks: BackfillReport
) -> None:
    print(f"\npush deliveries in flight at most: {in_flight.peak}; answers: {in_flight.answers}")
    assert in_flight.peak >= CONCURRENT_DELIVERIES
    applied = sum(n for (code, status), n in in_flight.answers.items()
                  if code == 200 and status != push.DUPLICATE)  # fmt: skip
    assert in_flight.answers.total() - applied >= EXTRA_SUBSCRIPTIONS * applied, (
        "each extra subscription pushed each message again"
    )
    assert two_weeks.failures == []
    found = {table: two_weeks.rows[table] for table in TABLES_BY_DATE}
    raw = Season(seed=2025).expected_rows(FIRST, LAST)
    assert {table: found[table] for table in raw} == raw
    assert found == expected_counts(), "analytics as one in-order offline pass builds them"
    assert on_bigquery.clients is not None
    warehouse = on_bigquery.clients.warehouse
    assert duplicate_keys(warehouse) == {}
    assert warehouse.query(APPLIED_TWICE) == [], "each unit of work applied once"
    assert dead_letters(PROJECT, os.environ["PUBSUB_EMULATOR_HOST"]) == 0
    # No job failed, so there was nothing to recover from: no cancelled transaction (the
    # backend runs none), no refused DML (each table takes at most 2 of this instance's).
    assert double.errors == []
