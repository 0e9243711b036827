"""Several Cloud Run instances writing one BigQuery table at once stay inside its DML queue
(BigQuery runs 2 mutating statements per table and queues 20: rule 2 in docs/bigquery.md,
where each instance runs at most `MUTATING_DML_PER_TABLE` of them, so 11 instances fit)."""

from __future__ import annotations

import datetime as dt
import threading
import time

from google.api_core.exceptions import BadRequest

from libs.common.warehouse.bigquery import MUTATING_DML_PER_TABLE, BigQueryWarehouse
from tests.utils.bigquery_double import BigQueryDouble
from tests.utils.bigquery_double.rules import MUTATING_DML_QUEUE, MUTATING_DML_RUNNING
from tests.utils.tables import SCORES

DAY = dt.date(2025, 2, 20)
FITTING = (MUTATING_DML_RUNNING + MUTATING_DML_QUEUE) // MUTATING_DML_PER_TABLE


def upserts_while_the_table_is_busy(instances: int) -> list[BaseException]:
    """Every instance upserts into one table from as many threads as it may, all arriving
    while a first MERGE holds the table; the errors raised."""
    double = BigQueryDouble()
    warehouses = [BigQueryWarehouse(double.project, client=double) for _ in range(instances)]
    warehouses[0].ensure_tables([SCORES])
    hold = double.hold_next_commit()
    errors: list[BaseException] = []

    def upsert(w: BigQueryWarehouse, player: int) -> None:
        row = {
            "game_date": DAY,
            "player_id": player,
            "pts": 1,
            "loaded_at": dt.datetime.now(dt.UTC),
        }
        try:
            w.upsert(SCORES, [row])
        except BaseException as error:
            errors.append(error)

    threads = [
        threading.Thread(target=upsert, args=(w, i * MUTATING_DML_PER_TABLE + n))
        for i, w in enumerate(warehouses)
        for n in range(MUTATING_DML_PER_TABLE)
    ]
    threads[0].start()
    assert hold.reached.wait(10)
    for thread in threads[1:]:
        thread.start()
    deadline = time.monotonic() + 10
    while double.activity.busy() + len(errors) < len(threads) and time.monotonic() < deadline:
        time.sleep(0.01)  # every statement is queued, or refused, before the table frees
    hold.release()
    for thread in threads:
        thread.join(30)
    rows = warehouses[0].query("SELECT COUNT(*) AS n FROM {nba_raw.scores}")
    assert rows[0]["n"] == len(threads) - len(errors)
    return errors


def test_as_many_instances_as_the_queue_holds_all_write() -> None:
    assert FITTING == 11
    assert upserts_while_the_table_is_busy(FITTING) == []


def test_one_instance_more_and_bigquery_refuses_its_statements() -> None:
    errors = upserts_while_the_table_is_busy(FITTING + 1)
    assert len(errors) == MUTATING_DML_PER_TABLE
    assert all(isinstance(e, BadRequest) and "Too many DML statements" in str(e) for e in errors)
