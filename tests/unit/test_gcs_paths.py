"""GCS object names (DESIGN §4) and the bucket confinement of reads."""

from __future__ import annotations

import datetime as dt
import json
from types import SimpleNamespace

import pytest

from libs.common.gcs import RawFileStore, StorageError, object_name


class NoClient:
    def bucket(self, name: str) -> object:
        return object()


def test_object_name_follows_the_layout() -> None:
    fetched = dt.datetime(2025, 2, 20, 23, 15, 0, tzinfo=dt.UTC)
    name = object_name("ball-dont-lie/games", dt.date(2025, 2, 20), fetched, "abc")
    assert name == "ball-dont-lie/games/2025-02-20/20250220T231500Z_abc.json"


def test_undated_runs_and_non_utc_clocks() -> None:
    eastern = dt.timezone(dt.timedelta(hours=-5))
    fetched = dt.datetime(2025, 2, 20, 18, 15, 0, tzinfo=eastern)
    assert object_name("ball-dont-lie/players", None, fetched, "x") == (
        "ball-dont-lie/players/undated/20250220T231500Z_x.json"
    )


@pytest.mark.parametrize(
    "path",
    ["gs://other-bucket/a.json", "gs://nba-scraped-data/../secrets", "gs://nba-scraped-data/",
     "/etc/passwd", "gs://nba-scraped-data//abs"],
)  # fmt: skip
def test_reads_outside_the_bucket_are_refused(path: str) -> None:
    store = RawFileStore("nba-scraped-data", "p", client=NoClient())
    with pytest.raises(StorageError):
        store.object_of(path)


def test_object_of_inverts_gcs_path() -> None:
    store = RawFileStore("nba-scraped-data", "p", client=NoClient())
    assert store.object_of(store.gcs_path("a/b/c.json")) == "a/b/c.json"


class RecordingClient:
    """Keeps what each upload sent."""

    def __init__(self) -> None:
        self.uploaded: dict[str, bytes] = {}

    def bucket(self, name: str) -> object:
        client = self

        class Blob:
            generation = 1

            def __init__(self, name: str) -> None:
                self.name = name

            def upload_from_string(self, content: bytes, **options: object) -> None:
                client.uploaded[self.name] = content

        return SimpleNamespace(blob=Blob)


@pytest.mark.parametrize(
    "data",
    [
        {"player": "Luka Dončić", "pts": 31.5, "starter": True, "plus_minus": None},
        {"id": 2**70, "player": "Luka Dončić"},  # past 64 bits: orjson refuses, json writes it
    ],
    ids=["plain", "huge-integer"],
)
def test_a_raw_file_keeps_every_value_the_upstream_sent(data: dict[str, object]) -> None:
    client = RecordingClient()
    store = RawFileStore("nba-scraped-data", "p", client=client)
    store.write_json("a.json", {"meta": {"scraper_name": "bdl_games"}, "data": [data]})
    assert json.loads(client.uploaded["a.json"]) == {
        "meta": {"scraper_name": "bdl_games"},
        "data": [data],
    }


def test_run_claims_live_apart_from_every_scraper_s_raw_files() -> None:
    from libs.common.sources.registry import SOURCES
    from services.scrapers.orchestration.engine import CLAIMS_PREFIX

    top = CLAIMS_PREFIX.split("/")[0]
    assert all(source.gcs_prefix.split("/")[0] != top for source in SOURCES.values())
