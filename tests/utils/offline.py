"""The phase-2 and phase-3 push handlers driven in process, over raw files of the generated
season: to compare a warehouse built in any delivery order with one built in order.

Raw files are fetched once from the replay app (the scrapers' own request builders) and kept
in memory with generations, as GCS keeps them; messages go through the same `handle_push`
the services route `POST /process` to, with its real status codes and dedupe.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import datetime as dt
import functools
import gzip
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI

from libs.common.analytics import ANALYTICS_TABLES
from libs.common.deps import Clients
from libs.common.gcs import StorageError, StoredFile, object_name
from libs.common.ledger import GcsLedger, WarehouseLedger, WorkLedger
from libs.common.messages import (
    PHASE2_COMPLETE_TOPIC,
    REPROCESS_ATTRIBUTE,
    PushEnvelope,
    ScraperComplete,
    encode_message,
)
from libs.common.push import Deliveries, PushPhase, handle_push
from libs.common.settings import WorkLedgerKind
from libs.common.sources.registry import SOURCES, get_source, raw_tables
from libs.common.warehouse.base import Warehouse
from libs.common.warehouse.combining import CombiningWarehouse
from libs.common.warehouse.duckdb import DuckDBWarehouse
from nba_pipeline.backfill import date_scrapers, dates
from nba_pipeline.replay.app import create_app
from nba_pipeline.replay.settings import ReplaySettings
from services.analytics.app import BUILD_PHASE
from services.processors.loader import LOAD_PHASE
from tests.replay.conftest import ReplayFetcher
from tests.utils.fakes import memory_store
from tests.utils.tables import ORCHESTRATION_TABLES

BUCKET = "offline"
TABLES = (*ORCHESTRATION_TABLES, *raw_tables(), *ANALYTICS_TABLES)
COMPARED = (*{source.table.fqn: source.table for source in SOURCES.values()}.values(),
            *ANALYTICS_TABLES)  # fmt: skip
"""Tables whose content must not depend on delivery order."""
TIMESTAMPS = ("loaded_at", "built_at")
"""When a row was written, the only columns allowed to differ between two builds."""


class MemoryStore:
    """Raw files by object name with a generation each, as a bucket keeps them."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[int, bytes]] = {}
        self._generation = 1_700_000_000_000_000

    def gcs_path(self, name: str) -> str:
        return f"gs://{BUCKET}/{name}"

    def write(self, name: str, content: bytes) -> int:
        self._generation += 1
        self.files[name] = (self._generation, content)
        return self._generation

    def read_bytes(self, gcs_path: str) -> tuple[bytes, int]:
        name = gcs_path.removeprefix(f"gs://{BUCKET}/")
        if name not in self.files:
            raise StorageError(f"{gcs_path} does not exist")
        generation, content = self.files[name]
        return content, generation

    def read_json(self, gcs_path: str) -> StoredFile:
        content, generation = self.read_bytes(gcs_path)
        return StoredFile(gcs_path, generation, json.loads(content))

    def read_gzip_text(self, gcs_path: str) -> str:
        return gzip.decompress(self.read_bytes(gcs_path)[0]).decode()


@dataclass
class Published:
    """A message a handler published, as Pub/Sub would push it."""

    topic: str
    data: bytes
    attributes: dict[str, str]


class CapturingPublisher:
    """Keeps what the processors publish, so the test decides when analytics gets it."""

    def __init__(self) -> None:
        self.sent: list[Published] = []

    def publish(self, topic: str, message: Any, attributes: dict[str, str]) -> str:
        self.sent.append(Published(topic, encode_message(message), dict(attributes)))
        return str(len(self.sent))


def scrape(
    replay: FastAPI, store: MemoryStore, name: str, params: dict[str, Any], fetched: dt.datetime
) -> Published:
    """One run's raw file, written the way the runner writes it, and its phase-1 message."""
    source = get_source(name)
    typed = source.params_model.model_validate(params)

    async def fetch() -> Any:
        transport = httpx.ASGITransport(app=replay)
        async with httpx.AsyncClient(transport=transport, base_url="http://replay") as client:
            return await source.fetch(ReplayFetcher(client, source.upstream), typed)

    body = asyncio.run(fetch())
    return store_run(store, name, params, body, fetched)


