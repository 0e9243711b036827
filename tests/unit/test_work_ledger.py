"""The work ledger (libs/common/ledger.py): both stores answer alike, the gcs one without a
warehouse query, and a unit of work is recorded only once it committed."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from typing import Any

import pytest
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from libs.common.deps import Clients
from libs.common.gcs import RawFileStore, StorageError
from libs.common.ledger import (
    WORK_PREFIX,
    GcsLedger,
    WarehouseLedger,
    Work,
    WorkLedger,
    open_ledger,
)
from libs.common.messages import PushEnvelope
from libs.common.push import DUPLICATE, Applied, Deliveries, Delivery, PushPhase, handle_push
from libs.common.settings import CommonSettings
from libs.common.sources.registry import SOURCES
from libs.common.warehouse.base import Row
from libs.common.warehouse.duckdb import DuckDBWarehouse
from services.scrapers.orchestration.engine import CLAIMS_PREFIX
from tests.utils.fakes import fake_clients, memory_store
from tests.utils.tables import ORCHESTRATION_TABLES

WORK = Work("processors", "exec-1", "gs://nba-scraped-data/a/2025-02-20/f.json")


class Job(BaseModel):
    execution_id: str


class CountingWarehouse(DuckDBWarehouse):
    """In-memory DuckDB that counts the queries it answers."""

    def __init__(self) -> None:
        super().__init__(":memory:")
        self.queries = 0

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        self.queries += 1
        return super().query(sql, params)


@pytest.fixture
def warehouse() -> Iterator[CountingWarehouse]:
    opened = CountingWarehouse()
    opened.ensure_tables(ORCHESTRATION_TABLES)
    yield opened
    opened.close()


@pytest.fixture
def store() -> RawFileStore:
    return memory_store()


@pytest.fixture
def clients(warehouse: CountingWarehouse, store: RawFileStore) -> Clients:
    return fake_clients(warehouse, store)


@pytest.fixture(params=["warehouse", "gcs"])
def ledger(request: pytest.FixtureRequest, clients: Clients) -> WorkLedger:
    return open_ledger(request.param, clients)


Apply = Callable[[Clients, Delivery[Job]], Applied]


def loads(clients: Clients, delivery: Delivery[Job]) -> Applied:
    """A processors-like apply: its input is at version 7; applied work is a duplicate."""
    outcome = DUPLICATE if delivery.already_applied("7") else "loaded"
    return Applied(outcome, "bdl_games", delivery.work.execution_id, version="7")


def push(clients: Clients, ledger: WorkLedger, apply: Apply, message_id: str = "1") -> JSONResponse:
    """One delivery of WORK's message to a new process (nothing remembered in memory)."""
    data = base64.b64encode(json.dumps({"execution_id": WORK.execution_id}).encode()).decode()
    envelope = PushEnvelope.model_validate({"message": {"messageId": message_id, "data": data}})
    phase = PushPhase(WORK.phase, Job, lambda _: WORK.target, apply)
    return handle_push(envelope, phase, clients, Deliveries(), ledger)


def status(response: JSONResponse) -> str:
    return str(json.loads(bytes(response.body))["status"])


def markers(store: RawFileStore) -> list[str]:
    return store.list_names(f"{WORK_PREFIX}/")


def test_the_ledger_follows_the_warehouse_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORK_LEDGER", raising=False)
    assert CommonSettings(_env_file=None, warehouse="duckdb").work_ledger == "warehouse"
    assert CommonSettings(_env_file=None, warehouse="bigquery").work_ledger == "gcs"
    monkeypatch.setenv("WORK_LEDGER", "warehouse")
    assert CommonSettings(_env_file=None, warehouse="bigquery").work_ledger == "warehouse"


def test_applied_work_is_found_at_its_version_by_a_new_process(
    clients: Clients, ledger: WorkLedger
) -> None:
    assert not ledger.applied(WORK, "7")
    assert status(push(clients, ledger, loads, "1")) == "loaded"
    assert ledger.applied(WORK, "7")
    assert not ledger.applied(WORK, "8"), "a new generation of the file is new work"
    assert not ledger.applied(replace(WORK, reprocess_id="r-1"), "7"), "a reprocess is too"
    assert status(push(clients, ledger, loads, "1")) == DUPLICATE, "a restarted emulator's id"
    assert status(push(clients, ledger, loads, "99")) == DUPLICATE, "a replay's new id"


