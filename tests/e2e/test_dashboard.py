"""The dashboard rendered by headless Chromium (Debian `chromium`) against the running stack.

The screenshot is kept as test-artifacts/dashboard.png (git-ignored) for a person to look at.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest
import respx

from libs.common.messages import SCRAPER_COMPLETE_TOPIC
from libs.common.sources.registry import SOURCES
from nba_pipeline.pipeline import PipelineClient
from nba_pipeline.stack import LocalStack
from services.scrapers.dead_letters import DLQ_SUBSCRIPTIONS
from services.scrapers.tables import CIRCUIT_BREAKER_STATE
from tests.utils.pubsub import pull_dlq

pytestmark = pytest.mark.e2e

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
DLQ_SUB = f"{SCRAPER_COMPLETE_TOPIC}-dlq-sub"


def chromium(*args: str) -> subprocess.CompletedProcess[str]:
    """Headless Chromium with the flags that work without a display or a sandbox."""
    binary = shutil.which("chromium")
    assert binary, (
        "chromium not installed: run scripts/check-emulators.sh (apt-get install chromium)"
    )
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [binary, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--no-first-run", f"--user-data-dir={profile}", "--window-size=1280,1100", *args],
            capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip


def row(dom: str, attribute: str, name: str) -> str:
    """The HTML of the table row whose `data-<attribute>` is `name`."""
    match = re.search(rf'<tr data-{attribute}="{re.escape(name)}">(.*?)</tr>', dom, re.S)
    assert match, f"no {attribute} row {name} on the page"
    return match.group(1)


def css_of(row_html: str, column: str) -> str:
    match = re.search(rf'<td class="([a-z ]+)" data-col="{column}">', row_html)
    assert match, f"no {column} cell"
    return match.group(1).split()[0]


def test_dashboard_in_chromium_after_runs(stack: LocalStack) -> None:
    """First /dashboard request of the session, so the 60 s cache holds this test's runs."""
    client = PipelineClient(stack.url("scrapers"))
    good = client.scrape("bdl_games", {"date": "2025-02-20"})
    with respx.mock() as upstream:  # ESPN answers 404 for a team it knows
        upstream.get(url__startswith=f"{stack.url('replay')}/espn/").respond(404, json={})
        upstream.route().pass_through()
        bad = client.scrape("espn_roster", {"team_id": "2"})
    assert (good.status, bad.status) == ("success", "failed")
    client.wait([good])
    marker = uuid.uuid4().hex
    clients = stack.clients
    assert clients is not None
    clients.publisher.publish_bytes(
        f"{SCRAPER_COMPLETE_TOPIC}-dlq", b"{}", {"dashboard_test": marker}
    )
    # a circuit of a proxy no scraper uses, so opening it changes no other test's runs
    clients.warehouse.upsert(CIRCUIT_BREAKER_STATE, [{
        "provider": f"test-proxy-{marker[:6]}", "host": "example.invalid", "state": "open",
        "failure_count": 3, "opened_at": stack.clock.now(), "updated_at": stack.clock.now(),
    }])  # fmt: skip
    try:
        dom = chromium("--dump-dom", f"{stack.url('scrapers')}/dashboard").stdout
        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / "dashboard.png"
        shot.unlink(missing_ok=True)
        chromium(f"--screenshot={shot}", f"{stack.url('scrapers')}/dashboard")
    finally:
        pull_dlq(stack.project, DLQ_SUB, lambda m: m.attributes.get("dashboard_test") == marker, 1)

    assert '<meta http-equiv="refresh" content="60">' in dom
    assert dom.count("<tr data-scraper=") == len(SOURCES)
    games = row(dom, "scraper", "bdl_games")
    assert css_of(games, "last_status") == "ok" and ">success<" in games
    assert css_of(games, "success_24h") in {"ok", "warn", "bad"}
    scoreboard = row(dom, "scraper", "espn_roster")
    assert css_of(scoreboard, "last_status") == "bad" and ">failed<" in scoreboard
    assert css_of(scoreboard, "open_gaps") == "bad", "the failed run is an open gap"
    for subscription in DLQ_SUBSCRIPTIONS:
        row(dom, "dlq", subscription)
    dead = row(dom, "dlq", DLQ_SUB)
    assert css_of(dead, "depth") == "bad"
    assert int(re.findall(r">(\d+)<", dead)[-1]) >= 1
    assert css_of(row(dom, "breaker", f"test-proxy-{marker[:6]}/example.invalid"), "state") == "bad"
    assert 'id="workflows"' in dom
    assert shot.stat().st_size > 10_000, "a rendered page, not a blank image"
