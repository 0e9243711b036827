"""Games about to tip off without lines an analyst can use: the gauge
`nba.props.games_without_lines` that the "no props lines" alert reads
(infra/monitoring/policies.yaml), measured after every `/evaluate-captures`.

A game counts when it tips off within `HORIZON` and either no book's props for it were loaded,
or it is within `CLOSING_LINE_MAX_AGE_MINUTES` of its tip and its latest snapshot is older than
that: the rule that flags a closing line as stale (`player_game_lines.closing_stale`), read
while the captures before tip-off can still fix it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from opentelemetry import metrics

from libs.common.sources.registry import get_source
from libs.common.tracing import TRACER_NAME
from libs.common.warehouse import TableNotFoundError, Warehouse

log = logging.getLogger(__name__)

HORIZON = dt.timedelta(minutes=60)
"""How far ahead a tip-off is watched: the alert's "60 minutes before tip-off"."""
TIP_MATCH = dt.timedelta(minutes=10)
"""A book's event belongs to a tip-off within this much of NBA.com's time (as the captures'
fan-out matches them)."""
PROPS_SCRAPERS = ("oddsa_player_props", "bp_player_props")
SCHEDULE_SCRAPER = "nbac_schedule"

GAMES_WITHOUT_LINES = metrics.get_meter(TRACER_NAME).create_gauge(
    "nba.props.games_without_lines",
    unit="{game}",
    description="games tipping off within the hour with no props lines, or with only lines "
    "older than CLOSING_LINE_MAX_AGE_MINUTES once that close to tip-off",
)


@dataclass(frozen=True)
class BookEvent:
    """One book's props for one event: when it tips off, and its latest snapshot."""

    source: str
    commence_time: dt.datetime
    latest_snapshot: dt.datetime


def games_without_lines(
    tipoffs: Sequence[dt.datetime],
    events: Sequence[BookEvent],
    now: dt.datetime,
    max_age: dt.timedelta,
) -> int:
    """How many games tipping off within `HORIZON` of `now` lack usable lines. Games tipping
    together are told apart only by count: a tip-off's games are covered by as many of one
    source's events near that time (team names differ between NBA.com and the books)."""
    missing = 0
    for tipoff, games in Counter(tipoffs).items():
        if not now < tipoff <= now + HORIZON:
            continue
        closing = tipoff - now <= max_age
        usable = [event for event in events
                  if abs(event.commence_time - tipoff) <= TIP_MATCH
                  and not (closing and now - event.latest_snapshot > max_age)]  # fmt: skip
        covered = max(Counter(event.source for event in usable).values(), default=0)
        missing += max(0, games - covered)
    return missing


def observe_games_without_lines(
    warehouse: Warehouse, now: dt.datetime, max_age: dt.timedelta
) -> int:
    """Measure and record the gauge; a positive count is logged with its rule."""
    rows = warehouse.query(
        f"SELECT start_time_utc FROM {{{get_source(SCHEDULE_SCRAPER).table.fqn}}} "
        "WHERE start_time_utc > @now AND start_time_utc <= @until",
        {"now": now, "until": now + HORIZON},
    )
    tipoffs = [row["start_time_utc"] for row in rows]
    events: list[BookEvent] = []
    if tipoffs:
        window = {"from": now - TIP_MATCH, "to": now + HORIZON + TIP_MATCH,
                  "first_day": (now - dt.timedelta(days=1)).date(),
                  "last_day": (now + dt.timedelta(days=1)).date()}  # fmt: skip
        for scraper in PROPS_SCRAPERS:
            try:
                found = warehouse.query(
                    "SELECT event_id, MAX(commence_time) AS commence_time, "
                    f"MAX(snapshot_at) AS latest FROM {{{get_source(scraper).table.fqn}}} "
                    "WHERE game_date BETWEEN @first_day AND @last_day "
                    "AND commence_time BETWEEN @from AND @to GROUP BY event_id",
                    window,
                )
            except TableNotFoundError:  # the processors never loaded one: no lines at all
                found = []
            events += [BookEvent(scraper, row["commence_time"], row["latest"]) for row in found]
    missing = games_without_lines(tipoffs, events, now, max_age)
    GAMES_WITHOUT_LINES.set(missing)
    if missing:
        log.warning(
            "games tip off within the hour without usable props lines",
            extra={"fields": {"games": missing, "max_age_minutes": max_age.total_seconds() / 60}},
        )
    return missing
