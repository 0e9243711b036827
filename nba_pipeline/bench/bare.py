"""The bare push floor: the no-op app in its own process, on a push subscription of its own."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from libs.common.pubsub import Publisher
from nba_pipeline.bench import noop
from nba_pipeline.bench.events import publish_paced
from nba_pipeline.stack import free_port, http_ok, wait_until


def start_process(
    command: Sequence[str], port: int, env: dict[str, str] | None = None, path: str = "/health"
) -> tuple[subprocess.Popen[bytes], float]:
    """Start a server process and time it to its first 200 on `path` (the no-op app has only /health)."""
    started = time.perf_counter()
    process = subprocess.Popen(
        list(command),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    wait_until(http_ok(f"http://127.0.0.1:{port}{path}"), " ".join(command[-2:]), 60, process)
    return process, time.perf_counter() - started


@dataclass
class NoopEndpoint:
    """The no-op app in its own process, with a push subscription of its own."""

    process: subprocess.Popen[bytes]
    port: int

    @classmethod
    def start(cls, project: str) -> NoopEndpoint:
        from google.cloud import pubsub_v1  # type: ignore[attr-defined, unused-ignore]

        port = free_port()
        process, _ = start_process(noop.command(port), port, dict(os.environ))
        publisher = pubsub_v1.PublisherClient()
        topic = publisher.topic_path(project, noop.TOPIC)
        publisher.create_topic(request={"name": topic})
        subscriber = pubsub_v1.SubscriberClient()
        subscriber.create_subscription(
            request={
                "name": subscriber.subscription_path(project, f"{noop.TOPIC}-sub"),
                "topic": topic,
                "push_config": {"push_endpoint": f"http://127.0.0.1:{port}/push"},
                "ack_deadline_seconds": 30,
            }
        )
        return cls(process, port)

    def publish_and_collect(
        self,
        publisher: Publisher,
        count: int,
        rate: float | None,
        timeout: float = 120,
        hold_ms: int = 0,
    ) -> tuple[list[float], float]:
        """(publish-to-arrival seconds per message, messages per second from first send to last
        arrival); the app answers each push `hold_ms` after it arrived."""
        base = f"http://127.0.0.1:{self.port}"
        httpx.delete(f"{base}/arrivals")
        hold = {"hold_ms": str(hold_ms)} if hold_ms else {}
        payloads = [(b"{}", {"seq": str(index), **hold}) for index in range(count)]
        sent, _ = publish_paced(publisher, noop.TOPIC, payloads, rate)
        deadline = time.monotonic() + timeout
        arrivals: dict[int, float] = {}
        while len(arrivals) < count and time.monotonic() < deadline:
            time.sleep(0.2)
            for seq, at in httpx.get(f"{base}/arrivals").json():
                arrivals.setdefault(int(seq), at)
        latencies = [arrivals[i] - sent[i] for i in sorted(arrivals)]
        rate_seen = len(arrivals) / (max(arrivals.values()) - sent[0]) if arrivals else 0.0
        return latencies, rate_seen

    def pushes_in_flight(self, publisher: Publisher, count: int = 40, hold_ms: int = 50) -> int:
        """The most pushes the emulator had in flight at once to this subscription, with each
        held `hold_ms` so they overlap."""
        self.publish_and_collect(publisher, count, None, timeout=60, hold_ms=hold_ms)
        time.sleep(hold_ms / 1000)  # the last pushes answer before the next measurement
        return int(httpx.get(f"http://127.0.0.1:{self.port}/in-flight-max").json())

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
