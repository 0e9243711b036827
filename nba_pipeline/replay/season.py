"""A deterministic 2024-25 NBA regular season: the one source every replayed upstream draws from.

Randomness comes only from `random.Random` instances seeded with (seed, purpose, key), never
from the global generator, so a seed gives the same season whatever is asked first. Rosters,
the schedule, who is available and the final scores are built eagerly (cheap, and W-L records
need every earlier score); box scores and betting lines are built per game on first use and
cached, so serving one date stays fast.

The schedule is 82 rounds, each a perfect matching of the 30 teams spread over consecutive
game days, so every team plays exactly 82 games and never twice on one day. Dates pinned by a
recording (2025-02-20) keep the recorded matchups, tip-offs, scores and game ids.

Lines are quoted in every props market of `libs/common/sources/props.py`; some open at one
line or price and move before tip-off. Names are spelled as each upstream spells them: a few
players carry a suffix (`Jr.`, `III`), initials (`AJ`, which the Odds API prints `A.J.`), or an
accented surname (NBA.com's; the others fold it); BettingPros drops suffixes and prints a few
first names in full (`Nathan` for `Nate`), which no rule reconciles.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import math
import random
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

from libs.common.sources.props import MARKETS
from libs.common.tables import raw
from nba_pipeline.replay import recordings
from nba_pipeline.replay.league import BY_BDL_ID, CLUBS, EASTERN, Club

SEASON_START = dt.date(2024, 10, 22)
SEASON_END = dt.date(2025, 4, 13)
SEASON_YEAR = 2024
"""balldontlie's `season`: the year the season starts."""
OFF_DAYS = frozenset(
    dt.date.fromisoformat(day)
    for day in (
        "2024-11-05", "2024-11-28", "2024-12-18", "2024-12-24", "2025-02-14",
        "2025-02-15", "2025-02-16", "2025-02-17", "2025-02-18", "2025-04-12",
    )
)  # fmt: skip
"""Days without regular-season games: election day, Thanksgiving, the NBA Cup final's
next day, Christmas Eve, All-Star break, and the day before the final day."""
GAMES_PER_TEAM = 82
ROSTER_SIZE = 15
REPEATING_BOOK = "williamhill_us"
"""The Odds API book seen listing a player's Over/Under pair twice at one point (issue 14)."""
ODDS_BOOKS = ("draftkings", "fanduel", "betmgm", REPEATING_BOOK)
"""Odds API bookmaker keys quoted for player props."""
REPEATS_SHARE = 0.25
"""Share of games on which `REPEATING_BOOK` repeats one or two of its lines."""
PRICES = (-135, -125, -120, -115, -110, -105, 100, 105, 110)
"""Over prices a line is posted at (american); the under follows from a ~4.5% margin."""
BP_BOOKS = {0: "consensus", 10: "fanduel", 12: "draftkings"}
"""BettingPros book ids; FanDuel and DraftKings carry the same lines the Odds API shows."""
PROP_MIN_LEVEL = 6.0
"""Books post player-props lines only for players scoring about this much or more."""
MOVES_SHARE = 0.4
"""Share of lines that move between opening and tip-off (by a point, or in price only)."""
MOVE_WINDOW = (dt.timedelta(minutes=300), dt.timedelta(minutes=40))
"""A line moves between these times before tip-off: after the T-180 captures of some games,
before the T-15 and T-5 ones (and before current odds show, 30 minutes before)."""
LEVELS = (22, 18, 15, 13, 11, 9, 8, 6, 5, 4, 3, 2.5, 2, 1.5, 1)
"""Points per game by roster rank before per-team and per-player jitter (sums near 112 played)."""
TIP_SLOTS = {
    "America/New_York": ("19:00", "19:30"),
    "America/Detroit": ("19:00", "19:30"),
    "America/Toronto": ("19:00", "19:30"),
    "America/Indiana/Indianapolis": ("19:00", "19:30"),
    "America/Chicago": ("19:30", "20:00", "20:30"),
    "America/Denver": ("21:00",),
    "America/Phoenix": ("21:00",),
    "America/Los_Angeles": ("22:00", "22:30"),
}
"""Eastern tip-off times by home time zone: 19:00 in the east to 22:30 on the west coast."""

