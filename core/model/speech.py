"""What the audio plugins hand on: speech regions, speaker turns, diarizations and words."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

Ranges = list[tuple[float, float]]  # (start, end) seconds


@dataclass
class Turn:
    """A stretch of speech by one speaker; turns of different speakers may overlap."""

    start: float
    end: float
    speaker: str


@dataclass
class Diarization:
    """Who spoke when; a diarizer that clusters voices also gives each speaker's unit centroid."""

    turns: list[Turn]
    speaker_embeddings: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def speakers(self) -> list[str]:
        return sorted({t.speaker for t in self.turns})


@dataclass
class Segmentation:
    """Binary local-speaker activity per sliding window: ``activity[w, frame, speaker]``."""

    window_starts: np.ndarray  # (W,) seconds
    activity: np.ndarray  # (W, F, K) in {0, 1}
    frame_step_s: float
    frame_center_s: float  # centre of frame 0 from its window start


@dataclass
class Word:
    """A recognised word with absolute times, as a transcriber returns it."""

    start: float
    end: float
    text: str
    probability: float
