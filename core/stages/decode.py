"""Decoding with PyAV: probe a video, stream sampled frames with exact PTS times, and read the
soundtrack (any codec FFmpeg reads) as 16 kHz mono float."""

from __future__ import annotations

import math
import mmap
import tempfile
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from screenalytics.errors import InputError, require_utf8
from screenalytics.model.media import Audio, DecodedSpan, Frame, VideoInfo


def _still_image(format_name: str) -> bool:
    """FFmpeg's demuxers for single pictures (jpeg_pipe, png_pipe, image2...), whatever the file is named."""
    return any(n.endswith("_pipe") or n.startswith("image2") for n in format_name.split(","))


def _open(path: Path) -> av.container.InputContainer:
    if not path.exists():
        raise InputError(f"video not found: {path}")
    if not path.is_file():
        raise InputError(f"video path is not a file: {path}")
    try:
        return av.open(str(path), mode="r")
    except PermissionError:
        raise InputError(f"video is not readable (permission denied): {path}") from None
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as e:
        raise InputError(f"video is corrupt or not a media file: {path} ({e})") from None


def probe(path: Path | str) -> VideoInfo:
    """Check the file is a readable video with more than one frame and describe it; raises
    InputError with the reason (a still image, even one named .mp4, is not a video)."""
    path = Path(path)
    require_utf8(path, "video")
    with _open(path) as c:
        if not c.streams.video:
            kinds = ", ".join(sorted({s.type for s in c.streams})) or "no streams"
            raise InputError(f"file has no video stream ({kinds}): {path}")
        v = c.streams.video[0]
        if _still_image(c.format.name) or v.disposition & av.stream.Disposition.attached_pic:
            raise InputError(f"not a video: {path} is a still image ({c.format.name}); give the episode's video file")
        if v.frames == 1:
            raise InputError(f"not a video: {path} holds a single frame; give the episode's video file")
        fps = float(v.average_rate or v.guessed_rate or 0) or 25.0
        if v.duration is not None and v.time_base is not None:
            duration = float(v.duration * v.time_base)
        elif c.duration is not None:
            duration = c.duration / av.time_base
        else:
            duration = 0.0
        if not v.width or not v.height:
            raise InputError(f"video stream has no frame size, file is likely corrupt: {path}")
        return VideoInfo(path, v.width, v.height, fps, duration, int(v.frames or 0), bool(c.streams.audio))


def sample_period(info: VideoInfo, stride: int, fps: float | None) -> float:
    """Nominal seconds between analysed frames."""
    return 1.0 / fps if fps else stride / info.fps


def iter_frames(
    video: VideoInfo | Path | str,
    stride: int = 1,
    fps: float | None = None,
    threads: int = 0,
    on_short: str = "fail",
    min_coverage: float = 0.98,
    span: DecodedSpan | None = None,
) -> Iterator[Frame]:
    """Decode with FFmpeg's threading and yield every ``stride``-th frame, or one per 1/``fps`` s.

    Each frame's ``duration`` is the time to the next sampled frame (the last one: to the end of
    the stream), so summing durations over samples never counts a second twice.

    A video that decodes to less than ``min_coverage`` of its declared duration (a truncated or
    damaged file) raises InputError once decoding ends, or with ``on_short="warn"`` ends the
    last sample where decoding ended and says so in ``span.warning``. ``span`` receives what
    was decoded.
    """
    info = video if isinstance(video, VideoInfo) else probe(video)
    path = info.path
    period = sample_period(info, stride, fps)
    span = span if span is not None else DecodedSpan()
    span.declared_s = info.duration_s
    pending: Frame | None = None
    decoded, last_t = 0, 0.0
    with _open(path) as c:
        stream = c.streams.video[0]
        stream.thread_type = "AUTO"
        if threads:
            stream.thread_count = threads
        tb = stream.time_base or Fraction(1, 1)
        start = stream.start_time or 0
        next_t = -math.inf
        try:
            for i, frame in enumerate(c.decode(stream)):
                decoded += 1
                t = float((frame.pts - start) * tb) if frame.pts is not None else i / info.fps
                last_t = max(last_t, t)
                take = (t >= next_t - 1e-6) if fps else (i % stride == 0)
                if not take:
                    continue
                if fps:
                    next_t = (math.floor(t * fps + 1e-6) + 1) / fps
                current = Frame(i, t, period, frame.to_ndarray(format="bgr24"))
                if pending is not None:
                    pending.duration = max(0.0, current.t - pending.t)
                    yield pending
                pending = current
        except av.error.FFmpegError as e:
            if on_short != "warn" or decoded < 2:
                raise InputError(f"video is corrupt: decoding failed after {decoded} frames of {path} ({e})") from None
            # warn: what decoded up to the damage is analysed, and the coverage check below says so
    if pending is None:
        raise InputError(f"video has no decodable frames: {path}")
    if decoded < 2:
        raise InputError(f"not a video: only one frame decodes from {path}")
    span.frames, span.end_s = decoded, last_t + 1.0 / info.fps
    last_end = max(info.duration_s, span.end_s)
    if span.coverage < min_coverage:
        short = (
            f"video decodes to {span.end_s:.2f} s of the {info.duration_s:.2f} s its container declares "
            f"({span.coverage:.0%}; truncated or damaged?): {path}"
        )
        if on_short != "warn":
            raise InputError(f"{short}; set decode.on_short: warn to analyse the part that decodes")
        span.warning = f"analysed only 0-{span.end_s:.2f} s: {short}"
        last_end = span.end_s
    pending.duration = max(0.0, min(period, last_end - pending.t))
    yield pending


MAX_DECLARED_S = 24 * 3600  # a container claiming more is not believed up front (the buffer grows)


