"""BigQuery warehouse: one script job per write (rows sent in the request), MERGE on the
natural key, parameterised queries; the rules it keeps are in docs/bigquery.md."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import re
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from google.api_core.exceptions import NotFound
from google.cloud import bigquery

from libs.common.warehouse.base import (
    APPEND,
    LOAD,
    REBUILD,
    Capabilities,
    RebuildTarget,
    Row,
    TableNotFoundError,
    WriteKinds,
    newer_or_same,
    render_tables,
    unique_rows,
    widest,
)
from libs.common.warehouse.bigquery.config import BigQueryConfig
from libs.common.warehouse.schema import Column, Table, added_columns

PARAM_TYPES: dict[type, str] = {
    bool: "BOOL",
    int: "INT64",
    float: "FLOAT64",
    str: "STRING",
    dt.datetime: "TIMESTAMP",
    dt.date: "DATE",
}


def schema_fields(table: Table) -> list[bigquery.SchemaField]:
    """The table's columns as BigQuery SchemaFields."""
    return [
        bigquery.SchemaField(
            c.name, c.type, mode="REQUIRED" if c.required else "NULLABLE", description=c.description
        )
        for c in table.columns
    ]


CLUSTERABLE_TYPES = frozenset({"STRING", "INT64", "BOOL", "DATE", "TIMESTAMP"})
"""Declared column types BigQuery can cluster a table by: not FLOAT64 or JSON
(https://cloud.google.com/bigquery/docs/clustered-tables, limitations)."""


def clustering_fields(table: Table) -> list[str]:
    """`table.cluster_by` without columns BigQuery refuses to cluster on (a natural key may
    hold a FLOAT64, as the props tables' `line` does), at most four."""
    types = {c.name: c.type for c in table.columns}
    return [name for name in table.cluster_by if types[name] in CLUSTERABLE_TYPES][:4]


BATCH_COLUMN = "_batch"
"""Staging-only column saying which batch of an `upsert_many` a row came from."""

STAGED = "staged_rows"
CHANGED = "changed_rows"
"""Temporary tables of an upsert script: the rows it loads, and its changed-row counts."""
REPLACEMENT = "replacement_rows"
"""The query parameter holding a replace's rows (no column is named so)."""


def _replaces(table: Table) -> str:
    """SQL: staged row S replaces target row T with its key (newer or same file, and
    different apart from loaded_at); the same rule as DuckDB's upsert."""
    differs = " OR ".join(
        f"{_comparable(c, 'T')} IS DISTINCT FROM {_comparable(c, 'S')}"
        for c in table.columns
        if c.name not in table.natural_key and c.name != "loaded_at"
    )
    return f"{newer_or_same(table, 'S', 'T', '`')} AND ({differs or 'FALSE'})"


def _comparable(column: Column, alias: str) -> str:
    """SQL for `column` of `alias` that `IS DISTINCT FROM` accepts: BigQuery defines no
    equality on JSON ("Equality is not defined for arguments of type JSON"), so a JSON
    column is compared as its JSON text."""
    ref = f"{alias}.`{column.name}`"
    return f"TO_JSON_STRING({ref})" if column.type == "JSON" else ref


def merge_sql(target: str, staging: str, table: Table) -> str:
    """MERGE writing the staged rows that are new, or replace an older or different row with
    their natural key; identical rows and rows from an older file leave the target as it is."""
    on = " AND ".join(f"T.`{k}` = S.`{k}`" for k in table.natural_key)
    updates = ", ".join(
        f"`{c}` = S.`{c}`" for c in table.column_names if c not in table.natural_key
    )
    return (
        f"MERGE `{target}` T USING `{staging}` S ON {on} "
        f"WHEN MATCHED AND {_replaces(table)} THEN UPDATE SET {updates} {_insert_unmatched(table)}"
    )


def changed_sql(target: str, staging: str, table: Table) -> str:
    """Per batch, the staged rows the MERGE will write."""
    on = " AND ".join(f"T.`{k}` = S.`{k}`" for k in table.natural_key)
    first_key = table.natural_key[0]
    return (
        f"SELECT S.`{BATCH_COLUMN}` AS batch, COUNT(*) AS n FROM `{staging}` S "
        f"LEFT JOIN `{target}` T ON {on} "
        f"WHERE T.`{first_key}` IS NULL OR ({_replaces(table)}) GROUP BY batch"
    )


