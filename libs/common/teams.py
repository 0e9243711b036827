"""The 30 NBA teams and each upstream's id for them (roster fan-out, replay data)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Team:
    """One franchise as every upstream names it."""

    abbr: str
    city: str
    name: str
    bdl_id: int
    nba_id: int
    espn_id: int

    @property
    def full_name(self) -> str:
        return f"{self.city} {self.name}"

    @property
    def slug(self) -> str:
        """NBA.com's team-page slug, e.g. `celtics`, `trail-blazers`."""
        return self.name.lower().replace(" ", "-")


TEAMS: tuple[Team, ...] = (
    Team("ATL", "Atlanta", "Hawks", 1, 1610612737, 1),
    Team("BOS", "Boston", "Celtics", 2, 1610612738, 2),
    Team("BKN", "Brooklyn", "Nets", 3, 1610612751, 17),
    Team("CHA", "Charlotte", "Hornets", 4, 1610612766, 30),
    Team("CHI", "Chicago", "Bulls", 5, 1610612741, 4),
    Team("CLE", "Cleveland", "Cavaliers", 6, 1610612739, 5),
    Team("DAL", "Dallas", "Mavericks", 7, 1610612742, 6),
    Team("DEN", "Denver", "Nuggets", 8, 1610612743, 7),
    Team("DET", "Detroit", "Pistons", 9, 1610612765, 8),
    Team("GSW", "Golden State", "Warriors", 10, 1610612744, 9),
    Team("HOU", "Houston", "Rockets", 11, 1610612745, 10),
    Team("IND", "Indiana", "Pacers", 12, 1610612754, 11),
    Team("LAC", "LA", "Clippers", 13, 1610612746, 12),
    Team("LAL", "Los Angeles", "Lakers", 14, 1610612747, 13),
    Team("MEM", "Memphis", "Grizzlies", 15, 1610612763, 29),
    Team("MIA", "Miami", "Heat", 16, 1610612748, 14),
    Team("MIL", "Milwaukee", "Bucks", 17, 1610612749, 15),
    Team("MIN", "Minnesota", "Timberwolves", 18, 1610612750, 16),
    Team("NOP", "New Orleans", "Pelicans", 19, 1610612740, 3),
    Team("NYK", "New York", "Knicks", 20, 1610612752, 18),
    Team("OKC", "Oklahoma City", "Thunder", 21, 1610612760, 25),
    Team("ORL", "Orlando", "Magic", 22, 1610612753, 19),
    Team("PHI", "Philadelphia", "76ers", 23, 1610612755, 20),
    Team("PHX", "Phoenix", "Suns", 24, 1610612756, 21),
    Team("POR", "Portland", "Trail Blazers", 25, 1610612757, 22),
    Team("SAC", "Sacramento", "Kings", 26, 1610612758, 23),
    Team("SAS", "San Antonio", "Spurs", 27, 1610612759, 24),
    Team("TOR", "Toronto", "Raptors", 28, 1610612761, 28),
    Team("UTA", "Utah", "Jazz", 29, 1610612762, 26),
    Team("WAS", "Washington", "Wizards", 30, 1610612764, 27),
)
