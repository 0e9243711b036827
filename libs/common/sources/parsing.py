"""Small helpers parsers share, so every malformed body fails the same clear way."""

from __future__ import annotations

import datetime as dt
from typing import Any

from libs.common.clock import eastern_date
from libs.common.sources.base import ParseContext, ParseError, Row


def need(obj: Any, key: str, scraper: str, where: str = "") -> Any:
    """`obj[key]`, or a ParseError naming the scraper and the dotted field path."""
    path = f"{where}.{key}" if where else key
    if not isinstance(obj, dict):
        raise ParseError(
            scraper, where or "<body>", f"expected an object, got {type(obj).__name__}"
        )
    if key not in obj:
        raise ParseError(scraper, path, "missing")
    return obj[key]


def need_list(obj: Any, key: str, scraper: str, where: str = "") -> list[Any]:
    """`obj[key]` that must be a list."""
    value = need(obj, key, scraper, where)
    if not isinstance(value, list):
        path = f"{where}.{key}" if where else key
        raise ParseError(scraper, path, f"expected a list, got {type(value).__name__}")
    return value


def lineage(ctx: ParseContext) -> Row:
    """The lineage columns every raw row ends with."""
    return {
        "execution_id": ctx.execution_id,
        "source_file": ctx.source_file,
        "loaded_at": dt.datetime.now(dt.UTC),
        "fetched_at": ctx.fetched_at,
    }


def snapshot_date(ctx: ParseContext) -> dt.date:
    """A snapshot's day (a roster, an injury report): the run's date when it names one, else
    the US Eastern day it was fetched."""
    return ctx.game_date or eastern_date(ctx.fetched_at)


def parse_date(value: str, scraper: str, path: str) -> dt.date:
    """An ISO date (or the date part of an ISO timestamp)."""
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError as exc:
        raise ParseError(scraper, path, f"not a date: {value!r}") from exc


def parse_timestamp(value: str, scraper: str, path: str) -> dt.datetime:
    """An ISO-8601 timestamp, `Z` allowed; naive values are taken as UTC."""
    try:
        parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise ParseError(scraper, path, f"not a timestamp: {value!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def int_or_none(value: Any, scraper: str, path: str) -> int | None:
    """An integer given as a number or as digits; None or "" is NULL, anything else fails."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ParseError(scraper, path, f"expected an integer, got {value!r}")
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise ParseError(scraper, path, f"expected an integer, got {value!r}") from exc


def need_int(obj: Any, key: str, scraper: str, where: str) -> int:
    """`obj[key]` that must be an integer (digits allowed), never null."""
    value = int_or_none(need(obj, key, scraper, where), scraper, f"{where}.{key}")
    if value is None:
        raise ParseError(scraper, f"{where}.{key}", "null")
    return value
