"""Reviews on stored results: edits committed with their history under an episode lock, undo of
the latest edit, and screen time recomputed from the corrected state.

Concurrency: every edit takes the episode's lock (an object created only if absent: O_EXCL on
a folder, If-None-Match on S3), then reloads the state, applies the operation and writes. Two
processes editing one episode therefore run one after the other, each on the other's result:
no update is lost. A lock left by a crashed process expires after ``lock_ttl_s`` (at once when
its process is gone from this host).

Crashes: LanceDB commits one table at a time, so the history entry is the write-ahead record.
It is written first, in one commit, with the exact rows the edit replaces and the rows it
leaves (assignments, detections' tracks, the episode's screen time); the tables are written
after it. An edit is therefore done once its entry exists: whoever next reads the episode
through a session finds an entry whose rows are not all in place and writes them (under the
lock). A crash before the entry leaves nothing; a crash after it leaves an edit that completes.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from typing import Any

import numpy as np

from screenalytics.errors import ScreenalyticsError
from screenalytics.faults import kill_point
from screenalytics.model.records import Assignment, HistoryEntry, ScreenTime
from screenalytics.model.speech import Turn
from screenalytics.model.vectors import normalise
from screenalytics.review.edits import Change, Label, ReviewError, Sample, State, check_person_id
from screenalytics.stages.screentime import sort_rows, visual_screen_time
from screenalytics.stores.artifacts import ArtifactStore
from screenalytics.stores.lance import ResultStore, quote, retrying


class ConflictError(ScreenalyticsError):
    """The episode is being edited by someone else, or changed under a prepared edit."""


Rows = dict[tuple[str, Any], tuple[Sample | Label | None, Sample | Label | None]]
SCREEN_FIELDS = [f.name for f in fields(ScreenTime)]


def _row(value: Sample | Label | ScreenTime | None) -> dict[str, Any] | None:
    return None if value is None else {"kind": type(value).__name__, **asdict(value)}


def _unrow(data: dict[str, Any] | None) -> Sample | Label | None:
    if data is None:
        return None
    fields_ = {k: v for k, v in data.items() if k != "kind"}
    return Sample(**fields_) if data["kind"] == "Sample" else Label(**fields_)


def _key(row: Sample | Label) -> tuple[str, Any]:
    return ("sample", row.detection_id) if isinstance(row, Sample) else ("label", row.label_id)


def entry_rows(entry: dict[str, Any]) -> tuple[Rows, list[ScreenTime] | None, list[ScreenTime] | None]:
    """A history entry's changed rows (before, after; None: absent) in their stored form, and the
    episode's screen time before and after it (None: an entry from before screen time was kept)."""
    before, after = json.loads(entry["before"]), json.loads(entry["after"])
    screens = []
    for items in (before, after):
        screen = [ScreenTime(**{k: r[k] for k in SCREEN_FIELDS}) for r in items if r and r["kind"] == "ScreenTime"]
        screens.append(stored_screen_time(screen) if screen else None)
    pairs = zip(*[[_unrow(r) for r in items if not r or r["kind"] != "ScreenTime"] for items in (before, after)])
    rows: Rows = {_key(b or a): (b, a) for b, a in pairs}  # type: ignore[arg-type]
    return _as_stored(rows), screens[0], screens[1]


def sample_of(detection: dict[str, Any]) -> Sample:
    """A detection row as review sees it (what screen time and the queue need)."""
    return Sample(detection["detection_id"], detection["track_id"], detection["t"], detection["duration"])


def label_of(assignment: dict[str, Any]) -> Label:
    """An assignment row as a review label (every column but the derived ``label_source``)."""
    a = assignment
    return Label(
        a["assignment_id"],
        a["track_id"],
        a["start_t"],
        a["end_t"],
        a["person_id"],
        a["score"],
        a["method"],
        a["locked"],
        a.get("confidence"),
        a.get("margin", 0.0),
        a.get("threshold", 0.0),
    )


