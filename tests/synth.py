"""Compose test episodes from still photos with PyAV, with exact ground truth."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

W, H = 640, 360


@dataclass
class ShotSpec:
    photo: Path | None  # None: an empty frame (no face)
    seconds: float
    people: list[str] = field(default_factory=list)  # who is visible for the whole shot
    background: tuple[int, int, int] = (40, 40, 40)
    zoom: float = 1.12  # slow push-in, so boxes move from frame to frame


def _frame(photo: np.ndarray | None, progress: float, spec: ShotSpec) -> np.ndarray:
    canvas = np.zeros((H, W, 3), np.uint8)
    canvas[:] = spec.background
    if photo is None:
        return canvas
    h, w = photo.shape[:2]
    scale = min(W / w, H / h) * 0.9 * (1.0 + (spec.zoom - 1.0) * progress)
    img = cv2.resize(photo, (max(1, int(w * scale)), max(1, int(h * scale))), interpolation=cv2.INTER_AREA)
    ih, iw = img.shape[:2]
    x0, y0 = (W - iw) // 2, (H - ih) // 2
    # paste with clipping (the zoom may make the photo larger than the frame)
    sx, sy = max(0, -x0), max(0, -y0)
    dx, dy = max(0, x0), max(0, y0)
    cw, ch = min(iw - sx, W - dx), min(ih - sy, H - dy)
    canvas[dy : dy + ch, dx : dx + cw] = img[sy : sy + ch, sx : sx + cw]
    return canvas


def compose(
    path: Path, shots: list[ShotSpec], fps: int = 25, audio: np.ndarray | None = None, sample_rate: int = 16000
) -> dict[str, float]:
    """Write an H.264 mp4 of the shots; returns ground-truth visible seconds per person."""
    truth: dict[str, float] = {}
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = W, H, "yuv420p"
        vs.options = {"crf": "20", "preset": "veryfast"}
        if audio is not None:
            aus = out.add_stream("aac", rate=sample_rate)
            aus.layout = "mono"
        for spec in shots:
            photo = cv2.imread(str(spec.photo)) if spec.photo else None
            n = round(spec.seconds * fps)
            for i in range(n):
                frame = av.VideoFrame.from_ndarray(_frame(photo, i / max(n - 1, 1), spec), format="bgr24")
                for pkt in vs.encode(frame):
                    out.mux(pkt)
            for person in spec.people:
                truth[person] = truth.get(person, 0.0) + n / fps
        for pkt in vs.encode():
            out.mux(pkt)
        if audio is not None:
            _encode_mono(out, aus, audio, sample_rate)
    return truth


def _encode_mono(
    out: av.container.OutputContainer, stream: av.audio.stream.AudioStream, samples: np.ndarray, sample_rate: int
) -> None:
    """Encode a whole mono float signal as one frame (PyAV re-chunks it for the codec)."""
    frame = av.AudioFrame.from_ndarray((np.clip(samples, -1, 1) * 32767).astype(np.int16)[None, :], format="s16", layout="mono")
    frame.sample_rate = sample_rate
    frame.time_base = Fraction(1, sample_rate)
    frame.pts = 0
    for pkt in stream.encode(frame):
        out.mux(pkt)
    for pkt in stream.encode():
        out.mux(pkt)


def write_audio_only(path: Path, seconds: float = 1.0, sample_rate: int = 16000) -> None:
    """An .m4a with one AAC stream and no video (a 'no video stream' input)."""
    with av.open(str(path), "w", format="mp4") as out:
        aus = out.add_stream("aac", rate=sample_rate)
        aus.layout = "mono"
        t = np.arange(int(seconds * sample_rate)) / sample_rate
        _encode_mono(out, aus, 0.2 * np.sin(2 * np.pi * 440 * t), sample_rate)


def write_wav(path: Path, samples: np.ndarray, sample_rate: int = 16000) -> None:
    """16-bit PCM mono WAV (for voice bank clips cut from the shared recordings)."""
    from screenalytics.stages.decode import Audio
    from screenalytics.stages.decode import write_wav as write

    write(path, Audio(np.asarray(samples, np.float32), sample_rate))


def read_rttm(path: Path, file_id: str | None = None) -> list[tuple[float, float, str]]:
    """(start, end, speaker) turns of an RTTM file, for one file id or all."""
    turns = []
    for line in Path(path).read_text().splitlines():
        p = line.split()
        if p and p[0] == "SPEAKER" and (file_id is None or p[1] == file_id):
            turns.append((float(p[3]), float(p[3]) + float(p[4]), p[7]))
    return turns
