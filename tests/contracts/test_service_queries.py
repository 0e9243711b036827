"""Every query the services and libraries run gives the same rows on DuckDB and on the
BigQuery backend over the client double (tests/utils/service_queries.py drives them)."""

from __future__ import annotations

import json
from typing import Any

from libs.common.warehouse.bigquery import BigQueryWarehouse
from libs.common.warehouse.duckdb import DuckDBWarehouse
from tests.utils.bigquery_double import BigQueryDouble
from tests.utils.service_queries import Call, Recording, drive_services


def _decoded(value: Any) -> Any:
    """JSON columns come back as text from DuckDB and decoded from BigQuery."""
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def answer(call: Call) -> list[str]:
    """A call's rows, comparable across warehouses (in order only if the query orders them)."""
    rows = [
        json.dumps({k: _decoded(v) for k, v in row.items()}, default=str, sort_keys=True)
        for row in call.rows
    ]
    return rows if "ORDER BY" in call.sql.upper() else sorted(rows)


def test_every_service_query_answers_the_same_on_both_warehouses() -> None:
    duckdb = Recording(DuckDBWarehouse(":memory:"))
    drive_services(duckdb)
    double = BigQueryDouble()
    bigquery = Recording(BigQueryWarehouse(double.project, client=double))
    drive_services(bigquery)
    assert [c.site for c in bigquery.calls] == [c.site for c in duckdb.calls]
    differing = [
        f"{ours.site}: duckdb {answer(ours)} bigquery {answer(theirs)}"
        for ours, theirs in zip(duckdb.calls, bigquery.calls, strict=True)
        if answer(ours) != answer(theirs)
    ]
    assert differing == []
    assert any(call.rows for call in bigquery.calls), "the run logged is found"
    duckdb.close()