FIRST_NAMES = (
    "Aaron", "Adrian", "Alec", "Andre", "Austin", "Bennett", "Brandon", "Caleb", "Cam", "Carter",
    "Chris", "Cole", "Darius", "Davion", "Derrick", "Devin", "Dillon", "Dominic", "Donovan",
    "Elijah", "Evan", "Gabe", "Grant", "Isaiah", "Jalen", "Jamal", "Jaden", "Jordan", "Josh",
    "Julian", "Justin", "Kai", "Keegan", "Kendall", "Keon", "Kevin", "Kobe", "Landon", "Lonnie",
    "Malik", "Marcus", "Mason", "Miles", "Myles", "Nate", "Nico", "Noah", "Obi", "Omar",
    "Quentin", "Reggie", "Rui", "Sam", "Scottie", "Terrence", "Trey", "Tyler", "Victor",
    "Xavier", "Zion",
)  # fmt: skip
LAST_NAMES = (
    "Adams", "Allen", "Bailey", "Banks", "Barnes", "Bell", "Brooks", "Bryant", "Carter",
    "Coleman", "Collins", "Cook", "Craig", "Daniels", "Davis", "Dixon", "Edwards", "Ellis",
    "Fisher", "Ford", "Gibson", "Grant", "Green", "Hall", "Harris", "Hayes", "Hill", "Holmes",
    "Howard", "Hughes", "Jackson", "James", "Jenkins", "Johnson", "Jones", "Keller", "King",
    "Lane", "Lewis", "Marshall", "Mason", "Mitchell", "Moore", "Morris", "Murray", "Nash",
    "Owens", "Parker", "Perry", "Porter", "Powell", "Reed", "Reese", "Richards", "Robinson",
    "Rogers", "Ross", "Sanders", "Scott", "Simmons", "Stewart", "Sullivan", "Thomas",
    "Thompson", "Turner", "Walker", "Wallace", "Ward", "Washington", "Watson", "Wells", "White",
    "Williams", "Wilson", "Wright", "Young",
)  # fmt: skip
COLLEGES = (
    "Duke", "Kentucky", "Kansas", "UCLA", "Gonzaga", "Villanova", "Arizona", "Michigan",
    "Texas", "Baylor", "Florida", "Alabama", "Auburn", "Houston", "Arkansas", "Memphis",
    "Oregon", "Stanford", "Virginia", "Connecticut",
)  # fmt: skip
ABROAD = (("Canada", "Gonzaga"), ("France", "ASVEL"), ("Australia", "Perth Wildcats"),
          ("Serbia", "Mega Basket"), ("Germany", "Alba Berlin"), ("Spain", "Real Madrid"),
          ("Greece", "Olympiacos"), ("Nigeria", "Kentucky"))  # fmt: skip
"""(country, college or club) for players from outside the USA."""
ACCENTED = {
    "Jokic": "Jokić", "Doncic": "Dončić", "Vucevic": "Vučević", "Bogdanovic": "Bogdanović",
    "Nurkic": "Nurkić", "Saric": "Šarić", "Schroder": "Schröder", "Valanciunas": "Valančiūnas",
    "Porzingis": "Porziņģis", "Hernangomez": "Hernangómez", "Dieng": "Diéng", "Exum": "Exúm",
}  # fmt: skip
"""Surnames of players from abroad as NBA.com prints them; the others print the key."""
SUFFIXES = ("Jr.", "II", "III")
INITIALS = ("AJ", "CJ", "PJ", "RJ", "TJ", "JD")
"""First names as initials: balldontlie prints `AJ`, the Odds API `A.J.`."""
FULL_FIRST_NAMES = {
    "Nate": "Nathan", "Cam": "Cameron", "Chris": "Christopher", "Josh": "Joshua", "Sam": "Samuel",
    "Gabe": "Gabriel", "Nico": "Nicolas", "Reggie": "Reginald",
}  # fmt: skip
"""First names BettingPros prints in full for some players."""
POSITIONS = ("G", "G", "G", "G-F", "F", "F", "F", "F-G", "F-C", "C", "C", "G", "F", "C", "G")
HEIGHTS = {"G": (73, 78), "F": (78, 82), "C": (82, 86)}
"""Height range in inches by the position's first letter."""
T = TypeVar("T")


def rng_for(seed: int, *key: object) -> random.Random:
    """A generator private to one purpose and key: string seeds hash stably across processes."""
    return random.Random(":".join(str(part) for part in (seed, *key)))


