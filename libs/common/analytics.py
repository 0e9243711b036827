"""Analytics tables, the raw tables each reads, and the SQL that rebuilds one game date.

Declared in the shared library so every service can name and count them; only the analytics
service builds them.
"""

from __future__ import annotations

from dataclasses import dataclass

from libs.common.warehouse.base import RebuildTarget
from libs.common.warehouse.schema import Table, col


@dataclass(frozen=True)
class Build:
    """An analytics table rebuilt per game date when any table it reads is loaded."""

    table: Table
    reads: frozenset[str]
    select_sql: str
    """Names its output columns as the table does: BigQuery's partition replace inserts the
    select's rows by name."""
    onwards: bool = False
    """Rows of a day read earlier days too (a rolling window): a load of day D rebuilds D and
    every later day, so loads arriving in any order give the same table."""

    @property
    def target(self) -> RebuildTarget:
        """What the warehouse rebuilds for this build."""
        return RebuildTarget(self.table, self.select_sql, self.onwards)


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
  b.minutes, b.pts AS points, b.reb AS rebounds, b.ast AS assists, b.stl AS steals,
  b.blk AS blocks, b.turnover AS turnovers, b.fg3m AS fg3_made,
  COALESCE(g.status, b.game_status) AS game_status, CURRENT_TIMESTAMP AS built_at
FROM {nba_raw.bdl_player_boxscores} b
LEFT JOIN {nba_raw.bdl_games} g
  ON g.game_date = b.game_date
 AND g.home_team_abbr = CASE WHEN b.is_home THEN b.team_abbr ELSE b.opponent_abbr END
 AND g.visitor_team_abbr = CASE WHEN b.is_home THEN b.opponent_abbr ELSE b.team_abbr END
WHERE b.game_date = @game_date
"""


def name_key(column: str) -> str:
    """SQL for a player-name join key that DuckDB and BigQuery evaluate the same way.

    Box scores and sportsbooks spell names differently ("Jaren Jackson Jr." / "Jaren Jackson"),
    so case, dots, hyphens, generational suffixes and spaces are dropped (apostrophes are
    left: the two dialects quote them differently).
    """
    expr = f"lower({column})"
    for old in (".", "-", " jr", " sr", " iii", " ii", " iv", " "):
        expr = f"replace({expr}, '{old}', '')"
    return expr


PLAYER_GAME_LINES = Table(
    "nba_analytics",
    "player_game_lines",
    (
        col("game_date", "DATE", True),
        col("game_id", "INT64"),
        col("player_id", "INT64", True),
        col("player_name", "STRING", True),
        col("team_abbr", "STRING", True),
        col("opponent_abbr", "STRING", True),
        col("source", "STRING", True, "oddsapi | bettingpros"),
        col("bookmaker", "STRING", True, "bookmaker key; 'consensus' for BettingPros"),
        col("line", "FLOAT64", True, "closing player-points line"),
        col("over_price", "FLOAT64", description="price as the book gave it (see odds_format)"),
        col("under_price", "FLOAT64"),
        col("odds_format", "STRING", description="american | decimal"),
        col("line_snapshot_at", "TIMESTAMP", description="snapshot the closing line comes from"),
        col("points", "INT64", description="points the player scored"),
        col("outcome", "STRING", True, "over | under | push"),
        col("margin", "FLOAT64", description="points minus line"),
        col("built_at", "TIMESTAMP", True),
    ),
    natural_key=("game_date", "player_id", "source", "bookmaker"),
    partition_column="game_date",
    description="Each player-game with the closing points line of every bookmaker and whether he beat it.",
)

CLOSING_LINES_SQL = """
SELECT '{source}' AS source, bookmaker, player_name, line, over_price, under_price, odds_format, snapshot_at,
       ROW_NUMBER() OVER (PARTITION BY event_id, bookmaker, player_name ORDER BY snapshot_at DESC, line) AS pick