def store_run(
    store: MemoryStore, name: str, params: dict[str, Any], body: Any, fetched: dt.datetime
) -> Published:
    """Write `body` as one run's raw file and return the completion the runner would publish."""
    source = get_source(name)
    game_date = source.game_date(source.params_model.model_validate(params))
    execution_id = str(uuid.uuid4())
    file = object_name(source.gcs_prefix, game_date, fetched, execution_id)
    meta: dict[str, Any] = {"scraper_name": name, "execution_id": execution_id,
                            "fetched_at": fetched.isoformat(), "request": {"params": params}}  # fmt: skip
    if source.body_format == "html":
        page = file.removesuffix(".json") + ".html.gz"
        store.write(page, gzip.compress(str(body).encode()))
        meta["body_file"], body = store.gcs_path(page), None
    store.write(file, json.dumps({"meta": meta, "data": body}, default=str).encode())
    message = ScraperComplete(
        scraper_name=name, execution_id=execution_id, status="success",
        gcs_path=store.gcs_path(file), game_date=game_date, record_count=1, duration_seconds=0,
        params=params,
    )  # fmt: skip
    return Published("nba-scraper-complete", encode_message(message), message.attributes())


@dataclass
class Pipeline:
    """One warehouse with the processors and analytics handlers in front of it.

    `restart()` is what a process restart does to them: in-memory dedupe forgotten, and the
    transport (the emulator) numbering messages from 1 again.
    """

    store: MemoryStore
    warehouse: CombiningWarehouse = field(
        default_factory=lambda: CombiningWarehouse(
            DuckDBWarehouse(":memory:"), sees_every_write=True
        )
    )
    publisher: CapturingPublisher = field(default_factory=CapturingPublisher)
    work_ledger: WorkLedgerKind = "warehouse"
    """gcs: markers in a bucket of their own (`memory_store`), which outlives `restart()`."""
    deliveries: dict[str, Deliveries] = field(default_factory=dict)
    next_message_id: int = 1

    def __post_init__(self) -> None:
        self.warehouse.ensure_tables(TABLES)
        self.clients = Clients(self.warehouse, self.store, self.publisher)  # type: ignore[arg-type]
        self.ledger: WorkLedger = (
            GcsLedger(memory_store())
            if self.work_ledger == "gcs"
            else WarehouseLedger(self.warehouse)
        )
        self.restart()

    def restart(self) -> None:
        self.deliveries = {"processors": Deliveries(), "analytics": Deliveries()}
        self.next_message_id = 1

    def push(self, message: Published) -> int:
        """Deliver one message to the phase that subscribes to its topic; the HTTP status."""
        phase: PushPhase[Any] = (
            BUILD_PHASE if message.topic == PHASE2_COMPLETE_TOPIC else LOAD_PHASE
        )
        envelope = {
            "message": {"data": base64.b64encode(message.data).decode(),
                        "attributes": message.attributes, "messageId": str(self.next_message_id)},
            "subscription": f"projects/p/subscriptions/{phase.name}",
        }  # fmt: skip
        self.next_message_id += 1
        response = handle_push(
            PushEnvelope.model_validate(envelope), phase, self.clients,
            self.deliveries[phase.name], self.ledger,
        )  # fmt: skip
        return response.status_code

    def run_in_order(self, messages: Iterable[Published]) -> None:
        """Each phase-1 message, then at once the phase-2 message its load published."""
        for message in messages:
            sent = len(self.publisher.sent)
            assert self.push(message) == 200
            for loaded in self.publisher.sent[sent:]:
                assert self.push(loaded) == 200

    def tables(self) -> dict[str, list[str]]:
        return table_state(self.warehouse)

    def duplicate_keys(self) -> dict[str, int]:
        return duplicate_keys(self.warehouse)

    def close(self) -> None:
        self.warehouse.close()


def reprocessed(message: Published, reprocess_id: str) -> Published:
    """The same run's completion as `nba-pipeline reprocess` publishes it."""
    return Published(message.topic, message.data,
                     message.attributes | {REPROCESS_ATTRIBUTE: reprocess_id})  # fmt: skip


