"""Both built-in detectors find every face of a real group photo, with 5 landmarks inside the box."""

import cv2
import numpy as np
import pytest

from conftest import FACES
from screenalytics.registry.models import ModelStore
from screenalytics.registry.plugins import get_implementation


@pytest.mark.parametrize("name", ["yunet", "scrfd"])
def test_finds_the_six_faces(name, settings):
    detector = get_implementation("detector", name)(settings, ModelStore(settings.models_dir))
    dets = detector.detect(cv2.imread(str(FACES / "insightface_t1.jpg")))
    assert len(dets) == 6
    assert (dets.confidence >= settings.detection.score_threshold).all()
    lms = dets.data["landmarks"]
    assert lms.shape == (6, 5, 2)
    x1, y1, x2, y2 = (dets.xyxy[:, i : i + 1] for i in range(4))
    inside = (lms[..., 0] >= x1 - 2) & (lms[..., 0] <= x2 + 2) & (lms[..., 1] >= y1 - 2) & (lms[..., 1] <= y2 + 2)
    assert inside.all()
    # right eye (image left) is left of the left eye for upright faces
    assert np.all(lms[:, 0, 0] < lms[:, 1, 0])


@pytest.mark.parametrize("name", ["yunet", "scrfd"])
def test_no_faces_in_a_blank_frame(name, settings):
    detector = get_implementation("detector", name)(settings, ModelStore(settings.models_dir))
    assert len(detector.detect(np.full((360, 640, 3), 127, np.uint8))) == 0