@dataclass(frozen=True)
class Player:
    """One rostered player; every upstream id derives from `key` so they never collide."""

    key: int
    club: Club
    first_name: str
    last_name: str
    position: str
    height_in: int
    weight: int
    jersey: str
    college: str
    country: str
    birth_date: dt.date
    draft_year: int | None
    draft_round: int | None
    draft_number: int | None
    level: float
    """Expected points per game; box scores and betting lines both centre on it."""
    accented: str = ""
    """The surname as NBA.com prints it, when it has accents `last_name` leaves out."""
    book_first: str = ""
    """The first name as BettingPros prints it, when that differs (a full name)."""

    @property
    def full_name(self) -> str:
        """As balldontlie and ESPN print it; `last_name` carries any suffix (`Jackson Jr.`)."""
        return f"{self.first_name} {self.last_name}"

    @property
    def nba_name(self) -> str:
        """As NBA.com prints it: accents kept."""
        last = self.accented or self.last_name
        return f"{self.first_name} {last}"

    @property
    def odds_name(self) -> str:
        """As the Odds API prints it: initials dotted (`A.J.`), no dot after a suffix (`Jr`)."""
        first = ".".join(self.first_name) + "." if self.first_name in INITIALS else self.first_name
        return f"{first} {self.last_name.removesuffix('.')}"

    @property
    def bp_name(self) -> str:
        """As BettingPros prints it: no suffix, some first names in full."""
        last = self.last_name.split(" ")[0]
        return f"{self.book_first or self.first_name} {last}"

    @property
    def short_name(self) -> str:
        return f"{self.first_name[0]}. {self.last_name}"

    @property
    def slug(self) -> str:
        return self.full_name.lower().replace(".", "").replace(" ", "-")

    @property
    def age(self) -> int:
        """Age on opening night."""
        return (SEASON_START - self.birth_date).days // 365

    @property
    def experience(self) -> int:
        """Seasons in the league before this one; 0 for a rookie (undrafted count as 2)."""
        return SEASON_START.year - self.draft_year if self.draft_year else 2

    @property
    def height(self) -> str:
        return f"{self.height_in // 12}-{self.height_in % 12}"

    @property
    def bdl_id(self) -> int:
        return 900_001 + self.key

    @property
    def nba_id(self) -> int:
        return 1_690_001 + self.key

    @property
    def espn_id(self) -> int:
        return 5_900_001 + self.key

    @property
    def bp_id(self) -> int:
        return 90_001 + self.key


@dataclass(frozen=True)
class Side:
    """One team in one game: its final score, box-score entries and record after the game."""

    club: Club
    score: int
    entries: tuple[Player, ...]
    """Every player in the box score (the active ones), best first."""
    played: int
    """How many of `entries` played; the rest are did-not-play entries with 0 minutes."""
    wins: int
    losses: int

    @property
    def playing(self) -> tuple[Player, ...]:
        return self.entries[: self.played]


@dataclass(frozen=True)
class Game:
    """A final regular-season game; `index` is its place in the season (chronological)."""

    index: int
    date: dt.date
    start: dt.datetime
    home: Side
    away: Side
    bdl_id: int
    odds_id: str
    periods: int
    """4, or more after overtime."""

    @property
    def sides(self) -> tuple[Side, Side]:
        return self.home, self.away

    @property
    def nba_id(self) -> str:
        return f"00224{self.index + 1:05d}"

    @property
    def espn_id(self) -> int:
        return 401_705_001 + self.index

    @property
    def bp_id(self) -> int:
        return 26_001 + self.index


@dataclass(frozen=True)
class StatLine:
    """One box-score entry; `minutes` 0 is a did-not-play line."""

    player: Player
    minutes: int
    pts: int
    fgm: int
    fga: int
    fg3m: int
    fg3a: int
    ftm: int
    fta: int
    oreb: int
    dreb: int
    ast: int
    stl: int
    blk: int
    turnover: int
    pf: int

    @property
    def reb(self) -> int:
        return self.oreb + self.dreb


@dataclass(frozen=True)
class Quote:
    """A player's closing line in one market at one book, with its over and under prices
    (american), and where it opened if it moved."""

    player: Player
    book: str
    line: float
    over: int
    under: int
    repeats: tuple[tuple[int, int], ...] = ()
    """(over, under) of later listings the book shows at the same line after this one; a
    parser keeps the first listing, so they add no row."""
    market: str = "player_points"
    opening: tuple[float, int, int] | None = None
    """(line, over, under) shown until `moves_at`, when the line moved."""
    moves_at: dt.datetime | None = None

    def at(self, moment: dt.datetime) -> Quote:
        """The quote as shown at `moment`: its opening line and prices before it moved."""
        if self.opening is None or self.moves_at is None or moment >= self.moves_at:
            return self
        line, over, under = self.opening
        return replace(self, line=line, over=over, under=under, opening=None, moves_at=None)


@dataclass(frozen=True)
class Pin:
    """A game fixed by a recording: the generated season must agree with it."""

    date: dt.date
    home: Club
    away: Club
    start: dt.datetime
    home_score: int
    away_score: int
    periods: int
    bdl_id: int


@dataclass(frozen=True)
class _Fixture:
    date: dt.date
    start: dt.datetime
    home: Club
    away: Club
    pin: Pin | None


