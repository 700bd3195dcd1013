"""The soundtrack: kept in a temporary file and read back through a memory map (the same samples
as in memory, nothing left on disk, pages handed back so memory stays flat in length), written
out a minute at a time, and measured for loudness (speaker turns end where the sound does)."""

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


def test_turns_are_trimmed_to_where_sound_is_relative_to_the_soundtrack():
    """A turn that runs into the silence after a line ends where the sound does; quiet is judged
    against the soundtrack's loud parts, so a quietly recorded file keeps its speech."""
    from screenalytics.model.speech import Turn
    from screenalytics.stages.loudness import levels, quiet_threshold, trim_to_sound

    rng = np.random.default_rng(5)
    x = (rng.standard_normal(16000 * 6) * 1e-4).astype(np.float32)  # -80 dBFS room tone
    x[16000:48000] = (rng.standard_normal(32000) * 0.05).astype(np.float32)  # a "line" 1-3 s, -26 dBFS
    turns = [Turn(0.6, 3.7, "A"), Turn(4.0, 5.0, "B")]  # A spills 0.4 s and 0.7 s; B is all silence
    level_db = levels(Audio(x, 16000))
    assert len(level_db) == 600
    thr = quiet_threshold(level_db, -50.0, 30.0)
    assert -60 < thr <= -50.0  # 30 dB under the line (-26 dBFS), and never above -50
    got = trim_to_sound(turns, level_db, thr)
    assert [(t.speaker, round(t.start, 2), round(t.end, 2)) for t in got] == [("A", 1.0, 3.0)]
    # the same recording 40 dB quieter (the line at -66 dBFS): quiet is now under -96 dBFS
    quiet_db = levels(Audio(x * 0.01, 16000))
    assert quiet_threshold(quiet_db, -50.0, 30.0) < -90
    assert [(round(t.start, 2), round(t.end, 2)) for t in trim_to_sound(turns, quiet_db, quiet_threshold(quiet_db, -50.0, 30.0))][
        0
    ] == (1.0, 3.0)


def test_listen_drops_a_speaker_heard_only_in_silence():
    from screenalytics.config import load_settings
    from screenalytics.model.speech import Diarization, Turn
    from screenalytics.stages.clock import Timer
    from screenalytics.stages.listen import listen

    rng = np.random.default_rng(6)
    x = (rng.standard_normal(16000 * 6) * 1e-4).astype(np.float32)
    x[16000:48000] = (rng.standard_normal(32000) * 0.05).astype(np.float32)
    voice = np.ones(4, np.float32) / 2

    class Vad:
        def detect(self, audio):  # type: ignore[no-untyped-def]
            return [(1.0, 3.0)]

    class Diarizer:
        def diarize(self, audio, num_speakers=None):  # type: ignore[no-untyped-def]
            return Diarization([Turn(0.5, 3.5, "A"), Turn(4.0, 5.0, "B")], {"A": voice, "B": voice})

    heard = listen(Audio(x, 16000), Vad(), Diarizer(), None, None, None, None, load_settings(), Timer())  # type: ignore[arg-type]
    assert [(t.speaker, round(t.start, 2), round(t.end, 2)) for t in heard.diarization.turns] == [("A", 1.0, 3.0)]
    assert set(heard.speaker_vectors) == {"A"}
