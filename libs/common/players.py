"""One player identity across upstreams: the name key both warehouses compute the same way,
the checked-in overrides for spellings no rule reconciles, and the unmatched-names report.

The map itself is an analytics build (`nba_analytics.player_map`, libs/common/analytics.py);
this module holds what the build, the CLI and the dashboard share.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from libs.common.warehouse.base import Row, Warehouse

OVERRIDES_FILE = Path(__file__).resolve().parents[2] / "config" / "player_overrides.yaml"
BOOK_SOURCES = ("oddsapi", "bettingpros")
"""The upstreams whose prop names the map resolves (`player_map.source`)."""

FOLDED = {
    "a": "áàâäãåāăą", "c": "çćč", "d": "ďđ", "e": "éèêëēėęě", "g": "ģ", "i": "íìîïīį",
    "k": "ķ", "l": "ļł", "n": "ñńňņ", "o": "óòôöõøōő", "r": "ŕř", "s": "śšşș", "t": "ťț",
    "u": "úùûüūůű", "y": "ýÿ", "z": "žźż",
}  # fmt: skip
"""Letters (lower case) as books print them without accents: `Dončić` is `Doncic`."""
ACCENTED = "".join(FOLDED.values())
PLAIN = "".join(plain * len(letters) for plain, letters in FOLDED.items())
DELETED = ".,\u2019"
"""Dots of initials (`G.G.`), the comma of `Miličić, Jr.` and curly apostrophes."""
SUFFIXES = ("jr", "sr", "iii", "ii", "iv")
"""Generational suffixes some books drop; dropped as whole words (`Ivey` keeps its `iv`)."""


def name_key_sql(column: str) -> str:
    """SQL for the key a name is matched on, the same on DuckDB and BigQuery.

    Lower case, accents folded, dots, commas, generational suffixes (as words: the name gets
    a trailing space so one at the end is followed by a space too), spaces and hyphens
    dropped, then up to two other non-letters (apostrophes: a literal one is quoted
    differently in the two dialects, so a pattern drops it; DuckDB replaces the first match
    only, hence twice). `name_key` is the same in Python.
    """
    expr = f"concat(translate(lower({column}), '{ACCENTED}{DELETED}', '{PLAIN}'), ' ')"
    for suffix in SUFFIXES:
        expr = f"replace({expr}, ' {suffix} ', ' ')"
    for old in (" ", "-"):
        expr = f"replace({expr}, '{old}', '')"
    for _ in range(2):
        expr = f"regexp_replace({expr}, '[^a-z]', '')"
    return expr


def name_key(name: str) -> str:
    """`name_key_sql` in Python, for the overrides file (its keys are SQL literals of a-z)."""
    key = name.lower().translate(str.maketrans(ACCENTED, PLAIN, DELETED)) + " "
    for suffix in SUFFIXES:
        key = key.replace(f" {suffix} ", " ")
    for old in (" ", "-"):
        key = key.replace(old, "")
    for _ in range(2):
        key = re.sub("[^a-z]", "", key, count=1)
    return key


@dataclass(frozen=True)
class Override:
    """A book's spelling of a player that no rule matches, and the player it means."""

    source: str
    name: str
    player_id: int
    """balldontlie player id."""

    @property
    def key(self) -> str:
        return name_key(self.name)


class OverridesError(ValueError):
    """The overrides file does not validate; the message names the entry, field and fix."""


def _override(index: int, entry: Any, path: Path) -> Override:
    where = f"{path.name}: entry {index}"
    if not isinstance(entry, dict):
        raise OverridesError(f"{where}: expected a mapping with source, name and player_id")
    source, name, player_id = (entry.get(k) for k in ("source", "name", "player_id"))
    if source not in BOOK_SOURCES:
        raise OverridesError(f"{where}: field 'source' must be one of {', '.join(BOOK_SOURCES)}")
    if not isinstance(name, str) or not name_key(name):
        raise OverridesError(f"{where}: field 'name' must be the name as the book prints it")
    if isinstance(player_id, bool) or not isinstance(player_id, int) or player_id <= 0:
        raise OverridesError(
            f"{where}: field 'player_id' must be the player's balldontlie id (a positive integer)"
        )
    return Override(source, name, player_id)


def load_overrides(path: Path = OVERRIDES_FILE) -> tuple[Override, ...]:
    """The checked-in overrides, validated; one (source, name key) at most once."""
    entries = yaml.safe_load(path.read_text()) or []
    if not isinstance(entries, list):
        raise OverridesError(f"{path.name}: expected a list of entries")
    overrides = tuple(_override(i, entry, path) for i, entry in enumerate(entries))
    seen: dict[tuple[str, str], int] = {}
    for i, override in enumerate(overrides):
        first = seen.setdefault((override.source, override.key), i)
        if first != i:
            raise OverridesError(
                f"{path.name}: entry {i}: field 'name' spells the same player as entry {first} "
                f"for {override.source}; keep one of them"
            )
    return overrides


def overrides_sql(overrides: tuple[Override, ...]) -> str:
    """The overrides as a select of (source, name_key, player_id): literals only, so the
    build reads no table for them (a name key is a-z, so it needs no quoting)."""
    rows = [
        f"SELECT '{o.source}' AS source, '{o.key}' AS name_key, {o.player_id} AS player_id"
        for o in overrides
    ]
    none = "SELECT '' AS source, '' AS name_key, 0 AS player_id FROM (SELECT 1 AS x) WHERE FALSE"
    return "\n  UNION ALL ".join(rows or [none])


def unmatched_names(warehouse: Warehouse, start: dt.date, end: dt.date) -> list[Row]:
    """Every prop name of `start`..`end` that matched no player: (game_date, source, name)."""
    return warehouse.query(
        "SELECT game_date, source, name FROM {nba_analytics.player_map} "
        "WHERE game_date BETWEEN @date_from AND @date_to AND player_id IS NULL "
        "ORDER BY game_date, source, name",
        {"date_from": start, "date_to": end},
    )


def unmatched_per_day(warehouse: Warehouse, start: dt.date, end: dt.date) -> dict[dt.date, int]:
    """How many prop names matched no player on each day of `start`..`end` that has any."""
    rows = warehouse.query(
        "SELECT game_date, COUNT(*) AS names FROM {nba_analytics.player_map} "
        "WHERE game_date BETWEEN @date_from AND @date_to AND player_id IS NULL "
        "GROUP BY game_date ORDER BY game_date",
        {"date_from": start, "date_to": end},
    )
    return {row["game_date"]: int(row["names"]) for row in rows}
