"""The bytes an on-demand BigQuery project would be billed for a statement, estimated from
what it scans in the double's tables as they are when it starts.

Rules, from BigQuery's pages (read December 2026):

- https://cloud.google.com/bigquery/pricing (on-demand compute): a query is charged for the
  bytes of the columns it reads, "rounded up to the nearest MB, with a minimum 10 MB data
  processed per table referenced by the query, and with a minimum 10 MB data processed per
  query"; a query that fails is not charged; load jobs and metadata calls are free.
- https://cloud.google.com/bigquery/docs/reference/standard-sql/dml-syntax ("On-demand query
  size calculation"): a DML statement processes q, the columns it references in the
  partitions it scans, and UPDATE, DELETE and a MERGE with an UPDATE or DELETE clause add t,
  every column of the partitions they update (of the whole table if it is not partitioned).
- https://cloud.google.com/bigquery/docs/using-dml-with-partitioned-tables: a filter on the
  partitioning column in a WHERE, a MERGE's merge condition or a WHEN condition prunes the
  partitions scanned.
- Data sizes (https://cloud.google.com/bigquery/docs/storage_overview, data type sizes):
  INT64, FLOAT64, DATE, DATETIME, TIMESTAMP 8 bytes, BOOL 1, STRING 2 + its UTF-8 bytes,
  NULL 0; JSON is counted here as its text, like a STRING.

Every approximation errs high: a table is pruned only by a filter comparing its own
partitioning column with a constant (not one implied through a join), clustering is ignored
(BigQuery may read fewer blocks of a clustered table, but a dry run does not count them),
and a table that cannot be analysed is read whole. A script's statements are billed one by
one, each with its own minimum; a statement that reads no table is billed nothing. The one
exception errs low: a script's temporary tables (an upsert's rows, sent in its request) are
not counted, so each statement reading one may be billed up to the 10 MB minimum less.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import duckdb
from google.cloud import bigquery
from sqlglot import exp
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import traverse_scope

from tests.utils.bigquery_double import tables

MB = 2**20
MINIMUM = 10 * MB
"""Billed at least per table a statement references, and per statement that reads a table."""
FIXED_SIZES = {"INT64": 8, "INTEGER": 8, "FLOAT64": 8, "FLOAT": 8, "DATE": 8, "DATETIME": 8,
               "TIMESTAMP": 8, "TIME": 8, "BOOL": 1, "BOOLEAN": 1}  # fmt: skip
PRUNING = (exp.EQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Between, exp.In)


@dataclass(frozen=True)
class Scan:
    """What a statement reads of one table: some columns, in the partitions a filter leaves."""

    table_id: str
    alias: str
    columns: frozenset[str] | None
    """None: every column."""
    where: tuple[exp.Expression, ...] = ()
    """Filters on the table's partitioning column (over `alias`), all of which rows pass."""


@dataclass(frozen=True)
class Estimate:
    """Bytes a statement processes and is billed, as an on-demand project would see them."""

    processed: int = 0
    billed: int = 0

    def __add__(self, other: Estimate) -> Estimate:
        return Estimate(self.processed + other.processed, self.billed + other.billed)


class Catalog:
    """The tables a statement may name: their schemas and partitioning columns."""

    def __init__(self, project: str, known: Mapping[str, bigquery.Table]) -> None:
        self.project = project
        self.known = known

    def table_id(self, table: exp.Table) -> str:
        return f"{table.catalog or self.project}.{table.db}.{table.name}"

    def types(self, table_id: str) -> dict[str, str]:
        return {f.name: f.field_type for f in self.known[table_id].schema}

    def partition(self, table_id: str) -> str | None:
        partitioning = self.known[table_id].time_partitioning
        return partitioning.field if partitioning is not None else None

    def sqlglot_schema(self) -> dict[str, dict[str, dict[str, dict[str, str]]]]:
        schema: dict[str, dict[str, dict[str, dict[str, str]]]] = {}
        for table_id in self.known:
            project, dataset, name = table_id.split(".")
            schema.setdefault(project, {}).setdefault(dataset, {})[name] = self.types(table_id)
        return schema


