"""The BigQuery client double keeps BigQuery's rules: each rule raises BigQuery's own error
where BigQuery would, and only there (tests/utils/bigquery_double/rules.py cites the pages)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from google.api_core.exceptions import BadRequest, Conflict, NotFound
from google.cloud import bigquery

from tests.utils.bigquery_double import BigQueryDouble
from tests.utils.threads import in_thread

T = "nba-test.d.t"
S = "nba-test.d.s"
SCHEMA = [bigquery.SchemaField("k", "INT64", mode="REQUIRED"), bigquery.SchemaField("v", "INT64")]


@pytest.fixture
def double() -> BigQueryDouble:
    """A double with dataset `d` and an empty table `t` (k REQUIRED, v)."""
    client = BigQueryDouble()
    client.create_dataset("nba-test.d")
    client.create_table(bigquery.Table(T, schema=SCHEMA))
    return client


def load(client: BigQueryDouble, table_id: str, *rows: tuple[int, int | None]) -> None:
    config = bigquery.LoadJobConfig(schema=SCHEMA, write_disposition="WRITE_APPEND")
    payload = [{"k": k, "v": v} for k, v in rows]
    client.load_table_from_json(payload, table_id, job_config=config).result()


def rows(client: BigQueryDouble, table_id: str = T) -> list[tuple[Any, ...]]:
    found = client.query(f"SELECT k, v FROM `{table_id}` ORDER BY k, v").result()
    return [(row["k"], row["v"]) for row in found]


def run(client: BigQueryDouble, sql: str, **params: tuple[str, Any]) -> list[bigquery.Row]:
    config = bigquery.QueryJobConfig(
        query_parameters=[bigquery.ScalarQueryParameter(n, t, v) for n, (t, v) in params.items()]
    )
    return list(client.query(sql, job_config=config).result())


def test_a_statement_bigquery_would_not_parse_fails_as_a_syntax_error(
    double: BigQueryDouble,
) -> None:
    with pytest.raises(BadRequest, match="Syntax error"):
        run(double, "SELEC 1")
    with pytest.raises(BadRequest, match="Syntax error"):
        run(double, f"SELECT k FROM `{T}` LIMIT")


def test_rules_a_parse_cannot_see_fail_as_bigquery_fails_them(double: BigQueryDouble) -> None:
    with pytest.raises(BadRequest, match="DELETE must have a WHERE clause"):
        run(double, f"DELETE FROM `{T}`")
    with pytest.raises(BadRequest, match=r'Table "t" must be qualified with a dataset'):
        run(double, "SELECT * FROM t")
    with pytest.raises(BadRequest, match="Query parameter 'missing' not found"):
        run(double, f"SELECT k FROM `{T}` WHERE k = @missing")
    with pytest.raises(NotFound, match=r"Not found: Table nba-test:d\.nope was not found"):
        run(double, "SELECT 1 FROM `nba-test.d.nope`")


def test_a_merge_whose_target_row_matches_two_source_rows_is_refused(
    double: BigQueryDouble,
) -> None:
    """Rule 3, and nothing changes; without a WHEN MATCHED clause two source rows are fine."""
    load(double, T, (1, 10))
    double.create_table(bigquery.Table(S, schema=SCHEMA))
    load(double, S, (1, 11), (1, 12), (2, 20))
    merge = (
        f"MERGE `{T}` T USING `{S}` S ON T.k = S.k "
        "WHEN MATCHED THEN UPDATE SET v = S.v WHEN NOT MATCHED THEN INSERT (k, v) VALUES (S.k, S.v)"
    )
    with pytest.raises(BadRequest, match="UPDATE/MERGE must match at most one source row"):
        run(double, merge)
    assert rows(double) == [(1, 10)]
    run(
        double,
        f"MERGE `{T}` T USING `{S}` S ON T.k = S.k "
        "WHEN NOT MATCHED THEN INSERT (k, v) VALUES (S.k, S.v)",
    )
    assert rows(double) == [(1, 10), (2, 20)]


def test_dml_over_rows_streamed_in_the_last_30_minutes_is_refused(double: BigQueryDouble) -> None:
    """Rule 4 by row: loaded rows of the same table stay changeable, streamed ones only after
    30 minutes of the double's clock."""
    load(double, T, (1, 10))
    assert double.insert_rows_json(T, [{"k": 2, "v": 20}]) == []
    run(double, f"UPDATE `{T}` SET v = 11 WHERE k = 1")
    for statement in (
        f"DELETE FROM `{T}` WHERE TRUE",
        f"UPDATE `{T}` SET v = 21 WHERE k = 2",
        f"MERGE `{T}` T USING (SELECT 2 AS k) S ON FALSE "
        "WHEN NOT MATCHED BY SOURCE AND T.k = 2 THEN DELETE",
    ):
        with pytest.raises(BadRequest, match=f"over table {T} would affect rows in the stream"):
            run(double, statement)
    assert rows(double) == [(1, 11), (2, 20)]
    double.clock.advance(minutes=29)
    with pytest.raises(BadRequest, match="streaming buffer"):
        run(double, f"DELETE FROM `{T}` WHERE k = 2")
    double.clock.advance(minutes=2)
    run(double, f"DELETE FROM `{T}` WHERE k = 2")
    assert rows(double) == [(1, 11)]


