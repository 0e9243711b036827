"""`nba-pipeline up` as a user runs it, in its own process: it comes up, serves /docs, stops
within seconds on Ctrl-C or SIGTERM (also in the middle of the demo) with the warehouse
closed cleanly, leaves no child process behind even when killed, and starts again over the
same workdir (warehouse and bucket) whatever the last run left there."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest

from nba_pipeline.processes import ChildRecord, port_in_use
from nba_pipeline.stack import CHILDREN, free_port, wait_until

pytestmark = pytest.mark.e2e

DEMO_TABLES = (
    "nba_raw.bdl_player_boxscores",
    "nba_raw.odds_api_player_points_props",
    "nba_analytics.player_game_summary",
    "nba_analytics.player_game_lines",
)
BUCKET = "nba-scraped-data"
LAUNCH_AND_DIE = """
import subprocess, sys
from pathlib import Path
from nba_pipeline.processes import ChildRecord
from nba_pipeline.stack import fake_gcs_command, http_ok, wait_until

port, workdir = int(sys.argv[1]), Path(sys.argv[2])
child = subprocess.Popen(fake_gcs_command(port, workdir / "gcs"), start_new_session=True)
wait_until(http_ok(f"http://127.0.0.1:{port}/storage/v1/b"), "fake-gcs-server", 20, child)
ChildRecord.of("fake-gcs-server", child.pid, port).save(workdir / "pids")
"""
"""Start a fake-gcs-server as the stack does but without tying it to this process, record it,
and exit: what a crash left behind where the parent-death signal did not act."""
EXIT_WITHIN = 30
"""Seconds a stopping `up` may take before the test fails (it needs a few; this is no timing)."""


class Up:
    """`nba-pipeline up --free-ports` in a subprocess, its output read by a thread."""

    def __init__(
        self, workdir: Path, *args: str, env: dict[str, str] | None = None, **popen: Any
    ) -> None:
        command = [sys.executable, "-m", "nba_pipeline.cli", "up", "--free-ports",
                   "--workdir", str(workdir), *args]  # fmt: skip
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env=os.environ | {"COLUMNS": "200"} | (env or {}), **popen,
        )  # fmt: skip
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        STARTED.append(self)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, text: str, timeout: float = 120) -> None:
        """Until `text` is printed; fails with the output if `up` exits or takes too long."""
        deadline = time.monotonic() + timeout
        while text not in self.output:
            assert self.process.poll() is None, f"up exited before '{text}':\n{self.output}"
            assert time.monotonic() < deadline, f"no '{text}' after {timeout}s:\n{self.output}"
            time.sleep(0.05)

    def urls(self) -> dict[str, str]:
        """Base URL of each part, as `up` printed them."""
        self.wait_for("(fake-gcs-server")
        found = re.findall(r"^\s+(scrapers|processors|analytics|replay|gcs)\s+(http://\S+?)(?:/docs)?\s", self.output, re.M)  # fmt: skip
        return dict(found)

    def children(self, workdir: Path) -> list[ChildRecord]:
        """The emulators `up` recorded under the workdir."""
        records = [ChildRecord.load(workdir / "pids" / f"{name}.json") for name in CHILDREN]
        assert all(records), self.output
        return [record for record in records if record is not None]

    def exit_code(self, what: str) -> int:
        """Wait (bounded) until `up` exits and all its output is read."""
        try:
            code = self.process.wait(timeout=EXIT_WITHIN)
        except subprocess.TimeoutExpired:
            self.process.kill()
            pytest.fail(f"up still running {EXIT_WITHIN}s after {what}:\n{self.output}")
        self._reader.join(timeout=10)
        return code

    def stop(self, signum: signal.Signals, what: str) -> int:
        """Send `signum`, wait for the exit, print how long it took; the exit code."""
        sent = time.monotonic()
        self.process.send_signal(signum)
        code = self.exit_code(signum.name)
        sys.stdout.write(f"\n{what}: exited {time.monotonic() - sent:.2f} s after {signum.name}\n")
        return code


STARTED: list[Up] = []


@pytest.fixture(autouse=True)
def no_up_left_running() -> Iterator[None]:
    """A test that fails half-way still stops the `up` processes it started (SIGTERM, so they
    end their emulators too; SIGKILL if that hangs)."""
    yield
    while STARTED:
        process = STARTED.pop().process
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=EXIT_WITHIN)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def assert_gone(children: list[ChildRecord]) -> None:
    """Each child has exited (bounded wait; the seconds it took are printed) and its port is
    free again."""

    def running() -> list[str]:
        return [child.name for child in children if child.running() or port_in_use(child.port)]

    started = time.monotonic()
    while running() and time.monotonic() < started + EXIT_WITHIN:
        time.sleep(0.05)
    assert running() == []
    sys.stdout.write(f"children gone {time.monotonic() - started:.2f} s after up exited\n")


def assert_demo_loaded(up: Up) -> None:
    printed = dict(re.findall(r"(nba_\w+\.\w+)\s+\S\s+(\d+)", up.output))
    for table in DEMO_TABLES:
        assert int(printed.get(table, 0)) > 0, f"the demo day loaded {table}: {up.output}"


def applied_loads(workdir: Path) -> list[tuple[str, str, int, str, int]]:
    """(execution_id, raw table, rows, gcs_path, generation) of every load the warehouse says it
    applied, each with all its rows (no half-applied load), read from the file as a user would
    after the stack stopped. Only for a warehouse where no key was loaded twice (one demo)."""
    assert not (workdir / "warehouse.duckdb.wal").exists(), "the warehouse was checkpointed"
    with duckdb.connect(str(workdir / "warehouse.duckdb"), read_only=True) as db:
        loads = db.execute(
            "SELECT execution_id, target_table, record_count, gcs_path, gcs_generation "
            "FROM nba_orchestration.processed_messages "
            "WHERE phase = 'processors' AND outcome = 'loaded'"
        ).fetchall()
        for execution_id, table, rows, _, _ in loads:
            found = db.execute(
                f"SELECT count(*) FROM {table} WHERE execution_id = ?", [execution_id]
            ).fetchone()
            assert found == (rows,), f"{table}: run {execution_id} has {found} of its {rows} rows"
    return loads


def test_up_serves_docs_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    up = Up(tmp_path)
    up.wait_for("Ctrl-C to stop")
    assert_demo_loaded(up)
    urls = up.urls()
    assert set(urls) == {"scrapers", "processors", "analytics", "replay", "gcs"}
    for name in ("scrapers", "processors", "analytics"):
        assert httpx.get(f"{urls[name]}/docs").status_code == 200
    children = up.children(tmp_path)

    assert up.stop(signal.SIGINT, "Ctrl-C while idle") == 0
    for url in urls.values():
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{url}/health", timeout=2)
    assert_gone(children)
    assert list((tmp_path / "pids").iterdir()) == []
    assert applied_loads(tmp_path)


def test_sigterm_during_the_demo_stops_cleanly_and_the_next_up_completes_its_demo(
    tmp_path: Path,
) -> None:
    """Each upstream answers 4 s late, so when the signal comes after the demo's first rows
    landed, its next scrape is waiting on the upstream for longer than the services' grace
    period: the stop does not wait for it."""
    up = Up(tmp_path, "--no-scheduler", env={"REPLAY_LATENCY_MS": "4000"})
    scrapers = up.urls()["scrapers"]
    children = up.children(tmp_path)

    def some_rows_loaded() -> bool:
        counts = httpx.get(
            f"{scrapers}/admin/table-counts", params={"from": "2025-02-20", "to": "2025-02-20"}
        ).json()
        return any(counts.get(table) for table in counts if table.startswith("nba_raw."))

    wait_until(some_rows_loaded, "the demo's first raw rows", 120, up.process)
    assert "Ctrl-C to stop" not in up.output, "the demo was over before the signal"
    assert up.stop(signal.SIGTERM, "SIGTERM during the demo") == 0
    assert "Ctrl-C to stop" not in up.output, up.output
    assert "Exception in ASGI application" not in up.output, "a cancelled request is no error"
    assert_gone(children)
    loads = applied_loads(tmp_path)
    assert loads, "some runs were loaded before the signal"
    for _, _, _, gcs_path, _ in loads:
        assert (tmp_path / "gcs" / gcs_path.removeprefix("gs://")).is_file(), gcs_path

    again = Up(tmp_path, "--no-scheduler")
    again.wait_for("Ctrl-C to stop")
    assert_demo_loaded(again)
    gcs = again.urls()["gcs"]
    for _, _, _, gcs_path, generation in loads:
        name = gcs_path.removeprefix(f"gs://{BUCKET}/")
        kept = httpx.get(f"{gcs}/storage/v1/b/{BUCKET}/o/{name.replace('/', '%2F')}")
        assert kept.status_code == 200, f"{gcs_path} was lost in the restart"
        assert int(kept.json()["generation"]) == generation
    assert again.stop(signal.SIGTERM, "SIGTERM while idle after a restart") == 0
    assert not (tmp_path / "warehouse.duckdb.wal").exists()


def test_sigterm_stops_an_idle_up_started_as_a_background_job(tmp_path: Path) -> None:
    """A shell starts `up &` with SIGINT ignored, so SIGTERM is the stop signal that arrives.
    Meanwhile a second `up` on the same workdir is refused and takes nothing from the first."""
    up = Up(tmp_path, "--no-demo", preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    up.wait_for("Ctrl-C to stop")
    children = up.children(tmp_path)

    second = Up(tmp_path, "--no-demo")
    assert second.exit_code("a second up on the workdir") == 1
    assert f"another local stack runs on {tmp_path} (process {up.process.pid})" in second.output
    assert all(child.running() for child in children) and up.process.poll() is None

    assert up.stop(signal.SIGTERM, "SIGTERM while idle, SIGINT ignored") == 0
    assert_gone(children)
    assert not (tmp_path / "warehouse.duckdb.wal").exists()


def test_a_killed_up_leaves_no_child_and_the_next_start_ends_a_leftover(tmp_path: Path) -> None:
    up = Up(tmp_path, "--no-demo", "--no-scheduler")
    up.wait_for("Ctrl-C to stop")
    children = up.children(tmp_path)
    assert up.stop(signal.SIGKILL, "SIGKILL") == -signal.SIGKILL
    assert_gone(children)

    # A fake-gcs-server whose launcher died without ending it (and without the parent-death
    # signal), recorded as the stack records its children.
    port = free_port()
    subprocess.run([sys.executable, "-c", LAUNCH_AND_DIE, str(port), str(tmp_path)], check=True)
    record = ChildRecord.load(tmp_path / "pids" / "fake-gcs-server.json")
    assert record is not None and record.running() and not record.launcher_running()

    again = Up(tmp_path, "--no-demo", "--no-scheduler", "--port", f"gcs={port}")
    again.wait_for("Ctrl-C to stop")
    assert not record.running()
    assert f"ended fake-gcs-server (pid {record.pid}, port {port})" in again.output
    assert again.urls()["gcs"] == f"http://127.0.0.1:{port}"
    assert again.stop(signal.SIGTERM, "SIGTERM after reaping a leftover") == 0


def test_a_port_held_by_another_program_is_named_and_left_alone(tmp_path: Path) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        up = Up(tmp_path, "--no-demo", "--port", f"pubsub={port}")
        assert up.exit_code("a busy port") == 1
        assert f"port {port} (pubsub) in use by another program" in up.output, up.output
        assert "--free-ports" in up.output
        assert port_in_use(port)
