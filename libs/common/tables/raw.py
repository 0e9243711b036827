"""Every `nba_raw` table, declared apart from the parsers that fill them.

A service that only checks a table name or creates tables (the analytics and processors
apps, `/health/detailed`, the docs) reads this module without importing any parser; each
parser module imports the table it writes from here.
"""

from __future__ import annotations

from collections.abc import Mapping

from libs.common.errors import UnknownScraperError
from libs.common.warehouse.schema import LINEAGE_COLUMNS, Column, Table, col

SIDES = ("home", "away")
"""ESPN's and NBA.com's two teams of a game, as their column prefixes."""

# --- balldontlie ---------------------------------------------------------------------------

BDL_GAMES = Table(
    "nba_raw",
    "bdl_games",
    (
        col("game_id", "INT64", True, "balldontlie game id"),
        col("game_date", "DATE", True),
        col("season", "INT64"),
        col("status", "STRING", description="'Final', a tip-off time, or a period clock"),
        col("period", "INT64"),
        col("postseason", "BOOL"),
        col("start_time", "TIMESTAMP", description="scheduled tip-off (UTC)"),
        col("home_team_id", "INT64"),
        col("home_team_abbr", "STRING", True),
        col("home_team_name", "STRING"),
        col("home_team_score", "INT64"),
        col("visitor_team_id", "INT64"),
        col("visitor_team_abbr", "STRING", True),
        col("visitor_team_name", "STRING"),
        col("visitor_team_score", "INT64"),
        *LINEAGE_COLUMNS,
    ),
    natural_key=("game_id",),
    partition_column="game_date",
    description="One current row per game (state source).",
)


STAT_COLUMNS = (
    "fgm", "fga", "fg3m", "fg3a", "ftm", "fta", "oreb", "dreb", "reb",
    "ast", "stl", "blk", "turnover", "pf", "pts",
)  # fmt: skip


BDL_PLAYER_BOXSCORES = Table(
    "nba_raw",
    "bdl_player_boxscores",
    (
        col("game_date", "DATE", True),
        col("season", "INT64"),
        col("game_status", "STRING"),
        col("player_id", "INT64", True, "balldontlie player id"),
        col("player_name", "STRING", True, "first and last name"),
        col("position", "STRING"),
        col("team_abbr", "STRING", True),
        col("opponent_abbr", "STRING", True),
        col("is_home", "BOOL", True),
        col("minutes", "FLOAT64", description="minutes played; '' or '00' is 0"),
        *(col(name, "INT64") for name in STAT_COLUMNS),
        *LINEAGE_COLUMNS,
    ),
    natural_key=("game_date", "team_abbr", "player_id"),
    partition_column="game_date",
    description="One current row per player per game (state source).",
)


BDL_PLAYERS = Table(
    "nba_raw",
    "bdl_players",
    (
        col("player_id", "INT64", True),
        col("first_name", "STRING"),
        col("last_name", "STRING"),
        col("position", "STRING"),
        col("height", "STRING"),
        col("weight", "STRING"),
        col("jersey_number", "STRING"),
        col("college", "STRING"),
        col("country", "STRING"),
        col("draft_year", "INT64"),
        col("draft_round", "INT64"),
        col("draft_number", "INT64"),
        col("team_id", "INT64"),
        col("team_abbr", "STRING"),
        *LINEAGE_COLUMNS,
    ),
    natural_key=("player_id",),
    description="One current row per player (state source).",
)


BDL_PLAYER_INJURIES = Table(
    "nba_raw",
    "bdl_player_injuries",
    (
        col("report_date", "DATE", True, "the run's date, else the US Eastern day it was fetched"),
        col("player_id", "INT64", True, "balldontlie player id"),
        col("first_name", "STRING"),
        col("last_name", "STRING"),
        col("position", "STRING"),
        col("team_id", "INT64", description="balldontlie team id"),
        col("status", "STRING", description="e.g. Out, Day-To-Day"),
        col(
            "return_date", "STRING", description="expected return as given, e.g. 'Feb 1' (no year)"
        ),
        col("description", "STRING", description="the latest news on the injury"),
        *LINEAGE_COLUMNS,
    ),
    natural_key=("player_id", "source_file"),
    partition_column="report_date",
    description="Every fetched injury report, one row per listed player (snapshot source).",
)


