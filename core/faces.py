"""Helpers shared by face detectors: resizing, the Detections container, box filters."""

from __future__ import annotations

import cv2
import numpy as np
import supervision as sv

LANDMARKS = "landmarks"


def shrink(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """Downscale so the longer side is at most ``max_side``; returns the image and the scale used."""
    h, w = image.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale >= 1.0:
        return image, 1.0
    return cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA), scale


def make_detections(
    boxes_xyxy: np.ndarray, scores: np.ndarray, landmarks: np.ndarray, scale: float = 1.0, min_face_px: int = 0
) -> sv.Detections:
    """Build the container every stage passes on, in source-image pixels."""
    boxes = np.asarray(boxes_xyxy, dtype=np.float32).reshape(-1, 4) / scale
    lms = np.asarray(landmarks, dtype=np.float32).reshape(-1, 5, 2) / scale
    scores = np.asarray(scores, dtype=np.float32).reshape(-1)
    if min_face_px:
        keep = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) >= min_face_px
        boxes, lms, scores = boxes[keep], lms[keep], scores[keep]
    return sv.Detections(xyxy=boxes, confidence=scores, data={LANDMARKS: lms})


def largest(dets: sv.Detections) -> int | None:
    """Index of the largest face, or None."""
    if len(dets) == 0:
        return None
    return int(np.argmax(dets.area))
