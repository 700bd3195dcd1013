"""Silero VAD (MIT) on onnxruntime: speech regions of a soundtrack."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, Field

from screenalytics import hookimpl
from screenalytics.config import Settings
from screenalytics.model.media import Audio
from screenalytics.model.speech import Ranges
from screenalytics.registry.models import ModelFile, ModelSpec, ModelStore

CHUNK = 512  # samples per step at 16 kHz (32 ms)
CONTEXT = 64  # samples of the previous chunk the v5 model sees
WARMUP = 32  # chunks (1 s) each parallel stream runs before its own share
MIN_STREAM_CHUNKS = 940  # ~30 s: shorter files run as one stream
RELEASE_EVERY = 256  # steps between handing a spilled soundtrack's read pages back (streams x 8 s)


class SileroVAD:
    """Silero VAD: speech probability every 32 ms, hysteresis thresholds, min durations."""

    name = "silero"

    class Options(BaseModel, extra="forbid"):
        model: str = "silero-vad"
        streams: int = Field(16, ge=1)  # a long file is cut into this many parallel streams (one batch per step)

    def __init__(self, settings: Settings, models: ModelStore) -> None:
        self.cfg = settings.vad
        self.options = settings.options_for(type(self))
        self._sess = models.session(self.options.model, settings.runtime)

    def probabilities(self, audio: Audio) -> np.ndarray:
        """Speech probability per 32 ms chunk.

        A long file is cut into parallel streams, each with its own recurrent state, so one model
        call advances all of them; each stream first runs over the second before its share and
        discards that, so no stream starts cold.
        """
        if audio.sample_rate != 16000:
            raise ValueError("Silero VAD here expects 16 kHz audio")
        x = audio.samples
        n_chunks = max(1, int(np.ceil(len(x) / CHUNK)))
        streams = max(1, min(self.options.streams, n_chunks // MIN_STREAM_CHUNKS))
        per_stream = int(np.ceil(n_chunks / streams))
        # Stream j reads chunks [j*per_stream - WARMUP, (j+1)*per_stream) of the file (zeros outside
        # it), gathered step by step from a view of the samples: padded copies of the whole
        # soundtrack cost twice its size (an hour: +460 MB).
        full = len(x) // CHUNK
        body = x[: full * CHUNK].reshape(full, CHUNK)
        tail = np.zeros(CHUNK, np.float32)
        tail[: len(x) - full * CHUNK] = x[full * CHUNK :]
        firsts = np.arange(streams) * per_stream - WARMUP
        state = np.zeros((2, streams, 128), np.float32)
        context = np.zeros((streams, CONTEXT), np.float32)
        sr = np.array(16000, dtype=np.int64)
        probs = np.zeros((streams, per_stream + WARMUP), np.float32)
        for i in range(per_stream + WARMUP):
            idx = firsts + i
            chunk = np.zeros((streams, CHUNK), np.float32)
            inside = (idx >= 0) & (idx < full)
            chunk[inside] = body[idx[inside]]
            chunk[idx == full] = tail
            out, state = self._sess.run(None, {"input": np.concatenate([context, chunk], axis=1), "state": state, "sr": sr})
            probs[:, i] = out[:, 0]
            context = chunk[:, -CONTEXT:]
            if i % RELEASE_EVERY == RELEASE_EVERY - 1:
                audio.release()
        return probs[:, WARMUP:].reshape(-1)[:n_chunks]

    def detect(self, audio: Audio) -> Ranges:
        """Speech regions (start, end) in seconds."""
        cfg, step = self.cfg, CHUNK / audio.sample_rate
        probs = self.probabilities(audio)
        regions: list[list[float]] = []
        start: float | None = None
        silence_from: float | None = None
        for i, p in enumerate(probs):
            t = i * step
            if start is None:
                if p >= cfg.threshold:
                    start, silence_from = t, None
            elif p < cfg.neg_threshold:
                silence_from = t if silence_from is None else silence_from
                if t + step - silence_from >= cfg.min_silence_s:
                    regions.append([start, silence_from])
                    start, silence_from = None, None
            elif p >= cfg.threshold:
                silence_from = None
        if start is not None:
            regions.append([start, len(probs) * step])
        out: list[tuple[float, float]] = []
        for s, e in regions:
            if e - s < cfg.min_speech_s:
                continue
            s, e = max(0.0, s - cfg.pad_s), min(audio.duration_s, e + cfg.pad_s)
            if out and s <= out[-1][1]:
                out[-1] = (out[-1][0], e)
            else:
                out.append((s, e))
        return out


@hookimpl
def register_vads(register):  # type: ignore[no-untyped-def]
    register(SileroVAD)


@hookimpl
def register_models(register):  # type: ignore[no-untyped-def]
    register(
        ModelSpec(
            "silero-vad",
            "vad",
            "Silero VAD v6 (ONNX), 32 ms frames at 16 kHz",
            "MIT",
            "https://github.com/snakers4/silero-vad (release v6.2.1; also the PyPI package silero-vad 6.2)",
            (
                ModelFile(
                    "audio/silero_vad.onnx",
                    "1a153a22f4509e292a94e67d6f9b85e8deb25b4988682b7e174c65279d8788e3",
                    "https://github.com/snakers4/silero-vad/raw/v6.2.1/src/silero_vad/data/silero_vad.onnx",
                ),
            ),
            default=True,
        )
    )
