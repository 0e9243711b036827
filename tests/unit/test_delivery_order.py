"""Any delivery order gives the warehouse one in-order pass gives (DESIGN §5, issue 14).

Pub/Sub delivers at least once and in no order; operators replay DLQs, cleanup republishes,
backfills run dates side by side, processes restart (and the emulator numbers messages from
1 again). Whatever happens, every raw and analytics table must equal the in-order build of
the same files, apart from when rows were written.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.utils.offline import Built, Pipeline, Published, built, reprocessed

WEEKS = (dt.date(2024, 11, 4), dt.date(2024, 11, 17))
"""Two generated weeks with a full slate of games, lines and box scores."""


@pytest.fixture(scope="module")
def two_weeks() -> Built:
    return built(*WEEKS)


def deliver_in_any_order(
    pipeline: Pipeline, messages: list[Published], draw: Callable[[int], int], restarts: int
) -> None:
    """Deliver from a pool in the order `draw(n)` picks (an index below n): duplicates, late
    phase-2 messages, processes restarting; each message at least once, as Pub/Sub does."""
    pool = list(messages)
    delivered = 0
    restart_at = {draw(len(messages) * 2) for _ in range(restarts)}
    while pool:
        message = pool.pop(draw(len(pool)))
        sent = len(pipeline.publisher.sent)
        status = pipeline.push(message)
        assert status == 200, f"delivery answered {status}"
        pool += pipeline.publisher.sent[sent:]
        if draw(4) == 0:
            pool.append(message)  # delivered again: a redelivery, a replay, a republish
        delivered += 1
        if delivered in restart_at:
            pipeline.restart()


def test_two_weeks_delivered_shuffled_with_duplicates_equal_the_in_order_build(
    two_weeks: Built,
) -> None:
    store, messages, expected = two_weeks
    order = random.Random(14)
    pipeline = Pipeline(store)
    deliver_in_any_order(pipeline, messages, order.randrange, restarts=2)
    assert pipeline.duplicate_keys() == {}
    assert pipeline.tables() == expected
    assert any(rows for table, rows in expected.items() if "player_prop_results" in table)
    pipeline.close()


def test_a_late_load_of_an_early_day_refreshes_the_rolling_rates_of_later_days(
    two_weeks: Built,
) -> None:
    """Everything but the first day's lines, then the first day's lines last: the hit rates of
    every later day must include them (a rebuild of that day alone would leave them stale)."""
    store, messages, expected = two_weeks
    first_day = json.loads(messages[0].data)["game_date"]

    def early_lines(message: Published) -> bool:
        body = json.loads(message.data)
        return body["game_date"] == first_day and "props" in body["scraper_name"]

    pipeline = Pipeline(store)
    pipeline.run_in_order([m for m in messages if not early_lines(m)])
    pipeline.run_in_order([m for m in messages if early_lines(m)])
    assert pipeline.tables() == expected
    pipeline.close()


def test_a_reprocess_of_every_file_changes_no_row(two_weeks: Built) -> None:
    """What `nba-pipeline reprocess` does after a release without a parser change."""
    store, messages, expected = two_weeks
    pipeline = Pipeline(store)
    pipeline.run_in_order(messages)
    newest = "SELECT max(loaded_at) AS t FROM {nba_raw.bdl_player_boxscores}"
    loaded_at = pipeline.warehouse.query(newest)
    pipeline.run_in_order([reprocessed(m, "r-1") for m in messages])
    assert pipeline.tables() == expected
    assert pipeline.warehouse.query(newest) == loaded_at, "unchanged rows are not rewritten"
    reprocess_rows = pipeline.warehouse.query(
        "SELECT count(*) AS n FROM {nba_orchestration.processed_messages} WHERE reprocess_id = 'r-1'"
    )
    assert reprocess_rows[0]["n"] == len(messages) + len(pipeline.publisher.sent) // 2
    pipeline.close()


TWO_DAYS = (dt.date(2024, 11, 12), dt.date(2024, 11, 13))


@pytest.fixture(scope="module")
def two_days() -> Built:
    """A small slate for many interleavings: the files, their messages, the in-order tables."""
    return built(*TWO_DAYS)


# An interleaving of a few dozen deliveries is a few hundred choices at its smallest, hence
# large_base_example; the module fixture holds immutable files, shared safely by examples.
@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.large_base_example],
)
@given(order=st.randoms(use_true_random=False), restarts=st.integers(0, 3))
def test_any_interleaving_of_deliveries_equals_one_in_order_pass(
    two_days: Built,
    order: random.Random,
    restarts: int,
) -> None:
    store, messages, expected = two_days
    pipeline = Pipeline(store)
    try:
        deliver_in_any_order(pipeline, messages, order.randrange, restarts)
        assert pipeline.duplicate_keys() == {}
        assert pipeline.tables() == expected
    finally:
        pipeline.close()
