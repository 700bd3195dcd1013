"""The pyannote.audio diarizer ([pyannote] extra): runs only where pyannote.audio is installed."""

from __future__ import annotations

import pytest

pytest.importorskip("pyannote.audio", reason="the [pyannote] extra is not installed (see README)")

from conftest import AUDIO  # noqa: E402
from screenalytics.config import load_settings  # noqa: E402
from screenalytics.pipeline import Pipeline  # noqa: E402
from screenalytics.stages.decode import load_audio  # noqa: E402
from synth import read_rttm  # noqa: E402
from test_audio import diarization_error_rate  # noqa: E402


def test_pyannote_audio_segmentation_diarizes_the_sample():
    pipeline = Pipeline(load_settings(diarization={"diarizer": "pyannote"}))
    diarizer = pipeline.plugin("diarizer")
    audio = load_audio(AUDIO / "pyannote_sample.wav")
    seg = diarizer.segment(audio)
    assert seg.activity.shape[1:] == (589, 3)  # pyannote.audio's own frames and local speakers
    diarization = diarizer.diarize(audio)
    der = diarization_error_rate(read_rttm(AUDIO / "pyannote_sample.rttm"), diarization.turns)
    print(f"DER (pyannote.audio segmentation + CAM++ clustering) on pyannote_sample.wav: {der:.3f}")
    assert len(diarization.speakers) == 2 and der <= 0.20


def test_a_missing_pipeline_is_a_clear_error(tmp_path):
    from screenalytics.errors import ScreenalyticsError

    settings = load_settings(diarization={"diarizer": "pyannote"}, plugins={"pyannote": {"pipeline": str(tmp_path / "nope")}})
    with pytest.raises(ScreenalyticsError, match="pyannote could not load the pipeline"):
        Pipeline(settings).plugin("diarizer")
