"""Service footprint: cold start to first /ready 200 in a fresh process, idle and peak RSS."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from nba_pipeline.bench import noop
from nba_pipeline.bench.bare import start_process
from nba_pipeline.bench.report import Figure, Results
from nba_pipeline.stack import LocalStack, free_port

SERVICES = ("scrapers", "processors", "analytics")
READY_TARGET_SECONDS = 1.5
RSS_TARGET_MB = 200
SERVE = (
    "import uvicorn; from services.{name}.app import create_app; "
    "uvicorn.run(create_app(), host='127.0.0.1', port={port}, log_level='warning')"
)


def _rss_mb(pid: int) -> float:
    import psutil

    return float(psutil.Process(pid).memory_info().rss) / 2**20


def cold_starts(stack: LocalStack, workdir: Path, results: Results) -> None:
    """Each service alone in a fresh `python -c` (own DuckDB file), timed to its first 200 on
    /ready: its dependencies answer, not just the process (the floor has only /health)."""
    floor_port = free_port()
    floor, floor_ready = start_process(noop.command(floor_port), floor_port)
    floor_rss = _rss_mb(floor.pid)
    floor.terminate()
    floor.wait(timeout=10)
    results.add(Figure("footprint", "minimal FastAPI app: ready (floor)", floor_ready, "s"))
    for name in SERVICES:
        port = free_port()
        env = dict(
            os.environ,
            GCP_PROJECT=stack.project,
            GCS_BUCKET=stack.bucket,
            DUCKDB_PATH=str(workdir / f"cold-{name}.duckdb"),
            LOG_LEVEL="WARNING",
            PUSH_AUTH_ENABLED="false",
        )
        command = [sys.executable, "-c", SERVE.format(name=name, port=port)]
        process, ready = start_process(command, port, env, "/ready")
        time.sleep(0.5)
        rss = _rss_mb(process.pid)
        process.terminate()
        process.wait(timeout=10)
        results.add(
            _against_floor(
                f"{name}: cold start to ready", ready, "s", floor_ready, READY_TARGET_SECONDS
            ),
            _against_floor(f"{name}: idle RSS", rss, "MB", floor_rss, RSS_TARGET_MB),
        )


def _against_floor(what: str, value: float, unit: str, floor: float, limit: float) -> Figure:
    """A service's figure as a multiple of the minimal app's, and whether it is under `limit`."""
    return Figure(
        "footprint",
        what,
        value,
        unit,
        ratio=value / floor,
        ratio_of="minimal app",
        target=f"< {limit} {unit}",
        met=value < limit,
    )


class RssSampler:
    """Samples the RSS of some processes every 50 ms in a thread; `peak` per process name."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.peak = {name: _rss_mb(pid) for name, pid in pids.items()}
        self.idle = dict(self.peak)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            for name, pid in self.pids.items():
                self.peak[name] = max(self.peak[name], _rss_mb(pid))

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def figures(self, names: Iterable[str] | None = None) -> list[Figure]:
        figures = []
        for name in names or self.pids:
            figures += [
                Figure("footprint", f"{name}: RSS idle", self.idle[name], "MB"),
                Figure(
                    "footprint",
                    f"{name}: RSS peak under freshness load",
                    self.peak[name],
                    "MB",
                    ratio=self.peak[name] / self.idle[name],
                    ratio_of="its idle",
                ),
            ]
        return figures


def stack_pids(stack: LocalStack) -> dict[str, int]:
    """The in-process services (this process) and the emulators (children)."""
    pids = {"stack process (3 services + replay + driver)": os.getpid()}
    return pids | {name: process.pid for name, process in stack.processes.items()}
