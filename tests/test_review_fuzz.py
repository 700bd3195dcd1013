"""Hundreds of random edits, undone one by one, restore the exact original state; after every
step the screen time equals a from-scratch recomputation from the history. The same, through the
store: every table a review writes equals the original on every column once everything is undone."""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import pytest

from screenalytics.config import load_settings
from screenalytics.model.records import Assignment, Detection, FaceEmbedding, ScreenTime, SpeechSegment, Track
from screenalytics.model.speech import Turn
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
from screenalytics.stages.fusion import Link, add_speaking_time
from screenalytics.stages.screentime import visual_screen_time
from screenalytics.stores.lance import open_results
from screenalytics.stores.review_store import assignment_of, open_review, stored_labels, stored_screen_time

PEOPLE = ["ana", "ben", "cai", "dee", "unknown_1", "unknown_2"]
FACEBANK = ["ana", "ben", "cai", "dee", "eve"]  # eve is never seen: a 0 s row, as the pipeline writes it
NEW_PEOPLE = ["zed"]  # not in the facebank: an edit may bring a new person in, an undo takes them out again
BAD_IDS = ["", ":lock:", "../x"]


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
            who = person if j == 0 else rng.choice(PEOPLE)
            auto = "cluster" if who.startswith("unknown_") else "facebank"
            # confidences in 1/64 steps: float32 holds them exactly, so the pipeline's screen time
            # (float64 confidences) and a recomputation from the stored rows agree to the bit
            conf = rng.randint(16, 64) / 64
            labels[f"a{track}_{j}"] = Label(
                f"a{track}_{j}",
                track,
                a,
                b,
                who,
                0.6,
                auto,
                False,
                conf,
                round(rng.uniform(0, 0.3), 3),
                0.6 if auto == "facebank" else 0.35,
            )
        v = centres[person] + 0.3 * np.random.default_rng(100 + track).normal(size=16)
        embeddings[track] = v / np.linalg.norm(v)
    return State(samples, labels, embeddings, frozenset(FACEBANK))


KINDS = ["track", "cluster", "frame", "lock", "unlock", "propagate", "merge", "split"]


def random_op(state: State, rng: random.Random, op: str | None = None) -> Change:
    tracks = sorted(state.tracks())
    op = op or rng.choice(KINDS)
    force = rng.random() < 0.3
    person = rng.choice(PEOPLE + NEW_PEOPLE + (BAD_IDS if rng.random() < 0.1 else []))
    if op == "track":
        return reassign_track(state, rng.choice(tracks), person, force)
    if op == "cluster":
        present = sorted({lab.person_id for lab in state.labels.values()})
        return reassign_cluster(state, rng.choice(present + ["nobody"]), person, force)
    if op == "frame":
        return reassign_frame(state, rng.choice(sorted(state.samples) + [10**6]), person, force)
    if op in ("lock", "unlock"):
        return set_lock(state, rng.choice(tracks + [999]), op == "lock")
    if op == "propagate":
        locked = [t for t in tracks if state.labels_of(t) and all(lab.locked for lab in state.labels_of(t))]
        return propagate(state, rng.choice(locked or tracks), 0.5)
    if op == "merge":
        return merge_tracks(state, rng.choice(tracks), rng.choice(tracks), force)
    t = rng.choice(tracks)
    times = sorted(s.t for s in state.samples.values() if s.track_id == t)
    return split_track(state, t, rng.choice(times))


def replay(initial: State, history: list[Change]) -> State:
    fresh = State(*[dict(x) for x in initial.snapshot()], initial.embeddings, initial.people)
    for change in history:
        fresh.apply(change)
    return fresh


def rows(state: State) -> list[tuple[str, float]]:
    return [(r.person_id, round(r.visual_s, 9)) for r in state.screen_time()]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_edits_then_undo_everything(seed):
    rng = random.Random(seed)
    state = initial_state(rng)
    initial = State(*[dict(x) for x in state.snapshot()], state.embeddings, state.people)
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


# -- through the store ------------------------------------------------------------------------

