"""ArcFace-style ONNX recognizers (512-d default, 128-d MobileFaceNet) with 5-point alignment."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from insightface.utils import face_align

from screenalytics import hookimpl
from screenalytics.config import Settings
from screenalytics.model.vectors import normalise
from screenalytics.registry.models import ModelFile, ModelSpec, ModelStore
from screenalytics.runtime import session, uses_gpu, with_dynamic_batch

CROP = 112


class ArcFaceRecognizer:
    """ArcFace-convention ONNX embedder: aligned 112x112 crop in, L2-normalised vector out."""

    name = "arcface"

    def __init__(self, settings: Settings, models: ModelStore) -> None:
        cfg = settings.recognition
        self.model_name = cfg.model
        spec = models.spec(cfg.model) if cfg.model in models.registry else None
        params = spec.params if spec else {}
        self.mean = float(params.get("input_mean", 127.5))
        self.std = float(params.get("input_std", 127.5))
        self.rgb = bool(params.get("rgb", True))
        self.batch_size = cfg.batch_size
        path = models.path(cfg.model)
        self._sess = models.session(cfg.model, settings.runtime)
        inp = self._sess.get_inputs()[0]
        self._input = inp.name
        self._fixed_batch = inp.shape[0] if isinstance(inp.shape[0], int) else None
        self.dim = int(self._sess.get_outputs()[0].shape[-1])
        wants_batches = cfg.dynamic_batch == "on" or (cfg.dynamic_batch == "auto" and uses_gpu(settings.runtime))
        if self._fixed_batch == 1 and wants_batches:
            self._try_dynamic_batch(path, settings)

    def _try_dynamic_batch(self, path: Path, settings: Settings) -> None:
        """Swap in a batch-capable copy of the model if it gives the same embeddings."""
        rewritten = with_dynamic_batch(path)
        if rewritten is None:
            return
        try:
            candidate = session(rewritten, settings.runtime)
            probe = np.random.default_rng(0).uniform(-1, 1, (2, 3, CROP, CROP)).astype(np.float32)
            batched = candidate.run(None, {self._input: probe})[0]
        except Exception:  # onnxruntime rejects the rewrite: keep the original model
            return
        single = np.concatenate([self._sess.run(None, {self._input: probe[i : i + 1]})[0] for i in range(2)])
        if batched.shape == single.shape and np.allclose(batched, single, atol=1e-4):
            self._sess, self._fixed_batch = candidate, None

    @property
    def batch_limit(self) -> int | None:
        """Faces per model call the loaded model accepts (None: any number)."""
        return self._fixed_batch

    def align(self, image_bgr: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """Warp the face onto the ArcFace 5-point template (112x112)."""
        with warnings.catch_warnings():
            # insightface calls a scikit-image API that warns on every call; the result is unchanged.
            warnings.simplefilter("ignore", FutureWarning)
            return face_align.norm_crop(image_bgr, np.asarray(landmarks, dtype=np.float32).reshape(5, 2), CROP)

    def embed(self, crops_bgr: np.ndarray) -> np.ndarray:
        """Embed a batch of aligned crops (N,112,112,3 BGR uint8) as unit vectors (N,dim)."""
        crops = np.asarray(crops_bgr)
        if len(crops) == 0:
            return np.zeros((0, self.dim), np.float32)
        x = crops[..., ::-1] if self.rgb else crops
        x = ((x.astype(np.float32) - self.mean) / self.std).transpose(0, 3, 1, 2)
        step = self._fixed_batch or self.batch_size
        out = np.concatenate(
            [self._sess.run(None, {self._input: np.ascontiguousarray(x[i : i + step])})[0] for i in range(0, len(x), step)]
        )
        return normalise(out)


@hookimpl
def register_recognizers(register):  # type: ignore[no-untyped-def]
    register(ArcFaceRecognizer)


@hookimpl
def register_models(register):  # type: ignore[no-untyped-def]
    faceplugin = "https://github.com/Faceplugin-ltd/FaceRecognition-LivenessDetection-Javascript"
    insightface = "https://github.com/deepinsight/insightface/tree/master/python-package"
    register(
        ModelSpec(
            "faceplugin-512d",
            "recognizer",
            "ArcFace-style 512-d face embedding",
            "MIT",
            f"{faceplugin} (model/fr_feature.onnx; also npm faceplugin-face-recognition-js 0.0.1)",
            (
                ModelFile(
                    "face/faceplugin_fr_feature_512d.onnx",
                    "87aacdfe57510db2af90c0251df680e8eec88f122ee94712121d09bcaaaf3581",
                    f"{faceplugin}/raw/main/model/fr_feature.onnx",
                ),
            ),
            params={"dim": 512, "input_mean": 127.0, "input_std": 128.0, "rgb": True},
            default=True,
        )
    )
    register(
        ModelSpec(
            "mobilefacenet-128d",
            "recognizer",
            "MobileFaceNet 128-d face embedding (faster, slightly weaker)",
            "none stated",
            "MobileFaceNet, an ArcFace-aligned ONNX export of undocumented origin: no public download known",
            (ModelFile("face/mobilefacenet_128d.onnx", "f055d9c9a4d826d198c42666590fdefa0fdc1374a75ccb6306c3d1b1bf8f74c5"),),
            params={"dim": 128, "input_mean": 127.5, "input_std": 127.5, "rgb": True},
        )
    )
    register(
        ModelSpec(
            "arcface-r50",
            "recognizer",
            "InsightFace ArcFace ResNet-50 (w600k_r50 from the buffalo_l pack)",
            "InsightFace models are for non-commercial research use",
            insightface,
            (
                ModelFile(
                    "face/w600k_r50.onnx",
                    url="https://github.com/deepinsight/insightface/releases/download/v0.7/buffalo_l.zip",
                    archive_member="w600k_r50.onnx",
                ),
            ),
            params={"dim": 512, "input_mean": 127.5, "input_std": 127.5, "rgb": True},
        )
    )
