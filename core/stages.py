"""What an implementation of each stage must provide (structural types, no base classes needed)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import supervision as sv

    from screenalytics.config import Settings
    from screenalytics.model_registry import ModelStore
    from screenalytics.pipeline import RunResult


@runtime_checkable
class Detector(Protocol):
    """Finds faces: ``detect(frame_bgr)`` returns ``sv.Detections`` with ``data["landmarks"]`` (N,5,2)."""

    name: ClassVar[str]

    def __init__(self, settings: "Settings", models: "ModelStore") -> None: ...

    def detect(self, frame_bgr: np.ndarray) -> "sv.Detections": ...


@runtime_checkable
class Tracker(Protocol):
    """Links detections within one shot (a new instance per shot).

    ``update`` returns tracked detections with ``tracker_id`` set; it may return a detection of an
    earlier frame once its track is confirmed, so detections carry ``data["frame_index"]``.
    """

    name: ClassVar[str]

    def __init__(self, settings: "Settings", frame_rate: float) -> None: ...

    def update(self, detections: "sv.Detections", timestamp: float) -> "sv.Detections": ...


@runtime_checkable
class Recognizer(Protocol):
    """Embeds aligned 112x112 BGR face crops into L2-normalised vectors of size ``dim``."""

    name: ClassVar[str]
    dim: int
    model_name: str

    def __init__(self, settings: "Settings", models: "ModelStore") -> None: ...

    def align(self, image_bgr: np.ndarray, landmarks: np.ndarray) -> np.ndarray: ...

    def embed(self, crops_bgr: np.ndarray) -> np.ndarray: ...


@runtime_checkable
class Exporter(Protocol):
    """Writes a run's results into ``out_dir``; returns the files it wrote."""

    name: ClassVar[str]

    def export(self, result: "RunResult", out_dir: Path) -> list[Path]: ...
