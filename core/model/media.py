"""What decoding hands on: a video's description, sampled frames, and the soundtrack."""

from __future__ import annotations

import mmap
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    width: int
    height: int
    fps: float
    duration_s: float
    frame_count: int  # as stored in the container; 0 when unknown
    has_audio: bool


@dataclass
class DecodedSpan:
    """How much of a video decoding got through; ``iter_frames`` fills it in as it ends."""

    frames: int = 0  # frames decoded (all of them, not only the sampled ones)
    end_s: float = 0.0  # end of the last decoded frame, seconds from the stream start
    declared_s: float = 0.0  # the duration the container declares
    warning: str | None = None  # why the span falls short, when decode.on_short let the run go on

    @property
    def coverage(self) -> float:
        """Share of the declared duration that decoded (1.0 when none is declared)."""
        return min(1.0, self.end_s / self.declared_s) if self.declared_s > 0 else 1.0


@dataclass
class Frame:
    index: int  # index among all decoded frames
    t: float  # seconds from the stream start, from the PTS
    duration: float  # seconds this sample stands for, until the next sample
    image: np.ndarray  # BGR, HxWx3 uint8


@dataclass
class Audio:
    samples: np.ndarray  # float32 mono in [-1, 1]; read-only when spilled to a file
    sample_rate: int
    mapping: mmap.mmap | None = field(default=None, repr=False, compare=False)  # the spilled file, if any

    def release(self) -> None:
        """Drop the pages of a spilled soundtrack that were read so far from this process (the OS
        keeps them in its file cache): the audio stages call it as they go, so an hour's soundtrack
        (230 MB at 16 kHz) never has to sit in the process's memory. A no-op in memory."""
        if self.mapping is not None and not self.mapping.closed:
            self.mapping.madvise(mmap.MADV_DONTNEED)

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate

    def slice(self, start_s: float, end_s: float) -> np.ndarray:
        a = max(0, int(round(start_s * self.sample_rate)))
        b = min(len(self.samples), int(round(end_s * self.sample_rate)))
        return self.samples[a:b]
