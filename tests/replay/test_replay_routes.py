"""Generated bodies: every upstream agrees on a date, pages walk completely, empty dates keep
the upstream's empty shape, keys are required, and generated objects use only recorded fields."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from libs.common.players import name_key
from libs.common.sources.props import MARKETS
from nba_pipeline.replay.league import BY_ABBR, BY_ESPN_ABBR, CLUBS
from nba_pipeline.replay.recordings import parsed
from nba_pipeline.replay.season import Season
from tests.replay.conftest import DAY, PINNED, Upstream

ESPN = "/apis/site/v2/sports/basketball/nba"
ODDS = "/v4/sports/basketball_nba"
ODDS_HIS = "/v4/historical/sports/basketball_nba"
OFFERS_FIXTURE = (
    Path(__file__).resolve().parents[1] / "fixtures/bettingpros/bp_offers_v3_page1.json"
)
ODDS_NAMES = {club.odds_name: club.abbr for club in CLUBS}
NEXT_DATA = re.compile(r'<script id="__NEXT_DATA__" type="application/json">(.*?)</script>', re.S)
Matchup = tuple[str, str]


def day_window(day: dt.date) -> dict[str, str]:
    start = dt.datetime.combine(
        day, dt.time(4), dt.UTC
    )  # midnight US Eastern (EDT/EST close enough)
    return {"commenceTimeFrom": f"{start:%Y-%m-%dT%H:%M:%SZ}",
            "commenceTimeTo": f"{start + dt.timedelta(hours=24):%Y-%m-%dT%H:%M:%SZ}"}  # fmt: skip


def matchups(client: TestClient, day: dt.date) -> dict[str, set[Matchup]]:
    """(home, away) abbreviations of the date's games as each upstream lists them."""
    bdl = Upstream(client, "balldontlie").json(
        "/v1/games", {"dates[]": day.isoformat(), "per_page": 100}
    )
    espn = Upstream(client, "espn").json(f"{ESPN}/scoreboard", {"dates": f"{day:%Y%m%d}"})
    odds = Upstream(client, "oddsapi").json(f"{ODDS}/events", day_window(day))
    bp = Upstream(client, "bettingpros").json(
        "/v3/events", {"sport": "NBA", "date": day.isoformat()}
    )

    def espn_pair(event: dict[str, Any]) -> Matchup:
        sides = {
            c["homeAway"]: c["team"]["abbreviation"]
            for c in event["competitions"][0]["competitors"]
        }
        return BY_ESPN_ABBR[sides["home"]].abbr, BY_ESPN_ABBR[sides["away"]].abbr

    return {
        "balldontlie": {
            (g["home_team"]["abbreviation"], g["visitor_team"]["abbreviation"]) for g in bdl["data"]
        },
        "espn": {espn_pair(e) for e in espn["events"]},
        "oddsapi": {(ODDS_NAMES[e["home_team"]], ODDS_NAMES[e["away_team"]]) for e in odds},
        "bettingpros": {(e["home"], e["visitor"]) for e in bp["events"]},
    }


@pytest.mark.parametrize("day", [DAY, PINNED])
def test_every_upstream_lists_the_same_matchups(
    client: TestClient, season: Season, day: dt.date
) -> None:
    expected = {(g.home.club.abbr, g.away.club.abbr) for g in season.games_on(day)}
    assert len(expected) >= 5
    for upstream, found in matchups(client, day).items():
        assert found == expected, upstream


