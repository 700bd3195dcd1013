"""The orchestrator: resolves the configured plugins and chains the stages over one episode.

decode -> shots -> detect -> align -> track -> embed -> identify   (one pass over the video)
decode audio -> vad -> diarize -> voices -> fusion -> transcribe    (when the episode has sound)
-> screen time -> store, manifests, exports, publish, catalog.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
import time
import uuid
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from screenalytics.config import Settings, options_key
from screenalytics.model.banks import Facebank, Voicebank
from screenalytics.model.media import VideoInfo
from screenalytics.model.names import AUDIO_STAGES, Output, PluginKind, Stage, with_prerequisites
from screenalytics.model.records import FaceEmbedding
from screenalytics.model.run import RunContext, RunResult
from screenalytics.registry.instances import PluginInstances
from screenalytics.registry.models import ModelStore, model_specs
from screenalytics.registry.plugins import call_event, get_implementation, plugin_options
from screenalytics.stages.background import AUDIO_KINDS, BackgroundListening, Heard, hear, importable
from screenalytics.stages.checkpoints import AUDIO_SECTIONS, VISION_SECTIONS, Checkpoints, array_digest, file_digest, fingerprint
from screenalytics.stages.clock import CancelToken, Progress, Timer
from screenalytics.stages.decode import load_audio, probe, write_wav
from screenalytics.stages.facebank import enrol
from screenalytics.stages.fusion import add_speaking_time, attach_words, attribute_turns, group_voices, link_speakers
from screenalytics.stages.identify import identify_tracks
from screenalytics.stages.listen import Listening
from screenalytics.stages.outputs import run_exporters, write_manifests
from screenalytics.stages.publish import publish, record_in_catalog, save
from screenalytics.stages.screentime import visual_screen_time
from screenalytics.stages.tracking import FaceTracks, follow_faces
from screenalytics.stages.voicebank import enrol_voices
from screenalytics.stores import open_artifacts, open_results
from screenalytics.stores.catalog import Catalog
from screenalytics.stores.lance import ResultStore


def episode_id_for(video: Path) -> str:
    """Default episode id: the file name without extension, made safe for storage keys. A name with
    characters beyond ASCII gets a short hash of the full name, so two such names never collide
    (`épisode 1 ✓` and `àpisode 1 ★` would both become `_pisode_1_`)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", video.stem) or "episode"
    if video.stem.isascii():
        return safe
    return f"{safe}-{hashlib.sha256(video.stem.encode('utf-8', 'surrogateescape')).hexdigest()[:8]}"


