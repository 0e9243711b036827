"""BigQuery warehouse: the DDL, load jobs, MERGE and queries it issues, checked without network."""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from google.cloud import bigquery

from libs.common.analytics import (
    PLAYER_GAME_SUMMARY,
    PLAYER_GAME_SUMMARY_SQL,
    TEAM_GAME_SUMMARY,
    TEAM_GAME_SUMMARY_SQL,
    builds_reading,
)
from libs.common.audit import PROCESSED_MESSAGES, SCRAPER_EXECUTION_LOG
from libs.common.sources.balldontlie import BDL_GAMES
from libs.common.warehouse.base import RebuildTarget
from libs.common.warehouse.bigquery import (
    MUTATING_DML_PER_TABLE,
    BigQueryConfig,
    BigQueryWarehouse,
)
from libs.common.warehouse.bigquery.client import merge_sql, schema_fields, upsert_script
from services.scrapers.tables import WORKFLOW_DECISIONS


@dataclass
class Job:
    rows: list[dict[str, Any]] = field(default_factory=lambda: [{"batch": 0, "n": 3}])

    def result(self) -> list[dict[str, Any]]:
        return self.rows


@dataclass
class RecordingClient:
    """Stands in for bigquery.Client and keeps every call."""

    calls: list[tuple[str, Any, Any]] = field(default_factory=list)
    stream_errors: list[dict[str, Any]] = field(default_factory=list)
    existing: dict[str, Any] = field(default_factory=dict)
    """Tables that already exist, by table id: create_table(exists_ok=True) returns them."""

    def create_dataset(self, dataset: Any, exists_ok: bool) -> None:
        self.calls.append(("create_dataset", dataset, exists_ok))

    def create_table(self, table: Any, exists_ok: bool) -> Any:
        self.calls.append(("create_table", table, exists_ok))
        return self.existing.get(table.table_id, table)

    def update_table(self, table: Any, fields: list[str]) -> None:
        self.calls.append(("update_table", table, fields))

    def load_table_from_json(self, rows: Any, table_id: str, job_config: Any) -> Job:
        self.calls.append(("load", (table_id, rows), job_config))
        return Job()

    def insert_rows_json(self, table_id: str, rows: Any) -> list[dict[str, Any]]:
        self.calls.append(("stream", table_id, rows))
        return self.stream_errors

    def query(self, sql: str, job_config: Any = None) -> Job:
        self.calls.append(("query", sql, job_config))
        return Job()

    def delete_table(self, table_id: str, not_found_ok: bool) -> None:
        self.calls.append(("delete_table", table_id, not_found_ok))

    def of(self, kind: str) -> list[tuple[str, Any, Any]]:
        return [c for c in self.calls if c[0] == kind]


DAY = dt.date(2025, 2, 20)
ROOT = Path(__file__).resolve().parents[2]


def warehouse() -> tuple[BigQueryWarehouse, RecordingClient]:
    client = RecordingClient()
    return BigQueryWarehouse("proj", client=client), client


def test_tables_are_created_partitioned_and_clustered_from_the_one_declaration() -> None:
    w, client = warehouse()
    w.ensure_tables([BDL_GAMES])
    ((_, dataset, exists_ok),) = client.of("create_dataset")
    assert dataset.dataset_id == "nba_raw" and exists_ok
    ((_, table, _),) = client.of("create_table")
    assert (table.project, table.dataset_id, table.table_id) == ("proj", "nba_raw", "bdl_games")
    assert [f.name for f in table.schema] == list(BDL_GAMES.column_names)
    assert table.schema[0] == bigquery.SchemaField(
        "game_id", "INT64", mode="REQUIRED", description="balldontlie game id"
    )
    assert table.time_partitioning.field == "game_date"
    assert table.clustering_fields == ["game_id"]


