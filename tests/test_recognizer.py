"""Recognizers on real photos: the same person matches, different people do not."""

import itertools

import cv2
import pytest

from conftest import FACES
from screenalytics.config import load_settings
from screenalytics.registry.models import ModelStore
from screenalytics.registry.plugins import get_implementation
from screenalytics.stages.faces import largest

PAIRS = [
    ("obama.jpg", "obama2.jpg"),
    ("kit_harington_1.jpeg", "kit_harington_2.jpeg"),
    ("rose_leslie_1.jpg", "rose_leslie_2.jpg"),
]


def embed_all(model: str) -> dict[str, "object"]:
    settings = load_settings(recognition={"model": model})
    models = ModelStore(settings.models_dir)
    detector = get_implementation("detector", "yunet")(settings, models)
    rec = get_implementation("recognizer", settings.recognition.recognizer)(settings, models)
    out = {}
    for name in {n for p in PAIRS for n in p}:
        img = cv2.imread(str(FACES / name))
        dets = detector.detect(img)
        crop = rec.align(img, dets.data["landmarks"][largest(dets)])
        out[name] = rec.embed(crop[None])[0]
    assert {v.shape[0] for v in out.values()} == {rec.dim}
    return out


@pytest.mark.parametrize("model", ["faceplugin-512d", "mobilefacenet-128d"])
def test_same_people_match_and_others_do_not(model):
    threshold = load_settings().identification.threshold
    emb = embed_all(model)
    for a, b in PAIRS:
        assert float(emb[a] @ emb[b]) >= threshold, (a, b, float(emb[a] @ emb[b]))
    for (a, b), (c, d) in itertools.combinations(PAIRS, 2):
        for x, y in itertools.product((a, b), (c, d)):
            assert float(emb[x] @ emb[y]) < threshold, (x, y, float(emb[x] @ emb[y]))


@pytest.mark.parametrize("model", ["faceplugin-512d", "mobilefacenet-128d"])
def test_batched_inference_gives_the_same_embeddings(model):
    """The batch-1 models are rewritten for whole batches (used on GPUs); results must not change."""
    import numpy as np

    models = ModelStore(load_settings().models_dir)
    single = get_implementation("recognizer", "arcface")(
        load_settings(recognition={"model": model, "dynamic_batch": "off"}), models
    )
    batched = get_implementation("recognizer", "arcface")(
        load_settings(recognition={"model": model, "dynamic_batch": "on"}), models
    )
    assert single.batch_limit == 1 and batched.batch_limit is None
    crops = np.random.default_rng(1).integers(0, 255, (5, 112, 112, 3), dtype=np.uint8)
    assert np.allclose(single.embed(crops), batched.embed(crops), atol=1e-5)