class Pipeline:
    """Runs episodes through the configured plugins. Build once, run many videos."""

    def __init__(self, settings: Settings, models: ModelStore | None = None) -> None:
        self.settings = settings
        self.models = models or ModelStore(settings.models_dir)
        plugin_options(settings)  # a bad plugin setting fails here, before any work
        # Resolve names first: an unknown plugin is a config error before any work is done.
        self.classes = {kind: get_implementation(kind, kind.selected(settings)) for kind in self.kinds_in_use()}
        self.exporter_classes = [get_implementation(PluginKind.EXPORTER, n) for n in settings.screen_time.exporters]
        self.instances = PluginInstances(settings, self.models, self.classes)

    def kinds_in_use(self) -> list[PluginKind]:
        kinds = [PluginKind.DETECTOR, PluginKind.TRACKER, PluginKind.RECOGNIZER]
        if self.settings.audio.enabled:
            kinds += [PluginKind.VAD, PluginKind.SPEAKER_EMBEDDER, PluginKind.DIARIZER]
            if self.settings.transcription.enabled:
                kinds.append(PluginKind.TRANSCRIBER)
            if self.settings.active_speaker.enabled:
                kinds.append(PluginKind.ACTIVE_SPEAKER)
        return kinds

    def plugin(self, kind: PluginKind) -> Any:
        """The configured implementation of ``kind``, loaded on first use (trackers: use new_tracker)."""
        return self.instances.plugin(kind)

    def use(self, kind: PluginKind, instance: Any) -> None:
        """Run with this instance of ``kind`` instead of loading the configured one."""
        self.instances.loaded[kind] = instance

    def new_tracker(self, frame_rate: float) -> Any:
        return self.classes[PluginKind.TRACKER](self.settings, frame_rate)

    @property
    def detector(self) -> Any:
        return self.plugin(PluginKind.DETECTOR)

    @property
    def recognizer(self) -> Any:
        return self.plugin(PluginKind.RECOGNIZER)

    def enrol(self, facebank: Path | str) -> Facebank:
        return enrol(Path(facebank), self.detector, self.recognizer, self.settings.facebank)

    def hears(self, stages: Iterable[Stage | str] | None = None) -> bool:
        """Whether a run of these stages (None: all) runs the audio stages."""
        return self.settings.audio.enabled and bool(with_prerequisites(stages) & set(AUDIO_STAGES))

    def enrol_voices(self, voicebank: Path | str) -> Voicebank:
        """Cast voices from ``DIR/<person_id>/*.wav`` (any audio or video file PyAV reads)."""
        vad, embedder = self.plugin(PluginKind.VAD), self.plugin(PluginKind.SPEAKER_EMBEDDER)
        return enrol_voices(Path(voicebank), vad, embedder, self.settings.audio.sample_rate, self.settings.voicebank)

    # ------------------------------------------------------------------------------------
    def analyse(
        self,
        video: Path | str | VideoInfo,
        facebank: Path | str | Facebank,
        episode_id: str | None = None,
        progress: Progress | None = None,
        voicebank: Path | str | Voicebank | None = None,
        num_speakers: int | None = None,
        stages: Iterable[Stage | str] | None = None,
        cancel: CancelToken | None = None,
        keep_soundtrack: Path | None = None,
        checkpoints: Checkpoints | None = None,
    ) -> RunResult:
        """Compute a run's results (nothing is stored). ``stages`` limits the run to those stages
        and what they need; ``keep_soundtrack`` is a folder for the 16 kHz WAV when archiving;
        ``checkpoints`` keeps (and, when resuming, reuses) the expensive stages' outputs."""
        s = self.settings
        info = video if isinstance(video, VideoInfo) else probe(video)
        wanted = with_prerequisites(stages)
        bank = facebank if isinstance(facebank, Facebank) else self.enrol(facebank)
        hearing = self.hears(wanted)
        voices = self.enrol_voices(voicebank) if hearing and isinstance(voicebank, (str, Path)) else voicebank
        voices = voices if isinstance(voices, Voicebank) else None
        ctx = RunContext(s, info, episode_id or episode_id_for(info.path), uuid.uuid4().hex[:12], bank)
        call_event("run_started", context=ctx)
        timer = Timer(cancel, progress)
        transcribe = s.transcription.enabled and Stage.TRANSCRIBE in wanted
        fp_faces = self.fingerprint_vision(info, hearing)
        fp_audio = self.fingerprint_audio(info, voices, num_speakers, transcribe)
        heard = checkpoints.load("listen", fp_audio) if checkpoints and hearing else None
        background = None
        if hearing and heard is None and self._listens_apart():
            audio_classes = {k: self.classes[k] for k in AUDIO_KINDS if k in self.classes}
            background = BackgroundListening(s, audio_classes, info.path, voices, num_speakers, transcribe, keep_soundtrack)
        try:
            faces = checkpoints.load("faces", fp_faces) if checkpoints else None
            if faces is None:
                faces = follow_faces(
                    info, self.detector, self.recognizer, self.new_tracker, s, timer, self._active_speaker(hearing)
                )
                if checkpoints:
                    checkpoints.save("faces", fp_faces, faces)
            if hearing and heard is None:
                heard = (
                    background.result(timer)
                    if background
                    else hear(self, info.path, voices, num_speakers, transcribe, keep_soundtrack, timer)
                )
                for stage, seconds in heard.timings.items() if background else ():
                    timer.totals[stage] += seconds
                if background:  # the audio models ran in the child: keep what ran them (run.json)
                    self.models.adopt(heard.models)
                if checkpoints:
                    checkpoints.save("listen", fp_audio, replace(heard, soundtrack=None, timings={}))
        finally:
            if background:
                background.stop()
        return self._conclude(ctx, info, bank, faces, heard, voices, timer, hearing, keep_soundtrack, checkpoints)

    def _active_speaker(self, hearing: bool) -> Any:
        """The active speaker model, when the run listens and it is enabled."""
        return self.plugin(PluginKind.ACTIVE_SPEAKER) if hearing and self.settings.active_speaker.enabled else None

    def _listens_apart(self) -> bool:
        """Whether the audio stages can run in a child process: not when a caller handed us plugin
        instances, and only with plugin classes a fresh process can import by name."""
        if not self.settings.audio.parallel or set(AUDIO_KINDS) & set(self.instances.loaded):
            return False
        return all(importable(self.classes[k]) for k in AUDIO_KINDS if k in self.classes)

    def _conclude(
        self,
        ctx: RunContext,
        info: VideoInfo,
        bank: Facebank,
        faces: FaceTracks,
        heard: Heard | None,
        voices: Voicebank | None,
        timer: Timer,
        hearing: bool,
        keep_soundtrack: Path | None,
        checkpoints: Checkpoints | None,
    ) -> RunResult:
        """Identify, fuse sound and picture, and add up screen time (cheap: never checkpointed)."""
        s = self.settings
        t0 = time.perf_counter()
        seen = identify_tracks(faces, bank.gallery, s, self.recognizer.model_name, self.recognizer.embed)
        timer.add(Stage.IDENTIFY, t0)
        for output, rows in (
            (Output.DETECTIONS, seen.detections),
            (Output.TRACKS, seen.tracks),
            (Output.ASSIGNMENTS, seen.assignments),
        ):
            call_event("stage_completed", stage=output, result=rows, context=ctx)
        screen_time = visual_screen_time(seen.samples, people=bank.person_ids)
        embeddings = [
            FaceEmbedding("facebank", bank.person_ids[int(o)], src, self.recognizer.model_name, v.tolist())
            for v, o, src in zip(bank.gallery.vectors, bank.gallery.owners, bank.sources)
        ] + seen.embeddings

        audio_status, speech, words, av_links = "disabled", [], [], []
        soundtrack = heard.soundtrack if heard else None
        if soundtrack is None and keep_soundtrack is not None:  # archiving without listening (or from a checkpoint)
            audio = load_audio(info.path, s.audio.sample_rate)
            if audio is not None:
                soundtrack = Path(tempfile.mkstemp(suffix=".wav", dir=keep_soundtrack)[1])
                write_wav(soundtrack, audio)
        if hearing and heard is not None and heard.listening is None:
            audio_status = heard.status
        elif hearing and heard is not None and heard.listening is not None:
            listening = heard.listening
            t0 = time.perf_counter()
            turns, vectors = group_voices(
                listening.diarization.turns, seen.samples, listening.speaker_vectors, s.fusion, keep_apart=listening.voice_ids
            )
            links = link_speakers(turns, seen.samples, listening.voice_ids, s.fusion, vectors)
            speech, av_links = attribute_turns(turns, links, seen.samples)
            screen_time = add_speaking_time(screen_time, turns, links, seen.samples)
            speech, words = attach_words(speech, listening.words)
            timer.add(Stage.FUSION, t0)
            embeddings += self._voice_rows(listening, voices)
            audio_status = "ok"
            call_event("stage_completed", stage=Output.SPEECH, result=speech, context=ctx)
            call_event("stage_completed", stage=Output.AV_LINKS, result=av_links, context=ctx)
        call_event("stage_completed", stage=Output.SCREEN_TIME, result=screen_time, context=ctx)
        return RunResult(
            ctx.episode_id,
            ctx.run_id,
            info,
            seen.detections,
            seen.tracks,
            embeddings,
            seen.assignments,
            screen_time,
            faces.cut_times,
            bank.skipped,
            faces.frames_analysed,
            dict(timer.totals),
            ctx,
            audio_status,
            speech,
            words,
            av_links,
            seen.chips,
            faces.shot_frames,
            soundtrack,
            reused=list(checkpoints.reused) if checkpoints else [],
            span=faces.span,
        )

    # -- what each checkpointed stage depends on -------------------------------------------------
    def _plugins_identity(self, kinds: Iterable[PluginKind]) -> dict[str, Any]:
        """The plugins that run these kinds, their settings and the files of their models."""
        options = plugin_options(self.settings)
        specs = model_specs()
        out: dict[str, Any] = {}
        for kind in kinds:
            if kind not in self.classes:
                continue
            cls = self.classes[kind]
            module = cls.__module__
            files = sorted((f.path, f.sha256 or "") for spec in specs.values() if spec.plugin == module for f in spec.files)
            out[kind.value] = {
                "impl": f"{module}.{cls.__qualname__}",
                "options": options.get(options_key(getattr(cls, "name", ""))),
                "models": files,
            }
        return out

    def fingerprint_vision(self, info: VideoInfo, hearing: bool = True) -> str:
        """Faces through time depend on the video, the vision settings and the vision plugins (and
        on whether the run listens: only then are faces scored by the active speaker model)."""
        kinds: tuple[PluginKind, ...] = (PluginKind.DETECTOR, PluginKind.TRACKER, PluginKind.RECOGNIZER)
        if hearing and self.settings.active_speaker.enabled:
            kinds += (PluginKind.ACTIVE_SPEAKER,)
        storage = {
            "chips_per_track": self.settings.storage.chips_per_track,
            "frame_max_side": self.settings.storage.frame_max_side,
        }
        return fingerprint(
            self.settings, VISION_SECTIONS, video=file_digest(info.path), plugins=self._plugins_identity(kinds), storage=storage
        )

    def fingerprint_run(
        self,
        info: VideoInfo,
        bank: Facebank,
        voices: Voicebank | None,
        num_speakers: int | None,
        stages: Iterable[Stage | str] | None,
        episode_id: str,
        show: str | None,
        out: Path,
    ) -> str:
        """Everything a whole run's results depend on: a finished run with this fingerprint is not redone."""
        transcribe = self.settings.transcription.enabled and Stage.TRANSCRIBE in with_prerequisites(stages)
        g = bank.gallery
        return fingerprint(
            self.settings,
            ("identification", "facebank", "fusion", "screen_time", "storage", "plugins"),
            faces=self.fingerprint_vision(info, self.hears(stages)),
            audio=self.fingerprint_audio(info, voices, num_speakers, transcribe) if self.hears(stages) else None,
            facebank=array_digest([*g.person_ids, g.vectors, g.owners]),
            stages=sorted(str(x) for x in with_prerequisites(stages)),
            episode=episode_id,
            show=show,
            out=str(out.resolve()),
        )

    def fingerprint_audio(self, info: VideoInfo, voices: Voicebank | None, num_speakers: int | None, transcribe: bool) -> str:
        """Listening depends on the soundtrack, the audio settings and plugins, the voice bank and the speaker count."""
        kinds = (PluginKind.VAD, PluginKind.SPEAKER_EMBEDDER, PluginKind.DIARIZER, PluginKind.TRANSCRIBER)
        bank = array_digest([*voices.gallery.person_ids, voices.gallery.vectors, voices.gallery.owners]) if voices else None
        return fingerprint(
            self.settings,
            AUDIO_SECTIONS,
            video=file_digest(info.path),
            plugins=self._plugins_identity(kinds),
            voices=bank,
            num_speakers=num_speakers,
            transcribe=transcribe,
        )

    def _voice_rows(self, heard: Listening, voices: Voicebank | None) -> list[FaceEmbedding]:
        model = getattr(self.plugin(PluginKind.SPEAKER_EMBEDDER), "name", "voice")
        rows = [
            FaceEmbedding("speaker", label, "diarization", model, vec.tolist()) for label, vec in heard.speaker_vectors.items()
        ]
        if voices:
            g = voices.gallery
            rows += [
                FaceEmbedding("voicebank", g.person_ids[int(o)], src, model, v.tolist())
                for v, o, src in zip(g.vectors, g.owners, voices.sources)
            ]
        return rows


