"""Every face of an episode as columns: one row per face and analysed frame.

An hour of TV holds some 10^5 face-frames. As Python objects (a ``Detection`` with its floats and
landmark list) each costs about 900 bytes, so memory grew with the episode's length; as numpy
columns a row costs 152 bytes. Rows are still read as ``Detection`` objects, made when asked for,
so every consumer that iterates detections keeps working.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, overload

import numpy as np
import pyarrow as pa

from screenalytics.model.records import Detection

# column -> dtype (landmarks: 10 values per row, as the detectors give them: float32)
COLUMNS: dict[str, Any] = {
    "frame_index": np.int64,
    "t": np.float64,
    "duration": np.float64,
    "shot_id": np.int32,
    "x1": np.float64,
    "y1": np.float64,
    "x2": np.float64,
    "y2": np.float64,
    "score": np.float64,
    "landmarks": np.float32,
    "track_id": np.int64,
    "quality": np.float64,
    "mouth_motion": np.float64,
    "detection_id": np.int64,
    "speaking": np.float64,
}
N_LANDMARKS = 10


class DetectionTable(Sequence[Detection]):
    """Detections in growing numpy columns; ``append`` one face at a time, read rows or columns."""

    def __init__(self, capacity: int = 1024) -> None:
        self._n = 0
        # rows are scored in a worker thread while this one appends: growing (new arrays) and
        # those writes must not interleave, or a score written to the old array is lost
        self._lock = threading.Lock()
        self._cols = {name: self._empty(name, max(1, capacity)) for name in COLUMNS}

    @staticmethod
    def _empty(name: str, rows: int) -> np.ndarray:
        shape = (rows, N_LANDMARKS) if name == "landmarks" else (rows,)
        return np.zeros(shape, COLUMNS[name])

    @classmethod
    def of(cls, rows: Iterable[Detection]) -> DetectionTable:
        """A table holding these detections (tests, and results read back as objects)."""
        table = cls()
        for r in rows:
            box = (r.x1, r.y1, r.x2, r.y2)
            table.append(
                r.frame_index, r.t, r.duration, r.shot_id, box, r.score, r.landmarks, r.track_id, r.quality, r.mouth_motion
            )
            table._cols["detection_id"][table._n - 1] = r.detection_id
            table._cols["speaking"][table._n - 1] = r.speaking
        return table

    # -- writing -----------------------------------------------------------------------------------
    def append(
        self,
        frame_index: int,
        t: float,
        duration: float,
        shot_id: int,
        box: Sequence[float] | np.ndarray,
        score: float,
        landmarks: Sequence[float] | np.ndarray,
        track_id: int = -1,
        quality: float = 0.0,
        mouth_motion: float = 0.0,
    ) -> int:
        """Add one face; returns its row index."""
        if self._n == len(self._cols["t"]):
            self._grow()
        i, c = self._n, self._cols
        c["frame_index"][i], c["t"][i], c["duration"][i], c["shot_id"][i] = frame_index, t, duration, shot_id
        c["x1"][i], c["y1"][i], c["x2"][i], c["y2"][i] = box
        c["score"][i] = score
        c["landmarks"][i] = np.asarray(landmarks, np.float32).reshape(-1)
        c["track_id"][i], c["quality"][i], c["mouth_motion"][i] = track_id, quality, mouth_motion
        c["detection_id"][i], c["speaking"][i] = -1, -1.0
        self._n += 1
        return i

    def _grow(self) -> None:
        size = len(self._cols["t"]) * 2
        with self._lock:
            for name, col in list(self._cols.items()):
                self._cols[name] = self._grown(name, col, self._n, size)

    @classmethod
    def _grown(cls, name: str, col: np.ndarray, n: int, size: int) -> np.ndarray:
        new = cls._empty(name, size)
        new[:n] = col[:n]  # numpy may let go of the GIL while it copies: hence the lock around
        return new

    def set(self, name: str, i: int, value: float) -> None:
        """Write one value of a row added earlier (safe from another thread)."""
        with self._lock:
            self._cols[name][i] = value

    def row(self, i: int) -> DetectionRow:
        """A live handle on row ``i`` (later stages set its ``speaking`` and ``duration``)."""
        return DetectionRow(self, i)

    # -- reading -----------------------------------------------------------------------------------
    def column(self, name: str) -> np.ndarray:
        """The column's values (a view: writing to it changes the table)."""
        return self._cols[name][: self._n]

    def __len__(self) -> int:
        return self._n

    @overload
    def __getitem__(self, i: int) -> Detection: ...
    @overload
    def __getitem__(self, i: slice) -> list[Detection]: ...
    def __getitem__(self, i: int | slice) -> Detection | list[Detection]:
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(self._n))]
        if i < 0:
            i += self._n
        if not 0 <= i < self._n:
            raise IndexError(i)
        c = self._cols
        return Detection(
            int(c["frame_index"][i]),
            float(c["t"][i]),
            float(c["duration"][i]),
            int(c["shot_id"][i]),
            float(c["x1"][i]),
            float(c["y1"][i]),
            float(c["x2"][i]),
            float(c["y2"][i]),
            float(c["score"][i]),
            [float(v) for v in c["landmarks"][i]],
            int(c["track_id"][i]),
            float(c["quality"][i]),
            float(c["mouth_motion"][i]),
            int(c["detection_id"][i]),
            float(c["speaking"][i]),
        )

    def __iter__(self) -> Iterator[Detection]:
        return (self[i] for i in range(self._n))

    def take(self, indices: np.ndarray) -> DetectionTable:
        """A new table of these rows, in this order."""
        out = DetectionTable(capacity=max(1, len(indices)))
        for name in COLUMNS:
            out._cols[name][: len(indices)] = self.column(name)[indices]
        out._n = len(indices)
        return out

    def columns(self) -> dict[str, Any]:
        """Column name -> values, for building a stored table without a Python object per row."""
        out: dict[str, Any] = {name: self.column(name) for name in COLUMNS if name != "landmarks"}
        lms = np.ascontiguousarray(self.column("landmarks"))
        out["landmarks"] = pa.FixedSizeListArray.from_arrays(pa.array(lms.reshape(-1)), N_LANDMARKS)
        return out

    # -- pickling (checkpoints): only the filled rows ---------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        return {"n": self._n, "cols": {name: self.column(name).copy() for name in COLUMNS}}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._n = state["n"]
        self._lock = threading.Lock()
        self._cols = {name: state["cols"][name] if self._n else self._empty(name, 1) for name in COLUMNS}


class DetectionRow:
    """One row of a ``DetectionTable`` read and written in place (what the active speaker stage
    and coasting frames update after the row was added)."""

    __slots__ = ("_table", "index")

    def __init__(self, table: DetectionTable, index: int) -> None:
        self._table, self.index = table, index

    @property
    def t(self) -> float:
        return float(self._table.column("t")[self.index])

    @property
    def duration(self) -> float:
        return float(self._table.column("duration")[self.index])

    @duration.setter
    def duration(self, value: float) -> None:
        self._table.set("duration", self.index, value)

    @property
    def speaking(self) -> float:
        return float(self._table.column("speaking")[self.index])

    @speaking.setter
    def speaking(self, value: float) -> None:
        self._table.set("speaking", self.index, value)
