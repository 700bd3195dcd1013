"""What an implementation of each plugin kind must provide (structural types, no base class).

A class is checked against its contract when a plugin registers it: a missing ``name`` or method
is an error that names the class and what it lacks. Every kind may also declare ``Options``, a
pydantic model of its own settings (config section ``plugins.<name>``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from screenalytics.errors import PluginError
from screenalytics.model.media import Audio
from screenalytics.model.names import PluginKind
from screenalytics.model.speech import Diarization, Ranges, Word

if TYPE_CHECKING:  # pragma: no cover
    import supervision as sv

    from screenalytics.config import Settings
    from screenalytics.model.run import RunResult
    from screenalytics.registry.models import ModelStore


@runtime_checkable
class Detector(Protocol):
    """Finds faces: ``detect(frame_bgr)`` returns ``sv.Detections`` with ``data["landmarks"]`` (N,5,2)."""

    name: ClassVar[str]

    def __init__(self, settings: Settings, models: ModelStore) -> None: ...

    def detect(self, frame_bgr: np.ndarray) -> sv.Detections: ...


@runtime_checkable
class Tracker(Protocol):
    """Links detections within one shot (a new instance per shot).

    ``update`` returns tracked detections with ``tracker_id`` set; it may return a detection of an
    earlier frame once its track is confirmed, so detections carry ``data["frame_index"]``.
    """

    name: ClassVar[str]

    def __init__(self, settings: Settings, frame_rate: float) -> None: ...

    def update(self, detections: sv.Detections, timestamp: float) -> sv.Detections: ...


@runtime_checkable
class Recognizer(Protocol):
    """Aligns faces to 112x112 BGR crops and embeds them into unit vectors of size ``dim``."""

    name: ClassVar[str]
    dim: int
    model_name: str

    def __init__(self, settings: Settings, models: ModelStore) -> None: ...

    def align(self, image_bgr: np.ndarray, landmarks: np.ndarray) -> np.ndarray: ...

    def embed(self, crops_bgr: np.ndarray) -> np.ndarray: ...


@runtime_checkable
class VAD(Protocol):
    """Finds speech: ``detect(audio)`` returns (start, end) seconds."""

    name: ClassVar[str]

    def __init__(self, settings: Settings, models: ModelStore) -> None: ...

    def detect(self, audio: Audio) -> Ranges: ...


@runtime_checkable
class SpeakerEmbedder(Protocol):
    """Embeds voices: one unit vector of size ``dim`` per item, an item being a list of ranges."""

    name: ClassVar[str]
    dim: int

    def __init__(self, settings: Settings, models: ModelStore) -> None: ...

    def embed(self, audio: Audio, ranges: list[Ranges]) -> np.ndarray: ...


@runtime_checkable
class Diarizer(Protocol):
    """Who spoke when; turns of different speakers may overlap. Gets the run's speaker embedder."""

    name: ClassVar[str]

    def __init__(self, settings: Settings, models: ModelStore, embedder: SpeakerEmbedder) -> None: ...

    def diarize(self, audio: Audio, num_speakers: int | None = None) -> Diarization: ...


@runtime_checkable
class Transcriber(Protocol):
    """Speech to text over the given speech regions only, words with absolute times."""

    name: ClassVar[str]

    def __init__(self, settings: Settings, models: ModelStore) -> None: ...

    def transcribe(self, audio: Audio, regions: Ranges) -> list[Word]: ...


@runtime_checkable
class ActiveSpeaker(Protocol):
    """Scores whether a face is speaking in each frame of its track, from face crops at ``fps``
    and audio features (``features()`` streams 16 kHz samples to rows at ``rows_per_second``)."""

    name: ClassVar[str]
    fps: ClassVar[int]
    rows_per_second: ClassVar[int]

    def __init__(self, settings: Settings, models: ModelStore) -> None: ...

    def features(self) -> Any: ...  # an object with feed(samples) and finish() -> (rows, dims) array

    def crop(self, image_bgr: np.ndarray, box: np.ndarray) -> np.ndarray: ...

    def score(self, crops: np.ndarray, features: np.ndarray) -> np.ndarray: ...


@runtime_checkable
class Exporter(Protocol):
    """Writes a run's results into ``out_dir``; returns the files it wrote."""

    name: ClassVar[str]

    def export(self, result: RunResult, out_dir: Path) -> list[Path]: ...


CONTRACTS: dict[PluginKind, Any] = {
    PluginKind.DETECTOR: Detector,
    PluginKind.TRACKER: Tracker,
    PluginKind.RECOGNIZER: Recognizer,
    PluginKind.VAD: VAD,
    PluginKind.SPEAKER_EMBEDDER: SpeakerEmbedder,
    PluginKind.DIARIZER: Diarizer,
    PluginKind.TRANSCRIBER: Transcriber,
    PluginKind.ACTIVE_SPEAKER: ActiveSpeaker,
    PluginKind.EXPORTER: Exporter,
}


def _methods(protocol: Any) -> list[str]:
    """The methods a protocol declares (its own, not object's or Protocol's)."""
    return [n for n, v in vars(protocol).items() if callable(v) and not n.startswith("_")]


def check_contract(kind: PluginKind, cls: Any) -> None:
    """Raise PluginError naming the class and what it lacks to be a ``kind``."""
    who = f"{getattr(cls, '__module__', '?')}.{getattr(cls, '__qualname__', repr(cls))}"
    if not isinstance(cls, type):
        raise PluginError(f"{who} registered as a {kind} is not a class")
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise PluginError(f"{who} registered as a {kind} has no 'name' class attribute to be selected by")
    missing = [m for m in _methods(CONTRACTS[kind]) if not callable(getattr(cls, m, None))]
    if missing:
        raise PluginError(f"{who} registered as a {kind} lacks method {', '.join(m + '()' for m in missing)}")
    options = getattr(cls, "Options", None)
    if options is not None and not callable(getattr(options, "model_validate", None)):
        raise PluginError(f"{who}.Options must be a pydantic model of the plugin's settings")
