"""The named operations every automated front door calls: MCP tools and playbook steps.

One table, so a tool and a playbook step of the same name are the same call into the service,
with the same typed input, the same result and the same safety rules. Each entry says which MCP
server offers it (``None``: playbooks only) and how it behaves (read-only, destructive,
idempotent), which the MCP servers publish as tool annotations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from screenalytics.errors import InputError, ScreenalyticsError
from screenalytics.model.names import Stage
from screenalytics.service.analytics import NamedQueryInfo, QueryResult, TableInfo
from screenalytics.service.notify import NotifyResult
from screenalytics.service.policy import EditPolicy, PolicyGuard
from screenalytics.service.preflight import EpisodeId, ShowId
from screenalytics.service.types import (
    AnalyseRequest,
    AnalyseResult,
    EditOutcome,
    Episode,
    Files,
    HistoryItem,
    JobInfo,
    Keys,
    Page,
    Person,
    PurgeOutcome,
    QueueEvidence,
    RunStatus,
    ScreenTimeSummary,
    SignedUrl,
)

Server = Literal["screenalytics", "storage", "analytics"]


@dataclass
class Caller:
    """Who calls, under which policy, and where progress goes (MCP notifications, a console)."""

    who: str = "unknown"
    guard: PolicyGuard = field(default_factory=lambda: PolicyGuard(None))
    on_job_update: Callable[[JobInfo], None] | None = None


@dataclass(frozen=True)
class Operation:
    name: str
    input: type[BaseModel]
    output: type[BaseModel]
    run: Callable[[Any, Any, Caller], BaseModel]  # (service, validated input, caller) -> output
    server: Server | None = "screenalytics"
    read_only: bool = True
    destructive: bool = False
    idempotent: bool = True
    open_world: bool = False  # reaches beyond the store (webhooks)
    title: str = ""

    @property
    def description(self) -> str:
        return (self.input.__doc__ or self.name).strip()


OPERATIONS: dict[str, Operation] = {}


def operation(
    name: str,
    output: type[BaseModel],
    server: Server | None = "screenalytics",
    read_only: bool = True,
    destructive: bool = False,
    idempotent: bool = True,
    open_world: bool = False,
) -> Callable[[Callable[..., BaseModel]], Callable[..., BaseModel]]:
    """Registers ``fn(service, input, caller)``; its first parameter's annotation is the input model."""

    def register(fn: Callable[..., BaseModel]) -> Callable[..., BaseModel]:
        model = fn.__annotations__["args"]
        model = globals()[model] if isinstance(model, str) else model
        OPERATIONS[name] = Operation(name, model, output, fn, server, read_only, destructive, idempotent, open_world)
        return fn

    return register


def get_operation(name: str) -> Operation:
    if name not in OPERATIONS:
        raise InputError(f"unknown operation {name!r}; known: {', '.join(sorted(OPERATIONS))}")
    return OPERATIONS[name]


def invoke(service: Any, name: str, arguments: dict[str, Any], caller: Caller | None = None) -> BaseModel:
    """Validate ``arguments`` against the operation's input and run it (one-line errors)."""
    op = get_operation(name)
    try:
        args = op.input.model_validate(arguments)
    except ValidationError as e:
        raise InputError(f"{name}: {describe_validation(e)}") from None
    return op.run(service, args, caller or Caller())


def describe_validation(e: ValidationError) -> str:
    parts = []
    for err in e.errors():
        where = ".".join(str(x) for x in err["loc"]) or "input"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


class Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Paged(Args):
    cursor: int = Field(0, ge=0, description="offset of the first item (a previous page's next_cursor)")
    limit: int | None = Field(None, ge=1, description="items per page [default: mcp.page_size]")


class EpisodeArgs(Args):
    episode_id: str = Field(min_length=1)


class Edit(EpisodeArgs):
    reason: str = Field("", description="why, for the edit history")
    dry_run: bool = Field(False, description="only preview: nothing is written")


class Guarded(Edit):
    force: bool = Field(False, description="change locked rows too: needs dry_run=true first, then its confirm_token")
    confirm_token: str | None = Field(None, description="the token from a dry run of this exact call")


# --- processing ----------------------------------------------------------------------------------


