"""Windowed detection between full frames: the same faces as a full-frame search, for less work."""

from __future__ import annotations

import numpy as np
import supervision as sv

from screenalytics.config import load_settings
from screenalytics.stages.decode import iter_frames, probe
from screenalytics.stages.sparse_detect import SparseDetector, windows_around
from tests.conftest import VIDEO


def test_windows_cover_each_face_merge_when_they_overlap_and_stay_inside_the_frame() -> None:
    boxes = np.array([[100, 100, 140, 140], [150, 110, 190, 150], [600, 300, 640, 340]], dtype=np.float32)
    wins = windows_around(boxes, 640, 360, margin=1.0, align=32, min_side=96)
    assert len(wins) == 2  # the first two faces' windows overlap and are merged
    for x0, y0, x1, y1 in wins:
        assert 0 <= x0 < x1 <= 640 and 0 <= y0 < y1 <= 360
        assert (x1 - x0) % 32 == 0 or x1 - x0 == 640
    for bx in boxes:  # every face lies inside a window
        assert any(w[0] <= bx[0] and w[1] <= bx[1] and bx[2] <= w[2] and bx[3] <= w[3] for w in wins)


class Counting:
    """The real detector, counting the pixels it is asked to search."""

    def __init__(self, inner: object) -> None:
        self.inner, self.pixels = inner, 0

    def detect(self, image: np.ndarray) -> sv.Detections:
        self.pixels += image.shape[0] * image.shape[1]
        return self.inner.detect(image)  # type: ignore[attr-defined]


def test_windowed_frames_find_the_faces_a_full_search_finds(pipeline) -> None:  # type: ignore[no-untyped-def]
    cfg = load_settings(detection={"full_every": 5}).detection
    full, sparse = Counting(pipeline.detector), Counting(pipeline.detector)
    every = SparseDetector(full, load_settings(detection={"full_every": 1}).detection)
    windowed = SparseDetector(sparse, cfg)
    agree, total = 0, 0
    for frame in iter_frames(probe(VIDEO), stride=1):
        a = every.detect(frame.image, new_shot=False)
        b = windowed.detect(frame.image, new_shot=False)
        big = a[a.area >= 40 * 40]  # faces large enough to matter for identity
        for box in big.xyxy:
            total += 1
            if len(b) and sv.box_iou_batch(box[None], b.xyxy).max() >= 0.7:
                agree += 1
    assert total > 50
    assert agree / total >= 0.95, (agree, total)
    assert windowed.window_frames > windowed.full_frames  # most frames were windowed...
    assert sparse.pixels < 0.8 * full.pixels  # ...and searched fewer pixels (a crowd scene: many windows)
