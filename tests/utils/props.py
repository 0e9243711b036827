"""Raw rows the analytics tests load: a box-score line and a props snapshot of one game."""

from __future__ import annotations

import datetime as dt
from typing import Any

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