EP, RUN = "fuzz", "run1"
REVIEWED = ["detections", "tracks", "embeddings", "assignments", "screen_time", "speech_segments"]
SPEECH = [(0.0, 4.0, "S0", "ana", "voicebank", 0.75), (10.0, 30.0, "S1", "ben", "cooccurrence", 0.5)]
SPEECH += [(30.0, 33.0, "S0", "ana", "voicebank", 0.75), (40.0, 44.0, "S2", "speaker_1", "unlinked", 0.0)]


def pipeline_screen_time(state: State) -> list[ScreenTime]:
    """Screen time as the pipeline computes it (identify, then fusion with the speech)."""
    samples = state.visual_samples()
    rows = visual_screen_time(samples, FACEBANK)
    turns = [Turn(a, b, sp) for a, b, sp, *_ in SPEECH]
    links = {sp: Link(p, m, s) for _, _, sp, p, m, s in SPEECH}
    return add_speaking_time(rows, turns, links, samples)


def store_episode(state: State, screen_time: list[ScreenTime] | None = None) -> None:
    """``state`` saved as an analysed episode: the rows the pipeline would have stored for it."""
    keyed = {"episode_id": EP, "run_id": RUN}
    by_track: dict[int, list[Sample]] = {}
    for s in state.samples.values():
        by_track.setdefault(s.track_id, []).append(s)
    dets = [
        Detection(int(s.t * 5), s.t, s.duration, 0, 1, 2, 30, 40, 0.9, [0.5] * 10, s.track_id, 0.8, 0.1, s.detection_id)
        for s in state.samples.values()
    ]
    tracks = [Track(t, 0, min(s.t for s in ss), max(s.t for s in ss) + 0.2, len(ss), 0.9) for t, ss in sorted(by_track.items())]
    embeddings = [FaceEmbedding("track", str(t), "window:0", "m", v.tolist()) for t, v in state.embeddings.items()]
    embeddings += [FaceEmbedding("facebank", p, f"{p}.jpg", "m", [float(i)] * 16) for i, p in enumerate(FACEBANK)]
    speech = [SpeechSegment(i, a, b, sp, p, m, s, False) for i, (a, b, sp, p, m, s) in enumerate(SPEECH)]
    tables = {
        "detections": Detection.to_table(dets, **keyed),
        "tracks": Track.to_table(tracks, **keyed),
        "embeddings": FaceEmbedding.to_table(embeddings, **keyed),
        "assignments": Assignment.to_table([assignment_of(lab) for lab in state.labels.values()], **keyed),
        "screen_time": ScreenTime.to_table(screen_time or pipeline_screen_time(state), **keyed),
        "speech_segments": SpeechSegment.to_table(speech, **keyed),
    }
    open_results(load_settings()).save_run(EP, RUN, tables)


def table_rows(session, name: str) -> list[dict]:
    """Every column of the episode's rows, in one order."""
    return sorted(session.results.read(name, EP).to_pylist(), key=lambda r: sorted((k, repr(v)) for k, v in r.items()))


STORE_SEED = 5


def test_stored_edits_and_undos_restore_every_column():
    """Random edits and undos through the store: after each, the stored labels, tracks of the
    detections and screen time equal a replay of the history on the original rows; undoing
    everything restores every table the review touches exactly (0 s rows of people an edit
    brought in are gone, thresholds and confidences are back)."""
    rng = random.Random(STORE_SEED)
    state = initial_state(rng)
    store_episode(state)
    session = open_review(load_settings(), EP)
    original = {name: table_rows(session, name) for name in REVIEWED}
    initial = State(*[dict(x) for x in state.snapshot()], state.embeddings, state.people)
    assert stored_screen_time(session.screen_time_of(session.load())) == session.stored_screen_time()  # the pipeline's rule
    history: list[Change] = []
    done: list[Change] = []

    def check() -> None:
        replayed = replay(initial, history)
        expected = State(replayed.samples, {lab.label_id: lab for lab in stored_labels(replayed.labels.values())})
        stored = session.load()
        assert stored.samples == expected.samples and stored.labels == expected.labels
        assert session.stored_screen_time() == stored_screen_time(pipeline_screen_time(expected))

    with pytest.raises(ReviewError, match="not a valid person id"):
        session.edit(reassign_track, 1, "", who="fuzz")
    assert session.history() == [] and {name: table_rows(session, name) for name in REVIEWED} == original
    kinds = list(KINDS)  # every kind of edit, in a random order, with undos in between
    rng.shuffle(kinds)
    for kind in kinds:
        try:
            change = session.edit(lambda st, kind=kind: random_op(st, rng, kind), who="fuzz")
        except ReviewError:
            pass  # refused as it would be in memory (the test above checks it writes nothing)
        else:
            history.append(change)
            done.append(change)
            check()
        if done and rng.random() < 0.3:
            session.undo(who="fuzz")
            history.append(done.pop().inverse())
            check()
    final_undos = len(done)
    while done:
        session.undo(who="fuzz")
        done.pop()
    for name in REVIEWED:
        assert table_rows(session, name) == original[name], name
    entries = session.history()  # nothing rewritten: every edit and every undo, each undo naming its edit
    assert len(entries) == len(history) + final_undos
    assert {h["change_id"] for h in entries if not h["undoes"]} == {h["undoes"] for h in entries if h["undoes"]}
    assert {h["op"] for h in entries if not h["undoes"]} >= {"reassign_track", "propagate", "merge_tracks", "split_track"}