# --- the Odds API and the player-props contract both books share ----------------

PROPS_COLUMNS: tuple[Column, ...] = (
    col("event_id", "STRING", True, "the upstream's event id"),
    col("game_date", "DATE", True, "US Eastern game date"),
    col("commence_time", "TIMESTAMP", description="scheduled tip-off (UTC), when the body has it"),
    col("home_team", "STRING"),
    col("away_team", "STRING"),
    col("bookmaker", "STRING", True, "e.g. draftkings, fanduel, consensus"),
    col("market", "STRING", True, "Odds API market key, e.g. player_points, player_threes"),
    col("player_name", "STRING", True, "player name as the upstream spells it"),
    col("line", "FLOAT64", True, "line of the market's stat the over/under prices refer to"),
    col("over_price", "FLOAT64", description="as given; NULL when the book has no over"),
    col("under_price", "FLOAT64", description="as given; NULL when the book has no under"),
    col("odds_format", "STRING", True, "american (integers) or decimal (floats)"),
    col("snapshot_at", "TIMESTAMP", True, "when the prices were observed"),
    *LINEAGE_COLUMNS,
)


PROPS_KEY = ("event_id", "bookmaker", "player_name", "line", "snapshot_at", "market")
"""Every snapshot keeps its own rows, so line movement across the day stays queryable; the same
historical snapshot fetched again (a backfill re-run) replaces its rows instead of doubling them.
`market` came last when more markets than points were stored: rows stored before all hold
`player_points` (a required column since the start), so none of their keys changes, and the
first four columns (BigQuery's clustering) stay as they were."""


def props_table(name: str, description: str) -> Table:
    """A `nba_raw` player-props table with the shared row contract."""
    return Table(
        "nba_raw",
        name,
        PROPS_COLUMNS,
        natural_key=PROPS_KEY,
        partition_column="game_date",
        description=description,
    )


ODDS_API_EVENTS = Table(
    "nba_raw",
    "odds_api_events",
    (
        col("event_id", "STRING", True, "Odds API event id (32 hex characters)"),
        col("game_date", "DATE", True, "US Eastern date of commence_time"),
        col("commence_time", "TIMESTAMP", True, "scheduled tip-off (UTC)"),
        col("home_team", "STRING", True, "full team name, e.g. Golden State Warriors"),
        col("away_team", "STRING", True),
        col("sport_key", "STRING"),
        col("snapshot_at", "TIMESTAMP", True, "historical snapshot time, or fetch time"),
        *LINEAGE_COLUMNS,
    ),
    natural_key=("event_id", "snapshot_at"),
    partition_column="game_date",
    description="Every snapshot of the NBA event list (snapshot source).",
)


ODDS_API_PLAYER_POINTS_PROPS = props_table(
    "odds_api_player_points_props",
    "One row per (snapshot, bookmaker, market, player, line) with its over and under prices.",
)


# --- BettingPros ---------------------------------------------------------------------------

BETTINGPROS_EVENTS = Table(
    "nba_raw",
    "bettingpros_events",
    (
        col("event_id", "STRING", True, "BettingPros event id (text, to join the props table)"),
        col("sr_id", "STRING", description="Sportradar game id"),
        col("game_date", "DATE", True, "US Eastern date of `scheduled`"),
        col("scheduled", "TIMESTAMP", True, "scheduled tip-off (UTC)"),
        col("season", "INT64"),
        col("season_type", "STRING", description="e.g. REG"),
        col("status", "STRING", description="e.g. scheduled, closed"),
        col("home", "STRING", True, "home team abbreviation"),
        col("visitor", "STRING", True, "visiting team abbreviation"),
        col("venue_name", "STRING"),
        col("venue_city", "STRING"),
        col("venue_state", "STRING"),
        *LINEAGE_COLUMNS,
    ),
    natural_key=("event_id", "source_file"),
    partition_column="game_date",
    description="Every fetched list of BettingPros events (snapshot source).",
)


