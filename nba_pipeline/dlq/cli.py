"""`nba-pipeline dlq ...`: list, show, replay and purge dead-lettered messages (docs/dlq.md)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table as RichTable

from nba_pipeline.dlq.messages import DlqError, DlqMessage, MessageFilter, parse_attribute_filters
from nba_pipeline.dlq.queues import (
    DEFAULT_MAX_REPLAYS,
    DeadLetterQueues,
    PurgeReport,
    RateLimiter,
    ReplayReport,
)

LOCAL_PROJECT = "nba-local"
"""The project of the local stack (`make run`), used when --project is omitted."""

dlq_app = typer.Typer(
    help="Dead-letter queues: list, show, replay and purge dead-lettered messages.",
    no_args_is_help=True,
)

ProjectOption = Annotated[
    str | None,
    typer.Option(help="Google Cloud project; omit for the emulator (PUBSUB_EMULATOR_HOST)"),
]
SubscriptionOption = Annotated[
    list[str] | None,
    typer.Option(
        "--subscription",
        help="scraper-complete, phase2-complete or a subscription name; repeatable (default: both DLQs)",
    ),
]
ScraperOption = Annotated[str | None, typer.Option(help="only messages with this scraper_name")]
AttributeOption = Annotated[
    list[str] | None,
    typer.Option("--attribute", help="only messages with attribute key=value; repeatable"),
]
MessageIdOption = Annotated[str | None, typer.Option(help="only the DLQ message with this id")]
MaxOption = Annotated[
    int | None, typer.Option("--max", min=1, help="act on at most N matching messages")
]
DryRunOption = Annotated[
    bool, typer.Option("--dry-run", help="show what would happen; every message stays")
]


def _fail(message: str, code: int = 2) -> typer.Exit:
    """Print a one-line reason on stderr and exit with `code`."""
    typer.echo(message, err=True)
    return typer.Exit(code)


def _queues(project: str | None) -> DeadLetterQueues:
    """The project's DLQs; without --project, the emulator's local stack project."""
    if project is None and not os.environ.get("PUBSUB_EMULATOR_HOST"):
        raise _fail(
            "give --project, or set PUBSUB_EMULATOR_HOST (e.g. 127.0.0.1:8085) for the local stack"
        )
    return DeadLetterQueues(project or LOCAL_PROJECT)


def _filter(
    scraper: str | None, attribute: list[str] | None, message_id: str | None
) -> MessageFilter:
    try:
        return MessageFilter(scraper, parse_attribute_filters(attribute or []), message_id)
    except DlqError as exc:
        raise _fail(str(exc)) from None


def _run(project: str | None, action: Callable[[DeadLetterQueues], Any]) -> Any:
    """Run `action` on the project's DLQs, closing clients and turning DlqError into exit 2."""
    queues = _queues(project)
    try:
        return action(queues)
    except DlqError as exc:
        raise _fail(str(exc)) from None
    finally:
        queues.close()


@dlq_app.command("list")
def list_messages(
    project: ProjectOption = None,
    subscription: SubscriptionOption = None,
    scraper: ScraperOption = None,
    attribute: AttributeOption = None,
    message_id: MessageIdOption = None,
    max_messages: MaxOption = None,
) -> None:
    """Print a table of dead-lettered messages; nothing is removed."""
    flt = _filter(scraper, attribute, message_id)
    messages: list[DlqMessage] = _run(project, lambda q: q.peek(subscription, flt, max_messages))
    table = RichTable(title=f"{len(messages)} dead-lettered message(s)")
    for column in (
        "message id",
        "scraper_name",
        "source subscription",
        "deliveries",
        "published",
        "replay_count",
        "data",
    ):
        table.add_column(column, overflow="fold")
    for m in messages:
        table.add_row(
            m.message_id,
            m.scraper_name,
            m.source_subscription or "?",
            str(m.delivery_count or "?"),
            m.published,
            str(m.replay_count),
            m.preview(),
        )
    Console().print(table)


@dlq_app.command("show")
def show(
    message_id: Annotated[str, typer.Option(help="the DLQ message id (see `dlq list`)")],
    project: ProjectOption = None,
    subscription: SubscriptionOption = None,
) -> None:
    """Print one message's full data (indented if JSON) and all its attributes."""
    messages: list[DlqMessage] = _run(
        project, lambda q: q.peek(subscription, MessageFilter(message_id=message_id), 1)
    )
    if not messages:
        raise _fail(f"message {message_id} is not in the dead-letter queue(s)", 1)
    message = messages[0]
    typer.echo(f"message id:   {message.message_id}\nsubscription: {message.dlq_subscription}")
    typer.echo("attributes:")
    for key, value in sorted(message.attributes.items()):
        typer.echo(f"  {key} = {value}")
    typer.echo("data:")
    typer.echo(message.pretty_data())


@dlq_app.command("replay")
def replay(
    project: ProjectOption = None,
    subscription: SubscriptionOption = None,
    scraper: ScraperOption = None,
    attribute: AttributeOption = None,
    message_id: MessageIdOption = None,
    max_messages: MaxOption = None,
    rate: Annotated[
        float | None, typer.Option(min=0.001, help="at most N republishes per second")
    ] = None,
    max_replays: Annotated[
        int, typer.Option(min=1, help="leave messages already replayed this often in the DLQ")
    ] = DEFAULT_MAX_REPLAYS,
    dry_run: DryRunOption = False,
) -> None:
    """Republish dead-lettered messages to their original topic, then delete them from the DLQ."""
    flt = _filter(scraper, attribute, message_id)
    report: ReplayReport = _run(
        project,
        lambda q: q.replay(
            subscription, flt, max_messages, max_replays, dry_run, RateLimiter(rate)
        ),
    )
    verb = "would replay" if dry_run else "replayed"
    for done in report.replayed:
        new = f" as {done.new_message_id}" if done.new_message_id else ""
        typer.echo(
            f"{verb} {done.message.message_id} -> {done.topic}{new} "
            f"(replay_count {done.message.replay_count + 1})"
        )
    for message in report.skipped_ceiling:
        typer.echo(
            f"ceiling reached {message.message_id}: replayed {message.replay_count} "
            f"time(s) (--max-replays {max_replays}), left in the DLQ"
        )
    for failed in report.failed:
        typer.echo(f"failed {failed.message.message_id}: {failed.reason}; left in the DLQ")
    typer.echo(
        f"{verb}: {len(report.replayed)}, ceiling reached: {len(report.skipped_ceiling)}, "
        f"failed: {len(report.failed)}, not matching: {report.filtered_out}"
    )
    if report.failed:
        raise typer.Exit(1)


@dlq_app.command("purge")
def purge(
    project: ProjectOption = None,
    subscription: SubscriptionOption = None,
    scraper: ScraperOption = None,
    attribute: AttributeOption = None,
    message_id: MessageIdOption = None,
    max_messages: MaxOption = None,
    yes: Annotated[bool, typer.Option("--yes", help="really delete")] = False,
    dry_run: DryRunOption = False,
) -> None:
    """Delete matching dead-lettered messages for good (--yes required)."""
    if not yes and not dry_run:
        raise _fail("purge deletes messages for good: add --yes (or --dry-run to preview)")
    flt = _filter(scraper, attribute, message_id)
    report: PurgeReport = _run(project, lambda q: q.purge(subscription, flt, max_messages, dry_run))
    verb = "would purge" if dry_run else "purged"
    for message in report.purged:
        typer.echo(f"{verb} {message.message_id} ({message.scraper_name or 'no scraper_name'})")
    typer.echo(f"{verb}: {len(report.purged)}, not matching: {report.filtered_out}")
