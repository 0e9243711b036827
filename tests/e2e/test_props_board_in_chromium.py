"""The props board of the running analytics service rendered by headless Chromium.

The screenshot is kept as test-artifacts/props-board.png (git-ignored) for a person to look at.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest

from nba_pipeline.stack import LocalStack
from tests.e2e.test_dashboard import ARTIFACTS, chromium
from tests.utils.props import fill_two_days

pytestmark = pytest.mark.e2e

DAY = dt.date(2025, 8, 14)
"""Off-season: no other test loads rows of this day or after it."""


def lines_on_page(dom: str) -> list[tuple[str, str, str]]:
    """(player, book, closing line) of each row, in page order."""
    return [
        (player, book, close)
        for player, book, close in re.findall(
            r'<tr data-player="([^"]+)" data-book="([^"]+)">.*?data-col="close">([^<]*)<', dom, re.S
        )
    ]


def test_props_board_in_chromium(stack: LocalStack) -> None:
    assert stack.clients is not None
    warehouse = stack.clients.warehouse
    fill_two_days(warehouse, DAY)
    stored = warehouse.query(
        "SELECT player_name, source, bookmaker, line, opening_line FROM "
        "{nba_analytics.player_game_lines} WHERE game_date = @d AND market = 'player_points'",
        {"d": DAY},
    )
    board = f"{stack.url('analytics')}/props?date={DAY}&market=player_points"

    dom = chromium("--dump-dom", board).stdout
    by_close = chromium("--dump-dom", f"{board}&sort=close&desc=true").stdout
    empty = chromium("--dump-dom", f"{board.replace(str(DAY), '2025-08-01')}").stdout
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "props-board.png"
    shot.unlink(missing_ok=True)
    chromium(f"--screenshot={shot}", board)

    expected = sorted(
        (r["player_name"], f"{r['source']}/{r['bookmaker']}", f"{r['line']:g}") for r in stored
    )
    assert len(expected) == 3
    assert lines_on_page(dom) == expected, "every line of the day, by player"
    assert [close for *_, close in lines_on_page(by_close)] == sorted(
        (close for *_, close in expected), key=float, reverse=True
    )
    tatum = re.search(r'<tr data-player="Jayson Tatum".*?</tr>', dom, re.S)
    assert tatum is not None
    assert 'data-col="open">27.5<' in tatum[0] and 'data-col="movement">+2<' in tatum[0]
    assert '<svg class="spark" data-points="3"' in tatum[0], "the movement chart, open to close"
    assert "No points props were captured for 2025-08-01" in empty
    assert shot.stat().st_size > 10_000, "a rendered page, not a blank image"