def test_an_upsert_is_one_script_job_with_its_rows_in_the_request() -> None:
    """Rows as one typed array-of-structs parameter into a temporary table, the changed rows
    counted, the MERGE, the counts as the script's result: one job, no load, nothing to drop."""
    w, client = warehouse()
    row = {name: None for name in BDL_GAMES.column_names} | {
        "game_id": 1,
        "game_date": dt.date(2025, 2, 20),
        "loaded_at": dt.datetime(2025, 2, 21, tzinfo=dt.UTC),
    }
    assert w.upsert(BDL_GAMES, [row]) == 3
    assert client.of("load") == [] and client.of("delete_table") == []
    ((_, script, config),) = client.of("query")
    (param,) = config.query_parameters
    assert (param.name, param.array_type) == ("rows", "STRUCT")
    (struct,) = param.values
    assert struct.struct_types["game_id"] == "INT64" and struct.struct_types["_batch"] == "INT64"
    assert struct.struct_values["game_date"] == dt.date(2025, 2, 20)
    assert struct.struct_values["_batch"] == 0
    staged, changed, merge, answer = script.split(";\n")
    assert staged.startswith("CREATE TEMP TABLE staged_rows AS SELECT `game_id`, ")
    assert staged.endswith(", `_batch` FROM UNNEST(@rows)")
    assert changed.startswith("CREATE TEMP TABLE changed_rows AS SELECT S.`_batch` AS batch")
    assert merge == merge_sql("proj.nba_raw.bdl_games", "staged_rows", BDL_GAMES)
    assert "ON T.`game_id` = S.`game_id`" in merge  # keys are NOT NULL
    assert "WHEN MATCHED AND (T.`fetched_at` IS NULL OR S.`fetched_at` > T.`fetched_at`" in merge
    assert "WHEN NOT MATCHED THEN INSERT (`game_id`," in merge and "_batch" not in merge
    assert answer == "SELECT 0 AS part, batch, n FROM changed_rows;"


def test_a_json_column_travels_as_its_text_and_is_parsed_in_the_script() -> None:
    w, client = warehouse()
    row = {name: None for name in WORKFLOW_DECISIONS.column_names} | {
        "decision_id": "d1", "execution_ids": ["e1", "e2"],
    }  # fmt: skip
    w.upsert(WORKFLOW_DECISIONS, [row])
    ((_, script, config),) = client.of("query")
    (struct,) = config.query_parameters[0].values
    assert struct.struct_types["execution_ids"] == "STRING"
    assert struct.struct_values["execution_ids"] == '["e1", "e2"]'
    assert "PARSE_JSON(`execution_ids`) AS `execution_ids`" in script


def test_upsert_many_sends_every_batch_in_one_request_and_counts_changes_per_batch() -> None:
    w, client = warehouse()
    client.query = lambda sql, job_config=None: (  # type: ignore[method-assign]
        client.calls.append(("query", sql, job_config)) or Job([{"batch": 2, "n": 1}, {"batch": 0, "n": 4}])
    )  # fmt: skip
    base = {name: None for name in BDL_GAMES.column_names} | {"game_date": dt.date(2025, 2, 20)}
    batches = [[base | {"game_id": 1}, base | {"game_id": 2}], [], [base | {"game_id": 3}]]
    assert w.upsert_many(BDL_GAMES, batches) == [4, 0, 1]
    ((_, script, config),) = client.of("query")
    sent = [
        (s.struct_values["game_id"], s.struct_values["_batch"])
        for s in config.query_parameters[0].values
    ]
    assert sent == [(1, 0), (2, 0), (3, 2)]
    assert "GROUP BY batch" in script


def test_a_load_too_heavy_for_one_request_is_staged_by_a_load_job_then_one_script() -> None:
    """BigQuery refuses a request over 10 MB, parameters included: above the configured bound
    the rows go by a load job (no size limit that matters here) and the same script reads them."""
    client = RecordingClient()
    w = BigQueryWarehouse(BigQueryConfig("proj", max_inline_request_bytes=2000), client=client)
    base = {name: None for name in BDL_GAMES.column_names} | {"game_date": dt.date(2025, 2, 20)}
    rows = [base | {"game_id": i} for i in range(20)]
    assert w.upsert(BDL_GAMES, rows) == 3
    ((_, (staging, payload), config),) = client.of("load")
    assert staging.startswith("proj.nba_raw.bdl_games__staging_")
    assert config.write_disposition == "WRITE_TRUNCATE" and config.schema[-1].name == "_batch"
    assert payload[0]["game_date"] == "2025-02-20" and payload[0]["_batch"] == 0
    ((_, script, script_config),) = client.of("query")
    assert script == upsert_script("proj.nba_raw.bdl_games", staging, BDL_GAMES)
    assert script_config is None or not script_config.query_parameters
    assert client.of("delete_table") == [("delete_table", staging, True)]


