"""BettingPros sources: events recording, hand-built offers pages, pagination and bad bodies."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from libs.common.sources.base import ParseContext, ParseError
from libs.common.sources.bettingpros import BpPropsParams, parse_offers
from libs.common.sources.props import MARKETS
from libs.common.sources.registry import get_source
from libs.common.tables.raw import (
    BETTINGPROS_EVENTS,
    BETTINGPROS_PLAYER_POINTS_PROPS,
    ODDS_API_PLAYER_POINTS_PROPS,
)
from tests.conftest import RECORDINGS
from tests.utils.fetchers import FakeFetcher

EVENTS_FILE = RECORDINGS / "bettingpros" / "bp_events_v3_raw.json"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "bettingpros"
PAGES = [FIXTURES / "bp_offers_v3_page1.json", FIXTURES / "bp_offers_v3_page2.json"]
FETCHED = dt.datetime(2025, 2, 20, 21, 10, tzinfo=dt.UTC)
GAME_DATE = dt.date(2025, 2, 20)
BP_EVENTS = get_source("bp_events")
BP_PROPS = get_source("bp_player_props")
OFFERS_QUERY = {"sport": "NBA", "book_id": "null", "limit": 10}
EVENTS = {
    "events": [
        {"id": 27001, "scheduled": "2025-02-21 00:30:00", "home": "ATL", "visitor": "DAL"},
        {"id": 27002, "scheduled": "2025-02-21 03:00:00", "home": "GS", "visitor": "DEN"},
    ]
}
"""The date's events as /v3/events lists them (trimmed to what a props run reads)."""


def load(path: Path) -> Any:
    return json.loads(path.read_text())


def ctx(game_date: dt.date | None = GAME_DATE) -> ParseContext:
    return ParseContext("run-1", "gs://nba-scraped-data/bettingpros/x.json", game_date, FETCHED, {})


def market_page(page: int, market_id: int) -> Any:
    """A fixture page (points) as the answer for `market_id`: the same offers, that market."""
    body = load(PAGES[page - 1])
    return {**body, "markets": [{**body["markets"][0], "id": market_id}]}


def upstream(events: Any = EVENTS) -> FakeFetcher:
    """/v3/events answers `events`; /v3/offers serves the fixture pages for every market (and
    fails past them)."""

    def answer(path: str, query: dict[str, Any]) -> Any:
        if path == "/v3/events":
            return events
        return market_page(query["page"], query["market_id"])

    return FakeFetcher(answer)


def fetch(fetcher: FakeFetcher, params: dict[str, Any]) -> Any:
    return asyncio.run(BP_PROPS.fetch(fetcher, BpPropsParams.model_validate(params)))


def merged_offers() -> Any:
    return fetch(upstream(), {"date": "2025-02-20", "event_ids": [27001, 27002]})


def test_sources_and_tables() -> None:
    assert (BP_EVENTS.name, BP_PROPS.name) == ("bp_events", "bp_player_props")
    assert BP_EVENTS.table.fqn == "nba_raw.bettingpros_events"
    assert BP_PROPS.table.fqn == "nba_raw.bettingpros_player_points_props"
    assert BETTINGPROS_EVENTS.natural_key == ("event_id", "source_file")
    assert BETTINGPROS_PLAYER_POINTS_PROPS.column_names == ODDS_API_PLAYER_POINTS_PROPS.column_names
    assert BETTINGPROS_PLAYER_POINTS_PROPS.natural_key == ODDS_API_PLAYER_POINTS_PROPS.natural_key


# --- events ----------------------------------------------------------------------------------


def test_events_recording() -> None:
    body = load(EVENTS_FILE)
    rows = BP_EVENTS.parse(body, ctx(None))
    assert len(rows) == len(body["events"]) == 3
    requested = dt.date.fromisoformat(body["_parameters"]["date"])
    for row, event in zip(rows, body["events"], strict=True):
        assert tuple(row) == BETTINGPROS_EVENTS.column_names
        assert row["event_id"] == str(event["id"])
        assert row["game_date"] == requested  # 02:00Z tip-offs are still the requested day
        assert row["scheduled"] == dt.datetime.fromisoformat(event["scheduled"]).replace(
            tzinfo=dt.UTC
        )
        assert (row["home"], row["visitor"]) == (event["home"], event["visitor"])
    first = rows[0]
    assert first["event_id"] == "20879" and first["sr_id"] == "926a442f-8c1f-47b4-beff-3185b028af4e"
    assert first["scheduled"] == dt.datetime(2021, 10, 21, 23, 30, tzinfo=dt.UTC)
    assert (first["home"], first["visitor"], first["status"]) == ("ATL", "DAL", "closed")
    assert (first["season"], first["season_type"]) == (2021, "REG")
    assert (first["venue_name"], first["venue_city"], first["venue_state"]) == (
        "State Farm Arena", "Atlanta", "GA",
    )  # fmt: skip
    assert type(first["game_date"]) is dt.date and type(first["season"]) is int
    assert rows[2]["scheduled"] == dt.datetime(2021, 10, 22, 2, tzinfo=dt.UTC)


