"""Props captures anchored to tip-off, as a person reading config/workflows.yaml would predict.

The pure decisions first, then a whole slate (tips at 19:00, 19:30 and 22:00 ET) run by the
scheduler loop of infra/scheduler/jobs.yaml on a settable clock, through the orchestrator,
its warehouse records and its GCS claims; only the scrapes themselves are stand-ins.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from libs.common.clock import EASTERN, Clock
from libs.common.gcs import RawFileStore
from libs.common.messages import RunResult
from libs.common.sources.nbacom import NBAC_SCHEDULE
from libs.common.warehouse.duckdb import DuckDBWarehouse
from nba_pipeline.scheduler import SchedulerConfig, SchedulerLoop
from services.scrapers.orchestration import engine
from services.scrapers.orchestration.config import WorkflowConfigError, load_workflows
from services.scrapers.orchestration.decisions import (
    CaptureHistory,
    DayGames,
    decide_captures,
    expected_times,
)
from services.scrapers.orchestration.engine import Orchestrator, write_daily_schedule
from tests.utils.fakes import memory_store
from tests.utils.tables import ORCHESTRATION_TABLES

DAY = dt.date(2025, 1, 15)
CONFIG = load_workflows()
CAPTURES = CONFIG.workflows["props_captures"]
OFFSETS = sorted(CAPTURES.offsets_minutes or (), reverse=True)
JOBS = SchedulerConfig.load()


def et(hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(DAY, dt.time(hour, minute), EASTERN)


SLATE = {"g1": et(19), "g2": et(19), "g3": et(19, 30), "g4": et(22)}
"""Two games share the 19:00 tip-off; the others are staggered."""
GAMES = DayGames(DAY, tuple(SLATE.values()))


def decided(now: dt.datetime, history: CaptureHistory | None = None) -> list[tuple[str, str, str]]:
    """(capture time, verdict, reason) of what an evaluation at `now` decides."""
    return [(f"{d.expected_at:%H:%M}", d.verdict, d.reason)
            for d in decide_captures(CAPTURES, now, GAMES, history or {})]  # fmt: skip


def settled(*times: dt.datetime) -> CaptureHistory:
    return {at: [("RUN", "succeeded")] for at in times}


def test_the_configured_offsets_are_the_ones_the_issue_asks_for() -> None:
    assert OFFSETS == [180, 60, 15, 5]
    assert CAPTURES.plan[-1].scrapers == ["oddsa_player_props", "bp_player_props"]


def test_each_tipoff_gets_a_capture_at_every_offset_and_shared_tips_share_one() -> None:
    times = [f"{at:%H:%M}" for at in expected_times(CAPTURES, DAY, GAMES)]
    assert times == ["16:00", "16:30", "18:00", "18:30", "18:45", "18:55",
                     "19:00", "19:15", "19:25", "21:00", "21:45", "21:55"]  # fmt: skip
    assert decided(et(16)) == [("16:00", "RUN", "due: T-180 of 19:00 ET (2 games)")]
    assert expected_times(CAPTURES, DAY, DayGames(DAY)) == []


def test_captures_of_different_tipoffs_due_at_once_share_one_run() -> None:
    games = DayGames(DAY, (et(19), et(21)))
    [run] = decide_captures(CAPTURES, et(18), games, settled(et(16)))
    assert (run.verdict, run.reason, run.tipoffs) == (
        "RUN", "due: T-60 of 19:00 ET (1 game), T-180 of 21:00 ET (1 game)", (et(19), et(21)),
    )  # fmt: skip


def test_a_capture_runs_once_and_nothing_is_decided_before_it_is_due() -> None:
    assert decided(et(15, 55)) == []
    assert decided(et(16, 5), settled(et(16))) == []
    running: CaptureHistory = {et(16): [("RUN", "running")]}
    assert decided(et(16, 5), running) == [], "another call is running it"
    claimed: CaptureHistory = {et(16): [("SKIP", None)]}
    assert decided(et(16, 5), claimed)[0][1] == "RUN", "a refused claim is decided again"


def test_a_late_evaluation_still_captures_until_a_later_offset_is_due() -> None:
    before = settled(et(16), et(16, 30), et(18), et(18, 30))
    assert decided(et(18, 50), before) == [("18:45", "RUN", "due: T-15 of 19:00 ET (2 games)")]
    assert decided(et(18, 55), before) == [
        ("18:45", "ABORT", "missed: T-15 of 19:00 ET (superseded by T-5 at 18:55 ET)"),
        ("18:55", "RUN", "due: T-5 of 19:00 ET (2 games)"),
    ]


def test_a_capture_that_failed_is_retried_before_tipoff_then_missed() -> None:
    failed: CaptureHistory = {et(16): [("RUN", "failed")]}
    assert decided(et(16, 5), failed) == [("16:00", "RUN", "due: T-180 of 19:00 ET (2 games)")]
    twice: CaptureHistory = {et(16): [("RUN", "failed"), ("RUN", "failed")]}
    assert decided(et(16, 10), twice) == [("16:00", "ABORT", "max attempts reached (2/2)")]
    before = settled(et(16), et(16, 30), et(18), et(18, 30), et(18, 45))
    last = before | {et(18, 55): [("RUN", "failed")]}
    assert decided(et(19), last)[0] == (
        "18:55", "ABORT", "missed: T-5 of 19:00 ET (tip-off passed) after 1 failed attempt",
    )  # fmt: skip
    gave_up = last | {et(18, 55): [("RUN", "failed"), ("ABORT", None)]}
    assert "18:55" not in [at for at, _, _ in decided(et(19, 5), gave_up)], "recorded once"


BAD_OFFSETS = [
    ("    offsets_minutes: []\n", r"workflows\.caps: offsets_minutes: list the minutes before tip-off"),
    ("    offsets_minutes: [60, 60]\n", r"offsets_minutes: \[60, 60\] lists an offset twice"),
    ("    offsets_minutes: [0]\n", r"workflows\.caps\.offsets_minutes\.0: Input should be greater than 0"),
    ("    offsets_minutes: [60]\n    window: {start: '06:00', end: '07:00'}\n",
     r"window, frequency_hours: a tip_anchored workflow runs at its offsets_minutes; remove them"),
    ("", r"offsets_minutes: list the minutes before tip-off to capture at, e\.g\. \[180, 60, 15, 5\]"),
]  # fmt: skip


@pytest.mark.parametrize(("lines", "message"), BAD_OFFSETS)
def test_a_tip_anchored_workflow_without_usable_offsets_is_refused_naming_the_field(
    tmp_path: Path, lines: str, message: str
) -> None:
    bad = tmp_path / "workflows.yaml"
    bad.write_text("scrapers: {oddsa_events: {}}\nworkflows:\n  caps:\n    decision: tip_anchored\n"
                   f"{lines}    plan: [{{parallel: [oddsa_events]}}]\n")  # fmt: skip
    with pytest.raises(WorkflowConfigError, match=message):
        load_workflows(bad)


def test_offsets_on_an_hourly_workflow_and_an_hourly_workflow_without_window_are_refused(
    tmp_path: Path,
) -> None:
    bad = tmp_path / "workflows.yaml"
    head = "scrapers: {bdl_games: {}}\nworkflows:\n  nightly:\n    decision: self_aware\n"
    plan = "    plan: [{parallel: [bdl_games]}]\n"
    bad.write_text(
        head + "    window: {start: '06:00', end: '07:00'}\n    offsets_minutes: [5]\n" + plan
    )
    with pytest.raises(WorkflowConfigError, match=r"offsets_minutes: only a tip_anchored workflow"):
        load_workflows(bad)
    bad.write_text(head + plan)
    with pytest.raises(WorkflowConfigError, match=r"workflows\.nightly: window: required"):
        load_workflows(bad)


# --- a slate through the scheduler loop ------------------------------------------------------


def odds_id(game: str) -> str:
    return hashlib.md5(game.encode()).hexdigest()


def bp_id(game: str) -> str:
    return str(27000 + int(game[1:]))


@dataclass
class Scrapes:
    """Stand-in scrapes: the events lists name every game of the slate with its tip-off, a
    props run answers with no rows; every run is kept as (started at, scraper, params)."""

    clock: Clock
    store: RawFileStore
    log: list[tuple[dt.datetime, str, dict[str, Any]]] = field(default_factory=list)
    failing: set[str] = field(default_factory=set)

    @property
    def clients(self) -> Any:
        return self

    async def run(self, name: str, params: dict[str, Any], workflow: str, **_: Any) -> RunResult:
        self.log.append((self.clock.now(), name, params))
        rows = {
            "oddsa_events": [{"event_id": odds_id(g), "commence_time": t} for g, t in SLATE.items()],
            "bp_events": [{"event_id": bp_id(g), "scheduled": t} for g, t in SLATE.items()],
        }.get(name, [])  # fmt: skip
        status = "failed" if name in self.failing else "success" if rows else "no_data"
        return RunResult(scraper_name=name, execution_id=str(uuid.uuid4()), status=status,
                         gcs_path=None, game_date=DAY, record_count=len(rows), duration_seconds=0,
                         workflow=workflow, params=params, message_id="message-1", rows=rows)  # fmt: skip


@dataclass
class Instance:
    """One scrapers instance: its orchestrator and the scheduler loop calling it."""

    orchestrator: Orchestrator
    loop: SchedulerLoop


@pytest.fixture
def warehouse() -> DuckDBWarehouse:
    """The season schedule of the slate, loaded."""
    warehouse = DuckDBWarehouse(":memory:")
    warehouse.ensure_tables([*ORCHESTRATION_TABLES, NBAC_SCHEDULE])
    warehouse.upsert(NBAC_SCHEDULE, [
        {"game_id": game, "game_date": DAY, "start_time_utc": tip, "execution_id": "e",
         "source_file": "gs://b/schedule.json", "loaded_at": tip}
        for game, tip in SLATE.items()
    ])  # fmt: skip
    return warehouse


def start(scrapes: Scrapes, warehouse: DuckDBWarehouse, clock: Clock) -> Instance:
    """A (re)started instance; its loop fires from the clock's time on, as a new process would."""
    orchestrator = Orchestrator(CONFIG, scrapes, warehouse, clock)  # type: ignore[arg-type]

    def post(path: str) -> None:
        if path == "/evaluate-captures":
            asyncio.run(orchestrator.evaluate_captures())

    return Instance(orchestrator, SchedulerLoop(JOBS, post, clock))


