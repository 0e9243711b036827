"""The clients a service talks to, built once per process and shared by its routes, and the
dependency aliases a route declares what it touches with (`WarehouseDep`, `SettingsDep`...).

The getters are `async` so FastAPI awaits them in the event loop instead of handing each one
to its thread pool: they only read what the app made when it was created or started.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from typing import Annotated, Literal, TypeVar

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


T = TypeVar("T")


def app_state(name: str, kind: type[T]) -> Callable[[Request], Awaitable[T]]:
    """A dependency returning the app's `name`, a `kind` the app made when it was created or
    started (`app.state`); tests override it by this getter."""

    async def get(request: Request) -> T:
        value: T = getattr(request.app.state, name)
        return value

    return get


get_clients = app_state("clients", Clients)
ClientsDep = Annotated[Clients, Depends(get_clients)]
"""The app's shared clients."""
get_settings = app_state("settings", CommonSettings)
SettingsDep = Annotated[CommonSettings, Depends(get_settings)]
"""The app's settings."""


async def get_warehouse(clients: ClientsDep) -> Warehouse:
    """The app's warehouse."""
    return clients.warehouse


WarehouseDep = Annotated[Warehouse, Depends(get_warehouse)]


async def get_store(clients: ClientsDep) -> RawFileStore:
    """The app's raw-file store (a service started without one fails here)."""
    return clients.store


StoreDep = Annotated[RawFileStore, Depends(get_store)]


async def get_publisher(clients: ClientsDep) -> Publisher:
    """The app's publisher (a service started without one fails here)."""
    return clients.publisher


PublisherDep = Annotated[Publisher, Depends(get_publisher)]
