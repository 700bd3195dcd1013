"""Many episodes in one call: a manifest (or a folder of videos) analysed by worker processes on
this machine or by Ray tasks on a cluster, all writing to the same store.

Each episode is one ``Service.analyse`` call with ``resume=True``, so a batch started again after
a crash picks up where it stopped. A worker builds its Service once and analyses episode after
episode with the models it loaded. Progress travels from the workers through a queue (a
multiprocessing queue, or a Ray queue actor) to the caller's ``on_event``.

Failures: with ``keep_going`` a failed episode is recorded and the others run. Without it no new
episode starts after the first failure, the running ones finish (their work is kept: stopping them
would waste it and leave nothing to resume from), and the rest are reported ``not_run``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import multiprocessing as mp
import os
import queue as queues
import re
import shutil
import socket
import sys
import tempfile
import time
import traceback
import warnings
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import yaml
from pydantic import Field, ValidationError, model_validator

from screenalytics.config import Settings, load_settings, portable
from screenalytics.config.settings import BatchConfig
from screenalytics.errors import InputError, ScreenalyticsError
from screenalytics.service.types import AnalyseRequest, Model
from screenalytics.stores.catalog import SCHEMAS as CATALOG_TABLES
from screenalytics.stores.jobs import now_iso
from screenalytics.stores.lance import quote

if TYPE_CHECKING:
    from screenalytics.service import Service

Status = Literal["ok", "failed", "skipped", "not_run"]
CAST_FOLDER = "_cast_facebank"  # under --out: the stored cast photos a worker analyses with
Send = Callable[[tuple[Any, ...]], None]  # a worker's progress message to the caller

# --- the manifest -------------------------------------------------------------------------------


class ManifestEpisode(Model):
    """One episode; fields left out take the manifest's values. A bare string is just the video."""

    video: Path
    episode_id: str | None = Field(None, min_length=1, description="[default: the video's file name]")
    show: str | None = Field(None, min_length=1)
    season: int | None = Field(None, ge=0, description="[default: Sxx in the file name, when a show is given]")
    number: int | None = Field(None, ge=0, description="[default: Eyy in the file name, when a show is given]")
    title: str | None = None
    facebank: Path | None = None
    voicebank: Path | None = None
    num_speakers: int | None = Field(None, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _bare_video(cls, value: Any) -> Any:
        return {"video": value} if isinstance(value, str) else value


class Manifest(Model):
    """Episodes for `screenalytics batch`; relative paths are relative to the manifest file."""

    show: str | None = Field(None, min_length=1)
    season: int | None = Field(None, ge=0)
    facebank: Path | None = None
    voicebank: Path | None = None
    num_speakers: int | None = Field(None, ge=1)
    episodes: list[ManifestEpisode] = Field(min_length=1)


def load_manifest(path: Path) -> Manifest:
    """Read and check a manifest; a bad field is a one-line InputError naming it."""
    try:
        data = yaml.safe_load(Path(path).read_text())
    except OSError as e:
        raise InputError(f"manifest {path}: cannot read it ({e.strerror or e})") from None
    except yaml.YAMLError as e:
        raise InputError(f"manifest {path} is not valid YAML: {str(e).splitlines()[0]}") from None
    if isinstance(data, list):  # a bare list of episodes
        data = {"episodes": data}
    if not isinstance(data, dict):
        raise InputError(f"manifest {path} must be a mapping with `episodes:` (or a list of videos)")
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as e:
        raise InputError(f"manifest {path}: {_one_line(e)}") from None
    base = Path(path).resolve().parent
    return manifest.model_copy(
        update={
            "facebank": _under(base, manifest.facebank),
            "voicebank": _under(base, manifest.voicebank),
            "episodes": [
                e.model_copy(update={k: _under(base, getattr(e, k)) for k in ("video", "facebank", "voicebank")})
                for e in manifest.episodes
            ],
        }
    )


def folder_episodes(folder: Path, extensions: list[str]) -> list[ManifestEpisode]:
    """The videos directly inside ``folder`` (by extension), in name order."""
    wanted = {x.lower() if x.startswith(".") else f".{x.lower()}" for x in extensions}
    return [ManifestEpisode(video=p) for p in sorted(folder.iterdir()) if p.is_file() and p.suffix.lower() in wanted]


def _under(base: Path, path: Path | None) -> Path | None:
    return None if path is None else (base / path.expanduser()).resolve()


def _one_line(e: ValidationError) -> str:
    errors = e.errors()
    err = errors[0]
    where = "".join(f"[{x}]" if isinstance(x, int) else f".{x}" for x in err["loc"]).lstrip(".") or "manifest"
    value = err.get("input")
    shown = "" if isinstance(value, dict | list) or err["type"] == "missing" else f" (got {value!r})"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {err['msg']}{shown}{more}"


# --- requests, tasks, results --------------------------------------------------------------------


class BatchRequest(Model):
    """Many episodes: a manifest (YAML) or a folder of videos, analysed into one store."""

    source: Path = Field(description="A manifest (YAML) or a folder of videos")
    facebank: Path | None = Field(None, description="For episodes that name none (a folder of videos needs it)")
    out_dir: Path = Field(Path("out"), description="Each episode's files go to OUT/<episode_id>")
    executor: Literal["local", "ray"] | None = Field(None, description="[default: batch.executor]")
    workers: int | None = Field(None, ge=1, description="Episodes at once [default: batch.workers]")
    address: str | None = Field(None, description="Ray cluster: auto, HOST:PORT or ray://HOST:10001 [default: batch.ray_address]")
    skip_existing: bool = Field(False, description="Skip episodes whose results are already stored")
    keep_going: bool = Field(False, description="Run the other episodes after one fails")
    resume: bool = True
    force: bool = False
    summary: Path | None = Field(None, description="[default: OUT/batch.summary_name]")


class EpisodeTask(Model):
    """What a worker needs to analyse one episode (paths absolute: Ray workers run elsewhere)."""

    index: int
    episode_id: str
    video: Path
    out_dir: Path
    facebank: Path | None = None
    cast_of: str | None = Field(None, description="build the facebank from this show's stored cast photos")
    voicebank: Path | None = None
    num_speakers: int | None = None
    show: str | None = None
    resume: bool = True
    force: bool = False

    def request(self, facebank: Path) -> AnalyseRequest:
        return AnalyseRequest(
            video=self.video,
            facebank=facebank,
            out_dir=self.out_dir,
            episode_id=self.episode_id,
            voicebank=self.voicebank,
            num_speakers=self.num_speakers,
            show=self.show,
            resume=self.resume,
            force=self.force,
        )


class EpisodeOutcome(Model):
    episode_id: str
    video: Path
    status: Status
    seconds: float = 0.0
    screen_time_rows: int = 0
    tracks: int = 0
    run_id: str | None = None
    error: str | None = Field(None, description="why it failed, one line")
    note: str | None = Field(None, description="why it was skipped or not run")
    out_dir: Path | None = None
    worker: str | None = Field(None, description="host:pid that ran it")


class BatchResult(Model):
    source: Path
    executor: str
    workers: int
    started_at: str
    finished_at: str
    seconds: float
    ok: int
    failed: int
    skipped: int
    not_run: int
    summary: Path
    episodes: list[EpisodeOutcome]


@dataclass(frozen=True)
class BatchEvent:
    """What the caller sees while a batch runs: each episode planned, started, progressing, finished."""

    kind: Literal["planned", "started", "progress", "finished"]
    index: int
    episode_id: str
    stage: str | None = None
    done: float = 0.0
    total: float = 0.0
    worker: str | None = None  # host:pid of the worker that took the episode
    outcome: EpisodeOutcome | None = None


# --- planning ------------------------------------------------------------------------------------


def plan(service: Service, req: BatchRequest) -> list[EpisodeTask]:
    """The episodes to run, every input checked first; catalog entries are written only then."""
    from screenalytics.pipeline import episode_id_for

    cfg = service.settings.batch
    if not req.source.exists():
        raise InputError(f"not found: {req.source} (give a manifest YAML or a folder of videos)")
    if req.source.is_dir():
        entries = folder_episodes(req.source, cfg.video_extensions)
        if not entries:
            raise InputError(f"no videos ({', '.join(cfg.video_extensions)}) in {req.source}")
        manifest = Manifest(episodes=entries)
    else:
        manifest = load_manifest(req.source)
    default_facebank = _under(Path.cwd(), req.facebank)
    out = req.out_dir.expanduser().resolve()
    tasks: list[EpisodeTask] = []
    to_catalogue: list[tuple[str, str, int, int, str | None]] = []
    cast_photos: dict[str, int] = {}
    seen: dict[str, int] = {}
    for i, e in enumerate(manifest.episodes):
        video = _under(Path.cwd(), e.video)
        assert video is not None
        where = f"episodes[{i}] ({e.video.name})"
        if not video.is_file():
            raise InputError(f"{where}: video not found: {video}")
        episode_id = e.episode_id or episode_id_for(video)
        if episode_id in seen:
            raise InputError(f"{where}: episode id {episode_id!r} is also episodes[{seen[episode_id]}]; give each an episode_id")
        seen[episode_id] = i
        show = e.show or manifest.show
        season = e.season if e.season is not None else manifest.season
        number = e.number
        if show and (code := _code_in(video.stem)):
            season = code[0] if season is None else season
            number = code[1] if number is None else number
        catalogued = service.catalog.get("episodes", episode_id=episode_id)
        facebank = e.facebank or manifest.facebank or default_facebank
        cast_of = None
        if facebank is None:
            cast_of = show or (catalogued["show_id"] if catalogued else None)
            if cast_of not in cast_photos and cast_of:
                cast_photos[cast_of] = len(_cast_photo_keys(service, cast_of))
            if not cast_of or not cast_photos[cast_of]:
                hint = f", or store photos of show {cast_of!r}'s cast (`person cast`, `review promote`)" if cast_of else ""
                raise InputError(f"{where}: no facebank: give --facebank or `facebank:` in the manifest{hint}")
        elif not facebank.exists():
            raise InputError(f"{where}: facebank not found: {facebank}")
        voicebank = e.voicebank or manifest.voicebank
        if voicebank is not None and not voicebank.is_dir():
            raise InputError(f"{where}: voice bank folder not found: {voicebank}")
        register = bool(show) and season is not None and number is not None
        if register:
            assert show is not None and season is not None and number is not None
            to_catalogue.append((episode_id, show, season, number, e.title))
        tasks.append(
            EpisodeTask(
                index=i,
                episode_id=episode_id,
                video=video,
                out_dir=out / episode_id,
                facebank=facebank,
                cast_of=cast_of,
                voicebank=voicebank,
                num_speakers=e.num_speakers or manifest.num_speakers,
                show=None if register else show,  # a catalogued episode publishes under its SxxEyy
                resume=req.resume,
                force=req.force,
            )
        )
    for episode_id, show, season, number, title in to_catalogue:
        if service.catalog.get("shows", show_id=show) is None:  # an existing show keeps its title
            service.catalog.add_show(show)
        service.catalog.add_episode(episode_id, show, season, number, title)
    return tasks


def _code_in(name: str) -> tuple[int, int] | None:
    """(season, number) from an S01E02-style name."""
    m = re.search(r"(?i)s(\d{1,3})[ ._-]?e(\d{1,4})", name)
    return (int(m.group(1)), int(m.group(2))) if m else None


def _cast_photo_keys(service: Service, show: str) -> list[str]:
    """Stored facebank photos (facebank/<person_id>/...) of the people cast in ``show``."""
    cast = {r["person_id"] for r in service.catalog.list("cast_membership", f"show_id = {quote(show)}")}
    return [k for k in service.artifacts.list("facebank/") if len(k.split("/")) > 2 and k.split("/")[1] in cast]


def cast_facebank(service: Service, show: str, root: Path) -> Path:
    """The show's stored cast photos as a facebank folder under ``root`` on this machine, written
    once and reused by the next episodes while the photos are the same (keys name their content)."""
    keys = sorted(_cast_photo_keys(service, show))
    if not keys:
        raise InputError(f"show {show!r} has no stored cast photos: give a facebank")
    digest = hashlib.sha256("\n".join([service.settings.storage_root(), *keys]).encode()).hexdigest()[:12]
    folder = root / f"{re.sub(r'[^A-Za-z0-9._-]+', '_', show)}-{digest}"
    if folder.is_dir():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(dir=folder.parent))
    for key in keys:
        target = partial / Path(key).relative_to("facebank")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(service.artifacts.get(key))
    try:
        partial.rename(folder)
    except OSError:  # another worker got there first
        shutil.rmtree(partial, ignore_errors=True)
    return folder