def test_a_transaction_mutating_a_table_another_is_mutating_is_aborted(
    double: BigQueryDouble,
) -> None:
    """Rule 1: the later transaction fails with BigQuery's error; the first one commits."""
    double.create_table(bigquery.Table(S, schema=SCHEMA))
    hold = double.hold_next_commit()
    script = "BEGIN TRANSACTION; DELETE FROM `{t}` WHERE k = {k}; INSERT INTO `{t}` VALUES ({k}, 1); COMMIT TRANSACTION;"
    first, outcome = in_thread(lambda: run(double, script.format(t=T, k=1)))
    assert hold.reached.wait(5)
    with pytest.raises(
        BadRequest, match=f"Transaction is aborted due to concurrent update against table {T}"
    ):
        run(double, script.format(t=T, k=2))
    run(double, script.format(t=S, k=3))  # another table: no conflict
    hold.release()
    first.join(5)
    assert outcome == [[]]
    assert rows(double) == [(1, 1)], "the aborted transaction left nothing behind"
    run(double, script.format(t=T, k=2))  # once the first ended, the table is free again
    assert rows(double) == [(1, 1), (2, 1)]


def test_dml_outside_a_transaction_waits_for_it_and_the_queue_holds_twenty(
    double: BigQueryDouble,
) -> None:
    """Rule 2: mutating DML conflicting with a transaction is queued, not cancelled; past 20
    waiting statements the next one fails; the queued ones all run once the table frees."""
    load(double, T, *[(k, 0) for k in range(25)])
    hold = double.hold_next_commit()
    holder, _ = in_thread(
        lambda: run(double, f"BEGIN TRANSACTION; UPDATE `{T}` SET v = 1 WHERE k = 0; COMMIT TRANSACTION;")
    )  # fmt: skip
    assert hold.reached.wait(5)
    queued = [in_thread(lambda k=k: run(double, f"UPDATE `{T}` SET v = 2 WHERE k = {k}"))
              for k in range(1, 21)]  # fmt: skip
    assert double.activity.wait_for_pending(T, 20, timeout=5)
    with pytest.raises(
        BadRequest,
        match=r"Too many DML statements outstanding against table nba-test:d\.t, limit is 20",
    ):
        run(double, f"UPDATE `{T}` SET v = 3 WHERE k = 21")
    hold.release()
    for thread, outcome in [(holder, None), *queued]:
        thread.join(5)
        assert outcome is None or outcome == [[]]
    assert [v for _, v in rows(double)] == [1, *[2] * 20, *[0] * 4]


def test_a_script_is_atomic_inside_its_transaction(double: BigQueryDouble) -> None:
    load(double, T, (1, 10))
    with pytest.raises(BadRequest):
        run(double, f"BEGIN TRANSACTION; DELETE FROM `{T}` WHERE TRUE; "
                    f"INSERT INTO `{T}` (k, v) VALUES (NULL, 1); COMMIT TRANSACTION;")  # fmt: skip
    assert rows(double) == [(1, 10)]
    found = run(double, f"BEGIN TRANSACTION; DELETE FROM `{T}` WHERE k = 1; COMMIT TRANSACTION; "
                        f"SELECT COUNT(*) AS n FROM `{T}`;")  # fmt: skip
    assert [dict(row.items()) for row in found] == [{"n": 0}], "the last statement's rows"


