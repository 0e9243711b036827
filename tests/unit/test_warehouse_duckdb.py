"""DuckDB warehouse: idempotent upserts, atomic rebuilds, concurrent writers without lock errors."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path
from typing import Any

import duckdb
import pytest

from libs.common.warehouse.base import RebuildTarget
from libs.common.warehouse.duckdb.client import DuckDBWarehouse, ddl
from libs.common.warehouse.schema import Table, col
from tests.utils.tables import BOX, DOUBLED, SCORES, TOTALS

DAY = dt.date(2025, 2, 20)


def rows(*points: int, day: dt.date = DAY) -> list[dict[str, object]]:
    now = dt.datetime.now(dt.UTC)
    return [
        {"game_date": day, "player_id": i, "pts": p, "loaded_at": now} for i, p in enumerate(points)
    ]


@pytest.fixture
def warehouse(tmp_path):  # type: ignore[no-untyped-def]
    w = DuckDBWarehouse(tmp_path / "w.duckdb")
    w.ensure_tables([SCORES, TOTALS, DOUBLED])
    yield w
    w.close()


def all_rows(w: DuckDBWarehouse) -> list[dict[str, object]]:
    return w.query("SELECT game_date, player_id, pts FROM {nba_raw.scores} ORDER BY player_id")


def test_ddl_renders_types_and_not_null() -> None:
    assert ddl(SCORES) == (
        'CREATE TABLE IF NOT EXISTS nba_raw."scores" ("game_date" DATE NOT NULL, '
        '"player_id" BIGINT NOT NULL, "pts" BIGINT, "loaded_at" TIMESTAMPTZ NOT NULL)'
    )


def test_upsert_replaces_by_natural_key_and_reports_changes(warehouse: DuckDBWarehouse) -> None:
    assert warehouse.upsert(SCORES, rows(10, 20, 30)) == 3
    assert warehouse.upsert(SCORES, rows(10, 20, 30)) == 0, "same rows again: nothing changed"
    assert warehouse.upsert(SCORES, rows(10, 25)) == 1
    assert [r["pts"] for r in all_rows(warehouse)] == [10, 25, 30]


def test_failed_upsert_leaves_previous_rows(warehouse: DuckDBWarehouse) -> None:
    warehouse.upsert(SCORES, rows(10, 20))
    broken = rows(11, 21)
    broken[1]["player_id"] = None
    with pytest.raises(Exception, match="NOT NULL"):
        warehouse.upsert(SCORES, broken)
    assert [r["pts"] for r in all_rows(warehouse)] == [10, 20]


def test_rebuild_replaces_one_partition_of_each_table_in_one_transaction(
    warehouse: DuckDBWarehouse,
) -> None:
    warehouse.upsert(SCORES, rows(10, 20) + rows(5, day=DAY + dt.timedelta(days=1)))
    select = (
        "SELECT game_date, sum(pts) FROM {nba_raw.scores} WHERE game_date = @game_date GROUP BY 1"
    )
    doubled = "SELECT game_date, 2 * pts FROM {nba_analytics.totals} WHERE game_date = @game_date"
    both = [RebuildTarget(TOTALS, select), RebuildTarget(DOUBLED, doubled)]
    assert warehouse.rebuild(both, {"game_date": DAY}) == [1, 1], "the second reads the first"
    assert warehouse.rebuild(both, {"game_date": DAY}) == [1, 1]
    warehouse.upsert(SCORES, rows(11, 21))
    with pytest.raises(duckdb.BinderException):
        warehouse.rebuild(
            [
                RebuildTarget(TOTALS, select),
                RebuildTarget(DOUBLED, "SELECT no_such_column FROM {nba_raw.scores}"),
            ],
            {"game_date": DAY},
        )
    assert warehouse.query("SELECT * FROM {nba_analytics.totals}") == [
        {"game_date": DAY, "pts": 30}
    ], "the failing second build rolled back the first"
    assert warehouse.query("SELECT * FROM {nba_analytics.doubled}") == [
        {"game_date": DAY, "pts": 60}
    ]
    warehouse.rebuild(both, {"game_date": DAY})
    assert warehouse.query("SELECT pts FROM {nba_analytics.doubled}") == [{"pts": 64}], (
        "a rebuild run again (its statements prepared once) reads the rows loaded since"
    )


def test_rebuild_partitions_are_dates_or_integers(warehouse: DuckDBWarehouse) -> None:
    select = "SELECT game_date, 1 FROM {nba_raw.scores} WHERE game_date = @game_date"
    with pytest.raises(TypeError, match=r"dates or integers, not str \('2025-02-20'\)"):
        warehouse.rebuild([RebuildTarget(TOTALS, select)], {"game_date": "2025-02-20"})


def test_concurrent_upserts_of_the_same_keys_never_conflict(warehouse: DuckDBWarehouse) -> None:
    errors: list[BaseException] = []

    def deliver() -> None:
        try:
            warehouse.upsert(SCORES, rows(*range(50)))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=deliver) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(all_rows(warehouse)) == 50


def test_query_parameters_and_table_references(warehouse: DuckDBWarehouse) -> None:
    warehouse.upsert(SCORES, rows(10, 20, 30))
    found = warehouse.query(
        "SELECT pts FROM {nba_raw.scores} WHERE pts > @floor ORDER BY pts", {"floor": 15}
    )
    assert found == [{"pts": 20}, {"pts": 30}]


def test_a_natural_key_column_must_be_required() -> None:
    with pytest.raises(ValueError, match=r"natural key columns \['player_id'\] must be required"):
        Table("nba_raw", "loose", (col("player_id", "INT64"),), natural_key=("player_id",))


def test_a_rebuilt_table_cannot_also_be_loaded(warehouse: DuckDBWarehouse) -> None:
    select = (
        "SELECT game_date, sum(pts) FROM {nba_raw.scores} WHERE game_date = @game_date GROUP BY 1"
    )
    warehouse.rebuild([RebuildTarget(TOTALS, select)], {"game_date": DAY})
    with pytest.raises(ValueError, match=r"nba_analytics\.totals is written by rebuild"):
        warehouse.append(TOTALS, [{"game_date": DAY, "pts": 1}])
    warehouse.upsert(SCORES, rows(10))
    with pytest.raises(ValueError, match=r"nba_raw\.scores is written by upsert or replace"):
        warehouse.append(SCORES, rows(20))


def test_rebuilds_of_different_dates_run_side_by_side_without_conflicts(
    warehouse: DuckDBWarehouse,
) -> None:
    days = [DAY + dt.timedelta(days=i) for i in range(8)]
    for day in days:
        warehouse.upsert(SCORES, rows(1, 2, 3, day=day))
    select = (
        "SELECT game_date, sum(pts) FROM {nba_raw.scores} WHERE game_date = @game_date GROUP BY 1"
    )
    errors: list[BaseException] = []

    def rebuild(day: dt.date) -> None:
        try:
            for _ in range(10):
                warehouse.rebuild([RebuildTarget(TOTALS, select)], {"game_date": day})
                warehouse.upsert(SCORES, rows(1, 2, 4, day=day))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=rebuild, args=(day,)) for day in days]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    totals = warehouse.query("SELECT game_date, pts FROM {nba_analytics.totals} ORDER BY 1")
    assert totals == [{"game_date": day, "pts": 7} for day in days]


def test_a_rebuild_commits_its_days_tables_before_waiting_for_an_onwards_tables_lock(
    warehouse: DuckDBWarehouse,
) -> None:
    """An onwards target locks its whole table, so it is its own transaction: the day's tables
    of a date are rebuilt (and other dates' with them) while another date's onwards rebuild
    holds that table."""
    warehouse.upsert(SCORES, rows(1, 2))
    select = (
        "SELECT game_date, sum(pts) FROM {nba_raw.scores} WHERE game_date = @game_date GROUP BY 1"
    )
    onwards = "SELECT game_date, 2 * pts FROM {nba_analytics.totals} WHERE game_date >= @game_date"
    targets = [RebuildTarget(TOTALS, select), RebuildTarget(DOUBLED, onwards, onwards=True)]
    held = warehouse._locks[DOUBLED.fqn]  # as a running onwards rebuild of another date holds it
    held.acquire()
    written: list[list[int]] = []
    thread = threading.Thread(
        target=lambda: written.append(warehouse.rebuild(targets, {"game_date": DAY}))
    )
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not warehouse.query("SELECT * FROM {nba_analytics.totals}"):
            assert time.monotonic() < deadline, "the day's table was never committed"
            time.sleep(0.01)
        assert thread.is_alive() and written == [], "the onwards table waits for its lock"
    finally:
        held.release()
    thread.join(10)
    assert written == [[1, 1]]
    assert warehouse.query("SELECT pts FROM {nba_analytics.doubled}") == [{"pts": 6}]


SLOW_QUERY = "SELECT count(*) AS n FROM range(@n) a, range(10) b WHERE (a.range * b.range) % 7 = 3"


def query_in_background(w: DuckDBWarehouse, n: int) -> tuple[threading.Thread, list[object]]:
    """A slow query on its own thread, started and inside DuckDB when this returns."""
    outcome: list[object] = []
    started = threading.Event()

    def run() -> None:
        started.set()
        try:
            outcome.append(w.query(SLOW_QUERY, {"n": n})[0]["n"])
        except Exception as error:
            outcome.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    started.wait()
    while not w._in_flight:  # the call has reached DuckDB
        thread.join(0.001)
    return thread, outcome


def test_close_lets_a_call_in_flight_finish_then_refuses_new_ones(tmp_path) -> None:  # type: ignore[no-untyped-def]
    w = DuckDBWarehouse(tmp_path / "w.duckdb")
    thread, outcome = query_in_background(w, 20_000_000)
    w.close()
    thread.join()
    assert outcome and isinstance(outcome[0], int) and outcome[0] > 0, outcome
    with pytest.raises(RuntimeError, match=r"w\.duckdb is closed; this call came after close"):
        w.query("SELECT 1")
    w.close()  # closing twice is harmless


def test_close_interrupts_a_call_that_outlasts_the_wait(tmp_path) -> None:  # type: ignore[no-untyped-def]
    w = DuckDBWarehouse(tmp_path / "w.duckdb")
    thread, outcome = query_in_background(w, 10**12)
    w.close(wait_seconds=0.05)
    thread.join()
    assert outcome and isinstance(outcome[0], duckdb.InterruptException), outcome


def test_the_process_exits_cleanly_with_a_daemon_thread_querying(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A daemon thread inside DuckDB at exit aborts Python ("FATAL: exception not
    rethrown"), and the services run on one. After close, calls never reach DuckDB."""
    script = f"""
import threading
from libs.common.warehouse.duckdb import DuckDBWarehouse
w = DuckDBWarehouse({str(tmp_path / "w.duckdb")!r})
def work():
    while True:  # a handler the server did not stop in time, still taking pushes
        try:
            w.query("SELECT count(*) FROM range(3000000)")
        except RuntimeError:
            pass
thread = threading.Thread(target=work, daemon=True)
thread.start()
thread.join(0.3)
w.close()
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "rethrown" not in done.stderr


def test_close_frees_the_cursor_of_a_thread_still_alive(tmp_path: Path) -> None:
    """A server's worker thread idles past close (anyio keeps them 10 s); if its cursor
    lived until the interpreter's finalization, duckdb's destructor could abort the process
    there (duckdb/duckdb#13904, once in about 40 starts of the analytics service)."""
    w = DuckDBWarehouse(tmp_path / "w.duckdb")
    cursors: list[weakref.ref[Any]] = []
    queried, release = threading.Event(), threading.Event()

    def worker() -> None:
        w.query("SELECT 1 AS one")
        cursors.extend(weakref.ref(c) for c in w._cursors)
        queried.set()
        release.wait(10)

    thread = threading.Thread(target=worker)
    thread.start()
    assert queried.wait(10)
    w.close()
    alive = [ref() is not None for ref in cursors]
    release.set()
    thread.join()
    assert alive == [False], "the idle thread's cursor is freed by close, not at exit"


def test_a_column_a_newer_release_declares_is_added_to_an_existing_table(tmp_path: Path) -> None:
    """Upgrading over an existing .local warehouse: the new column is added NULLABLE, the rows
    loaded before keep their values, and new rows fill it."""
    path = tmp_path / "w.duckdb"
    old = DuckDBWarehouse(path)
    old.ensure_tables([SCORES])
    old.upsert(SCORES, [{"game_date": dt.date(2025, 1, 1), "player_id": 1, "pts": 9,
                         "loaded_at": dt.datetime.now(dt.UTC)}])  # fmt: skip
    old.close()
    newer = Table(SCORES.dataset, SCORES.name,
                  (*SCORES.columns, col("fetched_at", "TIMESTAMP", True)), SCORES.natural_key)  # fmt: skip
    upgraded = DuckDBWarehouse(path)
    upgraded.ensure_tables([newer])
    upgraded.ensure_tables([newer])  # a second start adds nothing
    now = dt.datetime.now(dt.UTC)
    upgraded.upsert(newer, [{"game_date": dt.date(2025, 1, 2), "player_id": 2, "pts": 3,
                             "loaded_at": now, "fetched_at": now}])  # fmt: skip
    rows = upgraded.query("SELECT player_id, pts, fetched_at FROM {nba_raw.scores} ORDER BY 1")
    assert [(r["player_id"], r["pts"], r["fetched_at"] is None) for r in rows] == [
        (1, 9, True),
        (2, 3, False),
    ]


def test_a_natural_key_column_cannot_be_added_to_a_table_with_rows(
    warehouse: DuckDBWarehouse,
) -> None:
    warehouse.ensure_tables([SCORES])
    rekeyed = Table(SCORES.dataset, SCORES.name,
                    (*SCORES.columns, col("team", "STRING", True)), ("game_date", "player_id", "team"))  # fmt: skip
    with pytest.raises(ValueError, match=r"without its natural key columns \['team'\]"):
        warehouse.ensure_tables([rekeyed])


def box_row(player_id: int, pts: int, fetched_hour: int) -> dict[str, object]:
    """A box-score row from the file fetched at `fetched_hour` on DAY."""
    fetched = dt.datetime(2025, 2, 21, fetched_hour, tzinfo=dt.UTC)
    return {"game_date": DAY, "player_id": player_id, "pts": pts, "execution_id": f"e{fetched_hour}",
            "source_file": f"gs://b/box/{fetched_hour:02d}.json", "loaded_at": dt.datetime.now(dt.UTC),
            "fetched_at": fetched}  # fmt: skip


def box(w: DuckDBWarehouse) -> list[tuple[object, ...]]:
    found = w.query("SELECT player_id, pts, execution_id FROM {nba_raw.box} ORDER BY player_id")
    return [tuple(r.values()) for r in found]


def test_a_row_from_an_older_file_never_replaces_one_from_a_newer_file(tmp_path: Path) -> None:
    """An in-progress box score delivered after the final one (a late redelivery, a replay,
    a cleanup republish) leaves the final one in place."""
    w = DuckDBWarehouse(tmp_path / "w.duckdb")
    w.ensure_tables([BOX])
    assert w.upsert(BOX, [box_row(1, 30, fetched_hour=5), box_row(2, 12, fetched_hour=5)]) == 2
    assert w.upsert(BOX, [box_row(1, 18, fetched_hour=3), box_row(3, 4, fetched_hour=3)]) == 1
    assert box(w) == [(1, 30, "e5"), (2, 12, "e5"), (3, 4, "e3")]
    assert w.upsert(BOX, [box_row(1, 31, fetched_hour=6)]) == 1, "a newer file still wins"
    assert box(w)[0] == (1, 31, "e6")
    w.close()


def test_reloading_the_same_file_rewrites_no_row(tmp_path: Path) -> None:
    """A redelivery or a reprocess of an unchanged file changes nothing, loaded_at included."""
    w = DuckDBWarehouse(tmp_path / "w.duckdb")
    w.ensure_tables([BOX])
    w.upsert(BOX, [box_row(1, 30, fetched_hour=5)])
    before = w.query("SELECT * FROM {nba_raw.box}")
    assert w.upsert(BOX, [box_row(1, 30, fetched_hour=5)]) == 0
    assert w.query("SELECT * FROM {nba_raw.box}") == before
    assert w.upsert(BOX, [box_row(1, 29, fetched_hour=5)]) == 1, "a parser fix is a change"
    assert box(w) == [(1, 29, "e5")]
    w.close()


def test_a_key_listed_twice_in_one_load_keeps_the_last_row(warehouse: DuckDBWarehouse) -> None:
    now = dt.datetime.now(dt.UTC)
    listed = [{"game_date": DAY, "player_id": 1, "pts": p, "loaded_at": now} for p in (7, 9)]
    assert warehouse.upsert(SCORES, listed) == 1
    assert warehouse.upsert_many(SCORES, [listed[:1], listed[1:]]) == [0, 0]
    assert warehouse.upsert_many(SCORES, [[listed[1]], [listed[0]]]) == [0, 1], "later batch wins"
    assert all_rows(warehouse) == [{"game_date": DAY, "player_id": 1, "pts": 7}]