# --- running -------------------------------------------------------------------------------------


def run_batch(service: Service, req: BatchRequest, on_event: Callable[[BatchEvent], None] | None = None) -> BatchResult:
    """Analyse the request's episodes in parallel; writes the JSON summary and returns it.

    Raises only for bad input found before any episode runs; episode failures are outcomes."""
    cfg = service.settings.batch
    emit = on_event or (lambda event: None)
    started, t0 = now_iso(), time.monotonic()
    tasks = plan(service, req)
    for t in tasks:
        emit(BatchEvent("planned", t.index, t.episode_id))
    outcomes: dict[int, EpisodeOutcome] = {}
    todo: deque[EpisodeTask] = deque()
    for t in tasks:
        status = service.run_status(t.episode_id) if req.skip_existing else None
        if status is not None and status.analysed:
            outcome = _outcome(t, "skipped", note=f"already stored (run {status.run_id})", run_id=status.run_id)
            outcomes[t.index] = outcome
            emit(BatchEvent("finished", t.index, t.episode_id, outcome=outcome))
        else:
            todo.append(t)
    kind = req.executor or cfg.executor
    workers = 0
    if todo:
        _prepare_store(service)
        executor: _Executor
        if kind == "ray":
            executor = _RayExecutor(service.settings, req.address or cfg.ray_address, req.workers or cfg.workers)
        else:
            executor = _LocalExecutor(service.settings, min(len(todo), req.workers or cfg.workers or _default_workers()))
        workers = executor.slots
        retries = 0 if kind == "ray" else cfg.worker_retries  # Ray retries a task whose worker died itself
        clean = False
        try:
            _drive(executor, todo, {t.index: t for t in tasks}, outcomes, req.keep_going, emit, cfg.progress_interval_s, retries)
            clean = True
        finally:
            executor.close(clean)
    episodes = [outcomes[t.index] for t in tasks]
    count = {s: sum(o.status == s for o in episodes) for s in ("ok", "failed", "skipped", "not_run")}
    summary = (req.summary or req.out_dir / cfg.summary_name).expanduser().resolve()
    result = BatchResult(
        source=req.source.resolve(),
        executor=kind,
        workers=workers,
        started_at=started,
        finished_at=now_iso(),
        seconds=round(time.monotonic() - t0, 3),
        summary=summary,
        episodes=episodes,
        **count,
    )
    summary.parent.mkdir(parents=True, exist_ok=True)
    summary.write_text(result.model_dump_json(indent=2) + "\n")
    return result


