"""`report`: a stored episode's self-contained HTML report."""

from __future__ import annotations

from pathlib import Path

import click

from screenalytics.cli.app import cli, with_service
from screenalytics.service import Service


@cli.command("report")
@click.argument("episode_id")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None, help="Folder [default: out/EPISODE_ID].")
@click.option("--open", "open_it", is_flag=True, help="Open the report in the default browser.")
@with_service
def report_cmd(service: Service, episode_id: str, out_dir: Path | None, open_it: bool) -> None:
    """Write report.html for a stored episode (review edits included): totals, timelines, faces,
    the review queue, speech and run details in one file that loads nothing from the network."""
    files = service.report(episode_id, out_dir).files  # type: ignore[attr-defined]  # until Service includes ReportOps
    for path in files:
        click.echo(str(path))
    if open_it and files:
        click.launch(str(files[0]))
