"""Every route's parameters, fuzzed (issue 17): hostile values never get a 5xx, and a refused
request leaves nothing behind (no run logged, no gap opened, no row loaded, nothing published).

The three services run in process over an in-memory warehouse and bucket; the scrapers fetch
from the replay upstream (the generated season), so a scrape the scrapers accept must work:
a failed run would be a parameter passed on to an upstream that cannot answer it, a gap the
backfiller would retry for ever. Each request is a valid one (the route's OpenAPI example, a
scrape the replay serves, a push of a stored run) with at most one thing made hostile: NaN,
infinities, huge numbers, long strings, `..`, foreign URLs, dates at the ends of time, deep
nesting, wrong types, a field left out or added. Examples are few and derandomized: a short,
repeatable run.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from libs.common.clock import Clock
from libs.common.deps import Clients
from libs.common.messages import Phase2Complete, ScraperComplete
from libs.common.pubsub import Publisher
from libs.common.settings import CommonSettings
from libs.common.sources.registry import SOURCES
from libs.common.sources.upstreams import replay_settings
from libs.common.validation import bounded
from libs.common.warehouse.duckdb import DuckDBWarehouse
from nba_pipeline.replay.app import create_app as replay_app
from nba_pipeline.replay.season import Season
from nba_pipeline.replay.settings import ReplaySettings
from services.analytics.app import create_app as analytics_app
from services.processors.app import create_app as processors_app
from services.scrapers.app import create_app as scrapers_app
from services.scrapers.fetcher import DIRECT
from services.scrapers.settings import ScraperSettings
from tests.utils.fakes import RecordingPublisher, memory_store
from tests.utils.rawfiles import stored_run
from tests.utils.scrapers import GAMES

FUZZ = settings(
    max_examples=25,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
DAY = dt.date(2024, 11, 12)
"""A date of the replay's generated season with a full slate."""
NOW = dt.datetime(2024, 11, 12, 15, tzinfo=dt.UTC)
KEY = "fuzz-key"


def long_text(length: int) -> st.SearchStrategy[str]:
    """`length` characters (built when drawn: a failure report shows the length, not them)."""
    return st.just(length).map(lambda n: "x" * n)


EDGE_TEXT = (
    "", " ", "..", "../x", "%2e%2e%2fx", "0", "-1", "31", "9223372036854775808", "1e40", "NaN",
    "0001-01-01", "9999-12-31", "2025-02-30", "9999-12-31T23:59:59-05:00",
    "0001-01-01T00:00:00+05:00", "gs://another-bucket/x.json", "https://example.com/x",
    "gs://nba-scraped-data/../x", "\x00", "é" * 3, "'; DROP TABLE x; --",
)  # fmt: skip
HOSTILE_TEXT = st.one_of(st.sampled_from(EDGE_TEXT), st.text(max_size=20), long_text(5000))
"""Hostile text short enough for a URL (a client refuses one over 64 KB)."""
HOSTILE: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([2**63, -(2**63) - 1, 10**40]),
    st.floats(allow_nan=True, allow_infinity=True),
    HOSTILE_TEXT,
    long_text(200_000),
    st.lists(st.integers(), max_size=3),
    st.just(100_000).map(lambda n: list(range(n))),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    st.just([[[[[[[[[[[]]]]]]]]]]]),
)
ONE_BAD = ("", "value", "value", "value", "value", "whole", "dropped", "added")
"""What `one_bad` does, each as likely as it is listed ("": nothing wrong)."""
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
DEEP = st.just(100_000).map(lambda n: "[" * n + "]" * n)
"""JSON no parser takes (nested far past Python's recursion limit)."""


FieldPath = tuple[str, ...]
"""Keys from the top of a JSON object down to one field."""


def paths_in(value: Any, at: FieldPath = ()) -> Iterator[FieldPath]:
    """The path of `value` itself and of every field in it, however deep."""
    yield at
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths_in(item, (*at, key))


def replaced(value: Any, at: FieldPath, new: Any) -> Any:
    """A copy of `value` with the field at `at` set to `new` (added if absent)."""
    if not at:
        return new
    return {**value, at[0]: replaced(value.get(at[0]), at[1:], new)}


def dropped(value: Any, at: FieldPath) -> Any:
    """A copy of `value` without the field at `at`."""
    if len(at) == 1:
        return {key: item for key, item in value.items() if key != at[0]}
    return {**value, at[0]: dropped(value[at[0]], at[1:])}