class ProcessEpisode(Args):
    """Analyse an episode now and wait for the result (playbooks; MCP clients use start_process_episode)."""

    video: Path
    facebank: Path = Field(description="folder FACEBANK/<person_id>/*.jpg, or a YAML file person_id: [photos]")
    episode_id: EpisodeId | None = Field(None, description="1-128 of A-Z a-z 0-9 . _ - [default: from the file name]")
    out_dir: Path | None = Field(None, description="where the output files go [default: ./out/<episode_id>]")
    voicebank: Path | None = None
    num_speakers: int | None = Field(None, ge=1)
    show: ShowId | None = None
    stages: list[Stage] | None = Field(None, description="only these stages and what they need [default: all]")


class StartProcessEpisode(ProcessEpisode):
    """Start processing an episode as a job and return its job_id at once; poll it with get_job."""


@operation("process_episode", AnalyseResult, server=None, read_only=False, idempotent=True)
def _process_episode(svc: Any, args: ProcessEpisode, caller: Caller) -> BaseModel:
    return svc.analyse(AnalyseRequest(**args.model_dump()))


@operation("start_process_episode", JobInfo, read_only=False, idempotent=False)
def _start(svc: Any, args: StartProcessEpisode, caller: Caller) -> BaseModel:
    return svc.start_job(AnalyseRequest(**args.model_dump()))


class GetJob(Args):
    """A job's status (queued|running|done|failed|cancelled), stage, progress and ETA; waits up to wait_s for it to end."""

    job_id: str
    wait_s: float = Field(0, ge=0, le=25, description="block up to this long (at most 25 s) for the job to finish")


@operation("get_job", JobInfo)
def _get_job(svc: Any, args: GetJob, caller: Caller) -> BaseModel:
    return svc.get_job(args.job_id, args.wait_s, caller.on_job_update)


class CancelJob(Args):
    """Stop a job between steps; the episode keeps its previously stored results."""

    job_id: str


@operation("cancel_job", JobInfo, read_only=False)
def _cancel_job(svc: Any, args: CancelJob, caller: Caller) -> BaseModel:
    return svc.cancel_job(args.job_id)


class ListJobs(Paged):
    """Recorded jobs, newest first."""


@operation("list_jobs", Page[JobInfo])
def _list_jobs(svc: Any, args: ListJobs, caller: Caller) -> BaseModel:
    return svc.list_jobs(args.cursor, args.limit)


# --- reading -------------------------------------------------------------------------------------


class ListEpisodes(Paged):
    """Episodes in the catalog (optionally of one show)."""

    show_id: str | None = None


@operation("list_episodes", Page[Episode])
def _list_episodes(svc: Any, args: ListEpisodes, caller: Caller) -> BaseModel:
    return svc.paged(svc.list_episodes(args.show_id), args.cursor, args.limit)


class ListPeople(Paged):
    """People in the catalog, with their featured thumbnail key."""


@operation("list_people", Page[Person])
def _list_people(svc: Any, args: ListPeople, caller: Caller) -> BaseModel:
    return svc.paged(svc.list_people(), args.cursor, args.limit)


class EpisodeStatus(EpisodeArgs):
    """What the store holds for an episode: analysed or not, its run id, rows per table, run.json."""


@operation("episode_status", RunStatus)
def _status(svc: Any, args: EpisodeStatus, caller: Caller) -> BaseModel:
    return svc.run_status(args.episode_id)


class GetScreenTime(EpisodeArgs):
    """Per person visual, speaking and overlap seconds with confidence, after review edits."""


@operation("get_screen_time", ScreenTimeSummary)
def _screen_time(svc: Any, args: GetScreenTime, caller: Caller) -> BaseModel:
    return svc.screen_time_summary(args.episode_id)


class ListLowConfidence(EpisodeArgs, Paged):
    """Tracks to review, most seconds at stake first, with evidence: top two people, margin, voice, chips."""

    threshold: float | None = Field(None, ge=0, le=1.01, description="confidence below this is listed [review.queue_threshold]")


@operation("list_low_confidence", Page[QueueEvidence])
def _queue(svc: Any, args: ListLowConfidence, caller: Caller) -> BaseModel:
    return svc.paged(svc.evidence(args.episode_id, args.threshold), args.cursor, args.limit)


class GetHistory(EpisodeArgs, Paged):
    """The episode's edits and undos, oldest first."""


@operation("get_history", Page[HistoryItem])
def _history(svc: Any, args: GetHistory, caller: Caller) -> BaseModel:
    return svc.paged(svc.history(args.episode_id), args.cursor, args.limit)