def run_episode(
    pipeline: Pipeline,
    video: Path | str | VideoInfo,
    facebank: Path | str | Facebank,
    out_dir: Path | str,
    episode_id: str | None = None,
    progress: Progress | None = None,
    store: ResultStore | None = None,
    voicebank: Path | str | Voicebank | None = None,
    num_speakers: int | None = None,
    show: str | None = None,
    stages: Iterable[Stage | str] | None = None,
    cancel: CancelToken | None = None,
    resume: bool = False,
    force: bool = False,
) -> tuple[RunResult, list[Path]]:
    """Analyse, store (replacing the episode's earlier rows), then write manifests and exports,
    publish them with the face chips, and record the episode's shots and media in the catalog.

    Stage outputs are checkpointed as they finish; with ``resume`` a run reuses the checkpoints
    its inputs and settings still match, and a finished run with the same inputs is a no-op
    (unless ``force``)."""
    s = pipeline.settings
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    info = video if isinstance(video, VideoInfo) else probe(video)
    bank = facebank if isinstance(facebank, Facebank) else pipeline.enrol(facebank)
    episode = episode_id or episode_id_for(info.path)
    artifacts = open_artifacts(s)
    checkpoints = Checkpoints(artifacts, episode, resume and not force) if s.storage.checkpoints else None
    store = store or open_results(s)
    done_fp = ""
    if checkpoints is not None:
        voices = voicebank if isinstance(voicebank, Voicebank) or voicebank is None else pipeline.enrol_voices(voicebank)
        voicebank = voices
        done_fp = pipeline.fingerprint_run(info, bank, voices, num_speakers, stages, episode, show, out)
        finished = _finished_run(checkpoints, done_fp, store, out)
        if finished is not None:
            return finished
    result = pipeline.analyse(
        info,
        bank,
        episode,
        progress,
        voicebank,
        num_speakers,
        stages,
        cancel,
        keep_soundtrack=out if s.storage.archive_media else None,
        checkpoints=checkpoints,
    )
    try:
        save(store, result, s)
        files = write_manifests(result, out, providers=pipeline.models.providers())
        call_event("run_finished", result=result, context=result.context)
        exported, failed = run_exporters(pipeline.exporter_classes, s, result, out)
        files += exported
        catalog = Catalog(store)
        show_id, code = (show, result.episode_id) if show else catalog.show_of(result.episode_id)
        keys = publish(artifacts, s, result, files, show_id, code)
        record_in_catalog(catalog, result, show_id, code, keys)
        if checkpoints is not None and not failed:
            checkpoints.mark_finished(done_fp, result.run_id, out)
    finally:
        if result.soundtrack is not None:
            result.soundtrack.unlink(missing_ok=True)
    if failed:  # only now, with everything stored, written and published
        raise failed[0]
    return result, files


def _finished_run(checkpoints: Checkpoints, fp: str, store: ResultStore, out: Path) -> tuple[RunResult, list[Path]] | None:
    """The stored run when a run with exactly these inputs finished and its results are still
    current and written to ``out``; None when there is anything to do."""
    import json

    from screenalytics.stores.results import load_result

    done = checkpoints.finished(fp)
    manifest = out / "run.json"
    if done is None or store.current_run(checkpoints.episode_id) != done["run_id"] or not manifest.is_file():
        return None
    run = json.loads(manifest.read_text())
    if run.get("run_id") != done["run_id"]:
        return None
    result = load_result(store, Catalog(store), checkpoints.episode_id)
    result.frames_analysed = int(run.get("frames_analysed", 0))
    result.timings = {}
    result.reused = ["finished"]
    files = sorted(p for p in out.iterdir() if p.is_file())
    return result, files
