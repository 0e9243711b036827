"""Drive a date range through the real pipeline: scrape, push, raw, analytics; resumable."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import repeat

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from libs.common.quota import odds_api_cost
from libs.common.sources.oddsapi import MARKET, REGIONS
from libs.common.sources.registry import SOURCES
from nba_pipeline.pipeline import PipelineClient, RunReport, awaited

WAIT_EVERY_DATES = 7
"""Let the pipeline catch up every week of dates, so a long backfill never floods it."""


def not_by_date(name: str) -> str | None:
    """Why a scraper cannot be run for a date alone, or None when it can."""
    fields = SOURCES[name].params_model.model_fields
    if "date" not in fields:
        return f"{name} takes no date"
    extra = [field for field, info in fields.items() if info.is_required() and field != "date"]
    return f"{name} also needs {', '.join(extra)}" if extra else None


def date_scrapers() -> list[str]:
    """Scrapers run for a game date and needing nothing else: what a backfill runs by default.
    Live-only ones serve only the present (a past date comes from their historical twin)."""
    return [name for name in SOURCES if not not_by_date(name) and not SOURCES[name].live_only]


class BackfillSettings(BaseSettings):
    """What `nba-pipeline backfill` reads from the environment (or `.env`)."""

    model_config = SettingsConfigDict(env_file=".env", env_ignore_empty=True, extra="ignore")

    odds_api_backfill_credits: int = Field(
        5000, ge=0, description="Odds API credits a backfill may spend without --yes"
    )


MAX_GAMES_PER_DATE = 15
"""30 teams play at most 15 games on a date, so a date's estimate is the most it can cost."""

ODDS_API_RUNS: dict[str, tuple[bool, bool]] = {
    "oddsa_events": (False, False),
    "oddsa_events_his": (True, False),
    "oddsa_player_props": (False, True),
    "oddsa_player_props_his": (True, True),
}
"""Each Odds API scraper's run for a date: (historical, then one odds request per listed event)."""


def odds_api_credits_per_date(name: str) -> int:
    """The most Odds API credits one date of a scraper costs (0 for other upstreams): its
    events list, then, for a props scraper, the odds of every game of the date."""
    if name not in ODDS_API_RUNS:
        return 0
    historical, per_event = ODDS_API_RUNS[name]
    listing = odds_api_cost(historical)
    if not per_event:
        return listing
    markets, regions = len(MARKET.split(",")), len(REGIONS.split(","))
    return listing + MAX_GAMES_PER_DATE * odds_api_cost(historical, markets, regions)


@dataclass(frozen=True)
class CreditEstimate:
    """The most Odds API credits a backfill's runs can cost: per scraper, (dates, per date)."""

    per_scraper: dict[str, tuple[int, int]]

    @property
    def total(self) -> int:
        return sum(runs * per_date for runs, per_date in self.per_scraper.values())

    def describe(self) -> str:
        """One line an operator can check against the plan's pricing."""
        parts = [
            f"{name}: {runs} dates x {per_date}"
            for name, (runs, per_date) in sorted(self.per_scraper.items())
        ]
        return (
            f"Odds API credits: at most {self.total:,} ({'; '.join(parts)}). A historical "
            "events list costs 1 credit, a historical odds request 10 per market per region; "
            f"props are counted for {MAX_GAMES_PER_DATE} games a date, the most a date has."
        )


@dataclass(frozen=True)
class BackfillPlan:
    """What a backfill will run: the scrapers, the (scraper, date) runs it skips, their cost."""

    names: list[str]
    done: dict[tuple[str, str], str]
    """(scraper_name, game_date) pairs with a successful or no-data run, to the run's id."""
    credits: CreditEstimate


def plan_backfill(
    client: PipelineClient,
    start: dt.date,
    end: dt.date,
    scrapers: list[str] | None = None,
    force: bool = False,
) -> BackfillPlan:
    """Check the scrapers, find the runs an earlier backfill made, estimate the credits left
    to spend; raises ValueError naming a scraper a backfill cannot run."""
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
    days = [day.isoformat() for day in dates(start, end)]
    credits = {
        name: (sum((name, day) not in done for day in days), per_date)
        for name in names
        if (per_date := odds_api_credits_per_date(name))
    }
    return BackfillPlan(names, done, CreditEstimate(credits))


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
    plan: BackfillPlan | None = None,
) -> BackfillReport:
    """Scrape every date for every scraper and wait until all phases applied the runs.

    `parallel` scrapes of a date run at once (each scraper calls its own upstream); dates
    still go one after another, so an interrupted backfill resumes at a date boundary.
    `plan` is `plan_backfill` of the same arguments, when the caller looked at it first.
    """
    plan = plan or plan_backfill(client, start, end, scrapers, force)
    names, done = plan.names, plan.done
    report = BackfillReport()
    if done:
        report.republished = client.republish_unfinished(list(done.values()))
    in_flight: list[str] = []
    pool = ThreadPoolExecutor(parallel, thread_name_prefix="backfill")
    try:
        for index, day in enumerate(dates(start, end), start=1):
            wanted = []
            for name in names:
                if execution_id := done.get((name, day.isoformat())):
                    # An interrupted backfill may have left it mid-pipeline: wait for it too.
                    in_flight.append(execution_id)
                    report.skipped += 1
                else:
                    wanted.append(name)
            params = repeat({"date": day.isoformat()})
            runs = list(pool.map(client.scrape, wanted, params, repeat("BACKFILL")))
            report.runs += runs
            in_flight += awaited(runs)
            if index % WAIT_EVERY_DATES == 0:
                client.wait_applied(in_flight, timeout=600)
                in_flight = []
            if on_date is not None:
                on_date(day)
    finally:
        # Stopped (a stop signal raises in the main thread) or failed: queued scrapes never
        # start, and nobody waits for those already sent (each ends on its service; a re-run
        # skips what they recorded).
        pool.shutdown(wait=False, cancel_futures=True)
    client.wait_applied(in_flight, timeout=600)
    report.rows = client.table_counts(start, end)
    return report