def test_events_no_data() -> None:
    assert BP_EVENTS.parse({"events": [], "_parameters": {}}, ctx()) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"event": []}, "events"),
        ({"events": {"id": 1}}, "events"),
        ({"events": [{"id": 1, "home": "ATL", "visitor": "DAL"}]}, "events[0].scheduled"),
        ({"events": [{"id": 1, "scheduled": "tonight"}]}, "events[0].scheduled"),
        (
            {"events": [{"id": 1, "scheduled": "2021-10-21 23:30:00", "home": "ATL"}]},
            "events[0].visitor",
        ),
        ([], "<body>"),
    ],
)
def test_events_malformed(body: Any, field: str) -> None:
    with pytest.raises(ParseError) as caught:
        BP_EVENTS.parse(body, ctx())
    assert (caught.value.scraper_name, caught.value.field) == ("bp_events", field)
    assert str(caught.value).startswith(f"bp_events: field '{field}'")


# --- offers ----------------------------------------------------------------------------------


def expected_rows(offers: list[dict[str, Any]]) -> set[tuple[Any, ...]]:
    """(player, book id, line) of every active line of either side, straight off the file."""
    return {
        (offer["participants"][0]["name"], book["id"], line["line"])
        for offer in offers
        for selection in offer["selections"]
        for book in selection["books"]
        for line in book["lines"]
        if line["active"]
    }


def test_offers_pages_parse() -> None:
    offers = [offer for page in PAGES for offer in load(page)["offers"]]
    every_market = BP_PROPS.parse(merged_offers(), ctx())
    assert {r["market"] for r in every_market} == {m.key for m in MARKETS}
    rows = [r for r in every_market if r["market"] == "player_points"]
    assert len(rows) == len(expected_rows(offers)) == 9
    assert len(every_market) == len(MARKETS) * len(rows)
    names = {0: "consensus", 10: "fanduel", 12: "draftkings"}
    assert {(r["player_name"], r["bookmaker"], r["line"]) for r in rows} == {
        (player, names[book], line) for player, book, line in expected_rows(offers)
    }
    tips = {"27001": dt.datetime(2025, 2, 21, 0, 30, tzinfo=dt.UTC),
            "27002": dt.datetime(2025, 2, 21, 3, tzinfo=dt.UTC)}  # fmt: skip
    for row in rows:
        assert tuple(row) == BETTINGPROS_PLAYER_POINTS_PROPS.column_names
        assert row["game_date"] == GAME_DATE and row["snapshot_at"] == FETCHED
        assert row["odds_format"] == "american"
        assert row["commence_time"] == tips[row["event_id"]]
        assert type(row["line"]) is float and type(row["event_id"]) is str
    by_key = {(r["player_name"], r["bookmaker"], r["line"]): r for r in rows}
    trae = by_key[("Trae Young", "draftkings", 26.5)]
    assert (trae["event_id"], trae["over_price"], trae["under_price"]) == ("27001", 105, -135)
    assert type(trae["over_price"]) is int
    assert ("Trae Young", "draftkings", 25.5) not in by_key  # that line is inactive
    jalen = by_key[("Jalen Johnson", "fanduel", 18.5)]
    assert (jalen["over_price"], jalen["under_price"]) == (-108, None)  # no under at FanDuel
    curry = by_key[("Stephen Curry", "consensus", 27.5)]
    assert (curry["event_id"], curry["over_price"], curry["under_price"]) == ("27002", -112, -108)
    assert (curry["home_team"], curry["away_team"]) == ("GS", "DEN")


def test_a_file_stored_before_other_markets_parses_as_points() -> None:
    """Such a file is one market's offers body; every one was asked for market 156."""
    rows = BP_PROPS.parse(load(PAGES[0]), ctx())
    assert rows and {r["market"] for r in rows} == {"player_points"}
    assert {r["commence_time"] for r in rows} == {None}  # no events were stored with it


