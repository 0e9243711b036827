"""The clients a service talks to, built once per process and shared by its routes."""

from __future__ import annotations

from collections.abc import Collection
from typing import Annotated, Any, Literal

from fastapi import Depends, Request

from libs.common.gcs import RawFileStore
from libs.common.pubsub import Publisher
from libs.common.settings import CommonSettings
from libs.common.warehouse import Warehouse, open_warehouse

Dependency = Literal["gcs", "pubsub"]
"""What a service may use besides the warehouse; each costs imports and a client at startup."""
ALL_DEPENDENCIES: tuple[Dependency, ...] = ("gcs", "pubsub")


class Clients:
    """Warehouse, raw-file store and publisher; tests and the local stack inject shared ones.

    A service built without the store or the publisher (analytics uses neither) fails loudly
    on first use instead of having paid for a client it never needed.
    """

    def __init__(
        self,
        warehouse: Warehouse,
        store: RawFileStore | None = None,
        publisher: Publisher | None = None,
    ) -> None:
        self.warehouse = warehouse
        self._store = store
        self._publisher = publisher

    @property
    def store(self) -> RawFileStore:
        if self._store is None:
            raise RuntimeError("this service was started without a raw-file store (gcs)")
        return self._store

    @property
    def publisher(self) -> Publisher:
        if self._publisher is None:
            raise RuntimeError("this service was started without a Pub/Sub publisher (pubsub)")
        return self._publisher

    @classmethod
    def from_settings(
        cls, settings: CommonSettings, uses: Collection[Dependency] = ALL_DEPENDENCIES
    ) -> Clients:
        """Production wiring from settings (emulators are reached through the standard env vars).

        Only the clients in `uses` are built: each imports a Google library (tenths of a second).
        """
        store = RawFileStore(settings.gcs_bucket, settings.gcp_project) if "gcs" in uses else None
        publisher = (
            Publisher(settings.gcp_project, settings.publish_timeout_seconds)
            if "pubsub" in uses
            else None
        )
        return cls(open_warehouse(settings), store, publisher)

    def close(self) -> None:
        """Close the publisher (each publish already waited for its ack), then the warehouse."""
        if self._publisher is not None:
            self._publisher.close()
        self.warehouse.close()


def get_clients(request: Request) -> Clients:
    """The app's shared clients."""
    clients: Clients = request.app.state.clients
    return clients


def get_settings(request: Request) -> Any:
    """The app's settings object."""
    return request.app.state.settings


ClientsDep = Annotated[Clients, Depends(get_clients)]
