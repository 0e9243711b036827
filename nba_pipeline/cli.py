"""`nba-pipeline`: the project's one command (local stack, scrape, parse, infra, deploy)."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table as RichTable

from libs.common.errors import UnknownScraperError
from libs.common.rawfile import fetched_at, split_envelope
from libs.common.sources.base import ParseContext, ParseError
from libs.common.sources.registry import get_source
from nba_pipeline.deploy.cli import deploy
from nba_pipeline.dlq.cli import dlq_app
from nba_pipeline.export import export
from nba_pipeline.gaps import gaps_app
from nba_pipeline.infra import infra_app
from nba_pipeline.players import players_app

if TYPE_CHECKING:
    from nba_pipeline.backfill import CreditEstimate
    from nba_pipeline.stack import LocalStack

app = typer.Typer(
    help="NBA data pipeline: local stack, scrapes, parsing and infrastructure.",
    no_args_is_help=True,
)
app.add_typer(infra_app, name="infra")
app.add_typer(dlq_app, name="dlq")
app.add_typer(players_app, name="players")
app.add_typer(gaps_app, name="gaps")
app.command()(deploy)
app.command()(export)
console = Console(stderr=True)

SCHEDULER_TICK_SECONDS = 1.0
DEMO_DATE = dt.date(2025, 2, 20)
"""A day with recorded balldontlie games; the replay server's season agrees with them."""


def _fail(message: str, code: int = 2) -> typer.Exit:
    """Print a one-line reason on stderr and exit with `code`."""
    typer.echo(message, err=True)
    return typer.Exit(code)


def read_body(path: Path) -> Any:
    """A file's content for parsing: JSON, or the text of an .html / .html.gz page."""
    raw = path.read_bytes()
    if path.suffix == ".gz":
        raw = gzip.decompress(raw)
    text = raw.decode()
    if ".html" in path.suffixes:
        return text
    return json.loads(text)


@app.command()
def parse(
    scraper_name: Annotated[str, typer.Argument(help="registry name, e.g. bdl_games")],
    file: Annotated[Path, typer.Argument(help="raw upstream body or one of our GCS files")],
    game_date: Annotated[
        str | None, typer.Option(help="game date to stamp when the file has none")
    ] = None,
) -> None:
    """Print, as JSON lines, the rows SCRAPER_NAME's processor would load from FILE."""
    try:
        source = get_source(scraper_name)
        document = read_body(file)
        meta, body = split_envelope(document)
        params = (meta or {}).get("request", {}).get("params", {})
        date_text = game_date or params.get("date")
        context = ParseContext(
            execution_id=str((meta or {}).get("execution_id", "local-parse")),
            source_file=str(file),
            game_date=dt.date.fromisoformat(date_text) if date_text else None,
            fetched_at=fetched_at(meta),
            params=params,
        )
        rows = source.parse(body, context)
    except UnknownScraperError as exc:
        raise _fail(str(exc)) from None
    except (OSError, ValueError, ParseError) as exc:
        raise _fail(f"{scraper_name}: cannot parse {file}: {exc}") from None
    for row in rows:
        sys.stdout.write(json.dumps(row, default=str) + "\n")


def _print_report(report: DemoReport) -> None:
    table = RichTable(title=f"Demo day {DEMO_DATE}: rows per table")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, count in report.rows.items():
        table.add_row(name, str(count))
    Console().print(table)
    Console().print(
        f"{report.runs} scraper runs; end-to-end latency (first scrape request to the last "
        f"analytics rows): {report.latency_seconds:.2f} s"
    )


@dataclass
class DemoReport:
    """Rows per table with data, runs made and end-to-end latency of the demo day."""

    rows: dict[str, int]
    runs: int
    latency_seconds: float


