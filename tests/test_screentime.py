"""Screen-time arithmetic and the identity decisions behind it (pure functions)."""

import numpy as np
import pytest

from screenalytics.config import load_settings
from screenalytics.model.banks import Gallery
from screenalytics.stages.identify import Window, cluster_unknowns, decide_track
from screenalytics.stages.screentime import VisualSample, intersection_length, union_length, visual_screen_time


def test_union_length():
    assert union_length([]) == 0
    assert union_length([(0, 1), (0.5, 2), (3, 4)]) == pytest.approx(3.0)
    assert union_length([(0, 1), (1, 2)]) == pytest.approx(2.0)
    assert union_length([(2, 1)]) == 0


def test_intersection_length():
    assert intersection_length([(0, 2), (1, 3)], [(2.5, 5), (0, 0.5)]) == pytest.approx(1.0)
    assert intersection_length([], [(0, 1)]) == 0
    assert intersection_length([(0, 10)], [(1, 2), (3, 4), (9, 12)]) == pytest.approx(3.0)


def test_two_tracks_of_one_person_in_one_frame_count_once():
    samples = [VisualSample("a", 1, t / 10, 0.1, 1.0) for t in range(10)]
    samples += [VisualSample("a", 2, t / 10, 0.1, 0.5) for t in range(5)] + [VisualSample("b", 3, 0.0, 0.1, 0.8)]
    rows = {r.person_id: r for r in visual_screen_time(samples, people=["a", "b", "c"])}
    assert rows["a"].visual_s == pytest.approx(1.0)
    assert rows["a"].confidence == pytest.approx((1.0 * 1.0 + 0.5 * 0.5) / 1.5)
    assert rows["c"].visual_s == 0 and rows["c"].confidence == 0
    assert [r.person_id for r in visual_screen_time(samples, people=["c"])] == ["a", "b", "c"]


def _gallery() -> Gallery:
    return Gallery(["p0", "p1"], np.eye(4, dtype=np.float32)[:2], np.array([0, 1]))


def _w(i: int, vec) -> Window:
    return Window(i, float(i), float(i + 1), None if vec is None else np.asarray(vec, np.float32) / np.linalg.norm(vec))


def test_hysteresis_keeps_an_identity_through_a_dip_and_fills_backwards():
    cfg = load_settings().identification  # enter 0.35, stay 0.25
    # window 0 is weak (0.3: above stay, below enter); window 2 dips to 0.3; window 4 has no face
    dims = lambda s: [s, np.sqrt(1 - s * s), 0, 0]  # noqa: E731  similarity s to p0, ~0 to p1
    windows = [_w(0, [0.3, 0, 0.95, 0]), _w(1, dims(0.8)), _w(2, [0.3, 0, 0.95, 0]), _w(3, dims(0.8)), _w(4, None)]
    segs = decide_track(windows, _gallery(), cfg)
    assert [(s.person_index, len(s.windows)) for s in segs] == [(0, 5)]


def test_identity_changes_only_on_clear_evidence():
    cfg = load_settings().identification
    windows = [_w(0, [1, 0, 0, 0]), _w(1, [1, 0, 0, 0]), _w(2, [0, 1, 0, 0]), _w(3, [0, 1, 0, 0]), _w(4, [0, 0, 1, 0])]
    segs = decide_track(windows, _gallery(), cfg)
    assert [(s.person_index, [w.index for w in s.windows]) for s in segs] == [(0, [0, 1]), (1, [2, 3]), (None, [4])]
    assert segs[0].score == pytest.approx(1.0) and segs[0].margin == pytest.approx(1.0)


def test_margin_blocks_an_ambiguous_match():
    cfg = load_settings().identification
    both = np.array([0.5, 0.49, 0.714, 0], np.float32)
    segs = decide_track([_w(0, both)], _gallery(), cfg)
    assert segs[0].person_index is None


def test_unknown_clusters():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=64), rng.normal(size=64)
    embs = np.stack([a + 0.1 * rng.normal(size=64) for _ in range(3)] + [b + 0.1 * rng.normal(size=64) for _ in range(2)])
    labels = cluster_unknowns(embs, 0.6)
    assert len(set(labels[:3])) == 1 and len(set(labels[3:])) == 1 and labels[0] != labels[3]
    assert list(cluster_unknowns(embs[:1], 0.6)) == [0]
