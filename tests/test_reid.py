"""Episode-level re-identification: an unclaimed face takes the person whose confident faces in the
same episode it resembles, only when the evidence is clear."""

from __future__ import annotations

import numpy as np

from screenalytics.config import load_settings
from screenalytics.model.vectors import normalise
from screenalytics.stages.identify import Segment, Window, name_unknowns, reidentify


def _seg(vec: np.ndarray, person: int | None, score: float) -> Segment:
    seg = Segment(0.0, 2.0, person, score, 0.0)
    seg.windows.append(Window(0, 0.0, 2.0, normalise(vec), good=True, covered_s=2.0))
    return seg


def test_unclaimed_faces_take_the_person_they_clearly_resemble():
    idc = load_settings().identification
    rng = np.random.default_rng(0)
    alice, bob, stranger = (normalise(rng.normal(size=512)) for _ in range(3))
    occluded_alice = normalise(alice + 1.2 * normalise(rng.normal(size=512)))  # cosine ~0.6 to alice
    between = normalise(alice + bob)  # as close to both
    tracks = {
        1: [_seg(alice, 0, 0.6)],
        2: [_seg(bob, 1, 0.55)],
        3: [_seg(occluded_alice, None, 0.2)],
        4: [_seg(stranger, None, 0.05)],
        5: [_seg(between, None, 0.3)],
    }
    reidentify(tracks, idc)
    occluded = tracks[3][0]
    assert occluded.person_index == 0 and occluded.reid and occluded.score >= idc.reid_threshold
    assert tracks[4][0].person_index is None, "a stranger stays unknown"
    assert tracks[5][0].person_index is None, "no clear margin: left for review"
    assert tracks[1][0].person_index == 0 and not tracks[1][0].reid

    off = load_settings(identification={**idc.model_dump(), "reid_threshold": None}).identification
    again = {3: [_seg(occluded_alice, None, 0.2)], 1: [_seg(alice, 0, 0.6)]}
    reidentify(again, off)
    assert again[3][0].person_index is None


def test_an_unknown_verdict_on_a_poorly_seen_face_is_doubtful():
    """An occluded cast member that neither the facebank nor the episode could name ends up
    ``unknown_N``; its faces were seen poorly (low detector score), so the verdict must rank
    below that on a clearly seen stranger in the review queue."""
    idc = load_settings().identification
    rng = np.random.default_rng(1)
    stranger, hidden = (normalise(rng.normal(size=512)) for _ in range(2))
    clear = _seg(stranger, None, 0.0)
    clear.windows[0].quality = 0.92
    poor = _seg(hidden, None, 0.0)
    poor.windows[0].quality = 0.45
    names, conf = name_unknowns({1: [clear], 2: [poor]}, idc)
    assert set(names.values()) == {"unknown_1", "unknown_2"}
    assert conf[id(clear)] > 0.9
    assert conf[id(poor)] == 0.0, "faces below unknown_doubt_quality vouch for nothing"
    middling = _seg(hidden, None, 0.0)
    middling.windows[0].quality = 0.7
    _, conf = name_unknowns({2: [middling]}, idc)
    assert 0.3 < conf[id(middling)] < 0.7
