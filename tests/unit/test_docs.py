"""Documentation that is generated from code must be committed up to date."""

from __future__ import annotations

from pathlib import Path

import pytest

from nba_pipeline.tabledocs import render

ROOT = Path(__file__).resolve().parents[2]


def test_docs_tables_md_matches_the_declarations() -> None:
    committed = (ROOT / "docs" / "tables.md").read_text()
    assert committed == render(), "run: uv run nba-pipeline docs-tables > docs/tables.md"


@pytest.mark.parametrize("doc", ["docs/deploy.md", "README.md"])
def test_docs_list_every_service_setting(doc: str) -> None:
    from services.scrapers.settings import ScraperSettings

    text = (ROOT / doc).read_text()
    missing = [
        name.upper() for name in ScraperSettings.model_fields if f"`{name.upper()}`" not in text
    ]
    assert not missing, f"add to {doc}'s settings tables: {', '.join(missing)}"