FROM {table}
WHERE game_date = @game_date AND market = 'player_points'
  AND (commence_time IS NULL OR snapshot_at <= commence_time){extra}
"""

PLAYER_GAME_LINES_SQL = f"""
WITH candidates AS (
  {
    CLOSING_LINES_SQL.format(
        source="oddsapi", table="{nba_raw.odds_api_player_points_props}", extra=""
    )
}
  UNION ALL
  {
    CLOSING_LINES_SQL.format(
        source="bettingpros",
        table="{nba_raw.bettingpros_player_points_props}",
        extra=" AND bookmaker = 'consensus'",
    )
}
), closing AS (SELECT * FROM candidates WHERE pick = 1 AND line IS NOT NULL)
SELECT p.game_date, p.game_id, p.player_id, p.player_name, p.team_abbr, p.opponent_abbr,
       c.source, c.bookmaker, c.line, c.over_price, c.under_price, c.odds_format,
       c.snapshot_at AS line_snapshot_at, p.points,
       CASE WHEN p.points > c.line THEN 'over' WHEN p.points < c.line THEN 'under' ELSE 'push' END
         AS outcome,
       p.points - c.line AS margin, CURRENT_TIMESTAMP AS built_at
FROM {{nba_analytics.player_game_summary}} p
JOIN closing c ON {name_key("c.player_name")} = {name_key("p.player_name")}
WHERE p.game_date = @game_date AND p.points IS NOT NULL
"""

TEAM_GAME_SUMMARY = Table(
    "nba_analytics",
    "team_game_summary",
    (
        col("game_date", "DATE", True),
        col("game_id", "INT64"),
        col("team_abbr", "STRING", True),
        col("opponent_abbr", "STRING", True),
        col("is_home", "BOOL", True),
        col("points", "INT64"),
        col("opponent_points", "INT64"),
        col("result", "STRING", description="W | L, null while scores are level (unfinished)"),
        col("rebounds", "INT64"),
        col("assists", "INT64"),
        col("fg3_made", "INT64"),
        col("players_used", "INT64"),
        col("built_at", "TIMESTAMP", True),
    ),
    natural_key=("game_date", "team_abbr"),
    partition_column="game_date",
    description="One row per team per game, summed from the player box scores.",
)

TEAM_GAME_SUMMARY_SQL = """
WITH teams AS (
  SELECT game_date, game_id, team_abbr, opponent_abbr, is_home, SUM(points) AS points,
         SUM(rebounds) AS rebounds, SUM(assists) AS assists, SUM(fg3_made) AS fg3_made,
         COUNT(*) AS players_used
  FROM {nba_analytics.player_game_summary}
  WHERE game_date = @game_date
  GROUP BY game_date, game_id, team_abbr, opponent_abbr, is_home
)
SELECT t.game_date, t.game_id, t.team_abbr, t.opponent_abbr, t.is_home, t.points,
       o.points AS opponent_points,
       CASE WHEN t.points > o.points THEN 'W' WHEN t.points < o.points THEN 'L' END AS result,
       t.rebounds, t.assists, t.fg3_made, t.players_used, CURRENT_TIMESTAMP AS built_at
FROM teams t
LEFT JOIN teams o ON o.team_abbr = t.opponent_abbr AND o.opponent_abbr = t.team_abbr
"""

HIT_RATE_GAMES = 10
"""How many of a player's most recent games `player_prop_results` looks back over."""