def test_players_agree_across_upstreams(client: TestClient, season: Season) -> None:
    """Box-score players are roster players; props quote players who played, by names that
    are the box score's under the name key; points near lines."""
    roster = walk(client, "/v1/players", per_page=100)
    box = Upstream(client, "balldontlie").json("/v1/box_scores", {"date": DAY.isoformat()})["data"]
    points: dict[str, int] = {}
    for game in box:
        for side in ("home_team", "visitor_team"):
            for line in game[side]["players"]:
                player = roster[line["player"]["id"]]
                assert player["team"]["abbreviation"] == game[side]["abbreviation"]
                points[name_key(f"{player['first_name']} {player['last_name']}")] = line["pts"]
    assert len(points) == season.box_score_rows(DAY)
    odds = Upstream(client, "oddsapi")
    gaps = []
    for event in odds.json(f"{ODDS}/events", day_window(DAY)):
        body = odds.json(
            f"{ODDS}/events/{event['id']}/odds",
            {"markets": "player_points", "oddsFormat": "american"},
        )
        for book in body["bookmakers"]:
            gaps += [
                abs(points[name_key(o["description"])] - o["point"])
                for o in book["markets"][0]["outcomes"]
            ]
    assert gaps and sum(gaps) / len(gaps) < 6


def walk(client: TestClient, path: str, per_page: int) -> dict[int, dict[str, Any]]:
    """Every item of a balldontlie cursor walk, by id; fails on an item seen twice."""
    bdl, seen, cursor = Upstream(client, "balldontlie"), {}, None
    while True:
        page = bdl.json(path, {"per_page": per_page, **({"cursor": cursor} if cursor else {})})
        assert len(page["data"]) <= per_page and page["meta"]["per_page"] == per_page
        for item in page["data"]:
            assert item["id"] not in seen
            seen[item["id"]] = item
        cursor = page["meta"].get("next_cursor")
        if cursor is None:
            return seen


@pytest.mark.parametrize("per_page", [100, 25, 7])
def test_player_cursor_walk_returns_every_player_once(
    client: TestClient, season: Season, per_page: int
) -> None:
    assert sorted(walk(client, "/v1/players", per_page)) == sorted(p.bdl_id for p in season.players)


def test_games_without_dates_walk_the_whole_season(client: TestClient, season: Season) -> None:
    assert sorted(walk(client, "/v1/games", 100)) == sorted(g.bdl_id for g in season.games)


