"""SCRFD face detector through InsightFace's model zoo (InsightFace non-commercial weights)."""

from __future__ import annotations

import numpy as np
import supervision as sv
from pydantic import BaseModel, Field

from screenalytics import hookimpl
from screenalytics.config import Settings
from screenalytics.registry.models import ModelFile, ModelSpec, ModelStore
from screenalytics.runtime import providers, uses_gpu
from screenalytics.stages.faces import make_detections, shrink_for_detection

INSIGHTFACE = "https://github.com/deepinsight/insightface/tree/master/python-package"
NON_COMMERCIAL = "InsightFace models are for non-commercial research use"


class SCRFDDetector:
    """SCRFD (InsightFace): accurate on small and side-on faces, slower than YuNet."""

    name = "scrfd"

    class Options(BaseModel, extra="forbid"):
        model: str = "scrfd-500m"  # scrfd-500m | scrfd-2.5g | an .onnx path
        input_size: int = Field(640, ge=32)  # square network input; frames are letterboxed to it

    def __init__(self, settings: Settings, models: ModelStore) -> None:
        from insightface.model_zoo import get_model

        self.cfg = settings.detection
        options = settings.options_for(type(self))
        self.model_path = models.path(options.model)
        self._model = get_model(str(self.model_path), providers=providers(settings.runtime))
        size = options.input_size
        self._input_size = (size, size)
        self._model.prepare(  # ctx_id -1 would move the session to the CPU provider, whatever it was given
            ctx_id=0 if uses_gpu(settings.runtime) else -1,
            input_size=self._input_size,
            det_thresh=self.cfg.score_threshold,
            nms_thresh=self.cfg.nms_threshold,
        )
        # recorded after prepare(), which can move insightface's session to another provider
        runtime = settings.runtime
        used = self._model.session.get_providers()
        models.record(options.model, self.model_path, "onnxruntime", runtime.providers, used, runtime.require_gpu)

    def detect(self, frame_bgr: np.ndarray) -> sv.Detections:
        image, scale = shrink_for_detection(frame_bgr, self.cfg)
        boxes, kps = self._model.detect(image, input_size=self._input_size)
        if boxes is None or len(boxes) == 0:
            return make_detections(np.empty((0, 4)), np.empty(0), np.empty((0, 5, 2)))
        return make_detections(boxes[:, :4], boxes[:, 4], kps, scale, self.cfg.min_face_px)


@hookimpl
def register_detectors(register):  # type: ignore[no-untyped-def]
    register(SCRFDDetector)


@hookimpl
def register_models(register):  # type: ignore[no-untyped-def]
    for name, pack, file, sha, what in (
        ("scrfd-500m", "buffalo_sc", "det_500m.onnx", "5e4447f50245bbd7966bd6c0fa52938c61474a04ec7def48753668a9d8b4ea3a", ""),
        (
            "scrfd-2.5g",
            "buffalo_m",
            "det_2.5g.onnx",
            "041f73f47371333d1d17a6fee6c8ab4e6aecabefe398ff32cca4e2d5eaee0af9",
            ", slower",
        ),
    ):
        url = f"https://github.com/deepinsight/insightface/releases/download/v0.7/{pack}.zip"
        register(
            ModelSpec(
                name,
                "detector",
                f"SCRFD face detector (InsightFace {pack} pack){what}",
                NON_COMMERCIAL,
                INSIGHTFACE,
                (ModelFile(f"face/{file}", sha, url, archive_member=file),),
            )
        )
