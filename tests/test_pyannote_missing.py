"""Without the [pyannote] extra, choosing the pyannote diarizer says how to install it."""

import importlib.util

import pytest

from screenalytics.config import load_settings
from screenalytics.errors import ScreenalyticsError
from screenalytics.pipeline import Pipeline


@pytest.mark.skipif(importlib.util.find_spec("pyannote.audio") is not None, reason="pyannote.audio is installed here")
def test_pyannote_diarizer_without_the_extra():
    pipeline = Pipeline(load_settings(diarization={"diarizer": "pyannote"}))
    with pytest.raises(ScreenalyticsError, match=r"pip install 'screenalytics\[pyannote\]'"):
        pipeline.plugin("diarizer")