def recorded_pins() -> tuple[Pin, ...]:
    """The games of the recorded balldontlie slates (2025-02-20), as pins."""
    pins = []
    for name in recordings.BDL_GAMES_DATES.values():
        for game in recordings.parsed(name)["data"]:
            pins.append(
                Pin(
                    date=dt.date.fromisoformat(game["date"]),
                    home=BY_BDL_ID[game["home_team"]["id"]],
                    away=BY_BDL_ID[game["visitor_team"]["id"]],
                    start=dt.datetime.fromisoformat(game["datetime"].replace("Z", "+00:00")),
                    home_score=game["home_team_score"],
                    away_score=game["visitor_team_score"],
                    periods=game["period"],
                    bdl_id=game["id"],
                )
            )
    return tuple(pins)


class Season:
    """The generated season for one seed; cheap to query per date once built (~tens of ms)."""

    def __init__(self, seed: int = 2025, pins: Sequence[Pin] | None = None) -> None:
        self.seed = seed
        self.clubs = CLUBS
        self._rosters = self._build_rosters()
        self.players = tuple(p for club in CLUBS for p in self._rosters[club.abbr])
        self.games = self._games(recorded_pins() if pins is None else pins)
        self._by_date: dict[dt.date, list[Game]] = defaultdict(list)
        for game in self.games:
            self._by_date[game.date].append(game)
        self.by_odds_id = {game.odds_id: game for game in self.games}
        self.by_bp_id = {game.bp_id: game for game in self.games}
        self._box: dict[int, tuple[tuple[StatLine, ...], tuple[StatLine, ...]]] = {}
        self._quotes: dict[int, tuple[Quote, ...]] = {}

    # --- queries -------------------------------------------------------------------------

    def games_on(self, day: dt.date) -> list[Game]:
        """Games whose US Eastern date is `day`, by tip-off."""
        return list(self._by_date.get(day, ()))

    def game_dates(self) -> list[dt.date]:
        return sorted(self._by_date)

    def roster(self, club: Club) -> tuple[Player, ...]:
        """The club's 15 players, best scorer first."""
        return self._rosters[club.abbr]

    def final_record(self, club: Club) -> tuple[int, int]:
        """(wins, losses) after the club's last game."""
        last = [side for g in self.games for side in g.sides if side.club == club][-1]
        return last.wins, last.losses

    def box_score(self, game: Game) -> tuple[tuple[StatLine, ...], tuple[StatLine, ...]]:
        """(home lines, away lines): every entry of each side; points sum to the side's score."""
        if game.index not in self._box:
            rng = rng_for(self.seed, "box", game.index)
            minutes = 240 + 25 * (game.periods - 4)
            self._box[game.index] = (
                _lines(game.home, minutes, rng),
                _lines(game.away, minutes, rng),
            )
        return self._box[game.index]

    def box_score_rows(self, day: dt.date) -> int:
        """Player entries in the day's box scores (one raw row each)."""
        return sum(len(side.entries) for game in self.games_on(day) for side in game.sides)

    def linescore(self, game: Game) -> tuple[list[int], list[int]]:
        """Points per period of (home, away), summing to the final scores (overtimes score less)."""
        rng = rng_for(self.seed, "quarters", game.index)
        home, away = (
            _apportion(
                s.score, [rng.uniform(0.8, 1.2) if n < 4 else 0.4 for n in range(game.periods)]
            )
            for s in game.sides
        )
        return home, away

    def quotes(self, game: Game) -> tuple[Quote, ...]:
        """Lines of the game in every market at every book (consensus, then the Odds API
        books), points first; points were the only market once, so their draws stay theirs."""
        if game.index not in self._quotes:
            points = _quotes(
                game,
                rng_for(self.seed, "lines", game.index),
                rng_for(self.seed, REPEATING_BOOK, game.index),
            )
            others = (
                _market_quotes(
                    game, market.key, rng_for(self.seed, "lines", market.key, game.index)
                )
                for market in MARKETS[1:]
            )
            quotes = (*points, *itertools.chain.from_iterable(others))
            self._quotes[game.index] = _moved(quotes, game, rng_for(self.seed, "moves", game.index))
        return self._quotes[game.index]

    def odds_props_rows(self, game: Game) -> int:
        """Rows one Odds API props snapshot of the game parses into (repeats add none)."""
        return sum(1 for q in self.quotes(game) if q.book in ODDS_BOOKS)

    def repeated_listings(self, game: Game) -> int:
        """Later listings one Odds API snapshot of the game repeats (the parser drops them)."""
        return sum(len(q.repeats) for q in self.quotes(game))

    def bp_props_rows(self, game: Game) -> int:
        """Rows one BettingPros offers fetch (every market) of the game parses into."""
        return sum(1 for q in self.quotes(game) if q.book in BP_BOOKS.values())

    def expected_rows(self, start: dt.date, end: dt.date) -> dict[str, int]:
        """Raw rows of one scrape per date (per event for Odds API props), start..end inclusive.

        Rosters and the player list are not per date: a team's roster scrape loads its 15
        players, `bdl_players` loads every player.
        """
        games = [g for g in self.games if start <= g.date <= end]
        return {
            raw.BDL_GAMES.fqn: len(games),
            raw.BDL_PLAYER_BOXSCORES.fqn: sum(len(s.entries) for g in games for s in g.sides),
            raw.ODDS_API_EVENTS.fqn: len(games),
            raw.ODDS_API_PLAYER_POINTS_PROPS.fqn: sum(self.odds_props_rows(g) for g in games),
            raw.BETTINGPROS_EVENTS.fqn: len(games),
            raw.BETTINGPROS_PLAYER_POINTS_PROPS.fqn: sum(self.bp_props_rows(g) for g in games),
            raw.ESPN_SCOREBOARD.fqn: len(games),
            raw.NBAC_SCHEDULE.fqn: len(games),
        }

    # --- construction --------------------------------------------------------------------

    def _build_rosters(self) -> dict[str, tuple[Player, ...]]:
        rng = rng_for(self.seed, "rosters")
        names = iter(_unique_names(rng, len(CLUBS) * ROSTER_SIZE))
        spelling = _Spelling(rng_for(self.seed, "spellings"))
        rosters = {}
        for number, club in enumerate(CLUBS):
            factor = rng.uniform(0.92, 1.08)
            jerseys = rng.sample(range(0, 100), ROSTER_SIZE)
            players = [
                spelling(_player(number * ROSTER_SIZE + rank, club, next(names), jerseys[rank],
                                 round(LEVELS[rank] * factor * rng.uniform(0.9, 1.1), 1), rng))
                for rank in range(ROSTER_SIZE)
            ]  # fmt: skip
            rosters[club.abbr] = tuple(sorted(players, key=lambda p: -p.level))
        return rosters

    def _games(self, pins: Sequence[Pin]) -> tuple[Game, ...]:
        rng = rng_for(self.seed, "schedule")
        fixtures = sorted(_fixtures(rng, pins), key=lambda f: (f.start, f.home.abbr))
        games = []
        records = {club.abbr: [0, 0] for club in CLUBS}
        for index, fixture in enumerate(fixtures):
            avail = rng_for(self.seed, "available", index)
            home, away = (self._availability(club, avail) for club in (fixture.home, fixture.away))
            home_score, away_score, periods = _scores(fixture.pin, home, away, avail)
            sides = []
            for club, entries, played, score, other in (
                (fixture.home, *home, home_score, away_score),
                (fixture.away, *away, away_score, home_score),
            ):
                records[club.abbr][0 if score > other else 1] += 1
                sides.append(Side(club, score, entries, played, *records[club.abbr]))
            games.append(
                Game(
                    index=index,
                    date=fixture.date,
                    start=fixture.start,
                    home=sides[0],
                    away=sides[1],
                    bdl_id=fixture.pin.bdl_id if fixture.pin else 15_900_001 + index,
                    odds_id=hashlib.md5(f"{self.seed}:event:{index}".encode()).hexdigest(),
                    periods=periods,
                )
            )
        return tuple(games)

    def _availability(self, club: Club, rng: random.Random) -> tuple[tuple[Player, ...], int]:
        """(active players best first, how many of them play): a few sit out, a few do not play."""
        active = tuple(p for p in self.roster(club) if rng.random() >= 0.05)
        played = max(min(8, len(active)), len(active) - rng.choice((0, 1, 1, 2, 2, 3)))
        return active, played


