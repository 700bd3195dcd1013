"""Faces in a frame: the Detections container detectors fill, alignment, and the quality cues
(score, size, sharpness, yaw, mouth motion) that decide which faces vouch for a track."""

from __future__ import annotations

import cv2
import numpy as np
import supervision as sv

from screenalytics.config import DetectionConfig, QualityConfig
from screenalytics.errors import ScreenalyticsError
from screenalytics.model.contracts import Recognizer
from screenalytics.model.media import Frame

LANDMARKS = "landmarks"


def downscale(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize down at a fraction of INTER_AREA's cost where it buys nothing: above half size
    bilinear already reads every source pixel (720p to 960 px: 0.4 ms against 2 ms); for strong
    reductions whole pixel steps are dropped first and the rest averaged (720p to 160 px: 0.2 ms
    against 0.6 ms)."""
    h, w = image.shape[:2]
    step = int(min(w / width, h / height) // 2)
    if step >= 2:
        image = image[::step, ::step]
    interpolation = cv2.INTER_LINEAR if width * 2 >= image.shape[1] else cv2.INTER_AREA
    return cv2.resize(image, (width, height), interpolation=interpolation)


def detection_scale(height: int, width: int, cfg: DetectionConfig) -> float:
    """How much a whole frame is shrunk before detecting: to ``max_side``, but never below
    ``min_scale`` (a face just big enough to be recognised must stay big enough to be found)."""
    return min(1.0, max(cfg.max_side / max(height, width), cfg.min_scale))


def scaled(image: np.ndarray, scale: float) -> tuple[np.ndarray, float]:
    """The image shrunk by ``scale`` (left as it is at 1 or more), and the scale used."""
    if scale >= 1.0:
        return image, 1.0
    h, w = image.shape[:2]
    return downscale(image, round(w * scale), round(h * scale)), scale


def shrink_for_detection(image: np.ndarray, cfg: DetectionConfig) -> tuple[np.ndarray, float]:
    """The frame as a detector sees it, and the scale used (see ``detection_scale``)."""
    return scaled(image, detection_scale(*image.shape[:2], cfg))


def shrink(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """Downscale so the longer side is at most ``max_side``; returns the image and the scale used."""
    return scaled(image, max_side / max(image.shape[:2]))


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


def yaw_ratio(landmarks: np.ndarray) -> float:
    """|nose offset from the eye midpoint| / eye distance: ~0 frontal, towards 1+ in profile."""
    lm = np.asarray(landmarks, dtype=np.float32).reshape(5, 2)
    eyes = lm[1] - lm[0]
    dist = float(np.linalg.norm(eyes))
    if dist < 1e-3:
        return 10.0
    axis = eyes / dist
    offset = float(np.dot(lm[2] - (lm[0] + lm[1]) / 2, axis))
    return abs(offset) / dist


def sharpness(crop_bgr: np.ndarray) -> float:
    """Variance of the Laplacian of the grey crop: low means blurred."""
    grey = cv2.cvtColor(crop_bgr, cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def assess(score: float, box: np.ndarray, landmarks: np.ndarray, crop_bgr: np.ndarray, cfg: QualityConfig) -> tuple[bool, float]:
    """(passes the gate, weight in [0,1]) for one face."""
    size = float(min(box[2] - box[0], box[3] - box[1]))
    yaw = yaw_ratio(landmarks)
    sharp = sharpness(crop_bgr)
    passes = score >= cfg.min_score and size >= cfg.min_face_px and sharp >= cfg.min_sharpness and yaw <= cfg.max_yaw
    w_size = min(1.0, size / max(2.0 * cfg.min_face_px, 1.0))
    w_sharp = min(1.0, sharp / max(2.0 * cfg.min_sharpness, 1e-6))
    w_yaw = max(0.05, 1.0 - yaw / max(2.0 * cfg.max_yaw, 1e-6))
    return passes, float(score * w_size * w_sharp * w_yaw)


# In the 112x112 ArcFace-aligned crop the mouth corners sit near (41, 92) and (71, 92).
MOUTH = (slice(80, 108), slice(30, 82))
UPPER = (slice(30, 62), slice(24, 88))


def mouth_motion(previous: np.ndarray | None, current: np.ndarray) -> float:
    """Grey-level change of the mouth region between two aligned crops of one track, minus the
    change of the eye region (so camera motion and lighting shifts do not read as talking)."""
    if previous is None:
        return 0.0
    a = cv2.cvtColor(previous, cv2.COLOR_BGR2GRAY).astype(np.float32)
    b = cv2.cvtColor(current, cv2.COLOR_BGR2GRAY).astype(np.float32)
    diff = np.abs(a - b)
    return max(0.0, float(diff[MOUTH].mean() - diff[UPPER].mean()))


# Image halves of the aligned crop, split at the nose: 1 is the left of the image, 2 the right
# (``hidden_side`` reads each half a few pixels clear of the split; ``cover_side`` paints up to it).
NOSE_X = 56
HALVES = {1: (slice(12, 108), slice(4, NOSE_X - 4)), 2: (slice(12, 108), slice(NOSE_X + 4, 108))}


def hidden_side(crop_bgr: np.ndarray, flat_share: float, other_ratio: float) -> int:
    """Which half of an aligned face a flat cover hides: 0 none, 1 the image's left, 2 its right.

    A box, a hand or a door frame over one side reads as pixels with no local texture (5x5
    variance under 4 grey levels) across most of that half, while the other half keeps the skin,
    eyes and hair: a half counts as hidden when at least ``flat_share`` of it is flat and the other
    half has at most ``other_ratio`` times as much (on the evaluation episodes: 126 of 127 side-box
    faces, none of 1,469 open, two-person and distractor faces)."""
    grey = cv2.cvtColor(crop_bgr, cv2.COLOR_BGR2GRAY).astype(np.float32)
    mean = cv2.blur(grey, (5, 5))
    flat = (cv2.blur(grey * grey, (5, 5)) - mean * mean) < 4.0
    share = {side: float(flat[rows, cols].mean()) for side, (rows, cols) in HALVES.items()}
    for side, other in ((1, 2), (2, 1)):
        if share[side] >= flat_share and share[other] <= other_ratio * share[side]:
            return side
    return 0


def cover_side(crop_bgr: np.ndarray, side: int) -> np.ndarray:
    """The aligned face with one half (``hidden_side``'s numbering) painted mid-grey, so two faces
    hidden on the same side are compared on what both show, whatever colour hid them."""
    out = crop_bgr.copy()
    if side == 1:
        out[:, :NOSE_X] = 128
    elif side == 2:
        out[:, NOSE_X:] = 128
    return out


def annotate(dets: sv.Detections, frame: Frame, recognizer: Recognizer, cfg: QualityConfig, detector: str) -> None:
    """Attach what later stages need to each detection: aligned crop, quality, timing."""
    n = len(dets)
    if LANDMARKS not in dets.data:
        if n:
            raise ScreenalyticsError(f"detector {detector!r} returned faces without data['landmarks'] (N,5,2)")
        dets.data[LANDMARKS] = np.zeros((0, 5, 2), np.float32)
    if dets.confidence is None:  # a detector without scores: treat every face as certain
        dets.confidence = np.ones(n, np.float32)
    scores = dets.confidence
    crops = [recognizer.align(frame.image, lm) for lm in dets.data[LANDMARKS]]
    assessed = [assess(float(scores[i]), dets.xyxy[i], dets.data[LANDMARKS][i], crops[i], cfg) for i in range(n)]
    dets.data["crop"] = np.stack(crops) if n else np.zeros((0, 112, 112, 3), np.uint8)
    dets.data["passed"] = np.array([a[0] for a in assessed], dtype=bool)
    dets.data["quality"] = np.array([a[1] for a in assessed], dtype=np.float32)
    dets.data["frame_index"] = np.full(n, frame.index, dtype=np.int64)
    dets.data["t"] = np.full(n, frame.t, dtype=np.float64)
    dets.data["duration"] = np.full(n, frame.duration, dtype=np.float64)
