"""YuNet-s face detector: the small YuNet with a dynamic input size, run through OpenCV.

An example of a third-party plugin: it brings its own settings (``plugins.yunet_s``), its own
model entry (``yunet-s-dynamic``) and a detector class, through one entry point.
"""

from __future__ import annotations

import cv2
import numpy as np
import supervision as sv
from pydantic import BaseModel, Field

from screenalytics import hookimpl
from screenalytics.config import Settings
from screenalytics.registry.models import ModelFile, ModelSpec, ModelStore
from screenalytics.stages.faces import make_detections, shrink


class YuNetSDetector:
    """YuNet-s (dynamic input): a smaller YuNet that detects at a chosen resolution."""

    name = "yunet-s"

    class Options(BaseModel, extra="forbid"):
        model: str = "yunet-s-dynamic"
        score_threshold: float = Field(0.6, gt=0, lt=1)
        detect_side: int = Field(640, ge=64)  # frames are shrunk to at most this long side before detecting

    def __init__(self, settings: Settings, models: ModelStore) -> None:
        self.options = settings.options_for(type(self))
        self.min_face_px = settings.detection.min_face_px
        cfg = settings.detection
        path = str(models.path(self.options.model))
        self._net = cv2.FaceDetectorYN.create(path, "", (320, 320), self.options.score_threshold, cfg.nms_threshold, cfg.top_k)
        self._size = (320, 320)

    def detect(self, frame_bgr: np.ndarray) -> sv.Detections:
        image, scale = shrink(frame_bgr, self.options.detect_side)
        h, w = image.shape[:2]
        if (w, h) != self._size:
            self._net.setInputSize((w, h))
            self._size = (w, h)
        _, faces = self._net.detect(image)
        if faces is None or len(faces) == 0:
            return make_detections(np.empty((0, 4)), np.empty(0), np.empty((0, 5, 2)))
        boxes = np.concatenate([faces[:, :2], faces[:, :2] + faces[:, 2:4]], axis=1)
        return make_detections(boxes, faces[:, 14], faces[:, 4:14], scale, self.min_face_px)


@hookimpl
def register_models(register):  # type: ignore[no-untyped-def]
    register(
        ModelSpec(
            "yunet-s-dynamic",
            "detector",
            "YuNet-s face detector with 5 landmarks, dynamic input size",
            "Apache-2.0",
            "https://github.com/ShiqiYu/libfacedetection.train (YuNet-s, exported with a dynamic input)",
            (ModelFile("face/yunet_s_dynamic.onnx", "daede24002cc8590f457998cc5e6c9e8b82f45f6bd969506a8913cd4ed10a2d3"),),
        )
    )


@hookimpl
def register_detectors(register):  # type: ignore[no-untyped-def]
    register(YuNetSDetector)
