"""Workflow decisions as a person reading config/workflows.yaml would predict them."""

from __future__ import annotations

import asyncio
import datetime as dt
from functools import partial
from pathlib import Path
from types import SimpleNamespace

import pytest

from libs.common.clock import EASTERN, Clock
from libs.common.gcs import FileAlreadyExistsError
from libs.common.warehouse.duckdb import DuckDBWarehouse
from services.scrapers.orchestration.config import Workflow, WorkflowConfigError, load_workflows
from services.scrapers.orchestration.decisions import DayGames, History, decide, expected_times
from services.scrapers.orchestration.engine import Orchestrator

DAY = dt.date(2025, 1, 15)


def et(hour: int, minute: int = 0, day: dt.date = DAY) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), EASTERN)


GAMES = DayGames(DAY, (et(19), et(19, 30), et(22)))
NO_GAMES = DayGames(DAY)
config = load_workflows()
config.workflows["hourly_lines"] = Workflow.model_validate({
    "priority": 2, "decision": "game_aware", "max_attempts": 8, "frequency_hours": 2,
    "window": {"hours_before_first_game": 6, "until": "last_game"},
    "plan": [{"parallel": ["oddsa_events"]}, {"parallel": ["oddsa_player_props"]}],
})  # fmt: skip
"""A game-aware workflow with a frequency, as betting lines were before tip-anchored captures."""


def decision(
    workflow: str, now: dt.datetime, games: DayGames = GAMES, history: History | None = None
):  # type: ignore[no-untyped-def]
    return decide(workflow, config.workflows[workflow], config, now, games, history or History())


def test_morning_operations_runs_once_in_its_window_games_or_not() -> None:
    assert decision("morning_operations", et(5)).verdict == "SKIP"
    run = decision("morning_operations", et(6), NO_GAMES)
    assert (run.verdict, run.attempt) == ("RUN", 1)
    done = History(runs=[(et(6), "succeeded")])
    assert (
        decision("morning_operations", et(7), history=done).reason
        == "already succeeded at 06:00 ET"
    )
    assert decision("morning_operations", et(11)).reason.startswith(
        "outside window (06:00-10:00 ET)"
    )


def test_a_failed_attempt_is_retried_next_hour_until_max_attempts() -> None:
    failed_twice = History(runs=[(et(6), "failed"), (et(7), "failed")])
    run = decision("morning_operations", et(8), history=failed_twice)
    assert (run.verdict, run.attempt) == ("RUN", 3)
    failed_thrice = History(runs=[(et(6), "failed"), (et(7), "failed"), (et(8), "failed")])
    assert decision("morning_operations", et(9), history=failed_thrice).verdict == "ABORT"
    assert (
        decision("morning_operations", et(9), history=failed_thrice).reason
        == "max attempts reached (3/3)"
    )


def test_second_call_in_the_same_hour_never_double_runs() -> None:
    ran = History(runs=[(et(6, 1), "failed")])
    assert (
        decision("morning_operations", et(6, 40), history=ran).reason
        == "already ran this hour (06:00)"
    )


def test_a_game_aware_workflow_follows_the_tipoffs_every_two_hours() -> None:
    assert decision("hourly_lines", et(12), NO_GAMES).reason == f"no games on {DAY}"
    assert decision("hourly_lines", et(12)).reason == "outside window (13:00-22:00 ET)"
    assert decision("hourly_lines", et(13)).verdict == "RUN"
    ran = History(runs=[(et(13), "succeeded")])
    assert (
        decision("hourly_lines", et(14), history=ran).reason == "ran at 13:00 ET; next due 15:00 ET"
    )
    assert decision("hourly_lines", et(15), history=ran).verdict == "RUN"
    assert decision("hourly_lines", et(23), history=ran).verdict == "SKIP"


def test_post_game_collection_needs_games_yesterday_and_scrapes_yesterday() -> None:
    yesterday = DayGames(DAY - dt.timedelta(days=1), (et(19, day=DAY - dt.timedelta(days=1)),))
    run = decision("post_game_collection", et(6), yesterday)
    assert (run.verdict, run.target_date) == ("RUN", DAY - dt.timedelta(days=1))
    empty = DayGames(DAY - dt.timedelta(days=1))
    assert (
        decision("post_game_collection", et(6), empty).reason
        == f"no games on {DAY - dt.timedelta(days=1)}"
    )


def test_dependency_outside_the_plan_that_failed_aborts() -> None:
    history = History(scraper_status={"oddsa_events_his": (et(11), "failed")})
    odd = config.model_copy(deep=True)
    odd.workflows["discovery"].plan[0].sequential = ["oddsa_player_props_his"]
    aborted = decide("discovery", odd.workflows["discovery"], odd, et(12), GAMES, history)
    assert (aborted.verdict, aborted.reason) == (
        "ABORT",
        "dependency oddsa_events_his failed at 11:00 ET",
    )


def test_expected_schedule_of_a_game_day() -> None:
    hours = {
        name: [t.hour for t in expected_times(wf, DAY, GAMES)]
        for name, wf in config.workflows.items()
    }
    assert hours == {
        "morning_operations": [6],
        "hourly_lines": [13, 15, 17, 19, 21],
        "props_captures": [16, 16, 18, 18, 18, 18, 19, 19, 19, 21, 21, 21],
        "post_game_collection": [6],
        "discovery": [12],
    }
    assert expected_times(config.workflows["hourly_lines"], DAY, NO_GAMES) == []


