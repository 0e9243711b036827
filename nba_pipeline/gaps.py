"""`nba-pipeline gaps`: failed scrapes as an operator reviews them, and the dismissal of those
no run can ever fill (a postponed game has no box score), which the gap backfiller would
otherwise re-run, and the gap alert report, forever.

It goes through the scrapers service, which owns the warehouse.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table as RichTable

from nba_pipeline.pipeline import ask_scrapers

gaps_app = typer.Typer(help="Failed scrapes (gaps): list them, dismiss those no run can fill.")

URL = typer.Option(help="scrapers service")


@gaps_app.command("list")
def list_gaps(
    include_closed: Annotated[
        bool, typer.Option("--all", help="also gaps closed by data or dismissed")
    ] = False,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 200,
    url: Annotated[str, URL] = "http://127.0.0.1:8081",
) -> None:
    """List gaps, the last failed first: what failed, how often, and why it is still open."""
    gaps = ask_scrapers("gaps list", url, lambda client: client.gaps(include_closed, limit))
    table = RichTable(title="Gaps" + (" (all)" if include_closed else " (open)"))
    table.add_column("failure_id", no_wrap=True, min_width=36)  # whole, to paste into dismiss
    for column in ("scraper", "game date", "attempts", "last error", "state"):
        table.add_column(column)
    for gap in gaps:
        table.add_row(
            gap["failure_id"],
            gap["scraper_name"],
            str(gap["game_date"] or ""),
            str(gap["attempts"]),
            gap["error_message"] or gap["error_class"] or "",
            _state(gap),
        )
    Console().print(table)
    typer.echo(f"gaps: {len(gaps)}")


def _state(gap: dict[str, Any]) -> str:
    if gap["backfilled"]:
        return f"filled by {gap['backfill_execution_id']}"
    if gap["dismissed_at"]:
        by = f" by {gap['dismissed_by']}" if gap["dismissed_by"] else ""
        return f"dismissed{by}: {gap['dismissed_reason']}"
    if gap["unrecoverable"]:
        return f"open, cannot be re-run: {gap['unrecoverable']}"
    return "open"


@gaps_app.command()
def dismiss(
    failure_id: Annotated[str, typer.Argument(help="from `nba-pipeline gaps list`")],
    reason: Annotated[str, typer.Option(help="why no run will fill it; kept on the gap")],
    url: Annotated[str, URL] = "http://127.0.0.1:8081",
) -> None:
    """Close a gap no run can fill: the backfiller stops re-running it and its alert clears.

    The data it lacks stays lacking, and a later failure of the same scrape opens a new gap.
    Dismissing twice changes nothing.
    """
    answer = ask_scrapers(
        "gaps dismiss", url, lambda client: client.dismiss_gap(failure_id, reason)
    )
    gap = answer["gap"]
    typer.echo(f"dismissed {gap['failure_id']} ({gap['scraper_name']}): {gap['dismissed_reason']}")
    for alert in answer["cleared_alerts"]:
        typer.echo(f"cleared alert {alert}")