def _label_source(method: str) -> str:
    return {"manual": "manual", "propagated": "propagated"}.get(method, "auto")


def assignment_of(lab: Label) -> Assignment:
    """The stored row of a label."""
    return Assignment(
        lab.track_id,
        lab.start_t,
        lab.end_t,
        lab.person_id,
        lab.score,
        lab.margin,
        lab.method,
        lab.threshold,
        lab.locked,
        lab.label_id,
        _label_source(lab.method),
        lab.confidence,
    )


def stored_labels(labels: Iterable[Label]) -> list[Label]:
    """Labels as the store will give them back (float32 columns rounded): what a history entry
    records must equal what a later load reads, or an undo would find the rows "changed"."""
    table = Assignment.to_table([assignment_of(lab) for lab in labels], episode_id="", run_id="")
    return [label_of(r) for r in table.to_pylist()]


def stored_screen_time(rows: Iterable[ScreenTime]) -> list[ScreenTime]:
    """Screen time rows as the store gives them back, in one order (by person)."""
    table = ScreenTime.to_table(list(rows), episode_id="", run_id="")
    return sorted((ScreenTime(**{k: r[k] for k in SCREEN_FIELDS}) for r in table.to_pylist()), key=lambda r: r.person_id)


def _as_stored(rows: Rows) -> Rows:
    """A change's rows with its labels in their stored form."""
    labels = [row for pair in rows.values() for row in pair if isinstance(row, Label)]
    stored = dict(zip((id(lab) for lab in labels), stored_labels(labels)))
    return {k: tuple(stored.get(id(r), r) for r in pair) for k, pair in rows.items()}  # type: ignore[misc]


def _abandoned(held: dict[str, Any]) -> bool:
    """A lock past its expiry, or held by a process of this host that no longer exists."""
    if held.get("expires", 0) < time.time():
        return True
    host, _, rest = str(held.get("owner", "")).partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # someone else's process: alive
    return False


@dataclass
class Head:
    """What an edit builds on: the current run, its history (oldest first), the stored screen time."""

    run: str
    entries: list[dict[str, Any]]
    screen: list[ScreenTime]


