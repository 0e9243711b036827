"""What a service loads before it serves: heavy clients only where the service uses them.

Each check runs in a fresh interpreter, since this test process has imported everything.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = (
    "google.cloud.pubsub_v1",
    "google.cloud.storage",
    "google.auth.transport.requests",
    "google.oauth2.id_token",
    "opentelemetry.sdk.metrics",
)
"""Modules that cost a cold start tenths of a second each."""


def heavy_loaded_after(code: str, tmp_path: Path) -> list[str]:
    """The HEAVY modules a fresh interpreter holds after running `code` in local mode."""
    report = f"import json, sys\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    env = dict(os.environ, DUCKDB_PATH=str(tmp_path / "w.duckdb"), PUSH_AUTH_ENABLED="false",
               METRICS_EXPORTER="none", LOG_LEVEL="WARNING")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", f"{code}\n{report}"], cwd=ROOT, env=env,
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    loaded: list[str] = json.loads(done.stdout.splitlines()[-1])
    return loaded


def test_importing_the_services_loads_no_google_client_and_no_metrics_sdk(tmp_path: Path) -> None:
    code = "import services.scrapers.app, services.processors.app, services.analytics.app"
    assert heavy_loaded_after(code, tmp_path) == []


def test_analytics_is_ready_on_the_warehouse_alone(tmp_path: Path) -> None:
    code = (
        "from fastapi.testclient import TestClient\n"
        "from services.analytics.app import create_app\n"
        "with TestClient(create_app()) as client:\n"
        "    ready = client.get('/ready')\n"
        "assert ready.status_code == 200, ready.text\n"
        "assert [c['name'] for c in ready.json()['checks']] == ['warehouse'], ready.text"
    )
    assert heavy_loaded_after(code, tmp_path) == []


def test_analytics_builds_the_raw_file_store_only_for_the_gcs_work_ledger(tmp_path: Path) -> None:
    """Its markers live in the bucket: a duplicate then costs a metadata GET, not a query."""
    code = (
        "import os\n"
        "os.environ['STORAGE_EMULATOR_HOST'] = 'http://127.0.0.1:9'  # never reached\n"
        "from fastapi.testclient import TestClient\n"
        "from libs.common.settings import CommonSettings\n"
        "from services.analytics.app import create_app\n"
        "with TestClient(create_app(CommonSettings(work_ledger='gcs'))) as client:\n"
        "    assert client.app.state.clients.store.bucket_name == 'nba-scraped-data'"
    )
    loaded = heavy_loaded_after(code, tmp_path)
    assert "google.cloud.storage" in loaded and "google.cloud.pubsub_v1" not in loaded
