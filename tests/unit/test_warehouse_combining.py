"""Combined writes: concurrent upserts share a transaction, concurrent rebuilds share a run,
and what every caller sees is what applying the writes one by one would have given."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from libs.common.warehouse.base import RebuildTarget, Row
from libs.common.warehouse.combining import CombiningWarehouse, WriteClock, merged_targets
from libs.common.warehouse.duckdb import DuckDBWarehouse
from libs.common.warehouse.schema import Table
from tests.utils.tables import BOX, SCORES, TOTALS

TOTALS_SQL = (
    "SELECT game_date, sum(pts) FROM {nba_raw.scores} WHERE game_date = @game_date GROUP BY 1"
)
DAY = dt.date(2025, 2, 20)
TOTALS_TARGET = RebuildTarget(TOTALS, TOTALS_SQL)
KEY = (TOTALS_TARGET,)
"""The state `CombiningWarehouse` keeps for rebuilds of TOTALS_TARGET."""


def scores(points: Mapping[int, int | None], day: dt.date = DAY) -> list[Row]:
    now = dt.datetime.now(dt.UTC)
    return [
        {"game_date": day, "player_id": p, "pts": v, "loaded_at": now} for p, v in points.items()
    ]


class Gated(DuckDBWarehouse):
    """DuckDB whose next combined call of the `hold` kind waits at a gate; records them all."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.gate = threading.Event()
        self.hold: str | None = None
        self.upsert_calls: list[int] = []
        """Batches per combined upsert."""
        self.tables_per_upsert: list[int] = []
        self.rebuild_calls = 0
        self.days_per_rebuild: list[int] = []

    def _maybe_wait(self, kind: str) -> None:
        if self.hold == kind:
            self.hold = None
            self.gate.wait(10)

    def upsert_tables(
        self, writes: Sequence[tuple[Table, Sequence[Sequence[Row]]]]
    ) -> list[list[int]]:
        self.upsert_calls.append(sum(len(batches) for _, batches in writes))
        self.tables_per_upsert.append(len(writes))
        self._maybe_wait("upsert")
        return super().upsert_tables(writes)

    def rebuild_many(
        self, targets: Sequence[RebuildTarget], wheres: Sequence[Mapping[str, Any]]
    ) -> list[list[int]]:
        self.rebuild_calls += 1
        self.days_per_rebuild.append(len(wheres))
        self._maybe_wait("rebuild")
        return super().rebuild_many(targets, wheres)


@pytest.fixture
def gated(tmp_path: Path) -> Iterator[Gated]:
    inner = Gated(tmp_path / "w.duckdb")
    inner.ensure_tables([SCORES, TOTALS])
    yield inner
    inner.gate.set()
    inner.close()


