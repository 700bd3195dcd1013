"""CAM++ speaker embeddings (3D-Speaker, Apache-2.0) from Kaldi fbank, on onnxruntime."""

from __future__ import annotations

import kaldi_native_fbank as knf
import numpy as np
from pydantic import BaseModel, Field

from screenalytics import hookimpl
from screenalytics.config import Settings
from screenalytics.model.media import Audio
from screenalytics.model.speech import Ranges
from screenalytics.model.vectors import normalise
from screenalytics.registry.models import ModelFile, ModelSpec, ModelStore

HOP = 160  # 10 ms at 16 kHz
WIN = 400  # 25 ms
MIN_FRAMES = 20


class CAMPlusEmbedder:
    """CAM++ 192-d voice embeddings; fbank is computed once per soundtrack and sliced."""

    name = "campplus"

    class Options(BaseModel, extra="forbid"):
        model: str = "campplus-192d"
        batch_frames: int = Field(500, ge=100)  # fbank frames per embedding at most (5 s)

    def __init__(self, settings: Settings, models: ModelStore) -> None:
        self.cfg = settings.options_for(type(self))
        self._sess = models.session(self.cfg.model, settings.runtime)
        self.dim = int(self._sess.get_outputs()[0].shape[-1])
        self._cache: tuple[int, np.ndarray] | None = None

    def fbank(self, audio: Audio) -> np.ndarray:
        """80-bin Kaldi fbank (no dither) of the whole soundtrack, 10 ms hop."""
        key = id(audio.samples)
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        opts = knf.FbankOptions()
        opts.frame_opts.dither = 0
        opts.frame_opts.samp_freq = audio.sample_rate
        opts.mel_opts.num_bins = 80
        fb = knf.OnlineFbank(opts)
        # fed a minute at a time and emptied as it goes: given the whole soundtrack at once, fbank
        # holds a scaled copy of it and all its frames besides ours (an hour: ~350 MB more)
        step = 60 * audio.sample_rate
        feats = np.empty((len(audio.samples) // HOP + 1, 80), np.float32)
        n = 0

        def take() -> None:
            """Copy the frames fbank has ready and drop them from it."""
            nonlocal n
            ready = fb.num_frames_ready
            for i in range(n, ready):
                feats[i] = fb.get_frame(i)
            if ready > n:
                fb.pop(ready - n)
            n = ready

        for first in range(0, len(audio.samples), step):
            fb.accept_waveform(audio.sample_rate, audio.samples[first : first + step] * 32768.0)
            take()
        fb.input_finished()
        take()
        feats = feats[:n]
        self._cache = (key, feats)
        return feats

    def embed(self, audio: Audio, ranges: list[Ranges]) -> np.ndarray:
        """One L2-normalised embedding per item; an item is a list of (start, end) seconds."""
        feats = self.fbank(audio)
        centres = (np.arange(len(feats)) * HOP + WIN / 2) / audio.sample_rate
        out = np.zeros((len(ranges), self.dim), np.float32)
        for i, item in enumerate(ranges):
            # the frames centred in the item's ranges, in order and once each (found by bisection:
            # a mask over the whole soundtrack per item made an hour's embeddings quadratic)
            bounds = np.searchsorted(centres, np.asarray(item, np.float64).reshape(-1, 2))
            picked = [np.arange(a, b) for a, b in bounds if b > a]
            if not picked:
                continue
            idx = np.unique(np.concatenate(picked)) if len(picked) > 1 else picked[0]
            x = feats[idx[: self.cfg.batch_frames]]
            if len(x) < MIN_FRAMES:
                x = np.resize(x, (MIN_FRAMES, x.shape[1]))
            x = x - x.mean(axis=0, keepdims=True)
            e = self._sess.run(None, {"fbank": x[None]})[0][0]
            out[i] = normalise(e)
        return out


@hookimpl
def register_speaker_embedders(register):  # type: ignore[no-untyped-def]
    register(CAMPlusEmbedder)


@hookimpl
def register_models(register):  # type: ignore[no-untyped-def]
    register(
        ModelSpec(
            "campplus-192d",
            "speaker_embedder",
            "CAM++ speaker embedding (3D-Speaker, zh/en common), 192-d, Kaldi fbank input",
            "Apache-2.0",
            "https://modelscope.cn/models/iic/speech_campplus_sv_zh_en_16k-common_advanced "
            "(PyTorch weights; export to ONNX with input 'fbank' [B, frames, 80]); no public copy of this ONNX file",
            (
                ModelFile(
                    "audio/campplus_cn_en_common_192d.onnx", "c0f8d5f6a6ff75371ea00d30601dfa3e5c6f99c0ad284cadb4beb04eadadb43c"
                ),
            ),
            default=True,
        )
    )
