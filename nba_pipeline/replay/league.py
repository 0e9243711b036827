"""The 30 teams with what the replayed upstreams need beyond `libs.common.teams`.

Each upstream spells a team its own way (ESPN `GS`/`NY`/`UTAH`, NBA.com `sixers`, The Odds API
`Los Angeles Clippers`); keeping every spelling on one record lets the generated bodies agree.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from libs.common.teams import TEAMS, Team

EASTERN = ZoneInfo("America/New_York")
"""NBA game dates and tip-off slots are US Eastern."""


@dataclass(frozen=True)
class Club(Team):
    """A franchise as every upstream names it, plus its arena and home time zone."""

    conference: str
    division: str
    arena: str
    arena_city: str
    arena_state: str
    tz: str
    espn_abbr: str
    nbacom_slug: str
    odds_name: str

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    @property
    def long_slug(self) -> str:
        """`boston-celtics`, as ESPN and BettingPros spell a team in URLs."""
        return self.full_name.lower().replace(" ", "-")


# abbr: conference, division, arena, city, state, time zone, ESPN abbreviation
_EXTRA: dict[str, tuple[str, str, str, str, str, str, str]] = {
    "ATL": ("East", "Southeast", "State Farm Arena", "Atlanta", "GA", "America/New_York", "ATL"),
    "BOS": ("East", "Atlantic", "TD Garden", "Boston", "MA", "America/New_York", "BOS"),
    "BKN": ("East", "Atlantic", "Barclays Center", "Brooklyn", "NY", "America/New_York", "BKN"),
    "CHA": ("East", "Southeast", "Spectrum Center", "Charlotte", "NC", "America/New_York", "CHA"),
    "CHI": ("East", "Central", "United Center", "Chicago", "IL", "America/Chicago", "CHI"),
    "CLE": ("East", "Central", "Rocket Mortgage FieldHouse", "Cleveland", "OH", "America/New_York", "CLE"),
    "DAL": ("West", "Southwest", "American Airlines Center", "Dallas", "TX", "America/Chicago", "DAL"),
    "DEN": ("West", "Northwest", "Ball Arena", "Denver", "CO", "America/Denver", "DEN"),
    "DET": ("East", "Central", "Little Caesars Arena", "Detroit", "MI", "America/Detroit", "DET"),
    "GSW": ("West", "Pacific", "Chase Center", "San Francisco", "CA", "America/Los_Angeles", "GS"),
    "HOU": ("West", "Southwest", "Toyota Center", "Houston", "TX", "America/Chicago", "HOU"),
    "IND": ("East", "Central", "Gainbridge Fieldhouse", "Indianapolis", "IN", "America/Indiana/Indianapolis", "IND"),
    "LAC": ("West", "Pacific", "Intuit Dome", "Inglewood", "CA", "America/Los_Angeles", "LAC"),
    "LAL": ("West", "Pacific", "Crypto.com Arena", "Los Angeles", "CA", "America/Los_Angeles", "LAL"),
    "MEM": ("West", "Southwest", "FedExForum", "Memphis", "TN", "America/Chicago", "MEM"),
    "MIA": ("East", "Southeast", "Kaseya Center", "Miami", "FL", "America/New_York", "MIA"),
    "MIL": ("East", "Central", "Fiserv Forum", "Milwaukee", "WI", "America/Chicago", "MIL"),
    "MIN": ("West", "Northwest", "Target Center", "Minneapolis", "MN", "America/Chicago", "MIN"),
    "NOP": ("West", "Southwest", "Smoothie King Center", "New Orleans", "LA", "America/Chicago", "NO"),
    "NYK": ("East", "Atlantic", "Madison Square Garden", "New York", "NY", "America/New_York", "NY"),
    "OKC": ("West", "Northwest", "Paycom Center", "Oklahoma City", "OK", "America/Chicago", "OKC"),
    "ORL": ("East", "Southeast", "Kia Center", "Orlando", "FL", "America/New_York", "ORL"),
    "PHI": ("East", "Atlantic", "Wells Fargo Center", "Philadelphia", "PA", "America/New_York", "PHI"),
    "PHX": ("West", "Pacific", "Footprint Center", "Phoenix", "AZ", "America/Phoenix", "PHX"),
    "POR": ("West", "Northwest", "Moda Center", "Portland", "OR", "America/Los_Angeles", "POR"),
    "SAC": ("West", "Pacific", "Golden 1 Center", "Sacramento", "CA", "America/Los_Angeles", "SAC"),
    "SAS": ("West", "Southwest", "Frost Bank Center", "San Antonio", "TX", "America/Chicago", "SA"),
    "TOR": ("East", "Atlantic", "Scotiabank Arena", "Toronto", "ON", "America/Toronto", "TOR"),
    "UTA": ("West", "Northwest", "Delta Center", "Salt Lake City", "UT", "America/Denver", "UTAH"),
    "WAS": ("East", "Southeast", "Capital One Arena", "Washington", "DC", "America/New_York", "WSH"),
}  # fmt: skip
_NBACOM_SLUGS = {"PHI": "sixers", "POR": "blazers"}
_ODDS_NAMES = {"LAC": "Los Angeles Clippers"}


def _club(team: Team) -> Club:
    conference, division, arena, city, state, tz, espn_abbr = _EXTRA[team.abbr]
    return Club(
        **{f.name: getattr(team, f.name) for f in dataclasses.fields(Team)},
        conference=conference,
        division=division,
        arena=arena,
        arena_city=city,
        arena_state=state,
        tz=tz,
        espn_abbr=espn_abbr,
        nbacom_slug=_NBACOM_SLUGS.get(team.abbr, team.slug),
        odds_name=_ODDS_NAMES.get(team.abbr, team.full_name),
    )


CLUBS: tuple[Club, ...] = tuple(_club(team) for team in TEAMS)
BY_ABBR = {club.abbr: club for club in CLUBS}
BY_BDL_ID = {club.bdl_id: club for club in CLUBS}
BY_NBA_ID = {club.nba_id: club for club in CLUBS}
BY_ESPN = {
    **{str(club.espn_id): club for club in CLUBS},
    **{club.espn_abbr.lower(): club for club in CLUBS},
}
"""ESPN's team endpoint takes either its numeric id or its abbreviation (any case)."""
BY_ESPN_ABBR = {club.espn_abbr: club for club in CLUBS}