class _Spelling:
    """Gives some players a suffix, initials or an accented surname, and some a first name
    BettingPros prints in full, from a generator of its own (the other draws stay as they
    were); a new (first, last) never repeats another player's."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.taken: set[tuple[str, str]] = set()

    def __call__(self, player: Player) -> Player:
        roll, first, last, accented = self.rng.random(), player.first_name, player.last_name, ""
        if player.country != "USA" and roll < 0.6:
            last = self.rng.choice(sorted(ACCENTED))
            accented = ACCENTED[last]
        elif roll < 0.06:
            last = f"{last} {self.rng.choice(SUFFIXES)}"
        elif roll < 0.1:
            first = self.rng.choice(INITIALS)
        if (first, last.split(" ")[0]) in self.taken:
            first, last, accented = player.first_name, player.last_name, ""
        self.taken.add((first, last.split(" ")[0]))
        full = FULL_FIRST_NAMES.get(first, "") if self.rng.random() < 0.15 else ""
        return replace(player, first_name=first, last_name=last, accented=accented, book_first=full)


def _unique_names(rng: random.Random, count: int) -> list[tuple[str, str]]:
    names: dict[tuple[str, str], None] = {}
    while len(names) < count:
        names[(rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES))] = None
    return list(names)


def _player(
    key: int, club: Club, name: tuple[str, str], jersey: int, level: float, rng: random.Random
) -> Player:
    position = rng.choice(POSITIONS)
    low, high = HEIGHTS[position[0]]
    height = rng.randint(low, high)
    country, college = ("USA", rng.choice(COLLEGES)) if rng.random() < 0.8 else rng.choice(ABROAD)
    draft_year = rng.randint(2010, 2024)
    drafted = rng.random() < 0.85
    return Player(
        key=key,
        club=club,
        first_name=name[0],
        last_name=name[1],
        position=position,
        height_in=height,
        weight=180 + (height - 73) * 5 + rng.randint(-8, 12),
        jersey=str(jersey),
        college=college,
        country=country,
        birth_date=dt.date(
            draft_year - rng.randint(19, 22), rng.randint(1, 12), rng.randint(1, 28)
        ),
        draft_year=draft_year if drafted else None,
        draft_round=rng.choice((1, 1, 2)) if drafted else None,
        draft_number=rng.randint(1, 60) if drafted else None,
        level=level,
    )


def game_days() -> list[dt.date]:
    """Every day from opening night to the final day that is not an off day."""
    days = (SEASON_START + dt.timedelta(n) for n in range((SEASON_END - SEASON_START).days + 1))
    return [day for day in days if day not in OFF_DAYS]


def _circle(order: Sequence[Club]) -> list[list[tuple[Club, Club]]]:
    """Round robin by the circle method: len-1 rounds, each team once per round."""
    fixed, rest = order[0], list(order[1:])
    rounds = []
    for r in range(len(rest)):
        ring = [fixed, *rest[r:], *rest[:r]]
        rounds.append([(ring[i], ring[-1 - i]) for i in range(len(ring) // 2)])
    return rounds


def _matchings(rng: random.Random, count: int) -> list[list[tuple[Club, Club]]]:
    """`count` perfect matchings of the 30 teams from shuffled round robins, in random order."""
    rounds: list[list[tuple[Club, Club]]] = []
    while len(rounds) < count:
        order = list(CLUBS)
        rng.shuffle(order)
        rounds += _circle(order)
    chosen = rounds[:count]
    rng.shuffle(chosen)
    return chosen


def _blocks(days: Sequence[dt.date], count: int) -> list[list[dt.date]]:
    """Consecutive game days split into `count` blocks as evenly as possible."""
    base, extra = divmod(len(days), count)
    blocks, at = [], 0
    for r in range(count):
        size = base + (1 if r < extra else 0)
        blocks.append(list(days[at : at + size]))
        at += size
    return blocks


def _fixtures(rng: random.Random, pins: Sequence[Pin]) -> Iterable[_Fixture]:
    """Every game's date, tip-off and home/away; a pinned date carries exactly its pins."""
    pinned: dict[dt.date, list[Pin]] = defaultdict(list)
    for pin in pins:
        pinned[pin.date].append(pin)
    home_games = {club.abbr: 0 for club in CLUBS}
    for block, matching in zip(
        _blocks(game_days(), GAMES_PER_TEAM), _matchings(rng, GAMES_PER_TEAM), strict=True
    ):
        pin_days = [day for day in block if day in pinned]
        if pin_days:
            day = _pin_day(block, pin_days)
            for pin in pinned[day]:
                home_games[pin.home.abbr] += 1
                yield _Fixture(day, pin.start, pin.home, pin.away, pin)
            block = [d for d in block if d != day]
            matching = _pair_others(pinned[day], rng)
        rng.shuffle(matching)
        for day, pairs in zip(block, _split(matching, len(block), rng), strict=True):
            for a, b in pairs:
                home, away = (a, b) if _home_first(a, b, home_games, rng) else (b, a)
                home_games[home.abbr] += 1
                yield _Fixture(day, _tipoff(day, home, rng), home, away, None)


