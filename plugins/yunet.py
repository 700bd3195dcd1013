"""YuNet face detector through OpenCV's FaceDetectorYN (Apache-2.0): the default detector."""

from __future__ import annotations

import cv2
import numpy as np
import supervision as sv
from pydantic import BaseModel

from screenalytics import hookimpl
from screenalytics.config import Settings
from screenalytics.errors import ModelLoadError
from screenalytics.registry.models import ModelFile, ModelSpec, ModelStore
from screenalytics.stages.faces import make_detections, shrink_for_detection

# OpenCV 5 warns on every net it builds that graph targets are unsupported; not actionable here.
if hasattr(cv2, "utils") and hasattr(cv2.utils, "logging"):
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)


class YuNetDetector:
    """YuNet (OpenCV Zoo): fast CPU face detector with 5 landmarks."""

    name = "yunet"

    class Options(BaseModel, extra="forbid"):
        model: str = "yunet-2023mar"  # a registered model name or an .onnx path

    def __init__(self, settings: Settings, models: ModelStore) -> None:
        self.cfg = settings.detection
        name = settings.options_for(type(self)).model
        self.model_path = models.path(name)
        try:
            self._net = cv2.FaceDetectorYN.create(
                str(self.model_path), "", (320, 320), self.cfg.score_threshold, self.cfg.nms_threshold, self.cfg.top_k
            )
        except cv2.error as e:
            raise ModelLoadError.of(self.model_path, e) from None
        self._size: tuple[int, int] = (320, 320)
        # OpenCV's DNN module with its default backend and target: the CPU, whatever runtime.providers says
        models.record(name, self.model_path, "opencv", ["CPU"], ["CPU"], settings.runtime.require_gpu)

    def detect(self, frame_bgr: np.ndarray) -> sv.Detections:
        image, scale = shrink_for_detection(frame_bgr, self.cfg)
        h, w = image.shape[:2]
        if (w, h) != self._size:
            self._net.setInputSize((w, h))
            self._size = (w, h)
        _, faces = self._net.detect(image)
        if faces is None or len(faces) == 0:
            return make_detections(np.empty((0, 4)), np.empty(0), np.empty((0, 5, 2)))
        xywh = faces[:, :4]
        boxes = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:4]], axis=1)
        return make_detections(boxes, faces[:, 14], faces[:, 4:14], scale, self.cfg.min_face_px)


@hookimpl
def register_detectors(register):  # type: ignore[no-untyped-def]
    register(YuNetDetector)


@hookimpl
def register_models(register):  # type: ignore[no-untyped-def]
    register(
        ModelSpec(
            "yunet-2023mar",
            "detector",
            "YuNet face detector with 5 landmarks (OpenCV Zoo)",
            "Apache-2.0",
            "https://github.com/opencv/opencv_zoo/tree/main/models/face_detection_yunet",
            (
                ModelFile(
                    "face/face_detection_yunet_2023mar.onnx",
                    "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
                    "https://github.com/opencv/opencv_zoo/raw/main/models/face_detection_yunet/face_detection_yunet_2023mar.onnx",
                ),
            ),
            default=True,
        )
    )