def test_parameters_are_typed_as_bigquery_types_them(double: BigQueryDouble) -> None:
    at = dt.datetime(2025, 2, 21, 5, 30, tzinfo=dt.UTC)
    (row,) = run(
        double,
        "SELECT @d AS d, @d < DATE '2025-02-21' AS before, @n + 1 AS n, @s AS s, "
        "@t AS t, @b AS b, @f * 2 AS f, @missing IS NULL AS missing",
        d=("DATE", dt.date(2025, 2, 20)), n=("INT64", 41), s=("STRING", "it's"),
        t=("TIMESTAMP", at), b=("BOOL", True), f=("FLOAT64", 1.25), missing=("STRING", None),
    )  # fmt: skip
    assert dict(row.items()) == {
        "d": dt.date(2025, 2, 20), "before": True, "n": 42, "s": "it's",
        "t": at, "b": True, "f": 2.5, "missing": True,
    }  # fmt: skip
    assert row["t"].tzinfo == dt.UTC and row["n"] == row[2] == row.n


def rows_parameter(*rows: dict[str, Any]) -> bigquery.ArrayQueryParameter:
    """`rows` as an array of STRUCT<k INT64, d DATE, s STRING> (None for NULL)."""
    fields = (("k", "INT64"), ("d", "DATE"), ("s", "STRING"))
    return bigquery.ArrayQueryParameter("rows", "STRUCT", [
        bigquery.StructQueryParameter(None, *(
            bigquery.ScalarQueryParameter(name, type_, row.get(name)) for name, type_ in fields
        )) for row in rows
    ])  # fmt: skip


def test_an_array_of_structs_unnests_into_typed_columns_of_a_scripts_temporary_table(
    double: BigQueryDouble,
) -> None:
    """How a load sends its rows in the request: a temporary table from UNNEST(@rows), read by
    the statements after it and gone when the script ends."""
    param = rows_parameter({"k": 1, "d": dt.date(2025, 2, 20), "s": "a"}, {"k": 2})
    config = bigquery.QueryJobConfig(query_parameters=[param])
    script = (
        "CREATE TEMP TABLE staged AS SELECT k, d, s FROM UNNEST(@rows);\n"
        f"INSERT INTO `{T}` (k, v) SELECT k, EXTRACT(DAY FROM d) FROM staged;\n"
        "SELECT k, d, s FROM staged ORDER BY k;"
    )
    found = double.query(script, job_config=config).result()
    assert [dict(row.items()) for row in found] == [
        {"k": 1, "d": dt.date(2025, 2, 20), "s": "a"}, {"k": 2, "d": None, "s": None},
    ]  # fmt: skip
    assert rows(double) == [(1, 20), (2, None)]
    assert double.counts.jobs == {"query": 2}, "one script, one job (and the read)"
    with pytest.raises(BadRequest, match="must be qualified with a dataset"):
        double.query("SELECT k FROM staged").result()


def test_a_temporary_table_needs_a_script(double: BigQueryDouble) -> None:
    config = bigquery.QueryJobConfig(query_parameters=[rows_parameter({"k": 1})])
    with pytest.raises(BadRequest, match="CREATE TEMPORARY TABLE requires a script or session"):
        double.query("CREATE TEMP TABLE staged AS SELECT k FROM UNNEST(@rows)", config).result()


def test_a_request_over_ten_megabytes_is_refused_before_any_job(double: BigQueryDouble) -> None:
    """Query parameters count towards BigQuery's request size limit."""
    megabyte = "x" * 2**20
    fits = rows_parameter(*({"k": i, "s": megabyte} for i in range(9)))
    config = bigquery.QueryJobConfig(query_parameters=[fits])
    (row,) = double.query("SELECT COUNT(*) AS n FROM UNNEST(@rows)", config).result()
    assert row["n"] == 9
    too_big = rows_parameter(*({"k": i, "s": megabyte} for i in range(10)))
    with pytest.raises(BadRequest, match=r"Request payload size exceeds the limit: 10485760"):
        double.query("SELECT 1 AS one", bigquery.QueryJobConfig(query_parameters=[too_big]))
    assert double.counts.jobs == {"query": 1}, "the refused request made no job"