def test_processed_messages_stays_the_audit_log_with_either_ledger(
    clients: Clients, ledger: WorkLedger, warehouse: CountingWarehouse
) -> None:
    push(clients, ledger, loads, "1")
    push(clients, ledger, loads, "2")
    rows = warehouse.query(
        "SELECT work_key, message_id FROM {nba_orchestration.processed_messages}"
    )
    assert rows == [{"work_key": WORK.key("7"), "message_id": "1"}]


def test_a_failing_apply_leaves_no_record(
    clients: Clients, ledger: WorkLedger, store: RawFileStore
) -> None:
    def fails(clients: Clients, delivery: Delivery[Job]) -> Applied:
        loads(clients, delivery)
        raise StorageError("gs://nba-scraped-data/a/f.json cannot be read")

    assert push(clients, ledger, fails).status_code == 500
    assert not ledger.applied(WORK, "7")
    assert markers(store) == []
    assert status(push(clients, ledger, loads)) == "loaded", "the redelivery applies it"


def test_the_marker_is_written_after_the_work_and_its_audit_row(
    clients: Clients,
    warehouse: CountingWarehouse,
    store: RawFileStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ledger = GcsLedger(store)
    seen_while_applying: list[list[str]] = []

    def watches(clients: Clients, delivery: Delivery[Job]) -> Applied:
        seen_while_applying.append(markers(store))
        return loads(clients, delivery)

    def append_fails(*_: Any) -> None:
        raise RuntimeError("insertAll failed")

    monkeypatch.setattr(warehouse, "append", append_fails)
    with pytest.raises(RuntimeError):  # the route answers 500: retried
        push(clients, ledger, watches)
    assert markers(store) == [], "no marker without the audit row"
    monkeypatch.undo()
    assert status(push(clients, ledger, watches)) == "loaded"
    assert seen_while_applying == [[], []]
    assert markers(store) == [ledger.marker(WORK, "7")]


def test_a_duplicate_costs_no_warehouse_query_with_the_gcs_ledger(
    clients: Clients, warehouse: CountingWarehouse, store: RawFileStore
) -> None:
    assert status(push(clients, GcsLedger(store), loads)) == "loaded"
    before = warehouse.queries
    assert status(push(clients, GcsLedger(store), loads)) == DUPLICATE
    assert warehouse.queries == before
    assert status(push(clients, WarehouseLedger(warehouse), loads)) == DUPLICATE
    assert warehouse.queries == before + 1, "the warehouse ledger's lookup is a query"


def test_a_marker_names_its_work_and_a_second_create_is_no_error(store: RawFileStore) -> None:
    ledger = GcsLedger(store)
    name = ledger.marker(WORK, "7")
    assert name == f"_work/processors/{hashlib.sha256(WORK.key('7').encode()).hexdigest()}"
    ledger.record(WORK, "7")
    ledger.record(WORK, "7")  # another instance applied the same work at the same moment
    assert json.loads(store.read_bytes(store.gcs_path(name))[0])["work_key"] == WORK.key("7")
    assert markers(store) == [name]


def test_a_marker_that_cannot_be_written_still_acks_the_applied_work(
    clients: Clients, store: RawFileStore, caplog: pytest.LogCaptureFixture
) -> None:
    """The work and its audit row are in; a nack would apply it again and log it twice."""

    class Unwritable(GcsLedger):
        def record(self, work: Work, version: str = "") -> None:
            raise StorageError("503 from storage.googleapis.com")

    with caplog.at_level(logging.ERROR, "libs.common.push"):
        assert status(push(clients, Unwritable(store), loads)) == "loaded"
    assert "not recorded in the work ledger" in caplog.text
    assert WarehouseLedger(clients.warehouse).applied(WORK, "7"), "the audit row is there"


def test_no_scraper_or_claim_writes_under_the_ledger_prefix() -> None:
    """Cleanup, reprocess and the processors list or read only scraper prefixes, and claims
    live under `orchestration/`, so none of them meets a marker."""
    tops = {source.gcs_prefix.split("/")[0] for source in SOURCES.values()}
    assert WORK_PREFIX not in {*tops, CLAIMS_PREFIX.split("/")[0]}
