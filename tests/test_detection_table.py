"""Per-face rows kept as columns: the same rows, stored tables and checkpoints as Detection objects,
at a fraction of the memory, and safe to score from the worker thread while rows are appended."""

from __future__ import annotations

import pickle
import threading
import tracemalloc

import numpy as np

from screenalytics.model.detections import DetectionTable
from screenalytics.model.records import Detection


def _rows(n: int, seed: int = 0) -> list[Detection]:
    rng = np.random.default_rng(seed)
    return [
        Detection(
            i,
            i * 0.04,
            0.04,
            i // 50,
            *(float(v) for v in rng.uniform(0, 1280, 4)),
            float(np.float32(rng.uniform())),
            [float(v) for v in rng.uniform(0, 720, 10).astype(np.float32)],
            int(rng.integers(1, 9)),
            float(rng.uniform()),
            float(rng.uniform(0, 20)),
            i,
            float(rng.uniform()),
        )
        for i in range(n)
    ]


def test_rows_tables_and_pickles_match_objects() -> None:
    rows = _rows(3000)  # grows past its first capacity
    table = DetectionTable.of(rows)
    assert len(table) == 3000 and list(table) == rows and table[-1] == rows[-1] and table[10:13] == rows[10:13]
    assert Detection.to_table(table, episode_id="e", run_id="r").equals(Detection.to_table(rows, episode_id="e", run_id="r"))
    back = pickle.loads(pickle.dumps(table))
    assert list(back) == rows
    picked = table.take(np.array([5, 2, 2999]))
    assert list(picked) == [rows[5], rows[2], rows[2999]]
    row = back.row(7)
    row.speaking, row.duration = 0.75, row.duration + 0.04
    assert back[7].speaking == 0.75 and back[7].duration == rows[7].duration + 0.04 and table[7].speaking == rows[7].speaking


def test_memory_per_face_row() -> None:
    tracemalloc.start()
    table = DetectionTable()
    box, marks = np.arange(4, dtype=np.float32), np.arange(10, dtype=np.float32)
    for i in range(100_000):
        table.append(i, i * 0.04, 0.04, 1, box, 0.9, marks, 3, 0.5, 1.0)
    size = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert size / len(table) < 400  # 152 bytes a row plus the growing arrays' slack; objects: ~900


class _Paused(DetectionTable):
    """Stops growing just after the speaking column was copied, until told to go on."""

    copied = threading.Event()
    go_on = threading.Event()

    @classmethod
    def _grown(cls, name: str, col: np.ndarray, n: int, size: int) -> np.ndarray:
        new = super()._grown(name, col, n, size)
        if name == "speaking":
            cls.copied.set()
            cls.go_on.wait(5)
        return new


def test_a_score_written_while_the_table_grows_is_kept() -> None:
    """The active speaker worker scores rows while the pass appends more; a score written while
    the columns move to bigger arrays must land in the new ones, not in the old."""
    table = _Paused(capacity=1)
    first = table.row(table.append(0, 0.0, 0.04, 0, (0, 0, 1, 1), 0.9, np.zeros(10)))
    grower = threading.Thread(target=table.append, args=(1, 0.04, 0.04, 0, (0, 0, 1, 1), 0.9, np.zeros(10)))
    grower.start()
    assert _Paused.copied.wait(5)
    writer = threading.Thread(target=setattr, args=(first, "speaking", 0.5))
    writer.start()
    writer.join(0.2)  # it waits for the growing to finish
    _Paused.go_on.set()
    grower.join(5)
    writer.join(5)
    assert len(table) == 2 and table[0].speaking == 0.5
