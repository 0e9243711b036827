"""Local stand-ins for alert channels: a webhook receiver and an SMTP server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

from nba_pipeline.stack import free_port


@dataclass
class Received:
    """What a receiver got."""

    items: list[Any] = field(default_factory=list)


class _QuietHandler(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        return


@contextmanager
def _serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve `handler` on a free 127.0.0.1 port in a thread; yields the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


@contextmanager
def webhook_receiver() -> Iterator[tuple[str, Received]]:
    """An HTTP server that records JSON bodies POSTed to it."""
    received = Received()

    class Handler(_QuietHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.items.append(json.loads(body))
            self.send_response(200)
            self.end_headers()

    with _serving(Handler) as url:
        yield f"{url}/hook", received


@contextmanager
def json_upstream() -> Iterator[tuple[str, Received]]:
    """An HTTP/1.1 (keep-alive) server answering every GET with `{"data": []}`; it records the
    client port of each request, so a test sees whether connections were reused."""
    received = Received()

    class Handler(_QuietHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            received.items.append(self.client_address[1])
            body = b'{"data": []}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    with _serving(Handler) as url:
        yield url, received


@contextmanager
def smtp_server() -> Iterator[tuple[int, Received]]:
    """An SMTP server that records every message it accepts."""
    received = Received()

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            received.items.append(envelope)
            return "250 OK"

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, received
    finally:
        controller.stop()
