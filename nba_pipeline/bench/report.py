"""The bench's one table: each figure, its ratio to a same-run floor, its target and verdict."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from rich.console import Console
from rich.table import Table


@dataclass(frozen=True)
class Figure:
    """One measured figure; `ratio` is against the floor named in `ratio_of`."""

    section: str
    name: str
    value: float
    unit: str
    ratio: float | None = None
    ratio_of: str = ""
    target: str = ""
    met: bool | None = None


@dataclass
class Results:
    """Figures collected so far, and data problems (lost or duplicated rows) that fail the run."""

    figures: list[Figure] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """What the reader should know that is not a figure (a section skipped, and why)."""

    def add(self, *figures: Figure) -> None:
        self.figures.extend(figures)

    def problem(self, text: str) -> None:
        self.problems.append(text)

    def note(self, text: str) -> None:
        self.notes.append(text)


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (pct in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, round(pct / 100 * len(ordered) + 0.4999))
    return ordered[min(rank, len(ordered)) - 1]


def _number(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}" if value < 10 else f"{value:.1f}"


def rows(figures: Sequence[Figure]) -> list[list[str]]:
    """The table's cells: section, figure, value, ratio (and to what), target, verdict."""
    cells = []
    for f in figures:
        ratio = f"{f.ratio:.2f}x {f.ratio_of}" if f.ratio is not None else ""
        verdict = "" if f.met is None else ("yes" if f.met else "NO")
        cells.append([f.section, f.name, f"{_number(f.value)} {f.unit}", ratio, f.target, verdict])
    return cells


HEADERS = ("section", "figure", "value", "ratio (same run)", "target", "met")


def print_table(results: Results, title: str) -> None:
    """The bench's output on stdout."""
    table = Table(title=title)
    for header in HEADERS:
        table.add_column(header, justify="right" if header == "value" else "left")
    for cells in rows(results.figures):
        table.add_row(*cells)
    console = Console(width=160)
    console.print(table)
    for text in results.notes:
        console.print(f"note: {text}")
    for text in results.problems:
        console.print(f"[red]DATA PROBLEM[/red] {text}")


def markdown(results: Results) -> str:
    """The same table in Markdown, for docs/benchmarks.md."""
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows(results.figures)]
    lines += [f"\nNote: {text}" for text in results.notes]
    return "\n".join(lines) + "\n"
