"""Small tables for warehouse tests: a keyed raw table and an analytics table built from it."""

from __future__ import annotations

from libs.common.audit import PROCESSED_MESSAGES
from libs.common.warehouse.schema import LINEAGE_COLUMNS, Table, col
from services.scrapers.tables import SCRAPERS_TABLES

SCORES = Table(
    "nba_raw",
    "scores",
    (col("game_date", "DATE", True), col("player_id", "INT64", True), col("pts", "INT64"),
     col("loaded_at", "TIMESTAMP", True)),
    natural_key=("game_date", "player_id"),
)  # fmt: skip
TOTALS = Table("nba_analytics", "totals", (col("game_date", "DATE", True), col("pts", "INT64")))
DOUBLED = Table("nba_analytics", "doubled", (col("game_date", "DATE", True), col("pts", "INT64")))
"""Built from TOTALS in the same rebuild, to check a build reads the one before it."""

BOX = Table(
    "nba_raw",
    "box",
    (col("game_date", "DATE", True), col("player_id", "INT64", True), col("pts", "INT64"),
     *LINEAGE_COLUMNS),
    natural_key=("game_date", "player_id"),
)  # fmt: skip
"""A raw table with lineage: its loads are ordered by the file they came from."""

ORCHESTRATION_TABLES = (*SCRAPERS_TABLES, PROCESSED_MESSAGES)
"""Every nba_orchestration table: the scrapers service's and the push services' work log."""
