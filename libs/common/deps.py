"""The clients a service talks to, built once per process and shared by its routes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from libs.common.gcs import RawFileStore
from libs.common.pubsub import Publisher
from libs.common.settings import CommonSettings
from libs.common.warehouse import Warehouse, open_warehouse


@dataclass
class Clients:
    """Warehouse, raw-file store and publisher; tests and the local stack inject shared ones."""

    warehouse: Warehouse
    store: RawFileStore
    publisher: Publisher

    @classmethod
    def from_settings(cls, settings: CommonSettings) -> Clients:
        """Production wiring from settings (emulators are reached through the standard env vars)."""
        return cls(
            warehouse=open_warehouse(settings),
            store=RawFileStore(settings.gcs_bucket, settings.gcp_project),
            publisher=Publisher(settings.gcp_project, settings.publish_timeout_seconds),
        )


def get_clients(request: Request) -> Clients:
    """The app's shared clients."""
    clients: Clients = request.app.state.clients
    return clients


def get_settings(request: Request) -> Any:
    """The app's settings object."""
    return request.app.state.settings


ClientsDep = Annotated[Clients, Depends(get_clients)]