def test_rebuilds_of_several_tables_are_one_script_job_with_typed_parameters() -> None:
    w, client = warehouse()
    client.query = lambda sql, job_config=None: (  # type: ignore[method-assign]
        client.calls.append(("query", sql, job_config)) or Job([{"n0": 7, "n1": 2}])
    )
    day = dt.date(2025, 2, 20)
    targets = [
        RebuildTarget(PLAYER_GAME_SUMMARY, PLAYER_GAME_SUMMARY_SQL),
        RebuildTarget(TEAM_GAME_SUMMARY, TEAM_GAME_SUMMARY_SQL),
    ]
    assert w.rebuild(targets, {"game_date": day}) == [7, 2]
    ((_, script, config),) = client.of("query")
    assert "TRANSACTION" not in script, "BigQuery cancels a transaction racing another (rule 1)"
    merges = [
        "MERGE `proj.nba_analytics.player_game_summary` T USING (",
        "MERGE `proj.nba_analytics.team_game_summary` T USING (",
    ]
    assert script.index(merges[0]) < script.index(merges[1]) < script.index("SELECT (SELECT COUNT")
    assert (
        script.count(
            "ON FALSE WHEN NOT MATCHED BY SOURCE AND T.`game_date` = @game_date THEN DELETE"
        )
        == 2
    )
    assert "FROM `proj.nba_raw.bdl_player_boxscores` b" in script
    assert "FROM `proj.nba_analytics.player_game_summary`" in script.split(merges[1])[1]
    assert script.rstrip().endswith("AS n1;")
    (param,) = config.query_parameters
    assert (param.name, param.type_, param.value) == ("game_date", "DATE", day)


def test_log_rows_are_streamed_not_loaded_so_no_load_job_quota_applies() -> None:
    w, client = warehouse()
    started = dt.datetime(2025, 2, 20, 18, 0, tzinfo=dt.UTC)
    run = {"execution_id": "e1", "scraper_name": "bdl_games", "params": {"date": "2025-02-20"},
           "game_date": dt.date(2025, 2, 20), "started_at": started}  # fmt: skip
    w.append(SCRAPER_EXECUTION_LOG, [run])
    ((_, table_id, rows),) = client.of("stream")
    assert table_id == "proj.nba_orchestration.scraper_execution_log"
    assert rows[0]["params"] == '{"date": "2025-02-20"}' and rows[0]["game_date"] == "2025-02-20"
    assert rows[0]["started_at"] == "2025-02-20T18:00:00+00:00" and rows[0]["status"] is None
    assert client.of("load") == [] and client.of("query") == []


def test_refused_streamed_rows_raise_naming_the_table() -> None:
    w, client = warehouse()
    client.stream_errors = [{"index": 0, "errors": [{"reason": "invalid", "message": "no"}]}]
    with pytest.raises(RuntimeError, match=r"streamed into nba_orchestration\.processed_messages"):
        w.append(PROCESSED_MESSAGES, [{"message_id": "m1"}])


def test_processed_messages_are_clustered_by_the_work_key_lookup_without_a_natural_key() -> None:
    w, client = warehouse()
    w.ensure_tables([PROCESSED_MESSAGES])
    ((_, table, _),) = client.of("create_table")
    assert PROCESSED_MESSAGES.natural_key == ()
    assert table.clustering_fields == ["work_key", "execution_id"]


def test_schema_fields_mark_required_columns() -> None:
    modes = {f.name: f.mode for f in schema_fields(BDL_GAMES)}
    assert modes["game_id"] == "REQUIRED" and modes["season"] == "NULLABLE"


