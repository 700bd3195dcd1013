"""``screenalytics jobs``: processing jobs started by MCP clients (or `jobs start`), and the worker."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from screenalytics.cli.app import cli, print_json, print_rows, with_service
from screenalytics.service import Service
from screenalytics.service.jobs import SETTINGS_ENV


@cli.group()
def jobs() -> None:
    """Processing jobs: list them, show one, cancel one."""


@jobs.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_service
def list_jobs(as_json: bool, service: Service) -> None:
    """Recorded jobs, newest first."""
    page = service.list_jobs(limit=service.settings.mcp.max_page_size)
    if as_json:
        print_json(page.items)
    else:
        print_rows(page.items, ["job_id", "status", "episode_id", "stage", "message", "created_at"])


@jobs.command("show")
@click.argument("job_id")
@click.option("--wait", "wait_s", type=float, default=0.0, help="Wait up to this many seconds for it to finish.")
@with_service
def show(job_id: str, wait_s: float, service: Service) -> None:
    """One job's status, progress and result."""
    print_json(service.get_job(job_id, wait_s))


@jobs.command("cancel")
@click.argument("job_id")
@with_service
def cancel(job_id: str, service: Service) -> None:
    """Stop a job between steps (its episode keeps the previously stored results)."""
    print_json(service.cancel_job(job_id))


@jobs.command("work", hidden=True)
@click.argument("job_id")
@click.option("--config", "config_file", type=click.Path(path_type=Path), default=None)
def work(job_id: str, config_file: Path | None) -> None:
    """Run a recorded job in this process (started by the service; not for people)."""
    from screenalytics.config import load_settings

    given = os.environ.pop(SETTINGS_ENV, None)
    settings = load_settings(**json.loads(given)) if given else load_settings(config_file)
    info = Service(settings=settings).run_job(job_id)
    click.echo(info.model_dump_json(indent=2))
