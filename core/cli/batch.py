"""`screenalytics batch`: a season (or any list of episodes) in one command."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from screenalytics.cli.app import CONFIG_HELP, cli, err_console, out_console
from screenalytics.errors import ScreenalyticsError
from screenalytics.service import Service
from screenalytics.service.batch import BatchEvent, BatchRequest, BatchResult, run_batch

COLOURS = {"ok": "green", "failed": "red", "skipped": "yellow", "not_run": "yellow"}


@cli.command()
@click.argument("source", metavar="MANIFEST.yaml|DIR", type=click.Path(path_type=Path))
@click.option(
    "--facebank",
    type=click.Path(path_type=Path),
    default=None,
    help="Cast photos for episodes whose manifest entry names none (required for a folder of videos).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default=Path("out"),
    show_default=True,
    help="OUT/<episode_id> per episode.",
)
@click.option("--config", "config_file", type=click.Path(path_type=Path), default=None, help=CONFIG_HELP)
@click.option(
    "--executor", type=click.Choice(["local", "ray"]), default=None, help="[default: batch.executor; ray with --address]"
)
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Episodes at once [default: batch.workers].")
@click.option("--address", default=None, help="Ray cluster: auto, HOST:PORT or ray://HOST:10001 [default: start Ray here].")
@click.option("--skip-existing", is_flag=True, help="Skip episodes whose results are already stored.")
@click.option(
    "--keep-going", is_flag=True, help="Run the other episodes after one fails (without it, none starts after a failure)."
)
@click.option("--force", is_flag=True, help="Re-run every stage even when stored results match.")
@click.option("--resume/--no-resume", default=True, show_default=True, help="Reuse checkpoints of interrupted runs.")
@click.option("--no-audio", is_flag=True, help="Visual screen time only: skip the audio stages.")
@click.option("--summary", type=click.Path(path_type=Path), default=None, help="JSON summary [default: OUT/batch_summary.json].")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars and no table.")
def batch(
    source: Path,
    facebank: Path | None,
    out_dir: Path,
    config_file: Path | None,
    executor: str | None,
    workers: int | None,
    address: str | None,
    skip_existing: bool,
    keep_going: bool,
    force: bool,
    resume: bool,
    no_audio: bool,
    summary: Path | None,
    quiet: bool,
) -> None:
    """Analyse many episodes in parallel, into one store: a manifest or a folder of videos.

    A manifest (YAML) lists `episodes:` (video, episode_id, show, season, number, title,
    facebank, voicebank, num_speakers), with defaults for all of them at the top level. An
    episode without a facebank uses --facebank, else its show's stored cast photos. Episodes
    run in worker processes here, or as Ray tasks (--executor ray; --address for a cluster,
    whose workers need an S3 store). Without --keep-going no episode starts after a failure
    (running ones finish). Exits 1 when any episode failed; see the JSON summary.
    """
    if address and executor == "local":
        raise click.UsageError("--address is for --executor ray")
    service = Service(config_file=config_file, **({"audio": {"enabled": False}} if no_audio else {}))
    req = BatchRequest(
        source=source,
        facebank=facebank,
        out_dir=out_dir,
        executor="ray" if address and not executor else executor,  # type: ignore[arg-type]
        workers=workers,
        address=address,
        skip_existing=skip_existing,
        keep_going=keep_going,
        resume=resume,
        force=force,
        summary=summary,
    )
    with _Display(quiet) as display:
        result = run_batch(service, req, display.on_event)
    if not quiet:
        _table(result)
    if result.failed or result.not_run:
        raise ScreenalyticsError(
            f"{result.failed} of {len(result.episodes)} episode(s) failed"
            + (f", {result.not_run} not run" if result.not_run else "")
            + f": see {result.summary}"
        )
    if not quiet:
        out_console.print(
            f"{result.ok} analysed, {result.skipped} skipped in {result.seconds:.1f} s -> {result.summary}", highlight=False
        )


class _Display:
    """One bar per episode plus the total, fed by the batch's events."""

    def __init__(self, quiet: bool) -> None:
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(),
            console=err_console,
            disable=quiet,
        )
        self.total: TaskID | None = None
        self.rows: dict[int, TaskID] = {}
        self.names: dict[int, str] = {}

    def __enter__(self) -> _Display:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.total is not None:
            self.bar.stop()

    def on_event(self, ev: BatchEvent) -> None:
        if ev.kind == "planned":
            if self.total is None:  # started with the first episode: a bad manifest prints its error alone
                self.bar.start()
                self.total = self.bar.add_task("[bold]total", total=0)
            self.bar.update(self.total, total=len(self.rows) + 1)
            self.rows[ev.index] = self.bar.add_task(f"{ev.episode_id}: queued", total=None)
            self.names[ev.index] = ev.episode_id
            return
        row, name = self.rows[ev.index], self.names[ev.index]
        if ev.kind == "started":
            self.bar.update(row, description=f"{name}: starting")
        elif ev.kind == "progress":
            total = ev.total or None
            self.bar.update(row, description=f"{name}: {ev.stage}", completed=min(ev.done, ev.total), total=total)
        elif ev.kind == "finished" and ev.outcome is not None:
            o = ev.outcome
            took = f" {o.seconds:.1f} s" if o.seconds else ""
            self.bar.update(row, description=f"{name}: [{COLOURS[o.status]}]{o.status}[/]{took}", total=1, completed=1)
            if self.total is not None:
                self.bar.advance(self.total)


def _table(result: BatchResult) -> None:
    table = Table(title=f"Batch: {result.ok} ok, {result.failed} failed, {result.skipped} skipped, {result.not_run} not run")
    for col in ("episode", "status", "seconds", "rows", "tracks", "error / note"):
        table.add_column(col, justify="right" if col in ("seconds", "rows", "tracks") else "left", no_wrap=col == "episode")
    for o in result.episodes:
        table.add_row(
            o.episode_id,
            f"[{COLOURS[o.status]}]{o.status}[/]",
            f"{o.seconds:.1f}",
            str(o.screen_time_rows),
            str(o.tracks),
            o.error or o.note or "",
        )
    out_console.print(table)