def rows_parameter(
    table: Table, rows: Sequence[Row], batch_of_row: Sequence[int], name: str
) -> bigquery.ArrayQueryParameter:
    """`rows`, each with its batch, as the query parameter `@name`: an array of structs typed
    by the table's columns (a JSON column as its text, which `staged_rows_sql` parses)."""

    def field(column: Column, value: Any) -> bigquery.ScalarQueryParameter:
        if column.type == "JSON":
            return bigquery.ScalarQueryParameter(column.name, "STRING", _json_text(value))
        return bigquery.ScalarQueryParameter(column.name, column.type, value)

    structs = [
        bigquery.StructQueryParameter(
            None,
            *(field(column, row.get(column.name)) for column in table.columns),
            bigquery.ScalarQueryParameter(BATCH_COLUMN, "INT64", batch),
        )
        for row, batch in zip(rows, batch_of_row, strict=True)
    ]
    return bigquery.ArrayQueryParameter(name, "STRUCT", structs)


def staged_rows_sql(table: Table, staged: str, parameter: str) -> str:
    """The rows of the query parameter `@parameter` into the temporary table `staged`."""
    columns = ", ".join(
        f"PARSE_JSON(`{c.name}`) AS `{c.name}`" if c.type == "JSON" else f"`{c.name}`"
        for c in table.columns
    )
    return (
        f"CREATE TEMP TABLE {staged} AS SELECT {columns}, `{BATCH_COLUMN}` "
        f"FROM UNNEST(@{parameter});\n"
    )


def upsert_steps(target: str, staging: str, table: Table, changed: str) -> str:
    """Count per batch the staged rows the MERGE will write (before it writes them) into the
    temporary table `changed`, then MERGE."""
    return (
        f"CREATE TEMP TABLE {changed} AS {changed_sql(target, staging, table)};\n"
        f"{merge_sql(target, staging, table)};\n"
    )


def upsert_script(target: str, staging: str, table: Table) -> str:
    """`upsert_steps`, then the counts: a script's last statement is its result."""
    return f"{upsert_steps(target, staging, table, CHANGED)}SELECT batch, n FROM {CHANGED};"


def suffixes(count: int) -> list[str]:
    """Names for the parts of a script that combines `count` writes: `_0`, `_1`…, or none
    for a lone write, whose script reads as it always did."""
    return [f"_{i}" if count > 1 else "" for i in range(count)]


def with_suffix(sql: str, where: Mapping[str, Any], suffix: str) -> str:
    """`sql` with each `@name` of `where` renamed `@name{suffix}`, so one script can hold the
    same statement for several `where`s."""
    names = "|".join(re.escape(name) for name in where)
    return re.sub(rf"@({names})\b", rf"@\g<1>{suffix}", sql) if names and suffix else sql


def request_bytes(query: str, config: bigquery.QueryJobConfig) -> int:
    """About what a query job's request weighs: its configuration, query text and parameters
    as JSON (BigQuery counts the parameters in its request size limit)."""
    resource = config._properties  # what to_api_repr() returns, without its deep copy
    resource = {**resource, "query": {**resource.get("query", {}), "query": query}}
    return len(json.dumps({"configuration": resource}).encode())


def query_parameters(params: Mapping[str, Any]) -> list[bigquery.ScalarQueryParameter]:
    """Typed scalar parameters for `@name` placeholders."""
    result = []
    for name, value in params.items():
        type_ = next((t for py, t in PARAM_TYPES.items() if isinstance(value, py)), "STRING")
        result.append(bigquery.ScalarQueryParameter(name, type_, value))
    return result


def _condition(where: Mapping[str, Any], op: str = "=", alias: str = "") -> str:
    """`where` (column `op` value) as SQL with `@column` query parameters."""
    prefix = f"{alias}." if alias else ""
    return " AND ".join(f"{prefix}`{k}` {op} @{k}" for k in where) or "TRUE"


def replace_rows_sql(target: str, source: str, table: Table, condition: str) -> str:
    """One MERGE that replaces the target rows matching `condition` (on alias T) with every row
    of `source` (named like the table's columns).

    A single mutating DML statement, atomic on its own: no multi-statement transaction, which
    BigQuery cancels when another one mutates the same table (rule 1); a concurrent one is
    queued instead. `ON FALSE` matches no row, so no target row can match two source rows
    (rule 3). BigQuery documents this MERGE as the way to replace a partition.
    """
    return (
        f"MERGE `{target}` T USING {source} S ON FALSE "
        f"WHEN NOT MATCHED BY SOURCE AND {condition} THEN DELETE {_insert_unmatched(table)}"
    )


