"""The one list of scrapers: routing, the CLI, docs and workflow validation all read it."""

from __future__ import annotations

from libs.common.errors import PipelineError
from libs.common.sources import balldontlie, bettingpros, espn, nbacom, oddsapi
from libs.common.sources.base import Source
from libs.common.warehouse.schema import Table

FAMILIES = (
    oddsapi,
    balldontlie,
    bettingpros,
    espn,
    nbacom,
)
"""One line per upstream family module; each module's SOURCES declares its scrapers."""

SOURCES: dict[str, Source] = {
    source.name: source for family in FAMILIES for source in family.SOURCES
}


def _check_historical(sources: dict[str, Source]) -> None:
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


class UnknownScraperError(PipelineError, KeyError):
    """A scraper_name that is not in the registry; the message lists the known names."""

    status_code = 400

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(name)

    def __str__(self) -> str:
        return f"unknown scraper_name '{self.name}'; known: {', '.join(sorted(SOURCES))}"


def get_source(name: str) -> Source:
    """The registered source called `name`, or UnknownScraperError."""
    try:
        return SOURCES[name]
    except KeyError:
        raise UnknownScraperError(name) from None


def raw_tables() -> list[Table]:
    """Every raw table, once (several scrapers may share one)."""
    return list({source.table.fqn: source.table for source in SOURCES.values()}.values())