def one_bad(base: Any) -> st.SearchStrategy[Any]:
    """`base` as it is, or with one thing wrong: a value replaced by a hostile one or a near
    miss (most often: that is where bounds are missed), the whole of it replaced, a field left
    out, or an unexpected field added. One at a time, so each field of a valid request gets
    its turn and a refusal is that field's."""
    paths = list(paths_in(base))
    values = [at for at in paths if at and not isinstance(reach(base, at), dict)]
    objects = [at for at in paths if isinstance(reach(base, at), dict)]
    wrong = {
        "value": st.sampled_from(values or [()]).flatmap(
            lambda at: st.one_of(near_misses(reach(base, at)), HOSTILE).map(
                lambda new: replaced(base, at, new)
            )
        ),
        "whole": HOSTILE,
        "dropped": st.sampled_from(values or [()]).map(lambda at: dropped(base, at) if at else {}),
        "added": st.builds(lambda at, new: replaced(base, (*at, "unexpected"), new),
                           st.sampled_from(objects or [()]), HOSTILE),
    }  # fmt: skip
    return st.sampled_from(ONE_BAD).flatmap(lambda kind: wrong[kind] if kind else st.just(base))


def near_misses(value: Any) -> st.SearchStrategy[Any]:
    """Values of the same kind as `value` that an upstream may not know: another number,
    another date, the text cut, grown or changed; for anything else, a hostile value."""
    if isinstance(value, bool) or value is None or isinstance(value, dict):
        return HOSTILE
    if isinstance(value, int):
        shifted = [value + 1, value - 1, 0, -value, value * 10**30]
        return st.one_of(st.sampled_from(shifted), st.integers(value - 100, value + 100))
    if isinstance(value, list):
        like = near_misses(value[0]) if value else HOSTILE
        return st.one_of(st.lists(like, max_size=40), st.just(value * 50_000))
    if ISO_DATE.fullmatch(value):
        return st.dates().map(dt.date.isoformat)
    if value.isdigit():
        return st.integers(0, 10 ** (len(value) + 1)).map(str)
    return st.sampled_from([value + "x", value[:-1], value * 100, value.upper()])


def reach(value: Any, at: FieldPath) -> Any:
    """The field of `value` at `at`."""
    for key in at:
        value = value[key]
    return value


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def as_data(message: Any) -> str:
    """`message.data` as Pub/Sub pushes it: base64 of the JSON (NaN and Infinity kept)."""
    return b64(json.dumps(message))


@dataclass(frozen=True)
class Request:
    """One request a route gets; `body` is the JSON text, sent as it is."""

    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    body: str | None = None

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.path} {self.query} {bounded(self.body or '', 500)}"


@dataclass(frozen=True)
class Route:
    """A route of a service and the requests to throw at it."""

    service: str
    method: str
    path: str
    requests: st.SearchStrategy[Request]

    @property
    def label(self) -> str:
        return f"{self.service} {self.method.upper()} {self.path}"


QUERY_BASE = {"execution_id": "9b2f6a8e-4d1c-4f6e-9a51-0c1d2e3f4a5b", "from": "2024-11-01",
              "to": "2024-11-30", "game_date": DAY.isoformat(), "limit": "10", "offset": "0",
              "scraper_name": "bdl_games", "status": "success", "workflow": "MANUAL"}  # fmt: skip
"""A valid value of each path and query parameter, by name."""


def routes_of(service: str, app: FastAPI, bodies: dict[str, st.SearchStrategy[Any]]) -> list[Route]:
    """Every route of `app` that takes parameters or a body; `bodies` gives the request body
    strategy by path where an example cannot say what is valid (a scraper's params, a push)."""
    spec = app.openapi()
    schemas = spec.get("components", {}).get("schemas", {})
    found = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            parameters = operation.get("parameters", [])
            body_schema = operation.get("requestBody", {}).get("content", {})
            if not parameters and not body_schema:
                continue
            found.append(Route(service, method, path, requests_for(
                method, path, parameters, body_schema, schemas, bodies.get(path)
            )))  # fmt: skip
    return found


