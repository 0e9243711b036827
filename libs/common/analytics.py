"""Analytics tables, the raw tables each reads, and the SQL that rebuilds one game date.

Declared in the shared library so every service can name and count them; only the analytics
service builds them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator

from libs.common.players import load_overrides, name_key_sql, overrides_sql
from libs.common.sources.props import CLOSING_LINE_MAX_AGE_MINUTES, MARKETS
from libs.common.warehouse.base import RebuildTarget
from libs.common.warehouse.schema import Table, col

MAX_AGE = "{closing_line_max_age_minutes}"
"""Where a build's SQL takes the closing-line age limit (`Build.target_for`)."""


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

    def target_for(self, closing_line_max_age_minutes: int) -> RebuildTarget:
        """What the warehouse rebuilds for this build, with the configured closing-line limit."""
        sql = self.select_sql.replace(MAX_AGE, str(int(closing_line_max_age_minutes)))
        return RebuildTarget(self.table, sql, self.onwards)

    @property
    def target(self) -> RebuildTarget:
        """`target_for` the default closing-line limit."""
        return self.target_for(CLOSING_LINE_MAX_AGE_MINUTES)


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
    derived=True,
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


PLAYER_MAP = Table(
    "nba_analytics",
    "player_map",
    (
        col("game_date", "DATE", True),
        col("source", "STRING", True, "balldontlie (the box score) | oddsapi | bettingpros"),
        col("name", "STRING", True, "the player's name as that source prints it"),
        col("player_id", "INT64", description="balldontlie player id; NULL: matched no player"),
        col("nba_person_id", "INT64", description="NBA.com person id, from its team rosters"),
        col("player_name", "STRING", description="the player's balldontlie name"),
        col(
            "team_abbr", "STRING", description="his team in the day's box score, else balldontlie's"
        ),
        col("matched_by", "STRING", description="box score | override | name; NULL if unmatched"),
        col("built_at", "TIMESTAMP", True),
    ),
    natural_key=("game_date", "source", "name"),
    partition_column="game_date",
    description="Per day, every name a box score or a book used for a player, and who he is.",
    derived=True,
)

PLAYER_MAP_SQL = f"""
WITH played AS (
  SELECT player_id, MAX(player_name) AS player_name, MAX(team_abbr) AS team_abbr
  FROM {{nba_raw.bdl_player_boxscores}}
  WHERE game_date = @game_date
  GROUP BY player_id
), known AS (
  SELECT player_id, player_name, team_abbr, 0 AS tier FROM played
  UNION ALL
  SELECT player_id, TRIM(CONCAT(COALESCE(first_name, ''), ' ', COALESCE(last_name, ''))),
         team_abbr, 1
  FROM {{nba_raw.bdl_players}}
  WHERE player_id NOT IN (SELECT player_id FROM played)
), keyed AS (
  SELECT player_id, player_name, team_abbr, tier, {name_key_sql("player_name")} AS name_key
  FROM known
), per_tier AS (
  SELECT name_key, tier, COUNT(DISTINCT player_id) AS players, MIN(player_id) AS player_id,
         ROW_NUMBER() OVER (PARTITION BY name_key ORDER BY tier) AS pick
  FROM keyed
  GROUP BY name_key, tier
), by_key AS (
  SELECT name_key, CASE WHEN players = 1 THEN player_id END AS player_id
  FROM per_tier
  WHERE pick = 1
), nba AS (
  SELECT player_id AS nba_person_id, team_tricode, {name_key_sql("player")} AS name_key,
         ROW_NUMBER() OVER (PARTITION BY player_id ORDER BY roster_date DESC, source_file DESC)
           AS latest
  FROM {{nba_raw.nbac_team_roster}}
), nba_link AS (
  SELECT k.player_id, n.nba_person_id,
         ROW_NUMBER() OVER (PARTITION BY k.player_id
                            ORDER BY CASE WHEN n.team_tricode = k.team_abbr THEN 0 ELSE 1 END,
                                     n.nba_person_id) AS pick,
         COUNT(*) OVER (PARTITION BY k.player_id) AS people,
         SUM(CASE WHEN n.team_tricode = k.team_abbr THEN 1 ELSE 0 END)
           OVER (PARTITION BY k.player_id) AS same_team
  FROM keyed k
  JOIN nba n ON n.name_key = k.name_key AND n.latest = 1
), book_names AS (
  SELECT DISTINCT 'oddsapi' AS source, player_name AS name
  FROM {{nba_raw.odds_api_player_points_props}}
  WHERE game_date = @game_date
  UNION ALL
  SELECT DISTINCT 'bettingpros', player_name
  FROM {{nba_raw.bettingpros_player_points_props}}
  WHERE game_date = @game_date
), overrides AS (
  {overrides_sql(load_overrides())}
), resolved AS (
  SELECT b.source, b.name, COALESCE(o.player_id, k.player_id) AS player_id,
         CASE WHEN o.player_id IS NOT NULL THEN 'override'
              WHEN k.player_id IS NOT NULL THEN 'name' END AS matched_by
  FROM book_names b
  LEFT JOIN overrides o ON o.source = b.source AND o.name_key = {name_key_sql("b.name")}
  LEFT JOIN by_key k ON k.name_key = {name_key_sql("b.name")}
  UNION ALL
  SELECT 'balldontlie', player_name, player_id, 'box score' FROM played
)
SELECT @game_date AS game_date, r.source, r.name, r.player_id, l.nba_person_id,
       k.player_name, k.team_abbr, r.matched_by, CURRENT_TIMESTAMP AS built_at
FROM resolved r
LEFT JOIN keyed k ON k.player_id = r.player_id
LEFT JOIN nba_link l ON l.player_id = r.player_id AND l.pick = 1
                    AND (l.people = 1 OR l.same_team = 1)
"""
"""A book's name is a player if a checked-in override says so, else if one player of the
day's box scores has its name key, else (no box-score player has it) if one balldontlie
player does; two players sharing the key leave it unmatched. The NBA.com person id is the
one NBA.com roster player with the key, or the one of them on his team."""