def _pin_day(block: list[dt.date], pin_days: list[dt.date]) -> dt.date:
    """The one pinned day of a block; the block needs another day for the teams not pinned."""
    if len(pin_days) > 1 or len(block) < 2:
        raise ValueError(f"cannot pin {pin_days} inside the block {block}")
    return pin_days[0]


def _pair_others(pins: Sequence[Pin], rng: random.Random) -> list[tuple[Club, Club]]:
    """Random pairs of the teams a pinned day leaves free, to play on the block's other days."""
    busy = {club.abbr for pin in pins for club in (pin.home, pin.away)}
    free = [club for club in CLUBS if club.abbr not in busy]
    rng.shuffle(free)
    return list(zip(free[::2], free[1::2], strict=True))


def _split(items: Sequence[T], parts: int, rng: random.Random) -> list[Sequence[T]]:
    """`items` cut into `parts` consecutive runs, sizes peaking mid-way (a run may be empty)."""
    cuts = sorted(round(rng.triangular(1, len(items) - 1)) for _ in range(parts - 1))
    bounds = [0, *cuts, len(items)]
    return [items[a:b] for a, b in itertools.pairwise(bounds)]


def _home_first(a: Club, b: Club, home_games: dict[str, int], rng: random.Random) -> bool:
    """Whether `a` hosts: the team with fewer home games so far, so each ends near 41."""
    if home_games[a.abbr] != home_games[b.abbr]:
        return home_games[a.abbr] < home_games[b.abbr]
    return rng.random() < 0.5