class _Samples:
    """A float32 buffer filled chunk by chunk."""

    def __init__(self, capacity: int) -> None:
        self.data = np.empty(max(capacity, 1), np.float32)
        self.n = 0

    def add(self, chunk: np.ndarray) -> None:
        end = self.n + len(chunk)
        if end > len(self.data):
            grown = np.empty(max(end, len(self.data) + len(self.data) // 4), np.float32)
            grown[: self.n] = self.data[: self.n]
            self.data = grown
        self.data[self.n : end] = chunk
        self.n = end

    def done(self) -> np.ndarray:
        """The samples, without the unused tail (a copy only when much was left over)."""
        return self.data[: self.n] if self.n > len(self.data) * 0.9 else self.data[: self.n].copy()


class SoundtrackReader:
    """The first audio stream of a file, decoded and resampled to mono float32 ``sample_rate``
    piece by piece (a context manager); ``present`` is False when the file has no audio."""

    def __init__(self, path: Path | str, sample_rate: int = 16000) -> None:
        self.path, self.sample_rate = Path(path), sample_rate
        if not self.path.is_file():
            raise InputError(f"audio file not found: {self.path}")
        try:
            self.container = av.open(str(self.path))
        except av.error.FFmpegError as e:
            raise InputError(f"audio is corrupt or not a media file: {self.path} ({e})") from None
        self.stream = self.container.streams.audio[0] if self.container.streams.audio else None
        self.present = self.stream is not None

    def __enter__(self) -> SoundtrackReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.container.close()

    def declared_s(self) -> float:
        """The duration the container declares for the sound (0 when it does not)."""
        st = self.stream
        if st is not None and st.duration and st.time_base is not None:
            return float(st.duration * st.time_base)
        return (self.container.duration or 0) / av.time_base

    def video_offset_s(self) -> float:
        """Sound time at video time 0: the two streams can start at different times."""
        video = self.container.streams.video[0] if self.container.streams.video else None

        def start(st: av.stream.Stream | None) -> float | None:
            return float(st.start_time * st.time_base) if st is not None and st.start_time is not None and st.time_base else None

        a0, v0 = start(self.stream), start(video)
        return (v0 - a0) if a0 is not None and v0 is not None else 0.0

    def pieces(self) -> Iterator[np.ndarray]:
        """The samples, one decoded frame's worth at a time; a damaged stream is an InputError."""
        if self.stream is None:
            return
        self.stream.thread_type = "AUTO"
        resampler = av.AudioResampler(format="flt", layout="mono", rate=self.sample_rate)
        try:
            for frame in self.container.decode(self.stream):
                for f in resampler.resample(frame):
                    yield f.to_ndarray().reshape(-1)
            for f in resampler.resample(None):
                yield f.to_ndarray().reshape(-1)
        except av.error.FFmpegError as e:
            raise InputError(f"audio track is corrupt in {self.path}: {e}") from None


def load_audio(path: Path | str, sample_rate: int = 16000, spill_dir: Path | str | None = None) -> Audio | None:
    """Decode the first audio stream, resampled to mono ``sample_rate``; None when there is none.

    With ``spill_dir`` the samples go to a nameless temporary file there as they are decoded and
    are read back through a read-only memory map (``Audio.release`` hands read pages back), so the
    soundtrack's size does not grow the process with the episode's length."""
    with SoundtrackReader(path, sample_rate) as sound:
        if not sound.present:
            return None
        if spill_dir is not None:
            return _spilled(sound.pieces(), Path(spill_dir), sample_rate)
        # One buffer the size the container declares, filled in place (grown if it was wrong):
        # collecting an hour's ~50,000 chunks and concatenating them peaked at three copies of
        # the soundtrack (700 MB) and left the heap fragmented.
        buffer = _Samples(int(min(sound.declared_s(), MAX_DECLARED_S) * sample_rate) + sample_rate)
        for piece in sound.pieces():
            buffer.add(piece)
    return Audio(buffer.done(), sample_rate)


def _spilled(pieces: Iterator[np.ndarray], directory: Path, sample_rate: int) -> Audio:
    """The pieces written to an unlinked file in ``directory`` and mapped back (the mapping keeps
    the file alive; it is gone when the mapping is, crash or not)."""
    directory.mkdir(parents=True, exist_ok=True)
    n = 0
    with tempfile.TemporaryFile(dir=directory, prefix="soundtrack-") as f:
        for piece in pieces:
            f.write(np.ascontiguousarray(piece, dtype=np.float32).tobytes())
            n += len(piece)
        f.flush()
        if n == 0:
            return Audio(np.zeros(0, np.float32), sample_rate)
        mapping = mmap.mmap(f.fileno(), n * 4, access=mmap.ACCESS_READ)
    return Audio(np.frombuffer(mapping, dtype=np.float32), sample_rate, mapping)


def write_wav(path: Path, audio: Audio) -> None:
    """16-bit PCM mono WAV of a soundtrack (for the artifact store's audio/ layout)."""
    with av.open(str(path), "w", format="wav") as out:
        stream = out.add_stream("pcm_s16le", rate=audio.sample_rate)
        stream.layout = "mono"
        step = 60 * audio.sample_rate  # a minute at a time: no 16-bit copy of the whole soundtrack
        for first in range(0, len(audio.samples), step):
            pcm = (np.clip(audio.samples[first : first + step], -1, 1) * 32767).astype(np.int16)[None, :]
            frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
            frame.sample_rate = audio.sample_rate
            frame.time_base = Fraction(1, audio.sample_rate)
            frame.pts = first
            for packet in stream.encode(frame):
                out.mux(packet)
            audio.release()
        for packet in stream.encode():
            out.mux(packet)
