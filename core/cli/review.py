"""`review` and `facebank`: corrections to a stored episode, and the stored facebank."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from screenalytics.cli.app import cli, out_console, print_rows, with_service
from screenalytics.service import Service
from screenalytics.service.types import EditResult


@cli.group()
def review() -> None:
    """Correct an analysed episode: reassign, lock, propagate, merge, split, undo.

    Every edit is recorded in the episode's history (who, when, before, after, reason) and
    screen time is recomputed from the corrected state.
    """


def editor(f: Callable[..., Any]) -> Callable[..., Any]:
    """--reason and --who for an edit command, and the screen time it leaves printed."""
    for opt in (
        click.option("--reason", default="", help="Why (kept in the history)."),
        click.option("--who", default=lambda: os.environ.get("USER", "unknown"), help="Who [default: $USER]."),
    ):
        f = opt(f)
    return f


def show_edit(result: EditResult, verb: str = "changed") -> None:
    """The edit and the screen time it leaves, printed as they are (ids are data: no markup, no emoji)."""
    literal = {"markup": False, "emoji": False, "highlight": False}
    out_console.print(f"{result.op}: {result.rows_changed} row(s) {verb}", **literal)
    for r in result.screen_time:
        out_console.print(
            f"  {r.person_id:<24} visual {r.visual_s:8.2f}  speaking {r.speaking_s:8.2f}  both {r.both_s:8.2f}", **literal
        )


@review.command("reassign-track")
@click.argument("episode")
@click.argument("track_id", type=int)
@click.argument("person_id")
@click.option("--force", is_flag=True, help="Overwrite a locked assignment.")
@editor
@with_service
def review_reassign_track(
    service: Service, episode: str, track_id: int, person_id: str, force: bool, who: str, reason: str
) -> None:
    """Assign a whole track to PERSON_ID."""
    show_edit(service.reassign_track(episode, track_id, person_id, force, who, reason))


@review.command("reassign-cluster")
@click.argument("episode")
@click.argument("from_person")
@click.argument("to_person")
@click.option("--force", is_flag=True, help="Overwrite locked assignments.")
@editor
@with_service
def review_reassign_cluster(
    service: Service, episode: str, from_person: str, to_person: str, force: bool, who: str, reason: str
) -> None:
    """Give everything labelled FROM_PERSON (e.g. unknown_3) to TO_PERSON."""
    show_edit(service.reassign_cluster(episode, from_person, to_person, force, who, reason))


@review.command("reassign-frame")
@click.argument("episode")
@click.argument("detection_id", type=int)
@click.argument("person_id")
@click.option("--force", is_flag=True, help="Overwrite a locked assignment.")
@editor
@with_service
def review_reassign_frame(
    service: Service, episode: str, detection_id: int, person_id: str, force: bool, who: str, reason: str
) -> None:
    """Assign one detection (see detections.jsonl) to PERSON_ID."""
    show_edit(service.reassign_frame(episode, detection_id, person_id, force, who, reason))


@review.command("lock")
@click.argument("episode")
@click.argument("track_id", type=int)
@click.option("--unlock", is_flag=True, help="Remove the lock instead.")
@editor
@with_service
def review_lock(service: Service, episode: str, track_id: int, unlock: bool, who: str, reason: str) -> None:
    """Lock a track's assignment so later edits need --force."""
    show_edit(service.lock(episode, track_id, not unlock, who, reason))


@review.command("propagate")
@click.argument("episode")
@click.argument("track_id", type=int)
@click.option("--threshold", type=float, default=None, help="Cosine similarity [default: review.propagate_threshold].")
@editor
@with_service
def review_propagate(service: Service, episode: str, track_id: int, threshold: float | None, who: str, reason: str) -> None:
    """Give a locked track's person to unlocked tracks whose faces look like it."""
    show_edit(service.propagate(episode, track_id, threshold, who, reason))


@review.command("merge")
@click.argument("episode")
@click.argument("keep", type=int)
@click.argument("absorb", type=int)
@click.option("--force", is_flag=True, help="Absorb a locked track.")
@editor
@with_service
def review_merge(service: Service, episode: str, keep: int, absorb: int, force: bool, who: str, reason: str) -> None:
    """Merge track ABSORB into track KEEP."""
    show_edit(service.merge(episode, keep, absorb, force, who, reason))


@review.command("split")
@click.argument("episode")
@click.argument("track_id", type=int)
@click.argument("at_seconds", type=float)
@editor
@with_service
def review_split(service: Service, episode: str, track_id: int, at_seconds: float, who: str, reason: str) -> None:
    """Split a track at AT_SECONDS into two tracks."""
    show_edit(service.split(episode, track_id, at_seconds, who, reason))


@review.command("undo")
@click.argument("episode")
@editor
@with_service
def review_undo(service: Service, episode: str, who: str, reason: str) -> None:
    """Revert the latest edit not yet undone (the undo is recorded too)."""
    show_edit(service.undo(episode, who, reason), "restored")


@review.command("queue")
@click.argument("episode")
@click.option(
    "--threshold", type=float, default=None, help="Confidence below which a track is queued [default: review.queue_threshold]."
)
@with_service
def review_queue(service: Service, episode: str, threshold: float | None) -> None:
    """Tracks to review first: low confidence or face/voice disagreement, most screen time first."""
    print_rows(service.queue(episode, threshold), ["track_id", "person_id", "confidence", "seconds", "reasons"])


@review.command("promote")
@click.argument("episode")
@click.argument("track_id", type=int)
@click.argument("person_id")
@click.option("--count", type=click.IntRange(min=1), default=3, show_default=True)
@with_service
def review_promote(service: Service, episode: str, track_id: int, person_id: str, count: int) -> None:
    """Add a track's best face chips to PERSON_ID's facebank photos (see `facebank export`)."""
    for key in service.promote(episode, track_id, person_id, count).keys:
        click.echo(key)


@review.command("history")
@click.argument("episode")
@with_service
def review_history(service: Service, episode: str) -> None:
    """Print the episode's edit history, oldest first."""
    for h in service.history(episode):
        undo = f" (undoes {h.undoes})" if h.undoes else ""
        click.echo(f"{h.seq:>4} {h.at} {h.who:<10} {h.op}{undo} {h.args} {h.reason}")


@cli.group()
def facebank() -> None:
    """The facebank kept in storage (facebank/<person_id>/<hash>.jpg)."""


@facebank.command("export")
@click.argument("folder", type=click.Path(path_type=Path))
@with_service
def facebank_export(service: Service, folder: Path) -> None:
    """Write the stored facebank to FOLDER/<person_id>/*.jpg, ready for `run --facebank FOLDER`."""
    click.echo(f"{len(service.export_facebank(folder).keys)} photo(s) -> {folder}")