def _tipoff(day: dt.date, home: Club, rng: random.Random) -> dt.datetime:
    hour, minute = map(int, rng.choice(TIP_SLOTS[home.tz]).split(":"))
    return dt.datetime.combine(day, dt.time(hour, minute), EASTERN).astimezone(dt.UTC)


def _scores(
    pin: Pin | None,
    home: tuple[tuple[Player, ...], int],
    away: tuple[tuple[Player, ...], int],
    rng: random.Random,
) -> tuple[int, int, int]:
    """(home, away, periods): the recorded ones when pinned, else near the players' levels.

    A tie after regulation goes to overtime, which one side wins by a few points.
    """
    if pin is not None:
        return pin.home_score, pin.away_score, pin.periods
    scores = [min(150, max(85, round(rng.gauss(sum(p.level for p in entries[:played]), 7))))
              for entries, played in (home, away)]  # fmt: skip
    if scores[0] != scores[1]:
        return scores[0], scores[1], 4
    scores[rng.randrange(2)] += rng.randint(1, 6)
    return scores[0], scores[1], 5


def _lines(side: Side, total_minutes: int, rng: random.Random) -> tuple[StatLine, ...]:
    """Box-score lines: minutes shared by the players who played, points summing to the score."""
    playing = side.playing
    weights = [max(3.0, 8 + p.level + rng.uniform(-2, 2)) for p in playing]
    minutes = _apportion(total_minutes, weights)
    points = [max(0, round(rng.gauss(p.level, 0.3 * p.level + 1))) for p in playing]
    _adjust(points, side.score, [p.level + 0.5 for p in playing], rng)
    lines = [_stat_line(p, m, pts, rng) for p, m, pts in zip(playing, minutes, points, strict=True)]
    lines += [_stat_line(p, 0, 0, rng) for p in side.entries[side.played :]]
    return tuple(lines)


def _apportion(total: int, weights: Sequence[float]) -> list[int]:
    """Integer shares of `total` in proportion to `weights` (each at least 1), summing exactly."""
    scale = total / sum(weights)
    shares = [max(1, round(w * scale)) for w in weights]
    shares[0] += total - sum(shares)
    return shares


def _adjust(points: list[int], target: int, weights: Sequence[float], rng: random.Random) -> None:
    """Nudge points one at a time (favouring the heavier scorers) until they sum to `target`."""
    population = range(len(points))
    diff = target - sum(points)
    while diff:
        step = 1 if diff > 0 else -1
        i = rng.choices(population, weights)[0]
        if points[i] + step >= 0:
            points[i] += step
            diff -= step


