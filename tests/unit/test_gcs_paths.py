"""GCS object names (DESIGN §4) and the bucket confinement of reads."""

from __future__ import annotations

import datetime as dt

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