def run_until(
    instance: Instance, clock: Clock, until: dt.datetime, each: Callable[[], None] = lambda: None
) -> None:
    """Move the clock a minute at a time, ticking the loop."""
    while clock.now() < until:
        clock.advance(dt.timedelta(minutes=1))
        instance.loop.tick()
        each()


def captured_at(scrapes: Scrapes) -> dict[str, list[tuple[dt.datetime, str]]]:
    """Per game, (time, scraper) of every props run that asked for it."""
    runs: dict[str, list[tuple[dt.datetime, str]]] = {game: [] for game in SLATE}
    for at, name, params in scrapes.log:
        for game in SLATE:
            if params.get("event_id") == odds_id(game) or bp_id(game) in params.get(
                "event_ids", []
            ):
                runs[game].append((at, name))
    return runs


def test_a_staggered_slate_is_captured_at_every_offset_once_in_order_across_a_restart(
    warehouse: DuckDBWarehouse,
) -> None:
    clock = Clock(et(9) - dt.timedelta(minutes=1))
    scrapes = Scrapes(clock, memory_store())
    first = start(scrapes, warehouse, clock)
    run_until(first, clock, et(19, 0))
    # The instance dies during its 19:00 call; Cloud Scheduler retries that call on a new one.
    second = start(scrapes, warehouse, clock)
    second.loop.last_tick = et(18, 59)
    run_until(second, clock, et(23, 59))

    for game, tip in SLATE.items():
        expected = [(tip - dt.timedelta(minutes=m), s) for m in OFFSETS
                    for s in ("oddsa_player_props", "bp_player_props")]  # fmt: skip
        assert sorted(captured_at(scrapes)[game]) == sorted(expected), game
        assert all(at < tip for at, _ in captured_at(scrapes)[game]), "none at or after tip-off"
    decisions = warehouse.query(
        "SELECT expected_at, decided_at, decision, outcome, attempt "
        "FROM {nba_orchestration.workflow_decisions} ORDER BY decided_at"
    )
    times = expected_times(CAPTURES, DAY, GAMES)
    assert [(r["expected_at"], r["decided_at"], r["decision"], r["outcome"], r["attempt"])
            for r in decisions] == [(at, at, "RUN", "succeeded", 1) for at in times]  # fmt: skip
    events_runs = [at for at, name, _ in scrapes.log if name == "oddsa_events"]
    assert events_runs == times, "one shared run per capture time: 19:00 holds both games"


