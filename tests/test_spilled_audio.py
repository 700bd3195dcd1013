"""The soundtrack kept in a temporary file and read back through a memory map: the same samples
as in memory, nothing left on disk, and pages handed back so memory stays flat in length."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from screenalytics.model.media import Audio
from screenalytics.stages.decode import load_audio, write_wav

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads RssFile from /proc (Linux)")


def _rss_file_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssFile:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no RssFile in /proc/self/status")


def test_spilled_soundtrack_reads_the_same_and_hands_its_pages_back(tmp_path):
    rng = np.random.default_rng(3)
    noise = (rng.standard_normal(16000 * 300) * 0.1).astype(np.float32)  # 5 min: 19 MB of samples
    wav = tmp_path / "five_minutes.wav"
    write_wav(wav, Audio(noise, 16000))
    spill = tmp_path / "spill"

    in_memory = load_audio(wav)
    spilled = load_audio(wav, spill_dir=spill)
    assert in_memory is not None and spilled is not None
    assert spilled.mapping is not None and not spilled.samples.flags.writeable
    assert np.array_equal(in_memory.samples, spilled.samples)
    assert spilled.duration_s == pytest.approx(300.0, abs=0.01)
    assert list(spill.iterdir()) == [], "the file has no name: nothing is left behind, even after a crash"

    spilled.release()
    before = _rss_file_mb()
    float(np.sum(spilled.samples, dtype=np.float64))  # touch every page
    touched = _rss_file_mb()
    spilled.release()
    after = _rss_file_mb()
    assert touched - before > 15, (before, touched)
    assert touched - after > 15, (touched, after)
    assert np.array_equal(in_memory.samples[::997], spilled.samples[::997]), "pages read again after release"
    in_memory.release()  # a no-op in memory


def test_write_wav_in_pieces_round_trips(tmp_path):
    x = (np.sin(np.arange(16000 * 130 + 11) / 7.0) * 0.5).astype(np.float32)  # longer than one piece
    write_wav(tmp_path / "a.wav", Audio(x, 16000))
    back = load_audio(tmp_path / "a.wav")
    assert back is not None and len(back.samples) == len(x)
    assert np.abs(back.samples - x).max() < 1e-4


def test_an_empty_spill_dir_is_made(tmp_path):
    rng = np.random.default_rng(0)
    write_wav(tmp_path / "b.wav", Audio((rng.standard_normal(16000) * 0.1).astype(np.float32), 16000))
    audio = load_audio(tmp_path / "b.wav", spill_dir=tmp_path / "new" / "dir")
    assert audio is not None and len(audio.samples) == 16000
    assert os.path.isdir(tmp_path / "new" / "dir")