def _insert_unmatched(table: Table) -> str:
    """A MERGE's clause inserting each source row S that matched no target row, by name."""
    names = ", ".join(f"`{c}`" for c in table.column_names)
    values = ", ".join(f"S.`{c}`" for c in table.column_names)
    return f"WHEN NOT MATCHED THEN INSERT ({names}) VALUES ({values})"


def _json_text(value: Any) -> str | None:
    """A JSON column's value as its text (None stays NULL)."""
    return None if value is None else json.dumps(value, default=str)


def _json_row(row: Row, table: Table) -> dict[str, Any]:
    """A row as BigQuery JSON (load jobs, streamed inserts): dates and timestamps as ISO
    strings, JSON columns serialised."""
    out: dict[str, Any] = {}
    for c in table.columns:
        value = row.get(c.name)
        if isinstance(value, dt.date | dt.datetime):
            value = value.isoformat()
        elif c.type == "JSON":
            value = _json_text(value)
        out[c.name] = value
    return out


class BigQueryWarehouse:
    """Production warehouse. Every write is one job or one streamed insert, so it is atomic on
    BigQuery's side."""

    capabilities = Capabilities(
        transactional_rebuild=False, sees_every_write=False, counts_changed_rows=True
    )
    """A rebuild is a MERGE per table, not a transaction (rule 1 of docs/bigquery.md); every
    Cloud Run instance writes the same datasets."""

    def __init__(self, config: BigQueryConfig | str, client: Any = None) -> None:
        """`config`, or a project id alone for `BigQueryConfig(project)`; `client` stands in
        for `bigquery.Client` in tests."""
        self.config = config if isinstance(config, BigQueryConfig) else BigQueryConfig(config)
        self.project = self.config.project
        self.location = self.config.location
        self.client = client or bigquery.Client(project=self.project, location=self.location)
        self.capabilities = dataclasses.replace(
            BigQueryWarehouse.capabilities, combine_window_s=self.config.combine_window_s
        )
        self._kinds = WriteKinds()
        self._dml_slots: dict[str, threading.BoundedSemaphore] = {}
        self._slots_lock = threading.Lock()

    @contextlib.contextmanager
    def _mutating(self, tables: Sequence[Table], kind: str) -> Iterator[None]:
        """Hold one of this instance's mutating-DML slots on each table (sorted, so two
        callers never wait on each other). BigQuery runs 2 mutating DML statements per table
        and queues 20 more, failing the rest (rule 2): at most `mutating_dml_per_table` per
        instance keeps every instance together inside the queue (docs/bigquery.md)."""
        self._kinds.claim(tables, kind)
        with self._slots_lock:
            slots = [
                self._dml_slots.setdefault(
                    table.fqn, threading.BoundedSemaphore(self.config.mutating_dml_per_table)
                )
                for table in sorted(tables, key=lambda t: t.fqn)
            ]
        with contextlib.ExitStack() as held:
            for slot in slots:
                held.enter_context(slot)
            yield

    def _ref(self, dataset: str, table: str) -> str:
        return f"{self.project}.{dataset}.{table}"

    def _table_id(self, table: Table) -> str:
        return self._ref(table.dataset, table.name)

    def ensure_tables(self, tables: Iterable[Table]) -> None:
        for table in tables:
            dataset = bigquery.Dataset(f"{self.project}.{table.dataset}")
            dataset.location = self.location
            self.client.create_dataset(dataset, exists_ok=True)
            bq_table = bigquery.Table(self._table_id(table), schema=schema_fields(table))
            bq_table.description = table.description
            if table.partition_column:
                bq_table.time_partitioning = bigquery.TimePartitioning(field=table.partition_column)
            if clustering_fields(table):
                bq_table.clustering_fields = clustering_fields(table)
            existing = self.client.create_table(bq_table, exists_ok=True)
            present = [field.name for field in existing.schema]
            added = added_columns(table, present)
            if added:
                existing.schema = [
                    *existing.schema,
                    *(
                        bigquery.SchemaField(c.name, c.type, description=c.description)
                        for c in added
                    ),
                ]
                self.client.update_table(existing, ["schema"])

    def _load(
        self,
        table_id: str,
        table: Table,
        rows: Sequence[Row],
        disposition: str,
        extra: Sequence[bigquery.SchemaField] = (),
    ) -> None:
        config = bigquery.LoadJobConfig(
            schema=[*schema_fields(table), *extra],
            write_disposition=disposition,
            source_format=bigquery.SourceFormat.NEWLINE_DELIMITED_JSON,
        )
        payload = [_json_row(row, table) | {f.name: row[f.name] for f in extra} for row in rows]
        self.client.load_table_from_json(payload, table_id, job_config=config).result()

    def upsert(self, table: Table, rows: Sequence[Row]) -> int:
        return self.upsert_many(table, [rows])[0]

    def upsert_many(self, table: Table, batches: Sequence[Sequence[Row]]) -> list[int]:
        return self.upsert_tables([(table, batches)])[0]

    def upsert_tables(
        self, writes: Sequence[tuple[Table, Sequence[Sequence[Row]]]]
    ) -> list[list[int]]:
        """One script job for every table: each table's rows go in the request as `@rows_i`
        (a temporary table), are counted per batch, then merged. When that is too heavy for
        one request, one table at a time; a table too heavy on its own is staged by a load job
        first, then the same script reads the staged table: two jobs."""
        for table, _ in writes:
            if not table.natural_key:
                raise ValueError(f"{table.fqn} has no natural key to upsert by")
        self._kinds.claim([table for table, _ in writes], LOAD)  # streamed: refused (rule 4)
        counts = [[0] * len(batches) for _, batches in writes]
        unique = [
            (i, table, *unique_rows(table, batches)) for i, (table, batches) in enumerate(writes)
        ]
        loaded = [(i, table, rows, of_row) for i, table, rows, of_row in unique if rows]
        steps, selects, parameters, tables = [], [], [], []
        for (i, table, rows, batch_of_row), tag in zip(loaded, suffixes(len(loaded)), strict=True):
            staged, changed, parameter = f"{STAGED}{tag}", f"{CHANGED}{tag}", f"rows{tag}"
            steps.append(staged_rows_sql(table, staged, parameter))
            steps.append(upsert_steps(self._table_id(table), staged, table, changed))
            selects.append(f"SELECT {i} AS part, batch, n FROM {changed}")
            parameters.append(rows_parameter(table, rows, batch_of_row, parameter))
            tables.append(table)
        if not tables:
            return counts
        script = "".join(steps) + " UNION ALL ".join(selects) + ";"
        config = bigquery.QueryJobConfig(query_parameters=parameters)
        if request_bytes(script, config) <= self.config.max_inline_request_bytes:
            with self._mutating(tables, LOAD):
                changed_rows = list(self.client.query(script, job_config=config).result())
        elif len(writes) > 1:
            return [self.upsert_tables([write])[0] for write in writes]
        else:
            rows, batch_of_row = unique_rows(*writes[0])
            changed_rows = self._merge_staged(writes[0][0], rows, batch_of_row)
        for row in changed_rows:  # MERGE rejects 2 source rows for a key: unique_rows (rule 3)
            counts[int(row.get("part", 0))][int(row["batch"])] = int(row["n"])
        return counts

    @contextlib.contextmanager
    def _staged(
        self, table: Table, rows: Sequence[Row], extra: Sequence[bigquery.SchemaField] = ()
    ) -> Iterator[str]:
        """A table of its own holding `rows`, put there by a load job, for rows too heavy for a
        request; dropped after."""
        staging = f"{self._table_id(table)}__staging_{uuid.uuid4().hex[:12]}"
        self._load(staging, table, rows, bigquery.WriteDisposition.WRITE_TRUNCATE, extra)
        try:
            yield staging
        finally:
            self.client.delete_table(staging, not_found_ok=True)

    def _merge_staged(
        self, table: Table, rows: Sequence[Row], batch_of_row: Sequence[int]
    ) -> list[Any]:
        """The upsert script over rows staged by a load job: for loads too heavy for a request."""
        target = self._table_id(table)
        staged = [{**row, BATCH_COLUMN: i} for row, i in zip(rows, batch_of_row, strict=True)]
        batch_field = bigquery.SchemaField(BATCH_COLUMN, "INT64", mode="REQUIRED")
        with self._staged(table, staged, [batch_field]) as staging, self._mutating([table], LOAD):
            return list(self.client.query(upsert_script(target, staging, table)).result())

    def replace(self, table: Table, where: Mapping[str, Any], rows: Sequence[Row]) -> None:
        """One script job, like an upsert: the rows go in the request (a temporary table) and
        one MERGE swaps the matching rows for them; rows too heavy for a request are staged
        by a load job first (two jobs)."""
        self._kinds.claim([table], LOAD)  # a streamed table is refused before any job (rule 4)
        target, condition = self._table_id(table), _condition(where, alias="T")
        where_parameters = query_parameters(where)
        by_where = bigquery.QueryJobConfig(query_parameters=where_parameters)
        if not rows:  # an empty array parameter would have no struct type to send
            nothing = f"(SELECT * FROM `{target}` WHERE FALSE)"
            self._run_replace(table, replace_rows_sql(target, nothing, table, condition), by_where)
            return
        in_request = rows_parameter(table, rows, [0] * len(rows), REPLACEMENT)
        inline = bigquery.QueryJobConfig(query_parameters=[*where_parameters, in_request])
        script = staged_rows_sql(table, STAGED, REPLACEMENT) + replace_rows_sql(
            target, STAGED, table, condition
        )
        if request_bytes(script, inline) <= self.config.max_inline_request_bytes:
            self._run_replace(table, script, inline)
            return
        with self._staged(table, rows) as staging:
            merge = replace_rows_sql(target, f"`{staging}`", table, condition)
            self._run_replace(table, merge, by_where)

    def _run_replace(self, table: Table, sql: str, config: bigquery.QueryJobConfig) -> None:
        with self._mutating([table], LOAD):
            self.client.query(sql, job_config=config).result()

    def append(self, table: Table, rows: Sequence[Row]) -> None:
        """Streamed (insertAll), not a load job: log rows come one per run and per message, and
        a table takes 1,500 load jobs a day; streamed rows are queryable at once. A table
        streamed to is never also changed by DML (`WriteKinds`): BigQuery refuses DML over
        rows streamed in the last 30 minutes (rule 4)."""
        if not rows:
            return
        self._kinds.claim([table], APPEND)
        payload = [_json_row(row, table) for row in rows]
        errors = self.client.insert_rows_json(self._table_id(table), payload)
        if errors:
            raise RuntimeError(f"BigQuery refused rows streamed into {table.fqn}: {errors[:3]}")

    def rebuild(self, targets: Sequence[RebuildTarget], where: Mapping[str, Any]) -> list[int]:
        return self.rebuild_many(targets, [where])[0]

    def rebuild_many(
        self, targets: Sequence[RebuildTarget], wheres: Sequence[Mapping[str, Any]]
    ) -> list[list[int]]:
        """One script job: a partition-replacing MERGE per target and `where`, target by
        target (each reads the ones before it; an `onwards` one once, from the earliest
        `where`), then the row counts. `where` k's parameters are renamed `@name_k`. Each
        MERGE is atomic; the script is not one transaction, because BigQuery cancels a
        transaction when another one mutates the same table, and rebuilds run on several
        instances at once (docs/bigquery.md)."""
        if not targets or not wheres:
            return [[] for _ in wheres]
        steps, counts = [], []
        tags = suffixes(len(wheres))
        for i, target in enumerate(targets):
            table_id = self._table_id(target.table)
            op = ">=" if target.onwards else "="
            source = f"({render_tables(target.select_sql, self._quoted)})"
            for k in widest(wheres) if target.onwards else range(len(wheres)):
                condition = _condition(wheres[k], op, "T")
                merge = replace_rows_sql(table_id, source, target.table, condition)
                steps.append(with_suffix(merge, wheres[k], tags[k]) + ";\n")
            for where, tag in zip(wheres, tags, strict=True):
                count = f"(SELECT COUNT(*) FROM `{table_id}` WHERE {_condition(where, op)})"
                counts.append(f"{with_suffix(count, where, tag)} AS n{i}{tag}")
        script = f"{''.join(steps)}SELECT {', '.join(counts)};"
        parameters = [
            parameter
            for where, tag in zip(wheres, tags, strict=True)
            for parameter in query_parameters({f"{name}{tag}": v for name, v in where.items()})
        ]
        config = bigquery.QueryJobConfig(query_parameters=parameters)
        with self._mutating([target.table for target in targets], REBUILD):
            result = list(self.client.query(script, job_config=config).result())
        return [
            [int(result[0][f"n{i}{tag}"]) if result else 0 for i in range(len(targets))]
            for tag in tags
        ]

    def _quoted(self, dataset: str, table: str) -> str:
        return f"`{self._ref(dataset, table)}`"

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        config = bigquery.QueryJobConfig(query_parameters=query_parameters(params or {}))
        try:
            job = self.client.query(render_tables(sql, self._quoted), job_config=config)
            return [dict(row.items()) for row in job.result()]
        except NotFound as exc:
            raise TableNotFoundError(str(exc)) from exc

    def close(self) -> None:
        self.client.close()
