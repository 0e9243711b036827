"""`nba-pipeline backfill` through the real pipeline, counted against the generated season.

Each test backfills its own week, so the counts it reads over that range are its own.
"""

from __future__ import annotations

import datetime as dt
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx
from typer.testing import CliRunner

from libs.common.analytics import ANALYTICS_TABLES
from libs.common.messages import RunResult
from libs.common.players import name_key
from libs.common.sources.registry import SOURCES, raw_tables
from libs.common.warehouse.schema import Table
from nba_pipeline.backfill import BackfillReport, backfill, date_scrapers, dates
from nba_pipeline.cli import app
from nba_pipeline.pipeline import PipelineClient
from nba_pipeline.replay.season import BP_BOOKS, ODDS_BOOKS, Player, Season
from nba_pipeline.stack import LocalStack

pytestmark = pytest.mark.e2e

WEEK = (dt.date(2024, 11, 25), dt.date(2024, 12, 1))
INTERRUPTED_WEEK = (dt.date(2024, 12, 9), dt.date(2024, 12, 15))
CLI_DAYS = (dt.date(2024, 12, 18), dt.date(2024, 12, 19))
FIRST_RUN = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)
SNAPSHOT_PER_FETCH = {"nba_raw.bettingpros_events", "nba_raw.bettingpros_player_points_props"}
"""BettingPros has no snapshot time of its own: every fetch is a new snapshot (DESIGN §5)."""
DATED_TABLES = tuple(t for t in (*raw_tables(), *ANALYTICS_TABLES) if "game_date" in t.column_names)
"""The tables a backfill fills by game date (and `/admin/table-counts` counts)."""


def expected_counts(
    season: Season, start: dt.date, end: dt.date, scrapers: list[str]
) -> dict[str, int]:
    """Rows per raw and analytics table a backfill of `scrapers` loads, from the season itself."""
    per_scrape = season.expected_rows(start, end)
    raw = Counter({table.fqn: 0 for table in DATED_TABLES if table.dataset == "nba_raw"})
    for name in scrapers:
        raw[SOURCES[name].table.fqn] += per_scrape[SOURCES[name].table.fqn]
    games = [game for game in season.games if start <= game.date <= end]
    quotes = [(game, quote) for game in games for quote in season.quotes(game)]
    bp = (
        [(g, q) for g, q in quotes if q.book in BP_BOOKS.values()]
        if "bp_player_props" in scrapers
        else []
    )
    odds = (
        [(g, q) for g, q in quotes if q.book in ODDS_BOOKS]
        if "oddsa_player_props_his" in scrapers
        else []
    )
    # BettingPros scores its consensus line; a name no rule matches (a full first name) is lost
    scored_bp = [
        (g, q) for g, q in bp if q.book == "consensus" and resolves(q.player.bp_name, q.player)
    ]
    box = raw["nba_raw.bdl_player_boxscores"]
    names = {(g.date, "oddsapi", q.player.odds_name) for g, q in odds}
    names |= {(g.date, "bettingpros", q.player.bp_name) for g, q in bp}
    return {
        **raw,
        "nba_analytics.player_game_summary": box,
        "nba_analytics.team_game_summary": 2 * len(games) if box else 0,
        "nba_analytics.player_map": box + len(names),
        "nba_analytics.player_game_lines": len(scored_bp) + len(odds),
        "nba_analytics.player_prop_results": len(scored_bp)
        + len({(g, q.player, q.market) for g, q in odds}),
    }  # fmt: skip


def resolves(name: str, player: Player) -> bool:
    """Whether a book's name for the player is his box-score name under the name key."""
    return name_key(name) == name_key(player.full_name)


def counts(report: BackfillReport) -> dict[str, int]:
    return {table: count or 0 for table, count in report.rows.items()}


def duplicate_keys(
    stack: LocalStack, table: Table, start: dt.date, end: dt.date
) -> list[dict[str, Any]]:
    keys = ", ".join(table.natural_key)
    return stack.clients.warehouse.query(
        f"SELECT {keys}, count(*) AS n FROM {{{table.fqn}}} WHERE game_date BETWEEN @a AND @b "
        f"GROUP BY {keys} HAVING count(*) > 1 LIMIT 5",
        {"a": start, "b": end},
    )


@pytest.fixture(scope="module")
def season() -> Season:
    return Season()


