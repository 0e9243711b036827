"""The Odds API sources: recordings parse to the props/events contracts; bad bodies fail clearly."""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import json
import logging
from collections import Counter
from typing import Any

import pytest
from pydantic import ValidationError

from libs.common.sources.base import ParseContext, ParseError, Source
from libs.common.sources.oddsapi import (
    SOURCES,
    OddsEventsHisParams,
    OddsPropsHisParams,
    OddsPropsParams,
    parse_event_odds,
)
from libs.common.sources.params import DateParams
from libs.common.sources.registry import get_source
from libs.common.tables.raw import ODDS_API_EVENTS, ODDS_API_PLAYER_POINTS_PROPS
from tests.conftest import RECORDINGS
from tests.utils.fetchers import FakeFetcher

ODDS = RECORDINGS / "oddsapi"
EVENTS_FILE = ODDS / "historical_events_v4_raw_1.json"
PROPS_FILE = ODDS / "historical_event_odds_v4_player_points_raw_4fd911e4.json"
GAME_LINES_FILE = ODDS / "historical_event_odds_v4_game_lines_raw.json"
FETCHED = dt.datetime(2025, 3, 9, 23, 52, 1, tzinfo=dt.UTC)
EVENT_SOURCES = [get_source("oddsa_events"), get_source("oddsa_events_his")]
PROPS_SOURCES = [get_source("oddsa_player_props"), get_source("oddsa_player_props_his")]


def load(path: Any) -> Any:
    return json.loads(path.read_text())


def ctx(game_date: dt.date | None = None) -> ParseContext:
    return ParseContext("run-1", "gs://nba-scraped-data/odds-api/x.json", game_date, FETCHED, {})


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def bare_and_wrapped(path: Any) -> list[tuple[Any, dt.datetime]]:
    """The recording as the historical endpoint sent it, and its payload as a current body."""
    wrapped = load(path)
    return [(wrapped, utc(wrapped["timestamp"])), (wrapped["data"], FETCHED)]


def fetch(source: Source, params: Any, answer: Any = None) -> FakeFetcher:
    fetcher = FakeFetcher(lambda path, query: answer)
    asyncio.run(source.fetch(fetcher, source.params_model.model_validate(params)))
    return fetcher


EVERY_MARKET = (
    "player_points,player_rebounds,player_assists,player_threes,player_points_rebounds_assists"
)
"""The markets one odds request asks for, as the Odds API's betting-markets page keys them."""


def test_four_sources_two_tables() -> None:
    assert [source.name for source in SOURCES] == [
        "oddsa_events",
        "oddsa_events_his",
        "oddsa_player_props",
        "oddsa_player_props_his",
    ]
    assert {s.table.fqn for s in EVENT_SOURCES} == {"nba_raw.odds_api_events"}
    assert {s.table.fqn for s in PROPS_SOURCES} == {"nba_raw.odds_api_player_points_props"}
    assert ODDS_API_EVENTS.natural_key == ("event_id", "snapshot_at")
    assert ODDS_API_PLAYER_POINTS_PROPS.natural_key == (
        "event_id", "bookmaker", "player_name", "line", "snapshot_at", "market",
    )  # fmt: skip
    assert ODDS_API_PLAYER_POINTS_PROPS.column_names == (
        "event_id", "game_date", "commence_time", "home_team", "away_team", "bookmaker",
        "market", "player_name", "line", "over_price", "under_price", "odds_format",
        "snapshot_at", "execution_id", "source_file", "loaded_at", "fetched_at",
    )  # fmt: skip


# --- events ----------------------------------------------------------------------------------


