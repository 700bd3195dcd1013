"""The data model: one record type per stage output, each with the pyarrow schema it is stored as."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar

import pyarrow as pa


def keyed(*fields: tuple[str, pa.DataType]) -> pa.Schema:
    """A table schema: every stored row carries its episode and the run that wrote it."""
    return pa.schema([("episode_id", pa.string()), ("run_id", pa.string()), *fields])


class Record:
    """Mixin: rows <-> dicts <-> pyarrow tables with the class's schema."""

    schema: ClassVar[pa.Schema]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def to_table(cls, rows: list[Any], **extra: Any) -> pa.Table:
        """Rows (plus constant columns such as episode_id) as a table with the full schema."""
        names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
        cols: dict[str, list[Any]] = {n: [getattr(r, n) for r in rows] for n in names}
        for k, v in extra.items():
            cols[k] = [v] * len(rows)
        return pa.table({f.name: cols[f.name] for f in cls.schema}, schema=cls.schema)


@dataclass
class Detection(Record):
    """One face found in one sampled frame."""

    frame_index: int
    t: float  # seconds, from the frame's PTS
    duration: float  # seconds this sample stands for (its sampling period)
    shot_id: int
    x1: float
    y1: float
    x2: float
    y2: float
    score: float
    landmarks: list[float]  # 5 points x,y: right eye, left eye, nose, right mouth, left mouth
    track_id: int = -1
    quality: float = 0.0
    mouth_motion: float = 0.0  # mean grey-level change of the aligned mouth region since the track's last sample
    detection_id: int = -1  # stable id within the episode (reviews move detections between tracks)

    schema: ClassVar[pa.Schema] = keyed(
        ("frame_index", pa.int64()),
        ("t", pa.float64()),
        ("duration", pa.float64()),
        ("shot_id", pa.int32()),
        ("x1", pa.float32()),
        ("y1", pa.float32()),
        ("x2", pa.float32()),
        ("y2", pa.float32()),
        ("score", pa.float32()),
        ("landmarks", pa.list_(pa.float32(), 10)),
        ("track_id", pa.int64()),
        ("quality", pa.float32()),
        ("mouth_motion", pa.float32()),
        ("detection_id", pa.int64()),
    )


@dataclass
class Track(Record):
    """A face followed through one shot."""

    track_id: int
    shot_id: int
    start_t: float
    end_t: float
    n_detections: int
    mean_score: float
    person_id: str | None = None  # the person it is assigned to for most of its time
    confidence: float = 0.0

    schema: ClassVar[pa.Schema] = keyed(
        ("track_id", pa.int64()),
        ("shot_id", pa.int32()),
        ("start_t", pa.float64()),
        ("end_t", pa.float64()),
        ("n_detections", pa.int64()),
        ("mean_score", pa.float32()),
        ("person_id", pa.string()),
        ("confidence", pa.float32()),
    )


@dataclass
class FaceEmbedding(Record):
    """An embedding of a facebank photo or of a face on a track."""

    owner: str  # "facebank" | "track" | "voicebank" | "speaker"
    owner_id: str  # person_id for facebank, track id for tracks
    source: str  # photo path + sha, or "frame:<index>"
    model: str
    vector: list[float]
    quality: float = 1.0
    t: float | None = None

    schema: ClassVar[pa.Schema] = keyed(
        ("owner", pa.string()),
        ("owner_id", pa.string()),
        ("source", pa.string()),
        ("model", pa.string()),
        ("vector", pa.list_(pa.float32())),
        ("quality", pa.float32()),
        ("t", pa.float64()),
    )