def run_demo(scrapers_url: str, game_date: dt.date = DEMO_DATE) -> DemoReport:
    """Every date scraper for one day (games, box scores, events, betting lines, schedule),
    through all three phases, as a backfill of that day; re-run each time `up` starts."""
    from nba_pipeline.backfill import backfill as run_backfill
    from nba_pipeline.pipeline import PipelineClient

    client = PipelineClient(scrapers_url)
    started = time.monotonic()
    try:
        report = run_backfill(client, game_date, game_date, force=True)
    finally:
        client.close()
    latency = time.monotonic() - started
    if report.failures:
        failed = report.failures[0]
        raise RuntimeError(f"demo scrape failed: {failed.scraper_name}: {failed.error_message}")
    rows = {table: count for table, count in report.rows.items() if count}
    return DemoReport(rows, len(report.runs), latency)


@app.command()
def up(
    demo: Annotated[bool, typer.Option(help="run the demo day once everything is up")] = True,
    workdir: Annotated[
        Path, typer.Option(help="warehouse file, bucket files, logs and child pids")
    ] = Path(".local"),
    free_ports: Annotated[bool, typer.Option(help="ephemeral ports instead of 8081-8090")] = False,
    port: Annotated[
        list[str] | None,
        typer.Option(
            help="NAME=PORT, repeatable, NAME one of scrapers, processors, analytics, pubsub, "
            "gcs, replay (e.g. --port gcs=4443); wins over the defaults and --free-ports"
        ),
    ] = None,
    scheduler: Annotated[bool, typer.Option(help="run the Cloud Scheduler jobs locally")] = True,
) -> None:
    """Start the local stack (emulators, replay upstream, three services) until Ctrl-C or
    SIGTERM, which stop it within seconds (also during the demo) and exit 0."""
    from nba_pipeline.stack import LocalStack, Ports, StackError
    from nba_pipeline.stopping import StopRequested, StopSignals

    try:
        ports = (Ports.free() if free_ports else Ports()).with_overrides(port or [])
    except ValueError as exc:
        raise _fail(f"--port: {exc}") from None
    stack = LocalStack(ports=ports, workdir=workdir)
    with StopSignals() as stops:
        try:
            with stops.interruptible():
                _serve(stack, demo, scheduler)
        except StopRequested as stop:
            console.print(f"{stop}: stopping the services, the warehouse and the emulators")
        except StackError as exc:
            raise _fail(f"local stack: {exc}", 1) from None
        finally:
            started = time.monotonic()
            stack.stop()
            console.print(f"stopped in {time.monotonic() - started:.1f} s")


def _serve(stack: LocalStack, demo: bool, scheduler: bool) -> None:
    """Start the stack, say where each part answers, run the demo day, then run the scheduler
    loop until a stop signal raises (`up` stops the stack whatever ends this)."""
    stack.start()
    console.print("[green]local stack up[/green]")
    for name in ("scrapers", "processors", "analytics"):
        console.print(f"  {name:<11} {stack.url(name)}/docs")
    console.print(f"  {'replay':<11} {stack.url('replay')}  (upstream replay server)")
    console.print(f"  {'pubsub':<11} 127.0.0.1:{stack.ports.pubsub}  (Pub/Sub emulator)")
    console.print(f"  {'gcs':<11} {stack.url('gcs')}  (fake-gcs-server, files in {stack.gcs_root})")
    if demo:
        _print_report(run_demo(stack.url("scrapers")))
    loop = stack.scheduler_loop() if scheduler else None
    console.print(f"scheduler loop: {'on (infra/scheduler/jobs.yaml)' if loop else 'off'}")
    console.print("Ctrl-C to stop.")
    while True:
        time.sleep(SCHEDULER_TICK_SECONDS)
        if loop is not None:
            loop.tick()