def _stat_line(player: Player, minutes: int, pts: int, rng: random.Random) -> StatLine:
    """A line whose made shots add up to `pts` (2 x twos + 3 x threes + free throws)."""
    ftm = rng.randint(0, pts // 4)
    threes = rng.randint(0, (pts - ftm) // 6)
    twos, odd = divmod(pts - ftm - 3 * threes, 2)
    ftm += odd
    fg3a = threes + rng.randint(0, threes + 2) if minutes else 0
    fg2a = twos + rng.randint(twos // 2, twos + 2) if minutes else 0
    return StatLine(
        player=player,
        minutes=minutes,
        pts=pts,
        fgm=twos + threes,
        fga=fg2a + fg3a,
        fg3m=threes,
        fg3a=fg3a,
        ftm=ftm,
        fta=ftm + rng.randint(0, ftm // 3 + 1) if minutes else 0,
        oreb=rng.randint(0, minutes // 12),
        dreb=rng.randint(0, minutes // 5),
        ast=rng.randint(0, minutes // 6),
        stl=rng.randint(0, 2) if minutes else 0,
        blk=rng.randint(0, 2) if minutes else 0,
        turnover=rng.randint(0, 3) if minutes else 0,
        pf=rng.randint(0, min(6, 1 + minutes // 10)) if minutes else 0,
    )


def _book_lines(
    game: Game,
    market: str,
    centre: Callable[[float], float],
    spread: float,
    rng: random.Random,
    repeating: random.Random,
) -> list[Quote]:
    """Lines around each regular scorer's mean of the market: consensus for all, each book
    skips a few; `REPEATING_BOOK` draws from `repeating`."""
    quotes = []
    for side in game.sides:
        for player in side.playing:
            if player.level < PROP_MIN_LEVEL:
                continue
            mean = centre(player.level)
            base = max(0.5, math.floor(mean + rng.gauss(0, spread * max(1.0, mean / 10))) + 0.5)
            quotes.append(_quote(player, "consensus", base, rng, market))
            for book in ODDS_BOOKS:
                draw = repeating if book == REPEATING_BOOK else rng
                if draw.random() < 0.9:
                    shift = draw.choice((-1.0, 0.0, 0.0, 0.0, 1.0))
                    quotes.append(_quote(player, book, max(0.5, base + shift), draw, market))
    return quotes


def _quotes(game: Game, rng: random.Random, repeating: random.Random) -> tuple[Quote, ...]:
    """Points lines around each regular scorer's level.

    `REPEATING_BOOK` draws from its own generator, so adding it left the other books' lines
    as they were; on some games it lists one or two of its lines a second time with other
    prices, as the real Odds API does.
    """
    quotes = _book_lines(game, "player_points", lambda level: level, 1.2, rng, repeating)
    listed = [i for i, q in enumerate(quotes) if q.book == REPEATING_BOOK]
    if listed and repeating.random() < REPEATS_SHARE:
        for i in repeating.sample(listed, min(len(listed), repeating.randint(1, 2))):
            over = repeating.choice([p for p in PRICES if p != quotes[i].over])
            quotes[i] = replace(quotes[i], repeats=((over, _under(over)),))
    return tuple(quotes)


def expected_stat(market: str, level: float) -> float:
    """A player's mean of a market's stat from his points level: straight lines fitted to
    the generated box scores of players who get lines (minutes follow the level, rebounds
    and assists the minutes, threes the points)."""
    rebounds, assists = 0.84 + 0.16 * level, 0.6 + 0.087 * level
    means = {"player_points": level, "player_rebounds": rebounds, "player_assists": assists,
             "player_threes": max(0.0, 0.073 * level - 0.18),
             "player_points_rebounds_assists": level + rebounds + assists}  # fmt: skip
    return means[market]


def _market_quotes(game: Game, market: str, rng: random.Random) -> list[Quote]:
    """Lines of a market other than points, around each regular scorer's mean of its stat."""
    return _book_lines(game, market, lambda level: expected_stat(market, level), 0.8, rng, rng)


def _moved(quotes: Sequence[Quote], game: Game, rng: random.Random) -> tuple[Quote, ...]:
    """Some lines opened elsewhere: a point to either side, or the same line at another price,
    until a moment inside MOVE_WINDOW before tip-off. Repeated listings stay as they are."""
    moved = []
    for quote in quotes:
        if quote.repeats or rng.random() >= MOVES_SHARE:
            moved.append(quote)
            continue
        latest, earliest = (game.start - before for before in MOVE_WINDOW[::-1])
        minutes = rng.randint(0, int((latest - earliest).total_seconds() // 60))
        line = max(0.5, quote.line + rng.choice((-1.0, 1.0, 0.0)))
        over = rng.choice([p for p in PRICES if p != quote.over])
        opening = (line, over, _under(over))
        moved.append(
            replace(quote, opening=opening, moves_at=earliest + dt.timedelta(minutes=minutes))
        )
    return tuple(moved)


def _quote(
    player: Player, book: str, line: float, rng: random.Random, market: str = "player_points"
) -> Quote:
    over = rng.choice(PRICES)
    return Quote(player, book, line, over, _under(over), market=market)


def _under(over: int) -> int:
    """The under price that goes with `over`: together they carry the book's ~4.5% margin."""
    return american(1.045 - implied(over))


def implied(price: int) -> float:
    """Win probability an american price implies."""
    return -price / (100 - price) if price < 0 else 100 / (100 + price)


def american(probability: float) -> int:
    """The american price (to 5) of a probability; +100 for even money."""
    raw = (
        -100 * probability / (1 - probability)
        if probability >= 0.5
        else 100 * (1 - probability) / probability
    )
    price = 5 * round(raw / 5)
    return 100 if -100 < price < 100 else price


def decimal(price: int) -> float:
    """An american price as the decimal odds the Odds API's default format shows."""
    return round(1 + (100 / -price if price < 0 else price / 100), 2)
