"""The audio stages in a child process, while the parent watches the video.

Vision and listening share nothing until fusion, and each leaves a core partly idle (decoding,
Python bookkeeping, waits between model calls), so running them side by side keeps both cores
busy. The child loads only the audio models and decodes the soundtrack itself, so the parent never
holds the whole soundtrack in memory.
"""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from screenalytics.config import Settings, portable
from screenalytics.errors import ScreenalyticsError
from screenalytics.model.banks import Voicebank
from screenalytics.model.names import PluginKind, Stage
from screenalytics.stages.clock import Timer
from screenalytics.stages.listen import Listening

AUDIO_KINDS = (PluginKind.VAD, PluginKind.SPEAKER_EMBEDDER, PluginKind.DIARIZER, PluginKind.TRANSCRIBER)


def importable(cls: type) -> bool:
    """A class a fresh interpreter can import by module and name (not one made in a function or __main__)."""
    return cls.__module__ != "__main__" and "<locals>" not in cls.__qualname__


def class_path(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def load_class(path: str) -> type:
    import importlib

    module, _, name = path.partition(":")
    obj: Any = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj  # type: ignore[no-any-return]


@dataclass
class Heard:
    """What the audio side hands to fusion, with its stage timings."""

    status: str  # "ok" or "skipped: ..."
    listening: Listening | None
    timings: dict[str, float]
    soundtrack: Path | None = None  # the 16 kHz WAV, when archiving
    models: list[Any] = field(default_factory=list)  # what ran the audio models (registry.models.LoadedModel)


def hear(
    pipeline: Any,
    video: Path,
    voices: Voicebank | None,
    num_speakers: int | None,
    transcribe: bool,
    keep_soundtrack: Path | None,
    timer: Timer,
) -> Heard:
    """Decode the soundtrack and run VAD, diarization, voices and (optionally) ASR on it."""
    from screenalytics.stages.decode import load_audio, write_wav
    from screenalytics.stages.listen import listen

    s: Settings = pipeline.settings
    spill = (s.audio.spill_dir or Path(tempfile.gettempdir())) if s.audio.spill else None
    audio = load_audio(video, s.audio.sample_rate, spill)
    soundtrack = None
    if audio is not None and keep_soundtrack is not None:
        soundtrack = Path(tempfile.mkstemp(suffix=".wav", dir=keep_soundtrack)[1])
        write_wav(soundtrack, audio)
    if audio is None or audio.duration_s < 0.5:
        return Heard("skipped: the video has no audio track", None, dict(timer.totals), soundtrack)
    heard = listen(
        audio,
        pipeline.plugin(PluginKind.VAD),
        pipeline.plugin(PluginKind.DIARIZER),
        pipeline.plugin(PluginKind.SPEAKER_EMBEDDER),
        pipeline.plugin(PluginKind.TRANSCRIBER) if transcribe else None,
        voices,
        num_speakers,
        s,
        timer,
    )
    return Heard("ok", heard, dict(timer.totals), soundtrack, models=list(pipeline.models.loaded))


class BackgroundListening:
    """Starts the audio side in a child Python process; ``result`` waits for it (cancellable).

    A plain subprocess rather than multiprocessing: it never re-imports the caller's ``__main__``
    and works inside daemonic pool workers and Ray tasks. Its output goes to a log file, never to
    our stdout (which may be an MCP stdio channel)."""

    def __init__(
        self,
        settings: Settings,
        classes: dict[PluginKind, type],
        video: Path,
        voices: Voicebank | None,
        num_speakers: int | None,
        transcribe: bool,
        keep_soundtrack: Path | None,
    ) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="screenalytics-audio-"))
        self._result = self._dir / "result.pkl"
        self._log = open(self._dir / "audio.log", "wb")  # noqa: SIM115 - closed in stop()
        args = (video, voices, num_speakers, transcribe, keep_soundtrack)
        paths = {kind.value: class_path(cls) for kind, cls in classes.items()}
        payload = pickle.dumps((portable(settings), paths, args, str(self._result), os.getpid()), protocol=5)
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "screenalytics.audio_worker"],
            stdin=subprocess.PIPE,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        assert self._proc.stdin is not None
        self._proc.stdin.write(payload)
        self._proc.stdin.close()

    def result(self, timer: Timer) -> Heard:
        """The child's result; raises its error, or a clear one if it died (killed, out of memory)."""
        try:
            while self._proc.poll() is None:
                timer.check(Stage.DIARIZE)
                time.sleep(0.1)
            if not self._result.exists():
                self._log.flush()
                tail = (self._dir / "audio.log").read_text(errors="replace").strip().splitlines()[-1:] or [""]
                raise ScreenalyticsError(
                    f"the audio process stopped without a result (exit code {self._proc.returncode}; {tail[0][:200]}); "
                    "out of memory? set audio.parallel: false to run the audio stages in this process"
                )
            kind, payload = pickle.loads(self._result.read_bytes())
        finally:
            self.stop()
        if kind == "error":
            raise payload
        return payload  # type: ignore[no-any-return]

    def stop(self) -> None:
        """End the child (a cancelled or failed run must not leave it running) and tidy up."""
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(timeout=10)
        if not self._log.closed:
            self._log.close()
        shutil.rmtree(self._dir, ignore_errors=True)
