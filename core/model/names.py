"""One vocabulary for a run: the stages (timings, progress, config sections), the outputs they
hand on (events, tables, manifests) and the kinds of plugin that implement them."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Any


class Stage(StrEnum):
    """Every step of a run, in pipeline order; the keys of ``run.json`` timings and of progress."""

    DECODE = "decode"
    SHOTS = "shots"
    DETECT = "detect"
    ALIGN = "align"
    TRACK = "track"
    EMBED = "embed"
    ACTIVE_SPEAKER = "active_speaker"
    IDENTIFY = "identify"
    VAD = "vad"
    DIARIZE = "diarize"
    VOICES = "voices"
    FUSION = "fusion"
    TRANSCRIBE = "transcribe"

    @property
    def section(self) -> str:
        """The config section that tunes this stage."""
        return _SECTION[self]

    @property
    def kind(self) -> PluginKind | None:
        """The kind of plugin that implements this stage, if any."""
        return _KIND.get(self)

    @property
    def audio(self) -> bool:
        return self in AUDIO_STAGES

    @property
    def needs(self) -> tuple[Stage, ...]:
        """Stages whose output this one reads."""
        return _NEEDS.get(self, ())


VISION_STAGES = (Stage.DECODE, Stage.SHOTS, Stage.DETECT, Stage.ALIGN, Stage.TRACK, Stage.EMBED, Stage.IDENTIFY)
AUDIO_STAGES = (Stage.VAD, Stage.DIARIZE, Stage.VOICES, Stage.FUSION, Stage.TRANSCRIBE)
# the active speaker stage reads both: it runs in the pass over the video, on the faces and the soundtrack


class Output(StrEnum):
    """What the stages hand on: the ``stage_completed`` event names and the result tables' subjects."""

    DETECTIONS = "detections"
    TRACKS = "tracks"
    ASSIGNMENTS = "assignments"
    SPEECH = "speech"
    AV_LINKS = "av_links"
    SCREEN_TIME = "screen_time"


class PluginKind(StrEnum):
    """What a plugin can implement; each kind has a ``register_<kind>s`` hook."""

    DETECTOR = "detector"
    TRACKER = "tracker"
    RECOGNIZER = "recognizer"
    VAD = "vad"
    SPEAKER_EMBEDDER = "speaker_embedder"
    DIARIZER = "diarizer"
    TRANSCRIBER = "transcriber"
    ACTIVE_SPEAKER = "active_speaker"
    EXPORTER = "exporter"

    @property
    def hook(self) -> str:
        return f"register_{self.value}s"

    @property
    def setting(self) -> tuple[str, str]:
        """(section, key) of the config value that selects the implementation by name."""
        return _SELECTOR[self]

    def selected(self, settings: Any) -> Any:
        """The configured implementation name (exporters: the list of names)."""
        section, key = self.setting
        return getattr(getattr(settings, section), key)


_SECTION = {
    Stage.DECODE: "decode",
    Stage.SHOTS: "shots",
    Stage.DETECT: "detection",
    Stage.ALIGN: "recognition",
    Stage.TRACK: "tracking",
    Stage.EMBED: "recognition",
    Stage.ACTIVE_SPEAKER: "active_speaker",
    Stage.IDENTIFY: "identification",
    Stage.VAD: "vad",
    Stage.DIARIZE: "diarization",
    Stage.VOICES: "voicebank",
    Stage.FUSION: "fusion",
    Stage.TRANSCRIBE: "transcription",
}
_KIND = {
    Stage.DETECT: PluginKind.DETECTOR,
    Stage.ALIGN: PluginKind.RECOGNIZER,
    Stage.TRACK: PluginKind.TRACKER,
    Stage.EMBED: PluginKind.RECOGNIZER,
    Stage.ACTIVE_SPEAKER: PluginKind.ACTIVE_SPEAKER,
    Stage.VAD: PluginKind.VAD,
    Stage.DIARIZE: PluginKind.DIARIZER,
    Stage.VOICES: PluginKind.SPEAKER_EMBEDDER,
    Stage.TRANSCRIBE: PluginKind.TRANSCRIBER,
}
_NEEDS = {
    Stage.SHOTS: (Stage.DECODE,),
    Stage.DETECT: (Stage.DECODE,),
    Stage.ALIGN: (Stage.DETECT,),
    Stage.TRACK: (Stage.SHOTS, Stage.ALIGN),
    Stage.EMBED: (Stage.TRACK,),
    Stage.ACTIVE_SPEAKER: (Stage.TRACK,),
    Stage.IDENTIFY: (Stage.EMBED,),
    Stage.DIARIZE: (Stage.VAD,),
    Stage.VOICES: (Stage.DIARIZE,),
    Stage.FUSION: (Stage.VOICES, Stage.IDENTIFY, Stage.ACTIVE_SPEAKER),
    Stage.TRANSCRIBE: (Stage.FUSION,),
}
_SELECTOR = {
    PluginKind.DETECTOR: ("detection", "detector"),
    PluginKind.TRACKER: ("tracking", "tracker"),
    PluginKind.RECOGNIZER: ("recognition", "recognizer"),
    PluginKind.VAD: ("vad", "vad"),
    PluginKind.SPEAKER_EMBEDDER: ("speaker_embedding", "embedder"),
    PluginKind.DIARIZER: ("diarization", "diarizer"),
    PluginKind.TRANSCRIBER: ("transcription", "transcriber"),
    PluginKind.ACTIVE_SPEAKER: ("active_speaker", "scorer"),
    PluginKind.EXPORTER: ("screen_time", "exporters"),
}


def with_prerequisites(stages: Iterable[Stage | str] | None) -> set[Stage]:
    """The named stages plus every stage they read from (None: every stage)."""
    if stages is None:
        return set(Stage)
    todo, out = [Stage(s) for s in stages], set()
    while todo:
        s = todo.pop()
        if s not in out:
            out.add(s)
            todo.extend(s.needs)
    return out
