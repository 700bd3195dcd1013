"""Decoding: sampling by stride or fps, exact PTS times, durations that never double count; only
real videos are accepted, and a file that decodes short of its declared duration is caught."""

import shutil
from pathlib import Path

import av
import pytest

from conftest import FACES, VIDEO
from screenalytics.errors import InputError
from screenalytics.model.media import DecodedSpan
from screenalytics.stages.decode import iter_frames, probe
from synth import ShotSpec, compose


def faststart_truncated(src: Path, dst: Path, keep: float = 0.3) -> Path:
    """The clip remuxed with its index at the front (movflags=faststart), then cut to ``keep`` of
    its bytes: it opens, declares the full duration, and decodes only its first part."""
    whole = dst.with_name("whole_" + dst.name)
    with av.open(str(src)) as inp, av.open(str(whole), "w", options={"movflags": "faststart"}) as out:
        streams = {s.index: out.add_stream_from_template(s) for s in inp.streams if s.type in ("video", "audio")}
        for packet in inp.demux():
            if packet.dts is not None and packet.stream.index in streams:
                packet.stream = streams[packet.stream.index]
                out.mux(packet)
    data = whole.read_bytes()
    dst.write_bytes(data[: int(len(data) * keep)])
    return dst


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


def test_still_images_and_single_frames_are_not_videos(tmp_path):
    renamed = tmp_path / "photo.mp4"
    shutil.copy(FACES / "obama.jpg", renamed)
    for still in (renamed, FACES / "lin-manuel-miranda.png"):
        with pytest.raises(InputError, match="not a video: .* is a still image"):
            probe(still)
    one = tmp_path / "one.mp4"
    compose(one, [ShotSpec(FACES / "obama.jpg", 0.04)], fps=25)
    with pytest.raises(InputError, match="holds a single frame"):
        probe(one)
    unknown_count = tmp_path / "one.mkv"  # Matroska stores no frame count: caught when decoding
    compose(unknown_count, [ShotSpec(FACES / "obama.jpg", 0.04)], fps=25)
    with pytest.raises(InputError, match="only one frame decodes"):
        list(iter_frames(unknown_count))


def test_a_truncated_video_fails_or_is_analysed_up_to_where_it_ends(tmp_path):
    truncated = faststart_truncated(VIDEO, tmp_path / "t.mp4")
    assert probe(truncated).duration_s == pytest.approx(probe(VIDEO).duration_s)  # the index still claims it all
    with pytest.raises(InputError, match=r"decodes to 2\.\d+ s of the 9\.\d+ s its container declares"):
        list(iter_frames(truncated, fps=2))
    span = DecodedSpan()
    frames = list(iter_frames(truncated, fps=2, on_short="warn", span=span))
    assert span.warning and span.warning.startswith("analysed only 0-") and 0.2 < span.coverage < 0.4
    assert frames[-1].t + frames[-1].duration == pytest.approx(span.end_s, abs=0.01)
    assert sum(f.duration for f in frames) == pytest.approx(span.end_s, abs=0.01)  # no second beyond the damage
    whole = DecodedSpan()
    list(iter_frames(VIDEO, stride=30, span=whole))
    assert whole.warning is None and whole.coverage > 0.99 and whole.frames == 275