def test_undo_of_a_reassignment_restores_the_rows_exactly():
    """The reported case: reassign a track to someone new, undo; thresholds, margins, confidences
    and screen time are the original ones, and the new person has no 0 s row left. The stored
    screen time is given back as it was, even where a recomputation would not give it (a run of
    an older version wrote it)."""
    state = initial_state(random.Random(9))
    lab = next(iter(state.labels.values()))
    state.labels[lab.label_id] = replace(lab, threshold=0.6, margin=0.125, confidence=0.75)
    screen = [replace(r, confidence=0.3) if r.person_id == "eve" else r for r in pipeline_screen_time(state)]
    store_episode(state, screen)
    session = open_review(load_settings(), EP)
    original = {name: table_rows(session, name) for name in REVIEWED}
    session.edit(reassign_track, lab.track_id, "zed", who="ana")
    assert "zed" in {r.person_id for r in session.stored_screen_time()}
    touched = {"zed"} | {x.person_id for x in state.labels_of(lab.track_id)}
    others = {r.person_id: r for r in session.stored_screen_time() if r.person_id not in touched}
    assert others == {r.person_id: r for r in stored_screen_time(pipeline_screen_time(state)) if r.person_id in others}
    session.undo(who="ana")
    for name in REVIEWED:
        assert table_rows(session, name) == original[name], name


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


@pytest.mark.parametrize("bad", ["", " ", ":lock:", "[bold]x", "../evil", "a/b", ".hidden", "-x", "x" * 101, "ana\n"])
def test_person_ids_a_review_refuses(bad):
    state = initial_state(random.Random(7))
    before = state.snapshot()
    for attempt in (
        lambda: reassign_track(state, 1, bad),
        lambda: reassign_frame(state, 0, bad),
        lambda: reassign_cluster(state, next(iter(state.labels.values())).person_id, bad),
    ):
        with pytest.raises(ReviewError, match="not a valid person id") as e:
            attempt()
        assert "\n" not in str(e.value)
    assert state.snapshot() == before
    # a person the facebank or the labels already know is accepted as spelled; a safe new id too
    known = State(state.samples, state.labels, people=frozenset({"Lin Manuel"}))
    for ok in ("Lin Manuel", "unknown_1", "zoë-2.b", "new_person"):
        assert reassign_track(known, 1, ok).rows


def test_split_refuses_to_empty_a_track():
    state = initial_state(random.Random(7))
    times = sorted(s.t for s in state.samples.values() if s.track_id == 1)
    for at in (times[0], times[0] - 5, times[0] + 1e-9, times[-1] + 0.1):
        with pytest.raises(ReviewError, match="would leave one side empty"):
            split_track(state, 1, at)
    change = split_track(state, 1, times[1] - 1e-9)  # typed a hair early: the cut is at the sample
    state.apply(change)
    assert sorted(s.t for s in state.samples.values() if s.track_id == 1) == times[:1]
    assert change.args["at_t"] == times[1]


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
    assert {lab.threshold for lab in state.labels_of(2)} == {0.99}  # the threshold it cleared
