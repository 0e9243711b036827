"""`GET /props`: the props board, every player line of a date and market on one page.

Rendered server-side from two parameterised queries (the lines with the player's rates, and
the snapshots their movement charts are drawn from), so it costs the same on BigQuery
whatever the number of rows, and needs no script or network beyond the page itself.
"""

from __future__ import annotations

import datetime as dt
import html
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse
from pydantic import AfterValidator

from libs.common.analytics import HIT_RATE_GAMES, props_snapshots
from libs.common.auth import require_admin_identity
from libs.common.deps import ClientsDep
from libs.common.messages import GameDate
from libs.common.sources.props import BY_KEY, MARKET_KEYS, MARKETS
from libs.common.warehouse.base import Row, TableNotFoundError, Warehouse


def check_market(key: str) -> str:
    """`key` if it is a market both books are fetched for; ValueError naming them otherwise."""
    if key not in BY_KEY:
        raise ValueError(f"unknown market; known: {', '.join(MARKET_KEYS)}")
    return key


MarketKey = Annotated[str, AfterValidator(check_market)]
"""A `market` value of the props tables (`props.MARKETS`)."""

SortKey = Literal["player", "book", "open", "close", "movement", "no_vig", "margin", "rate"]

LINES_SQL = """
SELECT l.player_id, l.player_name, l.team_abbr, l.opponent_abbr, l.source, l.bookmaker,
       l.opening_line, l.line, l.movement, l.over_price, l.under_price, l.odds_format,
       l.over_no_vig, l.stat, l.outcome, l.margin, l.minutes_before_tip, l.closing_stale,
       l.line_snapshot_at, r.overs_before, r.lines_before, r.hit_rate_before
FROM {nba_analytics.player_game_lines} l
LEFT JOIN {nba_analytics.player_prop_results} r
  ON r.game_date = l.game_date AND r.player_id = l.player_id AND r.source = l.source
 AND r.market = l.market
WHERE l.game_date = @game_date AND l.market = @market
"""

SNAPSHOTS_SQL = f"""
WITH snapshots AS (
{props_snapshots(" AND market = @market")}
)
SELECT s.source, s.bookmaker, s.player_name, m.player_id, s.snapshot_at, s.line
FROM snapshots s
LEFT JOIN {{nba_analytics.player_map}} m
  ON m.game_date = @game_date AND m.source = s.source AND m.name = s.player_name
ORDER BY s.snapshot_at
"""
"""The snapshots of the lines' players; a name the map did not match has no player_id."""