@pytest.mark.parametrize("source", EVENT_SOURCES, ids=lambda s: s.name)
@pytest.mark.parametrize(
    ("body", "snapshot"), bare_and_wrapped(EVENTS_FILE), ids=["wrapped", "bare"]
)
def test_events_recording(source: Source, body: Any, snapshot: dt.datetime) -> None:
    expected = load(EVENTS_FILE)["data"]
    rows = source.parse(body, ctx(dt.date(2024, 1, 24)))
    assert len(rows) == len(expected) == 10
    for row, event in zip(rows, expected, strict=True):
        assert tuple(row) == ODDS_API_EVENTS.column_names
        assert row["event_id"] == event["id"]
        assert row["commence_time"] == utc(event["commence_time"])
        # January is EST, UTC-5: the Eastern date independently of the parser's zone logic.
        assert row["game_date"] == (utc(event["commence_time"]) - dt.timedelta(hours=5)).date()
        assert (row["home_team"], row["away_team"]) == (event["home_team"], event["away_team"])
        assert row["sport_key"] == "basketball_nba"
        assert row["snapshot_at"] == snapshot
        assert row["execution_id"] == "run-1" and row["source_file"].startswith("gs://")
    first, last = rows[0], rows[-1]
    assert first["event_id"] == "f137689983933840bf2f2a91278eb03b"
    assert first["game_date"] == dt.date(2024, 1, 24)  # 01:40Z is the evening before, Eastern
    assert last["game_date"] == dt.date(2024, 1, 25)  # one snapshot spans two game dates
    assert type(first["game_date"]) is dt.date and isinstance(first["commence_time"], dt.datetime)


@pytest.mark.parametrize("source", EVENT_SOURCES, ids=lambda s: s.name)
def test_events_no_data(source: Source) -> None:
    assert source.parse([], ctx()) == []
    assert source.parse({"timestamp": "2024-01-25T03:55:40Z", "data": []}, ctx()) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"timestamp": "2024-01-25T03:55:40Z", "previous_timestamp": None}, "data"),
        ({"data": []}, "timestamp"),
        ({"timestamp": "2024-01-25T03:55:40Z", "data": {"id": "x"}}, "data"),
        ({"timestamp": "yesterday", "data": []}, "timestamp"),
        ([{"id": "abc", "home_team": "A", "away_team": "B"}], "[0].commence_time"),
        (
            [{"id": "abc", "commence_time": "soon", "home_team": "A", "away_team": "B"}],
            "[0].commence_time",
        ),
        ("<html>502</html>", "<body>"),
    ],
)
def test_events_malformed(body: Any, field: str) -> None:
    with pytest.raises(ParseError) as caught:
        get_source("oddsa_events_his").parse(body, ctx())
    assert caught.value.scraper_name == "oddsa_events_his" and caught.value.field == field
    assert f"oddsa_events_his: field '{field}'" in str(caught.value)


# --- player props ----------------------------------------------------------------------------


def player_points_outcomes(event: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (book["key"], outcome)
        for book in event["bookmakers"]
        for market in book["markets"]
        if market["key"] == "player_points"
        for outcome in market["outcomes"]
    ]


@pytest.mark.parametrize("source", PROPS_SOURCES, ids=lambda s: s.name)
@pytest.mark.parametrize(
    ("body", "snapshot"), bare_and_wrapped(PROPS_FILE), ids=["wrapped", "bare"]
)
def test_player_points_recording(source: Source, body: Any, snapshot: dt.datetime) -> None:
    event = load(PROPS_FILE)["data"]
    outcomes = player_points_outcomes(event)
    overs = [(book, o) for book, o in outcomes if o["name"] == "Over"]
    rows = source.parse(body, ctx())
    assert len(rows) == len(overs) == 28
    for row in rows:
        assert tuple(row) == ODDS_API_PLAYER_POINTS_PROPS.column_names
        assert row["event_id"] == "242c77a8d5890e18bab91773ad32fcb5"
        assert row["game_date"] == dt.date(2025, 3, 9)  # 23:11Z is 19:11 EDT
        assert row["commence_time"] == dt.datetime(2025, 3, 9, 23, 11, tzinfo=dt.UTC)
        assert (row["home_team"], row["away_team"]) == ("New Orleans Pelicans", "Memphis Grizzlies")
        assert row["market"] == "player_points" and row["odds_format"] == "decimal"
        assert row["snapshot_at"] == snapshot
        assert type(row["over_price"]) is float and type(row["under_price"]) is float
        assert type(row["line"]) is float
    prices = {(b, o["description"], o["point"], o["name"]): o["price"] for b, o in outcomes}
    for row in rows:
        key = (row["bookmaker"], row["player_name"], row["line"])
        assert row["over_price"] == prices[(*key, "Over")]
        assert row["under_price"] == prices[(*key, "Under")]
    wells = [r for r in rows if r["player_name"] == "Jaylen Wells" and r["bookmaker"] == "fanduel"]
    assert [(r["line"], r["over_price"], r["under_price"]) for r in wells] == [(11.5, 1.8, 1.94)]
    assert {r["bookmaker"] for r in rows} == {"fanduel", "draftkings"}


