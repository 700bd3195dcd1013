"""Face quality from cheap cues, so that only good faces decide who a track is."""

from __future__ import annotations

import cv2
import numpy as np

from screenalytics.config import QualityConfig


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