@dataclass
class Assignment(Record):
    """Who a stretch of a track is: person, how sure, how it was decided."""

    track_id: int
    start_t: float
    end_t: float
    person_id: str
    score: float  # cosine similarity to the person (clusters: to the cluster centre)
    margin: float  # over the runner-up person
    method: str  # "facebank" | "cluster" | "manual"
    threshold: float
    locked: bool = False
    assignment_id: str = ""  # stable id within the episode
    label_source: str = "auto"  # auto | manual | propagated

    schema: ClassVar[pa.Schema] = keyed(
        ("track_id", pa.int64()),
        ("start_t", pa.float64()),
        ("end_t", pa.float64()),
        ("person_id", pa.string()),
        ("score", pa.float32()),
        ("margin", pa.float32()),
        ("method", pa.string()),
        ("threshold", pa.float32()),
        ("locked", pa.bool_()),
        ("assignment_id", pa.string()),
        ("label_source", pa.string()),
    )


@dataclass
class ScreenTime(Record):
    """Per-person totals: the rows of screen_time.json (a contract: extend, never break)."""

    person_id: str
    visual_s: float
    speaking_s: float = 0.0
    both_s: float = 0.0
    confidence: float = 0.0

    schema: ClassVar[pa.Schema] = keyed(
        ("person_id", pa.string()),
        ("visual_s", pa.float64()),
        ("speaking_s", pa.float64()),
        ("both_s", pa.float64()),
        ("confidence", pa.float32()),
    )


@dataclass
class SpeechSegment(Record):
    """A diarized speaker turn, who it was attributed to, and what was said."""

    turn_id: int
    start: float
    end: float
    speaker: str  # diarization label, e.g. SPEAKER_00
    person_id: str  # facebank person, unknown_N, or speaker_N when tied to nobody
    method: str  # "voicebank" | "cooccurrence" | "unlinked"
    score: float
    overlap: bool  # another speaker talks at the same time somewhere in the turn
    text: str = ""

    schema: ClassVar[pa.Schema] = keyed(
        ("turn_id", pa.int64()),
        ("start", pa.float64()),
        ("end", pa.float64()),
        ("speaker", pa.string()),
        ("person_id", pa.string()),
        ("method", pa.string()),
        ("score", pa.float32()),
        ("overlap", pa.bool_()),
        ("text", pa.string()),
    )


@dataclass
class TranscriptWord(Record):
    """One recognised word with its time, inside a speech turn (-1: outside every turn)."""

    turn_id: int
    start: float
    end: float
    word: str
    probability: float

    schema: ClassVar[pa.Schema] = keyed(
        ("turn_id", pa.int64()),
        ("start", pa.float64()),
        ("end", pa.float64()),
        ("word", pa.string()),
        ("probability", pa.float32()),
    )


@dataclass
class AVLink(Record):
    """Which face track a speech turn was attributed to, and why."""

    turn_id: int
    start: float
    end: float
    speaker: str
    person_id: str
    track_id: int  # -1: the person is not on screen during the turn (voice-over)
    method: str
    score: float
    on_screen_s: float  # part of the turn with the person visible
    voice_over_s: float  # part of the turn with the person off screen

    schema: ClassVar[pa.Schema] = keyed(
        ("turn_id", pa.int64()),
        ("start", pa.float64()),
        ("end", pa.float64()),
        ("speaker", pa.string()),
        ("person_id", pa.string()),
        ("track_id", pa.int64()),
        ("method", pa.string()),
        ("score", pa.float32()),
        ("on_screen_s", pa.float64()),
        ("voice_over_s", pa.float64()),
    )


@dataclass
class HistoryEntry(Record):
    """One review edit (or undo), never rewritten: rows before and after, who, when, why."""

    change_id: str
    seq: int
    op: str
    args: str  # JSON
    who: str
    at: str  # ISO 8601, UTC
    reason: str
    before: str  # JSON list of rows
    after: str  # JSON list of rows
    undoes: str = ""  # change_id this entry reverts

    schema: ClassVar[pa.Schema] = keyed(
        ("change_id", pa.string()),
        ("seq", pa.int64()),
        ("op", pa.string()),
        ("args", pa.string()),
        ("who", pa.string()),
        ("at", pa.string()),
        ("reason", pa.string()),
        ("before", pa.string()),
        ("after", pa.string()),
        ("undoes", pa.string()),
    )
