"""Documentation that is generated from code must be committed up to date."""

from __future__ import annotations

from pathlib import Path

from nba_pipeline.tabledocs import render

ROOT = Path(__file__).resolve().parents[2]


def test_docs_tables_md_matches_the_declarations() -> None:
    committed = (ROOT / "docs" / "tables.md").read_text()
    assert committed == render(), "run: uv run nba-pipeline docs-tables > docs/tables.md"