def table_state(warehouse: Warehouse) -> dict[str, list[str]]:
    """Every compared table's rows, write timestamps aside, in a stable order."""
    state = {}
    for table in COMPARED:
        rows = warehouse.query(f"SELECT * FROM {{{table.fqn}}}")
        state[table.fqn] = sorted(
            json.dumps({k: v for k, v in row.items() if k not in TIMESTAMPS}, default=str,
                       sort_keys=True)
            for row in rows
        )  # fmt: skip
    return state


def duplicate_keys(warehouse: Warehouse) -> dict[str, int]:
    """Per compared table with a natural key, how many keys hold more than one row."""
    found = {}
    for table in COMPARED:
        if not table.natural_key:
            continue
        keys = ", ".join(table.natural_key)
        rows = warehouse.query(
            f"SELECT count(*) AS n FROM (SELECT {keys} FROM {{{table.fqn}}} "
            f"GROUP BY {keys} HAVING count(*) > 1) AS repeated"
        )
        if rows[0]["n"]:
            found[table.fqn] = int(rows[0]["n"])
    return found


def in_progress(body: Any) -> Any:
    """A box score as a scrape during the games saw it: every player's points halved."""
    if isinstance(body, dict):
        return {k: v // 2 if k == "pts" and isinstance(v, int) else in_progress(v)
                for k, v in body.items()}  # fmt: skip
    if isinstance(body, list):
        return [in_progress(item) for item in body]
    return body


def season_files(first: dt.date, last: dt.date) -> tuple[MemoryStore, list[Published]]:
    """Every date scraper's file for each day (what a backfill runs), plus an in-progress box
    score fetched before the final one, and their phase-1 messages in fetch order; a store and
    messages of the caller's own (generated once per session: the same seed, the same files)."""
    files, messages = _season_files(first, last)
    store = MemoryStore()
    store.files = dict(files)
    store._generation = max(generation for generation, _ in files.values())
    return store, [dataclasses.replace(m, attributes=dict(m.attributes)) for m in messages]


Built = tuple[MemoryStore, list[Published], dict[str, list[str]]]
"""Raw files, their phase-1 messages in fetch order, and every table one in-order pass builds."""


def built(first: dt.date, last: dt.date) -> Built:
    """`season_files(first, last)` and `in_order_tables(first, last)` together."""
    return *season_files(first, last), in_order_tables(first, last)


def in_order_tables(first: dt.date, last: dt.date) -> dict[str, list[str]]:
    """Every table (as `Pipeline.tables`) after one in-order pass of `season_files(first,
    last)`, which loads no natural key twice; computed once per session, a copy each call."""
    return {table: list(rows) for table, rows in _in_order_tables(first, last).items()}


@functools.cache
def _in_order_tables(first: dt.date, last: dt.date) -> dict[str, list[str]]:
    store, messages = season_files(first, last)
    in_order = Pipeline(store)
    try:
        in_order.run_in_order(messages)
        assert in_order.duplicate_keys() == {}, "an in-order pass loads each key once"
        return in_order.tables()
    finally:
        in_order.close()


@functools.cache
def _season_files(
    first: dt.date, last: dt.date
) -> tuple[dict[str, tuple[int, bytes]], tuple[Published, ...]]:
    replay = create_app(ReplaySettings(seed=2025, latency_ms=0))
    store = MemoryStore()
    messages = []
    for day in dates(first, last):
        evening = dt.datetime.combine(day, dt.time(23, 30), dt.UTC)
        params = {"date": day.isoformat()}
        final = scrape(replay, store, "bdl_box_scores", params, evening + dt.timedelta(hours=3))
        body = store.read_json(str(json.loads(final.data)["gcs_path"])).document["data"]
        messages.append(store_run(store, "bdl_box_scores", params, in_progress(body), evening))
        messages += [scrape(replay, store, name, params, evening)
                     for name in date_scrapers() if name != "bdl_box_scores"]  # fmt: skip
        messages.append(final)
    return store.files, tuple(messages)
