"""Decoding: sampling by stride or fps, exact PTS times, durations that never double count."""

import pytest

from conftest import FACES, VIDEO
from screenalytics.stages.decode import iter_frames, probe
from synth import ShotSpec, compose


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    path = tmp_path_factory.mktemp("decode") / "v.mp4"
    compose(path, [ShotSpec(FACES / "obama.jpg", 2.0), ShotSpec(None, 1.0)], fps=25)
    return path


def test_probe(video):
    info = probe(video)
    assert (info.width, info.height) == (640, 360)
    assert info.fps == pytest.approx(25)
    assert info.duration_s == pytest.approx(3.0, abs=0.05)
    assert not info.has_audio
    assert probe(VIDEO).has_audio


@pytest.mark.parametrize("stride", [1, 3, 7])
def test_stride_sampling(video, stride):
    frames = list(iter_frames(video, stride=stride))
    assert [f.index for f in frames] == list(range(0, 75, stride))
    assert [round(f.t, 4) for f in frames] == [round(i / 25, 4) for i in range(0, 75, stride)]
    assert sum(f.duration for f in frames) == pytest.approx(3.0, abs=1e-6)
    assert frames[0].image.shape == (360, 640, 3)


@pytest.mark.parametrize("fps", [5.0, 2.0, 10.0])
def test_fps_sampling(video, fps):
    frames = list(iter_frames(video, fps=fps))
    assert len(frames) == int(3.0 * fps)
    times = [f.t for f in frames]
    assert all(abs(t - k / fps) < 1 / 25 for k, t in enumerate(times))
    assert sum(f.duration for f in frames) == pytest.approx(3.0, abs=1e-6)


def test_real_clip_times_start_at_zero_despite_a_stream_offset():
    frames = list(iter_frames(VIDEO, stride=30))
    assert frames[0].t == pytest.approx(0.0)
    assert frames[1].t == pytest.approx(30 / 29.97, abs=1e-3)
