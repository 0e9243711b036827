"""`nba-pipeline players`: the player identity as an operator checks it.

It asks the scrapers service (which owns the warehouse: locally DuckDB admits one process per
file) for what `nba_analytics.player_map` could not resolve.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table as RichTable

from nba_pipeline.pipeline import ask_scrapers

players_app = typer.Typer(help="The player identity: book names matched to players.")


@players_app.command()
def unmatched(
    date_from: Annotated[
        dt.datetime, typer.Option("--from", formats=["%Y-%m-%d"], help="first game date")
    ],
    date_to: Annotated[
        dt.datetime, typer.Option("--to", formats=["%Y-%m-%d"], help="last game date")
    ],
    url: Annotated[str, typer.Option(help="scrapers service")] = "http://127.0.0.1:8081",
) -> None:
    """List every prop name of the dates that matched no player.

    Add each to config/player_overrides.yaml (the book, the name as printed, the player's
    balldontlie id), deploy, and rebuild those dates.
    """
    start, end = date_from.date(), date_to.date()
    if end < start:
        typer.echo("--to is before --from", err=True)
        raise typer.Exit(2)
    names = ask_scrapers(
        "players unmatched", url, lambda client: client.unmatched_names(start, end)
    )
    table = RichTable(title=f"Prop names matching no player, {start} to {end}")
    for column in ("game date", "book", "name"):
        table.add_column(column)
    for row in names:
        table.add_row(str(row["game_date"]), row["source"], row["name"])
    Console().print(table)
    typer.echo(f"unmatched names: {len(names)}")
