"""Drive a date range through the real pipeline: scrape, push, raw, analytics; resumable."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import repeat

from libs.common.sources.registry import SOURCES
from nba_pipeline.pipeline import PipelineClient, RunReport

WAIT_EVERY_DATES = 7
"""Let the pipeline catch up every week of dates, so a long backfill never floods it."""


LIVE_ONLY = frozenset({"oddsa_events", "oddsa_player_props"})
"""Scrapers of what is on offer now: a past date comes from their historical twin instead."""


def not_by_date(name: str) -> str | None:
    """Why a scraper cannot be run for a date alone, or None when it can."""
    fields = SOURCES[name].params_model.model_fields
    if "date" not in fields:
        return f"{name} takes no date"
    extra = [field for field, info in fields.items() if info.is_required() and field != "date"]
    return f"{name} also needs {', '.join(extra)}" if extra else None


def date_scrapers() -> list[str]:
    """Scrapers run for a game date and needing nothing else: what a backfill runs by default."""
    return [name for name in SOURCES if not not_by_date(name) and name not in LIVE_ONLY]


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
    republished: list[str] = field(default_factory=list)
    """Runs of an earlier backfill that had not reached every phase, republished on resume."""
    rows: dict[str, int | None] = field(default_factory=dict)

    @property
    def failures(self) -> list[RunReport]:
        return [
            run
            for run in self.runs
            if run.status_code >= 400 or run.status not in ("success", "no_data")
        ]


def already_loaded(
    client: PipelineClient, start: dt.date, end: dt.date
) -> dict[tuple[str, str], str]:
    """(scraper_name, game_date) pairs with a successful or no-data run, to the run's id."""
    done = {}
    for status in ("success", "no_data"):
        for run in client.executions(
            status=status, **{"from": start.isoformat(), "to": end.isoformat()}
        ):
            done[(run["scraper_name"], str(run["game_date"]))] = str(run["execution_id"])
    return done


def backfill(
    client: PipelineClient,
    start: dt.date,
    end: dt.date,
    scrapers: list[str] | None = None,
    force: bool = False,
    on_date: Callable[[dt.date], None] | None = None,
    parallel: int = 1,
) -> BackfillReport:
    """Scrape every date for every scraper and wait until all phases applied the runs.

    `parallel` scrapes of a date run at once (each scraper calls its own upstream); dates
    still go one after another, so an interrupted backfill resumes at a date boundary.
    """
    names = scrapers or date_scrapers()
    unknown = sorted(set(names) - set(SOURCES))
    if unknown:
        raise ValueError(f"unknown scrapers {unknown}; known: {', '.join(sorted(SOURCES))}")
    for name in names:
        if problem := not_by_date(name):
            raise ValueError(
                f"{problem}: a backfill runs scrapers given only a date, e.g. "
                f"{', '.join(date_scrapers())}"
            )
    done = {} if force else already_loaded(client, start, end)
    report = BackfillReport()
    if done:
        report.republished = client.republish_unfinished(list(done.values()))
    in_flight: list[RunReport] = []
    pool = ThreadPoolExecutor(parallel, thread_name_prefix="backfill")
    try:
        for index, day in enumerate(dates(start, end), start=1):
            wanted = []
            for name in names:
                if execution_id := done.get((name, day.isoformat())):
                    # An interrupted backfill may have left it mid-pipeline: wait for it too.
                    in_flight.append(RunReport(
                        name, {}, 200, {"execution_id": execution_id, "status": "success"}
                    ))  # fmt: skip
                    report.skipped += 1
                else:
                    wanted.append(name)
            params = repeat({"date": day.isoformat()})
            runs = list(pool.map(client.scrape, wanted, params, repeat("BACKFILL")))
            report.runs += runs
            in_flight += runs
            if index % WAIT_EVERY_DATES == 0:
                client.wait(in_flight, timeout=600)
                in_flight = []
            if on_date is not None:
                on_date(day)
    finally:
        # Stopped (a stop signal raises in the main thread) or failed: queued scrapes never
        # start, and nobody waits for those already sent (each ends on its service; a re-run
        # skips what they recorded).
        pool.shutdown(wait=False, cancel_futures=True)
    client.wait(in_flight, timeout=600)
    report.rows = client.table_counts(start, end)
    return report
