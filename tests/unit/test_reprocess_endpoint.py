"""`POST /admin/reprocess` over an in-memory bucket: which files of a date it republishes, how."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from libs.common.audit import PROCESSED_MESSAGES, record_processed
from libs.common.gcs import RawFileStore, StorageError, object_name
from libs.common.messages import SCRAPER_COMPLETE_TOPIC, ScraperComplete
from libs.common.reprocess import dated_scrapers
from libs.common.sources.registry import SOURCES
from libs.common.warehouse.duckdb import DuckDBWarehouse
from services.scrapers.app import create_app
from services.scrapers.settings import ScraperSettings
from tests.utils.fakes import RecordingPublisher, fake_clients, memory_store

FETCHED = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)
REPROCESS_ID = "3f1c2b7e-8d4a-4c61-9e0b-5a6f7d8e9c01"


class Service:
    """A scrapers app over an in-memory bucket and a publisher that records."""

    def __init__(self, client: TestClient, store: RawFileStore, publisher: RecordingPublisher,
                 warehouse: DuckDBWarehouse) -> None:  # fmt: skip
        self.client, self.store, self.publisher, self.warehouse = (
            client, store, publisher, warehouse)  # fmt: skip

    def reprocess(self, day: dt.date, **fields: Any) -> dict[str, Any]:
        request = {"date": day.isoformat(), "reprocess_id": REPROCESS_ID} | fields
        response = self.client.post("/admin/reprocess", json=request)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def published(self) -> list[tuple[ScraperComplete, dict[str, str]]]:
        found = []
        for topic, message, attributes in self.publisher.published:
            assert topic == SCRAPER_COMPLETE_TOPIC
            assert isinstance(message, ScraperComplete)
            found.append((message, attributes))
        return found


@pytest.fixture(scope="module")
def service() -> Iterator[Service]:
    store, publisher, warehouse = memory_store(), RecordingPublisher(), DuckDBWarehouse(":memory:")
    clients = fake_clients(warehouse, store, publisher)
    with TestClient(create_app(clients=clients)) as client:
        yield Service(client, store, publisher, warehouse)


@pytest.fixture(autouse=True)
def fresh_publisher(service: Service) -> None:
    service.publisher.published.clear()
    service.publisher.failing = False


def write_run(
    store: RawFileStore,
    scraper_name: str,
    day: dt.date | None,
    fetched: dt.datetime = FETCHED,
    prefix_of: str | None = None,
) -> dict[str, str]:
    """A raw file as the runner writes it (undated when `day` is None); `prefix_of` stores it
    under another scraper's prefix."""
    execution_id = str(uuid.uuid4())
    params = {"date": day.isoformat()} if day else {}
    name = object_name(SOURCES[prefix_of or scraper_name].gcs_prefix, day, fetched, execution_id)
    meta = {"scraper_name": scraper_name, "execution_id": execution_id,
            "fetched_at": fetched.isoformat(), "request": {"requests": [], "params": params}}  # fmt: skip
    store.write_json(name, {"meta": meta, "data": {"data": []}})
    return {"execution_id": execution_id, "scraper_name": scraper_name,
            "gcs_path": store.gcs_path(name)}  # fmt: skip


def test_each_file_of_the_date_is_republished_with_the_reprocess_id(service: Service) -> None:
    day = dt.date(2025, 3, 1)
    files = [
        write_run(service.store, name, day) for name in ("bdl_games", "bdl_box_scores", "bp_events")
    ]
    write_run(service.store, "bdl_games", dt.date(2025, 3, 31))
    page = files[0]["gcs_path"].removeprefix("gs://nba-scraped-data/").replace(".json", ".html.gz")
    service.store.write_gzip(page, "<html></html>", "text/html")

    answer = service.reprocess(day)

    expected = sorted(files, key=lambda f: f["gcs_path"])
    assert answer == {"date": day.isoformat(), "reprocess_id": REPROCESS_ID, "dry_run": False,
                      "republished": expected, "errors": []}  # fmt: skip
    published = service.published()
    assert [message.gcs_path for message, _ in published] == [f["gcs_path"] for f in expected]
    for (message, attributes), file in zip(published, expected, strict=True):
        assert (message.scraper_name, message.execution_id) == (
            file["scraper_name"],
            file["execution_id"],
        )
        assert (message.status, message.workflow, message.game_date) == (
            "success",
            "REPROCESS",
            day,
        )
        assert message.params == {"date": day.isoformat()}
        trace = attributes.get("traceparent")
        assert attributes == message.attributes(trace) | {"reprocess_id": REPROCESS_ID}


