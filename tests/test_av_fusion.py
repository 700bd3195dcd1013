"""End to end with sound: a composed episode whose voices belong to people on screen, with
voice-over and overlapping speech, checked against known speaking and both seconds."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import AUDIO, FACES, make_facebank
from screenalytics.pipeline import run_episode
from screenalytics.stages.decode import load_audio
from synth import ShotSpec, compose, write_wav

pytestmark = pytest.mark.slow  # real models over whole videos

SR = 16000
SHOTS = [
    ShotSpec(FACES / "obama.jpg", 4.0, ["obama"], (30, 30, 90)),
    ShotSpec(FACES / "kit_harington_1.jpeg", 4.0, ["kit"], (90, 30, 30)),
    ShotSpec(None, 3.0, [], (200, 200, 200)),
    ShotSpec(FACES / "kit_with_rose.jpg", 4.0, ["kit", "rose"], (30, 90, 30)),
]
# (episode start, source start, seconds, voice): clips of the two speakers of pyannote_sample.wav,
# each taken where that speaker talks alone in the reference RTTM.
CLIPS = [
    (0.5, 10.6, 3.0, "A"),  # A while obama is on screen
    (4.5, 22.0, 3.0, "B"),  # B while kit is on screen
    (8.5, 18.7, 2.0, "A"),  # A over the empty shot: voice-over
    (11.5, 14.8, 3.0, "B"),  # B while kit and rose are on screen...
    (12.5, 8.4, 1.0, "A"),  # ...with A talking over B, obama off screen
]
VOICE_OF = {"A": "obama", "B": "kit"}
# Ground truth from the layout above (seconds).
TRUTH = {
    "obama": {"visual_s": 4.0, "speaking_s": 6.0, "both_s": 3.0},
    "kit": {"visual_s": 8.0, "speaking_s": 6.0, "both_s": 6.0},
    "rose": {"visual_s": 4.0, "speaking_s": 0.0, "both_s": 0.0},
}
TOLERANCE_S = {"visual_s": 0.25, "speaking_s": 0.8, "both_s": 0.8}
# Other stretches of the same voices, unused in the soundtrack.
VOICEBANK_CLIPS = {"obama": [(27.9, 30.0), (13.6, 14.45), (20.7, 21.45)], "kit": [(25.2, 27.8)]}


@pytest.fixture(scope="module")
def episode(tmp_path_factory):
    root = tmp_path_factory.mktemp("av")
    source = load_audio(AUDIO / "pyannote_sample.wav")
    total = sum(s.seconds for s in SHOTS)
    track = np.zeros(int(total * SR), np.float32)
    for at, src, dur, _ in CLIPS:
        piece = source.slice(src, src + dur)
        track[int(at * SR) : int(at * SR) + len(piece)] += piece
    video = root / "episode.mp4"
    compose(video, SHOTS, audio=track, sample_rate=SR)
    facebank = make_facebank(
        root / "facebank", {"obama": ["obama2.jpg"], "kit": ["kit_harington_2.jpeg"], "rose": ["rose_leslie_2.jpg"]}
    )
    voicebank = root / "voicebank"
    for person, spans in VOICEBANK_CLIPS.items():
        (voicebank / person).mkdir(parents=True)
        write_wav(voicebank / person / "clip.wav", np.concatenate([source.slice(s, e) for s, e in spans]))
    return video, facebank, voicebank


@pytest.fixture(scope="module")
def still_pipeline(tmp_path_factory):
    """The faces here are still photos whose mouths never move, so the active speaker model would
    rightly call them silent and keep every voice from them: these tests are of linking by voice
    bank and by co-occurrence alone (the fallback without the model; with it, see
    test_speaking_attribution.py, whose faces talk)."""
    from screenalytics.config import load_settings
    from screenalytics.pipeline import Pipeline

    store = tmp_path_factory.mktemp("still-store")
    return Pipeline(load_settings(storage={"uri": str(store)}, active_speaker={"enabled": False}))


@pytest.fixture(scope="module", params=["voicebank", "cooccurrence"])
def result(request, episode, still_pipeline, tmp_path_factory):
    video, facebank, voicebank = episode
    out = tmp_path_factory.mktemp(request.param)
    res, _ = run_episode(still_pipeline, video, facebank, out, voicebank=voicebank if request.param == "voicebank" else None)
    return request.param, res


def test_speaking_and_both_seconds(result):
    method, res = result
    rows = {r.person_id: r for r in res.screen_time}
    print(method, {p: (round(r.visual_s, 2), round(r.speaking_s, 2), round(r.both_s, 2)) for p, r in rows.items()})
    assert res.audio_status == "ok"
    for person, truth in TRUTH.items():
        for field, value in truth.items():
            assert getattr(rows[person], field) == pytest.approx(value, abs=TOLERANCE_S[field]), (person, field, rows[person])
    assert not [p for p in rows if p.startswith("speaker_")]  # every voice found its person


def test_turns_are_linked_by_the_expected_method(result):
    method, res = result
    assert {seg.method for seg in res.speech} == {method}
    assert {seg.person_id for seg in res.speech} == set(VOICE_OF.values())
    assert any(seg.overlap for seg in res.speech)


def test_av_links_mark_voice_over(result):
    _, res = result
    obama = [a for a in res.av_links if a.person_id == "obama"]
    on_screen = sum(a.on_screen_s for a in obama)
    voice_over = sum(a.voice_over_s for a in obama)
    assert on_screen == pytest.approx(3.0, abs=0.8) and voice_over == pytest.approx(3.0, abs=0.8)
    assert all(a.track_id == -1 for a in obama if a.start > 8.0)  # off screen: no track
    assert all((a.track_id != -1) == (a.on_screen_s > 0) for a in res.av_links)
    assert all(a.track_id > 0 for a in res.av_links if a.person_id == "kit" and a.end - a.start > 2.0)
