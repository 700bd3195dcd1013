"""Reviews on stored results: edits committed with their history under an episode lock, undo of
the latest edit, and screen time recomputed from the corrected state.

Concurrency: every edit takes the episode's lock (an object created only if absent: O_EXCL on
a folder, If-None-Match on S3), then reloads the state, applies the operation and writes. Two
processes editing one episode therefore run one after the other, each on the other's result:
no update is lost. A lock left by a crashed process expires after ``lock_ttl_s``.
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
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import numpy as np

from screenalytics.errors import ScreenalyticsError
from screenalytics.model.records import Assignment, HistoryEntry, ScreenTime
from screenalytics.model.vectors import normalise
from screenalytics.review.edits import Change, Label, ReviewError, Sample, State
from screenalytics.stages.screentime import add_speech, sort_rows, visual_screen_time
from screenalytics.stores.artifacts import ArtifactStore
from screenalytics.stores.lance import ResultStore, quote, replace_rows


class ConflictError(ScreenalyticsError):
    """The episode is being edited by someone else, or changed under a prepared edit."""


def _row(value: Sample | Label | None) -> dict[str, Any] | None:
    return None if value is None else {"kind": type(value).__name__, **asdict(value)}


def _unrow(data: dict[str, Any] | None) -> Sample | Label | None:
    if data is None:
        return None
    fields = {k: v for k, v in data.items() if k != "kind"}
    return Sample(**fields) if data["kind"] == "Sample" else Label(**fields)


def _key(row: Sample | Label) -> tuple[str, Any]:
    return ("sample", row.detection_id) if isinstance(row, Sample) else ("label", row.label_id)


def sample_of(detection: dict[str, Any]) -> Sample:
    """A detection row as review sees it (what screen time and the queue need)."""
    return Sample(detection["detection_id"], detection["track_id"], detection["t"], detection["duration"])


def label_of(assignment: dict[str, Any]) -> Label:
    """An assignment row as a review label."""
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
    )


def _label_source(method: str) -> str:
    return {"manual": "manual", "propagated": "propagated"}.get(method, "auto")


class ReviewSession:
    """Edits to one stored episode."""

    def __init__(self, results: ResultStore, artifacts: ArtifactStore, episode_id: str, lock_ttl_s: float = 60.0) -> None:
        self.results, self.artifacts, self.episode_id = results, artifacts, episode_id
        self.lock_ttl_s = lock_ttl_s
        self._where = f"episode_id = {quote(episode_id)}"
        if results.table("tracks").count_rows(self._where) == 0:
            raise ReviewError(f"unknown episode {episode_id!r}: run `screenalytics run ... --episode-id {episode_id}` first")

    # -- reading ---------------------------------------------------------------------------
    def run_id(self) -> str:
        ids = self.results.read("tracks", self.episode_id).column("run_id").to_pylist()
        return ids[0] if ids else ""

    def load(self) -> State:
        dets = self.results.read("detections", self.episode_id).to_pylist()
        if any(d["detection_id"] is None or d["detection_id"] < 0 for d in dets):
            raise ReviewError(f"episode {self.episode_id!r} was analysed by an older version: run it again to review it")
        samples = {d["detection_id"]: sample_of(d) for d in dets}
        labels = {a["assignment_id"]: label_of(a) for a in self.results.read("assignments", self.episode_id).to_pylist()}
        vectors: dict[int, list[np.ndarray]] = {}
        for e in self.results.read("embeddings", self.episode_id).to_pylist():
            if e["owner"] == "track":
                vectors.setdefault(int(e["owner_id"]), []).append(np.asarray(e["vector"], np.float32))
        embeddings = {track: normalise(np.mean(vs, axis=0)) for track, vs in vectors.items()}
        return State(samples, labels, embeddings)

    def history(self) -> list[dict[str, Any]]:
        """Every edit and undo of the current run, oldest first."""
        run = self.run_id()
        rows = [h for h in self.results.read("assignment_history", self.episode_id).to_pylist() if h["run_id"] == run]
        return sorted(rows, key=lambda r: r["seq"])

    # -- editing ---------------------------------------------------------------------------
    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the episode's edit lock (waits up to the lock's lifetime for another editor)."""
        key = f"locks/{self.episode_id}.lock"
        me = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        deadline = time.time() + self.lock_ttl_s
        while not self.artifacts.create(key, json.dumps({"owner": me, "expires": time.time() + self.lock_ttl_s}).encode()):
            try:
                held = json.loads(self.artifacts.get(key))
            except (ScreenalyticsError, ValueError):
                continue  # released (or half-written) just now: try again
            if held.get("expires", 0) < time.time():
                self.artifacts.delete(key)  # left by a crashed editor
            elif time.time() > deadline:
                raise ConflictError(f"episode {self.episode_id!r} is being edited by {held.get('owner')}; try again")
            else:
                time.sleep(0.05)
        try:
            yield
        finally:
            self.artifacts.delete(key)

    def edit(self, op: Callable[..., Change], *args: Any, who: str = "", reason: str = "", **kwargs: Any) -> Change:
        """Run a review operation (from screenalytics.review) on the latest state and commit it."""
        with self.locked():
            state = self.load()
            change = op(state, *args, **kwargs)
            self._commit(change, state, who, reason)
        return change

    def undo(self, who: str = "", reason: str = "") -> Change:
        """Revert the latest edit not yet undone; the undo is itself a new history entry."""
        with self.locked():
            state = self.load()
            target, inverse = self._undo_change()
            self._commit(inverse, state, who, reason or f"undo {target['op']}", undoes=target["change_id"])
        return inverse

    def _undo_change(self) -> tuple[dict[str, Any], Change]:
        """The latest edit not yet undone, and the change that reverts it."""
        entries = self.history()
        undone = {h["undoes"] for h in entries if h["undoes"]}
        target = next((h for h in reversed(entries) if not h["undoes"] and h["change_id"] not in undone), None)
        if target is None:
            raise ReviewError(f"nothing to undo for episode {self.episode_id!r}")
        change = Change(target["op"], json.loads(target["args"]))
        for b, a in zip(json.loads(target["before"]), json.loads(target["after"])):
            before, after = _unrow(b), _unrow(a)
            change.rows[_key(before or after)] = (before, after)  # type: ignore[arg-type]
        return target, change.inverse()

    # -- previews (nothing written) ----------------------------------------------------------
    def preview(self, op: Callable[..., Change], *args: Any) -> tuple[Change, list[ScreenTime]]:
        """What an edit would change, and the screen time it would leave; nothing is written."""
        state = self.load()
        change = op(state, *args)
        state.apply(change)
        return change, self.screen_time_of(state)

    def preview_undo(self) -> tuple[Change, list[ScreenTime]]:
        state = self.load()
        _, inverse = self._undo_change()
        state.apply(inverse)
        return inverse, self.screen_time_of(state)

    def fingerprint(self) -> str:
        """Names the episode's current reviewed state: changes with every edit, undo and re-run."""
        entries = self.history()
        return f"{self.run_id()}:{len(entries)}:{entries[-1]['change_id'] if entries else ''}"

    def _commit(self, change: Change, state: State, who: str, reason: str, undoes: str = "") -> None:
        """Write a change made against ``state`` (loaded under the lock), then its history entry."""
        for (kind, key), (before, _) in change.rows.items():
            if (state.samples if kind == "sample" else state.labels).get(key) != before:
                raise ConflictError(f"episode {self.episode_id!r} changed since this edit was prepared; reload and retry")
        run = self.run_id()
        for (kind, key), (_, after) in change.rows.items():
            if kind == "sample" and after is not None:
                self.results.table("detections").update(
                    where=f"{self._where} AND detection_id = {int(key)}", values={"track_id": int(after.track_id)}
                )
        label_keys = [key for kind, key in change.rows if kind == "label"]
        if label_keys:
            table = self.results.table("assignments")
            table.delete(f"{self._where} AND assignment_id IN ({', '.join(quote(k) for k in label_keys)})")
            new = [
                Assignment(
                    a.track_id,
                    a.start_t,
                    a.end_t,
                    a.person_id,
                    a.score,
                    0.0,
                    a.method,
                    0.0,
                    a.locked,
                    a.label_id,
                    _label_source(a.method),
                    a.confidence,
                )
                for (kind, _), (_, a) in change.rows.items()
                if kind == "label" and isinstance(a, Label)
            ]
            if new:
                table.add(Assignment.to_table(new, episode_id=self.episode_id, run_id=run))
        pairs = list(change.rows.values())
        entry = HistoryEntry(
            uuid.uuid4().hex[:16],
            len(self.history()) + 1,
            change.op,
            json.dumps(change.args),
            who or "unknown",
            datetime.now(UTC).isoformat(timespec="milliseconds"),
            reason,
            json.dumps([_row(b) for b, _ in pairs]),
            json.dumps([_row(a) for _, a in pairs]),
            undoes,
        )
        self.results.table("assignment_history").add(HistoryEntry.to_table([entry], episode_id=self.episode_id, run_id=run))
        state.apply(change)
        self.refresh_screen_time(state)

    def screen_time_of(self, state: State) -> list[ScreenTime]:
        """Screen time of a (corrected) state, with the speech as stored."""
        people = [r["person_id"] for r in self.results.read("screen_time", self.episode_id).to_pylist()]
        samples = state.visual_samples()
        speech: dict[str, list[tuple[float, float]]] = {}
        for seg in self.results.read("speech_segments", self.episode_id).to_pylist():
            speech.setdefault(seg["person_id"], []).append((seg["start"], seg["end"]))
        return sort_rows(list(add_speech(visual_screen_time(samples, people), speech, samples).values()))

    def refresh_screen_time(self, state: State | None = None) -> list[ScreenTime]:
        """Recompute the episode's screen time from the corrected state (speech as stored)."""
        rows = self.screen_time_of(state or self.load())
        run, table = self.run_id(), self.results.table("screen_time")
        # new rows first, old ones after: a reader never finds the episode without screen time
        pending = quote(run + ":pending")
        replace_rows(
            table,
            ScreenTime.to_table(rows, episode_id=self.episode_id, run_id=f"{run}:pending"),
            self._where,
            f"run_id = {pending}",
        )
        table.update(where=self._where, values={"run_id": run})
        return rows


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

    if track_id not in session.load().tracks():
        raise ReviewError(f"unknown track {track_id}")
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
