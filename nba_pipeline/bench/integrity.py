"""The one pass/fail of the bench: no raw row lost or duplicated."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from libs.common.sources.registry import raw_tables
from libs.common.warehouse.base import Warehouse
from nba_pipeline.replay.season import Season


def duplicated_keys(warehouse: Warehouse) -> list[str]:
    """Raw tables holding two rows with one natural key (an upsert that doubled). Key names are
    left unquoted, so the query means the same on both warehouses (BigQuery reads "k" as a
    string)."""
    problems = []
    for table in raw_tables():
        keys = ", ".join(table.natural_key)
        rows = warehouse.query(
            f"SELECT count(*) AS n FROM (SELECT {keys} FROM {{{table.fqn}}} "
            f"GROUP BY {keys} HAVING count(*) > 1) AS doubled"
        )
        if rows[0]["n"]:
            problems.append(f"{table.fqn}: {rows[0]['n']} natural keys have more than one row")
    return problems


def missing_rows(
    warehouse: Warehouse, season: Season, loaded: Iterable[tuple[str, dt.date]]
) -> list[str]:
    """(state table, date) pairs whose rows differ from what the season says one scrape loads."""
    problems = []
    for table, day in sorted(set(loaded)):
        expected = season.expected_rows(day, day)[table]
        rows = warehouse.query(
            f"SELECT count(*) AS n FROM {{{table}}} WHERE game_date = @day", {"day": day}
        )
        if rows[0]["n"] != expected:
            problems.append(f"{table} {day}: {rows[0]['n']} rows, the season has {expected}")
    return problems
