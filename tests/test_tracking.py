"""ByteTrack keeps a track's first sighting, its landmarks and scores, and splits at cuts."""

import numpy as np
import supervision as sv

from screenalytics.config import load_settings
from screenalytics.registry.plugins import get_implementation


def _dets(boxes, scores):
    boxes = np.asarray(boxes, np.float32)
    lms = np.tile(boxes[:, None, :2], (1, 5, 1)).astype(np.float32)
    return sv.Detections(
        xyxy=boxes, confidence=np.asarray(scores, np.float32), data={"landmarks": lms, "frame_index": np.full(len(boxes), -1)}
    )


def test_first_sighting_is_kept_with_its_data():
    tracker = get_implementation("tracker", "bytetrack")(load_settings(), 30.0)
    seen: dict[int, list[int]] = {}
    for f in range(6):
        d = _dets([[100 + 2 * f, 100, 160 + 2 * f, 170], [400, 50 + f, 450, 110 + f]], [0.95, 0.9])
        d.data["frame_index"] = np.full(2, f)
        out = tracker.update(d, f / 30)
        assert out.data["landmarks"].shape == (len(out), 5, 2)
        for tid, fi in zip(out.tracker_id, out.data["frame_index"]):
            seen.setdefault(int(tid), []).append(int(fi))
    assert sorted(seen.values()) == [list(range(6)), list(range(6))]


def test_a_one_frame_blip_makes_no_track():
    tracker = get_implementation("tracker", "bytetrack")(load_settings(), 30.0)
    out = tracker.update(_dets([[10, 10, 60, 60]], [0.95]), 0.0)
    out2 = tracker.update(_dets(np.zeros((0, 4)), []), 1 / 30)
    assert len(out) == 0 and len(out2) == 0
