"""The generated season: deterministic per seed, shaped like an NBA regular season, pinned
where a recording fixes it, and internally consistent (box scores sum to scores, lines near
what players score)."""

from __future__ import annotations

import datetime as dt
import json
import statistics
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from libs.common.players import name_key
from libs.common.sources.props import MARKETS
from nba_pipeline.replay.league import EASTERN
from nba_pipeline.replay.season import (
    INITIALS,
    MOVE_WINDOW,
    REPEATING_BOOK,
    SEASON_END,
    SEASON_START,
    SUFFIXES,
    Season,
    StatLine,
    decimal,
)
from tests.replay.conftest import PINNED

GAMES_RECORDING = (
    Path(__file__).resolve().parents[2]
    / "nba_pipeline/replay/recordings/balldontlie/bdl_games_v1_raw_2025-02-20.json"
)
SAMPLE_DATES = (SEASON_START, dt.date(2024, 12, 25), PINNED, SEASON_END)


def fingerprint(season: Season) -> list[Any]:
    """Schedule, rosters, and the lazily built box scores and lines of a few dates."""
    out: list[Any] = [
        (
            g.bdl_id,
            g.odds_id,
            g.start,
            g.home.club.abbr,
            g.away.club.abbr,
            g.home.score,
            g.away.score,
        )
        for g in season.games
    ]
    out += [(p.bdl_id, p.full_name, p.level, p.club.abbr) for p in season.players]
    for day in SAMPLE_DATES:
        for g in season.games_on(day):
            out += [season.box_score(g), season.quotes(g), season.linescore(g)]
    return out


def test_same_seed_same_season_other_seed_differs() -> None:
    assert fingerprint(Season(2025)) == fingerprint(Season(2025))
    assert fingerprint(Season(2025)) != fingerprint(Season(7))


def test_lazy_parts_do_not_depend_on_the_order_they_are_asked(season: Season) -> None:
    late = season.games_on(SEASON_END)[0]
    fresh = Season(season.seed)
    assert fresh.quotes(late) == season.quotes(late)
    assert fresh.box_score(late) == season.box_score(late)


def test_season_shape(season: Season) -> None:
    assert len(season.clubs) == 30
    per_team = Counter(side.club.abbr for g in season.games for side in g.sides)
    assert set(per_team.values()) == {82} and len(per_team) == 30
    assert len(season.games) == 1230
    homes = Counter(g.home.club.abbr for g in season.games)
    assert all(38 <= n <= 44 for n in homes.values()), homes
    for day in season.game_dates():
        games = season.games_on(day)
        assert SEASON_START <= day <= SEASON_END
        assert 1 <= len(games) <= 15
        teams = [side.club.abbr for g in games for side in g.sides]
        assert len(teams) == len(set(teams)), f"a team plays twice on {day}"
        for g in games:
            eastern = g.start.astimezone(EASTERN)
            assert eastern.date() == day
            assert dt.time(19) <= eastern.time() <= dt.time(22, 30)
    assert statistics.mean(len(season.games_on(d)) for d in season.game_dates()) > 6


def test_rosters_and_ids(season: Season) -> None:
    assert all(len(season.roster(club)) == 15 for club in season.clubs)
    assert len(season.players) == 450
    for ids in ("bdl_id", "nba_id", "espn_id", "bp_id", "full_name"):
        assert len({getattr(p, ids) for p in season.players}) == 450, ids
    for ids in ("bdl_id", "odds_id", "nba_id", "espn_id", "bp_id"):
        assert len({getattr(g, ids) for g in season.games}) == 1230, ids
    assert all(len(g.odds_id) == 32 and int(g.odds_id, 16) >= 0 for g in season.games)


def test_pinned_date_matches_the_games_recording(season: Season) -> None:
    recorded = json.loads(GAMES_RECORDING.read_text())["data"]
    expected = sorted(
        (g["id"], g["home_team"]["abbreviation"], g["visitor_team"]["abbreviation"],
         g["home_team_score"], g["visitor_team_score"], g["datetime"].replace(".000Z", "+00:00"))
        for g in recorded
    )  # fmt: skip
    games = season.games_on(PINNED)
    assert (
        sorted(
            (
                g.bdl_id,
                g.home.club.abbr,
                g.away.club.abbr,
                g.home.score,
                g.away.score,
                g.start.isoformat(),
            )
            for g in games
        )
        == expected
    )
    assert sum(len(season.box_score(g)[0]) for g in games) > 0