def test_player_points_game_date_comes_from_params_when_given() -> None:
    rows = get_source("oddsa_player_props_his").parse(load(PROPS_FILE), ctx(dt.date(2025, 3, 9)))
    assert {r["game_date"] for r in rows} == {dt.date(2025, 3, 9)}
    rows = get_source("oddsa_player_props_his").parse(load(PROPS_FILE), ctx(dt.date(2025, 3, 10)))
    assert {r["game_date"] for r in rows} == {dt.date(2025, 3, 10)}


def test_every_props_market_keeps_its_key_and_other_markets_add_no_row() -> None:
    """The recorded points market, and the same outcomes under each other key the request
    asks for (the Odds API answers every requested market of a book side by side)."""
    recorded = load(PROPS_FILE)
    for book in recorded["data"]["bookmakers"]:
        (points,) = book["markets"]
        book["markets"] = [{**points, "key": key} for key in EVERY_MARKET.split(",")]
        book["markets"].append({**points, "key": "player_blocks"})
    rows = get_source("oddsa_player_props_his").parse(recorded, ctx())
    per_market = Counter(r["market"] for r in rows)
    assert per_market == dict.fromkeys(EVERY_MARKET.split(","), 28)
    assert_one_row_per_key(rows)


def test_game_lines_recording_has_no_player_points_rows() -> None:
    body = load(GAME_LINES_FILE)
    assert player_points_outcomes(body["data"]) == []  # spreads and totals only
    assert get_source("oddsa_player_props_his").parse(body, ctx()) == []


def american_event() -> dict[str, Any]:
    """A current (bare, oddsFormat=american) event body; Cole Anthony has no Under quoted."""
    return {
        "id": "f54c4a22568ce9dc33fb410d1b0e75e9",
        "sport_key": "basketball_nba",
        "commence_time": "2024-02-23T00:00:00Z",
        "home_team": "Cleveland Cavaliers",
        "away_team": "Orlando Magic",
        "bookmakers": [
            {
                "key": "draftkings",
                "title": "DraftKings",
                "markets": [
                    {
                        "key": "player_points",
                        "outcomes": [
                            {
                                "name": "Over",
                                "description": "Caris LeVert",
                                "price": -130,
                                "point": 11.5,
                            },
                            {
                                "name": "Under",
                                "description": "Caris LeVert",
                                "price": 100,
                                "point": 11.5,
                            },
                            {
                                "name": "Over",
                                "description": "Cole Anthony",
                                "price": -120,
                                "point": 8.5,
                            },
                        ],
                    }
                ],
            }
        ],
    }


@pytest.mark.parametrize("source", PROPS_SOURCES, ids=lambda s: s.name)
def test_american_prices_and_a_missing_side(source: Source) -> None:
    rows = source.parse(american_event(), ctx())
    assert [(r["player_name"], r["line"], r["over_price"], r["under_price"]) for r in rows] == [
        ("Caris LeVert", 11.5, -130, 100),
        ("Cole Anthony", 8.5, -120, None),
    ]
    assert all(type(r["over_price"]) is int for r in rows)
    assert {r["odds_format"] for r in rows} == {"american"}
    assert rows[0]["game_date"] == dt.date(2024, 2, 22)  # midnight UTC is 19:00 EST the day before
    assert rows[0]["snapshot_at"] == FETCHED


