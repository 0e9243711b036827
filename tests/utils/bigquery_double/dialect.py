"""BigQuery SQL in, DuckDB SQL out: parse with sqlglot's BigQuery dialect (so a statement
BigQuery would not parse fails), check the rules a parse cannot, bind query parameters
(scalars, structs, arrays of either) as typed literals, and name the tables a statement
writes and reads, telling a script's temporary tables from stored ones."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlglot
from google.cloud import bigquery
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


def check_script(statements: Sequence[exp.Expression]) -> frozenset[str]:
    """`check` each statement, knowing the temporary tables the ones before it created; the
    names of the script's temporary tables. A temporary table needs a script (or a session):
    a request of one CREATE TEMP TABLE statement is refused (multi-statement-queries)."""
    temporary: set[str] = set()
    for statement in statements:
        check(statement, temporary)
        created = temporary_table(statement)
        if created is not None:
            if len(statements) == 1:
                raise rules.temporary_table_outside_script()
            temporary.add(created)
    return frozenset(temporary)


def check(statement: exp.Expression, temporary: Collection[str] = ()) -> None:
    """Rules of BigQuery's that parse: DELETE and UPDATE need a WHERE (dml-syntax), and a
    table outside a query's own WITH names its dataset (no default dataset is set), unless it
    is one of the script's `temporary` tables."""
    if isinstance(statement, exp.Delete | exp.Update) and not statement.args.get("where"):
        kind = "DELETE" if isinstance(statement, exp.Delete) else "UPDATE"
        raise rules.invalid(f"{kind} must have a WHERE clause")
    for table in tables_in(statement, temporary):
        if not table.db:
            raise rules.invalid(
                f'Table "{table.name}" must be qualified with a dataset (e.g. dataset.table).'
            )


def temporary_table(statement: exp.Expression) -> str | None:
    """The name a `CREATE TEMP TABLE` statement creates, or None for any other statement."""
    if not (isinstance(statement, exp.Create) and statement.kind == "TABLE"):
        return None
    properties = statement.args.get("properties")
    if properties is None or not any(
        isinstance(p, exp.TemporaryProperty) for p in properties.expressions
    ):
        return None
    target = statement.this
    if isinstance(target, exp.Schema):  # CREATE TEMP TABLE t (a INT64, ...)
        target = target.this
    return str(target.name)


def tables_in(statement: exp.Expression, temporary: Collection[str] = ()) -> list[exp.Table]:
    """Every stored table `statement` names (CTE references, the script's `temporary` tables
    and the one a CREATE TEMP TABLE creates left out)."""
    local = {cte.alias_or_name for cte in statement.find_all(exp.CTE)} | set(temporary)
    created = temporary_table(statement)
    if created is not None:
        local.add(created)
    return [
        table
        for table in statement.find_all(exp.Table)
        if table.name and not (not table.db and table.name in local)
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


def bind(statement: exp.Expression, params: Mapping[str, Any]) -> exp.Expression:
    """`statement` with each `@name` replaced by its query parameter: a scalar or a struct as a
    typed literal (a DATE parameter is a DATE in the statement, as on BigQuery), an array of
    structs unnested in a FROM by the table `parameter_table` names (`UNNEST` of structs gives
    their fields as columns; the caller fills the table, much faster than literals would be).
    """

    def replace(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Unnest) and len(node.expressions) == 1:
            unnested = node.expressions[0]
            param = params.get(unnested.name) if isinstance(unnested, exp.Parameter) else None
            if isinstance(param, StructRows):
                table = exp.to_identifier(parameter_table(unnested.name))
                return exp.Table(this=table, alias=node.args.get("alias"))
        if not isinstance(node, exp.Parameter):
            return node
        if node.name not in params:
            raise rules.invalid(f"Query parameter '{node.name}' not found")
        return value_of(params[node.name])

    return statement.copy().transform(replace)


@dataclass(frozen=True)
class StructRows:
    """An array-of-structs parameter (rows) as the request carries it: the double fills a
    table from this resource, where the client's `query_parameters` would first rebuild every
    row as an object, then the double turn each back into this."""

    resource: dict[str, Any]


def parameters(job_config: bigquery.QueryJobConfig) -> dict[str, Any]:
    """A query job's parameters by name: `StructRows` for rows, the client's objects else."""
    from google.cloud.bigquery.query import _query_param_from_api_repr

    resources = job_config._properties.get("query", {}).get("queryParameters", [])
    return {
        resource["name"]: StructRows(resource)
        if resource["parameterType"].get("arrayType", {}).get("type") == "STRUCT"
        else _query_param_from_api_repr(resource)
        for resource in resources
    }


def parameter_table(name: str) -> str:
    """The table holding the rows of the array-of-structs parameter `name` while a job runs."""
    return f"__param_{name}"


def value_of(param: Any) -> exp.Expression:
    """A query parameter as a literal: a scalar, a struct of scalars, an array of scalars."""
    if isinstance(param, StructRows):
        raise NotImplementedError("the BigQuery double unnests arrays of structs only")
    if isinstance(param, bigquery.ScalarQueryParameter):
        return literal(param.type_, param.value)
    if isinstance(param, bigquery.StructQueryParameter):
        fields = []
        for name, type_ in param.struct_types.items():
            if not isinstance(type_, str) or type_ in ("STRUCT", "RECORD", "ARRAY"):
                raise NotImplementedError(f"the BigQuery double binds no nested field ({name})")
            value = literal(type_, param.struct_values[name])
            fields.append(exp.PropertyEQ(this=exp.to_identifier(name), expression=value))
        return exp.Struct(expressions=fields)
    if isinstance(param, bigquery.ArrayQueryParameter) and isinstance(param.array_type, str):
        array = exp.Array(expressions=[literal(param.array_type, v) for v in param.values])
        return exp.cast(array, exp.DataType.build(f"ARRAY<{param.array_type}>", dialect="bigquery"))
    raise NotImplementedError(f"the BigQuery double binds no {type(param).__name__}")


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
