"""How loud the soundtrack is, 10 ms at a time, and what counts as quiet in it.

Two stages use it: the active speaker model skips stretches where nothing is heard, and speaker
turns are trimmed at their ends to where sound is. "Quiet" is relative to the soundtrack: below
``quiet_dbfs``, and also ``below_loud_db`` under its loud parts (the 95th percentile), so a
quietly recorded meeting (speech at -45 dBFS) is not taken for silence.
"""

from __future__ import annotations

import numpy as np

from screenalytics.model.media import Audio
from screenalytics.model.speech import Turn

FLOOR_DB = -120.0  # digital silence
LOUD_PERCENTILE = 95


class Loudness:
    """dBFS of consecutive stretches of ``hop`` samples of a stream fed in pieces of any size."""

    def __init__(self, hop: int) -> None:
        self.hop = hop
        self.carry = np.zeros(0, np.float32)
        self.out: list[np.ndarray] = []

    def feed(self, x: np.ndarray) -> None:
        x = np.concatenate([self.carry, x]) if len(self.carry) else x
        whole = len(x) // self.hop * self.hop
        blocks = x[:whole].reshape(-1, self.hop).astype(np.float64)
        self.out.append((10 * np.log10((blocks**2).mean(axis=1) + 10 ** (FLOOR_DB / 10))).astype(np.float32))
        self.carry = x[whole:].copy()

    def finish(self) -> np.ndarray:
        return np.concatenate(self.out) if self.out else np.zeros(0, np.float32)


def levels(audio: Audio, hop_s: float = 0.01, piece_s: float = 60.0) -> np.ndarray:
    """dBFS every ``hop_s`` of a soundtrack, read a minute at a time (a spilled one stays on disk)."""
    meter = Loudness(max(1, round(hop_s * audio.sample_rate)))
    step = max(1, round(piece_s * audio.sample_rate))
    for first in range(0, len(audio.samples), step):
        meter.feed(audio.samples[first : first + step])
        audio.release()
    return meter.finish()


def quiet_threshold(level_db: np.ndarray, quiet_dbfs: float, below_loud_db: float) -> float:
    """The level under which a 10 ms stretch counts as quiet in this soundtrack."""
    if not len(level_db):
        return quiet_dbfs
    return min(quiet_dbfs, float(np.percentile(level_db, LOUD_PERCENTILE)) - below_loud_db)


def trim_to_sound(turns: list[Turn], level_db: np.ndarray, threshold: float, hop_s: float = 0.01) -> list[Turn]:
    """Each turn's ends moved in to its first and last 10 ms above ``threshold``; a turn with none
    is dropped. Diarization draws turn edges from 17 ms frames smoothed over 10 s windows and
    bridges short pauses, so a turn runs on into the silence after a line (or starts before it)."""
    loud = level_db > threshold
    out = []
    for t in turns:
        a, b = max(0, int(round(t.start / hop_s))), min(len(loud), int(round(t.end / hop_s)))
        if b <= a:
            out.append(t)  # beyond the measured sound: left as it is
            continue
        heard = np.flatnonzero(loud[a:b])
        if len(heard):
            out.append(Turn(max(t.start, (a + heard[0]) * hop_s), min(t.end, (a + heard[-1] + 1) * hop_s), t.speaker))
    return out
