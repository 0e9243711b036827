"""BigQuery SQL in, DuckDB SQL out: parse with sqlglot's BigQuery dialect (so a statement
BigQuery would not parse fails), check the rules a parse cannot, bind query parameters as
typed literals, and name the tables a statement writes and reads."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, ParseError

from tests.utils.bigquery_double import rules

MUTATING = (exp.Update, exp.Delete, exp.Merge, exp.TruncateTable)
"""Statements BigQuery calls mutating DML (queued per table, conflicting in transactions)."""

DML = (*MUTATING, exp.Insert)

CONTROL = (exp.Transaction, exp.Commit, exp.Rollback)


def parse_script(sql: str) -> list[exp.Expression]:
    """The statements of `sql` as BigQuery parses them; a syntax error is BigQuery's 400."""
    try:
        statements = sqlglot.parse(sql, read="bigquery", error_level=ErrorLevel.RAISE)
    except ParseError as error:
        raise rules.syntax_error(str(error).splitlines()[0]) from error
    return [statement for statement in statements if isinstance(statement, exp.Expression)]


def check(statement: exp.Expression) -> None:
    """Rules of BigQuery's that parse: DELETE and UPDATE need a WHERE (dml-syntax), and a
    table outside a query's own WITH names its dataset (no default dataset is set)."""
    if isinstance(statement, exp.Delete | exp.Update) and not statement.args.get("where"):
        kind = "DELETE" if isinstance(statement, exp.Delete) else "UPDATE"
        raise rules.invalid(f"{kind} must have a WHERE clause")
    for table in tables_in(statement):
        if not table.db:
            raise rules.invalid(
                f'Table "{table.name}" must be qualified with a dataset (e.g. dataset.table).'
            )


def tables_in(statement: exp.Expression) -> list[exp.Table]:
    """Every stored table `statement` names (CTE references left out)."""
    ctes = {cte.alias_or_name for cte in statement.find_all(exp.CTE)}
    return [
        table
        for table in statement.find_all(exp.Table)
        if table.name and not (not table.db and table.name in ctes)
    ]


def table_id(table: exp.Table, project: str) -> str:
    """`project.dataset.table` of a table reference (the client's project if it names none)."""
    return f"{table.catalog or project}.{table.db}.{table.name}"


def written_table(statement: exp.Expression) -> exp.Table | None:
    """The table a DML statement writes."""
    if isinstance(statement, exp.TruncateTable):
        target = statement.expressions[0]
    elif isinstance(statement, DML):
        target = statement.this
    else:
        return None
    if isinstance(target, exp.Schema):  # INSERT INTO t (a, b): the column list wraps the table
        target = target.this
    return target if isinstance(target, exp.Table) else None


def bind(statement: exp.Expression, params: Mapping[str, tuple[str, Any]]) -> exp.Expression:
    """`statement` with each `@name` replaced by its parameter as a typed literal.

    `params` maps a name to (BigQuery type, value), as `ScalarQueryParameter` carries them, so
    a DATE parameter is a DATE in the statement, as on BigQuery.
    """

    def replace(node: exp.Expression) -> exp.Expression:
        if not isinstance(node, exp.Parameter):
            return node
        name = node.name
        if name not in params:
            raise rules.invalid(f"Query parameter '{name}' not found")
        return literal(*params[name])

    return statement.copy().transform(replace)


def literal(type_: str, value: Any) -> exp.Expression:
    """A BigQuery literal of `type_` holding `value`."""
    to = exp.DataType.build(type_, dialect="bigquery")
    if value is None:
        return exp.cast(exp.null(), to)
    if type_ == "BOOL":
        return exp.Boolean(this=bool(value))
    if type_ == "INT64":
        return exp.Literal.number(int(value))
    if type_ == "TIMESTAMP" and isinstance(value, dt.datetime):
        value = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, dt.date):
        value = value.isoformat()
    if type_ == "STRING":
        return exp.Literal.string(str(value))
    return exp.cast(exp.Literal.string(str(value)), to)


def to_duckdb(statement: exp.Expression) -> str:
    """The statement in DuckDB's dialect (tables keep `project.dataset.table`: the double
    attaches a DuckDB catalog per project)."""
    return statement.sql(dialect="duckdb")


def is_query(statement: exp.Expression) -> bool:
    """Whether the statement returns rows (its rows are a job's result if it runs last)."""
    return isinstance(statement, exp.Query)