def test_a_declared_column_missing_from_an_existing_table_is_added_nullable() -> None:
    """BigQuery can add NULLABLE columns to a table (never REQUIRED ones), so an upgrade
    updates the schema in place instead of failing every load that names the new column."""
    w, client = warehouse()
    old = bigquery.Table("proj.nba_raw.bdl_games", schema=schema_fields(BDL_GAMES)[:-1])
    client.existing["bdl_games"] = old
    w.ensure_tables([BDL_GAMES])
    ((_, updated, fields),) = client.of("update_table")
    assert fields == ["schema"]
    assert [f.name for f in updated.schema] == list(BDL_GAMES.column_names)
    assert updated.schema[-1].mode == "NULLABLE"
    client.calls.clear()
    client.existing["bdl_games"] = bigquery.Table(
        "proj.nba_raw.bdl_games", schema=schema_fields(BDL_GAMES)
    )
    w.ensure_tables([BDL_GAMES])
    assert client.of("update_table") == []


def test_a_rebuild_onwards_replaces_every_later_partition() -> None:
    """A rolling window's table: a late load of one day refreshes the days after it."""
    w, client = warehouse()
    client.query = lambda sql, job_config=None: (  # type: ignore[method-assign]
        client.calls.append(("query", sql, job_config)) or Job([{"n0": 3}])
    )
    onwards = RebuildTarget(TEAM_GAME_SUMMARY, TEAM_GAME_SUMMARY_SQL, onwards=True)
    assert w.rebuild([onwards], {"game_date": DAY}) == [3]
    ((_, script, _),) = client.of("query")
    assert "NOT MATCHED BY SOURCE AND T.`game_date` >= @game_date THEN DELETE" in script


def test_a_days_tables_and_an_onwards_one_are_one_script_job_each_in_its_own_scope() -> None:
    """An analytics message's rebuild is one job: BigQuery has no lock to wait on between the
    scopes, only each MERGE's own atomicity."""
    w, client = warehouse()
    client.query = lambda sql, job_config=None: (  # type: ignore[method-assign]
        client.calls.append(("query", sql, job_config)) or Job([{"n0": 4, "n1": 9}])
    )
    targets = [build.target for build in builds_reading("nba_raw.bdl_player_boxscores")][-2:]
    assert [t.onwards for t in targets] == [False, True]
    assert w.rebuild(targets, {"game_date": DAY}) == [4, 9]
    ((_, script, config),) = client.of("query")
    day, onwards = script.split(f"MERGE `proj.{targets[1].table.fqn}` T")
    assert "T.`game_date` = @game_date THEN DELETE" in day
    assert "`game_date` >= @game_date" not in day
    assert "T.`game_date` >= @game_date THEN DELETE" in onwards
    assert "WHERE `game_date` >= @game_date) AS n1" in onwards
    assert [p.name for p in config.query_parameters] == ["game_date"]


def test_replace_is_one_script_job_of_one_merge_without_a_transaction() -> None:
    w, client = warehouse()
    w.replace(BDL_GAMES, {"game_date": DAY}, [{"game_id": 1, "game_date": DAY}])
    assert client.of("load") == [] and client.of("delete_table") == []
    ((_, script, config),) = client.of("query")
    staged, merge = script.split(";\n")
    assert (
        staged.startswith("CREATE TEMP TABLE staged_rows AS")
        and "UNNEST(@replacement_rows)" in staged
    )
    assert merge.startswith("MERGE `proj.nba_raw.bdl_games` T USING staged_rows S ON FALSE")
    assert "TRANSACTION" not in script
    assert [p.name for p in config.query_parameters] == ["game_date", "replacement_rows"]
    [row] = config.query_parameters[1].values
    assert row.struct_values["game_id"] == 1