def test_an_offer_of_a_market_not_kept_adds_no_row() -> None:
    steals = market_page(1, 160)
    body = {"events": [], "offers_by_market": [market_page(1, 157), steals]}
    rows = BP_PROPS.parse(body, ctx())
    assert rows and {r["market"] for r in rows} == {"player_rebounds"}
    own_id = {
        **steals,
        "markets": [],
        "offers": [{**o, "market_id": 151} for o in steals["offers"]],
    }
    assert {r["market"] for r in BP_PROPS.parse({**body, "offers_by_market": [own_id]}, ctx())} == {
        "player_assists"
    }


def test_unknown_book_and_unpaired_lines() -> None:
    offer = {
        "id": "o1",
        "event_id": 27001,
        "participants": [{"name": "Trae Young", "player": {"team": "ATL", "position": "G"}}],
        "selections": [
            {"selection": "over", "books": [{"id": 99, "lines": [{"line": 25.5, "cost": -110, "active": True}]}]},
            {"selection": "under", "books": [{"id": 99, "lines": [{"line": 24.5, "cost": -110, "active": True}]}]},
        ],
    }  # fmt: skip
    rows = BP_PROPS.parse({"offers": [offer]}, ctx())
    assert [(r["bookmaker"], r["line"], r["over_price"], r["under_price"]) for r in rows] == [
        ("book_99", 25.5, -110, None),
        ("book_99", 24.5, None, -110),
    ]


def test_a_book_listing_one_line_twice_keeps_its_first_listing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The Odds API's rule: the n-th over pairs with the n-th under, the first is the row."""

    def book(book_id: int, *costs: int) -> dict[str, Any]:
        return {"id": book_id, "lines": [{"line": 25.5, "cost": c, "active": True} for c in costs]}

    offer = {
        "id": "o1",
        "event_id": 27001,
        "participants": [{"name": "Trae Young", "player": {"team": "ATL", "position": "G"}}],
        "selections": [
            {"selection": "over", "books": [book(13, -110, 120, 105), book(10, -105)]},
            {"selection": "under", "books": [book(13, -120, -150), book(10, -115)]},
        ],
    }
    with caplog.at_level(logging.INFO):
        rows = BP_PROPS.parse({"offers": [offer]}, ctx())
    assert [(r["bookmaker"], r["line"], r["over_price"], r["under_price"]) for r in rows] == [
        ("caesars", 25.5, -110, -120),
        ("fanduel", 25.5, -105, -115),
    ]
    assert parse_offers({"offers": [offer]}, ctx()).dropped == {"caesars": 2}
    (warning,) = [r for r in caplog.records if "repeated player-props" in r.getMessage()]
    assert warning.fields["scraper_name"] == "bp_player_props"  # type: ignore[attr-defined]
    assert warning.fields["bookmakers"] == {"caesars": 2}  # type: ignore[attr-defined]


def test_offers_no_data() -> None:
    assert BP_PROPS.parse({"offers": []}, ctx(None)) == []
    assert (
        BP_PROPS.parse(
            {"offers": [], "markets": [], "_pagination": {"page": 1, "total_pages": 0}}, ctx()
        )
        == []
    )


def broken(change: Any) -> Any:
    body = load(PAGES[0])
    change(body)
    return body


LINE = "offers[0].selections[0].books[0].lines[0]"


@pytest.mark.parametrize(
    ("body", "game_date", "field"),
    [
        ({"offers": {"id": 1}}, GAME_DATE, "offers"),
        ({"_pagination": {}}, GAME_DATE, "offers"),
        (broken(lambda b: b["offers"][0].pop("selections")), GAME_DATE, "offers[0].selections"),
        (broken(lambda b: b["offers"][0].update(participants=[])), GAME_DATE, "offers[0].participants"),
        (broken(lambda b: b["offers"][1].pop("event_id")), GAME_DATE, "offers[1].event_id"),
        (broken(lambda b: b["offers"][0]["selections"][1]["books"][2].update(lines=None)), GAME_DATE, "offers[0].selections[1].books[2].lines"),
        (broken(lambda b: b["offers"][0]["selections"][0]["books"][0]["lines"][0].pop("cost")), GAME_DATE, f"{LINE}.cost"),
        (broken(lambda b: b["offers"][0]["selections"][0]["books"][0]["lines"][0].pop("active")), GAME_DATE, f"{LINE}.active"),
        (broken(lambda b: b["offers"][0]["selections"][0]["books"][0]["lines"][0].update(cost="-114")), GAME_DATE, LINE),
        (broken(lambda b: b["offers"][0]["selections"][0].update(selection="push")), GAME_DATE, LINE),
        (load(PAGES[0]), None, "game_date"),
        ("truncated {", GAME_DATE, "<body>"),
        ({"offers_by_market": []}, GAME_DATE, "events"),
        ({"events": [{"id": 1}], "offers_by_market": []}, GAME_DATE, "events[0].scheduled"),
        ({"events": [], "offers_by_market": [{**load(PAGES[0]), "markets": []}]}, GAME_DATE,
         "offers_by_market[0].offers[0].market_id"),
    ],
)  # fmt: skip
def test_offers_malformed(body: Any, game_date: dt.date | None, field: str) -> None:
    with pytest.raises(ParseError) as caught:
        BP_PROPS.parse(body, ctx(game_date))
    assert (caught.value.scraper_name, caught.value.field) == ("bp_player_props", field)
    assert str(caught.value).startswith(f"bp_player_props: field '{field}'")


