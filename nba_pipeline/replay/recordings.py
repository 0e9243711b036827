"""Recorded upstream bodies (read-only files beside this module) and the requests they answer.

A request that exactly matches a recording gets the recorded bytes unchanged; the matching rule
for each lives next to its route. Files are read once and kept in memory.
"""

from __future__ import annotations

import datetime as dt
import functools
import gzip
import json
from pathlib import Path
from typing import Any

DIR = Path(__file__).resolve().parent / "recordings"

BDL_GAMES_2025_02_20 = "balldontlie/bdl_games_v1_raw_2025-02-20.json"
BDL_BOX_SCORES_2024_01_15 = "balldontlie/bdl_box_scores_v1_raw.json"
BDL_BOX_SCORES_EMPTY = "balldontlie/bdl_box_scores_v1_raw_empty.json"
BDL_INJURIES = "balldontlie/bdl_player_injuries_v1_raw.json"
ODDS_EVENTS_2024_01_25 = "oddsapi/historical_events_v4_raw_1.json"
ODDS_PROPS_242C77A8 = "oddsapi/historical_event_odds_v4_player_points_raw_4fd911e4.json"
ODDS_GAME_LINES_CD0BC7D0 = "oddsapi/historical_event_odds_v4_game_lines_raw.json"
ESPN_SCOREBOARD_2025_02_14 = "espn/espn_scoreboard_site_v2_raw_20250214.json"
ESPN_SCOREBOARD_2024_01_15 = "espn/espn_scoreboard_site_v2_raw_full.json"
ESPN_TEAM_2 = "espn/espn_team_roster_site_v2_raw_team2.json"
NBAC_TEAM_PAGE_GSW = "nbacom/nbac_roster_page_raw.html.gz"
NBAC_SCHEDULE_2025_26 = "nbacom/nbac_schedule_cdn_raw.json"
"""Not served (a 2025-26 preseason cut); its broadcaster list is reused."""
BP_EVENTS_2021_10_21 = "bettingpros/bp_events_v3_raw.json"

BDL_GAMES_DATES = {dt.date(2025, 2, 20): BDL_GAMES_2025_02_20}
BDL_BOX_SCORES_DATES = {dt.date(2024, 1, 15): BDL_BOX_SCORES_2024_01_15}
ESPN_SCOREBOARD_DATES = {
    dt.date(2025, 2, 14): ESPN_SCOREBOARD_2025_02_14,
    dt.date(2024, 1, 15): ESPN_SCOREBOARD_2024_01_15,
}
ESPN_TEAMS = {"2": ESPN_TEAM_2}
NBAC_TEAM_PAGES = {1610612744: NBAC_TEAM_PAGE_GSW}
BP_EVENTS_DATES = {dt.date(2021, 10, 21): BP_EVENTS_2021_10_21}
ODDS_HISTORICAL_EVENTS = (ODDS_EVENTS_2024_01_25,)
ODDS_HISTORICAL_PROPS = {"242c77a8d5890e18bab91773ad32fcb5": ODDS_PROPS_242C77A8}
ODDS_HISTORICAL_GAME_LINES = {"cd0bc7d0c238f4446ce1c03d0cea7ec4": ODDS_GAME_LINES_CD0BC7D0}


@functools.cache
def raw(name: str) -> bytes:
    """The recorded body as the upstream sent it (gzip recordings are stored compressed)."""
    data = (DIR / name).read_bytes()
    return gzip.decompress(data) if name.endswith(".gz") else data


@functools.cache
def parsed(name: str) -> Any:
    """The recording as JSON; shared between callers, so never changed in place."""
    return json.loads(raw(name))


def historical_window(name: str) -> tuple[dt.datetime, dt.datetime]:
    """[timestamp, next_timestamp) of a historical Odds API recording: the `date`s it answers.

    The Odds API serves the last snapshot at or before the requested date, so this snapshot
    answers every date from its own timestamp up to the next one.
    """
    body = parsed(name)
    return _utc(body["timestamp"]), _utc(body["next_timestamp"])


def _utc(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