@pytest.fixture(scope="module")
def client(stack: LocalStack) -> Iterator[PipelineClient]:
    """A pipeline client whose scrape time the test sets (BettingPros snapshots are fetch times)."""
    stack.clock.set(FIRST_RUN)
    pipeline = PipelineClient(stack.url("scrapers"))
    yield pipeline
    pipeline.close()
    stack.clock.release()


@pytest.fixture(scope="module")
def first_week(client: PipelineClient) -> BackfillReport:
    return backfill(client, *WEEK)


def test_a_week_loads_exactly_the_generated_rows(
    stack: LocalStack, season: Season, first_week: BackfillReport
) -> None:
    scrapers = date_scrapers()
    days = (WEEK[1] - WEEK[0]).days + 1
    assert first_week.failures == [] and first_week.skipped == 0
    assert len(first_week.runs) == days * len(scrapers)
    assert counts(first_week) == expected_counts(season, *WEEK, scrapers)
    assert counts(first_week)["nba_analytics.player_game_lines"] > 0
    for table in DATED_TABLES:
        assert duplicate_keys(stack, table, *WEEK) == [], f"{table.fqn}: duplicated natural keys"
    loaded = stack.clients.warehouse.query(
        "SELECT game_date, home_team_abbr FROM {nba_raw.bdl_games} WHERE game_date BETWEEN @a AND @b",
        {"a": WEEK[0], "b": WEEK[1]},
    )
    generated = [(g.date, g.home.club.abbr) for g in season.games if WEEK[0] <= g.date <= WEEK[1]]
    assert sorted((r["game_date"], r["home_team_abbr"]) for r in loaded) == sorted(generated)


def test_a_second_run_skips_every_date(client: PipelineClient, first_week: BackfillReport) -> None:
    again = backfill(client, *WEEK)
    assert again.runs == [] and again.skipped == len(first_week.runs)
    assert counts(again) == counts(first_week)


def test_force_reruns_every_date_in_parallel_and_changes_no_count_but_new_snapshots(
    stack: LocalStack, client: PipelineClient, first_week: BackfillReport
) -> None:
    stack.clock.set(FIRST_RUN + dt.timedelta(days=1))
    forced = backfill(client, *WEEK, force=True, parallel=4)
    assert forced.failures == [] and forced.skipped == 0
    assert len(forced.runs) == len(first_week.runs)
    before, after = counts(first_week), counts(forced)
    assert {t: after[t] for t in before if t not in SNAPSHOT_PER_FETCH} == {
        t: before[t] for t in before if t not in SNAPSHOT_PER_FETCH
    }, "state, historical-snapshot and analytics tables are unchanged"
    assert {t: after[t] for t in SNAPSHOT_PER_FETCH} == {
        t: 2 * before[t] for t in SNAPSHOT_PER_FETCH
    }
    for table in DATED_TABLES:
        assert duplicate_keys(stack, table, *WEEK) == [], f"{table.fqn}: duplicated natural keys"


class Interrupted(Exception):
    """Stands in for Ctrl-C part-way through a backfill."""


def test_an_interrupted_backfill_resumes_to_the_same_counts(
    client: PipelineClient, season: Season
) -> None:
    def stop_after_three(day: dt.date) -> None:
        if day == INTERRUPTED_WEEK[0] + dt.timedelta(days=2):
            raise Interrupted(day)

    with pytest.raises(Interrupted):
        backfill(client, *INTERRUPTED_WEEK, on_date=stop_after_three)
    scrapers = date_scrapers()
    resumed = backfill(client, *INTERRUPTED_WEEK)
    assert resumed.failures == []
    assert resumed.skipped == 3 * len(scrapers) and len(resumed.runs) == 4 * len(scrapers)
    assert counts(resumed) == expected_counts(season, *INTERRUPTED_WEEK, scrapers)


def cli(*args: str) -> Any:
    return CliRunner().invoke(app, ["backfill", *args])


