"""Orchestration against the warehouse: write the daily schedule, evaluate and run workflows."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from libs.common.audit import final_runs
from libs.common.clock import EASTERN, Clock
from libs.common.gcs import FileAlreadyExistsError, RawFileStore
from libs.common.messages import RunResult
from libs.common.sources.props import CLOSING_LINE_MAX_AGE_MINUTES
from libs.common.sources.registry import get_source
from libs.common.teams import TEAMS, Team
from libs.common.warehouse.base import Warehouse
from services.scrapers.orchestration.config import (
    TIP_ANCHORED,
    ScraperRules,
    Workflow,
    WorkflowConfig,
)
from services.scrapers.orchestration.decisions import (
    SCHEDULE_SOURCE,
    CaptureHistory,
    DayGames,
    Decision,
    History,
    decide,
    decide_captures,
    expected_times,
    schedule_reason,
    target_date,
)
from services.scrapers.orchestration.lines import observe_games_without_lines
from services.scrapers.runner import ScrapeRunner
from services.scrapers.tables import DAILY_EXPECTED_SCHEDULE, WORKFLOW_DECISIONS

log = logging.getLogger(__name__)

TEAM_ID_BY_UPSTREAM = {"espn": "espn_id", "nbacom_web": "nba_id", "balldontlie": "bdl_id"}
TIP_COLUMNS = ("commence_time", "scheduled")
"""Where an events row has its tip-off: Odds API `commence_time`, BettingPros `scheduled`."""
TIP_TOLERANCE = dt.timedelta(minutes=10)
"""An upstream's tip-off may differ from NBA.com's by a few minutes; tips are 30 apart."""
DAILY_SCHEDULE_WORKFLOW = "daily_schedule"
"""The workflow name of the season-schedule scrape a cold `/generate-daily-schedule` makes."""


class DecisionRecord(BaseModel):
    """One workflow's decision as `/evaluate-workflows` reports it."""

    workflow: str
    decision: str
    reason: str
    target_date: dt.date
    attempt: int = 0
    expected_at: dt.datetime | None = None
    outcome: str | None = None
    execution_ids: list[str] = []


def day_games(rows: list[dict[str, Any]], day: dt.date, schedule_loaded: bool = True) -> DayGames:
    """The tip-offs on `day` among season schedule rows (`game_date`, `start_time_utc`)."""
    tipoffs = tuple(row["start_time_utc"] for row in rows
                    if row["game_date"] == day and row["start_time_utc"] is not None)  # fmt: skip
    return DayGames(day, tipoffs, schedule_loaded)


SCHEDULE_TABLE = get_source(SCHEDULE_SOURCE).table.fqn
"""The table the season-schedule scraper's rows are loaded into."""


def schedule_loaded(warehouse: Warehouse) -> bool:
    """Whether the season schedule has been loaded at all (a cold warehouse has no rows)."""
    rows = warehouse.query(f"SELECT count(*) AS n FROM {{{SCHEDULE_TABLE}}}")
    return int(rows[0]["n"]) > 0


class DailySchedule(BaseModel):
    """What `/generate-daily-schedule` wrote, and how it knew the day's games."""

    schedule_date: dt.date
    expected: list[dict[str, Any]]
    note: str | None = Field(
        None, description="set when the season schedule had to be scraped first"
    )
    execution_ids: list[str] = Field([], description="the season-schedule scrape, if one was made")


def games_on(warehouse: Warehouse, day: dt.date) -> DayGames:
    """The day's tip-offs from the loaded NBA.com season schedule."""
    rows = warehouse.query(
        f"SELECT game_date, start_time_utc FROM {{{SCHEDULE_TABLE}}} WHERE game_date = @d",
        {"d": day},
    )
    return day_games(rows, day, bool(rows) or schedule_loaded(warehouse))


GamesLookup = Callable[[dt.date], DayGames]


def write_daily_schedule(
    warehouse: Warehouse, config: WorkflowConfig, day: dt.date, now: dt.datetime,
    games_of: GamesLookup,
) -> list[dict[str, Any]]:  # fmt: skip
    """Replace `day`'s expected schedule: which workflow should decide RUN at which hour."""
    rows = []
    for name, workflow in sorted(config.workflows.items(), key=lambda item: item[1].priority):
        target = target_date(workflow, day)
        games = games_of(target)
        window_games = games_of(day) if workflow.decision == "game_aware" else games
        if workflow.decision in ("game_aware", "game_aware_yesterday") and games.count == 0:
            continue
        for at in expected_times(workflow, day, window_games):
            rows.append({"schedule_date": day, "workflow": name, "expected_at": at, "decision_type": workflow.decision,
                         "target_date": target, "games": games.count,
                         "reason": schedule_reason(workflow, at, window_games, target), "generated_at": now})  # fmt: skip
    warehouse.replace(DAILY_EXPECTED_SCHEDULE, {"schedule_date": day}, rows)
    return rows


