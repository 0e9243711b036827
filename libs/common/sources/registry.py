"""The one list of scrapers: routing, the CLI, docs and workflow validation all read it."""

from __future__ import annotations

from typing import Any

from libs.common.errors import UnknownScraperError
from libs.common.sources import balldontlie, bettingpros, espn, nbacom, oddsapi
from libs.common.sources.base import Source
from libs.common.tables.raw import LOADED_BY
from libs.common.warehouse.schema import Table

FAMILIES = (
    oddsapi,
    balldontlie,
    bettingpros,
    espn,
    nbacom,
)
"""One line per upstream family module; each module's SOURCES declares its scrapers."""

SOURCES: dict[str, Source[Any]] = {
    source.name: source for family in FAMILIES for source in family.SOURCES
}


def _check_historical(sources: dict[str, Source[Any]]) -> None:
    """A `historical` counterpart must be a registered scraper loading the same table, or a
    gap closed through it would leave the live table's data missing."""
    for source in sources.values():
        if source.historical is None:
            continue
        other = sources.get(source.historical)
        if not source.live_only or other is None or other.table != source.table:
            raise ValueError(
                f"{source.name}: historical='{source.historical}' must name a registered scraper "
                f"that loads {source.table.fqn}, on a source declared live_only=True"
            )


_check_historical(SOURCES)


def _check_tables(sources: dict[str, Source[Any]]) -> None:
    """`tables.raw.LOADED_BY` must say what the sources say, since services that do not
    import the parsers read it instead."""
    declared = {name: source.table for name, source in sources.items()}
    if declared != dict(LOADED_BY):
        differ = sorted(n for n in {*declared, *LOADED_BY} if declared.get(n) != LOADED_BY.get(n))
        raise ValueError(
            f"libs/common/tables/raw.py LOADED_BY disagrees with the sources: {differ}"
        )


_check_tables(SOURCES)


def get_source(name: str) -> Source[Any]:
    """The registered source called `name`, or UnknownScraperError."""
    try:
        return SOURCES[name]
    except KeyError:
        raise UnknownScraperError(name, SOURCES) from None


def raw_tables() -> list[Table]:
    """Every raw table, once (several scrapers may share one)."""
    return list({source.table.fqn: source.table for source in SOURCES.values()}.values())