def requests_for(
    method: str,
    path: str,
    parameters: list[dict[str, Any]],
    body_schema: dict[str, Any],
    schemas: dict[str, Any],
    body: st.SearchStrategy[Any] | None,
) -> st.SearchStrategy[Request]:
    """A valid request of the route, or one with one path parameter, query parameter or body
    field wrong; some bodies are JSON nested past any parser's limit."""

    def base(where: str) -> dict[str, str]:
        return {p["name"]: QUERY_BASE.get(p["name"], str(p["schema"].get("default", "x")))
                for p in parameters if p["in"] == where}  # fmt: skip

    names, query = base("path"), base("query")
    if body is None and body_schema:
        schema = body_schema["application/json"]["schema"]
        ref = next((s["$ref"] for s in [schema, *schema.get("anyOf", [])] if "$ref" in s), "")
        body = st.sampled_from(examples_of(schemas.get(ref.rsplit("/", 1)[-1], {}))).flatmap(
            one_bad
        )
    texts = st.one_of(body.map(json.dumps), DEEP) if body is not None else st.none()

    def build(names: dict[str, Any], query: dict[str, Any], text: str | None) -> Request:
        filled = path.format(**{k: quote(str(v), safe="") for k, v in names.items()})
        return Request(method, filled, {k: v for k, v in query.items() if v is not None}, text)

    return st.one_of(
        st.builds(build, st.just(names), st.just(query), texts),
        st.builds(build, one_bad_parameter(names), st.just(query), texts),
        st.builds(build, st.just(names), one_bad_parameter(query), texts),
    )


def one_bad_parameter(base: dict[str, str]) -> st.SearchStrategy[dict[str, str | None]]:
    """`base`, or with one parameter's value hostile text (or, in a query, left out)."""
    if not base:
        return st.just(base)
    hostile = st.one_of(HOSTILE_TEXT, st.none())
    return st.builds(lambda name, bad: {**base, name: bad}, st.sampled_from(sorted(base)), hostile)


def examples_of(schema: dict[str, Any]) -> list[Any]:
    """A model's examples, else one object of its fields' examples."""
    fields = schema.get("properties", {}).items()
    return schema.get("examples") or [{k: p["examples"][0] for k, p in fields if p.get("examples")}]


@dataclass
class Service:
    """A service in process, and the table each request it accepts appends to."""

    app: FastAPI
    http: TestClient
    warehouse: DuckDBWarehouse
    publisher: RecordingPublisher
    appends_to: str
    bodies: dict[str, dict[str, st.SearchStrategy[Any]]]
    """Request bodies by path and variant (a scraper), where an OpenAPI example cannot say
    what is valid."""

    def send(self, request: Request) -> httpx.Response:
        headers = {"content-type": "application/json"} if request.body is not None else {}
        return self.http.request(request.method, request.path, params=request.query,
                                 content=request.body, headers=headers)  # fmt: skip

    def count(self, table: str, where: str = "TRUE") -> int:
        [row] = self.warehouse.query(f"SELECT count(*) AS n FROM {{{table}}} WHERE {where}")
        return int(row["n"])

    def footprint(self) -> dict[str, int]:
        """What a request can leave behind: rows appended, messages published, failed runs
        and gaps (a request must never cause these two)."""
        return {
            "rows": self.count(self.appends_to),
            "published": len(self.publisher.published),
            "failed runs": self.count(
                "nba_orchestration.scraper_execution_log", "status = 'failed'"
            ),
            "gaps": self.count("nba_orchestration.scraper_failures"),
        }


def replay_scrapes(season: Season) -> dict[str, dict[str, Any]]:
    """One scrape per scraper that the replay upstream answers, by scraper name."""
    game = season.games_on(DAY)[0]
    day, snapshot = DAY.isoformat(), f"{DAY.isoformat()}T21:00:00Z"
    return {
        "oddsa_events": {"date": day},
        "oddsa_events_his": {"date": day, "snapshot": snapshot},
        "oddsa_player_props": {"date": day, "event_id": game.odds_id},
        "oddsa_player_props_his": {"date": day, "event_id": game.odds_id, "snapshot": snapshot},
        "bdl_games": {"date": day},
        "bdl_box_scores": {"date": day},
        "bdl_players": {},
        "bdl_player_injuries": {"date": day},
        "bp_events": {"date": day},
        "bp_player_props": {"date": day, "event_ids": [game.bp_id]},
        "espn_scoreboard": {"date": day},
        "espn_roster": {"team_id": "2"},
        "nbac_schedule": {"date": day},
        "nbac_roster": {"team_id": 1610612744, "slug": "warriors"},
    }


def scrape_requests(season: Season) -> dict[str, st.SearchStrategy[Any]]:
    """The scrapers' `POST /process` bodies by scraper: a scrape the replay serves, with one
    thing made hostile."""
    scrapes = replay_scrapes(season)
    assert set(scrapes) == set(SOURCES), "give replay_scrapes a scrape for every scraper"
    return {
        name: one_bad({"scraper_name": name, "params": params, "workflow": "MANUAL"})
        for name, params in scrapes.items()
    }