def stat(market: str, line: StatLine) -> int:
    """The box-score stat a market's line is on."""
    shares = {"player_points": line.pts, "player_rebounds": line.reb, "player_assists": line.ast,
              "player_threes": line.fg3m, "player_points_rebounds_assists": line.pts + line.reb + line.ast}  # fmt: skip
    return shares[market]


def test_box_scores_add_up_and_lines_sit_near_scoring(season: Season) -> None:
    misses: dict[str, list[float]] = defaultdict(list)
    for day in SAMPLE_DATES:
        for g in season.games_on(day):
            for side, lines in zip(g.sides, season.box_score(g), strict=True):
                assert [line.player for line in lines] == list(side.entries)
                assert sum(line.pts for line in lines) == side.score
                assert sum(line.minutes for line in lines) == 240 + 25 * (g.periods - 4)
                for line in lines:
                    assert line.pts == 2 * line.fgm + line.fg3m + line.ftm
                    assert line.fgm <= line.fga and line.fg3m <= line.fg3a <= line.fga
                    assert line.ftm <= line.fta
            box = {line.player: line for lines in season.box_score(g) for line in lines}
            for q in season.quotes(g):
                misses[q.market].append(abs(stat(q.market, box[q.player]) - q.line))
    assert set(misses) == {m.key for m in MARKETS}
    for market, by in misses.items():  # within about a third of the stat's typical size
        typical = {"player_points": 12, "player_points_rebounds_assists": 18}.get(market, 4)
        assert statistics.mean(by) < typical / 2, market


def test_expected_rows_are_the_sum_of_the_dates(season: Season) -> None:
    start, end = dt.date(2024, 10, 22), dt.date(2024, 10, 28)
    days = [start + dt.timedelta(n) for n in range((end - start).days + 1)]
    rows = season.expected_rows(start, end)
    assert rows["nba_raw.bdl_games"] == sum(len(season.games_on(d)) for d in days)
    assert rows["nba_raw.bdl_player_boxscores"] == sum(season.box_score_rows(d) for d in days)
    games = [g for d in days for g in season.games_on(d)]
    assert rows["nba_raw.odds_api_player_points_props"] == sum(map(season.odds_props_rows, games))
    assert rows["nba_raw.bettingpros_player_points_props"] == sum(map(season.bp_props_rows, games))
    assert season.expected_rows(SEASON_START, SEASON_END)["nba_raw.bdl_games"] == 1230


def test_williamhill_repeats_some_lines_at_other_prices(season: Season) -> None:
    """The real quirk of issue 14 on some games: a second Over/Under pair at the same point."""
    repeated = [(g, q) for g in season.games for q in season.quotes(g) if q.repeats]
    games = {g.index for g, _ in repeated}
    assert 0.15 * len(season.games) < len(games) < 0.35 * len(season.games)
    assert {q.book for _, q in repeated} == {REPEATING_BOOK}
    for _, q in repeated:
        for over, _under in q.repeats:
            assert over != q.over and decimal(over) != decimal(q.over)  # in either format


def test_some_lines_open_elsewhere_and_move_before_tipoff(season: Season) -> None:
    games = [g for day in SAMPLE_DATES for g in season.games_on(day)]
    quotes = [(g, q) for g in games for q in season.quotes(g)]
    moved = [(g, q) for g, q in quotes if q.opening is not None]
    assert 0.25 * len(quotes) < len(moved) < 0.5 * len(quotes)
    assert {q.market for _, q in moved} == {m.key for m in MARKETS}
    latest, earliest = MOVE_WINDOW
    for g, q in moved:
        assert q.moves_at is not None and g.start - latest <= q.moves_at <= g.start - earliest
        before = q.at(q.moves_at - dt.timedelta(minutes=1))
        assert (before.line, before.over, before.under) == q.opening != (q.line, q.over, q.under)
        assert q.at(q.moves_at) == q.at(g.start) == q
    assert any(q.opening[0] != q.line for _, q in moved if q.opening)  # the line itself too


def test_each_upstream_spells_some_names_its_own_way(season: Season) -> None:
    """Suffixes, initials and accents fold away under the name key; BettingPros' full first
    names do not, so only they need the overrides file."""
    players = season.players
    assert sum(p.last_name.endswith(SUFFIXES) for p in players) > 5
    assert sum(p.first_name in INITIALS for p in players) > 5
    assert sum(p.nba_name != p.full_name for p in players) > 5
    assert sum(p.odds_name != p.full_name for p in players) > 10
    assert 0 < sum(bool(p.book_first) for p in players) < 0.1 * len(players)
    for p in players:
        assert name_key(p.nba_name) == name_key(p.odds_name) == name_key(p.full_name), p
        assert (name_key(p.bp_name) == name_key(p.full_name)) is not bool(p.book_first), p
