"""Render docs/tables.md from the table declarations, so the docs cannot drift from the code."""

from __future__ import annotations

from libs.common.analytics import ANALYTICS_TABLES
from libs.common.audit import PROCESSED_MESSAGES
from libs.common.sources.registry import SOURCES, raw_tables
from libs.common.warehouse.schema import Table
from services.scrapers.tables import SCRAPERS_TABLES

HEADER = """# Tables

Generated from the table declarations by `uv run nba-pipeline docs-tables > docs/tables.md`
(a test fails when this file is out of date). Every table is declared once in code and
rendered to DuckDB DDL and BigQuery schemas. **Key** is the natural key a load replaces by;
*required* columns are NOT NULL.
"""


def render_table(table: Table) -> str:
    """One table's section."""
    writers = sorted(s.name for s in SOURCES.values() if s.table.fqn == table.fqn)
    lines = [f"### `{table.fqn}`", ""]
    if table.description:
        lines += [table.description, ""]
    if writers:
        lines += [f"Loaded from: {', '.join(f'`{w}`' for w in writers)}.", ""]
    if table.natural_key:
        lines += [
            f"Key: ({', '.join(table.natural_key)})"
            + (f"; partitioned by `{table.partition_column}`" if table.partition_column else ""),
            "",
        ]
    elif table.cluster_by:
        lines += [f"Appended, no key; looked up by ({', '.join(table.cluster_by)})", ""]
    lines += ["| column | type | description |", "|---|---|---|"]
    for column in table.columns:
        required = " *required*" if column.required else ""
        lines.append(f"| `{column.name}` | {column.type}{required} | {column.description} |")
    return "\n".join(lines) + "\n"


def render() -> str:
    """The whole page."""
    sections = [HEADER]
    for title, tables in (
        ("nba_raw", raw_tables()),
        ("nba_analytics", list(ANALYTICS_TABLES)),
        ("nba_orchestration", [*SCRAPERS_TABLES, PROCESSED_MESSAGES]),
    ):
        sections.append(f"## {title}\n")
        sections += [render_table(table) for table in sorted(tables, key=lambda t: t.fqn)]
    return "\n".join(sections)
