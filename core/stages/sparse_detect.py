"""Detect where faces are: the whole frame now and then, only around known faces in between.

Faces move little from one frame to the next, so after a full-frame detection the next frames
need the detector only in a window around each face found last, scaled to a small fixed size
(the face then spans about a third of it, where the detector is at its best): a few small
windows cost a fraction of a full frame, and a frame with nobody in it costs nothing. A full
frame is searched again on every cut, every ``full_every`` frames (new faces), when the faces
are too many for windows to be cheaper, and as soon as a window loses a face it had.

Between those, faces can also coast: with ``window_every`` k > 1 the windows are searched only on
every k-th frame and the frames between keep the faces of the frame before (a face moves a pixel
or two in 40 ms; what it costs is when a face leaves, which is then seen up to k-1 frames late).
"""

from __future__ import annotations

import cv2
import numpy as np
import supervision as sv

from screenalytics.config import DetectionConfig
from screenalytics.model.contracts import Detector
from screenalytics.stages.faces import LANDMARKS, detection_scale, downscale, make_detections

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in frame pixels
# Detector strides are multiples of 32 (YuNet, SCRFD): a window padded to one wastes nothing and
# keeps the number of distinct input sizes small for runtimes that plan per shape.
WINDOW_STEP = 32


def windows_around(boxes: np.ndarray, width: int, height: int, margin: float, min_side: int) -> list[Box]:
    """One square window per face (``margin`` face-sizes on each side, at least ``min_side``),
    moved inside the frame; a window never exceeds the frame's shorter side."""
    out: list[Box] = []
    for x0, y0, x1, y1 in boxes:
        face = max(x1 - x0, y1 - y0)
        side = int(min(max(face * (1 + 2 * margin), min_side), width, height))
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        left = int(min(max(0, round(cx - side / 2)), width - side))
        top = int(min(max(0, round(cy - side / 2)), height - side))
        out.append((left, top, left + side, top + side))
    return out


class SparseDetector:
    """Wraps any detector plugin; call ``detect`` once per analysed frame, in order."""

    def __init__(self, detector: Detector, cfg: DetectionConfig) -> None:
        self.detector, self.cfg = detector, cfg
        self.last: sv.Detections | None = None
        self.since_full = 0
        self.force_full = True
        self.full_frames = 0
        self.window_frames = 0
        self.coasted_frames = 0
        self.since_search = 0

    def coast(self, new_shot: bool) -> bool:
        """True when this frame need not be searched: the faces of the frame before stand for it.

        Only between window searches (never on a cut, a due full frame or after a lost face), and
        only when there are faces to carry (a frame with nobody in it costs nothing anyway)."""
        k = self.cfg.window_every
        if (
            k <= 1
            or new_shot
            or self.force_full
            or self.last is None
            or len(self.last) == 0
            or self.since_full >= self.cfg.full_every - 1
            or self.since_search >= k - 1
        ):
            return False
        self.since_full += 1
        self.since_search += 1
        self.coasted_frames += 1
        return True

    def detect(self, image: np.ndarray, new_shot: bool) -> sv.Detections:
        every = self.cfg.full_every
        if every <= 1 or new_shot or self.force_full or self.last is None or self.since_full >= every - 1 or self._crowded(image):
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
        self.since_search = 0
        return dets

    def _crowded(self, image: np.ndarray) -> bool:
        """So many faces that their windows hold more pixels than the (shrunk) whole frame."""
        h, w = image.shape[:2]
        frame = detection_scale(h, w, self.cfg) ** 2 * h * w
        side = self.cfg.window_px or min(h, w)
        return self.last is not None and len(self.last) * side * side >= frame

    def _in_windows(self, image: np.ndarray, last: sv.Detections) -> sv.Detections:
        """Each face's window, scaled down to at most ``window_px`` square so faces reach the
        detector at the size it finds them best, not at full resolution, and padded only up to
        the next multiple of ``WINDOW_STEP`` (a small face's window stays small: its cost goes
        with its pixels, and an input size change costs the detector nothing measurable);
        boxes and landmarks are mapped back to frame pixels."""
        if len(last) == 0:
            return last
        h, w = image.shape[:2]
        size = self.cfg.window_px
        found = []
        wins = windows_around(last.xyxy, w, h, self.cfg.window_margin, self.cfg.window_min_px)
        for face, (x0, y0, x1, y1) in zip(last.xyxy, wins):
            part_img = image[y0:y1, x0:x1]
            scale = 1.0
            if size and x1 - x0 > size:
                scale = size / (x1 - x0)
                part_img = downscale(part_img, size, size)
            pad = -part_img.shape[0] % WINDOW_STEP  # windows are square
            if pad:
                part_img = cv2.copyMakeBorder(part_img, 0, pad, 0, pad, cv2.BORDER_CONSTANT)
            part = self.detector.detect(np.ascontiguousarray(part_img))
            if len(part):
                offset = np.array([x0, y0], dtype=np.float32)
                dets = make_detections(
                    part.xyxy / scale + np.tile(offset, 2),
                    part.confidence,
                    part.data[LANDMARKS] / scale + offset,
                    min_face_px=self.cfg.min_face_px,
                )
                # a window follows its own face: new faces are the full frames' to find (a window's
                # crop of the background can fool the detector where the whole frame does not)
                found.append(dets[sv.box_iou_batch(dets.xyxy, face[None])[:, 0] >= self.cfg.window_keep_iou])
        if not found:
            return make_detections(np.empty((0, 4)), np.empty(0), np.empty((0, 5, 2)))
        dets = sv.Detections.merge(found) if len(found) > 1 else found[0]
        return dets.with_nms(threshold=self.cfg.nms_threshold, class_agnostic=True) if len(dets) > 1 else dets
