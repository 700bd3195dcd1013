"""A face the detector misses for a few frames while its track goes on still counts as seen."""

from __future__ import annotations

import numpy as np

from screenalytics.model.detections import DetectionTable
from screenalytics.stages.identify import _rows_by_track, fill_gaps

FRAME = 0.04


def _table(rows: list[tuple[int, int]]) -> DetectionTable:
    """(frame, track) pairs, one face each, every face lasting one frame."""
    table = DetectionTable()
    for frame, track in rows:
        table.append(frame, frame * FRAME, FRAME, 0, (0, 0, 10, 10), 0.9, np.zeros(10), track)
    return table


def test_short_gaps_inside_a_track_are_filled_and_long_ones_are_not() -> None:
    # track 1: frames 0, 1, then missed 2-4, found at 5, then gone for 2 s; track 2 interleaved
    table = _table([(0, 1), (1, 1), (1, 2), (5, 1), (55, 1), (3, 2)])
    fill_gaps(table, _rows_by_track(table), 1.0)
    d = dict(zip(zip(table.column("frame_index").tolist(), table.column("track_id").tolist()), table.column("duration")))
    assert np.isclose(d[(0, 1)], FRAME) and np.isclose(d[(1, 1)], 4 * FRAME)  # frames 1-4: found once, then missed
    assert np.isclose(d[(5, 1)], FRAME), "a 2 s gap is the face gone, not missed"
    assert np.isclose(d[(1, 2)], 2 * FRAME), "each track is filled on its own"
    assert np.isclose(d[(55, 1)], FRAME) and np.isclose(d[(3, 2)], FRAME)

    off = _table([(0, 1), (1, 1), (5, 1)])
    fill_gaps(off, _rows_by_track(off), 0.0)
    assert np.allclose(off.column("duration"), FRAME)
