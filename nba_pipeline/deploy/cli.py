"""`nba-pipeline deploy TARGET`: build and deploy to Cloud Run with plain gcloud commands,
printed instead of run with --dry-run or DRY_RUN=1 (docs/deploy.md)."""

from __future__ import annotations

import shlex
from typing import Annotated

import typer
from pydantic import ValidationError

from nba_pipeline.deploy.gcloud import (
    Target,
    commands,
    dry_run,
    run_command,
    target_services,
    write_rendered,
)
from nba_pipeline.deploy.settings import DeploySettings, settings_error


def deploy(
    target: Annotated[
        Target,
        typer.Argument(
            metavar="TARGET",
            help="scrapers, processors, analytics, all (the three), or iam (the Pub/Sub "
            "service agent's grants; after `nba-pipeline infra apply`)",
        ),
    ],
    dry_run_option: Annotated[
        bool,
        typer.Option("--dry-run", help="print the exact commands, run nothing (or DRY_RUN=1)"),
    ] = False,
) -> None:
    """Build and deploy to Cloud Run, stopping at the first failing command with its exit
    code; settings from the environment (GCP_PROJECT, ...: docs/deploy.md)."""
    try:
        settings = DeploySettings()
    except ValidationError as exc:
        typer.echo(f"{settings_error(exc)} (see docs/deploy.md)", err=True)
        raise typer.Exit(2) from None
    planned = commands(target, settings)
    if dry_run_option or dry_run():
        for command in planned:
            typer.echo(shlex.join(command))
        return
    write_rendered(target_services(target), settings)
    for command in planned:
        if code := run_command(command):
            raise typer.Exit(code)