def test_the_scraper_is_taken_from_each_file_s_meta_and_filtered(service: Service) -> None:
    day = dt.date(2025, 3, 2)
    games = write_run(service.store, "bdl_games", day)
    sharing = write_run(service.store, "bdl_box_scores", day, prefix_of="bdl_games")

    assert service.reprocess(day, scrapers=["bdl_games"])["republished"] == [games]
    both = service.reprocess(day, scrapers=["bdl_games", "bdl_box_scores"])["republished"]
    assert sorted(both, key=lambda f: f["scraper_name"]) == [sharing, games]


def test_a_dry_run_lists_the_same_files_and_publishes_nothing(service: Service) -> None:
    day = dt.date(2025, 3, 3)
    files = [write_run(service.store, "bdl_games", day), write_run(service.store, "bp_events", day)]
    dry = service.reprocess(day, dry_run=True)
    assert dry["dry_run"] is True
    assert sorted(dry["republished"], key=lambda f: f["gcs_path"]) == sorted(
        files, key=lambda f: f["gcs_path"]
    )
    assert service.publisher.published == []
    assert service.reprocess(day)["republished"] == dry["republished"]
    assert len(service.publisher.published) == 2


def test_every_file_of_a_scrape_is_republished_however_many_runs_it_had(service: Service) -> None:
    day = dt.date(2025, 3, 4)
    later = FETCHED + dt.timedelta(hours=3)
    files = [write_run(service.store, name, day, at) for name in ("bdl_games", "bp_events")
             for at in (FETCHED, later)]  # fmt: skip
    answer = service.reprocess(day)
    assert answer["republished"] == sorted(files, key=lambda f: f["gcs_path"])
    assert len(service.published()) == 4


def test_undated_files_fetched_on_the_date_come_with_undated_only(service: Service) -> None:
    day = dt.date(2025, 3, 10)
    players = [write_run(service.store, "bdl_players", None, at)
               for at in (FETCHED.replace(day=10), FETCHED.replace(day=11))]  # fmt: skip
    games = write_run(service.store, "bdl_games", day)

    assert service.reprocess(day)["republished"] == [games]
    both = service.reprocess(day, undated=True)["republished"]
    assert sorted(both, key=lambda f: f["scraper_name"]) == [games, players[0]]
    message, _ = service.published()[-1]
    assert (message.scraper_name, message.game_date, message.params) == ("bdl_players", None, {})
    only = service.reprocess(day, undated=True, scrapers=["bdl_players"])["republished"]
    assert only == [players[0]]


def test_a_bad_file_is_reported_alone_and_the_others_are_republished(service: Service) -> None:
    day = dt.date(2025, 3, 5)
    good = write_run(service.store, "bdl_games", day)
    folder = f"{SOURCES['bdl_games'].gcs_prefix}/{day.isoformat()}"
    run = {"execution_id": "x", "fetched_at": FETCHED.isoformat()}
    bad = {
        "a.json": b"{not json",
        "b.json": {"data": [], "meta": {}},
        "c.json": {"data": [], "meta": run | {"scraper_name": "bdl_gone"}},
        "d.json": {"data": [], "meta": run | {"scraper_name": "bdl_games",
                                              "request": {"params": {"day": "2025-03-05"}}}},
    }  # fmt: skip
    for name, content in bad.items():
        raw = content if isinstance(content, bytes) else json.dumps(content).encode()
        service.store.write_new(f"{folder}/20250305T000000Z_{name}", raw, "application/json")

    answer = service.reprocess(day)

    assert answer["republished"] == [good]
    errors = {e["gcs_path"].rsplit("_", 1)[1]: e["error"] for e in answer["errors"]}
    assert errors.keys() == {"a.json", "b.json", "c.json", "d.json"}
    assert "is not valid JSON" in errors["a.json"]
    assert errors["b.json"].startswith("no meta envelope")
    assert "'bdl_gone' is not a registered scraper" in errors["c.json"]
    assert errors["d.json"].startswith("meta does not describe a bdl_games run")
    assert len(service.publisher.published) == 1


