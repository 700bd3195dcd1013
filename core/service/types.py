"""Typed requests and results of the service layer: what every front door (CLI, Python, MCP,
playbooks) sends and gets back. Plain pydantic models, so they validate and serialise to JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from screenalytics.model.names import Stage
from screenalytics.service.preflight import EpisodeId, ShowId

T = TypeVar("T")


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- analysis ------------------------------------------------------------------------------------


class AnalyseRequest(Model):
    """One episode to analyse; results replace the episode's stored rows."""

    video: Path
    facebank: Path = Field(description="Folder FACEBANK/<person_id>/*.jpg, or a YAML file person_id: [photos]")
    out_dir: Path | None = Field(None, description="Output folder [default: ./out/<episode_id>]")
    episode_id: EpisodeId | None = Field(None, description="1-128 of A-Z a-z 0-9 . _ - [default: from the file name]")
    voicebank: Path | None = None
    num_speakers: int | None = Field(None, ge=1)
    show: ShowId | None = None
    stages: list[Stage] | None = Field(None, description="Run only these stages and what they need [default: all]")
    resume: bool = Field(
        False, description="Reuse the checkpoints of an earlier, interrupted run with the same inputs and settings"
    )
    force: bool = Field(False, description="Re-run every stage even when the stored results already match these inputs")


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
    reused: list[str] = Field(default_factory=list, description="stages taken from checkpoints instead of re-run")
    up_to_date: bool = Field(False, description="the stored results already matched these inputs; nothing was re-run")
    warnings: list[str] = Field(default_factory=list, description="e.g. a video that decoded short (decode.on_short: warn)")


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


class PurgeOutcome(Model):
    keys: list[str]
    dry_run: bool
    confirm_token: str | None = Field(None, description="pass with dry_run=false to delete exactly these keys")


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


# --- jobs and pages ------------------------------------------------------------------------------


class JobInfo(Model):
    """A processing job as a client sees it (status: queued | running | done | failed | cancelled)."""

    job_id: str
    kind: str
    status: str
    stage: str | None = Field(None, description="the stage running now")
    done: float = Field(0.0, description="progress within the stage (seconds of media, or steps)")
    total: float = 0.0
    fraction: float = Field(0.0, description="estimated share of the whole job done, 0..1")
    eta_s: float | None = Field(None, description="estimated seconds left, from the share done so far")
    message: str = ""
    episode_id: str | None = None
    created_at: str
    updated_at: str
    finished_at: str | None = None
    error: str | None = None
    result: dict[str, Any] | None = Field(None, description="the AnalyseResult once done")
    log: str | None = Field(None, description="the worker's log file")
    timed_out: bool = Field(False, description="the wait ended before the job did: call get_job again")


class Page(Model, Generic[T]):
    """One page of a list; pass ``next_cursor`` back as ``cursor`` for the next one (null: last page)."""

    items: list[T]
    total: int
    next_cursor: int | None = None


# --- triage --------------------------------------------------------------------------------------


class Candidate(Model):
    person_id: str
    similarity: float


class VoiceLink(Model):
    speaker: str
    person_id: str
    method: str
    score: float
    seconds: float


class QueueEvidence(Model):
    """A low-confidence track with what a reviewer (or an agent) needs to decide it."""

    track_id: int
    person_id: str = Field(description="who the track is labelled now")
    confidence: float
    seconds: float = Field(description="seconds of screen time at stake")
    reasons: list[str]
    locked: bool = False
    candidates: list[Candidate] = Field(description="the two facebank people most similar to the track, best first")
    margin: float | None = Field(None, description="best minus second similarity")
    voice: list[VoiceLink] = Field(default_factory=list, description="speech turns attributed to this track")
    chips: list[str] = Field(default_factory=list, description="signed URLs of the track's face chips")


class ScreenTimeSummary(Model):
    episode_id: str
    rows: list[ScreenTimeRow]
    total_visual_s: float
    unassigned_visual_s: float = Field(description="visual seconds of unknown_* people")
    unassigned_share: float = Field(description="unassigned_visual_s / total_visual_s (0 when nothing is visible)")
    min_cast_confidence: float | None = Field(None, description="lowest confidence among identified cast")


class EditOutcome(Model):
    """An edit applied, or previewed: a preview carries the token that applies it unchanged."""

    op: str
    applied: bool
    rows_changed: int
    screen_time: list[ScreenTimeRow]
    confirm_token: str | None = Field(None, description="pass with dry_run=false to apply this exact preview")
    message: str = ""
    proposed: bool = Field(False, description="recorded as a proposal (propose-only policy), not applied")
