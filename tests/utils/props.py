"""Raw rows the analytics tests load: a box-score line and a props snapshot of one game."""

from __future__ import annotations

import datetime as dt
from typing import Any

from libs.common.analytics import BUILDS
from libs.common.sources.registry import get_source
from libs.common.warehouse import Warehouse

DAY = dt.date(2025, 1, 15)
TIP = dt.datetime(2025, 1, 16, 0, 30, tzinfo=dt.UTC)
NOW = dt.datetime(2025, 1, 16, 6, tzinfo=dt.UTC)


def box(
    player_id: int, name: str, team: str, opp: str, pts: int, home: bool, day: dt.date = DAY
) -> dict[str, Any]:
    return {"game_date": day, "season": 2024, "game_status": "Final", "player_id": player_id, "player_name": name,
            "position": "G", "team_abbr": team, "opponent_abbr": opp, "is_home": home, "minutes": 30.0,
            "fgm": 1, "fga": 2, "fg3m": 1, "fg3a": 1, "ftm": 0, "fta": 0, "oreb": 1, "dreb": 2, "reb": 3,
            "ast": 4, "stl": 1, "blk": 0, "turnover": 1, "pf": 2, "pts": pts,
            "execution_id": "e", "source_file": "gs://b/f", "loaded_at": NOW}  # fmt: skip


def prop(
    book: str, name: str, line: float, snapshot: dt.datetime, source_file: str, day: dt.date = DAY
) -> dict[str, Any]:
    return {"event_id": "ev1", "game_date": day, "commence_time": TIP, "home_team": "Boston Celtics",
            "away_team": "New York Knicks", "bookmaker": book, "market": "player_points", "player_name": name,
            "line": line, "over_price": -115, "under_price": -105, "odds_format": "american",
            "snapshot_at": snapshot, "execution_id": "e", "source_file": source_file, "loaded_at": NOW}  # fmt: skip


YESTERDAY = DAY - dt.timedelta(days=1)
UNSCORED_DAY = DAY + dt.timedelta(days=3)
"""Props captured, box scores not loaded yet."""


def fill_two_days(warehouse: Warehouse, day: dt.date = DAY) -> None:
    """Two days ending on `day`: Tatum beat his line the day before; on the day three players,
    one line moved twice; and props of UNSCORED_DAY (as far from `day`) with no box score."""
    shift = day - DAY
    tip = TIP + shift
    early, closing, after_tip = (
        tip - dt.timedelta(hours=5),
        tip - dt.timedelta(minutes=5),
        tip + dt.timedelta(minutes=5),
    )
    before, unscored = YESTERDAY + shift, UNSCORED_DAY + shift
    later, at_tip = closing + dt.timedelta(days=3), {"commence_time": tip}

    def quote(
        book: str, name: str, line: float, snapshot: dt.datetime, file: str, on: dt.date = day
    ) -> dict[str, Any]:
        return prop(book, name, line, snapshot, file, on) | at_tip

    warehouse.upsert(get_source("bdl_box_scores").table, [
        box(1, "Jayson Tatum", "BOS", "NYK", 28, True, before),
        box(1, "Jayson Tatum", "BOS", "NYK", 30, True, day),
        box(2, "Jalen Brunson", "NYK", "BOS", 25, False, day),
        box(3, "Jaren Jackson Jr.", "BOS", "NYK", 12, True, day),
    ])  # fmt: skip
    warehouse.upsert(get_source("oddsa_player_props").table, [
        quote("draftkings", "Jayson Tatum", 25.5, early - dt.timedelta(days=1), "f0", before),
        quote("draftkings", "Jayson Tatum", 27.5, early, "f1"),
        quote("draftkings", "Jayson Tatum", 28.5, early + dt.timedelta(hours=2), "f2"),
        quote("draftkings", "Jayson Tatum", 29.5, closing, "f3"),
        quote("draftkings", "Jayson Tatum", 35.5, after_tip, "f4"),
        quote("fanduel", "Jalen Brunson", 25.0, closing, "f3"),
        quote("draftkings", "Jaren Jackson", 14.5, closing, "f3"),
        quote("draftkings", "Jayson Tatum", 8.5, closing, "f3") | {"market": "player_rebounds"},
        quote("draftkings", "Jayson Tatum", 29.5, later, "f5", unscored) | {"event_id": "ev2"},
        quote("draftkings", "Nobody Known", 9.5, later, "f5", unscored) | {"event_id": "ev2"},
    ])  # fmt: skip
    for built in (before, day, unscored):
        warehouse.rebuild([build.target for build in BUILDS], {"game_date": built})
