"""Speakers the diarizer split from one voice are joined before they are linked to faces."""

from __future__ import annotations

import numpy as np

from screenalytics.config import load_settings
from screenalytics.model.speech import Turn
from screenalytics.stages.fusion import group_voices, link_speakers
from screenalytics.stages.screentime import VisualSample

CFG = load_settings().fusion


def unit(*xs: float) -> np.ndarray:
    v = np.array(xs, dtype=np.float64)
    return v / np.linalg.norm(v)


def seen(person: str, start: float, end: float, track: int) -> list[VisualSample]:
    return [VisualSample(person, track, t, 0.04, 1.0) for t in np.arange(start, end, 0.04)]


def test_a_split_voice_is_joined_and_goes_to_its_person_not_to_the_silent_one() -> None:
    # Ann speaks 0-10 s and 20-24 s; the diarizer calls the second stretch another speaker. During
    # it Bob (who never speaks) is on screen alone, so one-speaker-per-person linking gave it to Bob.
    turns = [Turn(0, 10, "S0"), Turn(12, 18, "S1"), Turn(20, 24, "S2")]
    samples = seen("ann", 0, 10, 1) + seen("cat", 12, 18, 2) + seen("bob", 20, 24, 3)
    vectors = {"S0": unit(1, 0.1, 0), "S1": unit(0, 1, 0), "S2": unit(1, 0.3, 0.2)}
    assert float(vectors["S0"] @ vectors["S2"]) >= CFG.group_similarity
    before = link_speakers(turns, samples, {}, CFG, vectors)
    assert before["S2"].person_id == "bob"  # the failure this fixes
    grouped, grouped_vectors = group_voices(turns, samples, vectors, CFG)
    assert sorted({t.speaker for t in grouped}) == ["S0", "S1"]  # the longer speaker names the voice
    assert grouped_vectors is not None and set(grouped_vectors) == {"S0", "S1"}
    links = link_speakers(grouped, samples, {}, CFG, grouped_vectors)
    assert links["S0"].person_id == "ann" and links["S1"].person_id == "cat"
    assert sum(t.end - t.start for t in grouped if t.speaker == "S0") == 14


def test_voices_only_somewhat_alike_are_joined_only_when_seen_with_the_same_faces() -> None:
    turns = [Turn(0, 10, "S0"), Turn(10, 14, "S1"), Turn(20, 30, "S2"), Turn(30, 34, "S3")]
    samples = seen("ann", 0, 14, 1) + seen("dan", 20, 30, 2) + seen("eve", 30, 34, 3)
    a, b = unit(1, 0, 0), unit(0.75, 0.66, 0)  # cosine 0.75: between group_similarity_seen and group_similarity
    assert CFG.group_similarity_seen <= float(a @ b) < CFG.group_similarity
    vectors = {"S0": a, "S1": b, "S2": unit(0, 0, 1), "S3": unit(0, 0.66, 0.75)}
    grouped, _ = group_voices(turns, samples, vectors, CFG)
    names = {t.speaker for t in grouped}
    assert "S1" not in names  # S1 was heard while only Ann was on screen, as S0 was: one voice
    assert {"S2", "S3"} <= names  # S2 and S3 are as alike, but heard with different faces: two voices


def test_distinct_voices_and_voicebank_names_stay_apart() -> None:
    turns = [Turn(0, 10, "S0"), Turn(10, 20, "S1")]
    samples = seen("ann", 0, 20, 1)
    vectors = {"S0": unit(1, 0, 0), "S1": unit(0.3, 1, 0)}
    grouped, _ = group_voices(turns, samples, vectors, CFG)
    assert {t.speaker for t in grouped} == {"S0", "S1"}
    same = {"S0": unit(1, 0, 0), "S1": unit(1, 0.05, 0)}
    grouped, _ = group_voices(turns, samples, same, CFG, keep_apart={"S1": ("ann", 0.9)})
    assert {t.speaker for t in grouped} == {"S0", "S1"}
    off = CFG.model_copy(update={"group_similarity": None, "group_similarity_seen": None})
    assert group_voices(turns, samples, same, off)[0] is turns


def test_a_face_the_active_speaker_model_saw_silent_is_not_given_the_voice() -> None:
    # A narrator talks over a shot of Bob, who never speaks; Ann speaks on screen later.
    turns = [Turn(0, 10, "S0"), Turn(20, 30, "S1")]
    bob = [VisualSample("bob", 1, t, 0.04, 1.0, 0.0, 0.02) for t in np.arange(0, 10, 0.04)]
    ann = [VisualSample("ann", 2, t, 0.04, 1.0, 0.0, 0.9) for t in np.arange(20, 30, 0.04)]
    vectors = {"S0": unit(1, 0, 0), "S1": unit(0, 1, 0)}
    links = link_speakers(turns, bob + ann, {}, CFG, vectors)
    assert CFG.min_speaking is not None
    assert links["S1"].person_id == "ann"
    assert links["S0"].method == "unlinked"  # reported as speaker_N, not as Bob
    unscored = [VisualSample("bob", 1, s.t, s.duration, 1.0) for s in bob]  # without the model: co-occurrence alone
    assert link_speakers(turns, unscored + ann, {}, CFG, vectors)["S0"].person_id == "bob"