def test_bettingpros_offers_pages(client: TestClient, season: Season) -> None:
    bp = Upstream(client, "bettingpros")
    ids = ":".join(
        str(e["id"])
        for e in bp.json("/v3/events", {"sport": "NBA", "date": DAY.isoformat()})["events"]
    )
    query = {"sport": "NBA", "event_id": ids, "book_id": "null", "limit": 10}
    for market in MARKETS:
        asked = {**query, "market_id": market.bettingpros_id}
        first = bp.json("/v3/offers", {**asked, "page": 1})
        assert [m["id"] for m in first["markets"]] == [market.bettingpros_id]
        total = first["_pagination"]["total_pages"]
        offers = [
            o
            for page in range(1, total + 1)
            for o in bp.json("/v3/offers", {**asked, "page": page})["offers"]
        ]
        expected = sum(
            len({q.player for q in season.quotes(g) if q.market == market.key})
            for g in season.games_on(DAY)
        )
        assert total == -(-expected // 10) > 1
        assert len(offers) == len({o["id"] for o in offers}) == expected
        assert bp.json("/v3/offers", {**asked, "page": total + 1})["offers"] == []
    assert bp.json("/v3/offers", {**query, "market_id": 160})["offers"] == []  # steals: none


def test_odds_formats_and_wrapping(client: TestClient, season: Season) -> None:
    odds, game = Upstream(client, "oddsapi"), season.games_on(DAY)[0]
    query = {"markets": "player_points", "regions": "us"}
    american = odds.json(f"{ODDS}/events/{game.odds_id}/odds", {**query, "oddsFormat": "american"})
    decimal = odds.json(f"{ODDS}/events/{game.odds_id}/odds", {**query, "oddsFormat": "decimal"})
    prices = [o["price"] for b in american["bookmakers"] for o in b["markets"][0]["outcomes"]]
    assert prices and all(type(p) is int and abs(p) >= 100 for p in prices)
    assert all(
        type(o["price"]) is float
        for b in decimal["bookmakers"]
        for o in b["markets"][0]["outcomes"]
    )
    assert american["id"] == game.odds_id and "timestamp" not in american
    snapshot = f"{game.start - dt.timedelta(hours=2):%Y-%m-%dT%H:%M:%SZ}"
    wrapped = odds.json(f"{ODDS_HIS}/events/{game.odds_id}/odds", {**query, "date": snapshot})
    assert set(wrapped) == {"timestamp", "previous_timestamp", "next_timestamp", "data"}
    assert wrapped["timestamp"] <= snapshot and wrapped["data"]["id"] == game.odds_id
    assert odds.json(f"{ODDS}/events/{game.odds_id}/odds", {"regions": "us"})["bookmakers"] == []
    assert (
        odds.get(f"{ODDS}/events/{'0' * 32}/odds", query).json()["error_code"] == "EVENT_NOT_FOUND"
    )
    assert odds.get(f"{ODDS_HIS}/events", {}).status_code == 422


def test_empty_dates_keep_the_upstream_shape(client: TestClient) -> None:
    empty = dt.date(2024, 12, 24)
    bdl = Upstream(client, "balldontlie")
    assert bdl.json("/v1/games", {"dates[]": empty.isoformat()}) == {
        "data": [],
        "meta": {"per_page": 25},
    }
    assert bdl.json("/v1/box_scores", {"date": empty.isoformat()}) == {"data": []}
    assert (
        Upstream(client, "espn").json(f"{ESPN}/scoreboard", {"dates": f"{empty:%Y%m%d}"})["events"]
        == []
    )
    assert Upstream(client, "oddsapi").json(f"{ODDS}/events", day_window(empty)) == []
    his = Upstream(client, "oddsapi").json(f"{ODDS_HIS}/events", {"date": "2024-07-01T12:00:00Z"})
    assert his["data"] == []
    bp = Upstream(client, "bettingpros")
    assert bp.json("/v3/events", {"sport": "NBA", "date": empty.isoformat()})["events"] == []
    assert (
        bp.json("/v3/offers", {"sport": "NBA", "market_id": 156, "event_id": "1:2"})["offers"] == []
    )


def test_keys_are_required_where_the_upstream_requires_them(client: TestClient) -> None:
    for headers in ({}, {"Authorization": ""}):
        response = client.get(
            "/balldontlie/v1/games", params={"dates[]": DAY.isoformat()}, headers=headers
        )
        assert response.status_code == 401 and "error" in response.json()
    for params in ({}, {"apiKey": ""}):
        response = client.get(f"/oddsapi{ODDS}/events", params=params)
        assert response.status_code == 401 and response.json()["error_code"] == "MISSING_KEY"
    assert client.get(f"/oddsapi{ODDS}/events", params={"apiKey": "anything"}).status_code == 200
    assert (
        client.get(f"/espn{ESPN}/scoreboard", params={"dates": f"{DAY:%Y%m%d}"}).status_code == 200
    )


def test_team_rosters(client: TestClient, season: Season) -> None:
    club = BY_ABBR["CLE"]
    names = [p.full_name for p in season.roster(club)]
    espn = Upstream(client, "espn").json(f"{ESPN}/teams/{club.espn_id}", {"enable": "roster"})[
        "team"
    ]
    assert [a["fullName"] for a in espn["athletes"]] == names
    assert (
        Upstream(client, "espn").json(f"{ESPN}/teams/cle", {"enable": "roster"})["team"]["id"]
        == "5"
    )
    assert "athletes" not in Upstream(client, "espn").json(f"{ESPN}/teams/5")["team"]
    page = Upstream(client, "nbacom_web").get(f"/team/{club.nba_id}/cavaliers")
    assert page.headers["content-type"].startswith("text/html")
    assert "<title>Cleveland Cavaliers Team Info and News | NBA.com</title>" in page.text
    match = NEXT_DATA.search(page.text)
    assert match is not None
    team = json.loads(match.group(1))["props"]["pageProps"]["team"]
    assert team["id"] == str(club.nba_id) and [r["PLAYER"] for r in team["roster"]] == names
    assert Upstream(client, "nbacom_web").get("/team/123/nobody").status_code == 404


def test_schedule_is_the_whole_season(client: TestClient, season: Season) -> None:
    body = Upstream(client, "nbacom_cdn").json("/static/json/staticData/scheduleLeagueV2_1.json")
    dates = body["leagueSchedule"]["gameDates"]
    games = [g for d in dates for g in d["games"]]
    assert len(dates) == len(season.game_dates()) and len(games) == 1230
    assert {g["gameId"] for g in games} == {g.nba_id for g in season.games}


def same_shape(generated: Any, recorded: Any, path: str = "") -> list[str]:
    """Where `generated` uses a field the recording lacks, or a different JSON type."""
    if generated is None or recorded is None:
        return []
    if isinstance(recorded, dict) and isinstance(generated, dict):
        if not recorded:
            return []
        problems = [f"{path}.{k}: not in the recording" for k in generated if k not in recorded]
        return problems + [
            p
            for k in generated
            if k in recorded
            for p in same_shape(generated[k], recorded[k], f"{path}.{k}")
        ]
    if isinstance(recorded, list) and isinstance(generated, list):
        return same_shape(generated[0], recorded[0], f"{path}[0]") if generated and recorded else []
    kinds = (bool, int | float, str, list, dict)
    kind = next((k for k in kinds if isinstance(recorded, k)), None)
    return (
        []
        if kind is None or isinstance(generated, kind)
        else [f"{path}: {generated!r} vs {recorded!r}"]
    )


def test_generated_bodies_use_the_recorded_fields(client: TestClient, season: Season) -> None:
    game = season.games_on(DAY)[0]
    pairs = [
        (Upstream(client, "balldontlie").json("/v1/games", {"dates[]": DAY.isoformat()}),
         parsed("balldontlie/bdl_games_v1_raw_2025-02-20.json")),
        (Upstream(client, "balldontlie").json("/v1/box_scores", {"date": DAY.isoformat()}),
         parsed("balldontlie/bdl_box_scores_v1_raw.json")),
        (Upstream(client, "balldontlie").json("/v1/players", {"per_page": 100})["data"],
         parsed("balldontlie/bdl_players_v1_raw.json")["data"]),
        (Upstream(client, "oddsapi").json(f"{ODDS_HIS}/events", {"date": f"{DAY}T20:00:00Z"}),
         parsed("oddsapi/historical_events_v4_raw_1.json")),
        (Upstream(client, "oddsapi").json(f"{ODDS_HIS}/events/{game.odds_id}/odds",
                                          {"date": f"{DAY}T20:00:00Z", "markets": "player_points"}),
         parsed("oddsapi/historical_event_odds_v4_player_points_raw_4fd911e4.json")),
        (Upstream(client, "espn").json(f"{ESPN}/scoreboard", {"dates": f"{DAY:%Y%m%d}"}),
         parsed("espn/espn_scoreboard_site_v2_raw_full.json")),
        (Upstream(client, "espn").json(f"{ESPN}/teams/5", {"enable": "roster"}),
         parsed("espn/espn_team_roster_site_v2_raw_team2.json")),
        (Upstream(client, "nbacom_cdn").json("/static/json/staticData/scheduleLeagueV2_1.json"),
         parsed("nbacom/nbac_schedule_cdn_raw.json")),
        (Upstream(client, "bettingpros").json("/v3/events", {"sport": "NBA", "date": DAY.isoformat()}),
         parsed("bettingpros/bp_events_v3_raw.json")),
        (Upstream(client, "bettingpros").json("/v3/offers", {"event_id": str(game.bp_id)}),
         json.loads(OFFERS_FIXTURE.read_text())),
    ]  # fmt: skip
    for generated, recorded in pairs:
        assert same_shape(generated, recorded) == []