@pytest.mark.parametrize("source", PROPS_SOURCES, ids=lambda s: s.name)
def test_props_no_data(source: Source) -> None:
    assert source.parse([], ctx()) == []
    assert source.parse({**american_event(), "bookmakers": []}, ctx()) == []
    wrapped = {"timestamp": "2025-03-09T23:50:38Z", "data": {**american_event(), "bookmakers": []}}
    assert source.parse(wrapped, ctx()) == []


def broken(change: Any) -> Any:
    body = load(PROPS_FILE)
    change(body)
    return body


OUTCOME = "data.bookmakers[0].markets[0].outcomes[0]"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (broken(lambda b: b.pop("data")), "data"),
        (broken(lambda b: b["data"].update(bookmakers={"key": "fanduel"})), "data.bookmakers"),
        (broken(lambda b: b["data"].pop("bookmakers")), "data.bookmakers"),
        (broken(lambda b: b["data"].pop("id")), "data.id"),
        (broken(lambda b: b["data"]["bookmakers"][1].pop("markets")), "data.bookmakers[1].markets"),
        (broken(lambda b: b["data"]["bookmakers"][0]["markets"][0]["outcomes"][0].pop("price")), f"{OUTCOME}.price"),
        (broken(lambda b: b["data"]["bookmakers"][0]["markets"][0]["outcomes"][0].update(price="1.8")), OUTCOME),
        (broken(lambda b: b["data"]["bookmakers"][0]["markets"][0]["outcomes"][0].update(name="Yes")), OUTCOME),
        (broken(lambda b: b["data"]["bookmakers"][0]["markets"][0]["outcomes"][0].pop("description")), f"{OUTCOME}.description"),
        ([{"id": "x"}], "[0].commence_time"),
        ("truncated {", "<body>"),
    ],
)  # fmt: skip
def test_props_malformed(body: Any, field: str) -> None:
    with pytest.raises(ParseError) as caught:
        get_source("oddsa_player_props_his").parse(body, ctx())
    assert caught.value.scraper_name == "oddsa_player_props_his" and caught.value.field == field
    assert str(caught.value).startswith(f"oddsa_player_props_his: field '{field}'")


# --- repeated listings (issue 14: williamhill_us lists a line twice) -------------------------


def outcome(side: str, player: str, price: float, point: float) -> dict[str, Any]:
    return {"name": side, "description": player, "price": price, "point": point}


def with_williamhill(event: dict[str, Any], repeat: list[dict[str, Any]]) -> dict[str, Any]:
    """`event` plus a williamhill_us book quoting fanduel's lines, `repeat` after the first pair.

    That is the real quirk's shape: a book's main Over/Under pair, then a second pair for the
    same player and point at other prices.
    """
    outcomes = copy.deepcopy(event["bookmakers"][0]["markets"][0]["outcomes"])
    book = {
        "key": "williamhill_us",
        "title": "Caesars",
        "last_update": "2025-03-09T23:50:12Z",
        "markets": [{"key": "player_points", "outcomes": [*outcomes[:2], *repeat, *outcomes[2:]]}],
    }
    return {**event, "bookmakers": [*event["bookmakers"], book]}


def listed(rows: list[dict[str, Any]], book: str, player: str) -> list[tuple[Any, ...]]:
    return [
        (r["line"], r["over_price"], r["under_price"])
        for r in rows
        if (r["bookmaker"], r["player_name"]) == (book, player)
    ]


def assert_one_row_per_key(rows: list[dict[str, Any]]) -> None:
    keys = [tuple(r[c] for c in ODDS_API_PLAYER_POINTS_PROPS.natural_key) for r in rows]
    assert len(keys) == len(set(keys))