def until(check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not check():
        assert time.monotonic() < deadline, "the writers did not queue up"
        time.sleep(0.005)


def in_threads(calls: list[Callable[[], Any]]) -> tuple[list[threading.Thread], dict[int, Any]]:
    """Start each call in its own thread, in order, each after the previous one queued."""
    results: dict[int, Any] = {}

    def run(i: int, call: Callable[[], Any]) -> None:
        try:
            results[i] = call()
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    return threads, results


def release_after_queueing(
    gated: Gated,
    threads: list[threading.Thread],
    started: Callable[[], bool],
    queued: Callable[[], bool],
    meanwhile: Callable[[], object] = lambda: None,
) -> None:
    """Start the first call and let it reach the gate (`started`), do `meanwhile`, start the
    others until `queued` says they wait behind it, then open the gate and wait for all."""
    threads[0].start()
    until(started)
    meanwhile()
    for thread in threads[1:]:
        thread.start()
    until(queued)
    gated.gate.set()
    for thread in threads:
        thread.join(10)


def queued(combining: CombiningWarehouse) -> int:
    return sum(len(queue) for queue in combining._queues.values())


def all_scores(w: DuckDBWarehouse) -> dict[int, int | None]:
    rows = w.query("SELECT player_id, pts FROM {nba_raw.scores} ORDER BY player_id")
    return {row["player_id"]: row["pts"] for row in rows}


def test_upsert_many_counts_each_batch_on_its_own(tmp_path: Path) -> None:
    w = DuckDBWarehouse(tmp_path / "w.duckdb")
    w.ensure_tables([SCORES])
    w.upsert(SCORES, scores({i: i for i in range(3000)}))
    batches = [
        scores({i: i for i in range(0, 2500)}),  # all unchanged
        scores({i: (i + 1 if i % 2 else i) for i in range(2500, 5000)}),  # 250 changed + 2000 new
        scores({i: i for i in range(5000, 5010)}),  # all new
    ]
    assert w.upsert_many(SCORES, batches) == [0, 250 + 2000, 10]
    assert len(all_scores(w)) == 5010
    assert w.upsert_many(SCORES, [[], batches[2]]) == [0, 0]
    w.close()


def test_concurrent_upserts_share_one_transaction_and_keep_their_own_counts(
    gated: Gated,
) -> None:
    combining = CombiningWarehouse(gated)
    combining.upsert(SCORES, scores({1: 10}))
    gated.upsert_calls.clear()
    gated.hold = "upsert"
    first = lambda: combining.upsert(SCORES, scores({100: 1}))  # noqa: E731
    others = [
        lambda p=p: combining.upsert(SCORES, scores({p: 7, p + 1: 7}))  # type: ignore[misc]
        for p in range(200, 210, 2)
    ]
    unchanged = lambda: combining.upsert(SCORES, scores({1: 10}))  # noqa: E731
    threads, results = in_threads([first, *others, unchanged])
    release_after_queueing(
        gated, threads, lambda: gated.upsert_calls == [1],
        lambda: queued(combining) == len(threads) - 1,
    )  # fmt: skip
    assert gated.upsert_calls == [1, len(threads) - 1], "everything that queued went in one go"
    assert results == {0: 1, **{i: 2 for i in range(1, len(threads) - 1)}, len(threads) - 1: 0}
    assert len(all_scores(gated)) == 1 + 1 + 10


def test_upserts_of_the_same_keys_are_never_combined_and_apply_in_order(gated: Gated) -> None:
    combining = CombiningWarehouse(gated)
    gated.hold = "upsert"
    calls = [
        lambda: combining.upsert(SCORES, scores({1: 1})),
        lambda: combining.upsert(SCORES, scores({1: 2, 2: 2})),
        lambda: combining.upsert(SCORES, scores({3: 3})),
        lambda: combining.upsert(SCORES, scores({2: 2, 4: 4})),
    ]
    threads, results = in_threads(calls)
    threads[0].start()
    until(lambda: gated.upsert_calls == [1])
    for i, thread in enumerate(threads[1:], start=1):
        thread.start()
        until(lambda i=i: queued(combining) == i)  # type: ignore[misc]
    gated.gate.set()
    for thread in threads:
        thread.join(10)
    assert gated.upsert_calls == [1, 2, 1], "the third joins the second; the fourth overlaps"
    assert results == {0: 1, 1: 2, 2: 1, 3: 1}
    assert all_scores(gated) == {1: 2, 2: 2, 3: 3, 4: 4}


def test_a_bad_batch_fails_alone_and_the_others_land(gated: Gated) -> None:
    combining = CombiningWarehouse(gated)
    gated.hold = "upsert"
    calls = [
        lambda: combining.upsert(SCORES, scores({1: 1})),
        lambda: combining.upsert(SCORES, scores({2: 2})),
        lambda: combining.upsert(SCORES, [{"game_date": None, "player_id": 3, "pts": 3}]),
        lambda: combining.upsert(SCORES, scores({4: 4})),
    ]
    threads, results = in_threads(calls)
    release_after_queueing(
        gated, threads, lambda: gated.upsert_calls == [1], lambda: queued(combining) == 3
    )
    assert results[0] == results[1] == results[3] == 1
    assert "NOT NULL" in str(results[2]), results[2]
    assert all_scores(gated) == {1: 1, 2: 2, 4: 4}


def test_rebuilds_asked_for_while_one_runs_share_the_next_one(gated: Gated) -> None:
    combining = CombiningWarehouse(gated)
    combining.upsert(SCORES, scores({1: 10, 2: 20}))
    gated.hold = "rebuild"

    def rebuild() -> list[int]:
        return combining.rebuild([TOTALS_TARGET], {"game_date": DAY})

    threads, results = in_threads([rebuild] * 6)
    release_after_queueing(
        gated, threads, lambda: gated.rebuild_calls == 1,
        lambda: combining._rebuilds[KEY].callers == 6,
        lambda: combining.upsert(SCORES, scores({3: 30})),  # committed while the first runs
    )  # fmt: skip
    assert gated.rebuild_calls == 2, "the five that waited were answered by one more rebuild"
    assert all(result == [1] for result in results.values()), results
    assert gated.query("SELECT pts FROM {nba_analytics.totals}") == [{"pts": 60}], (
        "the shared rebuild read the load committed before it was asked for"
    )
    assert combining._rebuilds == {}, "nothing is kept once nobody waits"
    rebuild()
    assert gated.rebuild_calls == 3, "a later request rebuilds again"


DAILY_SCORES = dataclasses.replace(SCORES, partition_column="game_date")
"""SCORES partitioned by game date, so the write clock can tell one day's loads from another's."""


def rebuild_in_thread(combining: CombiningWarehouse) -> tuple[threading.Thread, dict[int, Any]]:
    threads, results = in_threads([lambda: combining.rebuild([TOTALS_TARGET], {"game_date": DAY})])
    return threads[0], results


@pytest.mark.parametrize(
    ("write_while_running", "rebuilds", "total"),
    [
        (None, 1, 30),
        (scores({9: 1000}, DAY + dt.timedelta(days=1)), 1, 30),
        (scores({3: 30}), 2, 60),
    ],
    ids=["nothing written", "another day written", "the same day written"],
)
def test_a_running_rebuild_answers_a_request_when_nothing_it_reads_changed_since_it_began(
    gated: Gated, write_while_running: list[Row] | None, rebuilds: int, total: int
) -> None:
    combining = CombiningWarehouse(gated, sees_every_write=True)
    combining.upsert(DAILY_SCORES, scores({1: 10, 2: 20}))
    gated.hold = "rebuild"
    running, running_result = rebuild_in_thread(combining)
    running.start()
    until(lambda: gated.rebuild_calls == 1)
    if write_while_running is not None:
        combining.upsert(DAILY_SCORES, write_while_running)
    later = combining.rebuild
    threads, results = in_threads([lambda: later([TOTALS_TARGET], {"game_date": DAY})])
    threads[0].start()
    until(lambda: combining._rebuilds[KEY].callers == 2)
    gated.gate.set()
    running.join(10)
    threads[0].join(10)
    assert gated.rebuild_calls == rebuilds
    assert running_result == {0: [1]} and results == {0: [1]}
    assert gated.query("SELECT pts FROM {nba_analytics.totals}") == [{"pts": total}], (
        "the request's answer read every write committed before it was made"
    )


def test_without_seeing_every_write_a_running_rebuild_never_answers_a_later_request(
    gated: Gated,
) -> None:
    combining = CombiningWarehouse(gated)  # BigQuery: other instances load too, unseen here
    combining.upsert(DAILY_SCORES, scores({1: 10, 2: 20}))
    gated.hold = "rebuild"
    running, _ = rebuild_in_thread(combining)
    running.start()
    until(lambda: gated.rebuild_calls == 1)
    later, _ = rebuild_in_thread(combining)
    later.start()
    until(lambda: combining._rebuilds[KEY].callers == 2)
    gated.gate.set()
    running.join(10)
    later.join(10)
    assert gated.rebuild_calls == 2


def test_write_clock_counts_a_write_of_unknown_partition_against_every_partition() -> None:
    clock = WriteClock()
    clock.tick(DAILY_SCORES, [DAY])
    since = clock.now()
    assert clock.unchanged_since([DAILY_SCORES.fqn], {"game_date": DAY}, since)
    clock.tick(DAILY_SCORES, [DAY + dt.timedelta(days=1)])
    assert clock.unchanged_since([DAILY_SCORES.fqn], {"game_date": DAY}, since)
    assert clock.unchanged_since(["nba_raw.never_written"], {"game_date": DAY}, 0)
    clock.tick(DAILY_SCORES, [None])  # a row without its partition value
    assert not clock.unchanged_since([DAILY_SCORES.fqn], {"game_date": DAY}, since)
    since = clock.now()
    clock.tick(SCORES, [DAY])  # the same table declared without a partition column
    assert not clock.unchanged_since([SCORES.fqn], {"game_date": DAY}, since)
    since = clock.now()
    clock.tick(DAILY_SCORES, [DAY.isoformat()])  # rows may carry ISO strings, not dates
    assert not clock.unchanged_since([DAILY_SCORES.fqn], {"game_date": DAY}, since)


@pytest.mark.parametrize("window_s", [0.0, 0.05])
def test_with_a_window_upserts_into_different_tables_share_one_call(
    gated: Gated, window_s: float
) -> None:
    """BigQuery's window (`combine_window_s`): loads of different raw tables that waited
    together go in one `upsert_tables` (one script job); without one, one call per table."""
    gated.ensure_tables([BOX])
    combining = CombiningWarehouse(gated, window_s=window_s)
    gated.hold = "upsert"
    box = {"game_date": DAY, "pts": 1, "execution_id": "e", "source_file": "gs://b/f.json",
           "loaded_at": dt.datetime.now(dt.UTC), "fetched_at": dt.datetime.now(dt.UTC)}  # fmt: skip
    calls = [
        lambda: combining.upsert(SCORES, scores({1: 1})),
        lambda: combining.upsert(BOX, [box | {"player_id": 7}]),
        lambda: combining.upsert(SCORES, scores({2: 2})),
        lambda: combining.upsert(BOX, [box | {"player_id": 8}]),
    ]
    threads, results = in_threads(calls)
    threads[0].start()
    until(lambda: gated.upsert_calls == [1])
    for thread in threads[1:]:
        thread.start()
    if window_s:
        until(lambda: queued(combining) == 3)
    else:  # the box scores have a turn of their own and are not held behind the first
        until(lambda: queued(combining) == 1 and sum(gated.upsert_calls) == 3)
    gated.gate.set()
    for thread in threads:
        thread.join(10)
    assert results == {0: 1, 1: 1, 2: 1, 3: 1}
    if window_s:
        assert gated.tables_per_upsert == [1, 2], "the three that waited: one call, two tables"
    else:
        assert set(gated.tables_per_upsert) == {1}, "one call per table"
    assert all_scores(gated) == {1: 1, 2: 2}


def test_rebuilds_of_different_days_that_wait_together_share_one_call(gated: Gated) -> None:
    combining = CombiningWarehouse(gated)
    days = [DAY + dt.timedelta(days=i) for i in range(3)]
    for i, day in enumerate(days):
        combining.upsert(SCORES, scores({i: 10 * (i + 1)}, day))
    gated.hold = "rebuild"
    calls = [lambda day=day: combining.rebuild([TOTALS_TARGET], {"game_date": day}) for day in days]
    threads, results = in_threads([*calls, calls[1]])  # type: ignore[list-item]
    release_after_queueing(
        gated,
        threads,
        lambda: gated.rebuild_calls == 1,
        lambda: combining._rebuilds[KEY].callers == 4,
    )
    assert results == {i: [1] for i in range(4)}, results
    assert gated.days_per_rebuild == [1, 2], "the two days asked for meanwhile, once each"
    found = gated.query("SELECT game_date, pts FROM {nba_analytics.totals} ORDER BY 1")
    assert [row["pts"] for row in found] == [10, 20, 30]


def test_with_a_window_rebuilds_of_different_targets_share_one_call(gated: Gated) -> None:
    """BigQuery: a games load asks for fewer analytics tables than a box-score load; waiting
    together they share one `rebuild_many` of every target asked for, in dependency order,
    and each caller gets the counts of its own targets."""
    combining = CombiningWarehouse(gated, window_s=0.05)
    days = [DAY + dt.timedelta(days=i) for i in range(3)]
    for i, day in enumerate(days):
        combining.upsert(SCORES, scores({i: 10 * (i + 1)}, day))
    doubled = RebuildTarget(
        dataclasses.replace(TOTALS, name="doubled", partition_column="game_date"),
        "SELECT game_date, 2 * pts FROM {nba_analytics.totals} WHERE game_date = @game_date",
    )
    gated.ensure_tables([doubled.table])
    gated.hold = "rebuild"
    calls = [
        lambda: combining.rebuild([TOTALS_TARGET], {"game_date": days[0]}),
        lambda: combining.rebuild([TOTALS_TARGET, doubled], {"game_date": days[1]}),
        lambda: combining.rebuild([TOTALS_TARGET], {"game_date": days[2]}),
    ]
    threads, results = in_threads(calls)  # type: ignore[arg-type]
    release_after_queueing(
        gated,
        threads,
        lambda: gated.rebuild_calls == 1,
        lambda: combining._rebuilds[("*",)].callers == 3,
    )
    assert results == {0: [1], 1: [1, 1], 2: [1]}, results
    assert gated.days_per_rebuild == [1, 2], "the two asked for meanwhile: one call"
    found = gated.query("SELECT game_date, pts FROM {nba_analytics.doubled} ORDER BY 1")
    assert [row["pts"] for row in found] == [40, 60], "each day the call covered"
    assert not combining._clock.unchanged_since(
        {"nba_analytics.doubled"}, {"game_date": days[2]}, 0
    ), "the write clock counts the table a request did not ask for but the call wrote"
    assert merged_targets([(TOTALS_TARGET,), (TOTALS_TARGET, doubled)]) == (TOTALS_TARGET, doubled)
    assert merged_targets([(doubled,), (TOTALS_TARGET, doubled)]) == (TOTALS_TARGET, doubled)


def test_a_combined_rebuild_that_fails_leaves_only_the_request_that_broke_it_failing(
    gated: Gated,
) -> None:
    """One request's table cannot be built: the combined call fails, each request is then
    rebuilt alone, and only the one that asked for that table gets the error."""
    combining = CombiningWarehouse(gated, window_s=0.05)
    combining.upsert(SCORES, scores({1: 10}))
    broken = RebuildTarget(
        dataclasses.replace(TOTALS, name="broken"),
        "SELECT game_date, no_such_column FROM {nba_analytics.totals} WHERE game_date = @game_date",
    )
    gated.ensure_tables([broken.table])
    gated.hold = "rebuild"
    threads, results = in_threads([
        lambda: combining.rebuild([TOTALS_TARGET], {"game_date": DAY + dt.timedelta(days=1)}),
        lambda: combining.rebuild([TOTALS_TARGET, broken], {"game_date": DAY}),
        lambda: combining.rebuild([TOTALS_TARGET], {"game_date": DAY}),
    ])  # fmt: skip
    release_after_queueing(
        gated,
        threads,
        lambda: gated.rebuild_calls == 1,
        lambda: combining._rebuilds[("*",)].callers == 3,
    )
    assert results[0] == [0] and results[2] == [1], results
    assert isinstance(results[1], Exception) and "no_such_column" in str(results[1])
    found = gated.query("SELECT game_date, pts FROM {nba_analytics.totals} ORDER BY 1")
    assert [row["pts"] for row in found] == [10]
