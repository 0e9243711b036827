"""The work ledger: which units of work a push phase applied, whatever message carried them.

A phase looks its work up before applying it and records it after the work committed, beside
the processed_messages row it appends whatever the ledger (that table stays the audit log that
`/admin/pipeline-progress`, cleanup and the dashboard read). Two stores, chosen by the setting
`WORK_LEDGER` (docs/contracts.md, "Exactly-once effects"):

- `warehouse`: a query on processed_messages.work_key. Cheap on DuckDB; on BigQuery a query
  job per lookup (seconds, and a minimum of billed bytes).
- `gcs`: a create-only marker object per unit of work in the raw-file bucket, looked up with
  a metadata GET, so a duplicate delivery costs no warehouse job at all.
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass
from typing import Protocol

from libs.common.audit import already_processed
from libs.common.deps import Clients, Dependency
from libs.common.gcs import FileAlreadyExistsError, RawFileStore
from libs.common.messages import Phase, utc_now
from libs.common.settings import WorkLedgerKind
from libs.common.warehouse.base import Warehouse


@dataclass(frozen=True)
class Work:
    """What a message asks to be done: the unit a duplicate is judged by.

    Pub/Sub message ids are unique only within a topic; a re-created topic, a DLQ replay or
    a restarted emulator (which numbers messages from 1 at every start) gives the same work a
    new id or another work an old one. So the work, not the transport, decides: a phase-1
    message is applied once per (execution_id, raw file, its generation), a phase-2 message
    once per (execution_id, loaded table), and each `nba-pipeline reprocess` run once more.
    """

    phase: Phase
    execution_id: str
    target: str
    """processors: the raw file's gs:// path ('' for a run without one); analytics: the
    loaded table."""
    reprocess_id: str = ""

    def key(self, version: str = "") -> str:
        """processed_messages.work_key; `version` is the input's version (a file's generation)."""
        return "|".join((self.phase, self.execution_id, self.target, version, self.reprocess_id))


class WorkLedger(Protocol):
    """Where a phase finds out whether a unit of work, at a version of its input, was applied."""

    def applied(self, work: Work, version: str = "") -> bool:
        """Whether any delivery, in any instance, applied this work at this version."""
        ...

    def record(self, work: Work, version: str = "") -> None:
        """Note the work applied: only once it committed, and idempotent (instances may race)."""
        ...


class WarehouseLedger:
    """Applied work is the processed_messages rows themselves: no other store to keep."""

    def __init__(self, warehouse: Warehouse) -> None:
        self.warehouse = warehouse

    def applied(self, work: Work, version: str = "") -> bool:
        return already_processed(self.warehouse, work.key(version))

    def record(self, work: Work, version: str = "") -> None:
        """Nothing to add: the processed_messages row the phase appended is the record."""


WORK_PREFIX = "_work"
"""Where `GcsLedger` keeps its markers in the raw-file bucket. No scraper prefix starts with
it, nor does `orchestration/`, so cleanup, reprocess and the processors never list or read one."""


class GcsLedger:
    """A marker object per applied unit of work, created only if absent (`if_generation_match=0`).

    The same create-only pattern as raw files and workflow claims, in a bucket every service
    can already reach: no other service, client or emulator to run. A lookup is a metadata
    GET (tens of milliseconds), never a warehouse job.
    """

    def __init__(self, store: RawFileStore) -> None:
        self.store = store

    def marker(self, work: Work, version: str = "") -> str:
        """`_work/<phase>/<sha256 of the work key>`: fixed length whatever the key holds (a
        gs:// path), and spread over the key range GCS scales its writes by."""
        digest = hashlib.sha256(work.key(version).encode()).hexdigest()
        return f"{WORK_PREFIX}/{work.phase}/{digest}"

    def applied(self, work: Work, version: str = "") -> bool:
        return self.store.exists(self.store.gcs_path(self.marker(work, version)))

    def record(self, work: Work, version: str = "") -> None:
        document = {"work_key": work.key(version), "recorded_at": utc_now().isoformat()}
        # Already there: another instance applied the same work at the same moment.
        with contextlib.suppress(FileAlreadyExistsError):
            self.store.write_json(self.marker(work, version), document)


def open_ledger(kind: WorkLedgerKind, clients: Clients) -> WorkLedger:
    """The ledger `kind` over a service's clients (`gcs` needs its raw-file store)."""
    if kind == "gcs":
        return GcsLedger(clients.store)
    return WarehouseLedger(clients.warehouse)


def ledger_uses(kind: WorkLedgerKind) -> tuple[Dependency, ...]:
    """The clients ledger `kind` needs besides the warehouse (a service's `uses`)."""
    return ("gcs",) if kind == "gcs" else ()