def decimal_price(price: str, odds_format: str) -> str:
    """SQL: a price as decimal odds, whichever format the book gave it in (NULL if invalid)."""
    return (
        f"CASE WHEN {odds_format} = 'decimal' AND {price} > 1 THEN {price} "
        f"WHEN {odds_format} = 'american' AND {price} >= 100 THEN 1 + {price} / 100 "
        f"WHEN {odds_format} = 'american' AND {price} <= -100 THEN 1 - 100 / {price} END"
    )


def minutes_between(earlier: str, later: str) -> str:
    """SQL: whole minutes from `earlier` to `later`. Both dialects subtract timestamps to an
    interval; DuckDB carries whole days in its day part, BigQuery in its hours."""
    parts = (("DAY", 1440), ("HOUR", 60), ("MINUTE", 1))
    return " + ".join(f"EXTRACT({part} FROM {later} - {earlier}) * {n}" for part, n in parts)


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
        col("line", "FLOAT64", True, "closing line: the last snapshot at or before tip-off"),
        col("over_price", "FLOAT64", description="price as the book gave it (see odds_format)"),
        col("under_price", "FLOAT64"),
        col("odds_format", "STRING", description="american | decimal"),
        col("line_snapshot_at", "TIMESTAMP", description="snapshot the closing line comes from"),
        col("points", "INT64", description="points the player scored"),
        col("outcome", "STRING", True, "over | under | push: the market's stat against the line"),
        col("margin", "FLOAT64", description="the market's stat minus the line"),
        col("market", "STRING", True, "Odds API market key, e.g. player_points (props.MARKETS)"),
        col("stat", "INT64", description="the market's stat in the box score"),
        col(
            "minutes_before_tip",
            "INT64",
            description="how long before tip-off the closing snapshot was taken (negative: "
            "after it); NULL: tip-off unknown",
        ),
        col(
            "closing_stale",
            "BOOL",
            description="the closing snapshot was taken more than CLOSING_LINE_MAX_AGE_MINUTES "
            "before tip-off, or after it (no snapshot before it)",
        ),
        col("opening_line", "FLOAT64", description="line of the first snapshot"),
        col("opening_over_price", "FLOAT64"),
        col("opening_under_price", "FLOAT64"),
        col("opening_snapshot_at", "TIMESTAMP"),
        col("movement", "FLOAT64", description="closing minus opening line"),
        col(
            "over_no_vig",
            "FLOAT64",
            description="closing probability of the over, the book's margin taken out of the over/under pair",
        ),
        col("opening_over_no_vig", "FLOAT64", description="the same at the opening snapshot"),
        col(
            "over_clv",
            "FLOAT64",
            description="closing-line value of an over taken at the opening price: over_no_vig x opening decimal price - 1; NULL when the line moved",
        ),
        col("under_clv", "FLOAT64", description="the same for an under"),
        col("built_at", "TIMESTAMP", True),
    ),
    natural_key=("game_date", "player_id", "source", "bookmaker", "market"),
    partition_column="game_date",
    description="Each player-game with every book's opening and closing line per market, the "
    "movement and no-vig price, and whether he beat it.",
    derived=True,
)

