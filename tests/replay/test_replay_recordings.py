"""Recorded bodies are served byte for byte for the exact requests they answer."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from nba_pipeline.replay.app import create_app
from nba_pipeline.replay.settings import ReplaySettings
from tests.replay.conftest import Upstream

RECORDINGS = Path(__file__).resolve().parents[2] / "nba_pipeline" / "replay" / "recordings"
ESPN = "/apis/site/v2/sports/basketball/nba"
ODDS_HIS = "/v4/historical/sports/basketball_nba"

CASES = [
    ("balldontlie", "/v1/games", {"dates[]": "2025-02-20", "per_page": "100"},
     "balldontlie/bdl_games_v1_raw_2025-02-20.json"),
    ("balldontlie", "/v1/box_scores", {"date": "2024-01-15"}, "balldontlie/bdl_box_scores_v1_raw.json"),
    ("balldontlie", "/v1/box_scores", {"date": "2024-08-01"}, "balldontlie/bdl_box_scores_v1_raw_empty.json"),
    ("balldontlie", "/v1/player_injuries", {}, "balldontlie/bdl_player_injuries_v1_raw.json"),
    ("oddsapi", f"{ODDS_HIS}/events", {"date": "2024-01-25T04:00:00Z"}, "oddsapi/historical_events_v4_raw_1.json"),
    ("oddsapi", f"{ODDS_HIS}/events", {"date": "2024-01-25T03:55:40Z"}, "oddsapi/historical_events_v4_raw_1.json"),
    ("oddsapi", f"{ODDS_HIS}/events/242c77a8d5890e18bab91773ad32fcb5/odds",
     {"date": "2025-03-09T23:50:00Z", "markets": "player_points", "regions": "us"},
     "oddsapi/historical_event_odds_v4_player_points_raw_4fd911e4.json"),
    ("oddsapi", f"{ODDS_HIS}/events/cd0bc7d0c238f4446ce1c03d0cea7ec4/odds",
     {"date": "2024-01-25T03:56:00Z", "markets": "h2h,spreads", "regions": "us"},
     "oddsapi/historical_event_odds_v4_game_lines_raw.json"),
    ("espn", f"{ESPN}/scoreboard", {"dates": "20250214"}, "espn/espn_scoreboard_site_v2_raw_20250214.json"),
    ("espn", f"{ESPN}/scoreboard", {"dates": "20240115"}, "espn/espn_scoreboard_site_v2_raw_full.json"),
    ("espn", f"{ESPN}/teams/2", {"enable": "roster"}, "espn/espn_team_roster_site_v2_raw_team2.json"),
    ("nbacom_web", "/team/1610612744/warriors", {}, "nbacom/nbac_roster_page_raw.html.gz"),
    ("nbacom_web", "/team/1610612744/warriors/roster", {}, "nbacom/nbac_roster_page_raw.html.gz"),
    ("bettingpros", "/v3/events", {"sport": "NBA", "date": "2021-10-21"}, "bettingpros/bp_events_v3_raw.json"),
]  # fmt: skip


def recorded_bytes(name: str) -> bytes:
    data = (RECORDINGS / name).read_bytes()
    return gzip.decompress(data) if name.endswith(".gz") else data


@pytest.mark.parametrize(("upstream", "path", "params", "name"), CASES)
def test_recording_served_for_its_request(
    client: TestClient, upstream: str, path: str, params: dict[str, str], name: str
) -> None:
    response = Upstream(client, upstream).get(path, params)
    assert response.status_code == 200
    assert response.content == recorded_bytes(name)


def test_recording_not_served_outside_its_request(client: TestClient) -> None:
    """A later snapshot is generated; other page sizes page the pinned (identical) games."""
    odds = Upstream(client, "oddsapi")
    later = odds.json(f"{ODDS_HIS}/events", {"date": "2024-01-25T04:00:38Z"})
    assert later["timestamp"] == "2024-01-25T04:00:38Z" and later["data"] == []
    bdl, query = Upstream(client, "balldontlie"), {"dates[]": "2025-02-20", "per_page": 5}
    page = bdl.json("/v1/games", query)
    assert len(page["data"]) == 5 and "next_cursor" in page["meta"]
    rest = bdl.json("/v1/games", {**query, "cursor": page["meta"]["next_cursor"]})
    recorded = json.loads(recorded_bytes("balldontlie/bdl_games_v1_raw_2025-02-20.json"))["data"]
    assert sorted(g["id"] for g in page["data"] + rest["data"]) == sorted(g["id"] for g in recorded)
    by_id = {g["id"]: g for g in page["data"] + rest["data"]}
    assert all(by_id[g["id"]] == g for g in recorded)


def test_games_of_the_box_score_recording_have_stable_ids(client: TestClient) -> None:
    """/v1/games for 2024-01-15 lists the recorded box scores' matchups, tip-offs from ESPN's."""
    bdl = Upstream(client, "balldontlie")
    games = bdl.json("/v1/games", {"dates[]": "2024-01-15", "per_page": 100})["data"]
    boxes = bdl.json("/v1/box_scores", {"date": "2024-01-15"})["data"]

    def matchups(items: list[dict[str, Any]]) -> list[tuple[str, str, int, int]]:
        return sorted(
            (g["home_team"]["abbreviation"], g["visitor_team"]["abbreviation"],
             g["home_team_score"], g["visitor_team_score"])
            for g in items
        )  # fmt: skip

    assert matchups(games) == matchups(boxes)
    assert all(g["datetime"].startswith("2024-01-1") for g in games)
    other = create_app(ReplaySettings(seed=99))
    with TestClient(other) as second:
        again = Upstream(second, "balldontlie").json(
            "/v1/games", {"dates[]": "2024-01-15", "per_page": 100}
        )
    assert [g["id"] for g in again["data"]] == [g["id"] for g in games]
