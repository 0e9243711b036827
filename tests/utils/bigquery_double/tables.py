"""BigQuery table metadata on DuckDB: DDL from a schema, the checks BigQuery makes when a
table is created, and rows in the JSON form load jobs and insertAll take."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from google.cloud import bigquery

from tests.utils.bigquery_double import rules

DUCKDB_TYPES = {
    "STRING": "VARCHAR",
    "INT64": "BIGINT",
    "INTEGER": "BIGINT",
    "FLOAT64": "DOUBLE",
    "FLOAT": "DOUBLE",
    "BOOL": "BOOLEAN",
    "BOOLEAN": "BOOLEAN",
    "DATE": "DATE",
    "DATETIME": "TIMESTAMP",
    "TIMESTAMP": "TIMESTAMPTZ",
    "JSON": "JSON",
}

CLUSTERABLE = frozenset(
    {"BOOL", "BOOLEAN", "DATE", "DATETIME", "INT64", "INTEGER", "STRING", "TIMESTAMP"}
)
"""Column types a table can be clustered by (clustered-tables: "Clustering columns must be
top-level, non-repeated columns" of these types, among others this project does not use)."""


def quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def ref(table_id: str) -> str:
    """The DuckDB reference of `project.dataset.table` (one attached catalog per project)."""
    return ".".join(quoted(part) for part in table_id.split(".", 2))


def column_ddl(field: bigquery.SchemaField, nullable: bool = False) -> str:
    if field.mode == "REPEATED" or field.field_type in ("RECORD", "STRUCT"):
        raise NotImplementedError(f"the BigQuery double has no {field.field_type} {field.mode}")
    not_null = " NOT NULL" if field.mode == "REQUIRED" and not nullable else ""
    return f"{quoted(field.name)} {DUCKDB_TYPES[field.field_type]}{not_null}"


def create_sql(table_id: str, schema: Sequence[bigquery.SchemaField]) -> str:
    return f"CREATE TABLE {ref(table_id)} ({', '.join(column_ddl(f) for f in schema)})"


def check_layout(table: bigquery.Table) -> None:
    """BigQuery's checks on partitioning (partitioned-tables) and clustering
    (clustered-tables) when a table is created."""
    types = {field.name: field.field_type for field in table.schema}
    partitioning = table.time_partitioning
    if partitioning is not None and partitioning.field is not None:
        found = types.get(partitioning.field)
        if found is None:
            raise rules.invalid(
                f"The field specified for partitioning cannot be found in the schema: "
                f"{partitioning.field}"
            )
        if found not in rules.PARTITION_TYPES:
            raise rules.invalid(
                "The field specified for partitioning can only be of type TIMESTAMP, DATE or "
                f"DATETIME. The type found is: {found}."
            )
    clustering = table.clustering_fields or []
    if len(clustering) > rules.CLUSTERING_FIELDS:
        raise rules.invalid(
            f"Too many clustering fields: {len(clustering)}, only "
            f"{rules.CLUSTERING_FIELDS} are allowed."
        )
    for name in clustering:
        if name not in types:
            raise rules.invalid(
                f"The field specified for clustering cannot be found in the schema. "
                f"Invalid field: {name}."
            )
        if types[name] not in CLUSTERABLE:
            raise rules.invalid(f"Field {name} of type {types[name]} cannot be clustered on.")


def copy_of(table: bigquery.Table) -> bigquery.Table:
    """A detached copy, as every API call returns a fresh resource."""
    return bigquery.Table.from_api_repr(table.to_api_repr())


def row_problems(
    schema: Sequence[bigquery.SchemaField], row: Mapping[str, Any]
) -> list[tuple[str, str]]:
    """(field, message) for each reason BigQuery refuses `row`: an unknown field, or a
    required one missing or null."""
    names = {field.name for field in schema}
    problems = [(name, f"no such field: {name}.") for name in row if name not in names]
    problems += [
        (field.name, f"Missing required field: {field.name}.")
        for field in schema
        if field.mode == "REQUIRED" and row.get(field.name) is None
    ]
    return problems


def cells(schema: Sequence[bigquery.SchemaField], row: Mapping[str, Any]) -> list[Any]:
    """`row`'s values in schema order, ready for DuckDB to cast (JSON columns as text)."""
    values = []
    for field in schema:
        value = row.get(field.name)
        if field.field_type == "JSON" and value is not None and not isinstance(value, str):
            value = json.dumps(value)
        values.append(value)
    return values
