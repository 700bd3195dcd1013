"""`screenalytics run`: analyse one episode."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from screenalytics.cli.app import CONFIG_HELP, cli, err_console, out_console, safe_id
from screenalytics.cli.doctor import audio_kinds, startup_models
from screenalytics.model.names import PluginKind, Stage
from screenalytics.registry.models import models_line
from screenalytics.registry.plugins import get_implementation
from screenalytics.service import AnalyseRequest, AnalyseResult, Service
from screenalytics.service.preflight import validate_request
from screenalytics.stages.decode import probe


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
@click.option("--config", "config_file", type=click.Path(path_type=Path), default=None, help=CONFIG_HELP)
@click.option("--stride", type=int, default=None, help="Analyse every Nth frame.")
@click.option("--fps", type=float, default=None, help="Analyse this many frames per second (instead of --stride).")
@click.option(
    "--episode-id",
    default=None,
    callback=safe_id,
    help="Key for stored results [default: the video's file name; a name beyond ASCII gets a short hash].",
)
@click.option(
    "--voicebank",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder of cast voice clips, VOICEBANK/<person_id>/*.wav, to name speakers by voice.",
)
@click.option("--num-speakers", type=click.IntRange(min=1), default=None, help="Number of speakers, when known.")
@click.option("--no-audio", is_flag=True, help="Visual screen time only: skip the audio stages.")
@click.option("--stages", default=None, help=f"Run only these stages (comma-separated) and what they need: {', '.join(Stage)}.")
@click.option(
    "--export",
    "exports",
    default=None,
    help="Also write these exporters (comma-separated, e.g. parquet,rttm,srt) besides screen_time.exporters; see `plugins`.",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Reuse the stage checkpoints of an earlier (killed or finished) run whose inputs and settings still match; "
    "a finished run with the same inputs does nothing.",
)
@click.option("--force", is_flag=True, help="With --resume: run every stage again anyway.")
@click.option(
    "--require-gpu",
    is_flag=True,
    help="Stop before any work when a model would not run on a GPU (runtime.require_gpu), instead of running on the CPU.",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no table.")
def run(
    video: Path,
    facebank: Path,
    out_dir: Path | None,
    config_file: Path | None,
    stride: int | None,
    fps: float | None,
    episode_id: str | None,
    voicebank: Path | None,
    num_speakers: int | None,
    no_audio: bool,
    stages: str | None,
    exports: str | None,
    resume: bool,
    force: bool,
    require_gpu: bool,
    quiet: bool,
) -> None:
    """Find, track and identify faces in VIDEO, listen to who speaks, and report screen time.

    Writes screen_time.csv, screen_time.json, tracks.jsonl, detections.jsonl, speech.jsonl,
    av_links.jsonl and run.json to --out (plus what --export names), and stores detections, tracks, embeddings,
    assignments, speech and screen time in the result store (storage.uri); running an episode
    again replaces its stored rows.
    """
    if stride is not None and fps is not None:
        raise click.UsageError("use either --stride or --fps, not both")
    decode: dict[str, Any] = {k: v for k, v in (("stride", stride), ("fps", fps)) if v is not None}
    overrides: dict[str, Any] = {"decode": decode} if decode else {}
    if no_audio:
        overrides["audio"] = {"enabled": False}
    if require_gpu:
        overrides["runtime"] = {"require_gpu": True}
    try:
        chosen = [Stage(s.strip()) for s in stages.split(",") if s.strip()] if stages else None
    except ValueError as e:
        raise click.BadParameter(f"{e}; stages: {', '.join(Stage)}", param_hint="--stages") from None
    service = Service(config_file=config_file, **overrides)
    extra = [n.strip() for n in exports.split(",") if n.strip()] if exports else []
    if extra:
        for name in extra:  # an unknown name is a one-line error before any work
            get_implementation(PluginKind.EXPORTER, name)
        exporters = list(dict.fromkeys([*service.settings.screen_time.exporters, *extra]))
        service = Service(config_file=config_file, **overrides, screen_time={"exporters": exporters})
    req = AnalyseRequest(  # ids are checked here, before any model loads
        video=video,
        facebank=facebank,
        out_dir=out_dir,
        episode_id=episode_id,
        voicebank=voicebank,
        num_speakers=num_speakers,
        stages=chosen,
        resume=resume,
        force=force,
    )
    validate_request(req, service)  # paths, video, banks and the store, before models load (analyse checks again)
    _load_models(service, video, chosen, quiet)
    if quiet:
        result = service.analyse(req)
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
            task = bar.add_task(f"analysing {video.name}", total=None)

            def progress(stage: Stage, done: float, total: float) -> None:
                bar.update(task, description=f"{video.name}: {stage.value}", completed=min(done, total), total=total or None)

            result = service.analyse(req, progress)
    _report(result, quiet)


def _load_models(service: Service, video: Path, stages: list[Stage] | None, quiet: bool) -> None:
    """Load the run's models before any work, say on stderr what really runs each one, and stop
    here (one line, exit 1) when runtime.require_gpu is set and one is not on a GPU."""
    has_audio = probe(video).has_audio  # a bad video is reported before any model loads
    models = startup_models(service.pipeline, stages, has_audio)
    later = has_audio and audio_kinds(service.settings, stages) and not service.settings.runtime.require_gpu
    if not quiet:
        line = models_line(models) + ("; audio models: listed in run.json" if later else "")
        err_console.print(line, highlight=False, markup=False)


def _report(result: AnalyseResult, quiet: bool) -> None:
    for skipped in result.skipped_photos:
        err_console.print(f"[yellow]warning:[/] facebank photo skipped: {skipped}", highlight=False)
    for skipped in result.skipped_clips:
        err_console.print(f"[yellow]warning:[/] voice bank clip skipped: {skipped}", highlight=False)
    if result.audio_status.startswith("skipped"):
        err_console.print(f"[yellow]note:[/] audio stages {result.audio_status}; speaking_s and both_s are 0", highlight=False)
    for warning in result.warnings:
        err_console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    if result.up_to_date:
        err_console.print(
            "[green]up to date:[/] the stored results already match these inputs (--force to run again)", highlight=False
        )
    elif result.reused:
        err_console.print(f"resumed: reused the checkpoints of {', '.join(result.reused)}", highlight=False)
    if quiet:
        return
    table = Table(title=f"Screen time: {result.episode_id}")
    for col in ("person", "visual s", "speaking s", "both s", "confidence"):
        table.add_column(col, justify="left" if col == "person" else "right")
    for r in result.screen_time:
        table.add_row(r.person_id, f"{r.visual_s:.2f}", f"{r.speaking_s:.2f}", f"{r.both_s:.2f}", f"{r.confidence:.2f}")
    out_console.print(table)
    out_console.print(
        f"{result.frames_analysed} frames, {result.shots} shots, {result.tracks} tracks, "
        f"{result.speech_turns} speech turns by {result.speakers} speakers (audio: {result.audio_status}) -> {result.out_dir}",
        highlight=False,
    )
