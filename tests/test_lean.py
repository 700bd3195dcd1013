"""Doing less wasted work without changing a result: models without subnormal weights, audio
stages that hold one soundtrack instead of copies of it, cheaper resizes."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import AUDIO, MODELS
from screenalytics.config import load_settings
from screenalytics.model.media import Audio
from screenalytics.registry.models import ModelStore
from screenalytics.runtime import flush_denormals, session
from screenalytics.stages.decode import _Samples, load_audio
from screenalytics.stages.faces import downscale

TINY = np.finfo(np.float32).tiny


def _matmul_model(weights: np.ndarray) -> onnx.ModelProto:
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, weights.shape[0]])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, weights.shape[1]])],
        [numpy_helper.from_array(weights, "w")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def test_subnormal_weights_are_zeroed_and_outputs_do_not_change(tmp_path):
    w = np.array([[1.0, TINY / 4], [-TINY / 8, 2.0]], np.float32)
    path = tmp_path / "m.onnx"
    onnx.save(_matmul_model(w), str(path))
    model = onnx.load(str(path))
    assert flush_denormals(model) == 2
    flushed = numpy_helper.to_array(model.graph.initializer[0])
    assert flushed.tolist() == [[1.0, 0.0], [0.0, 2.0]]
    assert flush_denormals(model) == 0  # nothing left to do
    x = np.array([[3.0, 5.0]], np.float32)
    on, off = (session(path, load_settings(runtime={"flush_denormals": f}).runtime) for f in (True, False))
    assert np.array_equal(on.run(None, {"x": x})[0], off.run(None, {"x": x})[0])


def test_the_recognizer_gives_the_same_embeddings_without_its_subnormal_weights():
    path = MODELS / "face" / "faceplugin_fr_feature_512d.onnx"
    assert flush_denormals(onnx.load(str(path))) > 1000  # why this exists: the shipped model has thousands
    x = np.random.default_rng(0).uniform(-1, 1, (1, 3, 112, 112)).astype(np.float32)
    on, off = (session(path, load_settings(runtime={"flush_denormals": f}).runtime) for f in (True, False))
    a, b = on.run(None, {"input": x})[0], off.run(None, {"input": x})[0]
    assert np.allclose(a, b, atol=1e-6)


def test_audio_buffer_grows_when_the_container_declared_too_little():
    buf = _Samples(3)
    for chunk in (np.arange(2), np.arange(2, 7), np.arange(7, 8)):
        buf.add(chunk.astype(np.float32))
    assert buf.done().tolist() == list(range(8))
    roomy = _Samples(1000)
    roomy.add(np.ones(10, np.float32))
    out = roomy.done()
    assert len(out) == 10 and out.base is None  # the unused tail is not kept alive


def test_streamed_vad_matches_one_pass_over_a_long_soundtrack(settings):
    """Parallel VAD streams gather their chunks from a view of the samples; the result must not
    depend on how the file is cut (each stream warms up on the second before its share)."""
    from screenalytics.plugins.silero_vad import SileroVAD

    one = load_audio(AUDIO / "dev00.wav")
    long = Audio(np.concatenate([one.samples] * 4)[: len(one.samples) * 4 - 123], one.sample_rate)
    models = ModelStore(settings.models_dir)
    many = SileroVAD(settings, models).probabilities(long)
    single = SileroVAD(load_settings(plugins={"silero": {"streams": 1}}), models).probabilities(long)
    assert many.shape == single.shape == (int(np.ceil(len(long.samples) / 512)),)
    agree = float(((many >= 0.5) == (single >= 0.5)).mean())
    assert agree > 0.99


def test_speaker_embeddings_pick_the_frames_of_each_range(settings):
    """CAM++ items are found by bisection: overlapping and unordered ranges give each frame once, in order."""
    from screenalytics.plugins.campplus import HOP, WIN, CAMPlusEmbedder

    embedder = CAMPlusEmbedder(settings, ModelStore(settings.models_dir))
    seen: list[np.ndarray] = []

    class Recorder:
        def run(self, _outputs, feeds):  # type: ignore[no-untyped-def]
            seen.append(feeds["fbank"][0].copy())
            return [np.ones((1, embedder.dim), np.float32)]

    embedder._sess = Recorder()
    audio = Audio((np.random.default_rng(1).standard_normal(16000 * 20) * 0.1).astype(np.float32), 16000)
    feats = embedder.fbank(audio)
    centres = (np.arange(len(feats)) * HOP + WIN / 2) / 16000
    items = [[(1.0, 2.5)], [(3.0, 4.0), (3.5, 6.0)], [(10.0, 11.0), (0.2, 0.9)], [(19.9, 30.0)]]
    embedder.embed(audio, items)
    assert len(seen) == len(items)
    for item, got in zip(items, seen):
        mask = np.zeros(len(feats), bool)
        for s, e in item:
            mask |= (centres >= s) & (centres < e)
        want = feats[mask][: embedder.cfg.batch_frames]
        if len(want) < 20:
            want = np.resize(want, (20, 80))
        assert np.allclose(got, want - want.mean(axis=0, keepdims=True))


def test_fbank_fed_in_pieces_equals_one_pass(settings):
    import kaldi_native_fbank as knf

    from screenalytics.plugins.campplus import CAMPlusEmbedder

    x = (np.random.default_rng(2).standard_normal(16000 * 125 + 77) * 0.1).astype(np.float32)
    opts = knf.FbankOptions()
    opts.frame_opts.dither = 0
    opts.frame_opts.samp_freq = 16000
    opts.mel_opts.num_bins = 80
    fb = knf.OnlineFbank(opts)
    fb.accept_waveform(16000, x * 32768.0)
    fb.input_finished()
    whole = np.stack([fb.get_frame(i) for i in range(fb.num_frames_ready)])
    pieces = CAMPlusEmbedder(settings, ModelStore(settings.models_dir)).fbank(Audio(x, 16000))
    assert pieces.shape == whole.shape and np.array_equal(pieces, whole)


@pytest.mark.parametrize(("size", "to"), [((720, 1280), (160, 90)), ((720, 1280), (960, 540)), ((300, 300), (100, 100))])
def test_downscale_keeps_the_picture(size, to):
    """The cheap resize stays close to INTER_AREA's average (what shot histograms and the detector see)."""
    import cv2

    h, w = size
    yy, xx = np.mgrid[0:h, 0:w]
    image = np.stack([(xx * 255 // w), (yy * 255 // h), ((xx + yy) * 127 // (w + h))], axis=-1).astype(np.uint8)
    cheap = downscale(image, *to)
    area = cv2.resize(image, to, interpolation=cv2.INTER_AREA)
    assert cheap.shape == area.shape
    assert float(np.abs(cheap.astype(int) - area).mean()) < 3.0


def test_whole_frames_shrink_to_max_side_but_never_below_min_scale():
    from screenalytics.stages.faces import detection_scale, shrink_for_detection

    cfg = load_settings(detection={"max_side": 640, "min_scale": 0.5}).detection
    assert detection_scale(720, 1280, cfg) == 0.5  # 720p: 640x360
    assert detection_scale(1080, 1920, cfg) == 0.5  # 1080p: 960x540, a 28 px face stays 14 px
    assert detection_scale(360, 640, cfg) == 1.0  # never enlarged
    image, scale = shrink_for_detection(np.zeros((720, 1280, 3), np.uint8), cfg)
    assert image.shape == (360, 640, 3) and scale == 0.5
