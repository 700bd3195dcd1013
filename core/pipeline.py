"""The vision pipeline: decode -> shots -> detect -> track -> embed -> identify -> screen time."""

from __future__ import annotations

import heapq
import itertools
import re
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import supervision as sv

from screenalytics.audio import Audio, load_audio
from screenalytics.config import Settings
from screenalytics.data import Assignment, AVLink, Detection, FaceEmbedding, ScreenTime, SpeechSegment, Track, TranscriptWord
from screenalytics.decode import VideoInfo, iter_frames, probe, sample_period
from screenalytics.errors import ScreenalyticsError
from screenalytics.facebank import Facebank, enrol
from screenalytics.faces import LANDMARKS, shrink
from screenalytics.fusion import add_speaking_time, attribute_turns, link_speakers
from screenalytics.identify import Segment, Window, cluster_unknowns, confidence, decide_track, normalise, pooled
from screenalytics.model_registry import ModelStore
from screenalytics.plugin_manager import call_event, get_implementation
from screenalytics.quality import assess, mouth_motion
from screenalytics.screentime import VisualSample, visual_screen_time
from screenalytics.shots import CutDetector
from screenalytics.voicebank import Voicebank, enrol_voices, identify_speakers, speaker_embeddings

if TYPE_CHECKING:  # pragma: no cover
    from screenalytics.stores import ResultStore
    from screenalytics.stores.catalog import Catalog

Progress = Callable[[float, float], None]  # (seconds decoded, total seconds)


@dataclass
class RunContext:
    """What plugins see of a run in progress."""

    settings: Settings
    video: VideoInfo
    episode_id: str
    run_id: str
    facebank: Facebank
    shot_frames: dict[int, tuple[float, bytes]] = field(default_factory=dict)  # shot -> (t, JPEG)


@dataclass
class RunResult:
    episode_id: str
    run_id: str
    video: VideoInfo
    detections: list[Detection]
    tracks: list[Track]
    embeddings: list[FaceEmbedding]
    assignments: list[Assignment]
    screen_time: list[ScreenTime]
    cut_times: list[float]
    skipped_photos: list[str]
    frames_analysed: int
    timings: dict[str, float] = field(default_factory=dict)
    context: RunContext | None = None
    audio_status: str = "not run"  # "ok", "disabled", "skipped: ..."
    speech: list[SpeechSegment] = field(default_factory=list)
    words: list[TranscriptWord] = field(default_factory=list)
    av_links: list[AVLink] = field(default_factory=list)
    chips: dict[int, list[tuple[float, np.ndarray]]] = field(default_factory=dict)  # track -> best (quality, crop)


class _Timer:
    """Accumulates wall time per stage (for the benchmark and the run manifest)."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = defaultdict(float)

    def add(self, stage: str, since: float) -> float:
        now = time.perf_counter()
        self.totals[stage] += now - since
        return now


def episode_id_for(video: Path) -> str:
    """Default episode id: the file name without extension, made safe for storage keys."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", video.stem) or "episode"


@dataclass
class _Sample:
    quality: float
    passed: bool
    t: float
    crop: np.ndarray = field(compare=False)

    def key(self) -> tuple[bool, float]:
        return (self.passed, self.quality)


