"""`storage`: the result store and artifacts at storage.uri."""

from __future__ import annotations

import click

from screenalytics.cli.app import cli, with_service
from screenalytics.service import Service


@cli.group()
def storage() -> None:
    """The result store and artifacts at storage.uri (a folder or s3://bucket/prefix)."""


@storage.command("ls")
@click.argument("prefix", default="")
@with_service
def storage_ls(service: Service, prefix: str) -> None:
    """List artifact keys under PREFIX (videos/, frames/, manifests/, reports/ ...)."""
    for key in service.list_artifacts(prefix).keys:
        click.echo(key)


@storage.command("url")
@click.argument("key")
@click.option(
    "--expires",
    type=click.IntRange(min=1),
    default=None,
    help="Seconds, at most storage.presign_max_expiry_s (7 days) [default: storage.presign_expiry_s].",
)
@with_service
def storage_url(service: Service, key: str, expires: int | None) -> None:
    """Print a signed, short-lived URL for an artifact (a file path for local storage)."""
    click.echo(service.signed_url(key, expires).url)


@storage.command("lifecycle")
@click.option("--yes", "-y", is_flag=True, help="Delete them; without it, only list what would be deleted.")
@click.option("--dry-run", is_flag=True, help="Only list what would be deleted (the default without --yes).")
@with_service
def storage_lifecycle(service: Service, yes: bool, dry_run: bool) -> None:
    """Delete artifacts older than storage.lifecycle_days allows, per prefix, once confirmed with
    --yes. The result database (lancedb/), the facebank and the manifests are never touched."""
    dry_run = dry_run or not yes
    doomed = service.purge(dry_run=dry_run).keys
    for key in doomed:
        click.echo(("would delete " if dry_run else "deleted ") + key)
    click.echo(f"{len(doomed)} artifact(s) {'to delete' if dry_run else 'deleted'}")
    if dry_run and doomed and not yes:
        click.echo("nothing deleted: run again with --yes to delete them")


@storage.command("migrate")
@with_service
def storage_migrate(service: Service) -> None:
    """Bring the result tables to the current schema version (idempotent)."""
    before, after = service.migrate()
    click.echo(f"schema version {before} -> {after} at {service.results.uri}")
