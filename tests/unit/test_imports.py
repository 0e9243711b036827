"""Each part imports what it uses: checking a table name or counting scrapers loads no parser."""

from __future__ import annotations

import subprocess
import sys

import pytest

from libs.common.sources.registry import FAMILIES

PARSERS = {"libs.common.sources.registry", *(family.__name__ for family in FAMILIES)}


@pytest.mark.parametrize("module", ["services.analytics.app", "libs.common.service"])
def test_importing_loads_no_parser_module(module: str) -> None:
    """The analytics service checks a message's table, and `/health/detailed` counts the
    scrapers, from the table declarations; a fresh interpreter shows what the import loaded."""
    code = f"import sys, {module}; print(*sorted(sys.modules))"
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert module in loaded
    assert PARSERS.isdisjoint(loaded), sorted(PARSERS & set(loaded))
