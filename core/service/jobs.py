"""Processing an episode as a job: started at once, run by a worker process, polled with a
bounded wait, cancellable, and recorded in the store.

MCP clients abandon a tool call after 5 to 60 s and the SDK has no background tasks, so
``start_job`` only writes a record and spawns ``screenalytics jobs work JOB_ID`` (detached, its
output in a log file, never on the server's stdout). The worker writes progress to the record;
``get_job`` reads it. A server restart therefore loses nothing, and a worker that died is
reported as failed once its heartbeat goes stale.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

from pydantic import SecretStr

from screenalytics.errors import Cancelled, InputError, ScreenalyticsError
from screenalytics.model.names import Stage, with_prerequisites
from screenalytics.service.base import ServiceBase
from screenalytics.service.types import AnalyseRequest, JobInfo, Page
from screenalytics.stores.jobs import TERMINAL, JobStore, new_job_id, now_iso

T = TypeVar("T")
ACTIVE = ("queued", "running")
SETTINGS_ENV = "SCREENALYTICS_JOB_SETTINGS"  # the settings a worker runs with (JSON)


class JobOps(ServiceBase):
    @cached_property
    def jobs(self) -> JobStore:
        return JobStore(self.artifacts)

    # -- the caller's side ---------------------------------------------------------------------
    def start_job(self, req: AnalyseRequest, spawn: bool = True) -> JobInfo:
        """Record a job and start its worker; returns at once with the job id.

        Inputs are checked before anything starts (a missing video or facebank fails here, not
        in the worker), and an episode already being processed is refused rather than raced.
        """
        for path, what in ((req.video, "video"), (req.facebank, "facebank"), (req.voicebank, "voicebank")):
            if path is not None and not Path(path).exists():
                raise InputError(f"{what} not found: {path}")
        req = req.model_copy(
            update={
                k: Path(v).resolve() for k in ("video", "facebank", "voicebank", "out_dir") if (v := getattr(req, k)) is not None
            }
        )
        if req.episode_id:
            busy = [j for j in self.jobs.all() if j["status"] in ACTIVE and j["request"].get("episode_id") == req.episode_id]
            for job in busy:
                if self._live(job):
                    raise InputError(
                        f"episode {req.episode_id!r} is being processed by {job['job_id']}: get_job or cancel_job it first"
                    )
        stamp = now_iso()
        record = {
            "job_id": new_job_id(),
            "kind": "process_episode",
            "status": "queued",
            "request": req.model_dump(mode="json"),
            "stage": None,
            "done": 0.0,
            "total": 0.0,
            "stages": [s.value for s in _planned(req)],
            "message": "queued",
            "created_at": stamp,
            "updated_at": stamp,
            "started_at": None,
            "finished_at": None,
            "heartbeat": time.time(),
            "worker": None,
            "log": None,
            "cancel_requested": False,
            "result": None,
            "error": None,
        }
        self.jobs.create(record)
        if spawn:
            record = self._spawn(record)
        return job_info(record)

    def get_job(self, job_id: str, wait_s: float = 0.0, on_update: Callable[[JobInfo], None] | None = None) -> JobInfo:
        """The job's state, waiting up to ``wait_s`` (capped by jobs.max_wait_s) for it to finish.

        ``on_update`` sees every change while waiting (MCP progress notifications)."""
        wait = max(0.0, min(wait_s, self.settings.jobs.max_wait_s))
        deadline = time.monotonic() + wait
        last: tuple[Any, ...] | None = None
        while True:
            record = self._checked(self.jobs.get(job_id))
            info = job_info(record)
            seen = (info.status, info.stage, info.done)
            if on_update is not None and seen != last:
                on_update(info)
            last = seen
            if info.status in TERMINAL or time.monotonic() >= deadline:
                info.timed_out = info.status not in TERMINAL and wait > 0
                return info
            time.sleep(min(self.settings.jobs.poll_s, max(0.0, deadline - time.monotonic())))

    def cancel_job(self, job_id: str) -> JobInfo:
        """Ask the worker to stop between steps; a queued job is cancelled at once. Idempotent."""
        record = self._checked(self.jobs.get(job_id))
        if record["status"] in TERMINAL:
            return job_info(record)
        record["cancel_requested"] = True
        if record["status"] == "queued" and not (record.get("worker") and self._live(record)):
            record.update(status="cancelled", message="cancelled before it started", finished_at=now_iso())
        else:
            record["message"] = "cancelling"
        return job_info(self.jobs.put(record))

    def list_jobs(self, cursor: int = 0, limit: int | None = None) -> Page[JobInfo]:
        """Every recorded job, newest first."""
        return self.paged([job_info(self._checked(r)) for r in self.jobs.all()], cursor, limit)

    def paged(self, items: list[T], cursor: int = 0, limit: int | None = None) -> Page[T]:
        return Page[Any](**paginate(items, cursor, limit or self.settings.mcp.page_size, self.settings.mcp.max_page_size))

    def _checked(self, record: dict[str, Any]) -> dict[str, Any]:
        """A job whose worker died (no heartbeat for jobs.stale_after_s) is reported failed."""
        if record["status"] in ACTIVE and not self._live(record):
            why = (
                "the worker stopped without finishing (killed, or the machine restarted)"
                if record.get("worker")
                else ("no worker ever started it")
            )
            record.update(status="failed", error=f"{why}; start the job again", finished_at=now_iso())
            self.jobs.put(record)
        return record

    def _live(self, record: dict[str, Any]) -> bool:
        worker = record.get("worker") or {}
        if worker.get("host") == _host() and worker.get("pid"):
            return _pid_alive(int(worker["pid"]))
        return time.time() - float(record.get("heartbeat") or 0) < self.settings.jobs.stale_after_s

    def _spawn(self, record: dict[str, Any]) -> dict[str, Any]:
        logs = Path(tempfile.gettempdir()) / "screenalytics-jobs"
        logs.mkdir(parents=True, exist_ok=True)
        log = logs / f"{record['job_id']}.log"
        cmd = [sys.executable, "-m", "screenalytics", "jobs", "work", record["job_id"]]
        env = {**os.environ, **self._settings_env()}
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        threading.Thread(target=proc.wait, daemon=True).start()  # reap it, so it never lingers as a zombie
        record = self.jobs.get(record["job_id"])
        if record["status"] == "queued" and not record.get("worker"):  # the worker may have started already
            record.update(worker={"host": _host(), "pid": proc.pid}, log=str(log))
            record = self.jobs.put(record)
        return record

    def _settings_env(self) -> dict[str, str]:
        """The worker must use this service's settings (a --config file included): passed whole,
        secrets too, as one JSON variable of the child's environment (never on its command line)."""

        def plain(value: Any) -> Any:
            return value.get_secret_value() if isinstance(value, SecretStr) else str(value)

        return {SETTINGS_ENV: json.dumps(self.settings.model_dump(), default=plain)}

    # -- the worker's side ---------------------------------------------------------------------
    def run_job(self, job_id: str) -> JobInfo:
        """Run a recorded job in this process (what ``screenalytics jobs work`` does)."""
        record = self.jobs.get(job_id)
        if record["status"] != "queued":
            raise InputError(f"job {job_id} is {record['status']}, not queued")
        if record.get("cancel_requested"):
            record.update(status="cancelled", message="cancelled before it started", finished_at=now_iso())
            return job_info(self.jobs.put(record))
        record.update(
            status="running",
            started_at=now_iso(),
            heartbeat=time.time(),
            worker={"host": _host(), "pid": os.getpid()},
            message="loading models",
        )
        self.jobs.put(record)
        tracker = _Tracker(self.jobs, job_id, self.settings.jobs.heartbeat_s)
        try:
            result = self.analyse(AnalyseRequest.model_validate(record["request"]), tracker.progress, tracker)  # type: ignore[attr-defined]
        except Cancelled as e:
            return job_info(tracker.finish(status="cancelled", message=str(e)))
        except ScreenalyticsError as e:
            return job_info(tracker.finish(status="failed", error=str(e), message="failed"))
        except Exception as e:  # a bug: record it, so the caller is not left polling a dead job
            tracker.finish(status="failed", error=f"{type(e).__name__}: {e}", message="failed")
            raise
        return job_info(tracker.finish(status="done", message="done", result=result.model_dump(mode="json")))


