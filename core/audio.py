"""Soundtrack extraction with PyAV: any container or codec FFmpeg reads, as 16 kHz mono float."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from screenalytics.errors import InputError


@dataclass
class Audio:
    samples: np.ndarray  # float32 mono in [-1, 1]
    sample_rate: int

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate

    def slice(self, start_s: float, end_s: float) -> np.ndarray:
        a = max(0, int(round(start_s * self.sample_rate)))
        b = min(len(self.samples), int(round(end_s * self.sample_rate)))
        return self.samples[a:b]


def has_audio(path: Path | str) -> bool:
    try:
        with av.open(str(path)) as c:
            return bool(c.streams.audio)
    except av.error.FFmpegError as e:
        raise InputError(f"cannot read {path}: {e}") from None


def load_audio(path: Path | str, sample_rate: int = 16000) -> Audio | None:
    """Decode the first audio stream, resampled to mono ``sample_rate``; None when there is none."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"audio file not found: {path}")
    try:
        container = av.open(str(path))
    except av.error.FFmpegError as e:
        raise InputError(f"audio is corrupt or not a media file: {path} ({e})") from None
    with container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        stream.thread_type = "AUTO"
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        chunks: list[np.ndarray] = []
        try:
            for frame in container.decode(stream):
                chunks.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(frame))
            chunks.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(None))
        except av.error.FFmpegError as e:
            raise InputError(f"audio track is corrupt in {path}: {e}") from None
    samples = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    return Audio(samples, sample_rate)


def write_wav(path: Path, audio: Audio) -> None:
    """16-bit PCM mono WAV of a soundtrack (for the artifact store's audio/ layout)."""
    from fractions import Fraction

    with av.open(str(path), "w", format="wav") as out:
        stream = out.add_stream("pcm_s16le", rate=audio.sample_rate)
        stream.layout = "mono"
        pcm = (np.clip(audio.samples, -1, 1) * 32767).astype(np.int16)[None, :]
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = audio.sample_rate
        frame.time_base = Fraction(1, audio.sample_rate)
        frame.pts = 0
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
