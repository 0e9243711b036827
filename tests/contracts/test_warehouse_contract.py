"""The Warehouse behaviours the pipeline relies on, run against DuckDB and against the
BigQuery backend over a client double that keeps BigQuery's rules (docs/contracts.md,
"Warehouse"; docs/bigquery.md). A behaviour one backend breaks fails here, not in production.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from typing import Any

import pytest

from libs.common.analytics import ANALYTICS_TABLES
from libs.common.audit import SCRAPER_EXECUTION_LOG, final_runs, record_run
from libs.common.sources.registry import raw_tables
from libs.common.warehouse.base import RebuildTarget, TableNotFoundError, Warehouse
from libs.common.warehouse.combining import CombiningWarehouse
from libs.common.warehouse.schema import Table, col
from services.scrapers.tables import WORKFLOW_DECISIONS
from tests.contracts.conftest import Backend
from tests.utils.tables import BOX, DOUBLED, ORCHESTRATION_TABLES, SCORES, TOTALS

DAY = dt.date(2025, 2, 20)
LOADED = dt.datetime(2025, 2, 21, 9, tzinfo=dt.UTC)

TOTALS_SQL = (
    "SELECT game_date, SUM(pts) AS pts FROM {nba_raw.scores} "
    "WHERE game_date = @game_date GROUP BY game_date"
)
DOUBLED_SQL = (
    "SELECT game_date, 2 * pts AS pts FROM {nba_analytics.totals} WHERE game_date = @game_date"
)
RUNNING_SQL = (
    "SELECT d.game_date, (SELECT SUM(s.pts) FROM {nba_raw.scores} s "
    "WHERE s.game_date <= d.game_date) AS pts "
    "FROM (SELECT DISTINCT game_date FROM {nba_raw.scores} WHERE game_date >= @game_date) d"
)
"""Each day's points so far this season: a day's row reads every earlier day (`onwards`)."""
RUNNING_DOUBLED_SQL = (
    "SELECT d.game_date, (SELECT 2 * SUM(t.pts) FROM {nba_analytics.totals} t "
    "WHERE t.game_date <= d.game_date) AS pts "
    "FROM (SELECT DISTINCT game_date FROM {nba_analytics.totals} WHERE game_date >= @game_date) d"
)
"""Twice the season's points so far, read from the day's totals rebuilt before it."""
BOTH = [RebuildTarget(TOTALS, TOTALS_SQL), RebuildTarget(DOUBLED, DOUBLED_SQL)]


def scores(
    *points: int | None, day: dt.date = DAY, at: dt.datetime = LOADED
) -> list[dict[str, Any]]:
    return [{"game_date": day, "player_id": i, "pts": p, "loaded_at": at} for i, p in enumerate(points)]  # fmt: skip


def stored(w: Warehouse, table: str = "nba_raw.scores") -> list[tuple[Any, ...]]:
    found = w.query(f"SELECT * FROM {{{table}}}")
    return sorted(tuple(row.values()) for row in found)


def points(w: Warehouse) -> list[tuple[dt.date, int, int | None]]:
    found = w.query("SELECT game_date, player_id, pts FROM {nba_raw.scores}")
    return sorted((r["game_date"], r["player_id"], r["pts"]) for r in found)


def box_row(player_id: int, pts: int, fetched_hour: int) -> dict[str, Any]:
    """A box-score row from the file fetched at `fetched_hour` on the day after DAY."""
    fetched = dt.datetime(2025, 2, 21, fetched_hour, tzinfo=dt.UTC)
    return {"game_date": DAY, "player_id": player_id, "pts": pts, "execution_id": f"e{fetched_hour}",
            "source_file": f"gs://b/box/{fetched_hour:02d}.json", "loaded_at": LOADED,
            "fetched_at": fetched}  # fmt: skip


def box(w: Warehouse) -> list[tuple[int, int, str]]:
    found = w.query("SELECT player_id, pts, execution_id FROM {nba_raw.box}")
    return sorted((r["player_id"], r["pts"], r["execution_id"]) for r in found)


def test_every_declared_table_can_be_created(warehouse: Warehouse) -> None:
    """Every table a service creates at startup (BigQuery refuses, for one, clustering on a
    FLOAT64 or JSON column, or on more than four)."""
    declared = (*ORCHESTRATION_TABLES, *raw_tables(), *ANALYTICS_TABLES)
    warehouse.ensure_tables(declared)
    warehouse.ensure_tables(declared)
    for table in declared:
        assert warehouse.query(f"SELECT COUNT(*) AS n FROM {{{table.fqn}}}") == [{"n": 0}]


def test_ensure_tables_is_idempotent_and_keeps_rows(warehouse: Warehouse) -> None:
    warehouse.ensure_tables([SCORES, TOTALS])
    warehouse.upsert(SCORES, scores(10))
    warehouse.ensure_tables([SCORES, TOTALS])
    assert points(warehouse) == [(DAY, 0, 10)]


def test_a_declared_column_is_added_to_an_existing_table(backend: Backend) -> None:
    """An upgrade over an existing warehouse: the new column (declared mid-list here) is added
    NULLABLE, old rows keep their values with NULL in it, and writes fill it by name."""
    old = backend.open()
    old.ensure_tables([SCORES])
    old.upsert(SCORES, scores(9))
    rank = col("rank", "INT64", True, "added by a newer release")
    newer = Table(SCORES.dataset, SCORES.name, (*SCORES.columns[:2], rank, *SCORES.columns[2:]),
                  SCORES.natural_key)  # fmt: skip
    upgraded = backend.open()
    upgraded.ensure_tables([newer])
    upgraded.ensure_tables([newer])  # a second start adds nothing
    upgraded.upsert(
        newer, [{"game_date": DAY, "player_id": 1, "rank": 3, "pts": 4, "loaded_at": LOADED}]
    )
    upgraded.replace(newer, {"game_date": DAY + dt.timedelta(days=1)},
                     [{"game_date": DAY + dt.timedelta(days=1), "player_id": 2, "rank": 5, "pts": 6,
                       "loaded_at": LOADED}])  # fmt: skip
    found = upgraded.query("SELECT player_id, rank, pts FROM {nba_raw.scores}")
    assert sorted(tuple(r.values()) for r in found) == [(0, None, 9), (1, 3, 4), (2, 5, 6)]


def test_upsert_counts_new_and_changed_rows_but_not_identical_ones(warehouse: Warehouse) -> None:
    """Or, on a backend that does not declare `counts_changed_rows`, every row it wrote."""
    counts = warehouse.capabilities.counts_changed_rows
    warehouse.ensure_tables([SCORES])
    assert warehouse.upsert(SCORES, scores(10, 20, 30)) == 3
    assert warehouse.upsert(SCORES, scores(10, 20, 30)) == (0 if counts else 3), "the same again"
    assert warehouse.upsert(SCORES, scores(10, 25, None)) == (2 if counts else 3)
    assert warehouse.upsert(SCORES, []) == 0
    assert points(warehouse) == [(DAY, 0, 10), (DAY, 1, 25), (DAY, 2, None)]


def test_a_key_listed_twice_keeps_the_last_row_within_and_across_batches(
    warehouse: Warehouse,
) -> None:
    warehouse.ensure_tables([SCORES])
    first, second = scores(7)[0], scores(9)[0]
    assert warehouse.upsert(SCORES, [first, second]) == 1
    assert points(warehouse) == [(DAY, 0, 9)]
    assert warehouse.upsert_many(SCORES, [[first], [second]]) == [0, 0], "the later batch wins"
    assert warehouse.upsert_many(SCORES, [[second], [], [first]]) == [0, 0, 1]
    assert points(warehouse) == [(DAY, 0, 7)]


def test_a_row_from_an_older_file_never_replaces_one_from_a_newer_file(
    warehouse: Warehouse,
) -> None:
    warehouse.ensure_tables([BOX])
    assert (
        warehouse.upsert(BOX, [box_row(1, 30, fetched_hour=5), box_row(2, 12, fetched_hour=5)]) == 2
    )
    assert (
        warehouse.upsert(BOX, [box_row(1, 18, fetched_hour=3), box_row(3, 4, fetched_hour=3)]) == 1
    )
    assert box(warehouse) == [(1, 30, "e5"), (2, 12, "e5"), (3, 4, "e3")]
    assert warehouse.upsert(BOX, [box_row(1, 31, fetched_hour=6)]) == 1, "a newer file still wins"
    assert box(warehouse)[0] == (1, 31, "e6")


def test_identical_rows_are_not_rewritten_loaded_at_included(warehouse: Warehouse) -> None:
    warehouse.ensure_tables([BOX])
    warehouse.upsert(BOX, [box_row(1, 30, fetched_hour=5)])
    before = stored(warehouse, "nba_raw.box")
    later = box_row(1, 30, fetched_hour=5) | {"loaded_at": LOADED + dt.timedelta(hours=1)}
    assert warehouse.upsert(BOX, [later]) == 0
    assert stored(warehouse, "nba_raw.box") == before
    assert warehouse.upsert(BOX, [later | {"pts": 29}]) == 1, "a parser fix is a change"
    assert box(warehouse) == [(1, 29, "e5")]


def test_a_load_heavier_than_one_request_is_loaded_and_counted_all_the_same(
    backend: Backend, warehouse: Warehouse
) -> None:
    """BigQuery refuses a request over 10 MB, query parameters included: a load whose rows
    would not fit goes by a load job, then the same script (docs/bigquery.md, rule 5)."""
    warehouse.ensure_tables([BOX])
    padding = "x" * 2**20
    heavy = [box_row(i, 10, fetched_hour=5) | {"execution_id": padding} for i in range(10)]
    jobs = dict(backend.double.counts.jobs) if backend.double else {}
    assert warehouse.upsert(BOX, heavy) == 10
    if backend.double:
        after = backend.double.counts.jobs
        assert (after["load"] - jobs.get("load", 0), after["query"] - jobs.get("query", 0)) == (
            1,
            1,
        )
    assert warehouse.upsert(BOX, heavy) == (0 if warehouse.capabilities.counts_changed_rows else 10)
    assert [(p, pts) for p, pts, _ in box(warehouse)] == [(i, 10) for i in range(10)]


def test_a_keyed_row_with_a_json_column_is_loaded_and_read_back(warehouse: Warehouse) -> None:
    warehouse.ensure_tables([WORKFLOW_DECISIONS])
    decision = {"decision_id": "d1", "decided_at": LOADED, "schedule_date": DAY,
                "workflow": "morning", "decision": "RUN", "reason": "due",
                "execution_ids": ["e1", "e2"]}  # fmt: skip
    assert warehouse.upsert(WORKFLOW_DECISIONS, [decision]) == 1
    (found,) = warehouse.query("SELECT execution_ids FROM {nba_orchestration.workflow_decisions}")
    assert _decoded(found["execution_ids"]) == ["e1", "e2"]


def test_replace_swaps_exactly_the_rows_matching_where(warehouse: Warehouse) -> None:
    warehouse.ensure_tables([SCORES])
    other = DAY + dt.timedelta(days=1)
    warehouse.upsert(SCORES, scores(1, 2, 3) + scores(4, day=other))
    warehouse.replace(SCORES, {"game_date": DAY}, scores(5))
    assert points(warehouse) == [(DAY, 0, 5), (other, 0, 4)]
    warehouse.replace(SCORES, {"game_date": DAY}, [])
    assert points(warehouse) == [(other, 0, 4)]


def test_rebuild_replaces_one_partition_of_each_table_in_order(warehouse: Warehouse) -> None:
    """The rebuilt rows equal the select's; a later table reads the one rebuilt before it;
    other partitions stay; a rebuild run again reads the rows loaded since."""
    warehouse.ensure_tables([SCORES, TOTALS, DOUBLED])
    other = DAY + dt.timedelta(days=1)
    warehouse.upsert(SCORES, scores(10, 20) + scores(5, day=other))
    assert warehouse.rebuild(BOTH, {"game_date": other}) == [1, 1]
    assert warehouse.rebuild(BOTH, {"game_date": DAY}) == [1, 1]
    expected = warehouse.query(TOTALS_SQL, {"game_date": DAY})
    assert warehouse.query("SELECT * FROM {nba_analytics.totals} WHERE game_date = @d",
                           {"d": DAY}) == expected  # fmt: skip
    assert stored(warehouse, "nba_analytics.doubled") == [(DAY, 60), (other, 10)]
    warehouse.upsert(SCORES, scores(11, 21))
    assert warehouse.rebuild(BOTH, {"game_date": DAY}) == [1, 1]
    assert stored(warehouse, "nba_analytics.doubled") == [(DAY, 64), (other, 10)]


def test_a_rebuild_of_several_tables_is_all_or_nothing_where_the_backend_declares_it(
    warehouse: Warehouse,
) -> None:
    """A build failing at run time (here a bad cast). With `transactional_rebuild` every table
    of the rebuild stays as it was, the ones rebuilt before it included: readers never see one
    table of a day rebuilt and the next one not. Without it (BigQuery, whose per-table MERGEs
    keep rule 1 of docs/bigquery.md) the tables before the failing one are rebuilt, and it and
    the ones after stay as they were until the message is redelivered."""
    warehouse.ensure_tables([SCORES, TOTALS, DOUBLED])
    warehouse.upsert(SCORES, scores(10, 20))
    warehouse.rebuild(BOTH, {"game_date": DAY})
    warehouse.upsert(SCORES, scores(11, 21))
    failing = "SELECT game_date, CAST('x' AS INT64) AS pts FROM {nba_analytics.totals} WHERE game_date = @game_date"
    with pytest.raises(Exception, match=r"(?i)conversion"):
        warehouse.rebuild([BOTH[0], RebuildTarget(DOUBLED, failing)], {"game_date": DAY})
    totals = 30 if warehouse.capabilities.transactional_rebuild else 32
    assert stored(warehouse, "nba_analytics.totals") == [(DAY, totals)]
    assert stored(warehouse, "nba_analytics.doubled") == [(DAY, 60)]


def test_only_a_backend_no_other_process_writes_declares_it_sees_every_write(
    backend: Backend, warehouse: Warehouse
) -> None:
    """`sees_every_write` lets a `CombiningWarehouse` answer a rebuild request with the rebuild
    already running (combining.py): declared wrongly, a rebuild would skip rows another
    process had just loaded."""
    warehouse.ensure_tables([SCORES])
    other = backend.open_in_another_process()
    if warehouse.capabilities.sees_every_write:
        assert isinstance(other, str) and "lock" in other.lower(), other
    else:
        assert not isinstance(other, str)
        other.upsert(SCORES, scores(7))
        assert points(warehouse) == [(DAY, 0, 7)], "a row another process wrote"


def test_a_rebuild_onwards_replaces_the_day_and_every_later_one(warehouse: Warehouse) -> None:
    warehouse.ensure_tables([SCORES, TOTALS])
    days = [DAY + dt.timedelta(days=i) for i in range(3)]
    for i, day in enumerate(days):
        warehouse.upsert(SCORES, scores(i + 1, day=day))
    running = [RebuildTarget(TOTALS, RUNNING_SQL, onwards=True)]
    assert warehouse.rebuild(running, {"game_date": days[0]}) == [3]
    warehouse.upsert(SCORES, scores(10, day=days[1]))  # a late load of the middle day
    assert warehouse.rebuild(running, {"game_date": days[1]}) == [2]
    assert stored(warehouse, "nba_analytics.totals") == [(days[0], 1), (days[1], 11), (days[2], 14)]


def test_one_rebuild_replaces_a_days_table_and_an_onwards_one_each_in_its_own_scope(
    backend: Backend, warehouse: Warehouse
) -> None:
    """One analytics message, one rebuild call: the day's table for its date only, then the
    onwards table, which reads it, for that date and every later one (one job on BigQuery)."""
    warehouse.ensure_tables([SCORES, TOTALS, DOUBLED])
    days = [DAY + dt.timedelta(days=i) for i in range(3)]
    targets = [RebuildTarget(TOTALS, TOTALS_SQL), RebuildTarget(DOUBLED, RUNNING_DOUBLED_SQL, True)]
    for i, day in enumerate(days):
        warehouse.upsert(SCORES, scores(i + 1, day=day))
        assert warehouse.rebuild(targets, {"game_date": day}) == [1, 1]
    assert stored(warehouse, "nba_analytics.doubled") == [(days[0], 2), (days[1], 6), (days[2], 12)]
    warehouse.upsert(SCORES, scores(10, day=days[1]))  # a late load of the middle day
    jobs = sum(backend.double.counts.jobs.values()) if backend.double else 0
    assert warehouse.rebuild(targets, {"game_date": days[1]}) == [1, 2]
    if backend.double:
        assert sum(backend.double.counts.jobs.values()) == jobs + 1, "one script job"
    assert stored(warehouse, "nba_analytics.totals") == [(days[0], 1), (days[1], 10), (days[2], 3)]
    assert stored(warehouse, "nba_analytics.doubled") == [
        (days[0], 2),
        (days[1], 22),
        (days[2], 28),
    ]


def test_append_adds_every_row_and_the_table_takes_no_other_write(
    backend: Backend, warehouse: Warehouse
) -> None:
    """A streamed table never takes DML (BigQuery refuses DML over rows streamed in the last 30
    minutes, rule 4): the warehouse refuses before any job starts."""
    warehouse.ensure_tables([SCRAPER_EXECUTION_LOG])
    run = {"execution_id": "e1", "scraper_name": "bdl_games", "workflow": "MANUAL",
           "status": "success", "params": {"date": "2025-02-20"}, "game_date": DAY,
           "started_at": LOADED, "finished_at": LOADED}  # fmt: skip
    record_run(warehouse, **run)
    record_run(warehouse, **run)
    found = warehouse.query(
        "SELECT execution_id, params, game_date FROM {nba_orchestration.scraper_execution_log}"
    )
    assert [(r["execution_id"], r["game_date"]) for r in found] == [("e1", DAY)] * 2
    # JSON comes back as text from DuckDB and decoded from BigQuery; callers decode text.
    assert all(_decoded(r["params"]) == {"date": "2025-02-20"} for r in found)
    keyed = Table(SCRAPER_EXECUTION_LOG.dataset, SCRAPER_EXECUTION_LOG.name,
                  SCRAPER_EXECUTION_LOG.columns, ("execution_id",))  # fmt: skip
    jobs = dict(backend.double.counts.jobs) if backend.double else {}
    with pytest.raises(ValueError, match="is written by append"):
        warehouse.upsert(keyed, [run])
    with pytest.raises(ValueError, match="is written by append"):
        warehouse.replace(keyed, {"execution_id": "e1"}, [run])
    if backend.double:
        assert dict(backend.double.counts.jobs) == jobs, "refused before any job ran"


def _decoded(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def test_query_binds_date_int_str_and_timestamp_parameters(warehouse: Warehouse) -> None:
    warehouse.ensure_tables([BOX])
    warehouse.upsert(BOX, [box_row(1, 30, fetched_hour=5), box_row(2, 12, fetched_hour=6)])
    found = warehouse.query(
        "SELECT player_id, fetched_at FROM {nba_raw.box} WHERE game_date = @day AND pts > @floor "
        "AND execution_id <> @skip AND fetched_at >= @since ORDER BY player_id",
        {
            "day": DAY,
            "floor": 10,
            "skip": "e0",
            "since": dt.datetime(2025, 2, 21, 5, tzinfo=dt.UTC),
        },
    )
    assert found == [
        {"player_id": 1, "fetched_at": dt.datetime(2025, 2, 21, 5, tzinfo=dt.UTC)},
        {"player_id": 2, "fetched_at": dt.datetime(2025, 2, 21, 6, tzinfo=dt.UTC)},
    ]
    assert warehouse.query("SELECT 1 AS ok") == [{"ok": 1}]


def test_final_runs_reads_each_runs_final_log_row(warehouse: Warehouse) -> None:
    """audit.final_runs: a run whose publish failed has a superseding failed row (log_seq 2);
    rows from before log_seq count a failed one as final."""
    warehouse.ensure_tables([SCRAPER_EXECUTION_LOG])
    base = {"scraper_name": "bdl_games", "workflow": "MANUAL", "started_at": LOADED,
            "finished_at": LOADED}  # fmt: skip
    for execution_id, status, seq in [("e1", "success", 1), ("e1", "failed", 2),
                                      ("e2", "success", 1), ("e3", "failed", None),
                                      ("e3", "success", None)]:  # fmt: skip
        row = {"execution_id": execution_id, "status": status, "log_seq": seq}
        warehouse.append(SCRAPER_EXECUTION_LOG, [{**base, **row}])
    found = warehouse.query(
        f"SELECT execution_id, status FROM {final_runs('started_at >= @since')} "
        "ORDER BY execution_id",
        {"since": LOADED - dt.timedelta(hours=1)},
    )
    assert found == [
        {"execution_id": "e1", "status": "failed"},
        {"execution_id": "e2", "status": "success"},
        {"execution_id": "e3", "status": "failed"},
    ]


def test_rebuilds_of_different_days_of_one_table_may_overlap(backend: Backend) -> None:
    """Analytics messages for different game dates are pushed at once: their rebuilds of the
    same tables overlap, and both must succeed (on BigQuery a second transaction on a table
    is cancelled: docs/bigquery.md, rule 1)."""
    warehouse = backend.open()
    warehouse.ensure_tables([SCORES, TOTALS, DOUBLED])
    other = DAY + dt.timedelta(days=1)
    warehouse.upsert(SCORES, scores(1, 2) + scores(3, day=other))
    outcomes = backend.overlapping(
        lambda: warehouse.rebuild(BOTH, {"game_date": DAY}),
        lambda: warehouse.rebuild(BOTH, {"game_date": other}),
    )
    assert outcomes == [[1, 1], [1, 1]]
    assert stored(warehouse, "nba_analytics.doubled") == [(DAY, 6), (other, 6)]


def test_concurrent_upserts_through_the_combining_warehouse_store_every_row_once(
    backend: Backend,
) -> None:
    warehouse = CombiningWarehouse(backend.open())
    warehouse.ensure_tables([SCORES])
    errors: list[BaseException] = []

    def deliver(first: int) -> None:
        try:
            rows = scores(*range(5))
            for i, row in enumerate(rows):
                row["player_id"] = first + i
            warehouse.upsert(SCORES, rows)
            warehouse.upsert(SCORES, rows)  # a redelivery
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=deliver, args=(10 * n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert len(points(warehouse)) == 40


def jobs_run(backend: Backend) -> int:
    return sum(backend.double.counts.jobs.values()) if backend.double else 0


def test_upserts_into_several_tables_at_once_count_like_one_by_one(
    backend: Backend, warehouse: Warehouse
) -> None:
    """Combined loads (`upsert_tables`): each table and batch counted as if loaded alone, the
    newer-file rule kept, and on BigQuery one job for them all."""
    warehouse.ensure_tables([SCORES, BOX])
    warehouse.upsert(SCORES, scores(1, 2))
    warehouse.upsert(BOX, [box_row(3, 50, fetched_hour=7)])
    before = jobs_run(backend)
    counts = warehouse.upsert_tables(
        [
            (SCORES, [scores(1, 5), [], scores(9, day=DAY + dt.timedelta(days=1))]),
            (BOX, [[box_row(1, 30, fetched_hour=6)], [box_row(3, 10, fetched_hour=5)]]),
        ]
    )
    assert counts == [[1, 0, 1], [1, 0]], "an older file's row replaces nothing"
    if backend.double:
        assert jobs_run(backend) == before + 1, "one script job for both tables"
    assert box(warehouse) == [(1, 30, "e6"), (3, 50, "e7")]
    assert points(warehouse) == [(DAY, 0, 1), (DAY, 1, 5), (DAY + dt.timedelta(days=1), 0, 9)]
    assert warehouse.upsert_tables([(SCORES, [scores(1, 5)]), (BOX, [])]) == [[0], []]


def test_rebuilds_of_several_days_in_one_call_equal_one_rebuild_per_day(
    backend: Backend, warehouse: Warehouse
) -> None:
    """`rebuild_many`: every day's tables and an onwards table read as rebuilding each day in
    turn would leave them, answered per day, and on BigQuery in one job."""
    warehouse.ensure_tables([SCORES, TOTALS, DOUBLED])
    days = [DAY + dt.timedelta(days=i) for i in range(4)]
    for i, day in enumerate(days):
        warehouse.upsert(SCORES, scores(i + 1, day=day))
    targets = [RebuildTarget(TOTALS, TOTALS_SQL), RebuildTarget(DOUBLED, RUNNING_DOUBLED_SQL, True)]
    before = jobs_run(backend)
    wheres = [{"game_date": days[2]}, {"game_date": days[1]}, {"game_date": days[3]}]
    assert warehouse.rebuild_many(targets, wheres) == [[1, 2], [1, 3], [1, 1]]
    if backend.double:
        assert jobs_run(backend) == before + 1, "one script job for the three days"
    assert stored(warehouse, "nba_analytics.totals") == [(d, i + 2) for i, d in enumerate(days[1:])]
    assert stored(warehouse, "nba_analytics.doubled") == [
        (days[1], 4),
        (days[2], 10),
        (days[3], 18),
    ], "the onwards table from the earliest day, reading every day rebuilt before it"


def test_a_query_of_a_table_never_created_says_so_and_other_errors_stay_errors(
    warehouse: Warehouse,
) -> None:
    """`/admin/table-counts` shows a table no service created yet as missing, and only that:
    a broken query is an error, not a missing table."""
    with pytest.raises(TableNotFoundError):
        warehouse.query("SELECT COUNT(*) AS n FROM {nba_raw.never_created}")
    warehouse.ensure_tables([SCORES])
    with pytest.raises(Exception) as broken:
        warehouse.query("SELECT no_such_column FROM {nba_raw.scores}")
    assert not isinstance(broken.value, TableNotFoundError)
