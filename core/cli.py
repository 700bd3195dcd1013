"""The ``screenalytics`` command line."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click
import yaml
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from screenalytics import __version__
from screenalytics.config import Settings, load_settings
from screenalytics.errors import ScreenalyticsError
from screenalytics.model_registry import ModelStore
from screenalytics.plugin_manager import STAGES, implementations, load_plugins, pm

out_console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

STAGE_SETTING = {
    "detector": lambda s: s.detection.detector,
    "tracker": lambda s: s.tracking.tracker,
    "recognizer": lambda s: s.recognition.recognizer,
    "vad": lambda s: s.vad.vad,
    "speaker_embedder": lambda s: s.speaker_embedding.embedder,
    "diarizer": lambda s: s.diarization.diarizer,
    "transcriber": lambda s: s.transcription.transcriber,
    "exporter": lambda s: ", ".join(s.screen_time.exporters),
}


class ScreenalyticsGroup(click.Group):
    """Turns our errors into a one-line reason and a non-zero exit, without a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ScreenalyticsError as e:
            err_console.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
            sys.exit(e.exit_code)


@click.group(cls=ScreenalyticsGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="screenalytics")
def cli() -> None:
    """Screenalytics: who is on screen in a TV episode, and for how long.

    Start with `screenalytics run EPISODE.mp4 --facebank CAST_DIR`. Settings come from the
    packaged defaults, a YAML file (--config) and SCREENALYTICS_* environment variables.
    """


def _settings(config: Path | None, **overrides: Any) -> Settings:
    return load_settings(config, **{k: v for k, v in overrides.items() if v})


