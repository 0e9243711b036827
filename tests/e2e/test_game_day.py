"""A whole game day, 05:00 to 02:00 ET, run by the Cloud Scheduler jobs against the stack's clock.

Every expectation is what a person reading config/workflows.yaml, infra/scheduler/jobs.yaml
and the generated season (games, tip-offs, rosters, props rows) would predict.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from croniter import croniter

from libs.common.analytics import ANALYTICS_TABLES
from libs.common.audit import pending_executions
from libs.common.clock import EASTERN
from libs.common.sources.base import ParseContext
from libs.common.sources.registry import get_source
from libs.common.warehouse.schema import Table
from nba_pipeline.replay import recordings
from nba_pipeline.replay.season import BP_BOOKS, ODDS_BOOKS, Game, Season
from nba_pipeline.replay.settings import ReplaySettings
from nba_pipeline.scheduler import SchedulerConfig
from nba_pipeline.stack import LocalStack
from services.scrapers.orchestration.config import TIP_ANCHORED, Workflow, load_workflows
from services.scrapers.orchestration.engine import DAILY_SCHEDULE_WORKFLOW
from services.scrapers.tables import SCRAPER_FAILURES

pytestmark = pytest.mark.e2e

DAY = dt.date(2024, 11, 20)
"""A generated game day whose previous day had games too (checked below)."""
YESTERDAY = DAY - dt.timedelta(days=1)
START = dt.datetime.combine(DAY, dt.time(5), EASTERN)
END = dt.datetime.combine(DAY + dt.timedelta(days=1), dt.time(2), EASTERN)
TICK = dt.timedelta(minutes=5)
"""The finest step of jobs.yaml (props captures every 5 minutes): every job fires on a tick."""
SEASON = Season(ReplaySettings().seed)
CONFIG = load_workflows()
JOBS = SchedulerConfig.load()
GAME_AWARE = ("game_aware", "game_aware_yesterday")
BY_PRIORITY = dict(sorted(((name, wf) for name, wf in CONFIG.workflows.items()
                           if wf.decision != TIP_ANCHORED), key=lambda item: item[1].priority))  # fmt: skip
"""The hourly workflows, in the order the evaluator decides them (ties keep the file's order)."""
CAPTURES = {name: wf for name, wf in CONFIG.workflows.items() if wf.decision == TIP_ANCHORED}
"""Workflows run at set minutes before each tip-off by `/evaluate-captures`."""
SCHEDULE_TABLE = get_source("nbac_schedule").table


def utc(value: Any) -> dt.datetime:
    """A warehouse timestamp as aware UTC."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def target_of(workflow: Workflow) -> dt.date:
    return YESTERDAY if workflow.decision in ("game_aware_yesterday", "discovery") else DAY


def window_of(workflow: Workflow) -> tuple[dt.datetime, dt.datetime]:
    """The window as the yaml reads: clock times, or hours before the first tip-off until the last."""
    window = workflow.window
    assert window is not None, "hourly workflows have one"
    if window.start is not None and window.end is not None:
        return (dt.datetime.combine(DAY, window.start, EASTERN),
                dt.datetime.combine(DAY, window.end, EASTERN))  # fmt: skip
    assert window.hours_before_first_game is not None
    tipoffs = [game.start.astimezone(EASTERN) for game in SEASON.games_on(DAY)]
    last = max(tipoffs) if window.until == "last_game" else min(tipoffs)
    return min(tipoffs) - dt.timedelta(hours=window.hours_before_first_game), last


def fires(schedule: str) -> list[dt.datetime]:
    """A cron schedule's fire times in (START, END] (the loop starts just before 05:00)."""
    times, cron = [], croniter(schedule, START - dt.timedelta(seconds=1))
    while (at := cron.get_next(dt.datetime)) <= END:
        times.append(at.astimezone(EASTERN))
    return times


def job_fires(path: str) -> list[dt.datetime]:
    return [
        at for job in JOBS.jobs if job.path == path and job.enabled for at in fires(job.schedule)
    ]


def predicted_decisions() -> list[tuple[dt.datetime, str, str, str]]:
    """(hour, workflow, verdict, reason) for every hourly evaluation, by priority within an hour."""
    decisions = []
    last_success: dict[str, dt.datetime] = {}
    for at in job_fires("/evaluate-workflows"):
        for name, workflow in BY_PRIORITY.items():
            target = target_of(workflow)
            games = len(SEASON.games_on(target))
            start, end = window_of(workflow)
            last = last_success.get(name)
            hours = workflow.frequency_hours
            if workflow.decision in GAME_AWARE and games == 0:
                verdict, reason = "SKIP", f"no games on {target}"
            elif not start <= at <= end:
                verdict, reason = "SKIP", f"outside window ({start:%H:%M}-{end:%H:%M} ET)"
            elif last is not None and hours is None:
                verdict, reason = "SKIP", f"already succeeded at {last:%H:%M} ET"
            elif last is not None and hours is not None and at < last + dt.timedelta(hours=hours):
                due = last + dt.timedelta(hours=hours)
                verdict, reason = "SKIP", f"ran at {last:%H:%M} ET; next due {due:%H:%M} ET"
            else:
                verdict, reason = "RUN", f"due: in window, {games} games on {target}"
                last_success[name] = at
            decisions.append((at, name, verdict, reason))
    return decisions


def predicted_captures() -> list[tuple[dt.datetime, str, list[Game]]]:
    """(capture time, workflow, games captured) of every tip-off at every offset, by time."""
    captures: dict[tuple[dt.datetime, str], list[Game]] = {}
    for name, workflow in CAPTURES.items():
        for game in SEASON.games_on(DAY):
            for offset in workflow.offsets_minutes or ():
                at = (game.start - dt.timedelta(minutes=offset)).astimezone(EASTERN)
                captures.setdefault((at, name), []).append(game)
    return [(at, name, games) for (at, name), games in sorted(captures.items())]


def capture_reason(at: dt.datetime, games: list[Game]) -> str:
    """`due: T-60 of 20:00 ET (1 game)`, per tip-off the capture covers."""
    tips = Counter(game.start for game in games)
    return "due: " + ", ".join(
        f"T-{int((tip - at).total_seconds()) // 60} of {tip.astimezone(EASTERN):%H:%M} ET "
        f"({n} game{'s' if n != 1 else ''})" for tip, n in sorted(tips.items())
    )  # fmt: skip


DECISIONS = predicted_decisions()
CAPTURED = predicted_captures()
RUNS = [(at, name) for at, name, verdict, _ in DECISIONS if verdict == "RUN"] + [
    (at, name) for at, name, _ in CAPTURED
]


def predicted_schedule() -> set[tuple[str, dt.datetime, dt.date, int]]:
    """(workflow, expected_at, target_date, games): the first whole hour in the window, then
    every frequency_hours up to the window's end and max_attempts; each capture time."""
    rows = {(name, at, DAY, len(SEASON.games_on(DAY))) for at, name, _ in CAPTURED}
    for name, workflow in BY_PRIORITY.items():
        target = target_of(workflow)
        games = len(SEASON.games_on(target))
        if workflow.decision in GAME_AWARE and games == 0:
            continue
        start, end = window_of(workflow)
        at = start.replace(minute=0) + dt.timedelta(hours=1 if start.minute else 0)
        for _ in range(workflow.max_attempts if workflow.frequency_hours else 1):
            if at > end:
                break
            rows.add((name, at, target, games))
            at += dt.timedelta(hours=math.ceil(workflow.frequency_hours or 0))
    return rows


def runs_of(scraper: str, target: dt.date) -> int:
    """Runs one plan entry makes: one per team, one per game (event), else one."""
    fan_out = CONFIG.scrapers[scraper].fan_out
    if fan_out == "teams":
        return len(SEASON.clubs)
    return len(SEASON.games_on(target)) if fan_out == "events" else 1


def capture_runs(scraper: str, games: list[Game]) -> int:
    """Runs one capture makes: the events lists, one Odds API run per game, one BettingPros run."""
    return len(games) if CONFIG.scrapers[scraper].fan_out == "events" else 1


def capture_rows(scraper: str, games: list[Game]) -> int:
    """Rows one capture loads: an events list lists the whole day, props the captured games."""
    per_game = {
        "oddsa_player_props": SEASON.odds_props_rows,
        "bp_player_props": SEASON.bp_props_rows,
    }
    if scraper in per_game:
        return sum(per_game[scraper](game) for game in games)
    return len(SEASON.games_on(DAY))


def predicted_runs() -> Counter[tuple[dt.datetime, str, str]]:
    """(started_at, workflow, scraper) of every run; 05:00 scrapes the season schedule (cold)."""
    runs: Counter[tuple[dt.datetime, str, str]] = Counter(
        {(START, DAILY_SCHEDULE_WORKFLOW, "nbac_schedule"): 1}
    )
    for at, name, verdict, _ in DECISIONS:
        workflow = CONFIG.workflows[name]
        for scraper in workflow.scrapers if verdict == "RUN" else ():
            runs[(at, name, scraper)] += runs_of(scraper, target_of(workflow))
    for at, name, games in CAPTURED:
        for scraper in CONFIG.workflows[name].scrapers:
            runs[(at, name, scraper)] += capture_runs(scraper, games)
    return runs


def roster_rows(scraper: str) -> int:
    """Players of every team: the generated roster, or the recording the replay serves instead."""
    recorded = {
        "espn_roster": {int(team): recordings.parsed(name) for team, name in recordings.ESPN_TEAMS.items()},
        "nbac_roster": {team: recordings.raw(name).decode() for team, name in recordings.NBAC_TEAM_PAGES.items()},
    }[scraper]  # fmt: skip
    team_id = {"espn_roster": "espn_id", "nbac_roster": "nba_id"}[scraper]
    context = ParseContext("recording", "recording", DAY, START, {})
    total = 0
    for club in SEASON.clubs:
        body = recorded.get(getattr(club, team_id))
        total += (
            len(SEASON.roster(club))
            if body is None
            else len(get_source(scraper).parse(body, context))
        )
    return total


def predicted_raw_rows() -> Counter[tuple[str, dt.date | None]]:
    """Rows per (raw table, game_date) the day's runs load; the season schedule is checked apart."""
    rows: Counter[tuple[str, dt.date | None]] = Counter()
    for _, name, games in CAPTURED:
        for scraper in CONFIG.workflows[name].scrapers:
            rows[(get_source(scraper).table.fqn, DAY)] += capture_rows(scraper, games)
    for _, name, verdict, _ in DECISIONS:
        if verdict != "RUN":
            continue
        workflow = CONFIG.workflows[name]
        target = target_of(workflow)
        per_date = SEASON.expected_rows(target, target)
        for scraper in workflow.scrapers:
            table = get_source(scraper).table.fqn
            if CONFIG.scrapers[scraper].whole_season:
                continue
            if table in per_date:
                rows[(table, target)] += per_date[table]
            elif CONFIG.scrapers[scraper].fan_out == "teams":
                rows[(table, None)] += roster_rows(scraper)
            elif scraper == "bdl_player_injuries":  # the replay serves the recorded report
                rows[(table, None)] += len(get_source(scraper).parse(
                    recordings.parsed(recordings.BDL_INJURIES), ParseContext("r", "r", DAY, START, {})
                ))  # fmt: skip
            else:
                rows[(table, None)] += len(SEASON.players)
    return rows


def predicted_analytics() -> Counter[tuple[str, dt.date]]:
    """Yesterday's games are final and have closing lines (the Odds API's history; BettingPros
    keeps none); today's have lines from both books but no box scores. The player map names
    every box-score player and every name each book quoted that day."""
    games = SEASON.games_on(YESTERDAY)
    quoted = [q for g in games for q in SEASON.quotes(g) if q.book in ODDS_BOOKS]
    today = [q for g in SEASON.games_on(DAY) for q in SEASON.quotes(g)]
    names_today = sum(len({q.player.key for q in today if q.book in books})
                      for books in (ODDS_BOOKS, BP_BOOKS.values()))  # fmt: skip
    return Counter({
        ("nba_analytics.player_game_summary", YESTERDAY): SEASON.box_score_rows(YESTERDAY),
        ("nba_analytics.team_game_summary", YESTERDAY): 2 * len(games),
        ("nba_analytics.player_game_lines", YESTERDAY): len(quoted),
        ("nba_analytics.player_prop_results", YESTERDAY): len({(q.player.key, q.market) for q in quoted}),
        ("nba_analytics.player_map", YESTERDAY):
            SEASON.box_score_rows(YESTERDAY) + len({q.player.key for q in quoted}),
        ("nba_analytics.player_map", DAY): names_today,
    })  # fmt: skip


def drain(stack: LocalStack, timeout: float = 120) -> None:
    """Wait (polling) until every run so far went through all phases, as an hour would allow."""
    warehouse = stack.clients.warehouse
    deadline = time.monotonic() + timeout
    while True:
        ids = [row["execution_id"] for row in warehouse.query(
            "SELECT execution_id FROM {nba_orchestration.scraper_execution_log} "
            "WHERE started_at >= @a AND started_at <= @b AND gcs_path IS NOT NULL",
            {"a": START, "b": END})]  # fmt: skip
        pending = pending_executions(warehouse, ids)
        if not pending:
            return
        assert time.monotonic() < deadline, f"{len(pending)} runs not applied: {pending[:3]}"
        time.sleep(0.05)


def simulate(stack: LocalStack) -> list[tuple[dt.datetime, str]]:
    """Tick the scheduler loop every 5 minutes from 05:00 to 02:00; returns what fired."""
    stack.clock.set(START - dt.timedelta(seconds=1))
    loop = stack.scheduler_loop()
    fired = []
    while stack.clock.now() < END:
        now = stack.clock.advance(TICK if fired else dt.timedelta(seconds=1))
        ticked = loop.tick()
        assert all(at == now for at, _ in ticked), f"a job fired off its tick: {ticked}"
        fired += ticked
        drain(stack)
    return fired


def grouped(stack: LocalStack, table: Table, ids: list[str]) -> Counter[tuple[str, Any]]:
    """Rows of `table` loaded by these runs, per game_date (None: an undated table)."""
    day = "game_date" if "game_date" in table.column_names else "NULL"
    params = {f"e{i}": execution_id for i, execution_id in enumerate(ids)}
    rows = stack.clients.warehouse.query(
        f"SELECT {day} AS game_date, count(*) AS n FROM {{{table.fqn}}} "
        f"WHERE execution_id IN ({', '.join('@' + p for p in params)}) GROUP BY game_date",
        params,
    )
    return Counter({(table.fqn, row["game_date"]): row["n"] for row in rows})


@dataclass
class GameDay:
    """What the simulated day fired and left in the warehouse."""

    stack: LocalStack
    fired: list[tuple[dt.datetime, str]]

    def query(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        return self.stack.clients.warehouse.query(sql, params)

    def runs(self) -> list[dict[str, Any]]:
        return self.query(
            "SELECT execution_id, scraper_name, workflow, status, started_at, finished_at, params "
            "FROM {nba_orchestration.scraper_execution_log} WHERE started_at BETWEEN @a AND @b",
            a=START, b=END,
        )  # fmt: skip


@pytest.fixture(scope="module")
def game_day(stack: LocalStack) -> Iterator[GameDay]:
    """A cold season schedule (nothing loaded yet) and no open gap (the gap backfiller's runs
    would be the session's, not the day's), then the simulated day; the clock is released."""
    assert SEASON.games_on(DAY) and SEASON.games_on(YESTERDAY), "pick a day after a game day"
    stack.clients.warehouse.replace(get_source("nbac_schedule").table, {}, [])
    stack.clients.warehouse.replace(SCRAPER_FAILURES, {}, [])
    try:
        yield GameDay(stack, simulate(stack))
    finally:
        stack.clock.release()


def test_the_scheduler_loop_fires_the_jobs_of_jobs_yaml(game_day: GameDay) -> None:
    names = [job.name for job in JOBS.jobs]
    expected = sorted(((at, job.name) for job in JOBS.jobs if job.enabled for at in fires(job.schedule)),
                      key=lambda item: (item[0], names.index(item[1])))  # fmt: skip
    assert [(at.astimezone(EASTERN), name) for at, name in game_day.fired] == expected


def test_the_0500_schedule_scrapes_the_cold_season_schedule_and_predicts_the_runs(
    game_day: GameDay,
) -> None:
    schedule = game_day.query(
        "SELECT workflow, expected_at, target_date, games, generated_at "
        "FROM {nba_orchestration.daily_expected_schedule} WHERE schedule_date = @d",
        d=DAY,
    )
    assert {utc(row["generated_at"]) for row in schedule} == {START}
    assert {
        (r["workflow"], utc(r["expected_at"]), r["target_date"], r["games"]) for r in schedule
    } == predicted_schedule()
    assert {(utc(at), name) for at, name in RUNS} == {
        (utc(r["expected_at"]), r["workflow"]) for r in schedule
    }, "every RUN happens at an expected hour"


def test_every_hourly_decision_has_the_predicted_verdict_and_reason(game_day: GameDay) -> None:
    decided = game_day.query(
        "SELECT decided_at, workflow, decision, reason, outcome "
        "FROM {nba_orchestration.workflow_decisions} WHERE schedule_date = @d AND expected_at IS NULL",
        d=DAY,
    )
    decided.sort(key=lambda r: (r["decided_at"], list(BY_PRIORITY).index(r["workflow"])))
    assert [(utc(r["decided_at"]), r["workflow"], r["decision"], r["reason"]) for r in decided] == [
        (utc(at), name, verdict, reason) for at, name, verdict, reason in DECISIONS
    ]
    assert {r["outcome"] for r in decided if r["decision"] == "RUN"} == {"succeeded"}


def test_each_capture_time_is_decided_once_when_due_and_succeeds(game_day: GameDay) -> None:
    decided = game_day.query(
        "SELECT decided_at, expected_at, workflow, decision, reason, outcome, attempt "
        "FROM {nba_orchestration.workflow_decisions} WHERE schedule_date = @d "
        "AND expected_at IS NOT NULL ORDER BY decided_at",
        d=DAY,
    )
    assert [(utc(r["decided_at"]), utc(r["expected_at"]), r["workflow"], r["decision"], r["reason"],
             r["outcome"], r["attempt"]) for r in decided] == [
        (utc(at), utc(at), name, "RUN", capture_reason(at, games), "succeeded", 1)
        for at, name, games in CAPTURED
    ]  # fmt: skip


def test_every_game_is_captured_at_every_offset_once_in_order_before_its_tipoff(
    game_day: GameDay,
) -> None:
    """From the runs, and from the snapshot rows: each props row's `snapshot_at` against the
    tip-off it carries (`commence_time`), what the closing-line analytics read."""
    offsets = sorted(CONFIG.workflows["props_captures"].offsets_minutes or (), reverse=True)
    runs = [r for r in game_day.runs() if r["workflow"] == "props_captures"]
    for game in SEASON.games_on(DAY):
        before = [game.start - dt.timedelta(minutes=m) for m in offsets]
        odds = sorted(utc(r["started_at"]) for r in runs if r["scraper_name"] == "oddsa_player_props"
                      and json.loads(r["params"])["event_id"] == game.odds_id)  # fmt: skip
        bp = sorted(utc(r["started_at"]) for r in runs if r["scraper_name"] == "bp_player_props"
                    and game.bp_id in json.loads(r["params"])["event_ids"])  # fmt: skip
        assert odds == bp == before, game
        for table, event in (("odds_api_player_points_props", game.odds_id),
                             ("bettingpros_player_points_props", str(game.bp_id))):  # fmt: skip
            snapshots = game_day.query(
                "SELECT DISTINCT date_diff('minute', snapshot_at, commence_time) AS m "
                f"FROM {{nba_raw.{table}}} WHERE event_id = @e",
                e=event,
            )
            assert sorted(r["m"] for r in snapshots) == sorted(offsets), (table, game)


def test_every_run_is_the_one_the_plans_predict(game_day: GameDay) -> None:
    runs = game_day.runs()
    assert Counter((utc(r["started_at"]), r["workflow"], r["scraper_name"]) for r in runs) == (
        predicted_runs()
    )
    assert {r["status"] for r in runs} == {"success"}
    decided = game_day.query(
        "SELECT execution_ids FROM {nba_orchestration.workflow_decisions} "
        "WHERE schedule_date = @d AND decision = 'RUN'",
        d=DAY,
    )
    decided_ids = {i for r in decided for i in json.loads(r["execution_ids"])}
    assert decided_ids == {
        r["execution_id"] for r in runs if r["workflow"] != DAILY_SCHEDULE_WORKFLOW
    }
    props = {json.loads(r["params"])["event_id"] for r in runs
             if r["scraper_name"] == "oddsa_player_props"}  # fmt: skip
    assert props == {game.odds_id for game in SEASON.games_on(DAY)}, "one run per event found"


def test_raw_tables_hold_what_the_runs_fetched(game_day: GameDay) -> None:
    runs = game_day.runs()
    ids = [r["execution_id"] for r in runs]
    tables = {get_source(r["scraper_name"]).table for r in runs} - {SCHEDULE_TABLE}
    loaded: Counter[tuple[str, Any]] = Counter()
    for table in tables:
        loaded += grouped(game_day.stack, table, ids)
    assert loaded == predicted_raw_rows()
    season = game_day.query(f"SELECT execution_id FROM {{{SCHEDULE_TABLE.fqn}}}")
    morning = {r["execution_id"] for r in runs
               if r["scraper_name"] == "nbac_schedule" and r["workflow"] == "morning_operations"}  # fmt: skip
    assert len(season) == len(SEASON.games)
    assert {r["execution_id"] for r in season} == morning, "the 06:00 scrape replaced the 05:00 one"


def test_analytics_are_built_for_yesterdays_final_games(game_day: GameDay) -> None:
    built: Counter[tuple[str, Any]] = Counter()
    for table in ANALYTICS_TABLES:
        rows = game_day.query(
            f"SELECT game_date, count(*) AS n FROM {{{table.fqn}}} "
            "WHERE game_date IN (@y, @d) GROUP BY game_date",
            y=YESTERDAY, d=DAY,
        )  # fmt: skip
        built += Counter({(table.fqn, r["game_date"]): r["n"] for r in rows})
    assert built == predicted_analytics()


def test_cleanup_checks_each_run_in_its_window_and_has_nothing_to_republish(
    game_day: GameDay,
) -> None:
    cleanups = game_day.query(
        "SELECT run_at, files_checked, missing_files_found, files_republished "
        "FROM {nba_orchestration.cleanup_operations} WHERE run_at BETWEEN @a AND @b ORDER BY run_at",
        a=START, b=END,
    )  # fmt: skip
    settings = game_day.stack.settings()
    lookback = dt.timedelta(minutes=settings.cleanup_lookback_minutes)
    grace = dt.timedelta(minutes=settings.cleanup_grace_minutes)
    finished = [utc(r["finished_at"]) for r in game_day.runs()]
    assert [(utc(r["run_at"]), r["files_checked"], r["missing_files_found"], r["files_republished"])
            for r in cleanups] == [
        (at, sum(at - lookback <= f <= at - grace for f in finished), 0, 0)
        for at in map(utc, job_fires("/run-cleanup"))
    ]  # fmt: skip
