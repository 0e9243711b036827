"""The local stack's own processes run as the launcher configures them."""

from __future__ import annotations

import subprocess
from pathlib import Path

import psutil
import pytest

from libs.common.gcs import FileAlreadyExistsError, RawFileStore
from nba_pipeline.stack import (
    EMULATOR_JVM_OPTS,
    LocalStack,
    fake_gcs_command,
    free_port,
    http_ok,
    wait_until,
)

pytestmark = pytest.mark.e2e


def test_the_emulator_jvm_runs_with_the_stacks_options(stack: LocalStack) -> None:
    java = psutil.Process(stack.processes["pubsub-emulator"].pid)  # the launcher execs java
    assert set(EMULATOR_JVM_OPTS.split()) <= set(java.cmdline()), java.cmdline()


def test_bucket_files_outlive_a_restart_and_stay_write_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fake-gcs-server as the stack runs it (files under the workdir): after a restart an
    object keeps its bytes and generation, and a second create-only write is still refused."""
    port = free_port()
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{port}")

    def start() -> subprocess.Popen[bytes]:
        server = subprocess.Popen(fake_gcs_command(port, tmp_path / "gcs"))
        wait_until(http_ok(f"http://127.0.0.1:{port}/storage/v1/b"), "fake-gcs-server", 20, server)
        return server

    server = start()
    try:
        store = RawFileStore("nba-restart-test", "nba-test")
        store._client.create_bucket("nba-restart-test")
        generation = store.write_new("a/b/2025-02-20/run.json", b'{"n": 1}', "application/json")
        server.terminate()
        server.wait(timeout=10)
        server = start()
        store = RawFileStore("nba-restart-test", "nba-test")
        assert store._client.lookup_bucket("nba-restart-test") is not None
        assert store.read_bytes("gs://nba-restart-test/a/b/2025-02-20/run.json") == (
            b'{"n": 1}', generation
        )  # fmt: skip
        with pytest.raises(FileAlreadyExistsError):
            store.write_new("a/b/2025-02-20/run.json", b'{"n": 2}', "application/json")
        assert store.read_bytes("gs://nba-restart-test/a/b/2025-02-20/run.json")[0] == b'{"n": 1}'
        assert store.write_new("a/b/2025-02-20/next.json", b"{}", "application/json") > generation
    finally:
        server.terminate()
        server.wait(timeout=10)