class _Tracker:
    """The worker's view of its record: progress writes (throttled) and the cancel flag."""

    def __init__(self, jobs: JobStore, job_id: str, heartbeat_s: float) -> None:
        self.jobs, self.job_id, self.heartbeat_s = jobs, job_id, heartbeat_s
        self.stage: str | None = None
        self.last_write = 0.0
        self.cancelled = False
        self.lock = threading.Lock()
        self.beat = threading.Event()
        threading.Thread(target=self._heartbeat, daemon=True).start()

    def _heartbeat(self) -> None:
        while not self.beat.wait(self.heartbeat_s):
            self._write({})

    def progress(self, stage: Stage, done: float, total: float) -> None:
        new_stage = stage.value != self.stage
        self.stage = stage.value
        if new_stage or time.monotonic() - self.last_write > 0.5:
            self._write({"stage": stage.value, "done": float(done), "total": float(total), "message": _message(stage)})

    def is_set(self) -> bool:
        return self.cancelled

    def _write(self, changes: dict[str, Any]) -> None:
        with self.lock:
            record = self.jobs.get(self.job_id)
            self.cancelled = self.cancelled or bool(record.get("cancel_requested"))
            if record["status"] != "running":
                return
            record.update(changes, heartbeat=time.time())
            self.jobs.put(record)
            self.last_write = time.monotonic()

    def finish(self, **changes: Any) -> dict[str, Any]:
        self.beat.set()
        with self.lock:
            record = self.jobs.get(self.job_id)
            record.update(changes, finished_at=now_iso(), heartbeat=time.time())
            return self.jobs.put(record)


