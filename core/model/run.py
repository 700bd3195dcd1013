"""A run as plugins see it while it happens (RunContext) and once it is done (RunResult)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from screenalytics.model.banks import Facebank
from screenalytics.model.media import DecodedSpan, VideoInfo
from screenalytics.model.records import (
    Assignment,
    AVLink,
    Detection,
    FaceEmbedding,
    ScreenTime,
    SpeechSegment,
    Track,
    TranscriptWord,
)

if TYPE_CHECKING:  # pragma: no cover
    from screenalytics.config import Settings

Chips = dict[int, list[tuple[float, bytes]]]  # track -> best (quality, aligned crop as JPEG), best first


@dataclass(frozen=True)
class RunContext:
    """What plugins see of a run in progress."""

    settings: Settings
    video: VideoInfo
    episode_id: str
    run_id: str
    facebank: Facebank


@dataclass
class RunResult:
    """Everything a run computed, built once at its end; stored, written and exported as is."""

    episode_id: str
    run_id: str
    video: VideoInfo
    detections: Sequence[Detection]  # a DetectionTable after a run; a list when read back from the store
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
    chips: Chips = field(default_factory=dict)
    shot_frames: dict[int, tuple[float, bytes]] = field(default_factory=dict)  # shot -> (t, JPEG of its first frame)
    soundtrack: Path | None = None  # 16 kHz WAV kept for archiving (storage.archive_media), else None
    reused: list[str] = field(default_factory=list)  # stages taken from checkpoints (run --resume)
    span: DecodedSpan | None = None  # how much of the video decoded (short only with decode.on_short: warn)
