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
from pathlib import Path
from typing import Any

from screenalytics.config import Settings
from screenalytics.model.banks import Facebank, Voicebank
from screenalytics.model.media import VideoInfo
from screenalytics.model.names import AUDIO_STAGES, Output, PluginKind, Stage, with_prerequisites
from screenalytics.model.records import FaceEmbedding
from screenalytics.model.run import RunContext, RunResult
from screenalytics.registry.models import ModelStore
from screenalytics.registry.plugins import call_event, get_implementation, plugin_options
from screenalytics.stages.clock import CancelToken, Progress, Timer
from screenalytics.stages.decode import load_audio, probe, write_wav
from screenalytics.stages.facebank import enrol
from screenalytics.stages.fusion import add_speaking_time, attach_words, attribute_turns, link_speakers
from screenalytics.stages.identify import identify_tracks
from screenalytics.stages.listen import Listening, listen
from screenalytics.stages.outputs import run_exporters, write_manifests
from screenalytics.stages.publish import publish, record_in_catalog, save
from screenalytics.stages.screentime import visual_screen_time
from screenalytics.stages.tracking import follow_faces
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
        self._instances: dict[PluginKind, Any] = {}

    def kinds_in_use(self) -> list[PluginKind]:
        kinds = [PluginKind.DETECTOR, PluginKind.TRACKER, PluginKind.RECOGNIZER]
        if self.settings.audio.enabled:
            kinds += [PluginKind.VAD, PluginKind.SPEAKER_EMBEDDER, PluginKind.DIARIZER]
            if self.settings.transcription.enabled:
                kinds.append(PluginKind.TRANSCRIBER)
        return kinds

    def plugin(self, kind: PluginKind) -> Any:
        """The configured implementation of ``kind``, loaded on first use (trackers: use new_tracker)."""
        if kind not in self._instances:
            if kind not in self.classes:
                raise ValueError(f"no {kind} in use with these settings")
            cls = self.classes[kind]
            if kind == PluginKind.DIARIZER:
                self._instances[kind] = cls(self.settings, self.models, self.plugin(PluginKind.SPEAKER_EMBEDDER))
            else:
                self._instances[kind] = cls(self.settings, self.models)
        return self._instances[kind]

    def use(self, kind: PluginKind, instance: Any) -> None:
        """Run with this instance of ``kind`` instead of loading the configured one."""
        self._instances[kind] = instance

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
    ) -> RunResult:
        """Compute a run's results (nothing is stored). ``stages`` limits the run to those stages
        and what they need; ``keep_soundtrack`` is a folder for the 16 kHz WAV when archiving."""
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
        faces = follow_faces(info, self.detector, self.recognizer, self.new_tracker, s, timer)
        t0 = time.perf_counter()
        seen = identify_tracks(faces, bank.gallery, s, self.recognizer.model_name)
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

        audio_status, speech, words, av_links, soundtrack = "disabled", [], [], [], None
        audio = load_audio(info.path, s.audio.sample_rate) if hearing or keep_soundtrack else None
        if audio is not None and keep_soundtrack is not None:  # decoded once, for listening and for the archive
            soundtrack = Path(tempfile.mkstemp(suffix=".wav", dir=keep_soundtrack)[1])
            write_wav(soundtrack, audio)
        if hearing and (audio is None or audio.duration_s < 0.5):
            audio_status = "skipped: the video has no audio track"
        elif hearing and audio is not None:
            transcriber = self.plugin(PluginKind.TRANSCRIBER) if s.transcription.enabled and Stage.TRANSCRIBE in wanted else None
            heard = listen(
                audio,
                self.plugin(PluginKind.VAD),
                self.plugin(PluginKind.DIARIZER),
                self.plugin(PluginKind.SPEAKER_EMBEDDER),
                transcriber,
                voices,
                num_speakers,
                s,
                timer,
            )
            t0 = time.perf_counter()
            turns = heard.diarization.turns
            links = link_speakers(turns, seen.samples, heard.voice_ids, s.fusion, heard.speaker_vectors)
            speech, av_links = attribute_turns(turns, links, seen.samples)
            screen_time = add_speaking_time(screen_time, turns, links, seen.samples)
            speech, words = attach_words(speech, heard.words)
            timer.add(Stage.FUSION, t0)
            embeddings += self._voice_rows(heard, voices)
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
) -> tuple[RunResult, list[Path]]:
    """Analyse, store (replacing the episode's earlier rows), then write manifests and exports,
    publish them with the face chips, and record the episode's shots and media in the catalog."""
    s = pipeline.settings
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result = pipeline.analyse(
        video,
        facebank,
        episode_id,
        progress,
        voicebank,
        num_speakers,
        stages,
        cancel,
        keep_soundtrack=out if s.storage.archive_media else None,
    )
    try:
        store = store or open_results(s)
        save(store, result, s)
        files = write_manifests(result, out)
        call_event("run_finished", result=result, context=result.context)
        exported, failed = run_exporters(pipeline.exporter_classes, s, result, out)
        files += exported
        catalog = Catalog(store)
        show_id, code = (show, result.episode_id) if show else catalog.show_of(result.episode_id)
        keys = publish(open_artifacts(s), s, result, files, show_id, code)
        record_in_catalog(catalog, result, show_id, code, keys)
    finally:
        if result.soundtrack is not None:
            result.soundtrack.unlink(missing_ok=True)
    if failed:  # only now, with everything stored, written and published
        raise failed[0]
    return result, files