def _prepare_store(service: Service) -> None:
    """Create the store's tables here, once, rather than in many workers racing to create them."""
    service.results.migrate()
    for name in CATALOG_TABLES:
        service.catalog.table(name)


def _drive(
    executor: _Executor,
    todo: deque[EpisodeTask],
    tasks: dict[int, EpisodeTask],
    outcomes: dict[int, EpisodeOutcome],
    keep_going: bool,
    emit: Callable[[BatchEvent], None],
    interval: float,
    retries: int,
) -> None:
    """Keep ``executor.slots`` episodes in flight; after a failure without keep_going, start no more.

    An episode whose worker died runs again (up to ``retries`` times): a dead local worker takes
    every episode in flight down with it, and the innocent ones deserve another go."""
    running: dict[Any, EpisodeTask] = {}
    died: dict[int, int] = {}
    stopping = False
    while todo or running:
        while todo and not stopping and len(running) < executor.slots:
            task = todo.popleft()
            running[executor.submit(task)] = task
        finished = executor.finished(list(running), interval)
        for kind, index, stage, done, total, worker in executor.events():
            if index not in outcomes and index in tasks:  # late progress of a finished episode is dropped
                emit(BatchEvent(kind, index, tasks[index].episode_id, stage, done, total, worker))
        for handle, result in finished:
            task = running.pop(handle)
            if not isinstance(result, EpisodeOutcome) and died.get(task.index, 0) < retries:
                died[task.index] = died.get(task.index, 0) + 1
                todo.appendleft(task)
                continue
            outcome = (
                result
                if isinstance(result, EpisodeOutcome)
                else _outcome(task, "failed", error=f"worker stopped (killed, or out of memory?): {_first_line(result)}")
            )
            outcomes[task.index] = outcome
            emit(BatchEvent("finished", task.index, task.episode_id, outcome=outcome))
            stopping = stopping or (outcome.status == "failed" and not keep_going)
        if stopping:
            while todo:
                task = todo.popleft()
                outcome = _outcome(task, "not_run", note="not started: an earlier episode failed (--keep-going runs the rest)")
                outcomes[task.index] = outcome
                emit(BatchEvent("finished", task.index, task.episode_id, outcome=outcome))


