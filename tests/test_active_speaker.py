"""Active speaker detection (plugins/light_asd.py, stages/speaking.py): the model's audio
features streamed in pieces equal one pass, long tracks scored in pieces with context equal one
call, and a track's detections laid on the model's 25 fps grid and given their frames' scores.
How well it finds who speaks is asserted on a composed episode in test_speaking_attribution.py."""

from __future__ import annotations

import numpy as np
import pytest

from screenalytics.config import load_settings
from screenalytics.model.names import PluginKind
from screenalytics.model.records import Detection
from screenalytics.stages.clock import Timer
from screenalytics.stages.speaking import SoundFeatures, SpeakingFaces


def test_features_fed_in_pieces_equal_one_pass_of_the_reference_mfcc() -> None:
    from python_speech_features import mfcc

    from screenalytics.plugins.light_asd import MfccStream

    rng = np.random.default_rng(0)
    t = np.arange(16000 * 7 + 123) / 16000
    x = (0.3 * np.sin(2 * np.pi * 220 * t) * (t % 2 < 1) + rng.normal(0, 0.01, len(t))).astype(np.float32)
    ref = mfcc(x.astype(np.float64) * 32768, 16000, numcep=13, winlen=0.025, winstep=0.010)
    for piece in (len(x), 16000 * 2 + 77, 401, 160):
        stream = MfccStream()
        for a in range(0, len(x), piece):
            stream.feed(x[a : a + piece])
        got = stream.finish()
        assert got.shape == ref.shape
        np.testing.assert_allclose(got, ref, atol=1e-3, rtol=1e-5)
    assert MfccStream().finish().shape == (0, 13)


@pytest.fixture(scope="module")
def light_asd(pipeline):  # type: ignore[no-untyped-def]
    return pipeline.plugin(PluginKind.ACTIVE_SPEAKER)


def test_a_long_track_scored_in_pieces_with_context_matches_one_call(light_asd) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(1)
    n = 160
    mouth = (np.sin(np.arange(n) / 3) > 0).astype(np.float32)  # a mouth opening and closing
    crops = np.full((n, 112, 112), 120, np.uint8)
    crops[:, 70:95, 35:77] = (120 - 90 * mouth)[:, None, None].astype(np.uint8)
    crops = np.clip(crops + rng.normal(0, 3, crops.shape), 0, 255).astype(np.uint8)
    features = rng.normal(0, 4, (4 * n, 13)).astype(np.float32)
    features[:, 0] += 10 * np.repeat(mouth, 4)  # loud when the mouth is open
    whole = light_asd.score(crops, features)
    options = light_asd.options
    try:
        light_asd.options = options.model_copy(update={"max_frames": 50, "context": 25})
        pieces = light_asd.score(crops, features)
        light_asd.options = options.model_copy(update={"max_frames": 50, "context": 0})
        blind = light_asd.score(crops, features)
    finally:
        light_asd.options = options
    assert whole.shape == (n,) and ((whole >= 0) & (whole <= 1)).all()
    assert np.abs(pieces - whole).mean() < 0.03
    assert np.abs(pieces - whole).mean() <= np.abs(blind - whole).mean()  # context is what keeps them close
    short = light_asd.score(crops[:30], features[:100])  # the sound ends first: repeated, as in training
    np.testing.assert_allclose(short, light_asd.score(crops[:30], np.concatenate([features[:100], features[:20]])), atol=1e-6)


class Stub:
    """Stands in for the model: frame k of a piece scores k, and it keeps what it was given."""

    fps = 25
    rows_per_second = 100

    def crop(self, image: np.ndarray, box: np.ndarray) -> np.ndarray:
        return np.full((112, 112), int(image[0, 0, 0]), np.uint8)

    def score(self, crops: np.ndarray, features: np.ndarray) -> np.ndarray:
        self.crops, self.features = crops, features
        return np.arange(len(crops), dtype=np.float32)


def detections(times: list[float], duration: float) -> list[Detection]:
    return [Detection(i, t, duration, 0, 0, 0, 10, 10, 0.9, [0.0] * 10) for i, t in enumerate(times)]


def score_track(times: list[float], duration: float, offset_s: float = 0.0) -> tuple[Stub, list[Detection]]:
    stub = Stub()
    faces = SpeakingFaces(stub, load_settings().active_speaker, lambda fn, *a: fn(*a), Timer())
    faces.features = SoundFeatures(np.repeat(np.arange(2000.0)[:, None], 13, axis=1), 100, offset_s)
    records = detections(times, duration)
    for k, r in enumerate(records):
        faces.add(7, r, np.full((4, 4, 3), k, np.uint8), np.zeros(4))
    faces.close()
    return stub, records


def test_a_track_is_laid_on_the_model_frame_rate_and_each_detection_gets_its_frames() -> None:
    # 25 fps with two frames missing (a face the detector lost): the nearest earlier face fills in
    stub, records = score_track([0.4, 0.44, 0.48, 0.60, 0.64, 0.68], 0.04)
    assert stub.crops[:, 0, 0].tolist() == [0, 1, 2, 2, 2, 3, 4, 5]
    assert stub.features[:, 0].tolist() == list(range(40, 72))  # 4 rows per frame from 0.4 s
    assert [r.speaking for r in records] == [0, 1, 3, 5, 6, 7]  # the gap's frames go to the face before it
    # 50 fps: two detections per model frame, each given that frame's score
    stub, records = score_track([1.0 + k / 50 for k in range(6)], 0.02)
    assert len(stub.crops) == 3 and [r.speaking for r in records] == [0, 0, 1, 1, 2, 2]
    # a soundtrack that starts 0.5 s before the picture: video 0.4 s is audio 0.9 s
    stub, _ = score_track([0.4, 0.44], 0.04, offset_s=0.5)
    assert stub.features[0, 0] == 90


