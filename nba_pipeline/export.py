"""`nba-pipeline export`: an analytics table over a date range as a CSV or Parquet file.

It reads through the scrapers service's `/admin/export`, as `players unmatched` does: that
service owns the warehouse (locally DuckDB admits one process per file, so the command works
while the stack runs) and is the one reachable from a laptop in production (analytics has
internal ingress), where the endpoint reads BigQuery through the same warehouse interface.
"""

from __future__ import annotations

import csv
import datetime as dt
import enum
import json
import tempfile
from pathlib import Path
from typing import Annotated, Any

import duckdb
import httpx
import typer

from libs.common.analytics import analytics_table
from libs.common.warehouse.duckdb.client import DUCKDB_TYPES
from libs.common.warehouse.schema import Table
from nba_pipeline.backfill import dates


class ExportFormat(enum.StrEnum):
    """What `--format` writes."""

    csv = "csv"
    parquet = "parquet"


def fetch_rows(http: httpx.Client, table: Table, day: dt.date) -> list[dict[str, Any]]:
    """One game date of `table` from `/admin/export`."""
    response = http.get("/admin/export", params={"table": table.fqn, "date": day.isoformat()})
    response.raise_for_status()
    return list(response.json()["rows"])


def write_csv(http: httpx.Client, table: Table, start: dt.date, end: dt.date, out: Path) -> int:
    """Rows of every date written as they arrive (NULL as an empty field); how many."""
    written = 0
    with out.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=table.column_names)
        writer.writeheader()
        for day in dates(start, end):
            rows = fetch_rows(http, table, day)
            writer.writerows(rows)
            written += len(rows)
    return written


def write_parquet(http: httpx.Client, table: Table, start: dt.date, end: dt.date, out: Path) -> int:
    """Rows of every date, typed as the table declares them (DuckDB writes the file)."""
    types = {c.name: DUCKDB_TYPES[c.type] for c in table.columns}
    con = duckdb.connect()
    try:
        columns = ", ".join(f'"{name}" {kind}' for name, kind in types.items())
        con.execute(f"CREATE TABLE export ({columns})")
        written = 0
        with tempfile.TemporaryDirectory() as tmp:
            for day in dates(start, end):
                rows = fetch_rows(http, table, day)
                if not rows:
                    continue
                lines = Path(tmp) / f"{day}.ndjson"
                lines.write_text("".join(json.dumps(row) + "\n" for row in rows))
                con.read_json(str(lines), format="newline_delimited", columns=types).insert_into(
                    "export"
                )
                written += len(rows)
        con.table("export").write_parquet(str(out))
    finally:
        con.close()
    return written


WRITERS = {ExportFormat.csv: write_csv, ExportFormat.parquet: write_parquet}


def export(
    table: Annotated[
        str, typer.Option(help="an analytics table, e.g. nba_analytics.player_game_lines")
    ],
    date_from: Annotated[
        dt.datetime, typer.Option("--from", formats=["%Y-%m-%d"], help="first game date")
    ],
    date_to: Annotated[
        dt.datetime, typer.Option("--to", formats=["%Y-%m-%d"], help="last game date")
    ],
    export_format: Annotated[ExportFormat, typer.Option("--format")] = ExportFormat.csv,
    out: Annotated[
        Path | None, typer.Option(help="file to write; default TABLE_FROM_TO.FORMAT here")
    ] = None,
    url: Annotated[str, typer.Option(help="scrapers service")] = "http://127.0.0.1:8081",
) -> None:
    """Write an analytics table's rows of the dates to a CSV or Parquet file, for notebooks."""
    try:
        declared = analytics_table(table)
    except ValueError as exc:
        typer.echo(f"--table {table}: {exc}", err=True)
        raise typer.Exit(2) from None
    start, end = date_from.date(), date_to.date()
    if end < start:
        typer.echo("--to is before --from", err=True)
        raise typer.Exit(2)
    path = out or Path(f"{declared.name}_{start}_{end}.{export_format.value}")
    with httpx.Client(base_url=url.rstrip("/"), timeout=120) as http:
        try:
            written = WRITERS[export_format](http, declared, start, end, path)
        except httpx.HTTPError as exc:
            typer.echo(f"export: {exc} (scrapers service {url})", err=True)
            raise typer.Exit(1) from None
    typer.echo(f"{written} rows of {declared.fqn} ({start} to {end}) written to {path}")