def _outcome(task: EpisodeTask, status: Status, **fields: Any) -> EpisodeOutcome:
    return EpisodeOutcome(episode_id=task.episode_id, video=task.video, status=status, out_dir=task.out_dir, **fields)


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


def _default_workers() -> int:
    return max(1, (os.cpu_count() or 1) // 4)


def worker_settings(settings: Settings, threads: int) -> dict[str, Any]:
    """The caller's settings for a worker (secrets included: workers must reach the same store),
    with ``threads`` onnxruntime threads unless runtime.intra_op_threads fixes them."""

    data = portable(settings)
    if not settings.runtime.intra_op_threads:
        data["runtime"]["intra_op_threads"] = max(1, threads)
    return data


# --- what runs in a worker -----------------------------------------------------------------------

_WORKER: dict[str, Any] = {}  # per worker process: its settings, Service and progress queue


def _service(settings: dict[str, Any]) -> Service:
    """The worker's Service, built once (models load on its first episode) and kept for the next."""
    from screenalytics.service import Service

    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()
    if _WORKER.get("key") != key:
        _WORKER.update(key=key, service=Service(settings=load_settings(**settings)))
    return _WORKER["service"]


def run_task(service: Service, task: EpisodeTask, send: Send, interval: float) -> EpisodeOutcome:
    """Analyse one episode; any failure becomes the outcome's one-line error, never an exception."""
    worker = f"{socket.gethostname()}:{os.getpid()}"
    _quietly(send, ("started", task.index, None, 0.0, 0.0, worker))
    t0 = time.monotonic()
    last: list[Any] = [None, 0.0]

    def progress(stage: Any, done: float, total: float) -> None:
        now = time.monotonic()
        if stage.value != last[0] or now - last[1] >= interval:
            last[:] = [stage.value, now]
            _quietly(send, ("progress", task.index, stage.value, float(done), float(total), worker))

    def took() -> float:
        return round(time.monotonic() - t0, 3)

    try:
        facebank = task.facebank or cast_facebank(service, task.cast_of or "", task.out_dir.parent / CAST_FOLDER)
        result = service.analyse(task.request(facebank), progress)
    except ScreenalyticsError as e:
        return _outcome(task, "failed", seconds=took(), error=_first_line(e), worker=worker)
    except Exception as e:  # a bug: the traceback goes to the episode's log, the others go on
        traceback.print_exc()
        return _outcome(task, "failed", seconds=took(), error=f"{type(e).__name__}: {_first_line(e)}", worker=worker)
    return _outcome(
        task,
        "ok",
        seconds=took(),
        screen_time_rows=len(result.screen_time),
        tracks=result.tracks,
        run_id=result.run_id,
        worker=worker,
    )


def _quietly(send: Send, message: tuple[Any, ...]) -> None:
    """Progress is a courtesy: a lost message must never fail an episode."""
    with contextlib.suppress(Exception):
        send(message)


def _local_init(settings: dict[str, Any], events: Any, interval: float) -> None:
    _WORKER.update(settings=settings, events=events, interval=interval)


def _local_run(task: dict[str, Any]) -> dict[str, Any]:
    t = EpisodeTask.model_validate(task)
    t.out_dir.mkdir(parents=True, exist_ok=True)
    with _output_to(t.out_dir / "batch.log"):  # the caller's terminal shows progress bars, not worker chatter
        outcome = run_task(_service(_WORKER["settings"]), t, _WORKER["events"].put, _WORKER["interval"])
    return outcome.model_dump(mode="json")


def _ray_run(settings: dict[str, Any], task: dict[str, Any], events: Any, interval: float) -> dict[str, Any]:
    t = EpisodeTask.model_validate(task)
    return run_task(_service(settings), t, events.put_nowait, interval).model_dump(mode="json")


@contextlib.contextmanager
def _output_to(path: Path) -> Iterator[None]:
    """Send this process's stdout and stderr (native libraries' too) to ``path`` for a while."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        with open(path, "ab") as log:
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
            try:
                yield
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
    finally:
        for fd, old in zip((1, 2), saved):
            os.dup2(old, fd)
            os.close(old)


# --- executors -----------------------------------------------------------------------------------


class _Executor(Protocol):
    slots: int

    def submit(self, task: EpisodeTask) -> Any: ...

    def finished(self, handles: list[Any], timeout: float) -> list[tuple[Any, EpisodeOutcome | BaseException]]: ...

    def events(self) -> list[tuple[Any, ...]]: ...

    def close(self, clean: bool) -> None: ...


class _LocalExecutor:
    """Worker processes on this machine (spawned: no forked model or thread state)."""

    def __init__(self, settings: Settings, slots: int) -> None:
        cfg: BatchConfig = settings.batch
        self.slots = slots
        self.context = mp.get_context("spawn")
        self.queue = self.context.Queue()
        threads = cfg.threads_per_worker or (os.cpu_count() or 1) // slots
        self.args = (worker_settings(settings, threads), self.queue, cfg.progress_interval_s)
        self.pool = self._pool()
        self.owner: dict[Future[Any], ProcessPoolExecutor] = {}

    def _pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self.slots, mp_context=self.context, initializer=_local_init, initargs=self.args)

    def submit(self, task: EpisodeTask) -> Future[Any]:
        future = self.pool.submit(_local_run, task.model_dump(mode="json"))
        self.owner[future] = self.pool
        return future

    def finished(self, handles: list[Any], timeout: float) -> list[tuple[Any, EpisodeOutcome | BaseException]]:
        done, _ = wait(handles, timeout=timeout, return_when=FIRST_COMPLETED)
        out: list[tuple[Any, EpisodeOutcome | BaseException]] = []
        for future in done:
            pool = self.owner.pop(future)
            try:
                out.append((future, EpisodeOutcome.model_validate(future.result())))
            except BrokenProcessPool as e:  # a worker died: the pool is unusable, start a fresh one
                out.append((future, e))
                if pool is self.pool:
                    pool.shutdown(wait=False, cancel_futures=True)
                    self.pool = self._pool()
            except Exception as e:
                out.append((future, e))
        return out

    def events(self) -> list[tuple[Any, ...]]:
        got = []
        with contextlib.suppress(queues.Empty):
            while True:
                got.append(self.queue.get_nowait())
        return got

    def close(self, clean: bool) -> None:
        self.pool.shutdown(wait=clean, cancel_futures=True)
        self.queue.close()


class _RayExecutor:
    """Ray tasks, on a local Ray instance or a cluster; progress through a Ray queue actor."""

    def __init__(self, settings: Settings, address: str | None, workers: int) -> None:
        try:
            import ray
            from ray.util.queue import Queue
        except ImportError:
            raise ScreenalyticsError("the ray executor needs Ray: pip install 'screenalytics[ray]'") from None
        cfg = settings.batch
        self.ray = ray
        self.owns = not ray.is_initialized()
        if self.owns:
            options: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.WARNING}
            if not address:
                options["include_dashboard"] = False
            try:
                with warnings.catch_warnings():  # Ray starts its processes with fork+exec, which lancedb warns about needlessly
                    warnings.filterwarnings("ignore", message="lancedb fork support", category=RuntimeWarning)
                    ray.init(address=address or None, **options)
            except Exception as e:
                raise InputError(f"cannot start or reach Ray{f' at {address}' if address else ''}: {_first_line(e)}") from None
        self.queue = Queue()
        self.remote = ray.remote(num_cpus=cfg.ray_num_cpus, num_gpus=cfg.ray_num_gpus, max_retries=cfg.worker_retries)(_ray_run)
        cpus = float(ray.cluster_resources().get("CPU", 1.0))
        self.slots = workers or max(1, int(cpus // cfg.ray_num_cpus))
        self.settings = worker_settings(settings, round(cfg.ray_num_cpus))
        self.interval = cfg.progress_interval_s
        self.handles: list[Any] = []

    def submit(self, task: EpisodeTask) -> Any:
        ref = self.remote.remote(self.settings, task.model_dump(mode="json"), self.queue, self.interval)
        self.handles.append(ref)
        return ref

    def finished(self, handles: list[Any], timeout: float) -> list[tuple[Any, EpisodeOutcome | BaseException]]:
        ready, _ = self.ray.wait(handles, num_returns=1, timeout=timeout)
        if ready:
            ready, _ = self.ray.wait(handles, num_returns=len(handles), timeout=0)
        out: list[tuple[Any, EpisodeOutcome | BaseException]] = []
        for ref in ready:
            try:
                out.append((ref, EpisodeOutcome.model_validate(self.ray.get(ref))))
            except Exception as e:  # the task's worker died (retries spent) or the node was lost
                out.append((ref, e))
        return out

    def events(self) -> list[tuple[Any, ...]]:
        try:
            size = self.queue.qsize()
            return list(self.queue.get_nowait_batch(size)) if size else []
        except Exception:
            return []

    def close(self, clean: bool) -> None:
        if not clean:
            for ref in self.handles:
                with contextlib.suppress(Exception):
                    self.ray.cancel(ref, force=True)
        with contextlib.suppress(Exception):
            self.queue.shutdown()
        if self.owns:
            self.ray.shutdown()
