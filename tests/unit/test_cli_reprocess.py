"""`nba-pipeline reprocess` against a mocked scrapers service: requests, waiting, output, exit codes."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx
from typer.testing import CliRunner

from libs.common.reprocess import dated_scrapers
from libs.common.sources.registry import SOURCES
from nba_pipeline.cli import app

URL = "http://scrapers"


def cli(*args: str) -> Any:
    return CliRunner().invoke(app, ["reprocess", *args, "--url", URL])


class Service:
    """Answers each date with one republished games file; the first progress poll is pending."""

    def __init__(self, errors: bool = False) -> None:
        self.requests: list[dict[str, Any]] = []
        self.polls: list[dict[str, Any]] = []
        self.errors = errors

    def reprocess(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.requests.append(body)
        run = {"execution_id": str(uuid.uuid4()), "scraper_name": "bdl_games",
               "gcs_path": f"gs://b/ball-dont-lie/games/{body['date']}/x.json"}  # fmt: skip
        problems = [{"gcs_path": "gs://b/bad.json", "error": "no meta envelope"}]
        return httpx.Response(200, json={
            "date": body["date"], "reprocess_id": body["reprocess_id"], "dry_run": body["dry_run"],
            "republished": [run], "errors": problems if self.errors else []})  # fmt: skip

    def progress(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.polls.append(body)
        pending = body["execution_ids"] if len(self.polls) == 1 else []
        return httpx.Response(200, json={"pending": pending})


@pytest.fixture
def service() -> Iterator[Service]:
    fake = Service()
    with respx.mock(assert_all_called=False) as mock:
        mock.post(f"{URL}/admin/reprocess").mock(side_effect=fake.reprocess)
        mock.post(f"{URL}/admin/pipeline-progress").mock(side_effect=fake.progress)
        yield fake


def test_one_request_per_date_under_one_reprocess_id_then_it_waits_for_that_id(
    service: Service,
) -> None:
    result = cli("--from", "2025-03-01", "--to", "2025-03-03", "--scraper", "bdl_games")
    assert result.exit_code == 0, result.output
    reprocess_id = result.stdout.splitlines()[0].removeprefix("reprocess_id ")
    assert uuid.UUID(reprocess_id).version == 4
    assert [r["date"] for r in service.requests] == ["2025-03-01", "2025-03-02", "2025-03-03"]
    assert {(r["reprocess_id"], r["dry_run"], tuple(r["scrapers"])) for r in service.requests} == {
        (reprocess_id, False, ("bdl_games",))
    }
    assert {poll["reprocess_id"] for poll in service.polls} == {reprocess_id}
    assert len(service.polls[0]["execution_ids"]) == 3 and service.polls[1:]
    assert any(line.split() == ["│", "bdl_games", "│", "3", "│"]
               for line in result.stdout.splitlines())  # fmt: skip
    assert "files republished: 3, unreadable: 0" in result.stdout
    assert f"every phase applied them under reprocess_id {reprocess_id}" in result.stdout


def test_a_dry_run_sends_dry_run_and_waits_for_nothing(service: Service) -> None:
    result = cli("--from", "2025-03-01", "--to", "2025-03-02", "--dry-run")
    assert result.exit_code == 0, result.output
    assert [r["dry_run"] for r in service.requests] == [True, True]
    assert (service.requests[0]["scrapers"], service.requests[0]["undated"]) == (
        dated_scrapers(),
        False,
    )
    assert service.polls == []
    assert "(dry run)" in result.stdout.splitlines()[0]
    assert "files would republish: 2" in result.stdout


def test_no_wait_asks_no_progress(service: Service) -> None:
    result = cli("--from", "2025-03-01", "--to", "2025-03-01", "--no-wait")
    assert result.exit_code == 0, result.output
    assert len(service.requests) == 1 and service.polls == []


def test_undated_asks_for_undated_files_and_admits_never_dated_scrapers(service: Service) -> None:
    result = cli("--from", "2025-03-01", "--to", "2025-03-01", "--undated", "--no-wait")
    assert result.exit_code == 0, result.output
    assert (service.requests[0]["undated"], service.requests[0]["scrapers"]) == (
        True,
        list(SOURCES),
    )
    result = cli(
        "--from", "2025-03-01", "--to", "2025-03-01", "--undated", "--scraper", "bdl_players"
    )
    assert result.exit_code == 0, result.output
    assert service.requests[1]["scrapers"] == ["bdl_players"]


def test_unreadable_files_are_listed_and_exit_1(service: Service) -> None:
    service.errors = True
    result = cli("--from", "2025-03-01", "--to", "2025-03-01", "--no-wait")
    assert result.exit_code == 1
    assert "unreadable gs://b/bad.json: no meta envelope" in result.stdout


DAY = ["--from", "2025-03-01", "--to", "2025-03-01"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            [*DAY, "--scraper", "nope"],
            "unknown scrapers ['nope']; known: bdl_box_scores, bdl_games",
        ),
        ([*DAY, "--scraper", "bdl_players"], "bdl_players: files never stored by game date"),
        (["--from", "2025-03-01", "--to", "2025-02-01"], "--to is before --from"),
    ],
)
def test_what_cannot_be_reprocessed_exits_2_before_any_request(
    args: list[str], message: str
) -> None:
    with respx.mock:  # nothing may be requested
        result = cli(*args)
    assert result.exit_code == 2
    assert message in result.stderr
