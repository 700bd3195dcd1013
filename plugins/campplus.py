"""CAM++ speaker embeddings (3D-Speaker, Apache-2.0) from Kaldi fbank, on onnxruntime."""

from __future__ import annotations

import weakref
from collections import OrderedDict

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
BINS = 80


def geometry(sample_rate: int) -> tuple[int, int]:
    """(hop, window) in samples of Kaldi's 10 ms / 25 ms frames at a rate (HOP, WIN at 16 kHz):
    with snip_edges frame i is made of samples [i * hop, i * hop + window) and nothing else."""
    return sample_rate * HOP // 16000, sample_rate * WIN // 16000


class CAMPlusEmbedder:
    """CAM++ 192-d voice embeddings from fbank computed on demand in blocks of frames.

    An hour's fbank is 115 MB; callers ask for frames in roughly increasing time (sliding
    windows, then short chunks), so a few recent blocks are kept instead, and memory stays
    ``block_s * cached_blocks`` seconds' worth (~8 MB by default) whatever the soundtrack's length.
    A frame depends on its own 25 ms of samples only, so a block's frames are those of the whole file."""

    name = "campplus"

    class Options(BaseModel, extra="forbid"):
        model: str = "campplus-192d"
        batch_frames: int = Field(500, ge=100)  # fbank frames per embedding at most (5 s)
        block_s: float = Field(60.0, gt=0)  # seconds of audio per fbank block computed at once
        cached_blocks: int = Field(4, ge=1)  # blocks kept, least recently used dropped first

    def __init__(self, settings: Settings, models: ModelStore) -> None:
        self.cfg = settings.options_for(type(self))
        self._sess = models.session(self.cfg.model, settings.runtime)
        self.dim = int(self._sess.get_outputs()[0].shape[-1])
        # the soundtrack the blocks belong to: a weak reference, so that a new array that happens
        # to get a dead one's id() is not served its blocks
        self._owner: weakref.ref[np.ndarray] | None = None
        self._blocks: OrderedDict[int, np.ndarray] = OrderedDict()

    def num_frames(self, audio: Audio) -> int:
        """Frames Kaldi makes of the soundtrack (snip_edges: only whole windows)."""
        hop, win = geometry(audio.sample_rate)
        n = len(audio.samples)
        return 0 if n < win else 1 + (n - win) // hop

    def _block_frames(self, audio: Audio) -> int:
        return max(1, int(round(self.cfg.block_s * audio.sample_rate / geometry(audio.sample_rate)[0])))

    def _block(self, audio: Audio, k: int) -> np.ndarray:
        """Frames [k * F, (k + 1) * F) of the soundtrack (F frames a block; fewer in the last one),
        from the LRU or computed from their samples alone."""
        if self._owner is None or self._owner() is not audio.samples:
            self._blocks.clear()
            self._owner = weakref.ref(audio.samples)
        got = self._blocks.get(k)
        if got is not None:
            self._blocks.move_to_end(k)
            return got
        hop, win = geometry(audio.sample_rate)
        size = self._block_frames(audio)
        first = k * size
        count = max(0, min(size, self.num_frames(audio) - first))
        # a block's frames need its samples plus the window's overhang (win - hop) into the next block
        seg = audio.samples[first * hop : (first + count - 1) * hop + win] if count else audio.samples[:0]
        opts = knf.FbankOptions()
        opts.frame_opts.dither = 0
        opts.frame_opts.samp_freq = audio.sample_rate
        opts.mel_opts.num_bins = BINS
        fb = knf.OnlineFbank(opts)
        fb.accept_waveform(audio.sample_rate, seg * 32768.0)
        fb.input_finished()
        assert fb.num_frames_ready == count, (fb.num_frames_ready, count)
        feats = np.empty((count, BINS), np.float32)
        for i in range(count):
            feats[i] = fb.get_frame(i)
        audio.release()  # the samples of a spilled soundtrack read for this block go back
        self._blocks[k] = feats
        while len(self._blocks) > self.cfg.cached_blocks:
            self._blocks.popitem(last=False)
        return feats

    def frames(self, audio: Audio, idx: np.ndarray) -> np.ndarray:
        """The fbank frames at the given (valid) indices, in their order."""
        idx = np.asarray(idx, np.int64)
        out = np.empty((len(idx), BINS), np.float32)
        if not len(idx):
            return out
        size = self._block_frames(audio)
        blocks = idx // size
        # blocks in the order first asked for, so that an LRU of two serves an item across a boundary
        for k in dict.fromkeys(blocks.tolist()):
            sel = blocks == k
            out[sel] = self._block(audio, k)[idx[sel] - k * size]
        return out

    def fbank(self, audio: Audio, start: int = 0, end: int | None = None) -> np.ndarray:
        """80-bin Kaldi fbank (no dither, 10 ms hop) frames [start, end) of the soundtrack (all of
        them by default: for tests and tools; embed() only ever asks for a few seconds)."""
        n = self.num_frames(audio)
        end = n if end is None else min(end, n)
        return self.frames(audio, np.arange(max(0, start), end))

    def embed(self, audio: Audio, ranges: list[Ranges]) -> np.ndarray:
        """One L2-normalised embedding per item; an item is a list of (start, end) seconds."""
        hop, win = geometry(audio.sample_rate)
        centres = (np.arange(self.num_frames(audio)) * hop + win / 2) / audio.sample_rate
        out = np.zeros((len(ranges), self.dim), np.float32)
        for i, item in enumerate(ranges):
            # the frames centred in the item's ranges, in order and once each (found by bisection:
            # a mask over the whole soundtrack per item made an hour's embeddings quadratic)
            bounds = np.searchsorted(centres, np.asarray(item, np.float64).reshape(-1, 2))
            picked = [np.arange(a, b) for a, b in bounds if b > a]
            if not picked:
                continue
            idx = np.unique(np.concatenate(picked)) if len(picked) > 1 else picked[0]
            x = self.frames(audio, idx[: self.cfg.batch_frames])
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
