"""Faces through time: one pass over the video that finds shots, detects, aligns and tracks faces
within each shot, and embeds the best faces of each track window."""

from __future__ import annotations

import heapq
import itertools
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import NamedTuple

import cv2
import numpy as np

from screenalytics.config import Settings
from screenalytics.model.contracts import ActiveSpeaker, Detector, Recognizer, Tracker
from screenalytics.model.detections import DetectionRow, DetectionTable
from screenalytics.model.media import DecodedSpan, VideoInfo
from screenalytics.model.names import Stage
from screenalytics.model.run import Chips
from screenalytics.stages.clock import Timer
from screenalytics.stages.decode import iter_frames, sample_period
from screenalytics.stages.faces import LANDMARKS, annotate, cover_side, hidden_side, mouth_motion, shrink
from screenalytics.stages.prefetch import prefetch
from screenalytics.stages.shots import CutDetector
from screenalytics.stages.sparse_detect import SparseDetector
from screenalytics.stages.speaking import SpeakingFaces

log = logging.getLogger(__name__)
WindowKey = tuple[int, int]  # (track id, window index)


class WindowFaces(NamedTuple):
    """The embedded faces of one track window."""

    vectors: np.ndarray  # (k, D) embeddings of its best faces (those that passed the gate, if any did)
    weights: np.ndarray  # (k,) their quality weights
    good: bool  # any face passed the quality gate
    side: int = 0  # the half most of its faces had hidden (faces.hidden_side), 0 none
    half: np.ndarray | None = None  # (k, D) the same faces with that half painted out (side != 0)


WindowVectors = dict[WindowKey, WindowFaces]


@dataclass
class FaceTracks:
    """What the pass over the video hands on."""

    detections: DetectionTable  # every tracked face, with its track id
    window_vectors: WindowVectors
    cut_times: list[float]
    frames_analysed: int
    chips: Chips  # track -> best aligned crops (JPEG), best first
    shot_frames: dict[int, tuple[float, bytes]] = field(default_factory=dict)  # shot -> (t, JPEG)
    span: DecodedSpan | None = None  # how much of the video decoded


@dataclass
class _Sample:
    quality: float
    passed: bool
    t: float
    crop: np.ndarray = field(compare=False)

    def key(self) -> tuple[bool, float]:
        return (self.passed, self.quality)


class _BestFaces:
    """The k best faces per key, in a bounded heap (ties broken by arrival)."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.heaps: dict[object, list[tuple[object, int, _Sample]]] = defaultdict(list)
        self._tie = itertools.count()

    def offer(self, key: object, rank: object, smp: _Sample) -> None:
        if self.k == 0:
            return
        heap, item = self.heaps[key], (rank, next(self._tie), smp)
        if len(heap) < self.k:
            heapq.heappush(heap, item)
        elif item[0] > heap[0][0]:  # type: ignore[operator]
            heapq.heapreplace(heap, item)


class _Chips(_BestFaces):
    """The best faces of each track, kept as raw crops while the track can still gain faces and
    as JPEG once its shot ends (tracks never cross a cut): an hour's chips stay a few MB, not ~100."""

    def __init__(self, k: int) -> None:
        super().__init__(k)
        self.done: Chips = {}

    def close_shot(self) -> None:
        for gid, heap in self.heaps.items():
            best = sorted((smp for _, _, smp in heap), key=lambda smp: -smp.quality)
            encoded = [(smp.quality, cv2.imencode(".jpg", smp.crop)[1].tobytes()) for smp in best]
            self.done[gid] = encoded  # type: ignore[index]
        self.heaps.clear()