# --- requests --------------------------------------------------------------------------------


def test_events_request() -> None:
    fetcher = FakeFetcher(lambda path, query: {"events": []})
    asyncio.run(
        BP_EVENTS.fetch(fetcher, BP_EVENTS.params_model.model_validate({"date": "2021-10-21"}))
    )
    assert fetcher.calls == [("/v3/events", {"sport": "NBA", "date": "2021-10-21"})]


def test_each_markets_pages_are_merged_and_stop_at_total_pages() -> None:
    fetcher = upstream()
    body = fetch(fetcher, {"date": "2025-02-20", "event_ids": [27001, 27002]})
    assert fetcher.calls == [
        ("/v3/events", {"sport": "NBA", "date": "2025-02-20"}),
        *(
            ("/v3/offers", {**OFFERS_QUERY, "market_id": m.bettingpros_id,
                            "event_id": "27001:27002", "page": page})
            for m in MARKETS
            for page in (1, 2)
        ),
    ]  # fmt: skip
    assert body["events"] == EVENTS["events"]
    for market, stored in zip(MARKETS, body["offers_by_market"], strict=True):
        first, second = (market_page(page, market.bettingpros_id) for page in (1, 2))
        assert stored["offers"] == first["offers"] + second["offers"]
        assert stored["_pagination"] == first["_pagination"]
        assert stored["markets"] == first["markets"]


def test_single_page_makes_one_request_per_market() -> None:
    page = {**load(PAGES[0]), "_pagination": {"page": 1, "total_pages": 1}}
    fetcher = FakeFetcher(lambda path, query: EVENTS if path == "/v3/events" else page)
    body = fetch(fetcher, {"date": "2025-02-20", "event_ids": [27001]})
    assert len(fetcher.calls) == 1 + len(MARKETS)
    assert [b["offers"] for b in body["offers_by_market"]] == [page["offers"]] * len(MARKETS)


def test_offers_default_to_every_event_of_the_date() -> None:
    fetcher = upstream(events=load(EVENTS_FILE))
    fetch(fetcher, {"date": "2021-10-21"})
    assert fetcher.calls[0] == ("/v3/events", {"sport": "NBA", "date": "2021-10-21"})
    asked = [query["event_id"] for _, query in fetcher.calls[1:]]
    assert asked == ["20879:20880:20881"] * 2 * len(MARKETS)


def test_a_date_without_events_requests_no_offers() -> None:
    fetcher = upstream(events={"events": []})
    body = fetch(fetcher, {"date": "2021-07-30"})
    assert fetcher.calls == [("/v3/events", {"sport": "NBA", "date": "2021-07-30"})]
    assert BP_PROPS.parse(body, ctx()) == []


def test_a_malformed_later_page_fails_naming_it() -> None:
    fetcher = FakeFetcher(
        lambda path, query: (
            EVENTS
            if path == "/v3/events"
            else load(PAGES[0])
            if query["page"] == 1
            else {"error": "x"}
        )
    )
    wrong = re.escape("bp_player_props: field '<market 156 page 2>.offers'")
    with pytest.raises(ParseError, match=wrong):
        fetch(fetcher, {"date": "2025-02-20", "event_ids": [27001]})


@pytest.mark.parametrize(
    "params",
    [
        {"date": "2025-02-20", "event_ids": []},
        {"date": "2025-02-20", "book_id": 12},
        {"event_ids": [1]},
    ],
)
def test_params_are_validated(params: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        BpPropsParams.model_validate(params)


def test_params_examples_validate() -> None:
    for example in BpPropsParams.model_json_schema()["examples"]:
        BpPropsParams.model_validate(example)
