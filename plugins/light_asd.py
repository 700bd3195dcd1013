"""Light-ASD (MIT) on onnxruntime: is a face speaking, frame by frame, from its crops and the sound.

A face whose mouth moves with the voice heard is the one speaking: the model sees 25 fps grey
crops of one face track and the soundtrack's MFCC over the same frames, and scores each frame.
On the composed evaluation episodes it separates speaking faces from silent ones with a per-frame
ROC AUC of 0.99, where a hand-made mouth-motion measure scored 0.5.
"""

from __future__ import annotations

import cv2
import numpy as np
from pydantic import BaseModel, Field

from screenalytics import hookimpl
from screenalytics.config import Settings
from screenalytics.registry.models import ModelFile, ModelSpec, ModelStore

FPS = 25  # video frames per second the model was trained on
ROWS_PER_FRAME = 4  # MFCC rows (100 per second) per video frame
CROP = 112
WIN, HOP, PREEMPH = 400, 160, 0.97  # 25 ms windows every 10 ms at 16 kHz, as Light-ASD computes them


def _mfcc(signal: np.ndarray) -> np.ndarray:
    """13 MFCC per 10 ms (python_speech_features' defaults, coefficient 0 = log frame energy) of an
    already pre-emphasised int16-scale signal whose length is a whole number of hops plus a window.
    In float32: the library is 16 times slower on float64 (an hour: 62 s against 4), for
    coefficients that differ by under 1e-6."""
    from python_speech_features import mfcc

    return mfcc(signal.astype(np.float32), 16000, winlen=WIN / 16000, winstep=HOP / 16000, numcep=13, preemph=0).astype(
        np.float32
    )


class MfccStream:
    """MFCC of a soundtrack fed in pieces, the same as over the whole (pre-emphasis carries over)."""

    def __init__(self) -> None:
        self._pending = np.zeros(0, np.float64)
        self._last = 0.0
        self._rows: list[np.ndarray] = []

    def feed(self, samples: np.ndarray) -> None:
        """Add float samples in [-1, 1] at 16 kHz."""
        x = samples.astype(np.float64) * 32768.0
        emphasised = np.empty_like(x)
        if len(x):
            emphasised[0] = x[0] - PREEMPH * self._last
            emphasised[1:] = x[1:] - PREEMPH * x[:-1]
            self._last = float(x[-1])
        self._pending = np.concatenate([self._pending, emphasised])
        n = (len(self._pending) - WIN) // HOP + 1 if len(self._pending) >= WIN else 0
        if n > 0:
            self._rows.append(_mfcc(self._pending[: WIN + (n - 1) * HOP]))
            self._pending = self._pending[n * HOP :]

    def finish(self) -> np.ndarray:
        """All rows; the last window is zero-padded, as one call over the whole signal pads it."""
        if not self._rows and not len(self._pending):
            return np.zeros((0, 13), np.float32)
        if len(self._pending) > WIN - HOP or not self._rows:
            tail = np.zeros(max(WIN, int(np.ceil((len(self._pending) - WIN) / HOP)) * HOP + WIN))
            tail[: len(self._pending)] = self._pending
            self._rows.append(_mfcc(tail))
        self._pending = np.zeros(0)
        return np.concatenate(self._rows) if self._rows else np.zeros((0, 13), np.float32)


class LightASD:
    """Light-ASD (Liao et al., CVPR 2023), the audio-visual branch exported to ONNX."""

    name = "light-asd"
    fps = FPS
    rows_per_frame = ROWS_PER_FRAME
    rows_per_second = FPS * ROWS_PER_FRAME

    class Options(BaseModel, extra="forbid"):
        model: str = "light-asd"
        # frames per model call (memory stays bounded), plus `context` frames scored and dropped on
        # each side so that a piece's edges keep what the bidirectional GRU reads around them
        max_frames: int = Field(100, ge=FPS)
        context: int = Field(10, ge=0)

    def __init__(self, settings: Settings, models: ModelStore) -> None:
        self.options = settings.options_for(type(self))
        self._sess = models.session(self.options.model, settings.runtime)

    @staticmethod
    def features() -> MfccStream:
        """A fresh stream of the audio features the model reads (16 kHz samples in)."""
        return MfccStream()

    @staticmethod
    def crop(image_bgr: np.ndarray, box: np.ndarray) -> np.ndarray:
        """Nose, mouth and chin, 112x112 grey: a square 0.7 x the box's longer side, centred 0.2 x
        it below the box centre, grey (110) beyond the frame; the crop Light-ASD's demo cuts.

        The whole face box (how AVA-ActiveSpeaker was annotated) scored about as well per frame on
        our evaluation episodes (AUC 0.946 against 0.950) but called silent faces speaking while
        someone off screen talked on 32% of frames (this crop: 0%), and fusion is about exactly that."""
        h, w = image_bgr.shape[:2]
        side = 0.7 * max(box[2] - box[0], box[3] - box[1], 1.0)
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2 + 0.2 * side / 0.7
        x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
        n = max(1, int(round(side)))
        x1, y1 = x0 + n, y0 + n
        inside = image_bgr[max(0, y0) : min(h, y1), max(0, x0) : min(w, x1)]
        grey = np.full((n, n), 110, np.uint8)
        if inside.size:
            grey[max(0, y0) - y0 : max(0, y0) - y0 + inside.shape[0], max(0, x0) - x0 : max(0, x0) - x0 + inside.shape[1]] = (
                cv2.cvtColor(inside, cv2.COLOR_BGR2GRAY)
            )
        return cv2.resize(grey, (CROP, CROP), interpolation=cv2.INTER_LINEAR)

    def score(self, crops: np.ndarray, features: np.ndarray) -> np.ndarray:
        """Speaking probability per frame of one face track: crops (T, 112, 112) uint8 at 25 fps,
        features (4T, 13) over the same time. Long tracks go in pieces of ``max_frames``."""
        t = len(crops)
        if len(features) < ROWS_PER_FRAME * t:  # the sound ends first: repeat it, as training did
            features = np.pad(features, ((0, ROWS_PER_FRAME * t - len(features)), (0, 0)), mode="wrap")
        out = np.empty(t, np.float32)
        step, ctx = self.options.max_frames, self.options.context
        for a in range(0, t, step):
            b = min(t, a + step)
            lo, hi = max(0, a - ctx), min(t, b + ctx)
            probs = self._sess.run(
                ["prob"],
                {
                    "audio_mfcc": np.ascontiguousarray(features[None, ROWS_PER_FRAME * lo : ROWS_PER_FRAME * hi], np.float32),
                    "video_grey": crops[None, lo:hi].astype(np.float32),
                },
            )[0]
            out[a:b] = probs.reshape(-1)[a - lo : b - lo]
        return out


@hookimpl
def register_active_speakers(register):  # type: ignore[no-untyped-def]
    register(LightASD)


@hookimpl
def register_models(register):  # type: ignore[no-untyped-def]
    register(
        ModelSpec(
            "light-asd",
            "active_speaker",
            "Light-ASD active speaker detection (AVA-ActiveSpeaker, audio-visual branch as ONNX, opset 17)",
            "MIT",
            "https://github.com/Junhua-Liao/Light-ASD (weight/pretrain_AVA_CVPR.model, exported to ONNX with its "
            "audio-visual classifier; see the README's Models section)",
            (ModelFile("asd/light_asd.onnx", "5acdeece07ee291de4d049e70a299c0ad9a1518a2bf659f5271a39af0d129bf2", None),),
            default=True,
        )
    )