def test_invalid_config_names_the_workflow_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "workflows.yaml"
    bad.write_text(
        "scrapers: {bdl_games: {}}\n"
        "workflows:\n  nightly:\n    decision: sometimes\n    window: {start: '06:00', end: '07:00'}\n"
        "    plan: [{parallel: [bdl_games]}]\n"
    )
    with pytest.raises(WorkflowConfigError, match=r"workflows\.nightly\.decision"):
        load_workflows(bad)
    bad.write_text(
        "scrapers: {bdl_games: {}}\n"
        "workflows:\n  nightly:\n    decision: self_aware\n    window: {start: '06:00', end: '07:00'}\n"
        "    plan: [{parallel: [bdl_box_scores]}]\n"
    )
    with pytest.raises(
        WorkflowConfigError, match=r"workflows\.nightly\.plan: scraper .bdl_box_scores."
    ):
        load_workflows(bad)


def test_an_unloaded_season_schedule_is_not_mistaken_for_a_day_without_games() -> None:
    unknown = DayGames(DAY, schedule_loaded=False)
    skipped = decision("hourly_lines", et(13), unknown)
    assert (skipped.verdict, skipped.reason) == (
        "SKIP",
        "season schedule not loaded yet (nbac_schedule has no rows); retried next hour",
    )
    assert decision("morning_operations", et(6), unknown).verdict == "RUN", "it loads the schedule"


WORKFLOW = "    decision: self_aware\n    window: {start: '06:00', end: '07:00'}\n"


@pytest.mark.parametrize(
    ("scrapers", "workflow", "message"),
    [
        ("{bdl_games: {}}", "    decision: self_aware\n    window: {start: '25:00', end: '07:00'}\n"
         "    plan: [{parallel: [bdl_games]}]\n", r"^\S+: workflows\.nightly\.window\.start: Input should be"),
        ("{bdl_games: {depends_on: [bdl_gmes]}}", WORKFLOW + "    plan: [{parallel: [bdl_games]}]\n",
         r"scrapers\.bdl_games\.depends_on: unknown scraper 'bdl_gmes' \(declare it under scrapers\)"),
        ("{bdl_gmes: {}}", WORKFLOW + "    plan: [{parallel: [bdl_gmes]}]\n",
         r"scrapers\.bdl_gmes: not a registered scraper \(known: .*bdl_games"),
        ("{oddsa_events: {}, oddsa_player_props: {depends_on: [oddsa_events]}}",
         WORKFLOW + "    plan: [{parallel: [oddsa_events, oddsa_player_props]}]\n",
         r"workflows\.nightly\.plan: 'oddsa_player_props' depends on 'oddsa_events', which must run "
         r"in an earlier step"),
        ("{bdl_games: {}}", WORKFLOW + "    plan: []\n",
         r"workflows\.nightly\.plan: List should have at least 1 item"),
    ],
)  # fmt: skip
def test_config_errors_name_the_workflow_or_scraper_and_the_field(
    tmp_path: Path, scrapers: str, workflow: str, message: str
) -> None:
    bad = tmp_path / "workflows.yaml"
    bad.write_text(f"scrapers: {scrapers}\nworkflows:\n  nightly:\n{workflow}")
    with pytest.raises(WorkflowConfigError, match=message):
        load_workflows(bad)


def test_a_dependency_earlier_in_a_sequential_step_is_valid(tmp_path: Path) -> None:
    good = tmp_path / "workflows.yaml"
    good.write_text(
        "scrapers: {oddsa_events: {}, oddsa_player_props: {depends_on: [oddsa_events]}}\n"
        f"workflows:\n  nightly:\n{WORKFLOW}"
        "    plan: [{sequential: [oddsa_events, oddsa_player_props]}]\n"
    )
    assert load_workflows(good).workflows["nightly"].scrapers == [
        "oddsa_events",
        "oddsa_player_props",
    ]


class ClaimStore:
    """A raw-file store whose writes fail with `error`, or succeed once per name."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.names: set[str] = set()

    def write_json(self, name: str, document: object) -> int:
        if self.error is not None:
            raise self.error
        if name in self.names:
            raise FileAlreadyExistsError(name)
        self.names.add(name)
        return 1


def test_an_attempt_is_claimed_once_and_a_storage_outage_refuses_the_run() -> None:
    orchestrator = Orchestrator(config, SimpleNamespace(clients=SimpleNamespace(store=ClaimStore())),  # type: ignore[arg-type]
                                DuckDBWarehouse(":memory:"), Clock())  # fmt: skip
    claim = partial(orchestrator._claim, "discovery", DAY, 1)
    assert asyncio.run(claim("decision-a")) is None
    assert asyncio.run(claim("decision-b")) == (
        "attempt 1 of 2025-01-15 was claimed by another instance"
    )
    assert asyncio.run(partial(orchestrator._claim, "discovery", DAY, 2)("decision-c")) is None
    down = ClaimStore(ConnectionError("gs://bucket is unreachable"))
    orchestrator.runner = SimpleNamespace(clients=SimpleNamespace(store=down))  # type: ignore[assignment]
    assert asyncio.run(claim("decision-d")) == (
        "could not claim attempt 1 (ConnectionError: gs://bucket is unreachable); retried next hour"
    )