SNAPSHOTS_SQL = """
  SELECT '{source}' AS source, event_id, bookmaker, market, player_name, line, over_price,
         under_price, odds_format, snapshot_at, commence_time
  FROM {table}
  WHERE game_date = @game_date{extra}"""


def props_snapshots(extra: str = "") -> str:
    """SQL: every props snapshot of @game_date from both books (BettingPros: its consensus
    line), `extra` added to each book's WHERE, so the lines and the props board read the same."""
    return "\n  UNION ALL\n".join(
        SNAPSHOTS_SQL.format(source=source, table=table, extra=more + extra)
        for source, table, more in (
            ("oddsapi", "{nba_raw.odds_api_player_points_props}", ""),
            (
                "bettingpros",
                "{nba_raw.bettingpros_player_points_props}",
                " AND bookmaker = 'consensus'",
            ),
        )
    )


STAT_SQL = "CASE c.market {} END".format(
    " ".join(
        f"WHEN '{market.key}' THEN {' + '.join(f'p.{column}' for column in market.stat)}"
        for market in MARKETS
    )
)
"""The box-score stat a line of each market is scored against."""

PLAYER_GAME_LINES_SQL = f"""
WITH snapshots AS (
{props_snapshots()}
), tips AS (
  SELECT source, event_id, commence_time AS tip
  FROM (SELECT source, event_id, commence_time,
               ROW_NUMBER() OVER (PARTITION BY source, event_id ORDER BY snapshot_at DESC)
                 AS latest
        FROM snapshots
        WHERE commence_time IS NOT NULL) t
  WHERE latest = 1
), priced AS (
  SELECT s.*, t.tip, {decimal_price("s.over_price", "s.odds_format")} AS over_decimal,
         {decimal_price("s.under_price", "s.odds_format")} AS under_decimal,
         t.tip IS NULL OR s.snapshot_at <= t.tip AS pregame
  FROM snapshots s
  LEFT JOIN tips t ON t.source = s.source AND t.event_id = s.event_id
), ranked AS (
  SELECT *, under_decimal / (over_decimal + under_decimal) AS over_no_vig,
         ROW_NUMBER() OVER (PARTITION BY source, bookmaker, market, player_name
                            ORDER BY snapshot_at, line) AS from_first,
         ROW_NUMBER() OVER (PARTITION BY source, bookmaker, market, player_name
                            ORDER BY CASE WHEN pregame THEN 0 ELSE 1 END,
                                     CASE WHEN pregame THEN snapshot_at END DESC,
                                     snapshot_at, line) AS from_last
  FROM priced
), scored AS (
  SELECT p.game_date, p.game_id, p.player_id, p.player_name, p.team_abbr, p.opponent_abbr,
         p.points, c.source, c.bookmaker, c.market, c.line, c.over_price, c.under_price,
         c.odds_format, c.snapshot_at, c.tip, c.over_no_vig, o.line AS opening_line,
         o.over_price AS opening_over_price, o.under_price AS opening_under_price,
         o.snapshot_at AS opening_snapshot_at, o.over_no_vig AS opening_over_no_vig,
         o.over_decimal AS opening_over_decimal, o.under_decimal AS opening_under_decimal,
         {STAT_SQL} AS stat
  FROM ranked c
  JOIN ranked o ON o.source = c.source AND o.bookmaker = c.bookmaker AND o.market = c.market
               AND o.player_name = c.player_name AND o.from_first = 1
  JOIN {{nba_analytics.player_map}} m
    ON m.game_date = @game_date AND m.source = c.source AND m.name = c.player_name
  JOIN {{nba_analytics.player_game_summary}} p
    ON p.game_date = @game_date AND p.player_id = m.player_id
  WHERE c.from_last = 1
), timed AS (
  SELECT *, CASE WHEN tip IS NOT NULL THEN {minutes_between("snapshot_at", "tip")} END
              AS minutes_before_tip
  FROM scored
  WHERE stat IS NOT NULL
)
SELECT game_date, game_id, player_id, player_name, team_abbr, opponent_abbr, source, bookmaker,
       line, over_price, under_price, odds_format, snapshot_at AS line_snapshot_at, points,
       CASE WHEN stat > line THEN 'over' WHEN stat < line THEN 'under' ELSE 'push' END
         AS outcome,
       stat - line AS margin, market, stat, minutes_before_tip,
       minutes_before_tip NOT BETWEEN 0 AND {MAX_AGE} AS closing_stale, opening_line,
       opening_over_price,
       opening_under_price, opening_snapshot_at, line - opening_line AS movement, over_no_vig,
       opening_over_no_vig,
       CASE WHEN opening_line = line THEN over_no_vig * opening_over_decimal - 1 END AS over_clv,
       CASE WHEN opening_line = line THEN (1 - over_no_vig) * opening_under_decimal - 1 END
         AS under_clv,
       CURRENT_TIMESTAMP AS built_at
FROM timed
"""
"""Per (player, market, book): the opening line is the first snapshot, the closing one the
last at or before tip-off (the event's latest known `commence_time`; the last snapshot when
none is known). Without a snapshot before tip-off, the first after it closes (a BettingPros
backfill can only fetch after the game), flagged stale. Names go through the player map."""

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
    derived=True,
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
        col("game_date", "DATE", True, "the day the rates are as of"),
        col("player_id", "INT64", True),
        col("player_name", "STRING", True),
        col("source", "STRING", True),
        col(
            "games",
            "INT64",
            True,
            f"games with a line among the player's last {HIT_RATE_GAMES}, the day included",
        ),
        col("lines", "INT64", True, "closing lines over those games (one per bookmaker)"),
        col("overs", "INT64", True),
        col("unders", "INT64", True),
        col("pushes", "INT64", True),
        col("hit_rate", "FLOAT64", True, "overs / lines"),
        col("avg_margin", "FLOAT64", description="mean of the stat minus the line"),
        col("market", "STRING", True, "Odds API market key, e.g. player_points"),
        col(
            "games_before",
            "INT64",
            description=f"games with a line among his last {HIT_RATE_GAMES} strictly before the day: known before tip-off",
        ),
        col("lines_before", "INT64", description="closing lines over those games"),
        col("overs_before", "INT64"),
        col("unders_before", "INT64"),
        col("pushes_before", "INT64"),
        col(
            "hit_rate_before",
            "FLOAT64",
            description="overs_before / lines_before; NULL before his first line",
        ),
        col("avg_margin_before", "FLOAT64"),
        col("built_at", "TIMESTAMP", True),
    ),
    natural_key=("game_date", "player_id", "source", "market"),
    partition_column="game_date",
    description=f"Per day, each player who played, per market: how often he beat his closing line over his last {HIT_RATE_GAMES} games, with and without the day.",
    derived=True,
)

