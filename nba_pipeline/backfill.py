"""Drive a date range through the real pipeline: scrape, push, raw, analytics; resumable."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from libs.common.sources.registry import SOURCES
from nba_pipeline.pipeline import PipelineClient, RunReport

WAIT_EVERY_DATES = 7
"""Let the pipeline catch up every week of dates, so a long backfill never floods it."""


def date_scrapers() -> list[str]:
    """Scrapers whose only required parameter is the game date: what a backfill runs by default."""
    names = []
    for source in SOURCES.values():
        required = {name for name, f in source.params_model.model_fields.items() if f.is_required()}
        if required == {"date"}:
            names.append(source.name)
    return names


def dates(start: dt.date, end: dt.date) -> Iterator[dt.date]:
    """Every date from start to end, inclusive."""
    day = start
    while day <= end:
        yield day
        day += dt.timedelta(days=1)


@dataclass
class BackfillReport:
    """What a backfill did: runs made and skipped, failures, rows per table at the end."""

    runs: list[RunReport] = field(default_factory=list)
    skipped: int = 0
    rows: dict[str, int | None] = field(default_factory=dict)

    @property
    def failures(self) -> list[RunReport]:
        return [
            run
            for run in self.runs
            if run.status_code >= 400 or run.status not in ("success", "no_data")
        ]


def already_loaded(client: PipelineClient, start: dt.date, end: dt.date) -> set[tuple[str, str]]:
    """(scraper_name, game_date) pairs with a successful or no-data run: skipped on resume."""
    done = set()
    for status in ("success", "no_data"):
        for run in client.executions(
            status=status, **{"from": start.isoformat(), "to": end.isoformat()}
        ):
            done.add((run["scraper_name"], str(run["game_date"])))
    return done


def backfill(
    client: PipelineClient,
    start: dt.date,
    end: dt.date,
    scrapers: list[str] | None = None,
    force: bool = False,
    on_date: Callable[[dt.date], None] | None = None,
) -> BackfillReport:
    """Scrape every date for every scraper and wait until all phases applied the runs."""
    names = scrapers or date_scrapers()
    unknown = sorted(set(names) - set(SOURCES))
    if unknown:
        raise ValueError(f"unknown scrapers {unknown}; known: {', '.join(sorted(SOURCES))}")
    done = set() if force else already_loaded(client, start, end)
    report = BackfillReport()
    in_flight: list[RunReport] = []
    for index, day in enumerate(dates(start, end), start=1):
        for name in names:
            if (name, day.isoformat()) in done:
                report.skipped += 1
                continue
            run = client.scrape(name, {"date": day.isoformat()}, workflow="BACKFILL")
            report.runs.append(run)
            in_flight.append(run)
        if index % WAIT_EVERY_DATES == 0:
            client.wait(in_flight, timeout=600)
            in_flight = []
        if on_date is not None:
            on_date(day)
    client.wait(in_flight, timeout=600)
    report.rows = client.table_counts(start, end)
    return report
