"""The local stack's child processes: tied to the launcher, recorded, reaped after a crash.

The emulators run in their own process groups, so that a terminal's Ctrl-C reaches the
launcher alone and the services close the warehouse before the emulators go. Nothing then
ends them if the launcher dies without stopping them (SIGKILL, a crash), and they keep their
ports. Two guards: the kernel sends each child SIGTERM when the thread that started it exits
(`die_with_parent`), and each child is recorded under `<workdir>/pids/` so that the next start
on that workdir ends any that still run (`end_leftovers`).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

PR_SET_PDEATHSIG = 1
"""prctl option from <linux/prctl.h>: the signal a process gets when its parent thread exits."""
BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def die_with_parent() -> Callable[[], None] | None:
    """A `preexec_fn` making the kernel send the child SIGTERM when the thread that started it
    exits, however the launcher ends; None where prctl does not exist (not Linux).

    prctl is looked up before the fork, so the child only calls it between fork and exec. The
    setting survives exec, so it also holds for java, which the emulator's launcher script
    `exec`s. If the launcher died before the call, nobody would send the signal: exit then.
    """
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM))
        if os.getppid() != parent:
            os._exit(1)

    return preexec


EXITED = ("Z", "X")
"""/proc states of a thread that has exited (zombie, dead)."""


def _stat_fields(stat: str) -> list[str]:
    """The fields of a /proc stat line after the command name, which may hold spaces."""
    return stat.rsplit(")", 1)[1].split()


def _other_threads_run(pid: int) -> bool:
    """Whether a thread of the process still runs, its first thread having exited."""
    for task in Path(f"/proc/{pid}/task").glob("*/stat"):
        try:
            if _stat_fields(task.read_text())[0] not in EXITED:
                return True
        except OSError:
            continue
    return False


def _identity(pid: int) -> tuple[str, int, int, list[str]] | None:
    """(boot id, process group, start time in clock ticks, command line) of a live process;
    None if there is no such process, only its zombie, or a kernel thread.

    A multi-threaded process whose first thread has exited while others run (a JVM or a Go
    program exiting) shows as a zombie with no command line, yet still holds its pid and
    sockets: it counts as live, with an empty command line.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        boot_id = BOOT_ID.read_text().strip()
    except OSError:
        return None
    fields = _stat_fields(stat)
    state, pgid, start_ticks = fields[0], int(fields[2]), int(fields[19])
    if state in EXITED:
        if not _other_threads_run(pid):
            return None
    elif not cmdline:
        return None
    args = [arg.decode() for arg in cmdline.rstrip(b"\0").split(b"\0")] if cmdline else []
    return boot_id, pgid, start_ticks, args


@dataclass(frozen=True)
class ChildRecord:
    """Enough about a started child to find it again after a crash, and never to mistake
    another process that reused its pid for it: pid, boot, process group, start time and
    command line must all still match. The launcher (the process that started it) is
    recorded too: while it runs, the child is a live stack's, not a leftover."""

    name: str
    pid: int
    port: int
    boot_id: str
    pgid: int
    start_ticks: int
    cmdline: list[str]
    launcher_pid: int
    launcher_start_ticks: int

    @classmethod
    def of(cls, name: str, pid: int, port: int) -> ChildRecord | None:
        """The record of a running child of this process, read from /proc; None if it is gone
        or exiting (or there is no /proc)."""
        identity, launcher = _identity(pid), _identity(os.getpid())
        if identity is None or not identity[3] or launcher is None:
            return None
        return cls(name, pid, port, *identity, os.getpid(), launcher[2])

    def launcher_running(self) -> bool:
        """Whether the process that started the child still runs (same pid, boot, start time)."""
        launcher = _identity(self.launcher_pid)
        expected = (self.boot_id, self.launcher_start_ticks)
        return launcher is not None and (launcher[0], launcher[2]) == expected

    def running(self) -> bool:
        """Whether this very process still runs (not exited, not a pid reused); while it exits
        its command line may be gone already, and its pid and start time are still its own."""
        identity = _identity(self.pid)
        if identity is None:
            return False
        boot_id, pgid, start_ticks, cmdline = identity
        same = (boot_id, pgid, start_ticks) == (self.boot_id, self.pgid, self.start_ticks)
        return same and cmdline in ([], self.cmdline)

    def save(self, directory: Path) -> Path:
        """Write the record as `<directory>/<name>.json` (replaced whole, never half-written)."""
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{self.name}.json"
        partial = path.with_suffix(".tmp")
        partial.write_text(json.dumps(asdict(self)))
        partial.replace(path)
        return path

    @classmethod
    def load(cls, path: Path) -> ChildRecord | None:
        """A saved record; None for an unreadable file (a crash cannot leave one, a person can)."""
        try:
            return cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return None


def end_groups(groups: Mapping[str, tuple[int, Callable[[], bool]]], timeout: float) -> list[str]:
    """SIGTERM each named process group, wait until none of their leaders runs, and SIGKILL
    the groups still running after `timeout`. `groups` maps a name to (process group id,
    whether its leader still runs). Returns the names that needed SIGKILL."""

    def signal_groups(names: list[str], signum: signal.Signals) -> None:
        for name in names:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(groups[name][0], signum)

    signal_groups(list(groups), signal.SIGTERM)
    deadline = time.monotonic() + timeout
    running = [name for name, (_, alive) in groups.items() if alive()]
    while running and time.monotonic() < deadline:
        time.sleep(0.05)
        running = [name for name in running if groups[name][1]()]
    signal_groups(running, signal.SIGKILL)
    return running


def running_launchers(directory: Path) -> list[int]:
    """Pids of the launchers of recorded children that still run: a stack running on this
    workdir, whose children must not be taken for leftovers."""
    records = [ChildRecord.load(path) for path in directory.glob("*.json")]
    return sorted({r.launcher_pid for r in records if r is not None and r.launcher_running()})


def end_leftovers(directory: Path, timeout: float) -> list[ChildRecord]:
    """End the recorded children that an earlier launcher on this workdir left running (it was
    killed or crashed), and forget every record; returns the children that were ended. Call it
    only when `running_launchers` finds none.

    A record whose process is gone, or whose pid now belongs to another program, is only
    deleted: nothing is signalled that this project did not start.
    """
    leftovers = []
    for path in sorted(directory.glob("*.json")):
        record = ChildRecord.load(path)
        if record is not None and record.running():
            leftovers.append(record)
        else:
            path.unlink(missing_ok=True)
    end_groups({record.name: (record.pgid, record.running) for record in leftovers}, timeout)
    # A multi-threaded process can show as a zombie while its other threads still hold its
    # sockets: wait for the ports themselves.
    deadline = time.monotonic() + timeout
    while any(port_in_use(record.port) for record in leftovers) and time.monotonic() < deadline:
        time.sleep(0.05)
    for record in leftovers:
        (directory / f"{record.name}.json").unlink(missing_ok=True)
    return leftovers


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something listens on (or holds) `port`: binding it as the servers do fails."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False
