"""`nba-pipeline reprocess` through the real stack: files republished, no upstream asked, no row changed.

The date is this module's own, so the files and rows read here are the ones it scraped. Games
are scraped twice: both files are republished, in no fixed order, and the rows of the later
one stay current because raw loads keep the row of the file fetched last.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from libs.common.analytics import ANALYTICS_TABLES
from libs.common.messages import SCRAPER_COMPLETE_TOPIC
from libs.common.sources.registry import SOURCES
from nba_pipeline.cli import app
from nba_pipeline.pipeline import PipelineClient, RunReport
from nba_pipeline.stack import LocalStack
from tests.utils.pubsub import TopicObserver

pytestmark = pytest.mark.e2e

DAY = dt.date(2025, 3, 11)
SCRAPERS = ("bdl_games", "bdl_box_scores", "bp_events")
RAW_TABLES = sorted({SOURCES[name].table.fqn for name in SCRAPERS})
DERIVED_TABLES = sorted(t.fqn for t in ANALYTICS_TABLES if "game_date" in t.column_names)


def rows_of(stack: LocalStack, table: str, skip: tuple[str, ...] = ()) -> list[str]:
    """Every row of `table` for DAY, as sorted JSON, without the columns in `skip`."""
    rows = stack.clients.warehouse.query(
        f"SELECT * FROM {{{table}}} WHERE game_date = @d", {"d": DAY}
    )
    return sorted(json.dumps({k: v for k, v in row.items() if k not in skip}, default=str, sort_keys=True)
                  for row in rows)  # fmt: skip


def state(stack: LocalStack) -> dict[str, list[str]]:
    """The date's raw rows whole (loaded_at included: unchanged rows are not rewritten) and
    its analytics rows but for their build time."""
    raw = {table: rows_of(stack, table) for table in RAW_TABLES}
    return raw | {table: rows_of(stack, table, ("built_at",)) for table in DERIVED_TABLES}


def upstream_requests(stack: LocalStack) -> dict[str, Any]:
    return dict(httpx.get(f"{stack.url('replay')}/_control/requests").json())


def reprocess(stack: LocalStack, *args: str) -> tuple[str, str]:
    """Run the command on DAY; (its reprocess_id, its stdout)."""
    result = CliRunner().invoke(app, ["reprocess", "--from", DAY.isoformat(), "--to", DAY.isoformat(),
                                      *args, "--timeout", "60", "--url", stack.url("scrapers")])  # fmt: skip
    assert result.exit_code == 0, result.output
    first = result.stdout.splitlines()[0].split()
    assert first[0] == "reprocess_id"
    return first[1], result.stdout


def processed_under(stack: LocalStack, reprocess_id: str) -> list[dict[str, Any]]:
    return stack.clients.warehouse.query(
        "SELECT phase, execution_id, outcome, rows_changed FROM {nba_orchestration.processed_messages} "
        "WHERE reprocess_id = @r ORDER BY phase, execution_id",
        {"r": reprocess_id},
    )


@pytest.fixture(scope="module")
def scraped(stack: LocalStack) -> dict[str, RunReport]:
    """DAY scraped and loaded: games twice (the second file's rows are current), box scores,
    BettingPros events (a snapshot source: each file keeps rows of its own)."""
    client = PipelineClient(stack.url("scrapers"))
    names = ["bdl_games", "bdl_games", "bdl_box_scores", "bp_events"]
    runs = [client.scrape(name, {"date": DAY.isoformat()}) for name in names]
    assert [run.status for run in runs] == ["success"] * 4, runs
    client.wait(runs, timeout=60)
    client.close()
    return {"old_games": runs[0], "games": runs[1], "box": runs[2], "events": runs[3]}


def test_a_dry_run_lists_every_file_and_publishes_nothing(
    stack: LocalStack, scraped: dict[str, RunReport]
) -> None:
    observer = TopicObserver(stack.project, SCRAPER_COMPLETE_TOPIC)
    before = state(stack)
    _, output = reprocess(stack, "--dry-run")
    assert "files would republish: 4, unreadable: 0" in output
    assert observer.drain(timeout=5) == []
    assert state(stack) == before


def test_reprocess_reloads_every_file_without_asking_any_upstream_and_changes_no_row(
    stack: LocalStack, scraped: dict[str, RunReport]
) -> None:
    observer = TopicObserver(stack.project, SCRAPER_COMPLETE_TOPIC)
    before, asked = state(stack), upstream_requests(stack)
    assert (
        all(before[table] for table in RAW_TABLES) and before["nba_analytics.player_game_summary"]
    )
    files = {run.execution_id for run in scraped.values()}

    reprocess_id, output = reprocess(stack)

    assert "files republished: 4, unreadable: 0" in output
    assert f"every phase applied them under reprocess_id {reprocess_id}" in output
    assert upstream_requests(stack) == asked
    seen = observer.drain(until=lambda seen: len(seen) >= 4)
    assert {m.attributes["execution_id"] for m in seen} == files
    assert {(m.attributes["reprocess_id"], m.attributes["workflow"]) for m in seen} == {
        (reprocess_id, "REPROCESS")
    }
    loads = [row for row in processed_under(stack, reprocess_id) if row["phase"] == "processors"]
    assert {row["execution_id"] for row in loads} == files
    assert [row["rows_changed"] for row in loads] == [0, 0, 0, 0]
    assert state(stack) == before
    games = {json.loads(row)["execution_id"] for row in before["nba_raw.bdl_games"]}
    assert games == {scraped["games"].execution_id}, "the later file's rows stay current"


def test_reprocessing_twice_changes_nothing_and_applies_each_file_once_per_reprocess(
    stack: LocalStack, scraped: dict[str, RunReport]
) -> None:
    before = state(stack)
    first, _ = reprocess(stack, "--scraper", "bdl_games", "--scraper", "bdl_box_scores")
    second, _ = reprocess(stack, "--scraper", "bdl_games", "--scraper", "bdl_box_scores")
    assert first != second
    for reprocess_id in (first, second):
        rows = processed_under(stack, reprocess_id)
        applied = sorted((row["phase"], row["execution_id"]) for row in rows)
        expected = [(phase, scraped[run].execution_id) for phase in ("analytics", "processors")
                    for run in ("old_games", "games", "box")]  # fmt: skip
        assert applied == sorted(expected)
        assert {row["rows_changed"] for row in rows if row["phase"] == "processors"} == {0}
    assert state(stack) == before
