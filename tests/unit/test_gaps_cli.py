"""`nba-pipeline gaps` through the scrapers service: an operator lists the open gaps and
dismisses one no run can fill."""

from __future__ import annotations

import datetime as dt
from typing import Any

from typer.testing import CliRunner

from libs.common.warehouse.duckdb import DuckDBWarehouse
from nba_pipeline.cli import app
from services.scrapers.tables import SCRAPER_FAILURES
from tests.utils.scrapers import open_gap_row
from tests.utils.served import scrapers_at

URL = "http://scrapers"
FAILED_AT = dt.datetime(2025, 2, 21, 15, tzinfo=dt.UTC)
POSTPONED = "0b6c4b1e-2d55-4a8f-8f43-6f6d1f2c9a01"
OUTAGE = "5d7e0a3c-91b2-4c6e-a0f4-2b8d3c4e5f60"


def gap(failure_id: str, day: dt.date, message: str, hours_later: int) -> dict[str, Any]:
    return open_gap_row(
        failure_id, "bdl_box_scores", {"date": day.isoformat()}, FAILED_AT, game_date=day,
        error_class="UpstreamError", error_message=message, attempts=3,
        last_failed_at=FAILED_AT + dt.timedelta(hours=hours_later),
    )  # fmt: skip


def gaps(*args: str) -> Any:
    return CliRunner().invoke(app, ["gaps", *args, "--url", URL], env={"COLUMNS": "160"})


def test_an_operator_lists_open_gaps_and_dismisses_one() -> None:
    warehouse = DuckDBWarehouse(":memory:")
    with scrapers_at(URL, warehouse):
        warehouse.upsert(SCRAPER_FAILURES, [
            gap(POSTPONED, dt.date(2025, 2, 19), "answered 404", 1),
            gap(OUTAGE, dt.date(2025, 2, 20), "answered 503", 2),
        ])  # fmt: skip
        listed = gaps("list")
        assert listed.exit_code == 0, listed.output
        assert "gaps: 2" in listed.output
        assert listed.output.index(OUTAGE) < listed.output.index(POSTPONED), "last failed first"

        done = gaps("dismiss", POSTPONED, "--reason", "game postponed to April")
        assert done.exit_code == 0, done.output
        assert f"dismissed {POSTPONED} (bdl_box_scores): game postponed to April" in done.output
        still_open = gaps("list")
        assert "gaps: 1" in still_open.output and POSTPONED not in still_open.output
        everything = gaps("list", "--all")
        assert (
            "gaps: 2" in everything.output
            and "dismissed: game postponed to April" in everything.output
        )


def test_dismissing_an_unknown_gap_says_where_to_find_the_ids() -> None:
    with scrapers_at(URL, DuckDBWarehouse(":memory:")):
        done = gaps("dismiss", POSTPONED, "--reason", "game postponed")
    assert done.exit_code == 1
    assert f"no gap has failure_id '{POSTPONED}'" in done.output and "/admin/gaps" in done.output


def test_a_refused_dismissal_names_the_field_to_fix() -> None:
    with scrapers_at(URL, DuckDBWarehouse(":memory:")):
        short = gaps("dismiss", POSTPONED, "--reason", "x")
        not_an_id = gaps("dismiss", "not-a-uuid", "--reason", "game postponed")
    assert (
        short.exit_code == 1 and "reason: String should have at least 3 characters" in short.output
    )
    assert (
        not_an_id.exit_code == 1 and "failure_id: Input should be a valid UUID" in not_an_id.output
    )