# --- edits ---------------------------------------------------------------------------------------


class AssignIdentity(Guarded):
    """Say who a track, a cluster (every track labelled CLUSTER_ID, e.g. unknown_2) or a single frame is."""

    person_id: str = Field(min_length=1)
    track_id: int | None = None
    cluster_id: str | None = None
    detection_id: int | None = None

    @model_validator(mode="after")
    def _one_target(self) -> AssignIdentity:
        given = [k for k in ("track_id", "cluster_id", "detection_id") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of track_id, cluster_id, detection_id")
        return self


@operation("assign_identity", EditOutcome, read_only=False, destructive=True)
def _assign(svc: Any, args: AssignIdentity, caller: Caller) -> BaseModel:
    if args.track_id is not None:
        name, target = "reassign_track", {"track_id": args.track_id}
    elif args.cluster_id is not None:
        name, target = "reassign_cluster", {"cluster_id": args.cluster_id}
    else:
        name, target = "reassign_frame", {"detection_id": args.detection_id}
    return _guarded_edit(svc, args, caller, name, {**target, "person_id": args.person_id, "force": args.force}, target)


class LockTrack(Edit):
    """Lock (or unlock) a track's identity so automatic passes and agents leave it alone."""

    track_id: int
    locked: bool = True


@operation("lock_track", EditOutcome, read_only=False)
def _lock(svc: Any, args: LockTrack, caller: Caller) -> BaseModel:
    return _guarded_edit(svc, args, caller, "set_lock", {"track_id": args.track_id, "locked": args.locked}, None)


class PropagateIdentity(Edit):
    """Pass a locked track's person on to similar unreviewed tracks of the episode."""

    track_id: int
    threshold: float | None = Field(None, ge=-1, le=1, description="cosine similarity [review.propagate_threshold]")


@operation("propagate_identity", EditOutcome, read_only=False, destructive=True, idempotent=False)
def _propagate(svc: Any, args: PropagateIdentity, caller: Caller) -> BaseModel:
    limit = args.threshold if args.threshold is not None else svc.settings.review.propagate_threshold
    return _guarded_edit(svc, args, caller, "propagate", {"track_id": args.track_id, "threshold": limit}, None)


class MergeTracks(Guarded):
    """Merge track ABSORB into track KEEP (one person split by the tracker)."""

    keep: int
    absorb: int


@operation("merge_tracks", EditOutcome, read_only=False, destructive=True, idempotent=False)
def _merge(svc: Any, args: MergeTracks, caller: Caller) -> BaseModel:
    values = {"keep": args.keep, "absorb": args.absorb, "force": args.force}
    return _guarded_edit(svc, args, caller, "merge_tracks", values, {"track_id": args.absorb})


class SplitTrack(Edit):
    """Split a track at a time (two people merged by the tracker); the second part gets a new id."""

    track_id: int
    at_seconds: float = Field(ge=0)


@operation("split_track", EditOutcome, read_only=False, destructive=True, idempotent=False)
def _split(svc: Any, args: SplitTrack, caller: Caller) -> BaseModel:
    return _guarded_edit(svc, args, caller, "split_track", {"track_id": args.track_id, "at_seconds": args.at_seconds}, None)


class Undo(EpisodeArgs):
    """Undo the latest edit. Destructive: dry_run (default) previews it and returns confirm_token; pass it with dry_run=false."""

    dry_run: bool = True
    confirm_token: str | None = None
    reason: str = ""


@operation("undo", EditOutcome, read_only=False, destructive=True, idempotent=False)
def _undo(svc: Any, args: Undo, caller: Caller) -> BaseModel:
    with caller.guard.serial:
        if not args.dry_run:
            caller.guard.check("undo", locked=False)
        out = svc.undo_edit(args.episode_id, dry_run=args.dry_run, confirm=args.confirm_token, who=caller.who, reason=args.reason)
        if out.applied:
            caller.guard.count()
        return out


def _guarded_edit(
    svc: Any, args: Edit, caller: Caller, name: str, values: dict[str, Any], target: dict[str, Any] | None
) -> BaseModel:
    """An edit under the caller's policy: checked, proposed instead of applied, or applied."""
    if caller.guard.policy is None:
        return _edit(svc, args, caller, name, values, target)
    with caller.guard.serial:  # check .. count as one step
        return _edit(svc, args, caller, name, values, target)


def _edit(svc: Any, args: Edit, caller: Caller, name: str, values: dict[str, Any], target: dict[str, Any] | None) -> BaseModel:
    locked = bool(getattr(args, "force", False)) or (target is not None and svc.is_locked(args.episode_id, target))
    similarity = margin = None
    assigns = "person_id" in values
    if assigns and target is not None and caller.guard.policy is not None:
        similarity, margin = svc.similarity(args.episode_id, values["person_id"], target)
    if not args.dry_run:
        caller.guard.check(name, locked, similarity, margin, assigns)
    if caller.guard.propose_only and not args.dry_run:
        preview = svc.apply_edit(args.episode_id, name, {**values, "force": False}, dry_run=True)
        proposal = {"episode_id": args.episode_id, "op": name, **values, "similarity": similarity, "margin": margin}
        caller.guard.propose({**proposal, "reason": args.reason})
        caller.guard.count()
        return preview.model_copy(update={"proposed": True, "confirm_token": None, "message": "proposed, not applied"})
    token = getattr(args, "confirm_token", None)
    out = svc.apply_edit(args.episode_id, name, values, dry_run=args.dry_run, confirm=token, who=caller.who, reason=args.reason)
    if out.applied:
        caller.guard.count()
    return out


class AutoTriage(EpisodeArgs):
    """Rules-only triage of the low-confidence queue: give each unlocked track its most similar
    facebank person when similarity and margin clear the minimums, at most max_changes times."""

    min_similarity: float = Field(0.45, ge=-1, le=1)
    min_margin: float = Field(0.08, ge=0, le=2)
    max_changes: int = Field(10, ge=0)
    propose_only: bool = Field(True, description="record proposals in proposals_file instead of applying them")
    proposals_file: Path | None = None
    threshold: float | None = Field(None, ge=0, le=1.01, description="queue threshold [review.queue_threshold]")


class TriageDecision(Args):
    track_id: int
    person_id: str
    similarity: float | None
    margin: float | None
    outcome: str  # applied | proposed | skipped
    why: str = ""


class TriageReport(Args):
    episode_id: str
    considered: int
    decisions: list[TriageDecision]


@operation("auto_triage", TriageReport, read_only=False, destructive=True, idempotent=False)
def _auto_triage(svc: Any, args: AutoTriage, caller: Caller) -> BaseModel:
    policy = EditPolicy(
        max_changes=args.max_changes,
        min_similarity=args.min_similarity,
        min_margin=args.min_margin,
        propose_only=args.propose_only,
        proposals_file=args.proposals_file,
    )
    mine = Caller(who=caller.who, guard=PolicyGuard(policy))
    decisions = []
    queue = svc.evidence(args.episode_id, args.threshold, chips=False)
    for item in queue:
        best = item.candidates[0] if item.candidates else None
        if best is None:
            decisions.append(
                TriageDecision(
                    track_id=item.track_id,
                    person_id="",
                    similarity=None,
                    margin=None,
                    outcome="skipped",
                    why="no face embedding to compare",
                )
            )
            continue
        decision = TriageDecision(
            track_id=item.track_id, person_id=best.person_id, similarity=best.similarity, margin=item.margin, outcome="skipped"
        )
        try:
            out = _assign(
                svc,
                AssignIdentity(
                    episode_id=args.episode_id, person_id=best.person_id, track_id=item.track_id, reason="auto_triage"
                ),
                mine,
            )
            decision.outcome = "proposed" if out.proposed else "applied"  # type: ignore[attr-defined]
        except ScreenalyticsError as e:
            decision.why = str(e)
        decisions.append(decision)
    return TriageReport(episode_id=args.episode_id, considered=len(queue), decisions=decisions)


# --- export and facebank -------------------------------------------------------------------------


class ExportScreenTime(EpisodeArgs):
    """Write the stored episode (after edits) in one or more formats (csv, json, or an installed exporter)."""

    format: str | list[str] = Field("csv", description="exporter name(s)")
    out: Path = Field(description="folder the files are written to")


@operation("export_screen_time", Files, read_only=False)
def _export(svc: Any, args: ExportScreenTime, caller: Caller) -> BaseModel:
    formats = [args.format] if isinstance(args.format, str) else list(args.format)
    return svc.export(args.episode_id, formats, args.out)


class Notify(EpisodeArgs):
    """POST the stored episode's screen time and report link to webhooks (signed, retried); returns the receipt.
    A repeat sends the same Idempotency-Key, so receivers drop it as a duplicate."""

    urls: list[str] | None = Field(None, description="webhook URLs [default: plugins.webhook.urls]")


@operation("notify", NotifyResult, read_only=False, idempotent=True, open_world=True)
def _notify(svc: Any, args: Notify, caller: Caller) -> BaseModel:
    return svc.notify(args.episode_id, args.urls)


class PromoteToFacebank(EpisodeArgs):
    """Copy a reviewed track's best face chips into PERSON_ID's stored facebank photos."""

    track_id: int
    person_id: str = Field(min_length=1)
    count: int = Field(3, ge=1, le=20)


@operation("promote_to_facebank", Keys, read_only=False)
def _promote(svc: Any, args: PromoteToFacebank, caller: Caller) -> BaseModel:
    return svc.promote(args.episode_id, args.track_id, args.person_id, args.count)


# --- storage -------------------------------------------------------------------------------------


class ListArtifacts(Paged):
    """Artifact keys under a prefix of the configured storage root (frames/, chips/, manifests/...)."""

    prefix: str = ""


@operation("list_artifacts", Page[str], server="storage")
def _list_artifacts(svc: Any, args: ListArtifacts, caller: Caller) -> BaseModel:
    return svc.paged(svc.list_artifacts(args.prefix).keys, args.cursor, args.limit)


class GetSignedUrl(Args):
    """A short-lived URL (S3) or local path for one artifact key."""

    key: str = Field(min_length=1)
    expires_s: int | None = Field(None, ge=1, le=7 * 86400)


@operation("signed_url", SignedUrl, server="storage")
def _signed_url(svc: Any, args: GetSignedUrl, caller: Caller) -> BaseModel:
    return svc.signed_url(args.key, args.expires_s)


class Purge(Args):
    """Delete artifacts under PREFIX older than DAYS. Destructive: dry_run (default) lists them and returns confirm_token."""

    prefix: str = Field(min_length=1, description="an artifact prefix such as frames/ or chips/")
    older_than_days: int = Field(ge=0)
    dry_run: bool = True
    confirm_token: str | None = None


@operation("purge", PurgeOutcome, server="storage", read_only=False, destructive=True, idempotent=True)
def _purge(svc: Any, args: Purge, caller: Caller) -> BaseModel:
    return svc.purge_confirmed(args.prefix, args.older_than_days, args.dry_run, args.confirm_token)


# --- analytics -----------------------------------------------------------------------------------


class ListTables(Args):
    """The tables SQL can read (results and catalog), with their columns and row counts."""


class Tables(Args):
    tables: list[TableInfo]


@operation("list_tables", Tables, server="analytics")
def _list_tables(svc: Any, args: ListTables, caller: Caller) -> BaseModel:
    return Tables(tables=svc.list_tables())


class ListNamedQueries(Args):
    """The named queries (screen time per person per season, speaking share, who appears with whom) and their parameters."""


class NamedQueries(Args):
    queries: list[NamedQueryInfo]


@operation("list_named_queries", NamedQueries, server="analytics")
def _list_named(svc: Any, args: ListNamedQueries, caller: Caller) -> BaseModel:
    return NamedQueries(queries=svc.list_named_queries())


class Query(Args):
    """Run one read-only SELECT (DuckDB SQL), parameters bound ($name with an object, ? with a list), row/size/time limited."""

    sql: str = Field(min_length=1)
    params: dict[str, Any] | list[Any] | None = Field(None, description="values bound to $name or ? placeholders")
    max_rows: int | None = Field(None, ge=0, description="at most analytics.max_rows")


@operation("query", QueryResult, server="analytics")
def _query(svc: Any, args: Query, caller: Caller) -> BaseModel:
    return svc.query(args.sql, args.params, args.max_rows)


class RunNamedQuery(Args):
    """Run a named query (see list_named_queries) with its optional parameters."""

    name: str
    params: dict[str, Any] | None = None
    max_rows: int | None = Field(None, ge=0)


@operation("run_named_query", QueryResult, server="analytics")
def _named(svc: Any, args: RunNamedQuery, caller: Caller) -> BaseModel:
    return svc.named_query(args.name, args.params, args.max_rows)
