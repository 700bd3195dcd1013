"""Hard-cut detection from HSV histograms, so that tracks never span a cut."""

from __future__ import annotations

import cv2
import numpy as np

from screenalytics.config import ShotsConfig
from screenalytics.stages.faces import downscale


class CutDetector:
    """Flags a cut when consecutive sampled frames' hue/saturation histograms differ enough."""

    def __init__(self, cfg: ShotsConfig) -> None:
        self.cfg = cfg
        self._prev: np.ndarray | None = None
        self._last_cut_t = 0.0

    def _hist(self, image_bgr: np.ndarray) -> np.ndarray:
        h, w = image_bgr.shape[:2]
        width = min(self.cfg.resize_width, w)
        small = downscale(image_bgr, width, max(1, round(h * width / w)))
        hsv = cv2.cvtColor(small, cv2.COLOR_BGR2HSV)
        hb, sb = self.cfg.hist_bins
        hist = cv2.calcHist([hsv], [0, 1], None, [hb, sb], [0, 180, 0, 256])
        return cv2.normalize(hist, hist).flatten()

    def is_cut(self, image_bgr: np.ndarray, t: float) -> bool:
        """True when this frame starts a new shot (the first frame never does)."""
        if not self.cfg.enabled:
            return False
        hist = self._hist(image_bgr)
        prev, self._prev = self._prev, hist
        if prev is None:
            return False
        distance = cv2.compareHist(prev, hist, cv2.HISTCMP_BHATTACHARYYA)
        if distance >= self.cfg.threshold and t - self._last_cut_t >= self.cfg.min_shot_s:
            self._last_cut_t = t
            return True
        return False