class Pipeline:
    """Runs one episode through the configured plugins. Build once, run many videos."""

    def __init__(self, settings: Settings, models: ModelStore | None = None) -> None:
        self.settings = settings
        self.models = models or ModelStore(settings.models_dir)
        # Resolve names first: an unknown plugin is a config error before any work is done.
        self.detector_cls = get_implementation("detector", settings.detection.detector)
        self.tracker_cls = get_implementation("tracker", settings.tracking.tracker)
        self.recognizer_cls = get_implementation("recognizer", settings.recognition.recognizer)
        self.exporter_classes = [get_implementation("exporter", n) for n in settings.screen_time.exporters]
        if settings.audio.enabled:
            self.vad_cls = get_implementation("vad", settings.vad.vad)
            self.embedder_cls = get_implementation("speaker_embedder", settings.speaker_embedding.embedder)
            self.diarizer_cls = get_implementation("diarizer", settings.diarization.diarizer)
            if settings.transcription.enabled:
                self.transcriber_cls = get_implementation("transcriber", settings.transcription.transcriber)
        self._detector: Any = None
        self._recognizer: Any = None
        self._audio_models: dict[str, Any] = {}

    @property
    def detector(self) -> Any:
        if self._detector is None:
            self._detector = self.detector_cls(self.settings, self.models)
        return self._detector

    @property
    def recognizer(self) -> Any:
        if self._recognizer is None:
            self._recognizer = self.recognizer_cls(self.settings, self.models)
        return self._recognizer

    def audio_model(self, stage: str) -> Any:
        """The VAD, speaker embedder, diarizer or transcriber, loaded on first use."""
        if stage not in self._audio_models:
            if stage == "diarizer":
                model = self.diarizer_cls(self.settings, self.models, embedder=self.audio_model("speaker_embedder"))
            else:
                cls = {"vad": self.vad_cls, "speaker_embedder": self.embedder_cls, "transcriber": self.transcriber_cls}[stage]
                model = cls(self.settings, self.models)
            self._audio_models[stage] = model
        return self._audio_models[stage]

    def enrol(self, facebank: Path) -> Facebank:
        return enrol(Path(facebank), self.detector, self.recognizer, self.settings.facebank)

    def enrol_voices(self, voicebank: Path) -> Voicebank:
        """Cast voices from ``DIR/<person_id>/*.wav`` (any audio or video file PyAV reads)."""
        return enrol_voices(
            Path(voicebank),
            self.audio_model("vad"),
            self.audio_model("speaker_embedder"),
            self.settings.audio.sample_rate,
            self.settings.voicebank,
        )

    # ------------------------------------------------------------------------------------
    def analyse(
        self,
        video: Path | str,
        facebank: Path | str | Facebank,
        episode_id: str | None = None,
        progress: Progress | None = None,
        voicebank: Path | str | Voicebank | None = None,
        num_speakers: int | None = None,
    ) -> RunResult:
        """Compute the run's results (nothing is written)."""
        video = Path(video)
        info = probe(video)
        bank = facebank if isinstance(facebank, Facebank) else self.enrol(Path(facebank))
        voices = voicebank if voicebank is None or isinstance(voicebank, Voicebank) else self.enrol_voices(Path(voicebank))
        ctx = RunContext(self.settings, info, episode_id or episode_id_for(video), uuid.uuid4().hex[:12], bank)
        call_event("run_started", context=ctx)
        timer = _Timer()
        chips: dict[int, list[tuple[float, int, np.ndarray]]] = defaultdict(list)
        records, window_vectors, cut_times, n_frames = self._track_and_embed(ctx, timer, progress, chips)
        call_event("stage_completed", stage="detections", result=records, context=ctx)
        t0 = time.perf_counter()
        tracks, assignments, embeddings, samples = self._identify(ctx, records, window_vectors)
        for i, r in enumerate(records):
            r.detection_id = i
        for i, a in enumerate(assignments):
            a.assignment_id = f"a{i}"
        timer.add("identify", t0)
        call_event("stage_completed", stage="tracks", result=tracks, context=ctx)
        call_event("stage_completed", stage="assignments", result=assignments, context=ctx)
        screen_time = visual_screen_time(samples, people=bank.person_ids)
        facebank_rows = [
            FaceEmbedding("facebank", bank.person_ids[int(o)], src, self.recognizer.model_name, v.tolist())
            for v, o, src in zip(bank.gallery.vectors, bank.gallery.owners, bank.sources)
        ]
        result = RunResult(
            ctx.episode_id,
            ctx.run_id,
            info,
            records,
            tracks,
            facebank_rows + embeddings,
            assignments,
            screen_time,
            cut_times,
            bank.skipped,
            n_frames,
            dict(timer.totals),
            ctx,
        )
        kept = {t.track_id for t in tracks}
        result.chips = {tid: sorted(((q, c) for q, _, c in h), key=lambda x: -x[0]) for tid, h in chips.items() if tid in kept}
        self._listen(result, samples, voices, num_speakers, timer)
        result.timings = dict(timer.totals)
        call_event("stage_completed", stage="screen_time", result=result.screen_time, context=ctx)
        return result

    # ------------------------------------------------------------------------------------
    def _listen(
        self, result: RunResult, samples: list[VisualSample], voices: Voicebank | None, num_speakers: int | None, timer: _Timer
    ) -> None:
        """Audio stages and fusion: who speaks when, tied to the people on screen."""
        s = self.settings
        if not s.audio.enabled:
            result.audio_status = "disabled"
            return
        audio = load_audio(result.video.path, s.audio.sample_rate)
        if audio is None or audio.duration_s < 0.5:
            result.audio_status = "skipped: the video has no audio track"
            return
        ctx = result.context
        t0 = time.perf_counter()
        regions = self.audio_model("vad").detect(audio)
        t0 = timer.add("vad", t0)
        diarization = self.audio_model("diarizer").diarize(audio, num_speakers)
        t0 = timer.add("diarize", t0)
        embedder = self.audio_model("speaker_embedder")
        speaker_vectors = speaker_embeddings(audio, diarization, embedder)
        voice_ids = identify_speakers(speaker_vectors, voices, s.voicebank) if voices else {}
        t0 = timer.add("voices", t0)
        links = link_speakers(diarization.turns, samples, voice_ids, s.fusion)
        speech, av_links = attribute_turns(diarization.turns, links, samples)
        result.screen_time = add_speaking_time(result.screen_time, diarization.turns, links, samples)
        t0 = timer.add("fusion", t0)
        if s.transcription.enabled:
            result.words = self._transcribe(audio, regions, speech)
            timer.add("transcribe", t0)
        result.speech, result.av_links = speech, av_links
        model = getattr(embedder, "name", "voice")
        result.embeddings += [
            FaceEmbedding("speaker", label, "diarization", model, vec.tolist()) for label, vec in speaker_vectors.items()
        ]
        if voices:
            result.embeddings += [
                FaceEmbedding("voicebank", voices.person_ids[int(o)], src, model, v.tolist())
                for v, o, src in zip(voices.vectors, voices.owners, voices.sources)
            ]
        result.audio_status = "ok"
        call_event("stage_completed", stage="speech", result=speech, context=ctx)
        call_event("stage_completed", stage="av_links", result=av_links, context=ctx)

    def _transcribe(self, audio: Audio, regions: list[tuple[float, float]], speech: list[SpeechSegment]) -> list[TranscriptWord]:
        """Words from speech regions only, each given to the turn its middle falls in."""
        words = self.audio_model("transcriber").transcribe(audio, regions)
        out = []
        for w in words:
            mid = (w.start + w.end) / 2
            inside = [seg for seg in speech if seg.start <= mid < seg.end]
            turn = min(inside, key=lambda seg: seg.end - seg.start) if inside else None
            if turn is not None:
                turn.text = (turn.text + w.text).strip() if turn.text else w.text.strip()
            out.append(TranscriptWord(turn.turn_id if turn else -1, float(w.start), float(w.end), w.text.strip(), w.probability))
        return out

    # ------------------------------------------------------------------------------------
    def _track_and_embed(
        self, ctx: RunContext, timer: _Timer, progress: Progress | None, chips: dict[int, list[tuple[float, int, np.ndarray]]]
    ) -> tuple[list[Detection], dict[tuple[int, int], tuple[np.ndarray, np.ndarray, bool]], list[float], int]:
        """Stream the video once: detect, track within shots, embed the best faces per window."""
        s = self.settings
        period = sample_period(ctx.video, s.decode.stride, s.decode.fps)
        window_s = s.recognition.window_s
        k = s.recognition.samples_per_window
        cuts = CutDetector(s.shots)
        tracker = self.tracker_cls(s, 1.0 / period)
        shot_id, n_frames = 0, 0
        cut_times: list[float] = []
        global_ids: dict[tuple[int, int], int] = {}
        next_id = itertools.count(1)
        records: list[Detection] = []
        heaps: dict[tuple[int, int], list[tuple[tuple[bool, float], int, _Sample]]] = defaultdict(list)
        tie = itertools.count()
        window_vectors: dict[tuple[int, int], tuple[np.ndarray, np.ndarray, bool]] = {}
        last_crop: dict[int, np.ndarray] = {}

        def flush(before_window: float) -> None:
            keys = [key for key in heaps if key[1] < before_window]
            if not keys:
                return
            t0 = time.perf_counter()
            crops, owners = [], []
            for key in keys:
                for _, _, smp in heaps.pop(key):
                    crops.append(smp.crop)
                    owners.append((key, smp))
            vectors = self.recognizer.embed(np.stack(crops))
            grouped: dict[tuple[int, int], list[tuple[np.ndarray, _Sample]]] = defaultdict(list)
            for (key, smp), vec in zip(owners, vectors):
                grouped[key].append((vec, smp))
            for key, items in grouped.items():
                good = [(v, sm) for v, sm in items if sm.passed]
                use = good or items
                window_vectors[key] = (
                    np.stack([v for v, _ in use]),
                    np.array([max(sm.quality, 1e-3) for _, sm in use]),
                    bool(good),
                )
            timer.add("embed", t0)

        t0 = time.perf_counter()
        for frame in iter_frames(ctx.video.path, s.decode.stride, s.decode.fps, s.decode.threads):
            t0 = timer.add("decode", t0)
            n_frames += 1
            if cuts.is_cut(frame.image, frame.t):
                shot_id += 1
                cut_times.append(frame.t)
                tracker = self.tracker_cls(s, 1.0 / period)
            if shot_id not in ctx.shot_frames:  # each shot's first frame, for browsing and review
                small, _ = shrink(frame.image, s.storage.frame_max_side)
                ok, jpg = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 85])
                if ok:
                    ctx.shot_frames[shot_id] = (frame.t, jpg.tobytes())
            t0 = timer.add("shots", t0)
            dets = self.detector.detect(frame.image)
            t0 = timer.add("detect", t0)
            self._annotate(dets, frame.image, frame.index, frame.t, frame.duration)
            t0 = timer.add("align", t0)
            tracked = tracker.update(dets, frame.t)
            t0 = timer.add("track", t0)
            for i in range(len(tracked)):
                key = (shot_id, int(tracked.tracker_id[i]))
                if key not in global_ids:
                    global_ids[key] = next(next_id)
                gid = global_ids[key]
                d = tracked.data
                box = tracked.xyxy[i]
                t = float(d["t"][i])
                records.append(
                    Detection(
                        int(d["frame_index"][i]),
                        t,
                        float(d["duration"][i]),
                        shot_id,
                        *(float(x) for x in box),
                        float(tracked.confidence[i]),
                        [float(x) for x in d[LANDMARKS][i].reshape(-1)],
                        gid,
                        float(d["quality"][i]),
                    )
                )
                records[-1].mouth_motion = mouth_motion(last_crop.get(gid), d["crop"][i])
                last_crop[gid] = d["crop"][i]
                smp = _Sample(float(d["quality"][i]), bool(d["passed"][i]), t, d["crop"][i])
                chip = (smp.quality, next(tie), smp.crop)  # best faces of the track, for thumbnails
                if len(chips[gid]) < s.storage.chips_per_track:
                    heapq.heappush(chips[gid], chip)
                elif chip[0] > chips[gid][0][0]:
                    heapq.heapreplace(chips[gid], chip)
                heap = heaps[(gid, int(t // window_s))]
                item = (smp.key(), next(tie), smp)
                if len(heap) < k:
                    heapq.heappush(heap, item)
                elif item[0] > heap[0][0]:
                    heapq.heapreplace(heap, item)
            flush(frame.t // window_s)
            t0 = time.perf_counter()
            if progress:
                progress(frame.t + frame.duration, ctx.video.duration_s)
        flush(float("inf"))
        return records, window_vectors, cut_times, n_frames

    def _annotate(self, dets: sv.Detections, image: np.ndarray, index: int, t: float, duration: float) -> None:
        """Attach what later stages need to each detection: aligned crop, quality, timing."""
        n = len(dets)
        q = self.settings.recognition.quality
        if LANDMARKS not in dets.data:
            if n:
                raise ScreenalyticsError(
                    f"detector {self.settings.detection.detector!r} returned faces without data['landmarks'] (N,5,2)"
                )
            dets.data[LANDMARKS] = np.zeros((0, 5, 2), np.float32)
        if dets.confidence is None:  # a detector without scores: treat every face as certain
            dets.confidence = np.ones(n, np.float32)
        scores = dets.confidence
        crops = [self.recognizer.align(image, lm) for lm in dets.data[LANDMARKS]]
        assessed = [assess(float(scores[i]), dets.xyxy[i], dets.data[LANDMARKS][i], crops[i], q) for i in range(n)]
        dets.data["crop"] = np.stack(crops) if n else np.zeros((0, 112, 112, 3), np.uint8)
        dets.data["passed"] = np.array([a[0] for a in assessed], dtype=bool)
        dets.data["quality"] = np.array([a[1] for a in assessed], dtype=np.float32)
        dets.data["frame_index"] = np.full(n, index, dtype=np.int64)
        dets.data["t"] = np.full(n, t, dtype=np.float64)
        dets.data["duration"] = np.full(n, duration, dtype=np.float64)

    # ------------------------------------------------------------------------------------
    def _identify(
        self,
        ctx: RunContext,
        records: list[Detection],
        window_vectors: dict[tuple[int, int], tuple[np.ndarray, np.ndarray, bool]],
    ) -> tuple[list[Track], list[Assignment], list[FaceEmbedding], list[VisualSample]]:
        s = self.settings
        idc = s.identification
        window_s = s.recognition.window_s
        by_track: dict[int, list[Detection]] = defaultdict(list)
        for r in records:
            by_track[r.track_id].append(r)
        short = {tid for tid, rs in by_track.items() if len(rs) < s.tracking.min_track_samples}
        for tid in short:
            del by_track[tid]
        records[:] = [r for r in records if r.track_id not in short]

        gallery = ctx.facebank.gallery
        embeddings: list[FaceEmbedding] = []
        track_segments: dict[int, list[Segment]] = {}
        for tid, rs in sorted(by_track.items()):
            rs.sort(key=lambda r: r.t)
            any_good = any(window_vectors.get((tid, int(r.t // window_s)), (None, None, False))[2] for r in rs)
            windows = []
            for w_index, group in itertools.groupby(rs, key=lambda r: int(r.t // window_s)):
                members = list(group)
                vecs = window_vectors.get((tid, w_index))
                emb = None
                if vecs is not None and (vecs[2] or not any_good):
                    emb = pooled(vecs[0], vecs[1])
                    embeddings.append(
                        FaceEmbedding(
                            "track",
                            str(tid),
                            f"window:{w_index}",
                            self.recognizer.model_name,
                            emb.tolist(),
                            float(vecs[1].mean()),
                            members[0].t,
                        )
                    )
                windows.append(
                    Window(
                        w_index,
                        members[0].t,
                        members[-1].t + members[-1].duration,
                        emb,
                        bool(vecs and vecs[2]),
                        sum(m.duration for m in members),
                    )
                )
            track_segments[tid] = decide_track(windows, gallery, idc)

        unknown_names, unknown_conf = self._name_unknowns(track_segments)
        tracks: list[Track] = []
        assignments: list[Assignment] = []
        samples: list[VisualSample] = []
        for tid, segs in track_segments.items():
            rs = by_track[tid]
            seg_of_window = {w.index: seg for seg in segs for w in seg.windows}
            time_by_person: dict[str, float] = defaultdict(float)
            conf_of: dict[str, float] = {}
            for seg in segs:
                if seg.person_index is not None:
                    person, method, thr, conf = (
                        gallery.person_ids[seg.person_index],
                        "facebank",
                        idc.threshold,
                        confidence(seg.score, idc),
                    )
                elif id(seg) in unknown_names:
                    person, method, thr, conf = (
                        unknown_names[id(seg)],
                        "cluster",
                        idc.unknown_cluster_distance,
                        unknown_conf[id(seg)],
                    )
                else:
                    continue
                conf_of[person] = conf
                assignments.append(Assignment(tid, seg.start_t, seg.end_t, person, seg.score, seg.margin, method, thr))
                seg.person_id, seg.confidence = person, conf
            for r in rs:
                seg = seg_of_window[int(r.t // window_s)]
                if seg.person_id is None:
                    continue
                samples.append(VisualSample(seg.person_id, tid, r.t, r.duration, seg.confidence, r.mouth_motion))
                time_by_person[seg.person_id] += r.duration
            main = max(time_by_person, key=time_by_person.get) if time_by_person else None  # type: ignore[arg-type]
            tracks.append(
                Track(
                    tid,
                    rs[0].shot_id,
                    rs[0].t,
                    rs[-1].t + rs[-1].duration,
                    len(rs),
                    float(np.mean([r.score for r in rs])),
                    main,
                    conf_of.get(main, 0.0) if main else 0.0,
                )
            )
        return tracks, assignments, embeddings, samples

    def _name_unknowns(self, track_segments: dict[int, list[Segment]]) -> tuple[dict[int, str], dict[int, float]]:
        """Name stretches no facebank person claimed: ``unknown_N``, N by screen time.

        Stretches with good faces are clustered (average linkage, cosine distance); those built
        only from faces that failed the quality gate stay apart, since blurred and tiny faces
        look alike to a recognizer whoever they are.
        """
        idc = self.settings.identification
        stretches = [
            seg
            for segs in track_segments.values()
            for seg in segs
            if seg.person_index is None and any(w.embedding is not None for w in seg.windows)
        ]
        if not stretches:
            return {}, {}
        embs = np.stack(
            [normalise(np.mean([w.embedding for w in seg.windows if w.embedding is not None], axis=0)) for seg in stretches]
        )
        good = np.array([any(w.good for w in seg.windows) for seg in stretches])
        labels = np.empty(len(stretches), dtype=int)
        labels[good] = cluster_unknowns(embs[good], idc.unknown_cluster_distance)
        labels[~good] = np.arange((~good).sum()) + (labels[good].max() + 1 if good.any() else 0)
        durations: dict[int, float] = defaultdict(float)
        for seg, lab in zip(stretches, labels):
            durations[int(lab)] += sum(w.covered_s for w in seg.windows)
        ranked = sorted(durations, key=lambda lab: (-durations[lab], lab))
        names = {lab: f"{idc.unknown_prefix}{i + 1}" for i, lab in enumerate(ranked)}
        out_names: dict[int, str] = {}
        out_conf: dict[int, float] = {}
        for i, (seg, lab) in enumerate(zip(stretches, labels)):
            members = embs[labels == lab]
            centre = normalise(members.mean(axis=0))
            seg.score, seg.margin = float(embs[i] @ centre), 0.0
            out_names[id(seg)] = names[int(lab)]
            if good[i]:
                spread = 1.0 - float((members @ centre).mean())
                out_conf[id(seg)] = float(np.clip(1.0 - spread / idc.unknown_cluster_distance, 0.0, 1.0))
            else:
                out_conf[id(seg)] = 0.0  # faces too poor to vouch for who this is
        return out_names, out_conf


def store_tables(result: RunResult) -> dict[str, Any]:
    """The run's rows as pyarrow tables, keyed by LanceDB table name."""
    key = {"episode_id": result.episode_id, "run_id": result.run_id}
    return {
        "detections": Detection.to_table(result.detections, **key),
        "tracks": Track.to_table(result.tracks, **key),
        "embeddings": FaceEmbedding.to_table(result.embeddings, **key),
        "assignments": Assignment.to_table(result.assignments, **key),
        "screen_time": ScreenTime.to_table(result.screen_time, **key),
        "speech_segments": SpeechSegment.to_table(result.speech, **key),
        "transcripts": TranscriptWord.to_table(result.words, **key),
        "av_links": AVLink.to_table(result.av_links, **key),
    }


def run_episode(
    pipeline: Pipeline,
    video: Path | str,
    facebank: Path | str | Facebank,
    out_dir: Path | str,
    episode_id: str | None = None,
    progress: Progress | None = None,
    store: "ResultStore | None" = None,
    voicebank: Path | str | Voicebank | None = None,
    num_speakers: int | None = None,
    show: str | None = None,
) -> tuple[RunResult, list[Path]]:
    """Analyse, store (replacing the episode's earlier rows), then write manifests and exports."""
    from screenalytics.outputs import write_manifests
    from screenalytics.stores import open_results
    from screenalytics.stores.catalog import Catalog

    result = pipeline.analyse(
        video, facebank, episode_id=episode_id, progress=progress, voicebank=voicebank, num_speakers=num_speakers
    )
    store = store or open_results(pipeline.settings)
    store.save_run(result.episode_id, result.run_id, store_tables(result))
    store.index_vectors(result.episode_id, result.run_id, pipeline.settings.storage.vector_index_min_rows)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = write_manifests(result, out)
    call_event("run_finished", result=result, context=result.context)
    for cls in pipeline.exporter_classes:
        files += cls().export(result, out)
    catalog = Catalog(store)
    show_id, code = catalog.show_of(result.episode_id)
    if show:
        show_id, code = show, result.episode_id
    keys = publish(pipeline.settings, result, files, show_id, code)
    record_in_catalog(catalog, result, show_id, code, keys)
    return result, files


def record_in_catalog(catalog: "Catalog", result: RunResult, show_id: str, code: str, keys: list[str]) -> None:
    """Shots, the media (source path, archived copies), and automatic thumbnails."""
    from screenalytics.stores.artifacts import audio_key, chip_key, video_key
    from screenalytics.stores.lance import quote

    catalog.table("shots").delete(f"episode_id = {quote(result.episode_id)}")
    cuts = [0.0, *result.cut_times, result.video.duration_s]
    for i in range(len(cuts) - 1):
        catalog.upsert("shots", episode_id=result.episode_id, shot_id=i, start_t=cuts[i], end_t=cuts[i + 1])
    catalog.upsert(
        "media_assets",
        episode_id=result.episode_id,
        kind="source_video",
        key=str(result.video.path),
        bytes=result.video.path.stat().st_size,
    )
    for kind, key in (("video", video_key(show_id, code)), ("audio", audio_key(show_id, code))):
        if key in keys:
            catalog.upsert("media_assets", episode_id=result.episode_id, kind=kind, key=key, bytes=-1)
    best: dict[str, tuple[float, int]] = {}
    for track in result.tracks:
        person = track.person_id
        if not person or person.startswith(("unknown_", "speaker_")) or not result.chips.get(track.track_id):
            continue
        quality = result.chips[track.track_id][0][0]
        if quality > best.get(person, (-1.0, 0))[0]:
            best[person] = (quality, track.track_id)
    for person, (quality, track_id) in best.items():
        catalog.feature(person, chip_key(show_id, code, track_id, 0), quality, result.episode_id)


def publish(settings: Settings, result: RunResult, files: list[Path], show: str, code: str) -> list[str]:
    """Copy the run's manifests, reports and face chips into the artifact store's layout."""
    from screenalytics.audio import write_wav
    from screenalytics.stores.artifacts import (
        audio_key,
        chip_key,
        frame_key,
        manifest_key,
        open_artifacts,
        report_key,
        video_key,
    )

    store = open_artifacts(settings)
    keys = []
    for f in files:
        key_of = report_key if f.name.startswith("screen_time") else manifest_key
        keys.append(store.put(key_of(show, code, f.name), f))
    if result.context is not None:
        for shot_id, (t, jpg) in result.context.shot_frames.items():
            keys.append(store.put(frame_key(show, code, shot_id, t), jpg))
    if settings.storage.archive_media:
        keys.append(store.put(video_key(show, code), result.video.path))
        audio = load_audio(result.video.path, settings.audio.sample_rate)
        if audio is not None:
            wav = result.video.path.with_suffix(".screenalytics.wav")
            write_wav(wav, audio)
            try:
                keys.append(store.put(audio_key(show, code), wav))
            finally:
                wav.unlink(missing_ok=True)
    for track_id, best in result.chips.items():
        for n, (_, crop) in enumerate(best):
            ok, jpg = cv2.imencode(".jpg", crop)
            if ok:
                keys.append(store.put(chip_key(show, code, track_id, n), jpg.tobytes()))
    return keys