def test_cli_backfills_the_chosen_scrapers_and_prints_rows_per_table(
    stack: LocalStack, client: PipelineClient, season: Season
) -> None:
    scrapers = ["bdl_games", "bdl_box_scores"]
    args = ["--from", CLI_DAYS[0].isoformat(), "--to", CLI_DAYS[1].isoformat(),
            "--scrapers", scrapers[0], "--scrapers", scrapers[1], "--url", stack.url("scrapers")]  # fmt: skip
    result = cli(*args)
    assert result.exit_code == 0, result.output
    expected = expected_counts(season, *CLI_DAYS, scrapers)
    printed = {line.split()[1]: line.split()[3] for line in result.stdout.splitlines()
               if line.startswith("│ nba_")}  # fmt: skip
    assert {table: printed[table] for table in expected} == {t: str(n) for t, n in expected.items()}
    assert f"runs: {2 * len(scrapers)}, skipped (already loaded): 0, failed: 0" in result.stdout
    again = cli(*args)
    assert again.exit_code == 0
    assert f"runs: 0, skipped (already loaded): {2 * len(scrapers)}, failed: 0" in again.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scrapers", "nope"], "unknown scrapers ['nope']"),
        (["--scrapers", "espn_roster"], "espn_roster also needs team_id"),
        (["--scrapers", "bdl_players"], "bdl_players takes no date"),
    ],
)
def test_cli_refuses_scrapers_a_date_cannot_drive(args: list[str], message: str) -> None:
    with respx.mock:  # nothing may be requested
        result = cli(
            "--from", "2024-12-01", "--to", "2024-12-02", *args, "--url", "http://scrapers"
        )
    assert result.exit_code == 2
    assert message in result.stderr


SCRAPERS = "http://scrapers.test"


@respx.mock
def test_cli_lists_failures_and_exits_non_zero() -> None:
    failed = RunResult(
        scraper_name="bdl_games",
        execution_id="run-9",
        status="failed",
        gcs_path=None,
        game_date=dt.date(2024, 12, 1),
        record_count=0,
        duration_seconds=0.2,
        error_message="HTTPStatusError: 503 from upstream",
        params={"date": "2024-12-01"},
    ).model_dump(mode="json")  # the scrapers service's answer to a failed run
    respx.get(f"{SCRAPERS}/admin/recent-executions").respond(
        json={"executions": [], "has_more": False}
    )
    respx.post(f"{SCRAPERS}/process").respond(502, json=failed)
    respx.post(f"{SCRAPERS}/admin/pipeline-progress").respond(json={"pending": []})
    respx.get(f"{SCRAPERS}/admin/table-counts").respond(json={"nba_raw.bdl_games": 0})
    result = cli(
        "--from", "2024-12-01", "--to", "2024-12-01", "--scrapers", "bdl_games", "--url", SCRAPERS
    )
    assert result.exit_code == 1
    assert "runs: 1, skipped (already loaded): 0, failed: 1" in result.stdout
    assert (
        "failed bdl_games {'date': '2024-12-01'}: HTTPStatusError: 503 from upstream"
        in result.stdout
    )


@respx.mock
def test_cli_unreachable_service_says_how_to_resume() -> None:
    respx.get(f"{SCRAPERS}/admin/recent-executions").mock(side_effect=httpx.ConnectError("refused"))
    result = cli("--from", "2024-12-01", "--to", "2024-12-01", "--url", SCRAPERS)
    assert result.exit_code == 1
    assert "backfill stopped, re-run to resume: refused" in result.stderr


STOPPED_RANGE = (dt.date(2025, 1, 20), dt.date(2025, 2, 9))


def test_cli_stops_on_sigterm_and_says_how_to_resume(
    client: PipelineClient, stack: LocalStack
) -> None:
    """SIGTERM (the stop signal a background job gets) ends a backfill between two scrapes:
    the queued ones never start, and it exits 128 + 15 saying how to resume."""
    command = [sys.executable, "-m", "nba_pipeline.cli", "backfill", "--parallel", "2", "--yes",
               "--from", STOPPED_RANGE[0].isoformat(), "--to", STOPPED_RANGE[1].isoformat(),
               "--url", stack.url("scrapers")]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    window = {"from": STOPPED_RANGE[0].isoformat(), "to": STOPPED_RANGE[1].isoformat()}

    def runs() -> int:
        return len(client.executions(workflow="BACKFILL", **window))

    deadline = time.monotonic() + 60
    while not runs():
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.05)
    sent = time.monotonic()
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)
    sys.stdout.write(f"\nbackfill: exited {time.monotonic() - sent:.2f} s after SIGTERM\n")
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert "backfill stopped by SIGTERM, re-run to resume" in stderr
    made = runs()
    time.sleep(1)
    assert runs() == made, "a scrape started after the command exited"
    assert made < len(list(dates(*STOPPED_RANGE))) * len(date_scrapers()), "it stopped early"