def _parse_date(value: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise _fail(f"{option}: '{value}' is not a date; use YYYY-MM-DD") from None


@contextmanager
def _date_progress(label: str, start: dt.date, end: dt.date) -> Iterator[Callable[[dt.date], None]]:
    """A progress bar on stderr over the dates start..end; yields the `on_date` to call per date."""
    from rich.progress import Progress

    from nba_pipeline.backfill import dates

    with Progress(console=console) as progress:
        task = progress.add_task(label, total=len(list(dates(start, end))))
        yield lambda day: progress.update(task, advance=1, description=str(day))


def _print_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """A table on stdout: the first column names the row, the others are counts."""
    table = RichTable(title=title)
    table.add_column(columns[0])
    for column in columns[1:]:
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(*("-" if value is None else str(value) for value in row))
    Console().print(table)


def _approve_credits(estimate: CreditEstimate, yes: bool) -> None:
    """Print what the backfill may spend; stop it (exit 2) over the budget without --yes."""
    from nba_pipeline.backfill import BackfillSettings

    console.print(estimate.describe())
    budget = BackfillSettings().odds_api_backfill_credits
    if estimate.total > budget and not yes:
        raise _fail(
            f"backfill not started: it may spend {estimate.total:,} Odds API credits, over the "
            f"budget of {budget:,} (ODDS_API_BACKFILL_CREDITS); re-run with --yes to spend "
            "them, or narrow --from/--to or --scrapers"
        )


@app.command()
def backfill(
    date_from: Annotated[str, typer.Option("--from", help="first game date, YYYY-MM-DD")],
    date_to: Annotated[str, typer.Option("--to", help="last game date, YYYY-MM-DD")],
    scrapers: Annotated[
        list[str] | None, typer.Option(help="scraper names (default: every date scraper)")
    ] = None,
    force: Annotated[bool, typer.Option(help="re-run dates that already loaded")] = False,
    parallel: Annotated[
        int, typer.Option(min=1, help="scrapes of a date run at once (mind upstream rate limits)")
    ] = 1,
    url: Annotated[str, typer.Option(help="scrapers service")] = "http://127.0.0.1:8081",
    yes: Annotated[
        bool,
        typer.Option("--yes", help="spend Odds API credits over ODDS_API_BACKFILL_CREDITS"),
    ] = False,
) -> None:
    """Drive a date range through the running pipeline; re-running resumes where it stopped."""
    import httpx

    from nba_pipeline.backfill import backfill as run_backfill
    from nba_pipeline.backfill import plan_backfill
    from nba_pipeline.pipeline import PipelineClient, PipelineTimeout
    from nba_pipeline.stopping import StopRequested, interruptible

    start, end = _parse_date(date_from, "--from"), _parse_date(date_to, "--to")
    if end < start:
        raise _fail("--to is before --from")
    client = PipelineClient(url)
    try:
        plan = plan_backfill(client, start, end, scrapers, force)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    except httpx.HTTPError as exc:
        raise _fail(
            f"backfill stopped, re-run to resume: {exc} (scrapers service {url})", 1
        ) from None
    if plan.credits.total:
        _approve_credits(plan.credits, yes)
    with interruptible(), _date_progress("backfill", start, end) as on_date:
        try:
            report = run_backfill(client, start, end, parallel=parallel, on_date=on_date, plan=plan)
        except (httpx.HTTPError, PipelineTimeout) as exc:
            message = f"backfill stopped, re-run to resume: {exc} (scrapers service {url})"
            raise _fail(message, 1) from None
        except StopRequested as stop:
            message = f"backfill stopped by {stop}, re-run to resume (runs made are skipped)"
            raise _fail(message, stop.exit_code) from None
    _print_table(f"Backfill {start} to {end}", ("table", "rows"), report.rows.items())
    Console().print(
        f"runs: {len(report.runs)}, skipped (already loaded): {report.skipped}, failed: {len(report.failures)}"
    )
    if report.republished:
        Console().print(
            f"republished {len(report.republished)} runs an earlier backfill left unfinished"
        )
    for run in report.failures:
        Console().print(f"  failed {run.scraper_name} {run.params}: {run.error_message}")
    if report.failures:
        raise typer.Exit(1)


@app.command()
def reprocess(
    date_from: Annotated[str, typer.Option("--from", help="first game date, YYYY-MM-DD")],
    date_to: Annotated[str, typer.Option("--to", help="last game date, YYYY-MM-DD")],
    scraper: Annotated[
        list[str] | None,
        typer.Option(
            help="scraper name, repeatable (default: every scraper whose files it reaches)"
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="list the files it would republish, publish nothing")
    ] = False,
    undated: Annotated[
        bool,
        typer.Option(
            "--undated", help="also the undated files (e.g. bdl_players) fetched on each date, UTC"
        ),
    ] = False,
    wait: Annotated[
        bool, typer.Option(help="wait until every phase applied each republished file again")
    ] = True,
    timeout: Annotated[float, typer.Option(help="seconds --wait waits at most")] = 600,
    url: Annotated[str, typer.Option(help="scrapers service")] = "http://127.0.0.1:8081",
) -> None:
    """Load raw files already in the bucket again (after a parser fix); asks no upstream."""
    import uuid

    import httpx

    from libs.common.reprocess import check_scrapers, default_scrapers
    from nba_pipeline.pipeline import PipelineClient, PipelineTimeout
    from nba_pipeline.reprocess import reprocess as run_reprocess

    start, end = _parse_date(date_from, "--from"), _parse_date(date_to, "--to")
    if end < start:
        raise _fail("--to is before --from")
    try:
        names = check_scrapers(scraper or default_scrapers(undated), undated)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    reprocess_id = str(uuid.uuid4())
    typer.echo(f"reprocess_id {reprocess_id}" + (" (dry run)" if dry_run else ""))
    client = PipelineClient(url)
    stopped = f"reprocess {reprocess_id} stopped (re-running it is safe)"
    try:
        with _date_progress("reprocess", start, end) as on_date:
            report = run_reprocess(
                client,
                start,
                end,
                names,
                dry_run=dry_run,
                undated=undated,
                reprocess_id=reprocess_id,
                on_date=on_date,
            )
    except httpx.HTTPError as exc:
        raise _fail(f"{stopped}: {exc} (scrapers service {url})", 1) from None
    done = "would republish" if dry_run else "republished"
    _print_table(
        f"Reprocess {start} to {end}" + (" (dry run)" if dry_run else ""),
        ("scraper", f"files {done}"),
        report.per_scraper().items(),
    )
    typer.echo(f"files {done}: {len(report.republished)}, unreadable: {len(report.errors)}")
    for problem in report.errors:
        typer.echo(f"  unreadable {problem.gcs_path}: {problem.error}")
    if wait and not dry_run and report.republished:
        console.print(f"waiting until every phase applied {len(report.republished)} files again")
        try:
            ids = [run.execution_id for run in report.republished]
            waited = client.wait_applied(ids, timeout, reprocess_id)
        except (httpx.HTTPError, PipelineTimeout) as exc:
            raise _fail(f"{stopped} while waiting: {exc}", 1) from None
        typer.echo(f"every phase applied them under reprocess_id {reprocess_id} in {waited:.1f} s")
    if report.errors:
        raise typer.Exit(1)


@app.command("docs-tables")
def docs_tables() -> None:
    """Print docs/tables.md, rendered from the table declarations."""
    from nba_pipeline.tabledocs import render

    sys.stdout.write(render())


@app.command()
def bench(
    quick: Annotated[bool, typer.Option(help="smoke run: two weeks, fewer events")] = False,
    markdown: Annotated[Path | None, typer.Option(help="also write the table as Markdown")] = None,
) -> None:
    """Benchmark the local stack; exit 1 only if the pipeline lost or duplicated data."""
    from nba_pipeline.bench.command import run

    raise typer.Exit(run(quick, markdown))


if __name__ == "__main__":
    app()