TOTALS = ("lines", "overs", "unders", "pushes", "margin_sum", "margins")


def window_totals(window: str, suffix: str) -> str:
    """SQL: games and the per-game totals summed over a named window, columns `<name><suffix>`."""
    sums = (f"COALESCE(SUM({t}) OVER {window}, 0) AS {t}{suffix}" for t in TOTALS)
    return ",\n         ".join((f"COUNT(*) OVER {window} AS games{suffix}", *sums))


PLAYER_PROP_RESULTS_SQL = f"""
WITH per_game AS (
  SELECT l.player_id, l.source, l.market, l.game_date, MAX(l.player_name) AS player_name,
         COUNT(*) AS lines,
         SUM(CASE WHEN l.outcome = 'over' THEN 1 ELSE 0 END) AS overs,
         SUM(CASE WHEN l.outcome = 'under' THEN 1 ELSE 0 END) AS unders,
         SUM(CASE WHEN l.outcome = 'push' THEN 1 ELSE 0 END) AS pushes,
         SUM(l.margin) AS margin_sum, COUNT(l.margin) AS margins
  FROM {{nba_analytics.player_game_lines}} l
  WHERE EXISTS (SELECT 1 FROM {{nba_analytics.player_game_lines}} x
                WHERE x.player_id = l.player_id AND x.source = l.source
                  AND x.market = l.market AND x.game_date >= @game_date)
  GROUP BY l.player_id, l.source, l.market, l.game_date
), rolling AS (
  SELECT game_date, player_id, source, market, MAX(player_name) OVER recent AS player_name,
         {window_totals("recent", "")},
         {window_totals("earlier", "_before")}
  FROM per_game
  WINDOW recent AS (PARTITION BY player_id, source, market ORDER BY game_date
                    ROWS BETWEEN {HIT_RATE_GAMES - 1} PRECEDING AND CURRENT ROW),
         earlier AS (PARTITION BY player_id, source, market ORDER BY game_date
                     ROWS BETWEEN {HIT_RATE_GAMES} PRECEDING AND 1 PRECEDING)
)
SELECT game_date, player_id, player_name, source, games, lines, overs, unders, pushes,
       overs / (1.0 * lines) AS hit_rate,
       CASE WHEN margins > 0 THEN margin_sum / margins END AS avg_margin,
       market, games_before, lines_before, overs_before, unders_before, pushes_before,
       CASE WHEN lines_before > 0 THEN overs_before / (1.0 * lines_before) END AS hit_rate_before,
       CASE WHEN margins_before > 0 THEN margin_sum_before / margins_before END
         AS avg_margin_before,
       CURRENT_TIMESTAMP AS built_at
FROM rolling
WHERE game_date >= @game_date
"""
"""Every day from @game_date on: each player's last games per market up to that day (one
window row per game day), the day included and not. Only players with a line of that market
on or after @game_date can have such a row."""

