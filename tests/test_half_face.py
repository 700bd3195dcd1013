"""Faces with one side hidden: found by their flat half, and named by their open half against the
same half of the episode's confidently named faces."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from screenalytics.config import load_settings
from screenalytics.model.vectors import normalise
from screenalytics.stages.facebank import _face_landmarks
from screenalytics.stages.faces import cover_side, hidden_side
from screenalytics.stages.identify import Segment, Window, reidentify_halves
from tests.conftest import FACES

PHOTOS = ["obama.jpg", "obama2.jpg", "biden.jpg", "biden2.jpg", "kit_harington_1.jpeg", "rose_leslie_1.jpg", "rose_leslie_2.jpg"]
PHOTOS += ["lin-manuel-miranda.png"]


@pytest.fixture(scope="module")
def crops(pipeline) -> dict[str, np.ndarray]:  # type: ignore[no-untyped-def]
    out = {}
    for name in PHOTOS:
        image = cv2.imread(str(FACES / name))
        out[name] = pipeline.recognizer.align(image, _face_landmarks(image, pipeline.detector, 0.5))
    return out


def _boxed(crop: np.ndarray, rows: slice, cols: slice, colour: tuple[int, int, int] = (40, 30, 110)) -> np.ndarray:
    out = crop.copy()
    out[rows, cols] = colour
    return out


def test_a_flat_cover_over_one_side_is_found_and_nothing_else_is(crops) -> None:  # type: ignore[no-untyped-def]
    rc = load_settings().recognition
    side = lambda c: hidden_side(c, rc.hidden_flat_share, rc.hidden_other_ratio)  # noqa: E731
    for name, crop in crops.items():
        assert side(crop) == 0, name
        assert side(_boxed(crop, slice(0, 112), slice(0, 58))) == 1, name
        assert side(_boxed(crop, slice(0, 112), slice(54, 112), (15, 15, 15))) == 2, name
        assert side(_boxed(crop, slice(70, 112), slice(0, 112))) == 0, f"{name}: a box over the mouth hides no side"
        assert side(_boxed(crop, slice(30, 60), slice(0, 112))) == 0, f"{name}: nor does a band over the eyes"


def _track(person: int | None, score: float, side: int = 0, half: np.ndarray | None = None) -> list[Segment]:
    seg = Segment(0.0, 2.0, person, score, 0.0)
    seg.windows.append(Window(0, 0.0, 2.0, normalise(np.ones(512)), True, 2.0, 0.8, side, half))
    return [seg]


def test_a_half_hidden_face_takes_the_person_whose_same_half_it_matches(pipeline, crops) -> None:  # type: ignore[no-untyped-def]
    idc = load_settings().identification
    embed = pipeline.recognizer.embed
    jpeg = {name: cv2.imencode(".jpg", crop)[1].tobytes() for name, crop in crops.items()}
    chips = {1: [(0.9, jpeg["obama.jpg"])], 2: [(0.9, jpeg["biden.jpg"])], 3: [(0.9, jpeg["kit_harington_1.jpeg"])]}

    def hidden(name: str, side: int) -> np.ndarray:
        box = _boxed(crops[name], slice(0, 112), slice(0, 58) if side == 1 else slice(54, 112))
        return normalise(embed(cover_side(box, side)[None])[0])

    tracks = {
        1: _track(0, 0.7),
        2: _track(1, 0.6),
        3: _track(2, 0.2),  # too weak to vouch for anyone: its chips are no reference
        10: _track(None, 0.1, 2, hidden("obama2.jpg", 2)),
        11: _track(None, 0.1, 2, hidden("biden2.jpg", 2)),
        13: _track(None, 0.1, 1, hidden("rose_leslie_2.jpg", 1)),  # nobody the episode named
        12: _track(None, 0.1, 0, hidden("obama2.jpg", 2)),  # no side hidden: not this stage's to name
    }
    reidentify_halves(tracks, chips, embed, idc)
    assert tracks[10][0].person_index == 0 and tracks[10][0].reid and tracks[10][0].reid_floor == idc.half_reid_threshold
    assert tracks[11][0].person_index == 1 and tracks[11][0].reid
    assert tracks[12][0].person_index is None
    assert tracks[13][0].person_index is None, "a stranger's open half matches no one clearly"
    assert tracks[1][0].person_index == 0 and not tracks[1][0].reid

    off = load_settings(identification={**idc.model_dump(), "half_reid_threshold": None}).identification
    again = {1: _track(0, 0.7), 10: _track(None, 0.1, 2, hidden("obama2.jpg", 2))}
    reidentify_halves(again, chips, embed, off)
    assert again[10][0].person_index is None


@pytest.mark.slow  # builds a 120 s episode and runs every model over it
def test_a_shot_with_half_a_face_boxed_is_named(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Seed 5 (tools/episode_builder.py): Obama's face is half covered by a box for a whole shot.
    Before half-face re-identification that shot stayed ``unknown_N`` (side-box recall 0.61, Obama
    14% short of his visual seconds); main measures 1.00 and 0.0% (0.98 and 0.7% before frames
    where the detector lost the half-covered face inside its track counted as seen)."""
    import sys

    from tests.conftest import REPO

    sys.path.insert(0, str(REPO / "tools"))
    from episode_builder import build_episode
    from eval_episodes import score_episode

    from screenalytics.service import AnalyseRequest, Service

    folder = build_episode(5, 120.0, tmp_path)
    service = Service()
    request = AnalyseRequest(video=folder / "episode.mp4", facebank=folder / "facebank", out_dir=folder / "run", episode_id="s5")
    service.analyse(request)
    scores = score_episode(folder, service.stored_result("s5"))
    assert scores["by_kind"]["side_box"]["recall"] >= 0.95, scores["by_kind"]
    for person, row in scores["people"].items():
        assert abs(row["visual_err_pct"]) <= 5.0, (person, row)
    assert scores["false_cast_pct"] <= 1.0
    assert not [t for t in scores["tracks"] if not t["right"]], "no track carries a wrong name"
