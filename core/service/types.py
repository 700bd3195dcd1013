"""Typed requests and results of the service layer: what every front door (CLI, Python, MCP,
playbooks) sends and gets back. Plain pydantic models, so they validate and serialise to JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from screenalytics.model.names import Stage


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- analysis ------------------------------------------------------------------------------------


class AnalyseRequest(Model):
    """One episode to analyse; results replace the episode's stored rows."""

    video: Path
    facebank: Path = Field(description="Folder FACEBANK/<person_id>/*.jpg, or a YAML file person_id: [photos]")
    out_dir: Path | None = Field(None, description="Output folder [default: ./out/<episode_id>]")
    episode_id: str | None = None
    voicebank: Path | None = None
    num_speakers: int | None = Field(None, ge=1)
    show: str | None = None
    stages: list[Stage] | None = Field(None, description="Run only these stages and what they need [default: all]")


class ScreenTimeRow(Model):
    person_id: str
    visual_s: float
    speaking_s: float
    both_s: float
    confidence: float


class AnalyseResult(Model):
    episode_id: str
    run_id: str
    out_dir: Path
    files: list[Path]
    screen_time: list[ScreenTimeRow]
    frames_analysed: int
    shots: int
    tracks: int
    speech_turns: int
    speakers: int
    audio_status: str
    skipped_photos: list[str]
    skipped_clips: list[str]
    timings_s: dict[str, float]


class RunStatus(Model):
    """What the store holds for an episode."""

    episode_id: str
    analysed: bool
    run_id: str | None
    rows: dict[str, int]
    run: dict[str, Any] | None = Field(None, description="the published run.json, when there is one")


# --- catalog -------------------------------------------------------------------------------------


class Show(Model):
    show_id: str
    title: str


class Season(Model):
    show_id: str
    season: int
    title: str


class Episode(Model):
    episode_id: str
    show_id: str
    season: int
    number: int
    title: str | None = None
    air_date: str | None = None


class Person(Model):
    person_id: str
    name: str
    featured: str = ""


class CastMember(Model):
    show_id: str
    person_id: str
    role: str


# --- review --------------------------------------------------------------------------------------


class QueueItem(Model):
    track_id: int
    person_id: str
    confidence: float
    seconds: float
    reasons: list[str]


class EditResult(Model):
    """One committed edit (or undo) and the screen time it leaves."""

    op: str
    rows_changed: int
    screen_time: list[ScreenTimeRow]


class HistoryItem(Model):
    seq: int
    at: str
    who: str
    op: str
    args: str
    reason: str
    undoes: str


# --- files, storage, models ----------------------------------------------------------------------


class Files(Model):
    files: list[Path]


class Keys(Model):
    keys: list[str]


class SignedUrl(Model):
    key: str
    url: str
    expires_s: int


class PurgeResult(Model):
    keys: list[str]
    dry_run: bool


class ModelInfo(Model):
    name: str
    stage: str
    status: str  # ok | missing | checksum mismatch
    licence: str
    description: str
    source: str
    default: bool
    downloadable: bool
    plugin: str


class PullResult(Model):
    pulled: dict[str, list[Path]]
    not_downloadable: dict[str, str] = Field(description="model -> where to get it by hand")


class PluginKindInfo(Model):
    selected: str | None
    implementations: dict[str, str]  # name -> module
