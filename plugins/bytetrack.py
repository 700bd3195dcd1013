"""ByteTrack from roboflow's `trackers` (no torch), with landmarks and scores carried along."""

from __future__ import annotations

from collections import deque

import numpy as np
import supervision as sv
from trackers import ByteTrackTracker

from screenalytics import hookimpl
from screenalytics.config import Settings


class ByteTrack:
    """ByteTrack (two-stage IoU association with a Kalman filter)."""

    name = "bytetrack"

    def __init__(self, settings: Settings, frame_rate: float) -> None:
        cfg = settings.tracking
        self.min_iou = cfg.minimum_iou_threshold
        self._tracker = ByteTrackTracker(
            lost_track_buffer=max(1, round(cfg.lost_track_s * 30)),  # counted in 30 fps frames
            frame_rate=frame_rate,
            track_activation_threshold=cfg.track_activation_threshold,
            minimum_consecutive_frames=cfg.minimum_consecutive_frames,
            minimum_iou_threshold=cfg.minimum_iou_threshold,
            high_conf_det_threshold=cfg.high_conf_det_threshold,
        )
        self._seen: set[int] = set()
        # Detections that were not (yet) on a confirmed track, newest last: a track's first
        # sightings are reported with id -1 by ByteTrack and are recovered from here.
        self._pending: deque[sv.Detections] = deque(maxlen=cfg.minimum_consecutive_frames + 1)

    def update(self, detections: sv.Detections, timestamp: float) -> sv.Detections:
        out = self._tracker.update(detections, timestamp=timestamp)
        if len(out) == 0:
            self._pending.append(out)
            return out
        ids = out.tracker_id
        tracked = out[ids >= 0]
        backfilled = [
            self._backfill(int(tid), box) for tid, box in zip(tracked.tracker_id, tracked.xyxy) if tid not in self._seen
        ]
        self._seen.update(int(i) for i in tracked.tracker_id)
        self._pending.append(out[ids < 0])
        parts = [d for d in backfilled if len(d)] + [tracked]
        return sv.Detections.merge(parts) if len(parts) > 1 else tracked

    def _backfill(self, tracker_id: int, box: np.ndarray) -> sv.Detections:
        """Claim the pending detections a newly confirmed track grew from, walking back in time."""
        found = []
        for i in range(len(self._pending) - 1, -1, -1):
            cand = self._pending[i]
            if len(cand) == 0:
                break
            iou = sv.box_iou_batch(box[None, :], cand.xyxy)[0]
            j = int(np.argmax(iou))
            if iou[j] < self.min_iou:
                break
            hit = cand[j : j + 1]
            hit.tracker_id = np.array([tracker_id])
            found.append(hit)
            keep = np.ones(len(cand), dtype=bool)
            keep[j] = False
            self._pending[i] = cand[keep]
            box = hit.xyxy[0]
        return sv.Detections.merge(found[::-1]) if found else sv.Detections.empty()


@hookimpl
def register_trackers(register):  # type: ignore[no-untyped-def]
    register(ByteTrack)
