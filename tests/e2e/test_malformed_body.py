"""A malformed upstream body, end to end: the run is failed, names scraper and field, keeps the file."""

from __future__ import annotations

import copy
import datetime as dt
import gzip
import json
from typing import Any

import pytest
import respx

from libs.common.sources.registry import get_source
from nba_pipeline.pipeline import PipelineClient
from nba_pipeline.stack import LocalStack
from tests.conftest import RECORDINGS

pytestmark = pytest.mark.e2e

DAY = dt.date(2024, 12, 27)


def box_scores_without_players() -> str:
    body = json.loads((RECORDINGS / "balldontlie" / "bdl_box_scores_v1_raw.json").read_text())
    broken = copy.deepcopy(body)
    del broken["data"][2]["visitor_team"]["players"]
    return json.dumps(broken)


def page_cut_inside_next_data() -> str:
    page = gzip.decompress(
        (RECORDINGS / "nbacom" / "nbac_roster_page_raw.html.gz").read_bytes()
    ).decode()
    start = page.index('id="__NEXT_DATA__"')
    return page[: start + 2_000]


CASES = [
    pytest.param(
        "bdl_box_scores", {"date": DAY.isoformat()}, "/balldontlie/v1/box_scores",
        box_scores_without_players(), "json", "bdl_box_scores: field 'data[2].visitor_team.players': missing",
        id="json-missing-field",
    ),
    pytest.param(
        "bdl_games", {"date": DAY.isoformat()}, "/balldontlie/v1/games",
        box_scores_without_players()[:300], "text", "bdl_games: field '<body>'", id="json-truncated",
    ),
    pytest.param(
        "nbac_roster", {"team_id": "1610612744", "slug": "warriors", "date": DAY.isoformat()},
        "/nbacom_web/team/1610612744/warriors", page_cut_inside_next_data(), "html",
        "nbac_roster: field '__NEXT_DATA__'", id="html-truncated",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("scraper", "params", "path", "served", "kind", "error"), CASES)
def test_malformed_body_fails_the_run_and_keeps_the_file(
    stack: LocalStack,
    scraper: str,
    params: dict[str, Any],
    path: str,
    served: str,
    kind: str,
    error: str,
) -> None:
    client = PipelineClient(stack.url("scrapers"))
    with respx.mock(assert_all_called=True) as upstream:
        upstream.get(url__startswith=stack.url("replay") + path).respond(200, text=served)
        upstream.route().pass_through()
        run = client.scrape(scraper, params)
    assert (run.status_code, run.status) == (502, "failed")
    assert error in run.result.error_message
    stored = stack.clients.store.read_json(run.result.gcs_path)
    if kind == "json":
        assert json.dumps(stored.document["data"]) == served
    elif kind == "text":
        assert stored.document["data"] == served
    else:
        assert stack.clients.store.read_gzip_text(stored.document["meta"]["body_file"]) == served
    logged = client.http.get(f"/executions/{run.execution_id}").json()
    assert {row["status"] for row in logged["history"]} == {"failed"}
    assert error in logged["execution"]["error_message"]
    assert logged["execution"]["gcs_path"] == run.result.gcs_path
    table = get_source(scraper).table.fqn
    loaded = stack.clients.warehouse.query(
        f"SELECT count(*) AS n FROM {{{table}}} WHERE source_file = @f", {"f": run.result.gcs_path}
    )
    assert loaded[0]["n"] == 0, "nothing of the bad file is loaded"