BETTINGPROS_PLAYER_POINTS_PROPS = props_table(
    "bettingpros_player_points_props",
    "One row per (snapshot, book, market, player, line) with its over and under prices.",
)


# --- ESPN ----------------------------------------------------------------------------------


def _espn_side(side: str) -> tuple[Column, ...]:
    return (
        col(f"{side}_team_id", "STRING", True, "ESPN team id"),
        col(f"{side}_team_abbr", "STRING", True, "ESPN abbreviation, e.g. NY, GS, UTAH"),
        col(f"{side}_team_name", "STRING", description="display name, e.g. New York Knicks"),
        col(f"{side}_team_score", "INT64", description="as ESPN gives it; 0 before tip-off"),
    )


ESPN_SCOREBOARD = Table(
    "nba_raw",
    "espn_scoreboard",
    (
        col("game_id", "STRING", True, "ESPN event id"),
        col("game_date", "DATE", True, "the run's date, else the US Eastern day of start_time"),
        col("start_time", "TIMESTAMP", True, "scheduled tip-off (UTC)"),
        col("status", "STRING", description="status type name, e.g. STATUS_FINAL"),
        col("completed", "BOOL"),
        col("season_year", "INT64", description="year the season ends in (2023-24 is 2024)"),
        col("season_type", "INT64", description="1 preseason, 2 regular season, 3 postseason"),
        *(column for side in SIDES for column in _espn_side(side)),
        col("venue_name", "STRING"),
        col("venue_city", "STRING"),
        *LINEAGE_COLUMNS,
    ),
    natural_key=("game_id",),
    partition_column="game_date",
    description="One current row per game (state source).",
)


ESPN_TEAM_ROSTERS = Table(
    "nba_raw",
    "espn_team_rosters",
    (
        col("roster_date", "DATE", True, "the run's date, else the US Eastern day it was fetched"),
        col("team_id", "STRING", True, "ESPN team id"),
        col("team_abbr", "STRING", True),
        col("athlete_id", "STRING", True, "ESPN athlete id"),
        col("full_name", "STRING", True),
        col("jersey", "STRING", description="text: '0' and '00' differ"),
        col("position", "STRING", description="abbreviation, e.g. PG, SF, C"),
        col("height", "FLOAT64", description="inches"),
        col("weight", "FLOAT64", description="pounds"),
        col("age", "INT64"),
        col("experience_years", "INT64", description="0 for rookies"),
        col("status", "STRING", description="e.g. Active"),
        col("injury_status", "STRING", description="first listed injury's status, e.g. Out"),
        col("injury_comment", "STRING", description="first listed injury's short comment"),
        *LINEAGE_COLUMNS,
    ),
    natural_key=("team_id", "athlete_id", "source_file"),
    partition_column="roster_date",
    description="Every fetched roster of a team (snapshot source).",
)


# --- NBA.com -------------------------------------------------------------------------------


def _nbac_side(side: str) -> tuple[Column, ...]:
    return (
        col(f"{side}_team_id", "INT64", description="NBA.com team id; 0 while undetermined"),
        col(f"{side}_team_tricode", "STRING", description="e.g. GSW"),
        col(f"{side}_team_name", "STRING", description="e.g. Warriors"),
        col(f"{side}_team_city", "STRING", description="e.g. Golden State"),
        col(f"{side}_team_score", "INT64", description="as given: 0 before tip-off"),
    )


