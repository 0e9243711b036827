"""Table declarations: written once, rendered to DuckDB DDL and BigQuery SchemaFields."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

ColumnType = Literal["STRING", "INT64", "FLOAT64", "BOOL", "DATE", "TIMESTAMP", "JSON"]


@dataclass(frozen=True)
class Column:
    """One column; `required` columns are NOT NULL in both warehouses."""

    name: str
    type: ColumnType
    required: bool = False
    description: str = ""


@dataclass(frozen=True)
class Table:
    """A warehouse table: `dataset.name`, its columns and the natural key a load replaces by.

    `cluster_by` (BigQuery clustering) defaults to the natural key's first four columns; a
    log table with no natural key names the columns it is looked up by.
    """

    dataset: str
    name: str
    columns: tuple[Column, ...]
    natural_key: tuple[str, ...] = ()
    partition_column: str | None = None
    description: str = ""
    cluster_by: tuple[str, ...] = ()
    derived: bool = False
    """Written only by partition rebuilds from other tables (nba_analytics), never by key: a
    rebuild replaces a partition whatever its rows' keys, so a key column a newer release
    adds may be added to an existing table (`added_columns`)."""
    column_names: tuple[str, ...] = field(init=False)
    versioned: bool = field(init=False)
    """Whether loads are ordered by `VERSION_COLUMNS` (raw tables) instead of arrival."""

    def __post_init__(self) -> None:
        names = tuple(c.name for c in self.columns)
        object.__setattr__(self, "column_names", names)
        object.__setattr__(self, "versioned", all(c in names for c in VERSION_COLUMNS))
        object.__setattr__(self, "cluster_by", self.cluster_by or self.natural_key[:4])
        for role, keys in (("natural key", self.natural_key), ("cluster_by", self.cluster_by)):
            unknown = [k for k in keys if k not in names]
            if unknown:
                raise ValueError(f"{self.fqn}: {role} columns {unknown} are not columns")
        nullable = [c.name for c in self.columns if c.name in self.natural_key and not c.required]
        if nullable:
            raise ValueError(
                f"{self.fqn}: natural key columns {nullable} must be required (NOT NULL), "
                "so upserts can match keys with '='"
            )

    @property
    def fqn(self) -> str:
        """`dataset.table`, the name used in docs, messages and SQL templates."""
        return f"{self.dataset}.{self.name}"


def added_columns(table: Table, present: Iterable[str]) -> list[Column]:
    """Declared columns an existing table lacks: a newer release added them.

    They are added NULLABLE whatever the declaration says (neither warehouse can add a
    NOT NULL column to a table that has rows), so rows loaded before hold NULL there. A
    natural-key column can never be added this way to a loaded table: old rows would have no
    key. A `derived` table's old rows hold NULL there until their partition is rebuilt.
    """
    names = set(present)
    missing = [c for c in table.columns if c.name not in names]
    keys = [] if table.derived else [c.name for c in missing if c.name in table.natural_key]
    if keys:
        raise ValueError(
            f"{table.fqn} exists without its natural key columns {keys}: rows loaded before "
            "cannot be keyed; migrate the table by hand (docs/operations.md)"
        )
    return missing


def col(name: str, type_: ColumnType, required: bool = False, description: str = "") -> Column:
    """Short constructor so table declarations read as a column list."""
    return Column(name, type_, required, description)


LINEAGE_COLUMNS: tuple[Column, ...] = (
    col("execution_id", "STRING", True, "scraper run that produced the row (uuid4)"),
    col("source_file", "STRING", True, "gs:// path of the raw file the row was parsed from"),
    col("loaded_at", "TIMESTAMP", True, "when the processor loaded the row"),
    col(
        "fetched_at",
        "TIMESTAMP",
        description="when the file's upstream response was fetched: a load never replaces a "
        "row with one from an older file (null on rows loaded before this column existed)",
    ),
)
"""Columns every raw table ends with, so any row can be traced to its run and file."""

VERSION_COLUMNS = ("fetched_at", "source_file")
"""What orders two loads of one natural key in a table that has them: the row from the file
fetched later wins (the file name breaks a tie), whatever order the loads arrive in."""
