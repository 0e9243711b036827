"""One player identity on both warehouses, from the recorded upstreams' real names: the
balldontlie box scores of 2024-01-15, the Odds API's props of a Grizzlies game (as if that
day's) and NBA.com's player index (as that day's rosters). Their spellings differ by
suffixes (`Bruce Brown Jr` / `Bruce Brown`), initials (`G.G.` / `GG`), accents (`Dončić`,
`Porziņģis`, `Schröder`) and, once, a nickname (`Vincent` / `Vince`: the overrides file)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from libs.common.analytics import ANALYTICS_TABLES, BUILDS
from libs.common.players import name_key, name_key_sql, unmatched_names
from libs.common.sources.base import ParseContext
from libs.common.sources.registry import get_source, raw_tables
from libs.common.tables.raw import NBAC_TEAM_ROSTER
from libs.common.warehouse.base import Row, Warehouse
from tests.conftest import RECORDINGS

DAY = dt.date(2024, 1, 15)
FETCHED = dt.datetime(2024, 1, 16, 9, tzinfo=dt.UTC)
BOX_SCORES = RECORDINGS / "balldontlie" / "bdl_box_scores_v1_raw.json"
PROPS = RECORDINGS / "oddsapi" / "historical_event_odds_v4_player_points_raw_4fd911e4.json"
PLAYER_INDEX = RECORDINGS / "nbacom" / "nbac_player_list_playerindex_raw.json"


def parsed(scraper: str, path: Path) -> list[Row]:
    ctx = ParseContext("run-1", f"gs://nba-scraped-data/{path.name}", DAY, FETCHED, {})
    return get_source(scraper).parse(json.loads(path.read_text()), ctx)


def index_as_rosters() -> list[Row]:
    """NBA.com's player index as roster rows: person id, name as NBA.com prints it, team."""
    result = json.loads(PLAYER_INDEX.read_text())["resultSets"][0]
    rows = [dict(zip(result["headers"], values, strict=True)) for values in result["rowSet"]]
    lineage = {"execution_id": "run-2", "source_file": "gs://nba-scraped-data/index.json",
               "loaded_at": FETCHED, "fetched_at": FETCHED}  # fmt: skip
    return [
        {c: None for c in NBAC_TEAM_ROSTER.column_names}
        | {"roster_date": DAY, "team_id": p["TEAM_ID"], "team_tricode": p["TEAM_ABBREVIATION"],
           "player_id": p["PERSON_ID"], "player": f"{p['PLAYER_FIRST_NAME']} {p['PLAYER_LAST_NAME']}"}
        | lineage
        for p in rows
    ]  # fmt: skip


@pytest.fixture
def loaded(warehouse: Warehouse) -> Warehouse:
    warehouse.ensure_tables([*raw_tables(), *ANALYTICS_TABLES])
    warehouse.upsert(get_source("bdl_box_scores").table, parsed("bdl_box_scores", BOX_SCORES))
    warehouse.upsert(
        get_source("oddsa_player_props_his").table, parsed("oddsa_player_props_his", PROPS)
    )
    warehouse.upsert(NBAC_TEAM_ROSTER, index_as_rosters())
    warehouse.rebuild([build.target for build in BUILDS], {"game_date": DAY})
    return warehouse


def mapped(warehouse: Warehouse, source: str) -> dict[str, Any]:
    rows = warehouse.query(
        "SELECT name, player_id, nba_person_id, matched_by FROM {nba_analytics.player_map} "
        "WHERE game_date = @day AND source = @source",
        {"day": DAY, "source": source},
    )
    return {r["name"]: (r["player_id"], r["nba_person_id"], r["matched_by"]) for r in rows}


def test_both_warehouses_key_every_recorded_name_as_python_does(warehouse: Warehouse) -> None:
    names = {row["player_name"] for row in parsed("bdl_box_scores", BOX_SCORES)}
    names |= {row["player_name"] for row in parsed("oddsa_player_props_his", PROPS)}
    names |= {row["player"] for row in index_as_rosters()}
    keyed = {
        name: warehouse.query(f"SELECT {name_key_sql('@name')} AS k", {"name": name})[0]["k"]
        for name in sorted(names)
    }
    assert keyed == {name: name_key(name) for name in names}
    league = [row["player"] for row in index_as_rosters()]
    assert len({keyed[name] for name in league}) == len(league)  # no two of its players share one


def test_book_names_resolve_through_suffixes_initials_and_the_overrides_file(
    loaded: Warehouse,
) -> None:
    assert mapped(loaded, "oddsapi") == {
        "G.G. Jackson": (56677830, 1641713, "name"),  # balldontlie: GG Jackson
        "Bruce Brown Jr": (69, 1628971, "name"),  # balldontlie and NBA.com: Bruce Brown
        "Trey Murphy III": (18677986, 1630530, "name"),
        "Vincent Williams Jr": (38017731, 1631246, "override"),  # balldontlie: Vince Williams Jr.
        "Desmond Bane": (3547287, 1630217, "name"),
        "Ja Morant": (666786, 1629630, "name"),
        "Brandon Clarke": (666505, 1629634, "name"),
        "Jose Alvarado": (17896097, 1630631, "name"),
        "Kelly Olynyk": (358, 203482, "name"),  # Jazz that day, Pelicans in the props
        "Jordan Hawkins": (56677837, 1641722, "name"),
        # rookies of 2024-25 and a later signing: in no box score of 2024-01-15
        "Jaylen Wells": (None, None, None),
        "Scotty Pippen Jr": (None, None, None),
        "Yves Missi": (None, None, None),
        "Zach Edey": (None, None, None),
        "Karlo Matkovic": (None, None, None),
    }


def test_nba_com_person_ids_link_through_accents_and_suffixes(loaded: Warehouse) -> None:
    box = mapped(loaded, "balldontlie")
    linked = {name: box[name][:2] for name in (
        "Luka Doncic", "Kristaps Porzingis", "Dennis Schroder", "Jonas Valanciunas", "Dante Exum",
        "Vit Krejci", "Bogdan Bogdanovic", "Bojan Bogdanovic", "Jaren Jackson Jr.", "Vince Williams Jr.",
    )}  # fmt: skip
    assert linked == {
        "Luka Doncic": (132, 1629029),  # NBA.com: Luka Dončić
        "Kristaps Porzingis": (378, 204001),  # Kristaps Porziņģis
        "Dennis Schroder": (409, 203471),  # Dennis Schröder
        "Jonas Valanciunas": (455, 202685),  # Jonas Valančiūnas
        "Dante Exum": (151, 203957),  # Danté Exum
        "Vit Krejci": (box["Vit Krejci"][0], 1630249),  # Vít Krejčí
        "Bogdan Bogdanovic": (53, 203992),  # Bogdan Bogdanović
        "Bojan Bogdanovic": (54, None),  # not in the index: not his namesake's id
        "Jaren Jackson Jr.": (231, 1628991),
        "Vince Williams Jr.": (38017731, 1631246),
    }
    assert {matched for _, _, matched in box.values()} == {"box score"}


def test_the_unmatched_names_are_the_ones_no_player_has(loaded: Warehouse) -> None:
    assert [
        (r["game_date"], r["source"], r["name"]) for r in unmatched_names(loaded, DAY, DAY)
    ] == [
        (DAY, "oddsapi", name)
        for name in (
            "Jaylen Wells",
            "Karlo Matkovic",
            "Scotty Pippen Jr",
            "Yves Missi",
            "Zach Edey",
        )
    ]
    assert unmatched_names(loaded, DAY + dt.timedelta(days=1), DAY + dt.timedelta(days=9)) == []