MESSAGES = {
    Stage.DECODE: "decoding video",
    Stage.SHOTS: "finding shot cuts",
    Stage.DETECT: "detecting faces",
    Stage.ALIGN: "aligning faces",
    Stage.TRACK: "tracking faces",
    Stage.EMBED: "embedding faces",
    Stage.IDENTIFY: "identifying cast",
    Stage.VAD: "finding speech",
    Stage.DIARIZE: "telling speakers apart",
    Stage.TRANSCRIBE: "transcribing speech",
    Stage.VOICES: "matching voices to the voice bank",
    Stage.FUSION: "matching voices to faces",
}


def _message(stage: Stage) -> str:
    return MESSAGES.get(stage, stage.value)


def _planned(req: AnalyseRequest) -> list[Stage]:
    return sorted(with_prerequisites(req.stages), key=list(Stage).index)


def job_info(record: dict[str, Any]) -> JobInfo:
    """The public view of a record, with the overall fraction and an ETA estimated from it."""
    stages = record.get("stages") or []
    stage = record.get("stage")
    done, total = float(record.get("done") or 0), float(record.get("total") or 0)
    fraction = 1.0 if record["status"] == "done" else 0.0
    if record["status"] == "running" and stage in stages:
        fraction = (stages.index(stage) + (done / total if total else 0.0)) / len(stages)
    eta = None
    if record["status"] == "running" and record.get("started_at") and fraction > 0.02:
        elapsed = (datetime.now(UTC) - datetime.fromisoformat(record["started_at"])).total_seconds()
        eta = round(elapsed * (1 - fraction) / fraction, 1)
    result = record.get("result") or {}
    return JobInfo(
        job_id=record["job_id"],
        kind=record.get("kind", "process_episode"),
        status=record["status"],
        stage=stage,
        done=round(done, 3),
        total=round(total, 3),
        fraction=round(fraction, 4),
        eta_s=eta,
        message=record.get("message") or "",
        episode_id=result.get("episode_id") or record["request"].get("episode_id"),
        created_at=record["created_at"],
        updated_at=record.get("updated_at") or record["created_at"],
        finished_at=record.get("finished_at"),
        error=record.get("error"),
        result=result or None,
        log=record.get("log"),
    )


def paginate(items: list[T], cursor: int, limit: int, max_limit: int) -> dict[str, Any]:
    """One page of a list as Page fields: ``cursor`` is the offset of the first item."""
    if cursor < 0 or limit < 1:
        raise InputError("cursor must be 0 or more and limit 1 or more")
    limit = min(limit, max_limit)
    nxt = cursor + limit if cursor + limit < len(items) else None
    return {"items": items[cursor : cursor + limit], "total": len(items), "next_cursor": nxt}


def _host() -> str:
    import socket

    return socket.gethostname()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie (exited, not yet reaped by its parent) counts as dead
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True