def test_a_replace_with_no_rows_empties_the_partition_in_one_merge() -> None:
    w, client = warehouse()
    w.replace(BDL_GAMES, {"game_date": DAY}, [])
    ((_, merge, config),) = client.of("query")
    assert merge.startswith(
        "MERGE `proj.nba_raw.bdl_games` T USING (SELECT * FROM `proj.nba_raw.bdl_games` WHERE FALSE)"
    )
    assert [p.name for p in config.query_parameters] == ["game_date"]


def test_a_replace_too_heavy_for_one_request_is_staged_by_a_load_job() -> None:
    client = RecordingClient()
    w = BigQueryWarehouse(BigQueryConfig("proj", max_inline_request_bytes=2000), client=client)
    rows = [{"game_id": i, "game_date": DAY} for i in range(40)]
    w.replace(BDL_GAMES, {"game_date": DAY}, rows)
    ((_, (staging, payload), _),) = client.of("load")
    assert len(payload) == 40
    ((_, merge, config),) = client.of("query")
    assert merge.startswith(f"MERGE `proj.nba_raw.bdl_games` T USING `{staging}` S ON FALSE")
    assert [p.name for p in config.query_parameters] == ["game_date"]
    assert client.of("delete_table") == [("delete_table", staging, True)]


def test_a_streamed_table_never_takes_dml() -> None:
    """BigQuery refuses DML over rows streamed in the last 30 minutes (rule 4): a table the
    warehouse streams to is refused for upserts, replaces and rebuilds, before any job."""
    w, client = warehouse()
    w.append(PROCESSED_MESSAGES, [{"message_id": "m1"}])
    with pytest.raises(ValueError, match="written by append"):
        w.replace(PROCESSED_MESSAGES, {"phase": "processors"}, [])
    assert client.of("query") == []


def test_each_instance_runs_at_most_two_mutating_statements_per_table() -> None:
    """BigQuery runs 2 mutating DML statements per table and queues 20 (rule 2)."""
    w, client = warehouse()
    running, peak, lock = 0, 0, threading.Lock()
    release = threading.Event()

    def query(sql: str, job_config: Any = None) -> Job:
        nonlocal running, peak
        if sql.startswith("MERGE"):
            with lock:
                running += 1
                peak = max(peak, running)
            release.wait(0.2)
            with lock:
                running -= 1
        return Job([])

    client.query = query  # type: ignore[method-assign]
    threads = [
        threading.Thread(target=w.replace, args=(BDL_GAMES, {"game_date": DAY}, []))
        for _ in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert peak == 2


BIGQUERY_MUTATING_DML_PER_TABLE = 2 + 20
"""Running plus queued mutating DML statements BigQuery accepts per table; more fail
(https://cloud.google.com/bigquery/docs/data-manipulation-language, "UPDATE, DELETE, MERGE DML
concurrency")."""


@pytest.mark.parametrize("service", ["scrapers", "processors", "analytics"])
def test_every_instance_together_stays_inside_the_dml_queue(service: str) -> None:
    """Each writing service's max instances times the per-instance bound fits the queue, so
    scaling out cannot make BigQuery fail a load or a rebuild with 'too many DML statements'."""
    manifest = yaml.safe_load((ROOT / "deploy" / "cloudrun" / f"{service}.yaml").read_text())
    annotations = manifest["spec"]["template"]["metadata"]["annotations"]
    instances = int(annotations["autoscaling.knative.dev/maxScale"])
    assert instances * MUTATING_DML_PER_TABLE <= BIGQUERY_MUTATING_DML_PER_TABLE


def test_json_columns_are_compared_as_their_text() -> None:
    """BigQuery has no equality on JSON: an upsert of a table with a JSON column (the
    orchestration tables) would be refused if it compared them with IS DISTINCT FROM."""
    from libs.common.warehouse.bigquery.client import merge_sql
    from services.scrapers.tables import SCRAPER_FAILURES

    merge = merge_sql("proj.nba_orchestration.scraper_failures", "staging", SCRAPER_FAILURES)
    assert "TO_JSON_STRING(T.`params`) IS DISTINCT FROM TO_JSON_STRING(S.`params`)" in merge
    assert "T.`params` IS DISTINCT FROM" not in merge