@pytest.mark.parametrize(
    ("scrapers", "message"),
    [
        (["nope"], "unknown scrapers ['nope']; known: "),
        (["bdl_players"], "bdl_players: files never stored by game date; add --undated"),
        (["bdl_games", "bdl_players"], "bdl_players: files never stored by game date"),
    ],
)
def test_a_scraper_a_date_cannot_cover_is_a_400_naming_it(
    service: Service, scrapers: list[str], message: str
) -> None:
    response = service.client.post(
        "/admin/reprocess", json={"date": "2025-03-06", "scrapers": scrapers}
    )
    assert response.status_code == 400
    assert message in response.json()["detail"]
    assert service.publisher.published == []


def test_a_failed_publish_is_a_503_that_says_retrying_is_safe(service: Service) -> None:
    day = dt.date(2025, 3, 7)
    write_run(service.store, "bdl_games", day)
    service.publisher.failing = True
    response = service.client.post("/admin/reprocess", json={"date": day.isoformat()})
    assert response.status_code == 503
    assert "republishing is safe, retry the request" in response.json()["detail"]


def test_without_an_id_each_request_gets_a_fresh_one(service: Service) -> None:
    day = dt.date(2025, 3, 8)
    write_run(service.store, "bdl_games", day)
    ids = {
        service.client.post("/admin/reprocess", json={"date": day.isoformat()}).json()[
            "reprocess_id"
        ]
        for _ in range(2)
    }
    assert len(ids) == 2 and all(uuid.UUID(i).version == 4 for i in ids)


def test_every_scraper_with_a_date_param_is_covered_by_default() -> None:
    assert set(dated_scrapers()) == {
        name for name, source in SOURCES.items() if "date" in source.params_model.model_fields
    }
    assert "bdl_players" not in dated_scrapers() and "espn_roster" in dated_scrapers()


def test_pipeline_progress_waits_on_the_runs_reprocess(service: Service) -> None:
    execution_id = str(uuid.uuid4())
    first = {"subscription": "s", "message_id": "1", "scraper_name": "bdl_games",
             "execution_id": execution_id, "outcome": "no_data"}  # fmt: skip

    def pending(**fields: Any) -> list[str]:
        body = {"execution_ids": [execution_id]} | fields
        response = service.client.post("/admin/pipeline-progress", json=body)
        assert response.status_code == 200, response.text
        return list(response.json()["pending"])

    assert pending() == [execution_id], "no push service has started: nothing was applied"
    service.warehouse.ensure_tables([PROCESSED_MESSAGES])  # as the processors create it
    record_processed(service.warehouse, phase="processors", **first)
    assert pending() == []
    assert pending(reprocess_id=REPROCESS_ID) == [execution_id]
    record_processed(service.warehouse, phase="processors", reprocess_id=REPROCESS_ID, **first)
    assert pending(reprocess_id=REPROCESS_ID) == []
    assert pending(reprocess_id=str(uuid.uuid4())) == [execution_id]


def test_reprocess_requires_an_admin_identity() -> None:
    settings = ScraperSettings(_env_file=None, push_auth_enabled=True,
                               push_audience="https://scrapers", push_service_account="push@p")  # fmt: skip
    with TestClient(create_app(settings, fake_clients(store=memory_store()))) as client:
        response = client.post("/admin/reprocess", json={"date": "2025-03-09"})
    assert response.status_code == 401


def test_listing_is_sorted_and_stays_inside_the_bucket() -> None:
    store = memory_store()
    for name in ("a/2025-03-01/2.json", "a/2025-03-01/1.json", "a/2025-03-02/1.json", "b/1.json"):
        store.write_new(name, b"{}", "application/json")
    assert store.list_names("a/2025-03-01/") == ["a/2025-03-01/1.json", "a/2025-03-01/2.json"]
    for prefix in ("../a/", "/a/", "a/../b/"):
        with pytest.raises(StorageError):
            store.list_names(prefix)
