"""A crash in the middle of a backfill loses nothing: `nba-pipeline up` killed with SIGKILL
part-way through two weeks, started again over the same warehouse and bucket, and the
backfill resumed, ends with exactly the rows one clean in-order pass gives."""

from __future__ import annotations

import datetime as dt
import re
import signal
import threading
from pathlib import Path

import httpx
import pytest

from libs.common.warehouse.duckdb import DuckDBWarehouse
from nba_pipeline.backfill import backfill
from nba_pipeline.pipeline import PipelineClient
from nba_pipeline.replay.season import Season
from services.scrapers.dead_letters import DeadLetterCounter
from tests.e2e.test_up import Up, assert_gone
from tests.utils.offline import duplicate_keys, in_order_tables

pytestmark = pytest.mark.e2e

FIRST, LAST = dt.date(2024, 11, 4), dt.date(2024, 11, 17)
KILL_AFTER = dt.date(2024, 11, 8)
"""The fifth date: its runs and the four dates' before it are still going through the phases
(the backfill waits for them once a week), so the kill takes messages with it."""


def expected_counts() -> dict[str, int]:
    """Rows per table one in-order pass of the same generated files loads."""
    return {
        table: len(rows)
        for table, rows in in_order_tables(FIRST, LAST).items()
        if table in TABLES_BY_DATE
    }


TABLES_BY_DATE = (
    *Season(seed=2025).expected_rows(FIRST, FIRST),
    "nba_analytics.player_game_summary",
    "nba_analytics.team_game_summary",
    "nba_analytics.player_game_lines",
    "nba_analytics.player_prop_results",
)
"""The tables a date backfill fills, raw and analytics."""


def dead_letters(project: str, emulator: str) -> int:
    """Messages waiting in both DLQs of the emulator at `emulator`."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PUBSUB_EMULATOR_HOST", emulator)
        counter = DeadLetterCounter(project)
        try:
            return sum(counter.depths().values())
        finally:
            counter.close()


def test_sigkill_mid_backfill_then_resume_loads_every_row_once(tmp_path: Path) -> None:
    season = Season(seed=2025)
    assert season.expected_rows(FIRST, LAST)["nba_raw.bdl_games"] > 50, "two busy weeks"
    up = Up(tmp_path, "--no-demo", "--no-scheduler")
    up.wait_for("Ctrl-C to stop")
    children = up.children(tmp_path)
    killed = threading.Event()

    def kill_after(day: dt.date) -> None:
        if day == KILL_AFTER:
            up.process.send_signal(signal.SIGKILL)
            killed.set()

    client = PipelineClient(up.urls()["scrapers"], timeout=30)
    with pytest.raises((httpx.HTTPError, OSError)):
        backfill(client, FIRST, LAST, on_date=kill_after)
    client.close()
    assert killed.is_set() and up.exit_code("SIGKILL") == -signal.SIGKILL
    assert_gone(children)

    again = Up(tmp_path, "--no-demo", "--no-scheduler")
    again.wait_for("Ctrl-C to stop")
    urls = again.urls()
    client = PipelineClient(urls["scrapers"])
    report = backfill(client, FIRST, LAST)
    client.close()
    assert report.failures == []
    assert report.skipped >= 5 * 8, "the dates done before the kill are not scraped again"
    assert report.republished, "runs whose events died with the first stack were republished"
    found = {table: report.rows[table] for table in TABLES_BY_DATE}
    emulator = re.search(r"^\s+pubsub\s+(\S+)", again.output, re.M)
    assert emulator is not None, again.output
    assert dead_letters("nba-local", emulator.group(1)) == 0
    assert again.stop(signal.SIGTERM, "SIGTERM after the resumed backfill") == 0

    assert found == expected_counts()
    warehouse = DuckDBWarehouse(tmp_path / "warehouse.duckdb")
    try:
        assert duplicate_keys(warehouse) == {}
    finally:
        warehouse.close()
