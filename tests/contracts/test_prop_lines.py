"""The closing line's timing on both warehouses: they subtract timestamps to intervals that
carry days differently (DuckDB in a day part, BigQuery in hours), and a closing snapshot can
be days before tip-off, or after it when no snapshot before it exists."""

from __future__ import annotations

import datetime as dt
from typing import Any

from libs.common.analytics import ANALYTICS_TABLES, BUILDS
from libs.common.sources.registry import get_source, raw_tables
from libs.common.warehouse.base import Warehouse
from tests.utils.props import DAY, TIP, box, prop


def test_minutes_before_tip_and_staleness_agree_on_both_warehouses(warehouse: Warehouse) -> None:
    warehouse.ensure_tables([*raw_tables(), *ANALYTICS_TABLES])
    warehouse.upsert(
        get_source("bdl_box_scores").table, [box(1, "Jayson Tatum", "BOS", "NYK", 30, True)]
    )
    snapshots = {
        "draftkings": [TIP - dt.timedelta(minutes=5, seconds=40), TIP + dt.timedelta(minutes=1)],
        "fanduel": [TIP - dt.timedelta(days=2, hours=3, minutes=7, seconds=30)],
        "betmgm": [TIP + dt.timedelta(minutes=10), TIP + dt.timedelta(hours=2)],
    }
    warehouse.upsert(get_source("oddsa_player_props").table, [
        prop(book, "Jayson Tatum", 29.5 + n, at, f"f{book}{n}")
        for book, moments in snapshots.items()
        for n, at in enumerate(moments)
    ])  # fmt: skip
    warehouse.rebuild([build.target for build in BUILDS], {"game_date": DAY})
    rows = warehouse.query(
        "SELECT bookmaker, line, minutes_before_tip, closing_stale "
        "FROM {nba_analytics.player_game_lines}"
    )
    got: dict[str, Any] = {
        r["bookmaker"]: (r["line"], r["minutes_before_tip"], r["closing_stale"]) for r in rows
    }
    assert got == {
        "draftkings": (29.5, 5, False),  # its snapshot after tip-off is not a line
        "fanduel": (29.5, 2 * 1440 + 3 * 60 + 7, True),
        "betmgm": (29.5, -10, True),  # none before tip-off: the first after it, flagged
    }