@cli.command()
@click.argument("video", type=click.Path(path_type=Path))
@click.option(
    "--facebank",
    required=True,
    type=click.Path(path_type=Path),
    help="Folder of cast photos, FACEBANK/<person_id>/*.jpg|png (or a YAML file person_id: [photos]).",
)
@click.option(
    "--out", "out_dir", type=click.Path(path_type=Path), default=None, help="Output folder [default: ./out/<episode_id>]."
)
@click.option("--config", type=click.Path(path_type=Path), default=None, help="YAML settings overriding the defaults.")
@click.option("--stride", type=int, default=None, help="Analyse every Nth frame.")
@click.option("--fps", type=float, default=None, help="Analyse this many frames per second (instead of --stride).")
@click.option("--episode-id", default=None, help="Key for stored results [default: the video's file name].")
@click.option(
    "--voicebank",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder of cast voice clips, VOICEBANK/<person_id>/*.wav, to name speakers by voice.",
)
@click.option("--num-speakers", type=click.IntRange(min=1), default=None, help="Number of speakers, when known.")
@click.option("--no-audio", is_flag=True, help="Visual screen time only: skip the audio stages.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no table.")
def run(
    video: Path,
    facebank: Path,
    out_dir: Path | None,
    config: Path | None,
    stride: int | None,
    fps: float | None,
    episode_id: str | None,
    voicebank: Path | None,
    num_speakers: int | None,
    no_audio: bool,
    quiet: bool,
) -> None:
    """Find, track and identify faces in VIDEO and report screen time per person.

    Writes screen_time.csv, screen_time.json, tracks.jsonl, detections.jsonl and run.json to
    --out, and stores detections, tracks, embeddings, assignments and screen time in the
    result store (storage.uri); running an episode again replaces its stored rows.
    """
    from screenalytics.decode import probe
    from screenalytics.pipeline import Pipeline, episode_id_for, run_episode

    if stride is not None and fps is not None:
        raise click.UsageError("use either --stride or --fps, not both")
    decode: dict[str, Any] = {}
    if stride is not None:
        decode["stride"] = stride
    if fps is not None:
        decode["fps"] = fps
    settings = _settings(config, decode=decode, audio={"enabled": False} if no_audio else {})
    pipeline = Pipeline(settings)
    probe(video)  # bad input fails here, before any work or any write
    bank = pipeline.enrol(facebank)
    voices = pipeline.enrol_voices(voicebank) if voicebank and settings.audio.enabled else None
    out = out_dir or Path("out") / (episode_id or episode_id_for(video))
    if quiet:
        result, files = run_episode(pipeline, video, bank, out, episode_id, voicebank=voices, num_speakers=num_speakers)
    else:
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=err_console,
            transient=False,
        ) as bar:
            task = bar.add_task(f"analysing {Path(video).name}", total=None)

            def progress(done: float, total: float) -> None:
                bar.update(task, completed=min(done, total), total=total or None)

            result, files = run_episode(
                pipeline, video, bank, out, episode_id, progress, voicebank=voices, num_speakers=num_speakers
            )
    for skipped in result.skipped_photos:
        err_console.print(f"[yellow]warning:[/] facebank photo skipped: {skipped}", highlight=False)
    for skipped in voices.skipped if voices else []:
        err_console.print(f"[yellow]warning:[/] voice bank clip skipped: {skipped}", highlight=False)
    if result.audio_status.startswith("skipped"):
        err_console.print(f"[yellow]note:[/] audio stages {result.audio_status}; speaking_s and both_s are 0", highlight=False)
    if quiet:
        return
    table = Table(title=f"Screen time: {result.episode_id}")
    for col in ("person", "visual s", "speaking s", "both s", "confidence"):
        table.add_column(col, justify="left" if col == "person" else "right")
    for r in result.screen_time:
        table.add_row(r.person_id, f"{r.visual_s:.2f}", f"{r.speaking_s:.2f}", f"{r.both_s:.2f}", f"{r.confidence:.2f}")
    out_console.print(table)
    speakers = len({seg.speaker for seg in result.speech})
    out_console.print(
        f"{result.frames_analysed} frames, {len(result.cut_times) + 1} shots, {len(result.tracks)} tracks, "
        f"{len(result.speech)} speech turns by {speakers} speakers (audio: {result.audio_status}) -> {out}",
        highlight=False,
    )


@cli.command("plugins")
@click.option("--config", type=click.Path(path_type=Path), default=None)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def plugins_cmd(config: Path | None, as_json: bool) -> None:
    """List installed plugins and which implementation each stage will use."""
    settings = _settings(config)
    if as_json:
        report = {
            stage: {
                "selected": STAGE_SETTING[stage](settings) if stage in STAGE_SETTING else None,
                "implementations": {n: impl.plugin for n, impl in sorted(implementations(stage).items())},
            }
            for stage in STAGES
        }
        click.echo(json.dumps(report, indent=2))
        return
    table = Table(title="Stages")
    for col in ("stage", "implementations", "selected"):
        table.add_column(col)
    for stage in STAGES:
        found = implementations(stage)
        names = ", ".join(f"{n} ({impl.plugin})" for n, impl in sorted(found.items())) or "-"
        table.add_row(stage, names, STAGE_SETTING[stage](settings) if stage in STAGE_SETTING else "-")
    out_console.print(table)
    out_console.print("plugins loaded: " + ", ".join(sorted(n for n, _ in pm.list_name_plugin())), highlight=False)


@cli.group()
def models() -> None:
    """List, fetch and verify model files (folder: SCREENALYTICS_MODELS_DIR or models_dir)."""


def _store(config: Path | None) -> ModelStore:
    return ModelStore(_settings(config).models_dir)


@models.command("list")
@click.option("--config", type=click.Path(path_type=Path), default=None)
def models_list(config: Path | None) -> None:
    """Show every registered model, its licence and whether it is on disk."""
    store = _store(config)
    table = Table(title=f"Models in {store.root}")
    for col in ("name", "stage", "status", "licence", "description"):
        table.add_column(col)
    for name, spec in sorted(store.registry.items()):
        status = "ok" if all(store.find(f) for f in spec.files) else "missing"
        table.add_row(name, spec.stage, status, spec.licence, spec.description)
    out_console.print(table)


@models.command("pull")
@click.argument("names", nargs=-1, required=True)
@click.option("--config", type=click.Path(path_type=Path), default=None)
def models_pull(names: tuple[str, ...], config: Path | None) -> None:
    """Download models into the models folder and check their sha256."""
    store = _store(config)
    for name in names:
        for path in store.pull(name):
            out_console.print(f"{name}: {path}", highlight=False)


@models.command("verify")
@click.argument("names", nargs=-1)
@click.option("--config", type=click.Path(path_type=Path), default=None)
def models_verify(names: tuple[str, ...], config: Path | None) -> None:
    """Check sha256 of models on disk (all present ones when no NAME is given)."""
    store = _store(config)
    chosen = names or tuple(n for n, spec in store.registry.items() if all(store.find(f) for f in spec.files))
    bad = []
    for name in chosen:
        status = store.status(name)
        out_console.print(f"{name}: {status}", highlight=False)
        if status != "ok":
            bad.append(name)
    if bad:
        raise ScreenalyticsError(f"{len(bad)} model(s) failed verification: {', '.join(bad)}")


@cli.group()
def storage() -> None:
    """The result store and artifacts at storage.uri (a folder or s3://bucket/prefix)."""


@storage.command("ls")
@click.argument("prefix", default="")
@click.option("--config", type=click.Path(path_type=Path), default=None)
def storage_ls(prefix: str, config: Path | None) -> None:
    """List artifact keys under PREFIX (videos/, frames/, manifests/, reports/ ...)."""
    from screenalytics.stores import open_artifacts

    for key in open_artifacts(_settings(config)).list(prefix):
        click.echo(key)


@storage.command("url")
@click.argument("key")
@click.option("--expires", type=click.IntRange(min=1), default=None, help="Seconds [default: storage.presign_expiry_s].")
@click.option("--config", type=click.Path(path_type=Path), default=None)
def storage_url(key: str, expires: int | None, config: Path | None) -> None:
    """Print a signed, short-lived URL for an artifact (a file path for local storage)."""
    from screenalytics.stores import open_artifacts

    click.echo(open_artifacts(_settings(config)).url(key, expires))


@storage.command("lifecycle")
@click.option("--dry-run", is_flag=True, help="Only list what would be deleted.")
@click.option("--config", type=click.Path(path_type=Path), default=None)
def storage_lifecycle(dry_run: bool, config: Path | None) -> None:
    """Delete artifacts older than storage.lifecycle_days allows, per prefix."""
    from screenalytics.stores import open_artifacts

    settings = _settings(config)
    doomed = open_artifacts(settings).apply_lifecycle(settings.storage.lifecycle_days, dry_run=dry_run)
    for key in doomed:
        click.echo(("would delete " if dry_run else "deleted ") + key)
    click.echo(f"{len(doomed)} artifact(s) {'to delete' if dry_run else 'deleted'}")


@storage.command("migrate")
@click.option("--config", type=click.Path(path_type=Path), default=None)
def storage_migrate(config: Path | None) -> None:
    """Bring the result tables to the current schema version (idempotent)."""
    from screenalytics.stores import open_results

    store = open_results(_settings(config))
    before = store.schema_version()
    click.echo(f"schema version {before} -> {store.migrate()} at {store.uri}")


@cli.group()
def review() -> None:
    """Correct an analysed episode: reassign, lock, propagate, merge, split, undo.

    Every edit is recorded in the episode's history (who, when, before, after, reason) and
    screen time is recomputed from the corrected state.
    """


def _review_options(f: Any) -> Any:
    for opt in (
        click.option("--config", type=click.Path(path_type=Path), default=None),
        click.option("--reason", default="", help="Why (kept in the history)."),
        click.option("--who", default=lambda: os.environ.get("USER", "unknown"), help="Who [default: $USER]."),
    ):
        f = opt(f)
    return f


def _edit(config: Path | None, episode: str, op: Any, *args: Any, who: str, reason: str, **kwargs: Any) -> None:
    from screenalytics.stores.review_store import open_review

    session = open_review(_settings(config), episode)
    change = session.edit(op, *args, who=who, reason=reason, **kwargs)
    _print_review(session, f"{change.op}: {len(change.rows)} row(s) changed")


def _print_review(session: Any, headline: str) -> None:
    out_console.print(headline, highlight=False)
    for r in session.results.read("screen_time", session.episode_id).to_pylist():
        out_console.print(
            f"  {r['person_id']:<24} visual {r['visual_s']:8.2f}  speaking {r['speaking_s']:8.2f}  both {r['both_s']:8.2f}",
            highlight=False,
        )


@review.command("reassign-track")
@click.argument("episode")
@click.argument("track_id", type=int)
@click.argument("person_id")
@click.option("--force", is_flag=True, help="Overwrite a locked assignment.")
@_review_options
def review_reassign_track(
    episode: str, track_id: int, person_id: str, force: bool, who: str, reason: str, config: Path | None
) -> None:
    """Assign a whole track to PERSON_ID."""
    from screenalytics.review import reassign_track

    _edit(config, episode, reassign_track, track_id, person_id, force, who=who, reason=reason)


@review.command("reassign-cluster")
@click.argument("episode")
@click.argument("from_person")
@click.argument("to_person")
@click.option("--force", is_flag=True, help="Overwrite locked assignments.")
@_review_options
def review_reassign_cluster(
    episode: str, from_person: str, to_person: str, force: bool, who: str, reason: str, config: Path | None
) -> None:
    """Give everything labelled FROM_PERSON (e.g. unknown_3) to TO_PERSON."""
    from screenalytics.review import reassign_cluster

    _edit(config, episode, reassign_cluster, from_person, to_person, force, who=who, reason=reason)


@review.command("reassign-frame")
@click.argument("episode")
@click.argument("detection_id", type=int)
@click.argument("person_id")
@click.option("--force", is_flag=True, help="Overwrite a locked assignment.")
@_review_options
def review_reassign_frame(
    episode: str, detection_id: int, person_id: str, force: bool, who: str, reason: str, config: Path | None
) -> None:
    """Assign one detection (see detections.jsonl) to PERSON_ID."""
    from screenalytics.review import reassign_frame

    _edit(config, episode, reassign_frame, detection_id, person_id, force, who=who, reason=reason)


@review.command("lock")
@click.argument("episode")
@click.argument("track_id", type=int)
@click.option("--unlock", is_flag=True, help="Remove the lock instead.")
@_review_options
def review_lock(episode: str, track_id: int, unlock: bool, who: str, reason: str, config: Path | None) -> None:
    """Lock a track's assignment so later edits need --force."""
    from screenalytics.review import set_lock

    _edit(config, episode, set_lock, track_id, not unlock, who=who, reason=reason)


@review.command("propagate")
@click.argument("episode")
@click.argument("track_id", type=int)
@click.option("--threshold", type=float, default=None, help="Cosine similarity [default: review.propagate_threshold].")
@_review_options
def review_propagate(episode: str, track_id: int, threshold: float | None, who: str, reason: str, config: Path | None) -> None:
    """Give a locked track's person to unlocked tracks whose faces look like it."""
    from screenalytics.review import propagate

    limit = threshold if threshold is not None else _settings(config).review.propagate_threshold
    _edit(config, episode, propagate, track_id, limit, who=who, reason=reason)


@review.command("merge")
@click.argument("episode")
@click.argument("keep", type=int)
@click.argument("absorb", type=int)
@click.option("--force", is_flag=True, help="Absorb a locked track.")
@_review_options
def review_merge(episode: str, keep: int, absorb: int, force: bool, who: str, reason: str, config: Path | None) -> None:
    """Merge track ABSORB into track KEEP."""
    from screenalytics.review import merge_tracks

    _edit(config, episode, merge_tracks, keep, absorb, force, who=who, reason=reason)


@review.command("split")
@click.argument("episode")
@click.argument("track_id", type=int)
@click.argument("at_seconds", type=float)
@_review_options
def review_split(episode: str, track_id: int, at_seconds: float, who: str, reason: str, config: Path | None) -> None:
    """Split a track at AT_SECONDS into two tracks."""
    from screenalytics.review import split_track

    _edit(config, episode, split_track, track_id, at_seconds, who=who, reason=reason)


@review.command("undo")
@click.argument("episode")
@_review_options
def review_undo(episode: str, who: str, reason: str, config: Path | None) -> None:
    """Revert the latest edit not yet undone (the undo is recorded too)."""
    from screenalytics.stores.review_store import open_review

    session = open_review(_settings(config), episode)
    change = session.undo(who=who, reason=reason)
    _print_review(session, f"{change.op}: {len(change.rows)} row(s) restored")


@review.command("queue")
@click.argument("episode")
@click.option(
    "--threshold", type=float, default=None, help="Confidence below which a track is queued [default: review.queue_threshold]."
)
@click.option("--config", type=click.Path(path_type=Path), default=None)
def review_queue(episode: str, threshold: float | None, config: Path | None) -> None:
    """Tracks to review first: low confidence or face/voice disagreement, most screen time first."""
    from screenalytics.stores.review_store import low_confidence_queue, open_review

    settings = _settings(config)
    limit = threshold if threshold is not None else settings.review.queue_threshold
    queue = low_confidence_queue(open_review(settings, episode), limit)
    _print_rows(
        [{**q, "reasons": "; ".join(q["reasons"])} for q in queue], ["track_id", "person_id", "confidence", "seconds", "reasons"]
    )


@review.command("promote")
@click.argument("episode")
@click.argument("track_id", type=int)
@click.argument("person_id")
@click.option("--count", type=click.IntRange(min=1), default=3, show_default=True)
@click.option("--config", type=click.Path(path_type=Path), default=None)
def review_promote(episode: str, track_id: int, person_id: str, count: int, config: Path | None) -> None:
    """Add a track's best face chips to PERSON_ID's facebank photos (see `facebank export`)."""
    from screenalytics.stores.review_store import open_review, promote_chips

    for key in promote_chips(open_review(_settings(config), episode), track_id, person_id, count):
        click.echo(key)


@cli.group()
def facebank() -> None:
    """The facebank kept in storage (facebank/<person_id>/<hash>.jpg)."""


@facebank.command("export")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--config", type=click.Path(path_type=Path), default=None)
def facebank_export(folder: Path, config: Path | None) -> None:
    """Write the stored facebank to FOLDER/<person_id>/*.jpg, ready for `run --facebank FOLDER`."""
    from screenalytics.stores import open_artifacts

    store = open_artifacts(_settings(config))
    keys = store.list("facebank/")
    for key in keys:
        target = folder / Path(key).relative_to("facebank")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(store.get(key))
    click.echo(f"{len(keys)} photo(s) -> {folder}")


@review.command("history")
@click.argument("episode")
@click.option("--config", type=click.Path(path_type=Path), default=None)
def review_history(episode: str, config: Path | None) -> None:
    """Print the episode's edit history, oldest first."""
    from screenalytics.stores.review_store import open_review

    for h in open_review(_settings(config), episode).history():
        undo = f" (undoes {h['undoes']})" if h["undoes"] else ""
        click.echo(f"{h['seq']:>4} {h['at']} {h['who']:<10} {h['op']}{undo} {h['args']} {h['reason']}")


def _catalog(config: Path | None) -> Any:
    from screenalytics.stores import open_results
    from screenalytics.stores.catalog import Catalog

    return Catalog(open_results(_settings(config)))


def _print_rows(rows: list[dict[str, Any]], columns: list[str]) -> None:
    table = Table()
    for c in columns:
        table.add_column(c)
    for r in rows:
        table.add_row(*[str(r.get(c, "")) for c in columns])
    out_console.print(table)


@cli.group()
def show() -> None:
    """Shows in the catalog."""


@show.command("add")
@click.argument("show_id")
@click.option("--title", default="")
@click.option("--config", type=click.Path(path_type=Path), default=None)
def show_add(show_id: str, title: str, config: Path | None) -> None:
    """Add or update a show."""
    _catalog(config).add_show(show_id, title)
    click.echo(f"show {show_id}")


@show.command("season")
@click.argument("show_id")
@click.argument("season", type=click.IntRange(min=0))
@click.option("--title", default=None)
@click.option("--config", type=click.Path(path_type=Path), default=None)
def show_season(show_id: str, season: int, title: str | None, config: Path | None) -> None:
    """Add or rename a season of a show."""
    from screenalytics.stores.catalog import CatalogError

    cat = _catalog(config)
    if cat.get("shows", show_id=show_id) is None:
        raise CatalogError(f"unknown show {show_id!r}: add it first (`screenalytics show add {show_id}`)")
    cat.upsert("seasons", show_id=show_id, season=season, title=title or f"Season {season}", meta="{}")
    click.echo(f"{show_id} season {season}")


@show.command("list")
@click.option("--config", type=click.Path(path_type=Path), default=None)
def show_list(config: Path | None) -> None:
    """List shows."""
    _print_rows(_catalog(config).list("shows"), ["show_id", "title"])


@cli.group()
def episode() -> None:
    """Episodes in the catalog (their id is what `run --episode-id` attaches results to)."""


@episode.command("add")
@click.argument("episode_id")
@click.option("--show", "show_id", required=True)
@click.option("--season", type=click.IntRange(min=0), required=True)
@click.option("--number", type=click.IntRange(min=0), required=True)
@click.option("--title", default=None)
@click.option("--air-date", default=None, help="YYYY-MM-DD")
@click.option("--config", type=click.Path(path_type=Path), default=None)
def episode_add(
    episode_id: str, show_id: str, season: int, number: int, title: str | None, air_date: str | None, config: Path | None
) -> None:
    """Add or update an episode of a show."""
    _catalog(config).add_episode(episode_id, show_id, season, number, title, air_date)
    click.echo(f"episode {episode_id}")


@episode.command("list")
@click.option("--show", "show_id", default=None)
@click.option("--config", type=click.Path(path_type=Path), default=None)
def episode_list(show_id: str | None, config: Path | None) -> None:
    """List episodes, optionally of one show."""
    from screenalytics.stores.lance import quote

    rows = _catalog(config).list("episodes", f"show_id = {quote(show_id)}" if show_id else None)
    _print_rows(rows, ["episode_id", "show_id", "season", "number", "title", "air_date"])


@cli.group()
def person() -> None:
    """People in the catalog: cast membership and featured thumbnails."""


@person.command("add")
@click.argument("person_id")
@click.option("--name", default="")
@click.option("--config", type=click.Path(path_type=Path), default=None)
def person_add(person_id: str, name: str, config: Path | None) -> None:
    """Add or update a person (use the facebank's person_id)."""
    _catalog(config).add_person(person_id, name)
    click.echo(f"person {person_id}")


@person.command("list")
@click.option("--config", type=click.Path(path_type=Path), default=None)
def person_list(config: Path | None) -> None:
    """List people with their featured thumbnail."""
    cat = _catalog(config)
    featured = {f["person_id"]: f for f in cat.list("person_featured")}
    rows = [{**p, "featured": featured.get(p["person_id"], {}).get("key", "")} for p in cat.list("people")]
    _print_rows(rows, ["person_id", "name", "featured"])


@person.command("cast")
@click.argument("person_id")
@click.option("--show", "show_id", required=True)
@click.option("--role", default="")
@click.option("--config", type=click.Path(path_type=Path), default=None)
def person_cast(person_id: str, show_id: str, role: str, config: Path | None) -> None:
    """Make PERSON_ID a cast member of a show."""
    _catalog(config).add_cast(show_id, person_id, role)
    click.echo(f"{person_id} in {show_id}")


@person.command("feature")
@click.argument("person_id")
@click.argument("key")
@click.option("--config", type=click.Path(path_type=Path), default=None)
def person_feature(person_id: str, key: str, config: Path | None) -> None:
    """Choose a person's thumbnail by artifact KEY (overrides the automatic choice)."""
    from screenalytics.stores import open_artifacts
    from screenalytics.stores.catalog import CatalogError

    settings = _settings(config)
    if not open_artifacts(settings).exists(key):
        raise CatalogError(f"no artifact {key!r} (see `screenalytics storage ls chips/`)")
    _catalog(config).feature(person_id, key, 1.0, manual=True)
    click.echo(f"{person_id}: {key}")


@cli.command("config")
@click.option("--config", type=click.Path(path_type=Path), default=None)
def config_cmd(config: Path | None) -> None:
    """Print the effective settings as YAML (defaults + --config + environment)."""
    settings = _settings(config)
    out_console.print(yaml.safe_dump(settings.model_dump(mode="json"), sort_keys=False), highlight=False, markup=False)


def main() -> None:
    load_plugins()
    pm.hook.register_commands(cli=cli)
    cli()


if __name__ == "__main__":  # pragma: no cover
    main()