def test_an_evaluator_outage_leaves_the_missed_captures_recorded_once(
    warehouse: DuckDBWarehouse,
) -> None:
    clock = Clock(et(18, 30))
    scrapes = Scrapes(clock, memory_store())
    instance = start(scrapes, warehouse, clock)
    clock.set(et(18, 56))  # the 18:35-18:55 calls never came
    asyncio.run(instance.orchestrator.evaluate_captures())
    asyncio.run(instance.orchestrator.evaluate_captures())
    recorded = warehouse.query(
        "SELECT expected_at, decision, reason FROM {nba_orchestration.workflow_decisions} "
        "WHERE decision = 'ABORT' ORDER BY expected_at"
    )
    assert [(f"{r['expected_at'].astimezone(EASTERN):%H:%M}", r["reason"]) for r in recorded] == [
        ("16:00", "missed: T-180 of 19:00 ET (superseded by T-5 at 18:55 ET)"),
        ("16:30", "missed: T-180 of 19:30 ET (superseded by T-60 at 18:30 ET)"),
        ("18:00", "missed: T-60 of 19:00 ET (superseded by T-5 at 18:55 ET)"),
        ("18:45", "missed: T-15 of 19:00 ET (superseded by T-5 at 18:55 ET)"),
    ]
    events = [at for at, name, _ in scrapes.log if name == "oddsa_events"]
    assert events == [et(18, 56)] * 2, "18:30 and 18:55 ran late, once each, at the first call"


