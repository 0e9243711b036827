"""A run whose completion could not be published: one final status, failed, that every reader
sees, a gap the backfiller re-runs, and nothing left waiting on a message that never went."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator

import httpx
import pytest

from libs.common.audit import SCRAPER_EXECUTION_LOG, final_runs, record_run
from libs.common.clock import EASTERN
from libs.common.warehouse.duckdb import DuckDBWarehouse
from nba_pipeline.backfill import already_loaded
from nba_pipeline.pipeline import PipelineClient
from services.scrapers.dashboard import scraper_stats
from services.scrapers.orchestration.engine import history_of
from tests.utils.scrapers import DAY, GAMES, STARTED, Scrapers, scrapers_app


@pytest.fixture
def scrapers() -> Iterator[Scrapers]:
    with scrapers_app() as app:
        yield app


def test_the_scrape_answers_503_with_the_failed_run_and_the_publish_error(
    scrapers: Scrapers,
) -> None:
    scrapers.publisher.failing = True
    response = scrapers.scrape()
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "failed" and body["message_id"] is None
    assert body["error_message"].startswith("publish failed: publish to nba-scraper-complete")
    assert scrapers.store.exists(body["gcs_path"]), "the raw file was written before"


def test_every_reader_sees_one_final_status_failed(scrapers: Scrapers) -> None:
    scrapers.publisher.failing = True
    scrapers.scrape()
    execution_id = scrapers.only_run()

    shown = scrapers.http.get(f"/executions/{execution_id}").json()
    assert (shown["execution"]["status"], shown["execution"]["error_class"]) == (
        "failed",
        "PublishError",
    )
    assert "publish failed" in shown["execution"]["error_message"]
    history = [(row["log_seq"], row["status"]) for row in shown["history"]]
    assert history == [(2, "failed"), (1, "success")]

    def listed(**filters: str) -> list[str]:
        page = scrapers.http.get("/admin/recent-executions", params=filters).json()
        return [run["execution_id"] for run in page["executions"]]

    assert listed(status="success") == []
    assert listed(status="failed") == listed() == [execution_id]

    [stats] = scraper_stats(scrapers.warehouse, STARTED).values()
    assert (stats["runs_7d"], stats["ok_7d"], stats["last_status"]) == (1, 0, "failed")
    today = STARTED.astimezone(EASTERN).date()
    history_today = history_of(scrapers.warehouse, "MANUAL", today)
    assert history_today.scraper_status["bdl_games"][1] == "failed"


def test_nothing_waits_on_it_and_a_resumed_backfill_scrapes_it_again(scrapers: Scrapers) -> None:
    scrapers.publisher.failing = True
    pipeline = PipelineClient("http://testserver")
    pipeline.http.close()
    pipeline.http = scrapers.http
    run = pipeline.scrape("bdl_games", {"date": DAY.isoformat()}, "BACKFILL")
    assert (run.status_code, run.status) == (503, "failed") and run.execution_id
    assert pipeline.wait([run], timeout=0) < 1, "a run that produced no message is not waited on"
    assert already_loaded(pipeline, DAY, DAY) == {}


def test_its_gap_is_open_and_the_backfiller_reruns_it_once(scrapers: Scrapers) -> None:
    scrapers.publisher.failing = True
    scrapers.scrape()
    failed = scrapers.only_run()
    assert scrapers.gap() == {"failure_id": failed, "attempts": 1, "backfilled": False,
                              "backfill_execution_id": None, "error_class": "PublishError"}  # fmt: skip

    scrapers.publisher.failing = False
    answer = scrapers.http.post("/backfill-gaps", json={}).json()
    assert answer["backfilled"] == [failed]
    [(_, message, _)] = scrapers.publisher.published
    assert message.execution_id != failed and message.status == "success"  # type: ignore[attr-defined]
    gap = scrapers.gap()
    assert gap["backfilled"] and gap["backfill_execution_id"] == message.execution_id  # type: ignore[attr-defined]


def test_cleanup_leaves_it_to_the_backfiller(scrapers: Scrapers) -> None:
    scrapers.publisher.failing = True
    scrapers.scrape()
    scrapers.publisher.failing = False
    scrapers.clock.advance(dt.timedelta(minutes=45))
    report = scrapers.http.post("/run-cleanup").json()
    assert (report["files_checked"], report["files_republished"]) == (0, 0)
    assert scrapers.publisher.published == []


def test_cleanup_still_republishes_a_run_logged_but_never_published(scrapers: Scrapers) -> None:
    """A process that died between its log row and its publish left no superseding row."""
    name = "ball-dont-lie/games/2025-02-20/lost.json"
    scrapers.store.write_json(name, {"meta": {}, "data": GAMES})
    gcs_path = scrapers.store.gcs_path(name)
    lost = str(uuid.uuid4())
    record_run(scrapers.warehouse, execution_id=lost, scraper_name="bdl_games", workflow="MANUAL",
               status="success", game_date=DAY, params={"date": DAY.isoformat()}, gcs_path=gcs_path,
               record_count=9, started_at=STARTED, finished_at=STARTED)  # fmt: skip
    scrapers.clock.advance(dt.timedelta(minutes=45))
    report = scrapers.http.post("/run-cleanup").json()
    assert report["republished_execution_ids"] == [lost]


def test_a_failed_run_whose_publish_fails_too_is_one_attempt_with_both_errors(
    scrapers: Scrapers,
) -> None:
    scrapers.upstream.mock(return_value=httpx.Response(404, json={"error": "not found"}))
    scrapers.publisher.failing = True
    body = scrapers.scrape().json()
    assert body["error_message"].startswith("UpstreamError: ")
    assert "; publish failed: " in body["error_message"]
    assert scrapers.gap()["attempts"] == 1


def test_a_good_run_closes_an_earlier_gap_only_once_it_is_published(scrapers: Scrapers) -> None:
    scrapers.upstream.mock(return_value=httpx.Response(404, json={"error": "not found"}))
    first = scrapers.scrape().json()["execution_id"]
    scrapers.upstream.mock(return_value=httpx.Response(200, json=GAMES))
    scrapers.publisher.failing = True
    scrapers.scrape()
    assert scrapers.gap() | {"error_class": None} == {"failure_id": first, "attempts": 2,
        "backfilled": False, "backfill_execution_id": None, "error_class": None}  # fmt: skip
    scrapers.publisher.failing = False
    closing = scrapers.scrape().json()["execution_id"]
    assert scrapers.gap()["backfill_execution_id"] == closing


@pytest.mark.parametrize("appended", [(1, 2), (2, 1)], ids=["in order", "reversed"])
def test_the_final_row_is_the_highest_log_seq_whatever_order_rows_come_back_in(
    appended: tuple[int, int],
) -> None:
    """Rows from before log_seq count as 1, or 2 when failed: the old code wrote a failed
    publish's row after the run's own."""
    warehouse = DuckDBWarehouse(":memory:")
    warehouse.ensure_tables([SCRAPER_EXECUTION_LOG])
    run = {"scraper_name": "bdl_games", "workflow": "MANUAL", "game_date": DAY,
           "started_at": STARTED, "finished_at": STARTED}  # fmt: skip
    rows = {
        "superseded": {
            1: {"status": "success", "log_seq": 1},
            2: {"status": "failed", "log_seq": 2},
        },
        "legacy pair": {1: {"status": "success"}, 2: {"status": "failed"}},
        "legacy": {1: {"status": "success"}},
    }
    for seq in appended:
        for execution_id, by_seq in rows.items():
            if seq in by_seq:
                row = run | {"execution_id": execution_id} | by_seq[seq]
                warehouse.append(SCRAPER_EXECUTION_LOG, [row])
    final = warehouse.query(
        f"SELECT execution_id, status FROM {final_runs('scraper_name = @s')}", {"s": "bdl_games"}
    )
    assert {row["execution_id"]: row["status"] for row in final} == {
        "superseded": "failed",
        "legacy pair": "failed",
        "legacy": "success",
    }