SORTS: dict[str, Callable[[Row], Any]] = {
    "player": lambda r: r["player_name"],
    "book": lambda r: (r["source"], r["bookmaker"]),
    "open": lambda r: r["opening_line"],
    "close": lambda r: r["line"],
    "movement": lambda r: r["movement"],
    "no_vig": lambda r: r["over_no_vig"],
    "margin": lambda r: r["margin"],
    "rate": lambda r: r["hit_rate_before"],
}
"""What each `sort` value orders the rows by."""

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1f2933;background:#f5f7fa}
header{background:#1f2933;color:#fff;padding:.8rem 1.5rem}header h1{margin:0;font-size:1.3rem}
header p{margin:.2rem 0 0;color:#cbd2d9;font-size:.85rem}main{padding:1rem 1.5rem}
form{margin-bottom:.8rem}table{border-collapse:collapse;background:#fff;box-shadow:0 1px 2px rgba(0,0,0,.08)}
th,td{padding:.3rem .6rem;text-align:left;font-size:.85rem;border-bottom:1px solid #e4e7eb}
th{background:#e4e7eb;font-weight:600}th a{color:inherit}td.num{text-align:right;font-variant-numeric:tabular-nums}
.over{background:#d3f4d6}.under{background:#fbd0d0}.push{background:#e4e7eb}.stale{color:#b44d12}
.up{stroke:#1f7a3a}.down{stroke:#b42318}.flat{stroke:#52606d}.idle{color:#7b8794}
svg.spark polyline{fill:none;stroke-width:1.5}svg.spark circle{stroke:none;fill:#1f2933}
"""

COLUMNS: tuple[tuple[str, SortKey | None], ...] = (
    ("player", "player"),
    ("book", "book"),
    ("open", "open"),
    ("close", "close"),
    ("move", "movement"),
    ("over / under", None),
    ("no-vig over", "no_vig"),
    ("closing taken", None),
    ("result", None),
    ("margin", "margin"),
    (f"over rate, last {HIT_RATE_GAMES} before", "rate"),
    ("line movement", None),
)
"""The board's headers and the sort each one links to."""


@dataclass(frozen=True)
class Board:
    """What one page shows: the lines of a date and market, and the snapshots behind them."""

    day: dt.date
    market: str
    lines: list[Row]
    snapshots: list[Row]


def load(warehouse: Warehouse, day: dt.date, market: str) -> Board:
    """The board's two queries."""
    params = {"game_date": day, "market": market}
    lines = warehouse.query(LINES_SQL, params)
    try:
        snapshots = warehouse.query(SNAPSHOTS_SQL, params)
    except TableNotFoundError:  # the processors service never started: no raw props table
        snapshots = []
    return Board(day, market, lines, snapshots)


def ordered(rows: Sequence[Row], sort: SortKey, desc: bool) -> list[Row]:
    """`rows` by `sort` (ties by player and book), rows without a value last either way."""
    rows = sorted(rows, key=lambda r: (r["player_name"], r["source"], r["bookmaker"]))
    key = SORTS[sort]
    present = [r for r in rows if key(r) is not None]
    return sorted(present, key=key, reverse=desc) + [r for r in rows if key(r) is None]


def sparkline(
    points: Sequence[tuple[dt.datetime, float]], width: int = 120, height: int = 28
) -> str:
    """Inline SVG of a line over time: x by snapshot time, y by line, a dot at the close.
    x is measured back from the close at the right edge, so snapshots of one moment (a line
    of one snapshot) sit there too."""
    if not points:
        return '<span class="idle">-</span>'
    start, end = points[0][0], points[-1][0]
    span = (end - start).total_seconds()
    low, high = min(p[1] for p in points), max(p[1] for p in points)
    pad = 3

    def xy(at: dt.datetime, line: float) -> str:
        before_close = (end - at).total_seconds() / span if span else 0.0
        x = width - pad - (width - 2 * pad) * before_close
        y = height / 2 if high == low else pad + (height - 2 * pad) * (high - line) / (high - low)
        return f"{x:.1f},{y:.1f}"

    coords = [xy(at, line) for at, line in points]
    moved = points[-1][1] - points[0][1]
    trend = "up" if moved > 0 else "down" if moved < 0 else "flat"
    title = " → ".join(f"{line:g} ({at:%H:%M})" for at, line in points) + " UTC"
    last_x, last_y = coords[-1].split(",")
    return (
        f'<svg class="spark" data-points="{len(points)}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img"><title>{html.escape(title)}</title>'
        f'<polyline class="{trend}" points="{" ".join(coords)}"/>'
        f'<circle cx="{last_x}" cy="{last_y}" r="2.5"/></svg>'
    )


def movement_points(board: Board) -> dict[tuple[Any, ...], list[tuple[dt.datetime, float]]]:
    """Per (source, bookmaker, player_id): its snapshots' lines, in time order."""
    points: dict[tuple[Any, ...], list[tuple[dt.datetime, float]]] = defaultdict(list)
    for s in board.snapshots:
        if s["player_id"] is not None and s["line"] is not None:
            points[(s["source"], s["bookmaker"], s["player_id"])].append(
                (s["snapshot_at"], float(s["line"]))
            )
    return points


def number(value: float | None, template: str = "{:g}") -> str:
    return "-" if value is None else template.format(value)


def price(value: float | None, odds_format: str | None) -> str:
    """A price as the book prints it: american with its sign, decimal with two places."""
    if value is None:
        return "-"
    return f"{value:+.0f}" if odds_format == "american" else f"{value:.2f}"


def cell(column: str, text: str, css: str = "") -> str:
    """A `<td>` of already escaped `text`."""
    return f'<td class="{css}" data-col="{column}">{text}</td>'


def with_note(text: Any, note: str) -> str:
    """`text` and a greyed `note`, both escaped."""
    return f'{html.escape(str(text))} <span class="idle">{html.escape(note)}</span>'


def line_row(line: Row, points: list[tuple[dt.datetime, float]]) -> str:
    """One line of the board; its chart runs from the opening to the closing snapshot."""
    closing = line["line_snapshot_at"]
    shown = [p for p in points if closing is None or p[0] <= closing]
    rate = (
        "-"
        if line["hit_rate_before"] is None
        else f"{line['hit_rate_before']:.0%} ({line['overs_before']}/{line['lines_before']})"
    )
    minutes = line["minutes_before_tip"]
    taken = "tip-off unknown" if minutes is None else f"{minutes} min before tip"
    prices = " / ".join(price(line[k], line["odds_format"]) for k in ("over_price", "under_price"))
    outcome = html.escape(line["outcome"])
    return (
        f'<tr data-player="{html.escape(line["player_name"])}" '
        f'data-book="{html.escape(line["source"])}/{html.escape(line["bookmaker"])}">'
        + cell(
            "player",
            with_note(line["player_name"], f"{line['team_abbr']} v {line['opponent_abbr']}"),
        )
        + cell("book", with_note(line["bookmaker"], line["source"]))
        + cell("open", number(line["opening_line"]), "num")
        + cell("close", number(line["line"]), "num")
        + cell("movement", number(line["movement"], "{:+g}"), "num")
        + cell("prices", prices, "num")
        + cell("no_vig", number(line["over_no_vig"], "{:.1%}"), "num")
        + cell("taken", taken, "stale" if line["closing_stale"] else "")
        + cell("result", f"{number(line['stat'])} {outcome}", outcome)
        + cell("margin", number(line["margin"], "{:+g}"), "num")
        + cell("rate", rate, "num")
        + cell("chart", sparkline(shown))
        + "</tr>"
    )


def why_empty(board: Board) -> str:
    """Why a date and market has no line: nothing captured, or captured but not scored yet."""
    label = BY_KEY[board.market].label.lower()
    if not board.snapshots:
        return (
            f"No {label} props were captured for {board.day}: no games that day, or neither "
            "book was scraped for it (props captures on a game day, <code>nba-pipeline "
            "backfill</code> for a past one)."
        )
    names = {(s["source"], s["player_name"]): s["player_id"] for s in board.snapshots}
    unmatched = sum(player_id is None for player_id in names.values())
    return (
        f"{len(board.snapshots)} {label} snapshots were captured for {board.day}, but no line "
        "is scored yet: a line is scored once the player's box score is loaded (after the "
        f"game) and the book's name matched a player; {unmatched} of the {len(names)} names "
        "matched none (<code>nba-pipeline players unmatched</code> lists them)."
    )


def header(board: Board, sort: SortKey, desc: bool) -> str:
    """The header row; each sortable header links to the board sorted by it (again: reversed)."""
    cells = []
    for title, key in COLUMNS:
        if key is None:
            cells.append(f"<th>{html.escape(title)}</th>")
            continue
        again = key == sort
        query = {"date": board.day, "market": board.market, "sort": key}
        if again and not desc:
            query["desc"] = "true"
        arrow = (" ▼" if desc else " ▲") if again else ""
        cells.append(
            f'<th data-sort="{key}"><a href="?{html.escape(urlencode(query))}">'
            f"{html.escape(title)}{arrow}</a></th>"
        )
    return "<tr>" + "".join(cells) + "</tr>"


def picker(board: Board) -> str:
    """A form to open another date or market."""
    options = "".join(
        f'<option value="{m.key}"{" selected" if m.key == board.market else ""}>'
        f"{html.escape(m.label)}</option>"
        for m in MARKETS
    )
    return (
        f'<form method="get"><input type="date" name="date" value="{board.day}"> '
        f'<select name="market">{options}</select> <button>show</button></form>'
    )


def render(board: Board, sort: SortKey, desc: bool) -> str:
    """The HTML page."""
    label = BY_KEY[board.market].label
    if board.lines:
        points = movement_points(board)
        rows = "".join(
            line_row(line, points[(line["source"], line["bookmaker"], line["player_id"])])
            for line in ordered(board.lines, sort, desc)
        )
        body = f'<table id="lines">{header(board, sort, desc)}{rows}</table>'
    else:
        body = f'<p id="no-lines">{why_empty(board)}</p>'
    return f"""<!doctype html><html><head><meta charset="utf-8">
<title>{html.escape(label)} props, {board.day}</title><style>{STYLE}</style></head><body>
<header><h1>{html.escape(label)} props, {board.day}</h1><p>{len(board.lines)} lines: each
book's opening and closing line (the last snapshot before tip-off), the no-vig probability of
the over at the close, the result, and the player's over rate over his last {HIT_RATE_GAMES}
games before this one. Closing times in orange are stale.</p></header><main>
{picker(board)}{body}</main></body></html>"""


router = APIRouter(tags=["props board"], dependencies=[Depends(require_admin_identity)])


@router.get("/props", response_class=HTMLResponse, summary="Every player line of a date and market")
def props_board(
    clients: ClientsDep,
    date: GameDate,
    market: MarketKey = "player_points",
    sort: SortKey = "player",
    desc: bool = False,
) -> HTMLResponse:
    """The board of `date` and `market`, sorted by `sort` (descending with `desc`)."""
    return HTMLResponse(render(load(clients.warehouse, date, market), sort, desc))
