"""Torch-free diarization: pyannote segmentation-3.0 (ONNX) + CAM++ embeddings + clustering."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel

from screenalytics import hookimpl
from screenalytics.config import Settings
from screenalytics.model.contracts import SpeakerEmbedder
from screenalytics.model.media import Audio
from screenalytics.model.speech import Diarization, Segmentation
from screenalytics.registry.models import ModelFile, ModelSpec, ModelStore
from screenalytics.stages.diarization import diarize_segmentation, powerset_to_multilabel, window_starts

SHA256 = "22f47e584f5f26dd918ba1bdf188ca1bc08cfe02bf1d7eff2c9a0f568b25f070"


class PyannoteOnnxDiarizer:
    """pyannote segmentation-3.0 on onnxruntime, CAM++ voices, agglomerative clustering (no torch)."""

    name = "pyannote-onnx"

    class Options(BaseModel, extra="forbid"):
        model: str = "pyannote-segmentation-3.0"  # a registered segmentation model or an .onnx path

    def __init__(self, settings: Settings, models: ModelStore, embedder: SpeakerEmbedder) -> None:
        self.cfg = settings.diarization
        name = settings.options_for(type(self)).model
        self.params = models.spec(name).params if name in models.registry else {}
        self._sess = models.session(name, settings.runtime)
        self.embedder = embedder

    def segment(self, audio: Audio) -> Segmentation:
        window = int(self.params.get("window_samples", 160000))
        sr = audio.sample_rate
        starts = window_starts(audio.duration_s, window / sr, self.cfg.step_s)
        logits = []
        for first in range(0, len(starts), self.cfg.batch_size):  # one batch of windows in memory at a time
            batch = starts[first : first + self.cfg.batch_size]
            chunks = np.zeros((len(batch), 1, window), np.float32)
            for i, s in enumerate(batch):
                piece = audio.samples[int(round(s * sr)) : int(round(s * sr)) + window]
                chunks[i, 0, : len(piece)] = piece
            logits.append(self._sess.run(None, {"waveform": chunks})[0])
            audio.release()
        logits = np.concatenate(logits)
        step = int(self.params.get("frame_step_samples", 270))
        field = int(self.params.get("receptive_field_samples", 991))
        return Segmentation(starts, powerset_to_multilabel(logits), step / sr, field / 2 / sr)

    def diarize(self, audio: Audio, num_speakers: int | None = None) -> Diarization:
        return diarize_segmentation(self.segment(audio), audio, self.embedder, self.cfg, num_speakers or self.cfg.num_speakers)


@hookimpl
def register_diarizers(register):  # type: ignore[no-untyped-def]
    register(PyannoteOnnxDiarizer)


@hookimpl
def register_models(register):  # type: ignore[no-untyped-def]
    register(
        ModelSpec(
            "pyannote-segmentation-3.0",
            "diarizer",
            "pyannote segmentation-3.0 exported to ONNX (powerset, 3 local speakers, 10 s windows)",
            "MIT",
            "https://huggingface.co/pyannote/segmentation-3.0 (export the PyTorch weights to ONNX, waveform -> logits); "
            "no public copy of this ONNX file",
            (ModelFile("audio/pyannote_segmentation-3.0.onnx", SHA256),),
            params={"window_samples": 160000, "frame_step_samples": 270, "receptive_field_samples": 991},
            default=True,
        )
    )
