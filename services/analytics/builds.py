"""Analytics tables, the raw tables each reads, and the SQL that rebuilds one game date."""

from __future__ import annotations

from dataclasses import dataclass

from libs.common.warehouse.schema import Table, col


@dataclass(frozen=True)
class Build:
    """An analytics table rebuilt per game date when any table it reads is loaded."""

    table: Table
    reads: frozenset[str]
    select_sql: str


PLAYER_GAME_SUMMARY = Table(
    "nba_analytics",
    "player_game_summary",
    (
        col("game_date", "DATE", True),
        col("game_id", "INT64", description="balldontlie game id (null until bdl_games is loaded)"),
        col("player_id", "INT64", True),
        col("player_name", "STRING", True),
        col("team_abbr", "STRING", True),
        col("opponent_abbr", "STRING", True),
        col("is_home", "BOOL", True),
        col("minutes", "FLOAT64"),
        col("points", "INT64"),
        col("rebounds", "INT64"),
        col("assists", "INT64"),
        col("steals", "INT64"),
        col("blocks", "INT64"),
        col("turnovers", "INT64"),
        col("fg3_made", "INT64"),
        col("game_status", "STRING"),
        col("built_at", "TIMESTAMP", True),
    ),
    natural_key=("game_date", "team_abbr", "player_id"),
    partition_column="game_date",
    description="One row per player per game: the box score with the game it belongs to.",
)

PLAYER_GAME_SUMMARY_SQL = """
SELECT
  b.game_date, g.game_id, b.player_id, b.player_name, b.team_abbr, b.opponent_abbr, b.is_home,
  b.minutes, b.pts, b.reb, b.ast, b.stl, b.blk, b.turnover, b.fg3m,
  COALESCE(g.status, b.game_status), CURRENT_TIMESTAMP
FROM {nba_raw.bdl_player_boxscores} b
LEFT JOIN {nba_raw.bdl_games} g
  ON g.game_date = b.game_date
 AND g.home_team_abbr = CASE WHEN b.is_home THEN b.team_abbr ELSE b.opponent_abbr END
 AND g.visitor_team_abbr = CASE WHEN b.is_home THEN b.opponent_abbr ELSE b.team_abbr END
WHERE b.game_date = @game_date
"""

BUILDS: tuple[Build, ...] = (
    Build(
        PLAYER_GAME_SUMMARY,
        frozenset({"nba_raw.bdl_player_boxscores", "nba_raw.bdl_games"}),
        PLAYER_GAME_SUMMARY_SQL,
    ),
)


def builds_reading(source_table: str) -> list[Build]:
    """The builds a load of `source_table` must re-run."""
    return [build for build in BUILDS if source_table in build.reads]


ANALYTICS_TABLES = tuple(build.table for build in BUILDS)
