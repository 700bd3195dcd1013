"""Diarization with pyannote.audio itself ([pyannote] extra; needs torch).

With ``plugins.pyannote.pipeline`` set (a local pipeline folder, or a hub name plus a token in
``$HF_TOKEN``) the whole pretrained pyannote pipeline runs. Otherwise pyannote.audio runs the
local segmentation-3.0 PyTorch weights and Screenalytics' clustering does the rest, so the
result differs from the ONNX diarizer only in how segmentation is computed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

from screenalytics import hookimpl
from screenalytics.config import Settings
from screenalytics.errors import ScreenalyticsError
from screenalytics.model.contracts import SpeakerEmbedder
from screenalytics.model.media import Audio
from screenalytics.model.speech import Diarization, Segmentation, Turn
from screenalytics.registry.models import ModelFile, ModelSpec, ModelStore
from screenalytics.stages.diarization import diarize_segmentation

HF = "https://huggingface.co/pyannote/segmentation-3.0"

INSTALL_HINT = (
    "the 'pyannote' diarizer needs pyannote.audio and torch: pip install 'screenalytics[pyannote]' "
    "(see README, 'pyannote.audio diarizer'), or use diarization.diarizer: pyannote-onnx"
)


def _require_pyannote() -> Any:
    try:
        import pyannote.audio
        import torch  # noqa: F401
    except ImportError as e:
        raise ScreenalyticsError(f"{INSTALL_HINT} ({e})") from None
    return pyannote.audio


class PyannoteAudioDiarizer:
    """pyannote.audio (PyTorch): a full pretrained pipeline, or segmentation-3.0 + CAM++ clustering."""

    name = "pyannote"

    class Options(BaseModel, extra="forbid"):
        model: str = "pyannote-segmentation-3.0-torch"  # segmentation weights when no pipeline is set
        pipeline: str | None = None  # a local pretrained pipeline folder, or a hub name (token in hf_token_env)
        hf_token_env: str = "HF_TOKEN"  # environment variable holding the hub token

    def __init__(self, settings: Settings, models: ModelStore, embedder: SpeakerEmbedder) -> None:
        pa = _require_pyannote()
        self.cfg = settings.diarization
        self.options = settings.options_for(type(self))
        self._pipeline = None
        self._model = None
        if self.options.pipeline:
            token = os.environ.get(self.options.hf_token_env) or None
            source = self.options.pipeline
            if Path(source).expanduser().exists():
                source = str(Path(source).expanduser())
            try:
                self._pipeline = pa.Pipeline.from_pretrained(source, token=token)
            except Exception as e:  # hub, network and file errors all mean the same to a user
                raise ScreenalyticsError(f"pyannote could not load the pipeline {source!r}: {e}") from None
            if self._pipeline is None:
                raise ScreenalyticsError(
                    f"pyannote could not load the pipeline {source!r} (token in ${self.options.hf_token_env}?)"
                )
            # pyannote pipelines load on the CPU and this plugin never moves them (.to(device))
            device = str(getattr(self._pipeline, "device", "cpu"))
            models.record(source, source, "torch", [], [device], settings.runtime.require_gpu)
            return
        weights = models.path(self.options.model)
        self._model = pa.Model.from_pretrained(str(weights))
        self._model.eval()
        self.embedder = embedder
        device = str(next(self._model.parameters()).device)
        models.record(self.options.model, weights, "torch", [], [device], settings.runtime.require_gpu)

    @staticmethod
    def _waveform(audio: Audio) -> dict[str, Any]:
        import torch

        return {"waveform": torch.from_numpy(audio.samples[None, :].copy()), "sample_rate": audio.sample_rate}

    def segment(self, audio: Audio) -> Segmentation:
        """Local-speaker activity per window from pyannote.audio's own sliding-window inference."""
        from pyannote.audio import Inference

        inference = Inference(self._model, window="sliding", duration=10.0, step=self.cfg.step_s, batch_size=self.cfg.batch_size)
        out = inference(self._waveform(audio))  # (chunks, frames, speakers), powerset already decoded
        data = np.asarray(out.data, dtype=np.float32)
        chunks = out.sliding_window
        starts = np.array([chunks[i].start for i in range(data.shape[0])])
        rf = self._model.receptive_field
        return Segmentation(starts, (data > 0.5).astype(np.float32), float(rf.step), float(rf.duration) / 2)

    def diarize(self, audio: Audio, num_speakers: int | None = None) -> Diarization:
        n = num_speakers or self.cfg.num_speakers
        if self._pipeline is not None:
            out = self._pipeline(self._waveform(audio), **({"num_speakers": n} if n else {}))
            annotation = getattr(out, "speaker_diarization", out)
            turns = [
                Turn(float(seg.start), float(seg.end), str(label)) for seg, _, label in annotation.itertracks(yield_label=True)
            ]
            return Diarization(sorted(turns, key=lambda t: (t.start, t.speaker)))
        return diarize_segmentation(self.segment(audio), audio, self.embedder, self.cfg, n)


@hookimpl
def register_diarizers(register):  # type: ignore[no-untyped-def]
    register(PyannoteAudioDiarizer)


@hookimpl
def register_models(register):  # type: ignore[no-untyped-def]
    register(
        ModelSpec(
            "pyannote-segmentation-3.0-torch",
            "diarizer",
            "pyannote segmentation-3.0 PyTorch weights, for the pyannote.audio diarizer",
            "MIT (gated on the Hugging Face hub; accept its conditions there)",
            HF,
            (
                ModelFile(
                    "audio/pyannote_segmentation-3.0/pytorch_model.bin",
                    "da85c29829d4002daedd676e012936488234d9255e65e86dfab9bec6b1729298",
                    f"{HF}/resolve/main/pytorch_model.bin",
                ),
                ModelFile(
                    "audio/pyannote_segmentation-3.0/config.yaml",
                    "fa65a47a751602f04cc570135007d76859b69e8f9f1bfdf5878a5145980d4263",
                    f"{HF}/resolve/main/config.yaml",
                ),
            ),
        )
    )
