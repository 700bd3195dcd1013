"""Listening: where there is speech (VAD), who speaks when (diarization), whose voice each
speaker is (voice bank), and what is said (speech to text over speech only)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from screenalytics.config import DiarizationConfig, Settings
from screenalytics.model.banks import Voicebank
from screenalytics.model.contracts import VAD, Diarizer, SpeakerEmbedder, Transcriber
from screenalytics.model.media import Audio
from screenalytics.model.names import Stage
from screenalytics.model.speech import Diarization, Ranges, Turn, Word
from screenalytics.stages.clock import Timer
from screenalytics.stages.loudness import levels, quiet_threshold, trim_to_sound
from screenalytics.stages.voicebank import identify_speakers, speaker_embeddings


@dataclass
class Listening:
    """What the audio stages hand on to fusion."""

    regions: Ranges  # speech per the VAD
    diarization: Diarization
    speaker_vectors: dict[str, np.ndarray]  # one unit voice vector per diarized speaker
    voice_ids: dict[str, tuple[str, float]]  # speaker -> (person, score) named by the voice bank
    words: list[Word] = field(default_factory=list)


def trimmed_turns(turns: list[Turn], audio: Audio, cfg: DiarizationConfig) -> list[Turn]:
    """Turns with their ends moved in to where sound is (``diarization.quiet_dbfs``; None: as they are)."""
    if cfg.quiet_dbfs is None or not turns:
        return turns
    level_db = levels(audio)
    return trim_to_sound(turns, level_db, quiet_threshold(level_db, cfg.quiet_dbfs, cfg.quiet_below_loud_db))


def listen(
    audio: Audio,
    vad: VAD,
    diarizer: Diarizer,
    embedder: SpeakerEmbedder,
    transcriber: Transcriber | None,
    voices: Voicebank | None,
    num_speakers: int | None,
    s: Settings,
    timer: Timer,
) -> Listening:
    """Run the audio stages on a soundtrack; the transcriber is skipped when None."""
    timer.report(Stage.VAD, 0, 1)
    t0 = time.perf_counter()
    regions = vad.detect(audio)
    audio.release()
    t0 = timer.add(Stage.VAD, t0)
    # Speech to text before diarization: the transcriber's working memory is gone by the time the
    # diarizer's models and windows are in use, so the two peaks do not add up.
    words: list[Word] = []
    if transcriber is not None:
        timer.report(Stage.TRANSCRIBE, 0, 1)
        words = transcriber.transcribe(audio, regions)
        audio.release()
        t0 = timer.add(Stage.TRANSCRIBE, t0)
    timer.report(Stage.DIARIZE, 0, 1)
    diarization = diarizer.diarize(audio, num_speakers)
    diarization.turns = trimmed_turns(diarization.turns, audio, s.diarization)
    heard = {t.speaker for t in diarization.turns}  # a speaker whose turns were all silence is gone
    diarization.speaker_embeddings = {k: v for k, v in diarization.speaker_embeddings.items() if k in heard}
    audio.release()
    t0 = timer.add(Stage.DIARIZE, t0)
    # a clustering diarizer already has a voice per speaker: embed again only for those that do not
    vectors = diarization.speaker_embeddings or speaker_embeddings(audio, diarization, embedder)
    voice_ids = identify_speakers(vectors, voices, s.voicebank) if voices else {}
    timer.add(Stage.VOICES, t0)
    return Listening(regions, diarization, vectors, voice_ids, words)