PLAYER_PROP_RESULTS = Table(
    "nba_analytics",
    "player_prop_results",
    (
        col("game_date", "DATE", True, "the day the rates are as of (inclusive)"),
        col("player_id", "INT64", True),
        col("player_name", "STRING", True),
        col("source", "STRING", True),
        col("games", "INT64", True, f"games with a line among the player's last {HIT_RATE_GAMES}"),
        col("lines", "INT64", True, "closing lines over those games (one per bookmaker)"),
        col("overs", "INT64", True),
        col("unders", "INT64", True),
        col("pushes", "INT64", True),
        col("hit_rate", "FLOAT64", True, "overs / lines"),
        col("avg_margin", "FLOAT64", description="mean of points minus line"),
        col("built_at", "TIMESTAMP", True),
    ),
    natural_key=("game_date", "player_id", "source"),
    partition_column="game_date",
    description=f"Per day, each player who played: how often he beat his closing line over his last {HIT_RATE_GAMES} games.",
)

PLAYER_PROP_RESULTS_SQL = f"""
WITH per_game AS (
  SELECT l.player_id, l.source, l.game_date, MAX(l.player_name) AS player_name, COUNT(*) AS lines,
         SUM(CASE WHEN l.outcome = 'over' THEN 1 ELSE 0 END) AS overs,
         SUM(CASE WHEN l.outcome = 'under' THEN 1 ELSE 0 END) AS unders,
         SUM(CASE WHEN l.outcome = 'push' THEN 1 ELSE 0 END) AS pushes,
         SUM(l.margin) AS margin_sum, COUNT(l.margin) AS margins
  FROM {{nba_analytics.player_game_lines}} l
  WHERE EXISTS (SELECT 1 FROM {{nba_analytics.player_game_lines}} x
                WHERE x.player_id = l.player_id AND x.source = l.source AND x.game_date >= @game_date)
  GROUP BY l.player_id, l.source, l.game_date
), rolling AS (
  SELECT game_date, player_id, source, MAX(player_name) OVER recent AS player_name,
         COUNT(*) OVER recent AS games, SUM(lines) OVER recent AS lines,
         SUM(overs) OVER recent AS overs, SUM(unders) OVER recent AS unders,
         SUM(pushes) OVER recent AS pushes, SUM(margin_sum) OVER recent AS margin_sum,
         SUM(margins) OVER recent AS margins
  FROM per_game
  WINDOW recent AS (PARTITION BY player_id, source ORDER BY game_date
                    ROWS BETWEEN {HIT_RATE_GAMES - 1} PRECEDING AND CURRENT ROW)
)
SELECT game_date, player_id, player_name, source, games, lines, overs, unders, pushes,
       overs / (1.0 * lines) AS hit_rate,
       CASE WHEN margins > 0 THEN margin_sum / margins END AS avg_margin,
       CURRENT_TIMESTAMP AS built_at
FROM rolling
WHERE game_date >= @game_date
"""
"""Every day from @game_date on: each player's last games up to that day (one window row per
game day). Only players with a line on or after @game_date can have such a row."""

BOX_SCORE_TABLES = frozenset({"nba_raw.bdl_player_boxscores", "nba_raw.bdl_games"})
PROPS_TABLES = frozenset(
    {"nba_raw.odds_api_player_points_props", "nba_raw.bettingpros_player_points_props"}
)

BUILDS: tuple[Build, ...] = (
    Build(PLAYER_GAME_SUMMARY, BOX_SCORE_TABLES, PLAYER_GAME_SUMMARY_SQL),
    Build(TEAM_GAME_SUMMARY, BOX_SCORE_TABLES, TEAM_GAME_SUMMARY_SQL),
    Build(PLAYER_GAME_LINES, BOX_SCORE_TABLES | PROPS_TABLES, PLAYER_GAME_LINES_SQL),
    Build(
        PLAYER_PROP_RESULTS, BOX_SCORE_TABLES | PROPS_TABLES, PLAYER_PROP_RESULTS_SQL, onwards=True
    ),
)
"""In dependency order: a build may read the tables built before it."""


def builds_reading(source_table: str) -> list[Build]:
    """The builds a load of `source_table` must re-run."""
    return [build for build in BUILDS if source_table in build.reads]


ANALYTICS_TABLES = tuple(build.table for build in BUILDS)