@pytest.fixture(scope="module")
def services() -> Iterator[dict[str, Service]]:
    """The three services on one warehouse and bucket, as the local stack runs them, the
    scrapers fetching from the replay app."""
    replay = replay_app(ReplaySettings(seed=2025, latency_ms=0))
    scraping = ScraperSettings.model_validate(
        {"http_attempts": 1, **replay_settings("http://replay", KEY)}
    )
    warehouse, store, publisher = DuckDBWarehouse(":memory:"), memory_store(), RecordingPublisher()
    clients = Clients(warehouse, store, cast(Publisher, publisher))
    run = stored_run(store, "bdl_games", {"date": "2025-02-20"}, GAMES)
    apps = {
        "scrapers": (scrapers_app(scraping, clients, Clock(NOW)), "scraper_execution_log",
                     scrape_requests(replay.state.season)),
        "processors": (processors_app(CommonSettings(), clients), "processed_messages",
                       {"": envelopes(run)}),
        "analytics": (analytics_app(CommonSettings(), clients), "processed_messages",
                      {"": envelopes(loaded(run))}),
    }  # fmt: skip
    with ExitStack() as started:
        running = {
            name: Service(app, started.enter_context(TestClient(app)), warehouse, publisher,
                          f"nba_orchestration.{table}", {"/process": bodies})
            for name, (app, table, bodies) in apps.items()
        }  # fmt: skip
        scrapers = running["scrapers"]
        runner = scrapers.app.state.runner
        for client in runner.http.values():
            scrapers.http.portal.call(client.aclose)
        runner.http = {DIRECT.name: httpx.AsyncClient(transport=httpx.ASGITransport(app=replay))}
        yield running


def loaded(run: ScraperComplete) -> Phase2Complete:
    """The phase-2 message of that run's load."""
    return Phase2Complete(scraper_name=run.scraper_name, source_table="nba_raw.bdl_games",
                          game_date=run.game_date, record_count=9, rows_changed=9,
                          execution_id=run.execution_id, gcs_path=run.gcs_path)  # fmt: skip


def envelopes(message: ScraperComplete | Phase2Complete) -> st.SearchStrategy[Any]:
    """Push envelopes of `message`, with one thing wrong in the envelope or in the message
    its `data` carries, or `data` nested past any parser's limit."""
    body = message.model_dump(mode="json")
    envelope = {
        "message": {"data": as_data(body), "messageId": "1", "attributes": message.attributes()},
        "subscription": "projects/nba-test/subscriptions/nba-processors-sub",
    }
    return st.one_of(
        one_bad(envelope),
        one_bad(body).map(lambda bad: replaced(envelope, ("message", "data"), as_data(bad))),
        DEEP.map(lambda deep: replaced(envelope, ("message", "data"), b64(deep))),
    )


def route_labels() -> list[tuple[str, str, str, str]]:
    """(service, method, path, variant) of every route with parameters, read from the apps'
    OpenAPI without starting them; the scrapers' `POST /process` once per scraper."""
    apps = {"scrapers": scrapers_app(ScraperSettings.model_validate({})),
            "processors": processors_app(CommonSettings()),
            "analytics": analytics_app(CommonSettings())}  # fmt: skip
    return [
        (name, route.method, route.path, variant)
        for name, app in apps.items()
        for route in routes_of(name, app, {})
        for variant in (sorted(SOURCES) if (name, route.path) == ("scrapers", "/process") else [""])
    ]


@pytest.mark.parametrize(("service", "method", "path", "variant"), route_labels())
def test_hostile_parameters_get_no_5xx_and_leave_nothing_behind(
    services: dict[str, Service], service: str, method: str, path: str, variant: str
) -> None:
    running = services[service]
    bodies = {path: running.bodies[path][variant]} if path in running.bodies else {}
    [route] = [
        r for r in routes_of(service, running.app, bodies) if (r.method, r.path) == (method, path)
    ]

    @FUZZ
    @given(request=route.requests)
    def check(request: Request) -> None:
        before = running.footprint()
        response = running.send(request)
        assert response.status_code < 500, f"{route.label} {request}: {response.text[:500]}"
        after = running.footprint()
        if response.status_code >= 400:
            assert after == before, f"a refused request left something: {request}"
        caused = {k: after[k] - before[k] for k in ("failed runs", "gaps") if after[k] != before[k]}
        assert not caused, f"{route.label} {request} caused {caused}"

    check()
