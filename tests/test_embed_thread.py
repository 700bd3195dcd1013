"""Faces are embedded in a worker thread while the next frames are detected: the same vectors as
embedding in line, errors raised to the caller, and no thread left behind."""

from __future__ import annotations

import subprocess
import sys
import threading

import numpy as np
import pytest

from screenalytics.stages.clock import Timer
from screenalytics.stages.decode import probe
from screenalytics.stages.tracking import follow_faces
from tests.conftest import VIDEO


class Recorder:
    """The real recognizer; remembers which thread embedded, and can fail on a chosen call."""

    def __init__(self, inner: object, fail_on: int | None = None) -> None:
        self.inner, self.fail_on, self.calls, self.threads = inner, fail_on, 0, set()

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def embed(self, crops: np.ndarray) -> np.ndarray:
        self.calls += 1
        self.threads.add(threading.current_thread().name)
        if self.calls == self.fail_on:
            raise RuntimeError("recognizer failed on batch 2")
        return self.inner.embed(crops)  # type: ignore[attr-defined]


def test_windows_are_embedded_off_the_main_thread_with_the_recognizers_vectors(pipeline) -> None:  # type: ignore[no-untyped-def]
    rec = Recorder(pipeline.recognizer)
    before = threading.active_count()
    faces = follow_faces(probe(VIDEO), pipeline.detector, rec, pipeline.new_tracker, pipeline.settings, Timer())
    assert rec.calls > 1 and rec.threads and all(n.startswith("embed") for n in rec.threads)
    assert threading.active_count() == before
    window = next(iter(faces.window_vectors.values()))
    vectors, weights = window.vectors, window.weights
    assert vectors.shape[1] == 512 and len(weights) == len(vectors)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)


def test_an_embedding_error_reaches_the_caller(pipeline) -> None:  # type: ignore[no-untyped-def]
    before = threading.active_count()
    with pytest.raises(RuntimeError, match="batch 2"):
        rec = Recorder(pipeline.recognizer, fail_on=2)
        follow_faces(probe(VIDEO), pipeline.detector, rec, pipeline.new_tracker, pipeline.settings, Timer())
    assert threading.active_count() == before


def test_the_audio_child_imports_neither_the_stores_nor_the_vision_stages() -> None:
    """The audio process loads only what it uses (lancedb and supervision cost ~300 MB in it)."""
    code = "import sys, screenalytics.audio_worker; print(sorted({'lancedb', 'supervision', 'duckdb'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
