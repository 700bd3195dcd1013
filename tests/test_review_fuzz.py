"""Hundreds of random edits, undone one by one, restore the exact original state; after every
step the screen time equals a from-scratch recomputation from the history."""

from __future__ import annotations

import random

import numpy as np
import pytest

from screenalytics.review import (
    Change,
    Label,
    ReviewError,
    Sample,
    State,
    merge_tracks,
    propagate,
    reassign_cluster,
    reassign_frame,
    reassign_track,
    set_lock,
    split_track,
)

PEOPLE = ["ana", "ben", "cai", "dee", "unknown_1", "unknown_2"]


def initial_state(rng: random.Random) -> State:
    samples, labels, embeddings = {}, {}, {}
    det = 0
    centres = {p: np.random.default_rng(i).normal(size=16) for i, p in enumerate(PEOPLE)}
    for track in range(1, 15):
        start = rng.uniform(0, 60)
        n = rng.randint(4, 25)
        for k in range(n):
            samples[det] = Sample(det, track, round(start + k * 0.2, 3), 0.2)
            det += 1
        end = samples[det - 1].t + 0.2
        person = rng.choice(PEOPLE)
        cut = round(start + rng.randint(1, n - 1) * 0.2, 3) if rng.random() < 0.3 else None
        spans = [(start, cut), (cut, end)] if cut else [(start, end)]
        for j, (a, b) in enumerate(spans):
            labels[f"a{track}_{j}"] = Label(
                f"a{track}_{j}", track, a, b, person if j == 0 else rng.choice(PEOPLE), 0.6, "facebank"
            )
        v = centres[person] + 0.3 * np.random.default_rng(100 + track).normal(size=16)
        embeddings[track] = v / np.linalg.norm(v)
    return State(samples, labels, embeddings)


def random_op(state: State, rng: random.Random) -> Change:
    tracks = sorted(state.tracks())
    op = rng.choice(["track", "cluster", "frame", "lock", "unlock", "propagate", "merge", "split"])
    force = rng.random() < 0.3
    if op == "track":
        return reassign_track(state, rng.choice(tracks), rng.choice(PEOPLE), force)
    if op == "cluster":
        present = sorted({lab.person_id for lab in state.labels.values()})
        return reassign_cluster(state, rng.choice(present + ["nobody"]), rng.choice(PEOPLE), force)
    if op == "frame":
        return reassign_frame(state, rng.choice(sorted(state.samples) + [10**6]), rng.choice(PEOPLE), force)
    if op in ("lock", "unlock"):
        return set_lock(state, rng.choice(tracks + [999]), op == "lock")
    if op == "propagate":
        return propagate(state, rng.choice(tracks), 0.5)
    if op == "merge":
        return merge_tracks(state, rng.choice(tracks), rng.choice(tracks), force)
    t = rng.choice(tracks)
    times = sorted(s.t for s in state.samples.values() if s.track_id == t)
    return split_track(state, t, rng.choice(times))


def replay(initial: State, history: list[Change]) -> State:
    fresh = State(*[dict(x) for x in initial.snapshot()], initial.embeddings)
    for change in history:
        fresh.apply(change)
    return fresh


def rows(state: State) -> list[tuple[str, float]]:
    return [(r.person_id, round(r.visual_s, 9)) for r in state.screen_time()]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_edits_then_undo_everything(seed):
    rng = random.Random(seed)
    state = initial_state(rng)
    initial = State(*[dict(x) for x in state.snapshot()], state.embeddings)
    original = state.snapshot()
    history: list[Change] = []  # never rewritten: undos are appended as inverse changes
    applied: list[Change] = []  # the stack undo pops from
    rejected = 0
    for _ in range(300):
        if applied and rng.random() < 0.25:
            change = applied.pop().inverse()
        else:
            before = state.snapshot()
            try:
                change = random_op(state, rng)
            except ReviewError:
                rejected += 1
                assert state.snapshot() == before  # a refused edit changes nothing
                continue
            applied.append(change)
        state.apply(change)
        history.append(change)
        assert rows(state) == rows(replay(initial, history))
    while applied:
        change = applied.pop().inverse()
        state.apply(change)
        history.append(change)
    assert state.snapshot() == original
    assert rows(replay(initial, history)) == rows(initial)
    assert rejected > 0 and len(history) >= 300 - rejected


def test_locks_and_clear_errors():
    state = initial_state(random.Random(7))
    state.apply(set_lock(state, 1))
    with pytest.raises(ReviewError, match="locked"):
        reassign_track(state, 1, "ben")
    state.apply(reassign_track(state, 1, "ben", force=True))
    assert {lab.person_id for lab in state.labels_of(1)} == {"ben"} and all(lab.locked for lab in state.labels_of(1))
    with pytest.raises(ReviewError, match="unknown track 999"):
        reassign_track(state, 999, "ben")
    with pytest.raises(ReviewError, match="unknown detection"):
        reassign_frame(state, -5, "ben")
    with pytest.raises(ReviewError, match="unknown person or cluster"):
        reassign_cluster(state, "nobody", "ben")


def test_frame_override_and_propagation():
    state = initial_state(random.Random(11))
    s = next(iter(state.samples.values()))
    state.apply(reassign_frame(state, s.detection_id, "dee"))
    assert state.person_at(s.track_id, s.t).person_id == "dee"
    # propagate: tracks embedded close to track 1 take its locked person
    state.embeddings[2] = state.embeddings[1].copy()
    state.apply(set_lock(state, 2, False))
    state.apply(reassign_track(state, 1, "cai", force=True))
    state.apply(set_lock(state, 1))
    state.apply(propagate(state, 1, 0.99))
    assert {lab.person_id for lab in state.labels_of(2)} == {"cai"}
    assert {lab.method for lab in state.labels_of(2)} == {"propagated"}
