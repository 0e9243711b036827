"""Parser speed per upstream family, on the recordings and on generated files, json vs orjson."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from libs.common.rawfile import split_envelope
from libs.common.sources.base import ParseContext, Source
from libs.common.sources.registry import get_source
from nba_pipeline.bench.report import Figure, Results
from nba_pipeline.replay import recordings

RECORDED = (
    ("bdl_games", recordings.BDL_GAMES_2025_02_20),
    ("bdl_box_scores", recordings.BDL_BOX_SCORES_2024_01_15),
    ("bdl_players", "balldontlie/bdl_players_v1_raw.json"),
    ("oddsa_events_his", recordings.ODDS_EVENTS_2024_01_25),
    ("oddsa_player_props_his", recordings.ODDS_PROPS_242C77A8),
    ("espn_scoreboard", recordings.ESPN_SCOREBOARD_2024_01_15),
    ("espn_roster", recordings.ESPN_TEAM_2),
    ("nbac_roster", recordings.NBAC_TEAM_PAGE_GSW),
    ("nbac_schedule", recordings.NBAC_SCHEDULE_2025_26),
    ("bp_events", recordings.BP_EVENTS_2021_10_21),
)
"""(scraper, recording) pairs: every family, and every recording a parser reads."""
ROUNDS, ROUND_SECONDS = 5, 0.05
"""Each variant is timed in ROUNDS interleaved rounds of at least ROUND_SECONDS; the best counts
(the least disturbed by other load on the machine)."""
RECORDING_CONTEXT = ParseContext("bench", "recording", None, dt.datetime.now(dt.UTC), {})
"""Recordings parse without run params (none of their parsers needs one)."""


@dataclass(frozen=True)
class Sample:
    """A file as stored (a bare upstream body or one of our GCS files) and how to parse it."""

    source: Source
    content: bytes
    context: ParseContext = RECORDING_CONTEXT


def family(source: Source) -> str:
    """The source module a scraper is declared in (oddsapi, balldontlie, ...)."""
    return source.parse.__module__.rsplit(".", 1)[-1]


def recorded_samples() -> list[Sample]:
    return [Sample(get_source(name), recordings.raw(file)) for name, file in RECORDED]


def _body(sample: Sample, loads: Callable[[bytes], Any]) -> Any:
    if sample.source.body_format == "html":
        return sample.content.decode()
    return split_envelope(loads(sample.content))[1]


def _per_pass(work: Callable[[], int]) -> tuple[float, int]:
    """Repeat `work` for at least ROUND_SECONDS: (seconds per run, what a run returned)."""
    runs, started = 0, time.perf_counter()
    while True:
        result = work()
        runs += 1
        elapsed = time.perf_counter() - started
        if elapsed >= ROUND_SECONDS:
            return elapsed / runs, result


def parse_rows(sample: Sample, body: Any) -> int:
    return len(sample.source.parse(body, sample.context))


def _parse_all(samples: list[Sample], loads: Callable[[bytes], Any]) -> int:
    return sum(parse_rows(sample, _body(sample, loads)) for sample in samples)


def _family_figures(corpus: str, name: str, group: list[Sample]) -> list[Figure]:
    decoded = [(sample, _body(sample, json.loads)) for sample in group]
    variants: dict[str, Callable[[], int]] = {
        "json": lambda: _parse_all(group, json.loads),
        "orjson": lambda: _parse_all(group, orjson.loads),
        "parse": lambda: sum(parse_rows(sample, body) for sample, body in decoded),
    }
    best = dict.fromkeys(variants, float("inf"))
    rows = 0
    for _ in range(ROUNDS):
        for variant, work in variants.items():
            seconds, rows = _per_pass(work)
            best[variant] = min(best[variant], seconds)
    section = f"parsers ({corpus})"

    def decoded_with(decoder: str, ratio: float, ratio_of: str) -> Figure:
        rate = rows / best[decoder]
        what = f"{name}: {decoder} decode + parse"
        return Figure(section, what, rate, "rows/s", ratio=ratio, ratio_of=ratio_of)

    return [
        decoded_with("json", best["parse"] / best["json"], "parse share of it"),
        decoded_with("orjson", best["json"] / best["orjson"], "speed-up over json"),
    ]


def parser_speed(corpora: Iterable[tuple[str, list[Sample]]], results: Results) -> None:
    """rows/s of decode + parse with json and with orjson, per family and corpus."""
    for corpus, samples in corpora:
        by_family: dict[str, list[Sample]] = defaultdict(list)
        for sample in samples:
            by_family[family(sample.source)].append(sample)
        for name, group in sorted(by_family.items()):
            results.add(*_family_figures(corpus, name, group))
