"""The stored rows: one record type per stage output. Each field is declared once, with the
pyarrow type it is stored as; the table schema is derived from the annotations."""

from __future__ import annotations

import typing
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Annotated, Any, ClassVar

import pyarrow as pa

# Field types: the Python type for code, the pyarrow type for storage.
I32 = Annotated[int, pa.int32()]
I64 = Annotated[int, pa.int64()]
F32 = Annotated[float, pa.float32()]
F64 = Annotated[float, pa.float64()]
Str = Annotated[str, pa.string()]
Bool = Annotated[bool, pa.bool_()]
OptStr = Annotated[str | None, pa.string()]
OptF64 = Annotated[float | None, pa.float64()]
OptF32 = Annotated[float | None, pa.float32()]
Vector = Annotated[list[float], pa.list_(pa.float32())]
Landmarks = Annotated[list[float], pa.list_(pa.float32(), 10)]  # 5 points x,y


def keyed(*columns: tuple[str, pa.DataType]) -> pa.Schema:
    """A table schema: every stored row carries its episode and the run that wrote it."""
    return pa.schema([("episode_id", pa.string()), ("run_id", pa.string()), *columns])


class Record:
    """Mixin: rows <-> dicts <-> pyarrow tables; ``schema`` is built from the annotated fields."""

    schema: ClassVar[pa.Schema]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.schema = _LazySchema()  # type: ignore[assignment]  # annotations resolve once the module is loaded

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def to_table(cls, rows: Sequence[Any], **extra: Any) -> pa.Table:
        """Rows (plus constant columns such as episode_id) as a table with the full schema."""
        names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
        if callable(getattr(rows, "columns", None)):  # rows kept as columns (DetectionTable): no object per row
            cols: dict[str, Any] = rows.columns()  # type: ignore[attr-defined]
        else:
            cols = {n: [getattr(r, n) for r in rows] for n in names}
        for k, v in extra.items():
            cols[k] = [v] * len(rows)
        return pa.table({f.name: cols[f.name] for f in cls.schema}, schema=cls.schema)


class _LazySchema:
    """Descriptor: the class's keyed pyarrow schema, derived from its field annotations on first use."""

    def __get__(self, obj: Any, cls: type) -> pa.Schema:
        hints = typing.get_type_hints(cls, include_extras=True)
        columns = []
        for f in fields(cls):  # type: ignore[arg-type]
            meta = getattr(hints[f.name], "__metadata__", ())
            if not meta or not isinstance(meta[0], pa.DataType):
                raise TypeError(f"{cls.__name__}.{f.name} needs a storage type (e.g. F32, Str)")
            columns.append((f.name, meta[0]))
        schema = keyed(*columns)
        cls.schema = schema  # type: ignore[attr-defined]  # cache on the class
        return schema


@dataclass
class Detection(Record):
    """One face found in one sampled frame."""

    frame_index: I64
    t: F64  # seconds, from the frame's PTS
    duration: F64  # seconds this sample stands for (its sampling period)
    shot_id: I32
    x1: F32
    y1: F32
    x2: F32
    y2: F32
    score: F32
    landmarks: Landmarks  # right eye, left eye, nose, right mouth corner, left mouth corner
    track_id: I64 = -1
    quality: F32 = 0.0
    mouth_motion: F32 = 0.0  # mean grey-level change of the aligned mouth region since the track's last sample
    detection_id: I64 = -1  # stable id within the episode (reviews move detections between tracks)
    speaking: F32 = -1.0  # probability this face is speaking (active speaker model); -1: not scored


@dataclass
class Track(Record):
    """A face followed through one shot."""

    track_id: I64
    shot_id: I32
    start_t: F64
    end_t: F64
    n_detections: I64
    mean_score: F32
    person_id: OptStr = None  # the person it is assigned to for most of its time
    confidence: F32 = 0.0


@dataclass
class FaceEmbedding(Record):
    """An embedding of a facebank photo, a face track, a voice bank clip or a diarized speaker."""

    owner: Str  # "facebank" | "track" | "voicebank" | "speaker"
    owner_id: Str  # person_id for facebank, track id for tracks
    source: Str  # photo path + sha, or "window:<index>"
    model: Str
    vector: Vector
    quality: F32 = 1.0
    t: OptF64 = None


@dataclass
class Assignment(Record):
    """Who a stretch of a track is: person, how sure, how it was decided."""

    track_id: I64
    start_t: F64
    end_t: F64
    person_id: Str
    score: F32  # cosine similarity to the person (clusters: to the cluster centre)
    margin: F32  # over the runner-up person
    method: Str  # "facebank" | "reid" | "cluster" | "manual" | "propagated"
    threshold: F32
    locked: Bool = False
    assignment_id: Str = ""  # stable id within the episode
    label_source: Str = "auto"  # auto | manual | propagated
    confidence: OptF32 = None  # the identity confidence screen time weighs (None: score, as before v4)


@dataclass
class ScreenTime(Record):
    """Per-person totals: the rows of screen_time.json (a contract: extend, never break)."""

    person_id: Str
    visual_s: F64
    speaking_s: F64 = 0.0
    both_s: F64 = 0.0
    confidence: F32 = 0.0


@dataclass
class SpeechSegment(Record):
    """A diarized speaker turn, who it was attributed to, and what was said."""

    turn_id: I64
    start: F64
    end: F64
    speaker: Str  # diarization label, e.g. SPEAKER_00
    person_id: Str  # facebank person, unknown_N, or speaker_N when tied to nobody
    method: Str  # "voicebank" | "cooccurrence" | "unlinked"
    score: F32
    overlap: Bool  # another speaker talks at the same time somewhere in the turn
    text: Str = ""


@dataclass
class TranscriptWord(Record):
    """One recognised word with its time, inside a speech turn (-1: outside every turn)."""

    turn_id: I64
    start: F64
    end: F64
    word: Str
    probability: F32


@dataclass
class AVLink(Record):
    """Which face track a speech turn was attributed to, and why."""

    turn_id: I64
    start: F64
    end: F64
    speaker: Str
    person_id: Str
    track_id: I64  # -1: the person is not on screen during the turn (voice-over)
    method: Str
    score: F32
    on_screen_s: F64  # part of the turn with the person visible
    voice_over_s: F64  # part of the turn with the person off screen


@dataclass
class HistoryEntry(Record):
    """One review edit (or undo), never rewritten: rows before and after, who, when, why."""

    change_id: Str
    seq: I64
    op: Str
    args: Str  # JSON
    who: Str
    at: Str  # ISO 8601, UTC
    reason: Str
    before: Str  # JSON list of rows
    after: Str  # JSON list of rows
    undoes: Str = ""  # change_id this entry reverts
