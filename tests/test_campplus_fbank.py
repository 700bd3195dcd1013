"""CAM++ fbank computed in blocks held in a small LRU (memory flat in episode length) gives the
frames and embeddings of the former whole-soundtrack computation."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import AUDIO
from screenalytics.config import load_settings
from screenalytics.model.media import Audio
from screenalytics.registry.models import ModelStore
from screenalytics.stages.decode import load_audio


def _embedder(block_s: float, cached_blocks: int):  # type: ignore[no-untyped-def]
    from screenalytics.plugins.campplus import CAMPlusEmbedder

    s = load_settings(plugins={"campplus": {"block_s": block_s, "cached_blocks": cached_blocks}})
    return CAMPlusEmbedder(s, ModelStore(s.models_dir))


def _whole_fbank(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """The reference: Kaldi fbank of the whole soundtrack in one pass, as the embedder used to do."""
    import kaldi_native_fbank as knf

    opts = knf.FbankOptions()
    opts.frame_opts.dither = 0
    opts.frame_opts.samp_freq = sample_rate
    opts.mel_opts.num_bins = 80
    fb = knf.OnlineFbank(opts)
    fb.accept_waveform(sample_rate, samples * 32768.0)
    fb.input_finished()
    return np.stack([fb.get_frame(i) for i in range(fb.num_frames_ready)])


class _Watched:
    """Counts the embedder's cached blocks after every block it is asked for."""

    def __init__(self, embedder) -> None:  # type: ignore[no-untyped-def]
        self.most = 0
        inner = embedder._block

        def block(audio: Audio, k: int) -> np.ndarray:
            got = inner(audio, k)
            self.most = max(self.most, len(embedder._blocks))
            return got

        embedder._block = block


@pytest.fixture(scope="module")
def audio() -> Audio:
    got = load_audio(AUDIO / "dev00.wav")
    assert got is not None and got.sample_rate == 16000
    return got


# the file; an end between frames; 2800 frames exactly (the last block full); 2800 frames and 159 samples over
@pytest.mark.parametrize("keep", [None, -77, 2799 * 160 + 400, 2799 * 160 + 559])
def test_blocks_give_the_frames_of_the_whole_soundtrack(audio, keep):
    samples = audio.samples[:keep]
    clip = Audio(samples, audio.sample_rate)
    want = _whole_fbank(samples, audio.sample_rate)
    embedder = _embedder(2.0, 2)  # 200 frames a block: 15 boundaries in 30 s
    watch = _Watched(embedder)
    assert embedder.num_frames(clip) == len(want)
    got = embedder.fbank(clip)
    assert got.shape == want.shape
    assert float(np.abs(got - want).max()) < 1e-4
    # frames straddling block boundaries and the file's last frames, asked for on their own
    for a, b in [(195, 205), (199, 201), (400, 401), (len(want) - 7, len(want)), (len(want) - 1, len(want) + 50)]:
        assert np.abs(embedder.fbank(clip, a, b) - want[a : min(b, len(want))]).max() < 1e-4
    assert 0 < watch.most <= 2


def test_embeddings_match_one_block_for_the_whole_file(audio):
    n_s = audio.duration_s
    items = [
        [(0.0, 1.0)],
        [(1.5, 2.5)],  # across the first boundary (2 s)
        [(3.9, 4.1)],  # short: padded to 20 frames
        [(5.0, 6.0), (5.5, 8.3)],  # overlapping ranges over a boundary
        [(12.0, 13.0), (1.0, 1.2)],  # unordered, far apart
        [(10.0, 20.0)],  # longer than batch_frames
        [(n_s - 1.0, n_s)],  # the last frames
        [(n_s - 0.3, n_s + 5.0)],  # past the end
        [(n_s + 1.0, n_s + 2.0)],  # nothing: zeros
        [],
    ]
    small = _embedder(2.0, 2)
    watch = _Watched(small)
    big = _embedder(n_s + 10.0, 4)
    got, want = small.embed(audio, items), big.embed(audio, items)
    assert got.shape == want.shape == (len(items), small.dim)
    assert float(np.abs(got - want).max()) < 1e-5
    norms = np.linalg.norm(got, axis=1)
    assert np.allclose(norms[:-2], 1.0, atol=1e-5) and np.all(norms[-2:] == 0)
    assert 0 < watch.most <= 2
    assert len(big._blocks) == 1


def test_blocks_belong_to_one_soundtrack(audio):
    embedder = _embedder(2.0, 2)
    first = embedder.fbank(audio, 0, 10)
    other = Audio(audio.samples[::-1].copy(), audio.sample_rate)  # same length, other sound
    assert np.abs(embedder.fbank(other, 0, 10) - _whole_fbank(other.samples[: 160 * 9 + 400], 16000)).max() < 1e-4
    assert not np.allclose(first, embedder.fbank(other, 0, 10))
    assert len(embedder._blocks) == 1


def test_short_soundtracks():
    embedder = _embedder(2.0, 2)
    for n in (0, 399, 400, 559, 560):
        clip = Audio(np.full(n, 0.01, np.float32), 16000)
        assert embedder.num_frames(clip) == len(embedder.fbank(clip)) == (0 if n < 400 else 1 + (n - 400) // 160)
        out = embedder.embed(clip, [[(0.0, 1.0)]])
        assert out.shape == (1, embedder.dim)