def history_of(warehouse: Warehouse, workflow: str, day: dt.date) -> History:
    """Today's RUN decisions of a workflow and the latest status of every scraper today."""
    runs = warehouse.query(
        "SELECT decided_at, outcome FROM {nba_orchestration.workflow_decisions} "
        "WHERE schedule_date = @d AND workflow = @w AND decision = 'RUN' ORDER BY decided_at",
        {"d": day, "w": workflow},
    )
    start = dt.datetime.combine(day, dt.time(0), EASTERN)
    today = "started_at >= @start AND started_at < @end"
    statuses = warehouse.query(
        f"SELECT scraper_name, status, finished_at FROM {final_runs(today)} ORDER BY finished_at",
        {"start": start, "end": start + dt.timedelta(days=1)},
    )
    return History(
        runs=[(row["decided_at"], row["outcome"]) for row in runs],
        scraper_status={
            row["scraper_name"]: (row["finished_at"], row["status"]) for row in statuses
        },
    )


def capture_history(warehouse: Warehouse, workflow: str, day: dt.date) -> CaptureHistory:
    """Today's decisions of a tip-anchored workflow, per capture time."""
    rows = warehouse.query(
        "SELECT expected_at, decision, outcome FROM {nba_orchestration.workflow_decisions} "
        "WHERE schedule_date = @d AND workflow = @w AND expected_at IS NOT NULL ORDER BY decided_at",
        {"d": day, "w": workflow},
    )
    history: CaptureHistory = {}
    for row in rows:
        history.setdefault(row["expected_at"], []).append((row["decision"], row["outcome"]))
    return history


def tips_at(row: dict[str, Any], tipoffs: tuple[dt.datetime, ...]) -> bool:
    """Whether an events row tips off at one of `tipoffs` (every row when there are none)."""
    if not tipoffs:
        return True
    tip = next((row[c] for c in TIP_COLUMNS if row.get(c) is not None), None)
    return tip is not None and any(abs(tip - t) <= TIP_TOLERANCE for t in tipoffs)


def team_params(source_upstream: str, fields: set[str], team: Team) -> dict[str, Any]:
    """A roster scraper's team parameters, in that upstream's own ids."""
    params: dict[str, Any] = {"team_id": str(getattr(team, TEAM_ID_BY_UPSTREAM[source_upstream]))}
    return params | ({"slug": team.slug} if "slug" in fields else {})


def run_ok(outcome: RunResult, rules: ScraperRules) -> bool:
    """Whether a run counts as a success for its workflow."""
    status = outcome.status
    return status == "success" or (status == "no_data" and rules.treat_no_data_as_success)


@dataclass
class PlanResult:
    """Runs a plan made, per scraper."""

    outcomes: dict[str, list[RunResult]]
    skipped: dict[str, str]
    succeeded: bool

    @property
    def execution_ids(self) -> list[str]:
        return [o.execution_id for runs in self.outcomes.values() for o in runs]


CLAIMS_PREFIX = "orchestration/claims"
"""Where RUN decisions claim their attempt in the raw-data bucket (one small object each)."""


def claim_attempt(
    store: RawFileStore, workflow: str, day: dt.date, attempt: int, decision_id: str
) -> bool:
    """Claim a workflow's attempt of the day for this instance; False if another instance
    claimed it first.

    Creating an object only if absent is atomic in GCS, so of two instances that decide RUN
    for the same attempt at the same moment (each before seeing the other's decision row),
    exactly one runs the plan.
    """
    name = f"{CLAIMS_PREFIX}/{day.isoformat()}/{workflow}/attempt-{attempt}.json"
    try:
        store.write_json(name, {"decision_id": decision_id})
    except FileAlreadyExistsError:
        return False
    return True