def test_load_jobs_truncate_or_append_and_refuse_rows_the_schema_refuses(
    double: BigQueryDouble,
) -> None:
    load(double, T, (1, 10))
    config = bigquery.LoadJobConfig(schema=SCHEMA, write_disposition="WRITE_TRUNCATE")
    double.load_table_from_json([{"k": 2, "v": None}], T, job_config=config).result()
    assert rows(double) == [(2, None)]
    for bad, message in (({"k": 3, "x": 1}, "No such field: x"),
                         ({"v": 1}, "Missing required field: k")):  # fmt: skip
        job = double.load_table_from_json([bad], T, job_config=config)
        with pytest.raises(BadRequest, match=f"(?i){message}"):
            job.result()
    assert rows(double) == [(2, None)], "a refused load changes nothing"
    assert double.counts.jobs["load"] == 4 and double.counts.loads[T] == 4


def test_streamed_rows_a_schema_refuses_insert_nothing(double: BigQueryDouble) -> None:
    errors = double.insert_rows_json(T, [{"k": 1}, {"k": 2, "nope": 1}])
    assert [(e["index"], e["errors"][0]["reason"]) for e in errors] == [
        (0, "stopped"),
        (1, "invalid"),
    ]
    assert rows(double) == []
    assert double.insert_rows_json(T, [{"k": 1}]) == [] and rows(double) == [(1, None)]
    assert double.counts.streamed[T] == 1 and double.counts.jobs["query"] == 2


def test_tables_are_checked_as_bigquery_checks_them(double: BigQueryDouble) -> None:
    with pytest.raises(Conflict):
        double.create_table(bigquery.Table(T, schema=SCHEMA))
    assert [f.name for f in double.create_table(bigquery.Table(T), exists_ok=True).schema] == [
        "k",
        "v",
    ]
    by_string = bigquery.Table("nba-test.d.p", schema=[bigquery.SchemaField("s", "STRING")])
    by_string.time_partitioning = bigquery.TimePartitioning(field="s")
    with pytest.raises(BadRequest, match="partitioning can only be of type TIMESTAMP, DATE"):
        double.create_table(by_string)
    wide = bigquery.Table(
        "nba-test.d.w", schema=[bigquery.SchemaField(c, "INT64") for c in "abcde"]
    )
    wide.clustering_fields = list("abcde")
    with pytest.raises(BadRequest, match="Too many clustering fields: 5"):
        double.create_table(wide)
    with pytest.raises(NotFound, match="Dataset nba-test:nope"):
        double.create_table(bigquery.Table("nba-test.nope.t", schema=SCHEMA))
    table = double.get_table(T)
    table.schema = [*table.schema, bigquery.SchemaField("r", "STRING", mode="REQUIRED")]
    with pytest.raises(BadRequest, match="Cannot add required fields"):
        double.update_table(table, ["schema"])
    table.schema = [*table.schema[:2], bigquery.SchemaField("n", "STRING")]
    double.update_table(table, ["schema"])
    assert [f.name for f in double.get_table(T).schema] == ["k", "v", "n"]
    double.delete_table(T)
    double.delete_table(T, not_found_ok=True)
    with pytest.raises(NotFound):
        double.get_table(T)


def test_jobs_and_dml_statements_are_counted_per_table(double: BigQueryDouble) -> None:
    load(double, T, (1, 1))
    run(double, f"BEGIN TRANSACTION; DELETE FROM `{T}` WHERE k = 1; "
                f"INSERT INTO `{T}` (k) VALUES (2); COMMIT TRANSACTION; SELECT 1 AS one;")  # fmt: skip
    assert double.counts.jobs == {"load": 1, "query": 1}
    assert double.counts.dml == {T: 2}
    assert double.counts.statements == {"DELETE": 1, "INSERT": 1, "SELECT": 1}
    assert double.sql[-1].startswith("BEGIN TRANSACTION;")


def test_each_failed_job_is_recorded_with_the_error_it_raised(double: BigQueryDouble) -> None:
    """So an end-to-end test can say which BigQuery errors the pipeline met and recovered from."""
    load(double, T, (1, 1))
    run(double, f"SELECT k FROM `{T}`")
    with pytest.raises(BadRequest) as syntax:
        run(double, "SELEC 1")
    config = bigquery.LoadJobConfig(schema=SCHEMA, write_disposition="WRITE_APPEND")
    with pytest.raises(BadRequest) as missing:
        double.load_table_from_json([{"v": 2}], T, job_config=config).result()
    assert double.errors == [syntax.value, missing.value]
