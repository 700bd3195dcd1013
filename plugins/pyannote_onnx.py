"""Torch-free diarization: pyannote segmentation-3.0 (ONNX) + CAM++ embeddings + clustering."""

from __future__ import annotations

from typing import Any

import numpy as np

from screenalytics import hookimpl
from screenalytics.audio import Audio
from screenalytics.config import Settings
from screenalytics.diarization import Diarization, Segmentation, diarize_segmentation, powerset_to_multilabel, window_starts
from screenalytics.model_registry import ModelStore
from screenalytics.plugin_manager import get_implementation
from screenalytics.runtime import session


class PyannoteOnnxDiarizer:
    """pyannote segmentation-3.0 on onnxruntime, CAM++ voices, agglomerative clustering (no torch)."""

    name = "pyannote-onnx"

    def __init__(self, settings: Settings, models: ModelStore, embedder: Any = None) -> None:
        self.settings = settings
        self.cfg = settings.diarization
        name = self.cfg.segmentation_model
        self.params = models.spec(name).params if name in models.registry else {}
        self._sess = session(models.path(name), settings.runtime)
        self.embedder = embedder or get_implementation("speaker_embedder", settings.speaker_embedding.embedder)(settings, models)

    def segment(self, audio: Audio) -> Segmentation:
        window = int(self.params.get("window_samples", 160000))
        sr = audio.sample_rate
        starts = window_starts(audio.duration_s, window / sr, self.cfg.step_s)
        chunks = np.zeros((len(starts), 1, window), np.float32)
        for i, s in enumerate(starts):
            piece = audio.samples[int(round(s * sr)) : int(round(s * sr)) + window]
            chunks[i, 0, : len(piece)] = piece
        logits = np.concatenate(
            [
                self._sess.run(None, {"waveform": chunks[i : i + self.cfg.batch_size]})[0]
                for i in range(0, len(chunks), self.cfg.batch_size)
            ]
        )
        step = int(self.params.get("frame_step_samples", 270))
        field = int(self.params.get("receptive_field_samples", 991))
        return Segmentation(starts, powerset_to_multilabel(logits), step / sr, field / 2 / sr)

    def diarize(self, audio: Audio, num_speakers: int | None = None) -> Diarization:
        return diarize_segmentation(self.segment(audio), audio, self.embedder, self.cfg, num_speakers or self.cfg.num_speakers)


@hookimpl
def register_diarizers(register):  # type: ignore[no-untyped-def]
    register(PyannoteOnnxDiarizer)
