"""`nba-pipeline up` as a user runs it: comes up, serves /docs, and Ctrl-C stops every part."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.e2e


def test_up_serves_docs_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "nba_pipeline.cli", "up", "--free-ports", "--workdir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=os.environ | {"COLUMNS": "200"},
    )  # fmt: skip
    assert process.stdout is not None
    output: list[str] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        output.append(line)
        if "Ctrl-C to stop" in line or not line:
            break
    text = "".join(output)
    assert "Ctrl-C to stop" in text, text
    urls = dict(re.findall(r"^\s+(scrapers|processors|analytics)\s+(\S+)/docs", text, re.M))
    assert set(urls) == {"scrapers", "processors", "analytics"}
    printed = dict(re.findall(r"(nba_\w+\.\w+)\s+\S\s+(\d+)", text))
    for table in (
        "nba_raw.bdl_player_boxscores",
        "nba_raw.odds_api_player_points_props",
        "nba_analytics.player_game_summary",
        "nba_analytics.player_game_lines",
    ):
        assert int(printed.get(table, 0)) > 0, f"the demo day loaded {table}: {text}"  # fmt: skip
    for url in urls.values():
        assert httpx.get(f"{url}/docs").status_code == 200

    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 0
    for url in urls.values():
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{url}/health", timeout=2)
    assert not (tmp_path / "warehouse.duckdb.wal").exists(), "the warehouse was closed cleanly"