class ReviewSession:
    """Edits to one stored episode."""

    def __init__(self, results: ResultStore, artifacts: ArtifactStore, episode_id: str, lock_ttl_s: float = 60.0) -> None:
        self.results, self.artifacts, self.episode_id = results, artifacts, episode_id
        self.lock_ttl_s = lock_ttl_s
        self._where = f"episode_id = {quote(episode_id)}"
        self._holding = False
        if results.table("tracks").count_rows(self._where) == 0:
            raise ReviewError(f"unknown episode {episode_id!r}: run `screenalytics run ... --episode-id {episode_id}` first")

    # -- reading ---------------------------------------------------------------------------
    def run_id(self) -> str:
        ids = self.results.read("tracks", self.episode_id).column("run_id").to_pylist()
        return ids[0] if ids else ""

    def load(self) -> State:
        """The episode as its edits leave it; an edit a crash interrupted is completed first."""
        state = self._read_state()
        if self._pending(state, self._head()) is not None:
            with self.locked():
                state, _ = self._settle()
        return state

    def _read_state(self) -> State:
        dets = self.results.read("detections", self.episode_id).to_pylist()
        if any(d["detection_id"] is None or d["detection_id"] < 0 for d in dets):
            raise ReviewError(f"episode {self.episode_id!r} was analysed by an older version: run it again to review it")
        samples = {d["detection_id"]: sample_of(d) for d in dets}
        labels = {a["assignment_id"]: label_of(a) for a in self.results.read("assignments", self.episode_id).to_pylist()}
        vectors: dict[int, list[np.ndarray]] = {}
        people: list[str] = []
        for e in self.results.read("embeddings", self.episode_id).to_pylist():
            if e["owner"] == "track":
                vectors.setdefault(int(e["owner_id"]), []).append(np.asarray(e["vector"], np.float32))
            elif e["owner"] == "facebank":
                people.append(e["owner_id"])
        embeddings = {track: normalise(np.mean(vs, axis=0)) for track, vs in vectors.items()}
        return State(samples, labels, embeddings, frozenset(people))

    def history(self) -> list[dict[str, Any]]:
        """Every edit and undo of the current run, oldest first."""
        return self._history(self.run_id())

    def _history(self, run: str) -> list[dict[str, Any]]:
        rows = [h for h in self.results.read("assignment_history", self.episode_id).to_pylist() if h["run_id"] == run]
        return sorted(rows, key=lambda r: r["seq"])

    def _head(self) -> Head:
        run = self.run_id()
        return Head(run, self._history(run), self.stored_screen_time())

    def stored_screen_time(self) -> list[ScreenTime]:
        return stored_screen_time(
            ScreenTime(**{k: r[k] for k in SCREEN_FIELDS}) for r in self.results.read("screen_time", self.episode_id).to_pylist()
        )

    # -- editing ---------------------------------------------------------------------------
    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the episode's edit lock (waits up to the lock's lifetime for another editor)."""
        if self._holding:  # re-entered (a load inside an edit)
            yield
            return
        key = f"locks/{self.episode_id}.lock"
        me = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        deadline = time.time() + self.lock_ttl_s
        blank_since: float | None = None
        while not self.artifacts.create(key, json.dumps({"owner": me, "expires": time.time() + self.lock_ttl_s}).encode()):
            text = self._lock_text(key)
            try:
                held = json.loads(text) if text is not None else None  # None: released just now
                if held is not None and not isinstance(held, dict):
                    raise ValueError(text)
            except ValueError:  # created, not yet written; or left so by a crash (a local file is created, then written)
                blank_since = blank_since or time.time()
                held = {"expires": 0} if time.time() - blank_since > 1.0 else None
            if held is not None and _abandoned(held):
                if self._lock_text(key) == text:  # not replaced by another waiter meanwhile
                    self.artifacts.delete(key)
            elif time.time() > deadline:
                owner = held.get("owner") if held else "another editor"
                raise ConflictError(f"episode {self.episode_id!r} is being edited by {owner}; try again")
            else:
                time.sleep(0.05)
        self._holding = True
        try:
            yield
        finally:
            self._holding = False
            self.artifacts.delete(key)

    def _lock_text(self, key: str) -> bytes | None:
        try:
            return self.artifacts.get(key)
        except ScreenalyticsError:
            return None

    def edit(self, op: Callable[..., Change], *args: Any, who: str = "", reason: str = "", **kwargs: Any) -> Change:
        """Run a review operation (from screenalytics.review) on the latest state and commit it."""
        with self.locked():
            state, head = self._settle()
            change = op(state, *args, **kwargs)
            self._commit(change, state, head, who, reason)
        return change

    def undo(self, who: str = "", reason: str = "") -> Change:
        """Revert the latest edit not yet undone, restoring the rows it replaced exactly; the undo
        is itself a new history entry."""
        with self.locked():
            state, head = self._settle()
            target, inverse, screen = self._undo_change(head.entries)
            why = reason or f"undo {target['op']}"
            self._commit(inverse, state, head, who, why, undoes=target["change_id"], screen_time=screen)
        return inverse

    def _undo_change(self, entries: list[dict[str, Any]]) -> tuple[dict[str, Any], Change, list[ScreenTime] | None]:
        """The latest edit not yet undone, the change that reverts it, and the screen time it replaced."""
        undone = {h["undoes"] for h in entries if h["undoes"]}
        target = next((h for h in reversed(entries) if not h["undoes"] and h["change_id"] not in undone), None)
        if target is None:
            raise ReviewError(f"nothing to undo for episode {self.episode_id!r}")
        rows, screen, _ = entry_rows(target)
        return target, Change(target["op"], json.loads(target["args"]), rows).inverse(), screen

    # -- previews (nothing written) ----------------------------------------------------------
    def preview(self, op: Callable[..., Change], *args: Any) -> tuple[Change, list[ScreenTime]]:
        """What an edit would change, and the screen time it would leave; nothing is written."""
        state = self.load()
        change = op(state, *args)
        state.apply(change)
        return change, self.screen_time_of(state)

    def preview_undo(self) -> tuple[Change, list[ScreenTime]]:
        state = self.load()
        _, inverse, screen = self._undo_change(self.history())
        state.apply(inverse)
        return inverse, sort_rows(screen) if screen is not None else self.screen_time_of(state)

    def fingerprint(self) -> str:
        """Names the episode's current reviewed state: changes with every edit, undo and re-run."""
        entries = self.history()
        return f"{self.run_id()}:{len(entries)}:{entries[-1]['change_id'] if entries else ''}"

    # -- committing ----------------------------------------------------------------------------
    def _commit(
        self,
        change: Change,
        state: State,
        head: Head,
        who: str,
        reason: str,
        undoes: str = "",
        screen_time: list[ScreenTime] | None = None,
    ) -> None:
        """Commit a change made against ``state`` (loaded under the lock): its history entry first,
        with the rows it replaces and leaves, then the rows themselves. ``screen_time``: what the
        change leaves, when known exactly (an undo restores what the undone edit replaced)."""
        for (kind, key), (before, _) in change.rows.items():
            if (state.samples if kind == "sample" else state.labels).get(key) != before:
                raise ConflictError(f"episode {self.episode_id!r} changed since this edit was prepared; reload and retry")
        rows = _as_stored(change.rows)
        state.apply(Change(change.op, change.args, rows))
        screen_after = stored_screen_time(self.screen_time_of(state) if screen_time is None else screen_time)
        entry = HistoryEntry(
            uuid.uuid4().hex[:16],
            len(head.entries) + 1,
            change.op,
            json.dumps(change.args),
            who or "unknown",
            datetime.now(UTC).isoformat(timespec="milliseconds"),
            reason,
            json.dumps([_row(b) for b, _ in rows.values()] + [_row(r) for r in head.screen]),
            json.dumps([_row(a) for _, a in rows.values()] + [_row(r) for r in screen_after]),
            undoes,
        )
        kill_point("review:prepared")
        history = self.results.table("assignment_history")
        history.add(HistoryEntry.to_table([entry], episode_id=self.episode_id, run_id=head.run))  # the commit point
        kill_point("review:history")
        self._write(rows, screen_after, head.run)

    @staticmethod
    def _pending(state: State, head: Head) -> dict[str, Any] | None:
        """The latest history entry, when the rows it leaves are not all in place (a crashed commit)."""
        if not head.entries:
            return None
        rows, _, screen = entry_rows(head.entries[-1])
        for (kind, key), (_, after) in rows.items():
            if (state.samples if kind == "sample" else state.labels).get(key) != after:
                return head.entries[-1]
        if screen is not None and head.screen != screen:
            return head.entries[-1]
        return None

    def _settle(self) -> tuple[State, Head]:
        """Under the lock: the state and what an edit builds on, after completing an edit whose
        commit was interrupted (its entry exists, its rows are not all in place)."""
        state, head = self._read_state(), self._head()
        latest = self._pending(state, head)
        if latest is None:
            return state, head
        rows, _, screen = entry_rows(latest)
        state.apply(Change(latest["op"], {}, rows))
        screen = screen if screen is not None else stored_screen_time(self.screen_time_of(state))
        self._write(rows, screen, head.run)
        return state, Head(head.run, head.entries, screen)

    def _write(self, rows: Rows, screen_time: list[ScreenTime], run: str) -> None:
        """Put a committed change's rows and the screen time it leaves in place. Each step is one
        commit and may be repeated: a crash between steps is completed by ``_settle``."""
        mine = f"{self._where} AND run_id = {quote(run)}"
        moves: dict[int, list[int]] = {}
        for (kind, key), (_, after) in rows.items():
            if kind == "sample" and isinstance(after, Sample):
                moves.setdefault(after.track_id, []).append(int(key))
        detections = self.results.table("detections")
        for track, ids in sorted(moves.items()):
            where = f"{mine} AND detection_id IN ({', '.join(map(str, sorted(ids)))})"
            retrying(lambda w=where, t=track: detections.update(where=w, values={"track_id": t}))
        kill_point("review:detections")
        labels = [a for (kind, _), (_, a) in rows.items() if kind == "label" and isinstance(a, Label)]
        gone = [key for (kind, key), (_, a) in rows.items() if kind == "label" and a is None]
        assignments = self.results.table("assignments")
        gone_where = f"{mine} AND assignment_id IN ({', '.join(quote(k) for k in gone)})"
        if labels:  # new and changed rows in, removed ones out: one commit
            table = Assignment.to_table([assignment_of(lab) for lab in labels], episode_id=self.episode_id, run_id=run)
            merge = assignments.merge_insert(["episode_id", "run_id", "assignment_id"])
            merge = merge.when_matched_update_all().when_not_matched_insert_all()
            if gone:
                merge = merge.when_not_matched_by_source_delete(gone_where)
            retrying(lambda: merge.execute(table))
        elif gone:
            retrying(lambda: assignments.delete(gone_where))
        kill_point("review:assignments")
        table = ScreenTime.to_table(screen_time, episode_id=self.episode_id, run_id=run)
        screen = self.results.table("screen_time").merge_insert(["episode_id", "run_id", "person_id"])
        screen = screen.when_matched_update_all().when_not_matched_insert_all().when_not_matched_by_source_delete(mine)
        retrying(lambda: screen.execute(table))
        kill_point("review:screen_time")

    def screen_time_of(self, state: State) -> list[ScreenTime]:
        """Screen time of a (corrected) state, by the pipeline's rule: the facebank's people and
        everyone seen or heard, speech as stored, confidence weighed with the voice links."""
        samples = state.visual_samples()
        rows = visual_screen_time(samples, sorted(state.people))
        speech = self.results.read("speech_segments", self.episode_id).to_pylist()
        if not speech:
            return rows
        from screenalytics.stages.fusion import Link, add_speaking_time  # scipy: only for an episode with speech

        turns = [Turn(seg["start"], seg["end"], seg["speaker"]) for seg in speech]
        links = {seg["speaker"]: Link(seg["person_id"], seg["method"], seg["score"]) for seg in speech}
        return add_speaking_time(rows, turns, links, samples)


