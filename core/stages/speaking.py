"""Which faces are speaking: each face track's crops and the soundtrack through an active speaker model.

Crops are cut while the video is decoded (frames are never kept) and held per track only until
the track can grow no more (a cut, a gap, the end) or reaches ``piece_s``; the track's frames
are then put on the model's frame rate, matched with the sound's features over the same time and
scored in the worker thread, and each detection gets the mean probability of its frames.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from screenalytics.config import ActiveSpeakerConfig
from screenalytics.errors import InputError
from screenalytics.model.detections import DetectionRow
from screenalytics.model.names import Stage
from screenalytics.model.records import Detection
from screenalytics.stages.clock import Timer
from screenalytics.stages.decode import SoundtrackReader
from screenalytics.stages.loudness import Loudness, quiet_threshold

log = logging.getLogger(__name__)
FEED_S = 10.0  # seconds of sound fed to the feature stream at once


@dataclass
class SoundFeatures:
    """The model's audio features for the whole soundtrack, and where video time 0 falls in it."""

    rows: np.ndarray  # (n, dims)
    rows_per_second: int
    offset_s: float  # audio time of video time 0 (streams can start at different times)
    level_db: np.ndarray | None = None  # loudness (dBFS) of each row's stretch of sound

    def _index(self, start_s: float, n_rows: int, length: int) -> np.ndarray:
        first = int(round((start_s + self.offset_s) * self.rows_per_second))
        return np.clip(np.arange(first, first + n_rows), 0, max(0, length - 1))

    def window(self, start_s: float, n_rows: int) -> np.ndarray:
        """``n_rows`` rows from video time ``start_s``; outside the soundtrack, its edge rows."""
        return self.rows[self._index(start_s, n_rows, len(self.rows))]

    def loud(self, start_s: float, n_rows: int, threshold: float | None) -> np.ndarray:
        """Whether each of those rows is louder than ``threshold`` dBFS (all True when not measured)."""
        if threshold is None or self.level_db is None or not len(self.level_db):
            return np.ones(n_rows, bool)
        return self.level_db[self._index(start_s, n_rows, len(self.level_db))] > threshold

    def quiet_below(self, quiet_dbfs: float | None, below_loud_db: float) -> float | None:
        """The level under which this soundtrack is quiet (None: everything counts as sound)."""
        if quiet_dbfs is None or self.level_db is None:
            return None
        return quiet_threshold(self.level_db, quiet_dbfs, below_loud_db)


