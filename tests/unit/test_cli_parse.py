"""`nba-pipeline parse`: JSON lines on stdout, exit 2 with a one-line reason otherwise."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from nba_pipeline.cli import app
from tests.conftest import RECORDINGS

runner = CliRunner()
GAMES = RECORDINGS / "balldontlie" / "bdl_games_v1_raw_2025-02-20.json"


def parse_lines(output: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in output.splitlines()]


def test_parse_a_raw_upstream_body_prints_one_json_line_per_row() -> None:
    result = runner.invoke(app, ["parse", "bdl_games", str(GAMES)])
    assert result.exit_code == 0, result.output
    rows = parse_lines(result.stdout)
    assert len(rows) == len(json.loads(GAMES.read_text())["data"]) == 9
    assert rows[0]["game_id"] == 15908525 and rows[0]["home_team_abbr"] == "DEN"


def test_parse_one_of_our_gcs_files_uses_its_envelope(tmp_path: Path) -> None:
    wrapped = tmp_path / "file.json"
    meta = {"scraper_name": "bdl_games", "execution_id": "run-1", "fetched_at": "2025-02-20T23:15:00+00:00",
            "request": {"params": {"date": "2025-02-20"}}}  # fmt: skip
    wrapped.write_text(json.dumps({"meta": meta, "data": json.loads(GAMES.read_text())}))
    result = runner.invoke(app, ["parse", "bdl_games", str(wrapped)])
    assert result.exit_code == 0, result.output
    rows = parse_lines(result.stdout)
    assert len(rows) == 9 and {row["execution_id"] for row in rows} == {"run-1"}


def test_unparseable_file_exits_2_naming_the_scraper_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"data": [{"id": 1}]}))
    result = runner.invoke(app, ["parse", "bdl_games", str(bad)])
    assert result.exit_code == 2
    assert "bdl_games" in result.stderr and "data[0].home_team" in result.stderr
    assert result.stdout == ""


def test_truncated_json_and_unknown_scraper_exit_2(tmp_path: Path) -> None:
    truncated = tmp_path / "cut.json"
    truncated.write_text(GAMES.read_text()[:500])
    assert runner.invoke(app, ["parse", "bdl_games", str(truncated)]).exit_code == 2
    unknown = runner.invoke(app, ["parse", "nope", str(GAMES)])
    assert unknown.exit_code == 2 and "known:" in unknown.stderr


def test_backfill_refuses_fewer_than_one_parallel_scrape() -> None:
    result = CliRunner().invoke(
        app, ["backfill", "--from", "2025-01-01", "--to", "2025-01-02", "--parallel", "0"]
    )
    assert result.exit_code == 2
    assert "--parallel" in result.output
