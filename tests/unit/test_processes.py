"""Child records: a leftover the stack started is ended, anything else is never signalled."""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nba_pipeline.processes import (
    ChildRecord,
    die_with_parent,
    end_leftovers,
    port_in_use,
    running_launchers,
)

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A process of its own group, as the stack starts its children."""
    process = subprocess.Popen(SLEEPER, start_new_session=True)
    deadline = time.monotonic() + 10
    while ChildRecord.of("sleeper", process.pid, 0) is None and time.monotonic() < deadline:
        time.sleep(0.01)
    yield process
    process.kill()
    process.wait()


def test_a_recorded_leftover_is_ended_and_forgotten(
    sleeper: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    record = ChildRecord.of("sleeper", sleeper.pid, 0)
    assert record is not None and record.running()
    assert record.cmdline == SLEEPER and record.pgid == sleeper.pid
    record.save(tmp_path)
    assert ChildRecord.load(tmp_path / "sleeper.json") == record
    assert end_leftovers(tmp_path, timeout=10) == [record]
    assert sleeper.wait(timeout=10) == -15  # SIGTERM, not SIGKILL
    assert not record.running()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "change",
    [
        {"cmdline": ["/usr/bin/something-else"]},
        {"start_ticks": 1},
        {"boot_id": "another-boot"},
        {"pgid": 1},
    ],
    ids=["other-command", "pid-reused-later", "before-a-reboot", "other-group"],
)
def test_a_process_that_only_shares_the_pid_is_never_signalled(
    sleeper: subprocess.Popen[bytes], tmp_path: Path, change: dict[str, object]
) -> None:
    record = ChildRecord.of("sleeper", sleeper.pid, 0)
    assert record is not None
    stale = dataclasses.replace(record, **change)  # type: ignore[arg-type]
    assert not stale.running()
    stale.save(tmp_path)
    assert end_leftovers(tmp_path, timeout=1) == []
    assert sleeper.poll() is None, "an unrelated process was signalled"
    assert list(tmp_path.iterdir()) == [], "the stale record was dropped"


def test_a_child_whose_launcher_runs_belongs_to_a_live_stack(
    sleeper: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    record = ChildRecord.of("sleeper", sleeper.pid, 0)
    assert record is not None and record.launcher_pid == os.getpid()
    record.save(tmp_path)
    assert running_launchers(tmp_path) == [os.getpid()]
    dataclasses.replace(record, launcher_start_ticks=1).save(tmp_path)  # a launcher gone since
    assert running_launchers(tmp_path) == []


def test_records_of_exited_processes_and_unreadable_files_are_dropped(tmp_path: Path) -> None:
    exited = subprocess.Popen(SLEEPER, start_new_session=True)
    record = ChildRecord.of("gone", exited.pid, 0)
    exited.kill()
    exited.wait()
    assert record is not None and not record.running()
    record.save(tmp_path)
    (tmp_path / "garbled.json").write_text("{not json")
    assert end_leftovers(tmp_path, timeout=1) == []
    assert list(tmp_path.iterdir()) == []


def test_a_child_gets_sigterm_when_the_thread_that_started_it_exits() -> None:
    """The kernel, not the launcher's cleanup, ends the child: here the launcher is a thread
    of this process that starts a child with `die_with_parent` and returns."""
    started: list[subprocess.Popen[bytes]] = []

    def launch() -> None:
        child = subprocess.Popen(SLEEPER, start_new_session=True, preexec_fn=die_with_parent())
        started.append(child)

    thread = threading.Thread(target=launch)
    thread.start()
    thread.join()
    assert started[0].wait(timeout=10) == -15


def test_a_listening_port_is_in_use_and_a_closed_one_is_not() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert port_in_use(port)
    assert not port_in_use(port)


def test_a_process_whose_first_thread_exited_still_runs_until_its_last_thread_does() -> None:
    """How a JVM or a Go program exits: /proc shows its first thread as a zombie with no
    command line while other threads still hold its pid and sockets."""
    code = (
        "import ctypes, sys, threading, time; threading.Thread(target=time.sleep, args=(60,)).start();"
        "sys.stdin.readline(); ctypes.CDLL(None).pthread_exit(None)"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, start_new_session=True
    )
    record = ChildRecord.of("exiting", process.pid, 0)
    assert record is not None
    assert process.stdin is not None
    process.stdin.write(b"exit your first thread\n")
    process.stdin.close()
    stat = Path(f"/proc/{process.pid}/stat")
    deadline = time.monotonic() + 10
    while " Z " not in stat.read_text() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert record.running(), "its second thread still runs"
    assert ChildRecord.of("exiting", process.pid, 0) is None, "nothing to record any more"
    process.terminate()
    process.wait(timeout=10)
    assert not record.running()