def sound_features(path: Path, asd: Any, sample_rate: int = 16000) -> SoundFeatures | None:
    """Stream the first audio track through the model's feature extractor (about 20 MB an hour
    instead of a 230 MB soundtrack), measuring its loudness on the way; None when the file has no audio."""
    stream_features = asd.features()
    level = Loudness(sample_rate // asd.rows_per_second)
    with SoundtrackReader(path, sample_rate) as sound:
        if not sound.present:
            return None

        def feed(pieces: list[np.ndarray]) -> None:
            chunk = np.concatenate(pieces)
            stream_features.feed(chunk)
            level.feed(chunk)

        pieces: list[np.ndarray] = []
        held = 0
        for piece in sound.pieces():
            pieces.append(piece)
            held += piece.size
            if held >= FEED_S * sample_rate:
                feed(pieces)
                pieces, held = [], 0
        if pieces:
            feed(pieces)
        offset = sound.video_offset_s()
    return SoundFeatures(stream_features.finish(), asd.rows_per_second, offset, level.finish())


class SpeakingFaces:
    """Collects each track's face crops during the pass over the video and scores them in pieces."""

    def __init__(self, asd: Any, cfg: ActiveSpeakerConfig, submit: Callable[..., Future[Any]], timer: Timer) -> None:
        self.asd, self.cfg, self.submit, self.timer = asd, cfg, submit, timer
        self.features: SoundFeatures | None = None
        self.quiet: float | None = None  # dBFS under which the soundtrack is quiet (None: not measured)
        self.buffers: dict[int, list[tuple[Detection | DetectionRow, np.ndarray]]] = defaultdict(list)

    def start(self, path: Path, sample_rate: int) -> Future[Any]:
        """Compute the sound's features in the worker, before any scoring queued behind it."""

        def run() -> None:
            t0 = time.perf_counter()
            try:
                self.features = sound_features(path, self.asd, sample_rate)
                if self.features is not None:
                    self.quiet = self.features.quiet_below(self.cfg.quiet_dbfs, self.cfg.quiet_below_loud_db)
            except InputError as e:  # the audio stages report it; the faces just go unscored
                log.warning("active speaker: no sound features (%s); speaking faces fall back to mouth motion", e)
            self.timer.add(Stage.ACTIVE_SPEAKER, t0)

        return self.submit(run)

    def add(self, track: int, record: Detection | DetectionRow, image: np.ndarray, box: np.ndarray) -> Future[Any] | None:
        """Keep this face's crop; scores the track's piece when it is long enough or broken by a gap."""
        t0 = time.perf_counter()
        held = self.buffers[track]
        job = None
        if held and record.t - (held[-1][0].t + held[-1][0].duration) > self.cfg.max_gap_s:
            job = self.close(track)
        self.buffers[track].append((record, self.asd.crop(image, box)))
        if self.buffers[track][-1][0].t - self.buffers[track][0][0].t >= self.cfg.piece_s:
            job = self.close(track)
        self.timer.add(Stage.ACTIVE_SPEAKER, t0)
        return job

    def close(self, track: int | None = None) -> Future[Any] | None:
        """Score one track's held crops (None: every track's, as at a cut or the end)."""
        tracks = list(self.buffers) if track is None else [track]
        items = [self.buffers.pop(t) for t in tracks if self.buffers.get(t)]
        return self.submit(self._score_all, items) if items else None

    def _score_all(self, items: list[list[tuple[Detection | DetectionRow, np.ndarray]]]) -> None:
        t0 = time.perf_counter()
        if self.features is not None:
            for piece in items:
                self._score(piece)
        self.timer.add(Stage.ACTIVE_SPEAKER, t0)

    def _probabilities(self, crops: np.ndarray, features: np.ndarray, loud: np.ndarray, per_frame: int) -> np.ndarray:
        """The model over ``sample_s`` of every ``sample_every_s`` of the track (each stretch with
        ``sample_context_s`` of lead-in and run-out it scores and drops); frames between take the
        nearest scored frame's probability. Fusion weighs voices against faces over whole
        speakers, for which a sample of each track is enough, and the model is the costliest
        step of the pass over the video (about 6 ms per face and frame on one core). A stretch
        where the soundtrack stays quiet (``loudness``) is not scored: nobody speaks in it (0)."""
        n, fps, cfg = len(crops), self.asd.fps, self.cfg
        span, every = max(1, round(cfg.sample_s * fps)), max(1, round(cfg.sample_every_s * fps))
        if cfg.sample_s <= 0 or every <= span or n <= span:
            span, every = n, n  # every frame: one stretch
        ctx = round(cfg.sample_context_s * fps)
        out = np.full(n, np.nan, np.float32)
        first = min((every - span) // 2, n - span)  # the middle of the first period, where tracks are steady
        for a in range(first, n, every):
            b = min(n, a + span)
            lo, hi = max(0, a - ctx), min(n, b + ctx)
            if not loud[lo * per_frame : hi * per_frame].any():
                out[a:b] = 0.0
                continue
            out[a:b] = self.asd.score(crops[lo:hi], features[lo * per_frame : hi * per_frame])[a - lo : b - lo]
        scored = np.flatnonzero(~np.isnan(out))
        nearest = scored[np.abs(np.arange(n)[:, None] - scored[None, :]).argmin(axis=1)]  # ties: the earlier
        return out[nearest]

    def _score(self, piece: list[tuple[Detection | DetectionRow, np.ndarray]]) -> None:
        """Put the piece on the model's frame rate (nearest crop in time), score, and give each
        detection the mean over the model frames it stands for."""
        assert self.features is not None
        fps = self.asd.fps
        times = np.array([r.t for r, _ in piece])
        start = times[0]
        end = piece[-1][0].t + piece[-1][0].duration
        n = max(1, int(round((end - start) * fps)))
        grid = start + (np.arange(n) + 0.5) / fps
        nearest = np.clip(np.searchsorted(times, grid, side="right") - 1, 0, len(piece) - 1)
        crops = np.stack([piece[i][1] for i in nearest])
        per_frame = self.features.rows_per_second // fps
        rows = n * per_frame
        loud = self.features.loud(start, rows, self.quiet)
        probs = self._probabilities(crops, self.features.window(start, rows), loud, per_frame)
        sums = np.bincount(nearest, weights=probs, minlength=len(piece))
        counts = np.bincount(nearest, minlength=len(piece))
        for i, (record, _) in enumerate(piece):
            if counts[i]:
                record.speaking = float(sums[i] / counts[i])
            else:  # a detection shorter than a model frame: the model frame it falls in
                record.speaking = float(probs[min(n - 1, int((record.t - start) * fps))])