def test_two_instances_deciding_one_capture_at_once_run_it_once(
    warehouse: DuckDBWarehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock(et(16))
    store = memory_store()
    first, second = Scrapes(clock, store), Scrapes(clock, store)
    asyncio.run(start(first, warehouse, clock).orchestrator.evaluate_captures())
    # The second read the day's decisions before the first wrote its own.
    monkeypatch.setattr(engine, "capture_history", lambda *_: {})
    [refused] = asyncio.run(start(second, warehouse, clock).orchestrator.evaluate_captures())
    assert (refused.decision, refused.reason) == (
        "SKIP", f"attempt 1 of {DAY} was claimed by another instance",
    )  # fmt: skip
    assert second.log == []
    assert [name for _, name, _ in first.log].count("oddsa_player_props") == 2, "2 games at 19:00"


def test_the_daily_schedule_lists_each_capture_time_with_its_tipoffs(
    warehouse: DuckDBWarehouse,
) -> None:
    rows = write_daily_schedule(warehouse, CONFIG, DAY, et(5), lambda day: GAMES)
    captures = [(f"{r['expected_at']:%H:%M}", r["reason"]) for r in rows
                if r["workflow"] == "props_captures"]  # fmt: skip
    assert captures[:2] == [("16:00", "tip_anchored, T-180 of 19:00 ET (2 games)"),
                            ("16:30", "tip_anchored, T-180 of 19:30 ET (1 game)")]  # fmt: skip
    assert len(captures) == 12