def test_a_track_that_vanishes_starts_a_new_piece() -> None:
    stub = Stub()
    scored: list[int] = []
    faces = SpeakingFaces(stub, load_settings().active_speaker, lambda fn, *a: scored.append(len(a[0])) or fn(*a), Timer())
    faces.features = SoundFeatures(np.zeros((2000, 13)), 100, 0.0)
    for r in detections([0.0, 0.04, 0.08, 2.0, 2.04], 0.04):
        faces.add(1, r, np.zeros((4, 4, 3), np.uint8), np.zeros(4))
    faces.close()
    assert len(scored) == 2 and len(stub.crops) == 2  # the second piece: 2.0-2.08 s


def test_long_tracks_are_sampled_and_the_frames_between_take_the_nearest_score() -> None:
    class Counting(Stub):
        calls: list[int]

        def score(self, crops: np.ndarray, features: np.ndarray) -> np.ndarray:
            self.calls.append(len(crops))
            return np.full(len(crops), float(len(self.calls)), np.float32)

    stub = Counting()
    stub.calls = []
    cfg = load_settings().active_speaker  # 2 s of every 4 s, with 0.4 s either side
    faces = SpeakingFaces(stub, cfg, lambda fn, *a: fn(*a), Timer())
    loud = np.ones(1200, bool)
    probs = faces._probabilities(np.zeros((300, 112, 112), np.uint8), np.zeros((1200, 13), np.float32), loud, 4)
    assert stub.calls == [70, 70, 70]  # 12 s: three 2 s stretches (50 frames + 10 either side)
    assert sum(stub.calls) < 0.75 * 300
    assert probs[:50].tolist() == [1] * 50 and probs[100:150].tolist() == [2] * 50 and probs[-25:].tolist() == [3] * 25
    off = cfg.model_copy(update={"sample_s": 0.0})
    stub.calls = []
    SpeakingFaces(stub, off, lambda fn, *a: fn(*a), Timer())._probabilities(
        np.zeros((300, 112, 112), np.uint8), np.zeros((1200, 13), np.float32), loud, 4
    )
    assert stub.calls == [300]  # every frame (the plugin cuts it in pieces itself)


def test_quiet_stretches_are_not_scored_and_nobody_speaks_in_them() -> None:
    class Counting(Stub):
        calls: list[int]

        def score(self, crops: np.ndarray, features: np.ndarray) -> np.ndarray:
            self.calls.append(len(crops))
            return np.full(len(crops), 0.9, np.float32)

    stub = Counting()
    stub.calls = []
    cfg = load_settings().active_speaker
    faces = SpeakingFaces(stub, cfg, lambda fn, *a: fn(*a), Timer())
    loud = np.zeros(1200, bool)  # 12 s, 100 rows a second
    loud[500:540] = True  # sound only in 5.0-5.4 s: inside the second stretch (frames 125-175, read from 4.6 s)
    probs = faces._probabilities(np.zeros((300, 112, 112), np.uint8), np.zeros((1200, 13), np.float32), loud, 4)
    assert stub.calls == [70]
    assert probs[:50].tolist() == [0.0] * 50 and probs[100:150].tolist() == pytest.approx([0.9] * 50)
    assert probs[-25:].tolist() == [0.0] * 25
    stub.calls = []
    every = cfg.model_copy(update={"sample_s": 0.0})
    quiet = SpeakingFaces(stub, every, lambda fn, *a: fn(*a), Timer())._probabilities(
        np.zeros((300, 112, 112), np.uint8), np.zeros((1200, 13), np.float32), np.zeros(1200, bool), 4
    )
    assert stub.calls == [] and not quiet.any()


def test_loudness_is_measured_per_row_whatever_the_pieces() -> None:
    from screenalytics.stages.loudness import Loudness as _Loudness

    rng = np.random.default_rng(0)
    x = np.concatenate([np.zeros(16000, np.float32), (rng.standard_normal(16000) * 0.1).astype(np.float32)])
    whole, pieces = _Loudness(160), _Loudness(160)
    whole.feed(x)
    for a in range(0, len(x), 777):
        pieces.feed(x[a : a + 777])
    got = pieces.finish()
    assert np.allclose(got, whole.finish()) and len(got) == 200
    assert got[:100].max() < -100 and -25 < got[100:].mean() < -15  # digital silence, then -20 dBFS noise
    feats = SoundFeatures(np.zeros((200, 13)), 100, 0.0, got)
    assert not feats.loud(0.0, 100, -50.0).any() and feats.loud(1.0, 100, -50.0).all()
    assert feats.loud(0.0, 100, None).all()


def test_sound_features_are_streamed_from_the_file_with_the_streams_offset(light_asd) -> None:  # type: ignore[no-untyped-def]
    from screenalytics.stages.decode import load_audio, probe
    from screenalytics.stages.speaking import sound_features
    from tests.conftest import VIDEO

    feats = sound_features(VIDEO, light_asd)
    audio = load_audio(VIDEO)
    assert feats is not None and audio is not None
    assert feats.rows.shape[1] == 13 and abs(len(feats.rows) - audio.duration_s * 100) <= 2
    # the Hamilton clip's picture starts 0.852 s in, its sound at 0.008 s
    assert abs(feats.offset_s - 0.844) < 0.01, feats.offset_s
    assert probe(VIDEO).duration_s > 0
