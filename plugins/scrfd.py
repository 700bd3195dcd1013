"""SCRFD face detector through InsightFace's model zoo (InsightFace non-commercial weights)."""

from __future__ import annotations

import numpy as np
import supervision as sv

from screenalytics import hookimpl
from screenalytics.config import Settings
from screenalytics.faces import make_detections, shrink
from screenalytics.model_registry import ModelStore
from screenalytics.runtime import providers


class SCRFDDetector:
    """SCRFD (InsightFace): accurate on small and side-on faces, slower than YuNet."""

    name = "scrfd"

    def __init__(self, settings: Settings, models: ModelStore) -> None:
        from insightface.model_zoo import get_model

        self.cfg = settings.detection
        self.model_path = models.path(self.cfg.models.get(self.name, "scrfd-500m"))
        self._model = get_model(str(self.model_path), providers=providers(settings.runtime))
        size = self.cfg.scrfd_input_size
        self._input_size = (size, size)
        self._model.prepare(
            ctx_id=-1, input_size=self._input_size, det_thresh=self.cfg.score_threshold, nms_thresh=self.cfg.nms_threshold
        )

    def detect(self, frame_bgr: np.ndarray) -> sv.Detections:
        image, scale = shrink(frame_bgr, self.cfg.max_side)
        boxes, kps = self._model.detect(image, input_size=self._input_size)
        if boxes is None or len(boxes) == 0:
            return make_detections(np.empty((0, 4)), np.empty(0), np.empty((0, 5, 2)))
        return make_detections(boxes[:, :4], boxes[:, 4], kps, scale, self.cfg.min_face_px)


@hookimpl
def register_detectors(register):  # type: ignore[no-untyped-def]
    register(SCRFDDetector)