NBAC_SCHEDULE = Table(
    "nba_raw",
    "nbac_schedule",
    (
        col("game_id", "STRING", True, "NBA.com game id, text: '0022400001'"),
        col("game_code", "STRING", description="e.g. 20251002/PHINYK"),
        col("game_date", "DATE", True, "US Eastern game date (gameDateEst)"),
        col("game_status", "INT64", description="1 scheduled, 2 live, 3 final"),
        col("game_status_text", "STRING", description="e.g. '7:30 pm ET', 'Final'"),
        col("start_time_utc", "TIMESTAMP", True, "scheduled tip-off (gameDateTimeUTC)"),
        *(column for side in SIDES for column in _nbac_side(side)),
        col("arena_name", "STRING"),
        col("arena_city", "STRING"),
        col("week_number", "INT64", description="0 in the preseason"),
        col("season_year", "STRING", description="e.g. 2025-26"),
        *LINEAGE_COLUMNS,
    ),
    natural_key=("game_id",),
    partition_column="game_date",
    description="One current row per game (state source).",
)


NBAC_TEAM_ROSTER = Table(
    "nba_raw",
    "nbac_team_roster",
    (
        col("roster_date", "DATE", True, "the run's date, else the US Eastern day it was fetched"),
        col("team_id", "INT64", True, "NBA.com team id (TeamID)"),
        col("team_tricode", "STRING", description="team.info.TEAM_ABBREVIATION, e.g. GSW"),
        col("season", "STRING", description="season the roster is for, e.g. '2025' for 2025-26"),
        col("player_id", "INT64", True, "NBA.com player id"),
        col("player", "STRING", True, "full name"),
        col("nickname", "STRING", description="first name as commonly used"),
        col("player_slug", "STRING"),
        col("num", "STRING", description="jersey number, text: '0' and '00' differ; NULL if none"),
        col("position", "STRING", description="e.g. G, F, C, G-F"),
        col("height", "STRING", description="feet-inches, e.g. 6-4"),
        col("weight", "INT64", description="pounds"),
        col("birth_date", "DATE"),
        col("age", "INT64"),
        col("exp", "STRING", description="seasons of experience; 'R' for a rookie"),
        col("school", "STRING", description="college, club or country"),
        col("how_acquired", "STRING", description="e.g. '#7 Pick in 2009 Draft'"),
        *LINEAGE_COLUMNS,
    ),
    natural_key=("team_id", "player_id", "source_file"),
    partition_column="roster_date",
    description="Every fetched NBA.com roster of a team (snapshot source).",
)


# --- which scraper loads which table -------------------------------------------------------

LOADED_BY: Mapping[str, Table] = {
    "oddsa_events": ODDS_API_EVENTS,
    "oddsa_events_his": ODDS_API_EVENTS,
    "oddsa_player_props": ODDS_API_PLAYER_POINTS_PROPS,
    "oddsa_player_props_his": ODDS_API_PLAYER_POINTS_PROPS,
    "bdl_games": BDL_GAMES,
    "bdl_box_scores": BDL_PLAYER_BOXSCORES,
    "bdl_players": BDL_PLAYERS,
    "bdl_player_injuries": BDL_PLAYER_INJURIES,
    "bp_events": BETTINGPROS_EVENTS,
    "bp_player_props": BETTINGPROS_PLAYER_POINTS_PROPS,
    "espn_scoreboard": ESPN_SCOREBOARD,
    "espn_roster": ESPN_TEAM_ROSTERS,
    "nbac_schedule": NBAC_SCHEDULE,
    "nbac_roster": NBAC_TEAM_ROSTER,
}
"""The table each registered scraper loads, by scraper name: read by what checks a message's
table without importing every parser (the analytics service, `/health/detailed`). The
registry refuses to load if a source's table disagrees, so this cannot drift from it."""

RAW_TABLES: tuple[Table, ...] = tuple({t.fqn: t for t in LOADED_BY.values()}.values())
"""Every raw table, once (several scrapers share one)."""


def loaded_by(scraper_name: str) -> Table:
    """The table `scraper_name` loads, or UnknownScraperError."""
    try:
        return LOADED_BY[scraper_name]
    except KeyError:
        raise UnknownScraperError(scraper_name, LOADED_BY) from None
