"""A composed multi-shot episode with known ground truth: per-person visual seconds."""

from __future__ import annotations

import json

import pytest

from conftest import FACES, make_facebank
from screenalytics.pipeline import run_episode
from synth import ShotSpec, compose

pytestmark = pytest.mark.slow  # real models over whole videos

# Facebank photos differ from the photos shown on screen.
FACEBANK = {"obama": ["obama2.jpg"], "kit": ["kit_harington_2.jpeg"], "rose": ["rose_leslie_2.jpg"]}
SHOTS = [
    ShotSpec(FACES / "obama.jpg", 2.0, ["obama"], (30, 30, 90)),
    ShotSpec(FACES / "kit_harington_1.jpeg", 1.6, ["kit"], (90, 30, 30)),
    ShotSpec(FACES / "kit_with_rose.jpg", 2.0, ["kit", "rose"], (30, 90, 30)),
    ShotSpec(FACES / "biden.jpg", 1.4, ["stranger"], (90, 90, 30)),
    ShotSpec(None, 0.6, [], (200, 200, 200)),
    ShotSpec(FACES / "rose_leslie_1.jpg", 1.0, ["rose"], (30, 90, 90)),
]
TOLERANCE_S = 0.2  # per person, on 1-4 s of presence


@pytest.fixture(scope="module")
def episode(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    video = root / "synthetic.mp4"
    truth = compose(video, SHOTS)
    return video, truth, make_facebank(root / "facebank", FACEBANK)


@pytest.fixture(scope="module")
def result(episode, pipeline, tmp_path_factory):
    video, _, facebank = episode
    out = tmp_path_factory.mktemp("out")
    res, _ = run_episode(pipeline, video, facebank, out)
    return res, out


def test_visual_seconds_match_ground_truth(episode, result):
    _, truth, _ = episode
    res, out = result
    got = {r["person_id"]: r["visual_s"] for r in json.loads((out / "screen_time.json").read_text())}
    for person in ("obama", "kit", "rose"):
        assert got[person] == pytest.approx(truth[person], abs=TOLERANCE_S), (person, got)
    unknown = {p: s for p, s in got.items() if p.startswith("unknown_")}
    assert sum(unknown.values()) == pytest.approx(truth["stranger"], abs=TOLERANCE_S), got
    assert sum(got.values()) <= sum(truth.values()) + TOLERANCE_S * 4


def test_cuts_are_found_and_no_track_spans_one(episode, result):
    res, _ = result
    bounds, t = [], 0.0
    for spec in SHOTS:
        bounds.append((t, t + spec.seconds))
        t += spec.seconds
    # the blank shot and its neighbours are separate shots too: one cut between every two shots
    assert len(res.cut_times) == len(SHOTS) - 1
    for cut, (start, _) in zip(res.cut_times, bounds[1:]):
        assert cut == pytest.approx(start, abs=0.05)
    for track in res.tracks:
        assert any(s - 1e-6 <= track.start_t and track.end_t <= e + 1e-6 for s, e in bounds), track


def test_kit_and_rose_share_the_frame_without_double_counting(result):
    res, _ = result
    kit = [t for t in res.tracks if t.person_id == "kit"]
    rose = [t for t in res.tracks if t.person_id == "rose"]
    assert any(k.shot_id == r.shot_id for k in kit for r in rose)
    assert all(0.0 <= row.confidence <= 1.0 for row in res.screen_time)