def dropped_warnings(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [
        r.fields  # type: ignore[attr-defined]
        for r in caplog.records
        if r.levelno == logging.INFO and "repeated player-props listings" in r.getMessage()
    ]


@pytest.mark.parametrize("source", PROPS_SOURCES, ids=lambda s: s.name)
@pytest.mark.parametrize(
    ("wrapped", "snapshot"), bare_and_wrapped(PROPS_FILE), ids=["wrapped", "bare"]
)
def test_recording_with_a_repeated_pair_loads_the_first_listing(
    source: Source, wrapped: Any, snapshot: dt.datetime, caplog: pytest.LogCaptureFixture
) -> None:
    event = wrapped.get("data", wrapped)
    first = event["bookmakers"][0]["markets"][0]["outcomes"][:2]
    assert first == [outcome("Over", "Jaylen Wells", 1.8, 11.5),
                     outcome("Under", "Jaylen Wells", 1.94, 11.5)]  # fmt: skip
    player = "Jaylen Wells"
    repeat = [outcome("Over", player, 1.87, 11.5), outcome("Under", player, 1.87, 11.5)]
    changed = with_williamhill(event, repeat)
    body = {**wrapped, "data": changed} if "data" in wrapped else changed
    with caplog.at_level(logging.INFO):
        rows = source.parse(body, ctx())
    assert len(rows) == 3 * 14  # fanduel, draftkings, williamhill_us: the repeat adds no row
    assert listed(rows, "williamhill_us", player) == [(11.5, 1.8, 1.94)]
    assert listed(rows, "fanduel", player) == [(11.5, 1.8, 1.94)]
    assert_one_row_per_key(rows)
    assert {r["snapshot_at"] for r in rows} == {snapshot}
    assert {r["odds_format"] for r in rows} == {"decimal"}
    assert dropped_warnings(caplog) == [
        {"scraper_name": source.name, "bookmakers": {"williamhill_us": 1}, "dropped_listings": 1,
         "execution_id": "run-1", "source_file": ctx().source_file},
    ]  # fmt: skip
    assert parse_event_odds(source.name, body, ctx()).dropped == {"williamhill_us": 1}


AMERICAN = {"A": (-130, 100), "B": (115, -145)}
DECIMAL = {"A": (1.77, 2.0), "B": (2.15, 1.69)}
"""Prices of listing A (the main line) and listing B (the repeat), as (over, under)."""


def one_book(outcomes: list[dict[str, Any]]) -> dict[str, Any]:
    """A bare event whose only book, williamhill_us, quotes `outcomes`."""
    market = {"key": "player_points", "outcomes": outcomes}
    return {**american_event(), "bookmakers": [{"key": "williamhill_us", "markets": [market]}]}


def sides(order: str, prices: dict[str, tuple[Any, Any]]) -> list[dict[str, Any]]:
    """Outcomes for Caris LeVert at 11.5 in `order`, e.g. "OA OB UA UB" (Over of A, ...)."""
    return [
        outcome("Over" if item[0] == "O" else "Under", "Caris LeVert",
                prices[item[1]][item[0] == "U"], 11.5)
        for item in order.split()
    ]  # fmt: skip


@pytest.mark.parametrize("prices", [AMERICAN, DECIMAL], ids=["american", "decimal"])
@pytest.mark.parametrize(
    ("order", "kept", "dropped"),
    [
        ("OA UA OB UB", ("A", "A"), 1),  # the recorded shape: pair after pair
        ("OA OB UA UB", ("A", "A"), 1),  # interleaved: the n-th Over pairs with the n-th Under
        ("UA OA UB OB", ("A", "A"), 1),
        ("OA UA OB", ("A", "A"), 1),  # a lone extra Over is a listing of its own, dropped
        ("OA UA UB", ("A", "A"), 1),
        ("OA OB", ("A", None), 1),  # the extra Over never fills the main listing's Under
        ("UA UB UB", (None, "A"), 2),
        ("OA UA OB UB OB UB", ("A", "A"), 2),
    ],
)
def test_repeated_listings_keep_the_first_and_never_mix(
    prices: dict[str, tuple[Any, Any]], order: str, kept: tuple[str | None, str | None],
    dropped: int, caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    body = one_book(sides(order, prices))
    with caplog.at_level(logging.INFO):
        rows = get_source("oddsa_player_props").parse(body, ctx())
    over, under = (prices[k][n] if k else None for n, k in enumerate(kept))
    assert listed(rows, "williamhill_us", "Caris LeVert") == [(11.5, over, under)]
    assert len(rows) == 1
    assert rows[0]["odds_format"] == ("decimal" if prices is DECIMAL else "american")
    assert parse_event_odds("oddsa_player_props", body, ctx()).dropped == {
        "williamhill_us": dropped
    }
    assert [w["dropped_listings"] for w in dropped_warnings(caplog)] == [dropped]


def test_one_log_line_per_file_and_none_without_repeats(caplog: pytest.LogCaptureFixture) -> None:
    repeated = one_book(sides("OA UA OB UB", AMERICAN))
    other = {**one_book(sides("OB UB OA UA", AMERICAN)), "id": "0" * 32}
    source = get_source("oddsa_player_props")
    with caplog.at_level(logging.INFO):
        source.parse(american_event(), ctx())
        source.parse(load(PROPS_FILE), ctx())
        assert dropped_warnings(caplog) == []
        rows = source.parse([repeated, american_event(), other], ctx())
    assert [(r["bookmaker"], r["over_price"]) for r in rows] == [
        ("williamhill_us", -130), ("draftkings", -130), ("draftkings", -120), ("williamhill_us", 115),
    ]  # fmt: skip
    (warning,) = dropped_warnings(caplog)
    assert (warning["bookmakers"], warning["dropped_listings"]) == ({"williamhill_us": 2}, 2)


def test_parsing_does_not_touch_the_body() -> None:
    body = load(PROPS_FILE)
    before = copy.deepcopy(body)
    get_source("oddsa_player_props_his").parse(body, ctx())
    assert body == before


# --- params and requests ---------------------------------------------------------------------


def test_events_request_is_one_eastern_day() -> None:
    fetcher = fetch(get_source("oddsa_events"), {"date": "2024-01-24"}, answer=[])
    assert fetcher.calls == [
        (
            "/v4/sports/basketball_nba/events",
            {"commenceTimeFrom": "2024-01-24T05:00:00Z", "commenceTimeTo": "2024-01-25T04:59:59Z"},
        )
    ]
    assert get_source("oddsa_events").params_model is DateParams


def test_historical_events_request_defaults_to_16_eastern() -> None:
    fetcher = fetch(get_source("oddsa_events_his"), {"date": "2024-01-24"}, answer={})
    assert fetcher.calls == [
        (
            "/v4/historical/sports/basketball_nba/events",
            {
                "date": "2024-01-24T21:00:00Z",
                "commenceTimeFrom": "2024-01-24T05:00:00Z",
                "commenceTimeTo": "2024-01-25T04:59:59Z",
            },
        )
    ]


def test_snapshot_param_default_and_explicit() -> None:
    summer = OddsEventsHisParams.model_validate({"date": "2025-03-09"})  # EDT from 2025-03-09
    assert summer.snapshot == dt.datetime(2025, 3, 9, 20, tzinfo=dt.UTC)
    assert summer.model_dump(mode="json")["snapshot"] == "2025-03-09T20:00:00Z"
    naive = OddsEventsHisParams.model_validate(
        {"date": "2025-03-09", "snapshot": "2025-03-09T23:50:00"}
    )
    assert naive.snapshot == dt.datetime(2025, 3, 9, 23, 50, tzinfo=dt.UTC)
    offset = OddsEventsHisParams.model_validate(
        {"date": "2025-03-09", "snapshot": "2025-03-09T19:50:00-04:00"}
    )
    assert offset.snapshot == dt.datetime(2025, 3, 9, 23, 50, tzinfo=dt.UTC)


def test_props_requests() -> None:
    event_id = "242c77a8d5890e18bab91773ad32fcb5"
    current = fetch(get_source("oddsa_player_props"), {"event_id": event_id, "date": "2025-03-09"})
    assert current.calls == [
        (
            f"/v4/sports/basketball_nba/events/{event_id}/odds",
            {"markets": EVERY_MARKET, "regions": "us", "oddsFormat": "american"},
        )
    ]
    historical = fetch(
        get_source("oddsa_player_props_his"),
        {"event_id": event_id, "date": "2025-03-09", "snapshot": "2025-03-09T23:50:00Z"},
    )
    assert historical.calls == [
        (
            f"/v4/historical/sports/basketball_nba/events/{event_id}/odds",
            {"date": "2025-03-09T23:50:00Z", "markets": EVERY_MARKET, "regions": "us"},
        )
    ]
    assert not any("apiKey" in query for _, query in current.calls + historical.calls)


def test_props_without_an_event_cover_every_event_of_the_date() -> None:
    recorded = load(PROPS_FILE)
    event_id = recorded["data"]["id"]
    listing = load(EVENTS_FILE)
    listed = [e["id"] for e in listing["data"]]

    def answer(path: str, query: dict[str, Any]) -> Any:
        return listing if path.endswith("/events") else recorded

    fetcher = FakeFetcher(answer)
    source = get_source("oddsa_player_props_his")
    params = source.params_model.model_validate({"date": "2024-01-24"})
    body = asyncio.run(source.fetch(fetcher, params))
    snapshot = "2024-01-24T21:00:00Z"
    assert fetcher.calls[0] == (
        "/v4/historical/sports/basketball_nba/events",
        {"date": snapshot, "commenceTimeFrom": "2024-01-24T05:00:00Z",
         "commenceTimeTo": "2024-01-25T04:59:59Z"},
    )  # fmt: skip
    assert [path for path, _ in fetcher.calls[1:]] == [
        f"/v4/historical/sports/basketball_nba/events/{e}/odds" for e in listed
    ]
    assert all(q == {"date": snapshot, "markets": EVERY_MARKET, "regions": "us"}
               for _, q in fetcher.calls[1:])  # fmt: skip
    one = source.parse(recorded, ctx())
    rows = source.parse(body, ctx())
    assert len(rows) == len(listed) * len(one) and {r["event_id"] for r in rows} == {event_id}


def test_props_of_a_date_name_the_event_that_is_malformed() -> None:
    good = load(PROPS_FILE)
    bad = copy.deepcopy(good)
    bad["data"]["bookmakers"][0].pop("key")
    with pytest.raises(ParseError) as caught:
        get_source("oddsa_player_props_his").parse([good, bad], ctx())
    assert caught.value.field == "[1].data.bookmakers[0].key"
    listing_fetcher = FakeFetcher(lambda path, query: {"data": [{"commence_time": "x"}]})
    source = get_source("oddsa_player_props")
    params = source.params_model.model_validate({"date": "2024-01-24"})
    with pytest.raises(ParseError) as listing:
        asyncio.run(source.fetch(listing_fetcher, params))
    assert (listing.value.scraper_name, listing.value.field) == (
        "oddsa_player_props",
        "<events>[0].id",
    )


@pytest.mark.parametrize(
    ("model", "params"),
    [
        (OddsPropsParams, {"event_id": "../../sports", "date": "2025-03-09"}),
        (OddsPropsParams, {"event_id": "242c77a8d5890e18bab91773ad32fcb5"}),
        (OddsPropsParams, {"event_id": "242c77a8d5890e18bab91773ad32fcb5", "date": "2025-03-09", "apiKey": "k"}),
        (OddsPropsHisParams, {"event_id": "242c77a8d5890e18bab91773ad32fcb5", "date": "2025-03-09", "snapshot": "noon"}),
        (OddsEventsHisParams, {"date": "2025-03-09", "regions": "us"}),
    ],
)  # fmt: skip
def test_params_are_validated(model: Any, params: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        model.model_validate(params)


def test_params_examples_validate() -> None:
    for model in (OddsEventsHisParams, OddsPropsParams, OddsPropsHisParams):
        for example in model.model_json_schema()["examples"]:
            model.model_validate(example)
