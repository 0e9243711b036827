"""A push endpoint that does nothing but note arrival times: the emulator's bare push floor.

Run as its own process (`python -m nba_pipeline.bench.noop PORT`), so it shares no interpreter
with the stack; the same process is the cold-start floor of a minimal FastAPI app.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

import httpx
import orjson
from fastapi import FastAPI, Request, Response

from libs.common.pubsub import Publisher
from nba_pipeline.bench.events import publish_paced
from nba_pipeline.stack import free_port, http_ok, wait_until

TOPIC = "bench-noop"


def create_app() -> FastAPI:
    """Answers 204 to every push and remembers (seq attribute, arrival time)."""
    app = FastAPI()
    arrivals: list[tuple[str, float]] = []

    @app.post("/push", status_code=204)
    async def push(request: Request) -> Response:
        envelope = orjson.loads(await request.body())
        arrivals.append((envelope["message"]["attributes"]["seq"], time.time()))
        return Response(status_code=204)

    @app.get("/arrivals")
    def get_arrivals() -> list[tuple[str, float]]:
        return arrivals

    @app.delete("/arrivals", status_code=204)
    def clear() -> None:
        arrivals.clear()

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def start_process(command: Sequence[str], port: int, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], float]:
    """Start a server process and time it to its first 200 on /health."""
    started = time.perf_counter()
    process = subprocess.Popen(list(command), env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)  # fmt: skip
    wait_until(http_ok(f"http://127.0.0.1:{port}/health"), " ".join(command[-2:]), 60, process)
    return process, time.perf_counter() - started


def noop_command(port: int) -> list[str]:
    return [sys.executable, "-m", "nba_pipeline.bench.noop", str(port)]


@dataclass
class NoopEndpoint:
    """The no-op app in its own process, with a push subscription of its own."""

    project: str
    process: subprocess.Popen[bytes]
    port: int
    ready_seconds: float

    @classmethod
    def start(cls, project: str) -> NoopEndpoint:
        from google.cloud import pubsub_v1

        port = free_port()
        process, ready = start_process(noop_command(port), port, dict(os.environ))
        publisher = pubsub_v1.PublisherClient()
        topic = publisher.topic_path(project, TOPIC)
        publisher.create_topic(request={"name": topic})
        subscriber = pubsub_v1.SubscriberClient()
        subscriber.create_subscription(request={
            "name": subscriber.subscription_path(project, f"{TOPIC}-sub"), "topic": topic,
            "push_config": {"push_endpoint": f"http://127.0.0.1:{port}/push"},
            "ack_deadline_seconds": 30,
        })  # fmt: skip
        return cls(project, process, port, ready)

    def publish_and_collect(
        self, publisher: Publisher, count: int, rate: float | None, timeout: float = 120
    ) -> tuple[list[float], float]:
        """(publish-to-arrival seconds per message, messages per second from first send to last arrival)."""
        base = f"http://127.0.0.1:{self.port}"
        httpx.delete(f"{base}/arrivals")
        payloads = [(b"{}", {"seq": str(index)}) for index in range(count)]
        sent, _ = publish_paced(publisher, TOPIC, payloads, rate)
        deadline = time.monotonic() + timeout
        arrivals: dict[int, float] = {}
        while len(arrivals) < count and time.monotonic() < deadline:
            time.sleep(0.2)
            for seq, at in httpx.get(f"{base}/arrivals").json():
                arrivals.setdefault(int(seq), at)
        latencies = [arrivals[i] - sent[i] for i in sorted(arrivals)]
        rate_seen = len(arrivals) / (max(arrivals.values()) - sent[0]) if arrivals else 0.0
        return latencies, rate_seen

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(create_app(), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