def open_review(settings: Any, episode_id: str) -> ReviewSession:
    """A review session on the configured storage (tables and lock in one location)."""
    from screenalytics.stores.artifacts import open_artifacts
    from screenalytics.stores.lance import open_results

    return ReviewSession(open_results(settings), open_artifacts(settings), episode_id, settings.review.lock_ttl_s)


class TrackLabels:
    """Who each track is at a time, by the review rule (``State.person_at``: the most specific
    label covering the time wins), with labels grouped by track so a lookup does not scan them all."""

    def __init__(self, labels: Iterable[Label]) -> None:
        by_track: dict[int, dict[str, Label]] = {}
        for lab in labels:
            by_track.setdefault(lab.track_id, {})[lab.label_id] = lab
        self._states = {track: State({}, labs) for track, labs in by_track.items()}

    def of(self, track_id: int) -> list[Label]:
        state = self._states.get(track_id)
        return state.labels_of(track_id) if state else []

    def person_at(self, track_id: int, t: float) -> Label | None:
        state = self._states.get(track_id)
        return state.person_at(track_id, t) if state else None


REVIEWED = ("manual", "propagated")


def review_queue(
    tracks: Iterable[dict[str, Any]],
    samples: Iterable[Sample],
    labels: Iterable[Label],
    av_links: Iterable[dict[str, Any]],
    threshold: float,
) -> list[dict[str, Any]]:
    """Tracks to look at first: low identity confidence, or a face that disagrees with the voice
    heard over it; reviewed (manual) tracks are left out. Largest screen time at stake first.

    Plain rows in (track and av_link rows as dicts), so the stored review state and a run at
    hand (the HTML report) give the same queue by one rule."""
    confidence = {int(t["track_id"]): t.get("confidence") or 0.0 for t in tracks}
    samples = list(samples)
    who = TrackLabels(labels)
    seconds: dict[int, float] = {}
    first_t: dict[int, float] = {}
    for s in samples:
        seconds[s.track_id] = seconds.get(s.track_id, 0.0) + s.duration
        first_t[s.track_id] = min(first_t.get(s.track_id, s.t), s.t)
    reasons: dict[int, list[str]] = {}
    for track_id in first_t:
        if any(lab.method in REVIEWED for lab in who.of(track_id)):
            continue
        conf = confidence.get(track_id, 0.0)
        if conf < threshold:
            reasons.setdefault(track_id, []).append(f"confidence {conf:.2f} < {threshold:.2f}")
    # a voice the voice bank named P, over a face labelled someone else, while P is not on screen
    by_time = sorted(range(len(samples)), key=lambda i: samples[i].t)
    times = [samples[i].t for i in by_time]
    for link in av_links:
        if link["method"] != "voicebank" or link["on_screen_s"] > 0:
            continue
        inside = sorted(by_time[bisect_left(times, link["start"]) : bisect_left(times, link["end"])])
        for s in (samples[i] for i in inside):
            lab = who.person_at(s.track_id, s.t)
            if lab and lab.person_id != link["person_id"] and lab.method not in REVIEWED:
                why = f"voice of {link['person_id']} over a face labelled {lab.person_id}"
                if why not in reasons.setdefault(s.track_id, []):
                    reasons[s.track_id].append(why)
    queue = []
    for track_id, why in reasons.items():
        person = who.person_at(track_id, first_t[track_id])
        queue.append(
            {
                "track_id": track_id,
                "person_id": person.person_id if person else "",
                "confidence": float(confidence.get(track_id, 0.0)),
                "seconds": round(seconds.get(track_id, 0.0), 3),
                "reasons": why,
            }
        )
    return sorted(queue, key=lambda q: (-q["seconds"], q["track_id"]))