class Orchestrator:
    """Evaluates workflows and executes RUN plans through the scrape runner (`/process`'s path)."""

    def __init__(
        self,
        config: WorkflowConfig,
        runner: ScrapeRunner,
        warehouse: Warehouse,
        clock: Clock,
        closing_line_max_age: dt.timedelta = dt.timedelta(minutes=CLOSING_LINE_MAX_AGE_MINUTES),
    ) -> None:
        """`closing_line_max_age`: the setting `CLOSING_LINE_MAX_AGE_MINUTES`, which the
        missing-lines gauge reads as the analytics do (`lines.py`)."""
        self.config = config
        self.runner = runner
        self.warehouse = warehouse
        self.clock = clock
        self.closing_line_max_age = closing_line_max_age
        self._lock = asyncio.Lock()

    def params_for(
        self, name: str, target: dt.date, outcomes: dict[str, list[RunResult]],
        tipoffs: tuple[dt.datetime, ...] = (),
    ) -> list[dict[str, Any]]:  # fmt: skip
        """Every parameter set one plan entry runs with (one per team/event when it fans out);
        a capture fans out to the events tipping off at its `tipoffs` only."""
        source = get_source(name)
        rules = self.config.scrapers[name]
        fields = set(source.params_model.model_fields)
        dated = "date" in fields and not rules.whole_season
        base: dict[str, Any] = {"date": target.isoformat()} if dated else {}
        if rules.fan_out == "teams":
            return [base | team_params(source.upstream, fields, team) for team in TEAMS]
        if rules.fan_out is None:
            return [base]
        events = sorted({str(row["event_id"]) for dep in rules.depends_on for outcome in outcomes.get(dep, [])
                         for row in outcome.rows if row.get("event_id") and tips_at(row, tipoffs)})  # fmt: skip
        if rules.fan_out == "events":
            return [base | {"event_id": event} for event in events]
        return [base | {"event_ids": events}] if events else []

    async def _run_entry(
        self, workflow: str, name: str, target: dt.date, result: PlanResult,
        tipoffs: tuple[dt.datetime, ...] = (),
    ) -> None:  # fmt: skip
        rules = self.config.scrapers[name]
        failed = [dep for dep in rules.depends_on if dep in result.outcomes
                  and not all(run_ok(o, self.config.scrapers[dep]) for o in result.outcomes[dep])]  # fmt: skip
        if failed:
            result.skipped[name] = f"dependency {failed[0]} failed"
            return
        runs = await asyncio.gather(
            *(
                self.runner.run(name, params, workflow, scheduled=True)
                for params in self.params_for(name, target, result.outcomes, tipoffs)
            ),
            return_exceptions=True,
        )
        result.outcomes[name] = [run for run in runs if isinstance(run, RunResult)]
        errors = [run for run in runs if isinstance(run, BaseException)]
        if errors:
            result.skipped[name] = f"{len(errors)} runs raised: {errors[0]}"

    async def execute(
        self, name: str, workflow: Workflow, target: dt.date, tipoffs: tuple[dt.datetime, ...] = ()
    ) -> PlanResult:
        """Run a workflow's staged plan; a step starts when the previous one finished."""
        result = PlanResult({}, {}, True)
        for step in workflow.plan:
            if step.parallel is not None:
                await asyncio.gather(
                    *(self._run_entry(name, s, target, result, tipoffs) for s in step.parallel)
                )
            for scraper in step.sequential or []:
                await self._run_entry(name, scraper, target, result, tipoffs)
        for scraper in workflow.scrapers:
            rules = self.config.scrapers[scraper]
            ok = scraper not in result.skipped and all(
                run_ok(o, rules) for o in result.outcomes.get(scraper, [])
            )
            if rules.critical and not ok:
                result.succeeded = False
        return result

    async def daily_schedule(self, day: dt.date) -> DailySchedule:
        """Write `day`'s expected schedule; on a cold warehouse scrape the season schedule first.

        The scrape's parsed rows give the day's games at once (its load into nba_raw follows
        through the normal phases), so a first deployment gets a full schedule at 05:00.
        """
        if await run_in_threadpool(schedule_loaded, self.warehouse):
            games_of: GamesLookup = partial(games_on, self.warehouse)
            note, execution_ids = None, []
        else:
            outcome = await self.runner.run(
                SCHEDULE_SOURCE, {}, DAILY_SCHEDULE_WORKFLOW, scheduled=True
            )
            rows, status = outcome.rows, outcome.status
            games_of = partial(day_games, rows, schedule_loaded=bool(rows))
            execution_ids = [outcome.execution_id]
            note = (f"season schedule was not loaded: scraped {SCHEDULE_SOURCE} ({status}, {len(rows)} games) "
                    "and built the schedule from it")  # fmt: skip
            if not rows:
                note += "; game-aware workflows are left out until it loads"
        expected = await run_in_threadpool(
            write_daily_schedule, self.warehouse, self.config, day, self.clock.now(), games_of
        )
        return DailySchedule(
            schedule_date=day, expected=expected, note=note, execution_ids=execution_ids
        )

    async def evaluate(self) -> list[DecisionRecord]:
        """Decide every workflow (by priority) and run the RUN plans; safe to call twice an hour."""
        async with self._lock:
            now = self.clock.now()
            today = now.astimezone(EASTERN).date()
            records = []
            for name, workflow in self._by_priority(anchored=False):
                records.append(await self._evaluate_one(name, workflow, now, today))
            return records

    async def evaluate_captures(self) -> list[DecisionRecord]:
        """Decide and run the tip-anchored captures that are due; nothing is recorded for a
        capture whose time has not come or that is settled, so repeated calls never re-run one."""
        async with self._lock:
            now = self.clock.now()
            today = now.astimezone(EASTERN).date()
            games = await run_in_threadpool(games_on, self.warehouse, today)
            records = []
            for name, workflow in self._by_priority(anchored=True):
                history = await run_in_threadpool(capture_history, self.warehouse, name, today)
                for decision in decide_captures(workflow, now, games, history):
                    records.append(await self._apply(name, workflow, now, today, decision))
            await run_in_threadpool(
                observe_games_without_lines, self.warehouse, self.clock.now(),
                self.closing_line_max_age,
            )  # fmt: skip
            return records

    def _by_priority(self, anchored: bool) -> list[tuple[str, Workflow]]:
        """Hourly workflows, or tip-anchored ones, by priority (ties keep the file's order)."""
        chosen = [(name, workflow) for name, workflow in self.config.workflows.items()
                  if (workflow.decision == TIP_ANCHORED) == anchored]  # fmt: skip
        return sorted(chosen, key=lambda item: item[1].priority)

    async def _claim(
        self, workflow: str, day: dt.date, attempt: int, decision_id: str
    ) -> str | None:
        """Why this instance may not run the attempt, or None once it holds the claim."""
        store = self.runner.clients.store
        try:
            claimed = await run_in_threadpool(
                claim_attempt, store, workflow, day, attempt, decision_id
            )
        except Exception as exc:  # the bucket unreachable, or refusing writes
            return f"could not claim attempt {attempt} ({type(exc).__name__}: {exc}); retried next hour"
        if not claimed:
            return f"attempt {attempt} of {day} was claimed by another instance"
        return None

    async def _evaluate_one(
        self, name: str, workflow: Workflow, now: dt.datetime, today: dt.date
    ) -> DecisionRecord:
        target = target_date(workflow, today)
        games_day = today if workflow.decision == "game_aware" else target
        games = await run_in_threadpool(games_on, self.warehouse, games_day)
        history = await run_in_threadpool(history_of, self.warehouse, name, today)
        decision: Decision = decide(name, workflow, self.config, now, games, history)
        return await self._apply(name, workflow, now, today, decision)

    async def _apply(
        self, name: str, workflow: Workflow, now: dt.datetime, today: dt.date, decision: Decision
    ) -> DecisionRecord:
        """Record a decision; for a RUN, claim its attempt first and record what the plan did."""
        record = DecisionRecord(workflow=name, decision=decision.verdict, reason=decision.reason,
                                target_date=decision.target_date, attempt=decision.attempt,
                                expected_at=decision.expected_at)  # fmt: skip
        row = record.model_dump() | {
            "decision_id": str(uuid.uuid4()),
            "decided_at": now,
            "schedule_date": today,
        }
        if decision.verdict == "RUN":
            at = decision.expected_at
            claim = name if at is None else f"{name}/{at.astimezone(EASTERN):%H%M}"
            refused = await self._claim(claim, today, decision.attempt, row["decision_id"])
            if refused is not None:
                record.decision, record.reason, record.attempt = "SKIP", refused, 0
                row |= record.model_dump(include={"decision", "reason", "attempt"})
        if record.decision == "RUN":
            # recorded before the plan runs, so a concurrent or repeated call this hour sees it
            await run_in_threadpool(
                self.warehouse.upsert, WORKFLOW_DECISIONS, [row | {"outcome": "running"}]
            )
            result = await self.execute(name, workflow, decision.target_date, decision.tipoffs)
            record.outcome = "succeeded" if result.succeeded else "failed"
            record.execution_ids = result.execution_ids
            if result.skipped:
                record.reason += "; " + "; ".join(f"{k}: {v}" for k, v in result.skipped.items())
            row |= record.model_dump(include={"outcome", "execution_ids", "reason"})
        await run_in_threadpool(self.warehouse.upsert, WORKFLOW_DECISIONS, [row])
        log.info(
            "workflow decision",
            extra={"fields": {k: v for k, v in row.items() if k != "execution_ids"}},
        )
        return record
