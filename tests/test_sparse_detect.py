"""Windowed detection between full frames: the same faces as a full-frame search, for less work."""

from __future__ import annotations

import numpy as np
import supervision as sv

from screenalytics.config import load_settings
from screenalytics.stages.decode import iter_frames, probe
from screenalytics.stages.sparse_detect import SparseDetector, windows_around
from tests.conftest import VIDEO


def test_windows_are_squares_around_each_face_inside_the_frame() -> None:
    boxes = np.array([[100, 100, 140, 140], [150, 110, 190, 150], [600, 300, 640, 340], [0, 0, 300, 350]], dtype=np.float32)
    wins = windows_around(boxes, 640, 360, margin=1.0, min_side=96)
    assert len(wins) == len(boxes)
    assert [w[2] - w[0] for w in wins] == [120, 120, 120, 360]  # 3 face sides; never beyond the shorter frame side
    for (x0, y0, x1, y1), bx in zip(wins, boxes):
        assert 0 <= x0 < x1 <= 640 and 0 <= y0 < y1 <= 360 and x1 - x0 == y1 - y0
        assert x0 <= bx[0] and y0 <= bx[1] and bx[2] <= x1 and min(bx[3], 360) <= y1  # the face lies inside


class Counting:
    """The real detector, counting the pixels it is asked to search and the input sizes."""

    def __init__(self, inner: object) -> None:
        self.inner, self.pixels, self.shapes = inner, 0, set()

    def detect(self, image: np.ndarray) -> sv.Detections:
        self.pixels += image.shape[0] * image.shape[1]
        self.shapes.add(image.shape[:2])
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
    windows = sparse.shapes - {(360, 640)}
    # square windows, never larger than window_px, padded only to a multiple of 32 (small faces stay cheap)
    assert windows and all(h == w and h % 32 == 0 and h <= cfg.window_px for h, w in windows)


class Fixed:
    """A detector that always finds the same one face (to test the search schedule alone)."""

    def __init__(self) -> None:
        self.calls = 0

    def detect(self, image: np.ndarray) -> sv.Detections:
        self.calls += 1
        from screenalytics.stages.faces import make_detections

        box = (
            np.array([[100, 100, 140, 140]], np.float32)
            if image.shape[:2] == (360, 640)
            else np.array([[40, 40, 80, 80]], np.float32)
        )
        return make_detections(box, np.array([0.9]), np.zeros((1, 5, 2), np.float32))


def test_faces_coast_between_window_searches_but_never_over_a_cut_or_a_due_full_frame() -> None:
    cfg = load_settings(detection={"full_every": 5, "window_every": 2}).detection
    sparse = SparseDetector(Fixed(), cfg)
    image = np.zeros((360, 640, 3), np.uint8)
    plan = []
    for i in range(12):
        new_shot = i == 7
        if sparse.coast(new_shot):
            plan.append("c")
            continue
        before = sparse.full_frames
        sparse.detect(image, new_shot)
        plan.append("F" if sparse.full_frames > before else "w")
    # a full frame every 5 frames in time, windows on every other frame between, the cut searched whole
    assert "".join(plan) == "FcwcwFcFcwcw"
    assert sparse.coasted_frames == plan.count("c")


def test_no_coasting_by_default() -> None:
    sparse = SparseDetector(Fixed(), load_settings(detection={"full_every": 5}).detection)
    image = np.zeros((360, 640, 3), np.uint8)
    sparse.detect(image, True)
    assert not any(sparse.coast(False) for _ in range(3))