def low_confidence_queue(session: ReviewSession, threshold: float) -> list[dict[str, Any]]:
    """The review queue of a stored episode, as it stands after its edits (see ``review_queue``)."""
    state = session.load()
    return review_queue(
        session.results.read("tracks", session.episode_id).to_pylist(),
        state.samples.values(),
        state.labels.values(),
        session.results.read("av_links", session.episode_id).to_pylist(),
        threshold,
    )


def promote_chips(session: ReviewSession, track_id: int, person_id: str, count: int = 3) -> list[str]:
    """Copy a track's best face chips into the facebank artifacts (facebank/<person>/<hash>.jpg)."""
    import hashlib

    from screenalytics.stores.artifacts import chip_key, facebank_key
    from screenalytics.stores.catalog import Catalog

    state = session.load()
    if track_id not in state.tracks():
        raise ReviewError(f"unknown track {track_id}")
    check_person_id(state, person_id)
    show, code = Catalog(session.results).show_of(session.episode_id)
    keys = []
    for n in range(count):
        key = chip_key(show, code, track_id, n)
        if not session.artifacts.exists(key):
            break
        data = session.artifacts.get(key)
        keys.append(session.artifacts.put(facebank_key(person_id, hashlib.sha256(data).hexdigest()[:16]), data))
    if not keys:
        raise ReviewError(f"track {track_id} has no stored face chips (storage.chips_per_track is 0?)")
    return keys