def follow_faces(
    video: VideoInfo,
    detector: Detector,
    recognizer: Recognizer,
    new_tracker: Callable[[float], Tracker],
    s: Settings,
    timer: Timer,
    active_speaker: ActiveSpeaker | None = None,
) -> FaceTracks:
    """Stream the video once: shots, detect, align, track within shots, embed the best faces per
    window, and (given an active speaker model) score whether each face is speaking."""
    period = sample_period(video, s.decode.stride, s.decode.fps)
    window_s = s.recognition.window_s
    cuts = CutDetector(s.shots)
    tracker = new_tracker(1.0 / period)
    shot_id, n_frames = 0, 0
    cut_times: list[float] = []
    shot_frames: dict[int, tuple[float, bytes]] = {}
    global_ids: dict[tuple[int, int], int] = {}
    next_id = itertools.count(1)
    records = DetectionTable()
    windows = _BestFaces(s.recognition.samples_per_window)
    chips = _Chips(s.storage.chips_per_track)
    window_vectors: WindowVectors = {}
    last_crop: dict[int, np.ndarray] = {}
    sparse = SparseDetector(detector, s.detection)
    latest: list[DetectionRow] = []  # the faces of the last searched frame (coasting frames extend them)

    # The recognizer runs in a worker thread (onnxruntime releases the GIL) while this one decodes
    # and detects the next frames: on two cores the embedding then costs almost no wall time.
    embedder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embed")
    pending: list[Future[None]] = []
    rc = s.recognition

    def embed_windows(owners: list[tuple[WindowKey, _Sample]]) -> None:
        t0 = time.perf_counter()
        grouped: dict[WindowKey, list[_Sample]] = defaultdict(list)
        for key, smp in owners:
            grouped[key].append(smp)
        chosen: list[tuple[WindowKey, list[_Sample], int]] = []
        for key, items in grouped.items():
            use = [sm for sm in items if sm.passed] or items
            sides = [hidden_side(sm.crop, rc.hidden_flat_share, rc.hidden_other_ratio) for sm in use]
            side = max((1, 2), key=sides.count)
            chosen.append((key, use, side if sides.count(side) * 2 > len(sides) else 0))
        crops = [sm.crop for _, use, _ in chosen for sm in use]
        crops += [cover_side(sm.crop, side) for _, use, side in chosen if side for sm in use]
        vectors = recognizer.embed(np.stack(crops))
        at, half_at = 0, sum(len(use) for _, use, _ in chosen)
        for key, use, side in chosen:
            half = None
            if side:
                half, half_at = vectors[half_at : half_at + len(use)], half_at + len(use)
            weights = np.array([max(sm.quality, 1e-3) for sm in use])
            window_vectors[key] = WindowFaces(vectors[at : at + len(use)], weights, any(sm.passed for sm in use), side, half)
            at += len(use)
        timer.add(Stage.EMBED, t0)

    def flush(before_window: float) -> None:
        """Hand the windows that can no longer gain faces to the embedding thread, in one call."""
        keys = [key for key in windows.heaps if key[1] < before_window]  # type: ignore[index]
        if keys:
            owners = [(key, smp) for key in keys for _, _, smp in windows.heaps.pop(key)]
            pending.append(embedder.submit(embed_windows, owners))  # type: ignore[arg-type]
        while pending and pending[0].done():
            pending.pop(0).result()  # an embedding error surfaces here, not at the end

    if active_speaker and period > 1.5 / active_speaker.fps:  # the model reads lips at its own frame rate
        log.warning("active speaker model off: frames are sampled every %.2f s (it needs ~%d fps)", period, active_speaker.fps)
        active_speaker = None
    speaking = SpeakingFaces(active_speaker, s.active_speaker, embedder.submit, timer) if active_speaker else None
    if speaking:
        pending.append(speaking.start(video.path, s.audio.sample_rate))

    def queue(job: Future[None] | None) -> None:
        if job is not None:
            pending.append(job)

    try:
        t0 = time.perf_counter()
        span, dc = DecodedSpan(), s.decode
        for frame in prefetch(iter_frames(video, dc.stride, dc.fps, dc.threads, dc.on_short, dc.min_coverage, span), dc.prefetch):
            t0 = timer.add(Stage.DECODE, t0)
            n_frames += 1
            if cuts.is_cut(frame.image, frame.t):
                shot_id += 1
                cut_times.append(frame.t)
                tracker = new_tracker(1.0 / period)
                last_crop.clear()  # tracks end at a cut: their last crops are no longer needed
                chips.close_shot()
                if speaking:
                    queue(speaking.close())
            if shot_id not in shot_frames:  # each shot's first frame, for browsing and review
                small, _ = shrink(frame.image, s.storage.frame_max_side)
                ok, jpg = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 85])
                if ok:
                    shot_frames[shot_id] = (frame.t, jpg.tobytes())
            t0 = timer.add(Stage.SHOTS, t0)
            new_shot = n_frames == 1 or bool(cut_times and cut_times[-1] == frame.t)
            if sparse.coast(new_shot):  # the faces of the frame before stand for this one too
                for r in latest:
                    r.duration += frame.duration
                flush(frame.t // window_s)
                timer.report(Stage.DETECT, frame.t + frame.duration, video.duration_s)
                t0 = time.perf_counter()
                continue
            dets = sparse.detect(frame.image, new_shot=new_shot)
            t0 = timer.add(Stage.DETECT, t0)
            annotate(dets, frame, recognizer, s.recognition.quality, s.detection.detector)
            t0 = timer.add(Stage.ALIGN, t0)
            tracked = tracker.update(dets, frame.t)
            t0 = timer.add(Stage.TRACK, t0)
            d = tracked.data
            latest = []
            for i in range(len(tracked)):
                key = (shot_id, int(tracked.tracker_id[i]))
                if key not in global_ids:
                    global_ids[key] = next(next_id)
                gid = global_ids[key]
                # a copy: a view would keep every face of this frame alive as long as one chip of it is
                t, crop = float(d["t"][i]), d["crop"][i].copy()
                row = records.row(
                    records.append(
                        int(d["frame_index"][i]),
                        t,
                        float(d["duration"][i]),
                        shot_id,
                        tracked.xyxy[i],
                        float(tracked.confidence[i]),
                        d[LANDMARKS][i],
                        gid,
                        float(d["quality"][i]),
                        mouth_motion(last_crop.get(gid), crop),
                    )
                )
                latest.append(row)
                last_crop[gid] = crop
                if speaking:
                    queue(speaking.add(gid, row, frame.image, tracked.xyxy[i]))
                smp = _Sample(float(d["quality"][i]), bool(d["passed"][i]), t, crop)
                chips.offer(gid, smp.quality, smp)  # best faces of the track, for thumbnails
                windows.offer((gid, int(t // window_s)), smp.key(), smp)
            flush(frame.t // window_s)
            timer.report(Stage.DETECT, frame.t + frame.duration, video.duration_s)
            t0 = time.perf_counter()
        if speaking:
            queue(speaking.close())
        flush(float("inf"))
        for job in pending:
            job.result()
    finally:
        embedder.shutdown(wait=True, cancel_futures=True)
    chips.close_shot()
    return FaceTracks(records, window_vectors, cut_times, n_frames, chips.done, shot_frames, span)
