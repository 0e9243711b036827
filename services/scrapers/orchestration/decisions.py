"""Pure decision logic: given the config, the day's games and what already ran, RUN / SKIP / ABORT."""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from libs.common.clock import EASTERN
from services.scrapers.orchestration.config import TIP_ANCHORED, Window, Workflow, WorkflowConfig

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
    expected_at: dt.datetime | None = None
    """The capture time a tip-anchored decision is for (None for hourly workflows)."""
    tipoffs: tuple[dt.datetime, ...] = ()
    """The tip-offs whose events a capture RUN scrapes (empty: every event of the date)."""


def target_date(workflow: Workflow, today: dt.date) -> dt.date:
    """The game date a workflow scrapes: yesterday for post-game and discovery, else today."""
    if workflow.decision in ("game_aware_yesterday", "discovery"):
        return today - dt.timedelta(days=1)
    return today


def window_bounds(
    window: Window | None, day: dt.date, games: DayGames
) -> tuple[dt.datetime, dt.datetime] | None:
    """The window on `day` in Eastern time; None when it is relative to games and there are none."""
    if window is None:
        return None
    if window.start is not None and window.end is not None:
        start = dt.datetime.combine(day, window.start, EASTERN)
        return start, dt.datetime.combine(day, window.end, EASTERN)
    if not games.tipoffs or window.hours_before_first_game is None:
        return None
    first, last = min(games.tipoffs).astimezone(EASTERN), max(games.tipoffs).astimezone(EASTERN)
    start = first - dt.timedelta(hours=window.hours_before_first_game)
    return start, last if window.until == "last_game" else first


def expected_times(workflow: Workflow, day: dt.date, games: DayGames) -> list[dt.datetime]:
    """Hours at which an hourly evaluator should decide RUN, or the capture times of a
    tip-anchored workflow (the daily expected schedule)."""
    if workflow.decision == TIP_ANCHORED:
        return sorted({capture.at for capture in captures(workflow, games)})
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


@dataclass(frozen=True)
class Capture:
    """The props of the games tipping off at `tipoff`, taken `offset` minutes before it."""

    tipoff: dt.datetime
    offset: int
    games: int

    @property
    def at(self) -> dt.datetime:
        return (self.tipoff - dt.timedelta(minutes=self.offset)).astimezone(EASTERN)

    @property
    def label(self) -> str:
        return f"T-{self.offset} of {self.tipoff.astimezone(EASTERN):%H:%M} ET"


def captures(workflow: Workflow, games: DayGames) -> list[Capture]:
    """Every (tip-off, offset) of the day by capture time; games tipping together share one."""
    tips = Counter(games.tipoffs)
    return sorted((Capture(tip, offset, count) for tip, count in tips.items()
                   for offset in workflow.offsets_minutes or ()), key=lambda c: (c.at, c.tipoff))  # fmt: skip


def schedule_reason(workflow: Workflow, at: dt.datetime, games: DayGames, target: dt.date) -> str:
    """Why the daily expected schedule has a row at `at`."""
    if workflow.decision != TIP_ANCHORED:
        return f"{workflow.decision}, {games.count} games on {target}"
    return f"{workflow.decision}, {describe(c for c in captures(workflow, games) if c.at == at)}"


def describe(group: Iterable[Capture]) -> str:
    return ", ".join(f"{c.label} ({c.games} game{'s' if c.games != 1 else ''})" for c in group)


CaptureHistory = dict[dt.datetime, list[tuple[str, str | None]]]
"""(decision, outcome) of the day's decisions per capture time, oldest first."""


def missed_because(capture: Capture, planned: list[Capture], now: dt.datetime) -> str | None:
    """Why a capture not taken yet can no longer be: its tip-off passed, or a later capture of
    the same tip-off is due already (a late run would be that one, not this one)."""
    if now >= capture.tipoff:
        return "tip-off passed"
    later = [c for c in planned if c.tipoff == capture.tipoff and capture.at < c.at <= now]
    return f"superseded by T-{later[-1].offset} at {later[-1].at:%H:%M} ET" if later else None


def decide_captures(
    workflow: Workflow, now: dt.datetime, games: DayGames, history: CaptureHistory
) -> list[Decision]:
    """RUN, or ABORT once it is missed or out of attempts, for each capture time due and not
    settled yet; a capture time with a RUN running or succeeded, or an ABORT, is settled."""
    today = now.astimezone(EASTERN).date()
    planned = captures(workflow, games)
    decisions = []
    for at in sorted({c.at for c in planned if c.at <= now}):
        past = history.get(at, [])
        if any(verdict == "ABORT" or (verdict == "RUN" and outcome != "failed")
               for verdict, outcome in past):  # fmt: skip
            continue
        group = [c for c in planned if c.at == at]
        why = {c: missed_because(c, planned, now) for c in group}
        due = [c for c in group if why[c] is None]
        missed = ", ".join(f"{c.label} ({why[c]})" for c in group if why[c] is not None)
        failed = sum(verdict == "RUN" for verdict, _ in past)
        if not due:
            after = f" after {failed} failed attempt{'s' if failed != 1 else ''}" if failed else ""
            decisions.append(Decision("ABORT", f"missed: {missed}{after}", today, expected_at=at))
        elif failed >= workflow.max_attempts:
            reason = f"max attempts reached ({failed}/{workflow.max_attempts})"
            decisions.append(Decision("ABORT", reason, today, expected_at=at))
        else:
            reason = f"due: {describe(due)}" + (f"; missed: {missed}" if missed else "")
            tipoffs = tuple(sorted({c.tipoff for c in due}))
            decisions.append(Decision("RUN", reason, today, failed + 1, at, tipoffs))
    return decisions
