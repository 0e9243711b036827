"""The raw file, not the message, is the record of a run: the processors refuse (4xx, so the
message ends in the DLQ) a message whose path or run its file contradicts, naming both values."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

import httpx
import pytest
from fastapi.testclient import TestClient

from libs.common.deps import Clients
from libs.common.gcs import RawFileStore
from libs.common.messages import ScraperComplete
from libs.common.pubsub import Publisher
from libs.common.settings import CommonSettings
from libs.common.warehouse.duckdb import DuckDBWarehouse
from services.processors.app import create_app
from tests.conftest import RECORDINGS
from tests.utils.fakes import RecordingPublisher, memory_store
from tests.utils.rawfiles import stored_run
from tests.utils.scrapers import GAMES

EVENTS_HISTORY = json.loads(
    (RECORDINGS / "oddsapi" / "historical_events_v4_raw_1.json").read_text()
)


@dataclass
class Processors:
    """The processors service over an in-memory warehouse and bucket."""

    http: TestClient
    store: RawFileStore
    warehouse: DuckDBWarehouse
    publisher: RecordingPublisher

    def run_file(
        self, scraper: str, params: dict[str, Any], body: Any, meta: dict[str, Any] | None = None
    ) -> ScraperComplete:
        return stored_run(self.store, scraper, params, body, meta)

    def push(self, message: ScraperComplete) -> httpx.Response:
        data = base64.b64encode(message.model_dump_json().encode()).decode()
        envelope = {"message": {"data": data, "messageId": str(uuid.uuid4()),
                                "attributes": message.attributes()},
                    "subscription": "projects/p/subscriptions/nba-processors-sub"}  # fmt: skip
        return self.http.post("/process", json=envelope)

    def loaded(self, table: str) -> list[dict[str, Any]]:
        return self.warehouse.query(
            f"SELECT execution_id, game_date, count(*) AS n FROM {{{table}}} "
            "GROUP BY execution_id, game_date"
        )


@pytest.fixture
def processors() -> Iterator[Processors]:
    warehouse, store, publisher = DuckDBWarehouse(":memory:"), memory_store(), RecordingPublisher()
    clients = Clients(warehouse, store, cast(Publisher, publisher))
    with TestClient(create_app(CommonSettings(), clients)) as http:
        yield Processors(http, store, warehouse, publisher)


def refused(response: httpx.Response, status: int, *named: str) -> str:
    """The reason of a nack with `status`, after checking it names every one of `named`."""
    assert response.status_code == status, response.text
    reason = str(response.json()["reason"])
    missing = [value for value in named if value not in reason]
    assert not missing, f"{missing} not named in: {reason}"
    return reason


def test_a_message_naming_oddsa_events_at_an_events_history_file_is_refused(
    processors: Processors,
) -> None:
    history = processors.run_file("oddsa_events_his", {"date": "2024-01-24"}, EVENTS_HISTORY)
    forged = history.model_copy(update={"scraper_name": "oddsa_events"})
    prefix = "gs://nba-scraped-data/odds-api/events/"
    refused(processors.push(forged), 400, str(history.gcs_path), f"oddsa_events's prefix {prefix}")
    assert processors.loaded("nba_raw.odds_api_events") == []
    assert processors.publisher.published == []


def test_an_events_history_file_copied_under_oddsa_events_is_refused(
    processors: Processors,
) -> None:
    history = processors.run_file("oddsa_events_his", {"date": "2024-01-24"}, EVENTS_HISTORY)
    copy = processors.run_file("oddsa_events", {"date": "2024-01-24"}, EVENTS_HISTORY,
                               meta={"scraper_name": "oddsa_events_his",
                                     "execution_id": history.execution_id})  # fmt: skip
    refused(processors.push(copy), 400, "scraper_name 'oddsa_events'",
            "the file's meta.scraper_name is 'oddsa_events_his'")  # fmt: skip
    assert processors.loaded("nba_raw.odds_api_events") == []


def test_a_forged_run_on_a_real_bdl_games_file_is_refused_and_its_lineage_stays(
    processors: Processors,
) -> None:
    real = processors.run_file("bdl_games", {"date": "2025-02-20"}, GAMES)
    assert processors.push(real).status_code == 200
    forged_id = str(uuid.uuid4())
    forged = real.model_copy(update={"execution_id": forged_id, "game_date": dt.date(2025, 2, 19)})
    refused(
        processors.push(forged), 400,
        f"execution_id '{forged_id}', but the file's meta.execution_id is '{real.execution_id}'",
        "game_date '2025-02-19', but the file's meta.request.params.date is '2025-02-20'",
    )  # fmt: skip
    [loaded] = processors.loaded("nba_raw.bdl_games")
    assert loaded == {"execution_id": real.execution_id, "game_date": dt.date(2025, 2, 20), "n": 9}


@pytest.mark.parametrize(
    "path",
    [
        "gs://nba-scraped-data/orchestration/claims/2025-02-20/morning_operations/attempt-1.json",
        "gs://nba-scraped-data/ball-dont-lie/games/../../orchestration/claims/2025-02-20/x.json",
        "gs://another-bucket/ball-dont-lie/games/2025-02-20/x.json",
        "https://example.com/ball-dont-lie/games/2025-02-20/x.json",
        "gs://nba-scraped-data/_work/processors/0123",
    ],
    ids=["claim-object", "dot-dot", "other-bucket", "https-url", "ledger-marker"],
)
def test_a_path_outside_the_scraper_s_prefix_is_a_400(processors: Processors, path: str) -> None:
    processors.store.write_json(
        "orchestration/claims/2025-02-20/morning_operations/attempt-1.json", {"decision_id": "d"}
    )
    message = processors.run_file("bdl_games", {"date": "2025-02-20"}, GAMES)
    refused(processors.push(message.model_copy(update={"gcs_path": path})), 400, f"gcs_path '{path}'",
            "bdl_games's prefix gs://nba-scraped-data/ball-dont-lie/games/")  # fmt: skip


def test_a_raw_file_that_is_not_json_is_a_422(processors: Processors) -> None:
    message = processors.run_file("bdl_games", {"date": "2025-02-20"}, GAMES)
    name = processors.store.object_of(str(message.gcs_path)).replace(".json", "-page.json")
    processors.store.write_new(name, b"<html>Service Unavailable</html>", "text/html")
    path = processors.store.gcs_path(name)
    refused(processors.push(message.model_copy(update={"gcs_path": path})), 422,
            f"{path} is not valid JSON")  # fmt: skip


def test_a_file_without_our_envelope_is_a_422_naming_meta(processors: Processors) -> None:
    message = processors.run_file("bdl_games", {"date": "2025-02-20"}, GAMES)
    name = processors.store.object_of(str(message.gcs_path)).replace(".json", "-bare.json")
    processors.store.write_json(name, GAMES)
    bare = message.model_copy(update={"gcs_path": processors.store.gcs_path(name)})
    refused(processors.push(bare), 422, "bdl_games: field 'meta': missing")


def test_a_page_file_outside_the_prefix_is_a_400(processors: Processors) -> None:
    elsewhere = "gs://nba-scraped-data/espn/rosters/2025-02-20/page.html.gz"
    params = {"team_id": 1610612744, "slug": "warriors", "date": "2025-02-20"}
    message = processors.run_file("nbac_roster", params, None, meta={"body_file": elsewhere})
    refused(processors.push(message), 400, f"meta.body_file '{elsewhere}'",
            "nbac_roster's prefix gs://nba-scraped-data/nba-com/team-roster/")  # fmt: skip