BOX_SCORE_TABLES = frozenset({"nba_raw.bdl_player_boxscores", "nba_raw.bdl_games"})
PROPS_TABLES = frozenset(
    {"nba_raw.odds_api_player_points_props", "nba_raw.bettingpros_player_points_props"}
)
PLAYER_TABLES = frozenset(
    {"nba_raw.bdl_player_boxscores", "nba_raw.bdl_players", "nba_raw.nbac_team_roster"}
)
"""Where players and their ids come from. A load of the undated `bdl_players` (or of a roster
scraped without a date) rebuilds nothing: the map reads them as they are when a date's box
scores or props load (they are scraped in the morning, before either)."""

BUILDS: tuple[Build, ...] = (
    Build(PLAYER_GAME_SUMMARY, BOX_SCORE_TABLES, PLAYER_GAME_SUMMARY_SQL),
    Build(TEAM_GAME_SUMMARY, BOX_SCORE_TABLES, TEAM_GAME_SUMMARY_SQL),
    Build(PLAYER_MAP, PLAYER_TABLES | PROPS_TABLES, PLAYER_MAP_SQL),
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


def analytics_table(fqn: str) -> Table:
    """The declared analytics table named `fqn`; ValueError naming them all otherwise, so an
    export (the CLI and the endpoint it reads) reads only tables whose columns are known."""
    for table in ANALYTICS_TABLES:
        if table.fqn == fqn:
            return table
    raise ValueError(
        f"not an analytics table; one of: {', '.join(t.fqn for t in ANALYTICS_TABLES)}"
    )


AnalyticsTableName = Annotated[str, AfterValidator(lambda fqn: analytics_table(fqn).fqn)]
"""A parameter naming a declared analytics table (a 422 lists them otherwise)."""


def export_sql(table: Table) -> str:
    """SQL: one game date of an analytics table, its declared columns in order, by its key."""
    return (
        f"SELECT {', '.join(table.column_names)} FROM {{{table.fqn}}} "
        f"WHERE game_date = @game_date ORDER BY {', '.join(table.natural_key)}"
    )
