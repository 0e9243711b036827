"""Pure decision logic: given the config, the day's games and what already ran, RUN / SKIP / ABORT."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Literal

from libs.common.clock import EASTERN
from services.scrapers.orchestration.config import Window, Workflow, WorkflowConfig

Verdict = Literal["RUN", "SKIP", "ABORT"]
SCHEDULE_SOURCE = "nbac_schedule"
"""The scraper whose rows say which days have games, and when they tip off."""
FREQUENCY_TOLERANCE = dt.timedelta(minutes=10)
"""An hourly evaluator drifts a little; a frequency slot counts as due this much early."""


@dataclass(frozen=True)
class DayGames:
    """Tip-off times (aware) of the games on one date."""

    game_date: dt.date
    tipoffs: tuple[dt.datetime, ...] = ()
    schedule_loaded: bool = True
    """False when the season schedule has no rows at all: "no games" would then be a guess."""

    @property
    def count(self) -> int:
        return len(self.tipoffs)


@dataclass
class History:
    """What a workflow did today, and the latest status of each scraper today."""

    runs: list[tuple[dt.datetime, str]] = field(default_factory=list)
    """(decided_at, outcome) of today's RUN decisions, oldest first."""
    scraper_status: dict[str, tuple[dt.datetime, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    """A verdict with the reason a person reads on the dashboard."""

    verdict: Verdict
    reason: str
    target_date: dt.date
    attempt: int = 0


def target_date(workflow: Workflow, today: dt.date) -> dt.date:
    """The game date a workflow scrapes: yesterday for post-game and discovery, else today."""
    if workflow.decision in ("game_aware_yesterday", "discovery"):
        return today - dt.timedelta(days=1)
    return today


def window_bounds(
    window: Window, day: dt.date, games: DayGames
) -> tuple[dt.datetime, dt.datetime] | None:
    """The window on `day` in Eastern time; None when it is relative to games and there are none."""
    if window.start is not None and window.end is not None:
        start = dt.datetime.combine(day, window.start, EASTERN)
        return start, dt.datetime.combine(day, window.end, EASTERN)
    if not games.tipoffs or window.hours_before_first_game is None:
        return None
    first, last = min(games.tipoffs).astimezone(EASTERN), max(games.tipoffs).astimezone(EASTERN)
    start = first - dt.timedelta(hours=window.hours_before_first_game)
    return start, last if window.until == "last_game" else first


def expected_times(workflow: Workflow, day: dt.date, games: DayGames) -> list[dt.datetime]:
    """Hours at which an hourly evaluator should decide RUN (the daily expected schedule)."""
    bounds = window_bounds(workflow.window, day, games)
    if bounds is None:
        return []
    start, end = bounds
    first = start.replace(minute=0, second=0, microsecond=0)
    if first < start:
        first += dt.timedelta(hours=1)
    if workflow.frequency_hours is None:
        return [first] if first <= end else []
    times: list[dt.datetime] = []
    slot = first
    step = dt.timedelta(hours=math.ceil(workflow.frequency_hours))
    while slot <= end and len(times) < workflow.max_attempts:
        times.append(slot)
        slot += step
    return times


def decide(
    name: str,
    workflow: Workflow,
    config: WorkflowConfig,
    now: dt.datetime,
    games: DayGames,
    history: History,
) -> Decision:
    """RUN, SKIP or ABORT, checked in the order a person would reason."""
    local = now.astimezone(EASTERN)
    target = target_date(workflow, local.date())
    if workflow.decision in ("game_aware", "game_aware_yesterday") and games.count == 0:
        if not games.schedule_loaded:
            return Decision("SKIP", f"season schedule not loaded yet ({SCHEDULE_SOURCE} "
                            "has no rows); retried next hour", target)  # fmt: skip
        return Decision("SKIP", f"no games on {target}", target)
    bounds = window_bounds(workflow.window, local.date(), games)
    if bounds is None or not bounds[0] <= local <= bounds[1]:
        shown = f"{bounds[0]:%H:%M}-{bounds[1]:%H:%M} ET" if bounds else "none today"
        return Decision("SKIP", f"outside window ({shown})", target)
    runs = history.runs
    if runs and runs[-1][0].astimezone(EASTERN).replace(
        minute=0, second=0, microsecond=0
    ) == local.replace(minute=0, second=0, microsecond=0):
        return Decision("SKIP", f"already ran this hour ({local:%H}:00)", target)
    succeeded = [at for at, outcome in runs if outcome == "succeeded"]
    if workflow.frequency_hours is None and succeeded:
        return Decision(
            "SKIP", f"already succeeded at {succeeded[-1].astimezone(EASTERN):%H:%M} ET", target
        )
    if workflow.frequency_hours is not None and succeeded:
        due = succeeded[-1] + dt.timedelta(hours=workflow.frequency_hours) - FREQUENCY_TOLERANCE
        if now < due:
            return Decision("SKIP", f"ran at {succeeded[-1].astimezone(EASTERN):%H:%M} ET; next due "
                            f"{(due + FREQUENCY_TOLERANCE).astimezone(EASTERN):%H:%M} ET", target)  # fmt: skip
    if len(runs) >= workflow.max_attempts:
        return Decision(
            "ABORT", f"max attempts reached ({len(runs)}/{workflow.max_attempts})", target
        )
    for scraper in workflow.scrapers:
        for dependency in config.scrapers[scraper].depends_on:
            if dependency in workflow.scrapers:
                continue
            status = history.scraper_status.get(dependency)
            if status is not None and status[1] == "failed":
                return Decision("ABORT", f"dependency {dependency} failed at "
                                f"{status[0].astimezone(EASTERN):%H:%M} ET", target)  # fmt: skip
    games_note = f"{games.count} games on {target}" if games.count else f"for {target}"
    return Decision("RUN", f"due: in window, {games_note}", target, attempt=len(runs) + 1)