def estimate(
    cur: duckdb.DuckDBPyConnection, statement: exp.Expression, catalog: Catalog
) -> Estimate:
    """What `statement` (parameters bound) would process and be billed, before it runs."""
    if isinstance(statement, exp.Merge):
        scans, updated = _merge(statement, catalog)
    elif isinstance(statement, exp.Update | exp.Delete):
        scans, updated = _scans(statement, catalog), _changed_by_where(statement, catalog)
    else:
        scans, updated = _scans(statement, catalog), None
    per_table: dict[str, int] = {}
    for scan in scans:
        per_table[scan.table_id] = per_table.get(scan.table_id, 0) + _bytes(cur, scan, catalog)
    if updated is not None:
        target, sql = updated
        per_table[target] = per_table.get(target, 0) + int(cur.execute(sql).fetchone()[0])
    return Estimate(sum(per_table.values()), billed(per_table.values()))


def billed(per_table: Iterable[int]) -> int:
    """On-demand bytes billed for a statement processing these bytes of each table it
    references: each rounded up to a MB, at least 10 MB a table, and 10 MB a statement;
    nothing when it references no table."""
    tables_read = [max(MINIMUM, -(-count // MB) * MB) for count in per_table]
    return max(MINIMUM, sum(tables_read)) if tables_read else 0


def _size(alias: str, column: str, type_: str) -> str:
    """DuckDB SQL: the logical bytes of one cell."""
    cell = f"{tables.quoted(alias)}.{tables.quoted(column)}"
    size = FIXED_SIZES.get(type_, f"2 + strlen(CAST({cell} AS VARCHAR))")
    return f"(CASE WHEN {cell} IS NULL THEN 0 ELSE {size} END)"


def _sum_sql(table_id: str, alias: str, columns: Iterable[str], catalog: Catalog) -> str:
    types = catalog.types(table_id)
    sizes = " + ".join(_size(alias, c, types[c]) for c in columns) or "0"
    return f"SELECT COALESCE(SUM({sizes}), 0) FROM {tables.ref(table_id)} AS {tables.quoted(alias)}"


def _bytes(cur: duckdb.DuckDBPyConnection, scan: Scan, catalog: Catalog) -> int:
    columns = catalog.types(scan.table_id) if scan.columns is None else scan.columns
    sql = _sum_sql(scan.table_id, scan.alias, sorted(columns), catalog)
    if scan.where:
        sql += " WHERE " + " AND ".join(f"({p.sql(dialect='duckdb')})" for p in scan.where)
    return int(cur.execute(sql).fetchone()[0])


def _conjuncts(condition: exp.Expression | None) -> list[exp.Expression]:
    if condition is None:
        return []
    condition = condition.unnest()
    if isinstance(condition, exp.And):
        return [part for side in (condition.left, condition.right) for part in _conjuncts(side)]
    return [condition]


def _pruning(
    conditions: Iterable[exp.Expression], aliases: set[str], column: str | None
) -> tuple[exp.Expression, ...]:
    """The conjuncts comparing `column` (a partitioning column) of a table named by one of
    `aliases` with constants only."""
    if column is None:
        return ()
    found = []
    for part in conditions:
        if not isinstance(part, PRUNING):
            continue
        columns = list(part.find_all(exp.Column))
        if columns and all(c.name == column and c.table in aliases for c in columns):
            found.append(part)
    return tuple(found)


def _scans(statement: exp.Expression, catalog: Catalog) -> list[Scan]:
    """Every stored table a query (or INSERT, UPDATE, DELETE) reads, by scope: the columns
    each reads there, pruned by the filters of its own scope."""
    named = [
        t for t in statement.find_all(exp.Table) if t.db and catalog.table_id(t) in catalog.known
    ]
    try:
        qualified = qualify(statement.copy(), dialect="bigquery", schema=catalog.sqlglot_schema(),
                            validate_qualify_columns=False, quote_identifiers=False)  # fmt: skip
        scopes = traverse_scope(qualified)
    except Exception:  # sqlglot cannot analyse it: count every table it names whole
        return [Scan(catalog.table_id(t), t.alias_or_name, None) for t in named]
    scans = []
    for scope in scopes:
        select = scope.expression
        conditions = _conjuncts(select.args.get("where") and select.args["where"].this)
        for join in select.args.get("joins") or []:
            conditions += _conjuncts(join.args.get("on"))
        for alias, (_, source) in scope.selected_sources.items():
            if not isinstance(source, exp.Table) or catalog.table_id(source) not in catalog.known:
                continue
            table_id = catalog.table_id(source)
            columns = frozenset(c.name for c in scope.columns if c.table == alias)
            where = _pruning(conditions, {alias}, catalog.partition(table_id))
            scans.append(Scan(table_id, alias, columns & set(catalog.types(table_id)), where))
    return scans


def _merge(merge: exp.Merge, catalog: Catalog) -> tuple[list[Scan], tuple[str, str] | None]:
    """A MERGE's scans (its source, and the target's referenced columns) and, if it updates or
    deletes, (target, SQL summing every column of the partitions it changes)."""
    target, using = merge.this, merge.args["using"]
    target_id, alias = catalog.table_id(target), target.alias_or_name
    source = using.alias_or_name
    whens = merge.args["whens"].expressions
    if isinstance(using, exp.Subquery):
        scans = _scans(using.this, catalog)
    elif catalog.table_id(using) in catalog.known:
        scans = [Scan(catalog.table_id(using), source, None)]
    else:  # a script's temporary table, like every one it reads (see the module docstring)
        scans = []
    referenced = [
        merge.args["on"],
        *(w.args.get("condition") for w in whens),
        *(w.args["then"] for w in whens),
    ]
    columns = frozenset(
        c.name
        for node in referenced
        if node is not None
        for c in node.find_all(exp.Column)
        if c.table == alias
    )
    partition = catalog.partition(target_id)
    by_source = [w.args.get("condition") for w in whens if w.args.get("source")]
    pruned_by = _conjuncts(merge.args["on"])
    if not any(w.args.get("matched") and not w.args.get("source") for w in whens) and all(
        by_source
    ):
        pruned_by += [part for condition in by_source for part in _conjuncts(condition)]
    scans.append(Scan(target_id, alias, columns, _pruning(pruned_by, {alias}, partition)))
    changes = [w for w in whens if isinstance(w.args["then"], exp.Update) or _deletes(w)]
    if not changes:
        return scans, None
    every_column = _sum_sql(target_id, "_changed", catalog.types(target_id), catalog)
    if partition is None:
        return scans, (target_id, every_column)
    ref = f"{target.sql(dialect='duckdb')}"
    changed = []
    for when in changes:
        condition = when.args.get("condition")
        if when.args.get("source"):
            where = condition.sql(dialect="duckdb") if condition is not None else "TRUE"
            changed.append(
                f"SELECT {tables.quoted(alias)}.{tables.quoted(partition)} FROM {ref} WHERE {where}"
            )
        else:
            changed.append(
                f"SELECT {tables.quoted(alias)}.{tables.quoted(partition)} FROM {ref} "
                f"JOIN {using.sql(dialect='duckdb')} ON {merge.args['on'].sql(dialect='duckdb')}"
            )
    partitions = " UNION ".join(changed)
    return scans, (
        target_id,
        f'{every_column} WHERE "_changed".{tables.quoted(partition)} IN ({partitions})',
    )


def _changed_by_where(statement: exp.Update | exp.Delete, catalog: Catalog) -> tuple[str, str]:
    """(target, SQL summing every column of the partitions an UPDATE or DELETE filters to)."""
    target = statement.this
    table_id, alias = catalog.table_id(target), target.alias_or_name
    where = statement.args.get("where")
    pruned = _pruning(_conjuncts(where.this if where else None), {alias, ""},
                      catalog.partition(table_id))  # fmt: skip
    sql = _sum_sql(table_id, alias, catalog.types(table_id), catalog)
    if pruned:
        sql += " WHERE " + " AND ".join(f"({p.sql(dialect='duckdb')})" for p in pruned)
    return table_id, sql


def _deletes(when: exp.When) -> bool:
    then = when.args["then"]
    return isinstance(then, exp.Var) and then.name.upper() == "DELETE"
