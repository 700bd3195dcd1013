"""Detect where faces are: the whole frame now and then, only around known faces in between.

Faces move little from one frame to the next, so after a full-frame detection the next frames
need the detector only in a window around each face found last: a few small windows cost a
fraction of a full frame, inside a window the face is seen at the video's own resolution, and a
frame with nobody in it costs nothing. A full frame is searched again on every cut, every
``full_every`` frames (new faces), and as soon as a window loses a face it had.
"""

from __future__ import annotations

import numpy as np
import supervision as sv

from screenalytics.config import DetectionConfig
from screenalytics.model.contracts import Detector
from screenalytics.stages.faces import LANDMARKS, make_detections

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in frame pixels


def windows_around(boxes: np.ndarray, width: int, height: int, margin: float, align: int, min_side: int) -> list[Box]:
    """One window per face (``margin`` face-sizes on each side), overlapping windows merged,
    sides rounded up to ``align`` pixels so the detector sees few distinct input sizes."""
    out: list[list[int]] = []
    for x0, y0, x1, y1 in boxes:
        side = max(x1 - x0, y1 - y0)
        pad = margin * side
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        half = max(side / 2 + pad, min_side / 2)
        out.append([int(cx - half), int(cy - half), int(np.ceil(cx + half)), int(np.ceil(cy + half))])
    merged = True
    while merged:  # union windows that overlap until none do (few faces: quadratic is fine)
        merged = False
        for i in range(len(out)):
            for j in range(i + 1, len(out)):
                a, b = out[i], out[j]
                if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]:
                    out[i] = [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])]
                    del out[j]
                    merged = True
                    break
            if merged:
                break
    boxes_out: list[Box] = []
    for x0, y0, x1, y1 in out:
        w = min(width, -(-(x1 - x0) // align) * align)
        h = min(height, -(-(y1 - y0) // align) * align)
        x0 = min(max(0, x0), width - w)
        y0 = min(max(0, y0), height - h)
        boxes_out.append((x0, y0, x0 + w, y0 + h))
    return boxes_out


class SparseDetector:
    """Wraps any detector plugin; call ``detect`` once per analysed frame, in order."""

    def __init__(self, detector: Detector, cfg: DetectionConfig) -> None:
        self.detector, self.cfg = detector, cfg
        self.last: sv.Detections | None = None
        self.since_full = 0
        self.force_full = True
        self.full_frames = 0
        self.window_frames = 0

    def detect(self, image: np.ndarray, new_shot: bool) -> sv.Detections:
        every = self.cfg.full_every
        if every <= 1 or new_shot or self.force_full or self.last is None or self.since_full >= every - 1:
            dets = self.detector.detect(image)
            self.since_full, self.force_full = 0, False
            self.full_frames += 1
        else:
            dets = self._in_windows(image, self.last)
            self.since_full += 1
            self.window_frames += 1
            if len(dets) < len(self.last):  # a face was lost (occluded, left, moved fast): look everywhere next
                self.force_full = True
        self.last = dets
        return dets

    def _in_windows(self, image: np.ndarray, last: sv.Detections) -> sv.Detections:
        if len(last) == 0:
            return last
        h, w = image.shape[:2]
        found = []
        for x0, y0, x1, y1 in windows_around(last.xyxy, w, h, self.cfg.window_margin, 32, self.cfg.window_min_px):
            part = self.detector.detect(np.ascontiguousarray(image[y0:y1, x0:x1]))
            if len(part):
                offset = np.array([x0, y0], dtype=np.float32)
                found.append(
                    make_detections(
                        part.xyxy + np.tile(offset, 2),
                        part.confidence,
                        part.data[LANDMARKS] + offset,
                        min_face_px=self.cfg.min_face_px,
                    )
                )
        if not found:
            return make_detections(np.empty((0, 4)), np.empty(0), np.empty((0, 5, 2)))
        dets = sv.Detections.merge(found) if len(found) > 1 else found[0]
        return dets.with_nms(threshold=self.cfg.nms_threshold, class_agnostic=True) if len(dets) > 1 else dets
