"""Manual corrections as reversible changes: reassign (cluster, track, frame), lock, propagate,
merge, split. Every operation yields a Change (before/after of each row it touches), so the
same change can be applied, stored in the history, and undone exactly."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from screenalytics.errors import ScreenalyticsError
from screenalytics.model.records import ScreenTime
from screenalytics.stages.screentime import VisualSample, visual_screen_time


class ReviewError(ScreenalyticsError):
    """An edit that cannot be made as asked (unknown id, locked without force, ...)."""


@dataclass(frozen=True)
class Sample:
    """The part of a detection that screen time needs; reviews may move it to another track."""

    detection_id: int
    track_id: int
    t: float
    duration: float


@dataclass(frozen=True)
class Label:
    """An assignment of a stretch [start_t, end_t) of a track to a person: every column of its
    stored row (``label_source`` follows from ``method``), so an undo can write it back exactly."""

    label_id: str
    track_id: int
    start_t: float
    end_t: float
    person_id: str
    score: float = 0.0
    method: str = "facebank"  # facebank | cluster | manual | propagated
    locked: bool = False
    confidence: float | None = None  # as the identify stage rated it; None: the score stands in
    margin: float = 0.0  # over the runner-up person, when the identify stage decided it
    threshold: float = 0.0  # the similarity the decision had to clear (0: a person decided)

    @property
    def weight(self) -> float:
        """How sure screen time is of this label: certain when a person set it."""
        if self.method == "manual":
            return 1.0
        return self.score if self.confidence is None else self.confidence

    def covers(self, t: float) -> bool:
        return self.start_t - 1e-9 <= t < self.end_t - 1e-9 or (self.start_t == self.end_t == t)


Row = Sample | Label
SAME_TIME_S = 1e-6  # times closer than this are one time (a typed time against a stored one)


@dataclass
class Change:
    """Rows before and after an edit, keyed by (kind, id); None means absent."""

    op: str
    args: dict[str, Any]
    rows: dict[tuple[str, Any], tuple[Row | None, Row | None]] = field(default_factory=dict)

    def set(self, key: tuple[str, Any], before: Row | None, after: Row | None) -> None:
        first = self.rows[key][0] if key in self.rows else before
        self.rows[key] = (first, after)

    def inverse(self) -> Change:
        return Change(f"undo:{self.op}", {}, {k: (a, b) for k, (b, a) in self.rows.items()})


@dataclass
class State:
    """One episode's reviewable state: samples (detections) and labels (assignments)."""

    samples: dict[int, Sample]
    labels: dict[str, Label]
    embeddings: dict[int, np.ndarray] = field(default_factory=dict)  # track -> unit vector
    people: frozenset[str] = frozenset()  # the episode's facebank: listed in screen time even when unseen
    _ids: Any = field(default_factory=lambda: itertools.count(1), repr=False)

    # -- reading ---------------------------------------------------------------------------
    def tracks(self) -> set[int]:
        return {s.track_id for s in self.samples.values()}

    def labels_of(self, track_id: int) -> list[Label]:
        return [lab for lab in self.labels.values() if lab.track_id == track_id]

    def person_at(self, track_id: int, t: float) -> Label | None:
        """The most specific label of the track covering t (frame overrides beat track labels)."""
        hits = [lab for lab in self.labels_of(track_id) if lab.covers(t)]
        return min(hits, key=lambda lab: (lab.end_t - lab.start_t, lab.label_id)) if hits else None

    def visual_samples(self) -> list[VisualSample]:
        """Every labelled sample with its person (manual labels count as certain)."""
        out = []
        for s in self.samples.values():
            lab = self.person_at(s.track_id, s.t)
            if lab is not None:
                out.append(VisualSample(lab.person_id, s.track_id, s.t, s.duration, lab.weight))
        return out

    def screen_time(self, people: Iterable[str] | None = None) -> list[ScreenTime]:
        """Visual screen time of every person seen, and of ``people`` (default: the facebank) even unseen."""
        return visual_screen_time(self.visual_samples(), sorted(self.people) if people is None else people)

    def known_people(self) -> set[str]:
        return set(self.people) | {lab.person_id for lab in self.labels.values()}

    def snapshot(self) -> tuple[dict[int, Sample], dict[str, Label]]:
        return dict(self.samples), dict(self.labels)

    # -- changing --------------------------------------------------------------------------
    def apply(self, change: Change) -> None:
        for (kind, key), (_, after) in change.rows.items():
            table: dict[Any, Any] = self.samples if kind == "sample" else self.labels
            if after is None:
                table.pop(key, None)
            else:
                table[key] = after

    def new_label_id(self) -> str:
        while True:
            candidate = f"m{next(self._ids)}"
            if candidate not in self.labels:
                return candidate


def _track(state: State, track_id: int) -> None:
    if track_id not in state.tracks():
        raise ReviewError(f"unknown track {track_id}")


NEW_PERSON_ID = re.compile(r"\w[\w.-]{0,99}")


def check_person_id(state: State, person_id: str) -> None:
    """A person the episode knows (facebank, labels), or a new one with a safe id: it may become a
    facebank folder and storage key (``review promote``), so no spaces, slashes or markup."""
    known = isinstance(person_id, str) and person_id.strip() != "" and person_id in state.known_people()
    if not known and not (isinstance(person_id, str) and NEW_PERSON_ID.fullmatch(person_id)):
        raise ReviewError(
            f"not a valid person id {person_id!r}: a person new to this episode needs letters, digits, '_', '-' or '.' "
            "(at most 100 characters, not starting with '.' or '-')"
        )


def _decided(lab: Label, **changes: Any) -> Label:
    """The label as a person decided it: certain, with nothing left of the automatic decision."""
    return replace(lab, score=1.0, method="manual", confidence=None, margin=0.0, threshold=0.0, **changes)


def _check_unlocked(labels: list[Label], force: bool) -> None:
    locked = [lab for lab in labels if lab.locked]
    if locked and not force:
        raise ReviewError(f"track {locked[0].track_id} is locked to {locked[0].person_id}; use force to overwrite")


def reassign_track(state: State, track_id: int, person_id: str, force: bool = False) -> Change:
    """The whole track becomes ``person_id`` (frame overrides inside it are dropped)."""
    _track(state, track_id)
    check_person_id(state, person_id)
    labels = state.labels_of(track_id)
    _check_unlocked(labels, force)
    change = Change("reassign_track", {"track_id": track_id, "person_id": person_id, "force": force})
    for lab in labels:
        change.set(("label", lab.label_id), lab, None)
    times = [s for s in state.samples.values() if s.track_id == track_id]
    start, end = min(s.t for s in times), max(s.t + s.duration for s in times)
    lab = Label(state.new_label_id(), track_id, start, end, person_id, 1.0, "manual", any(x.locked for x in labels))
    change.set(("label", lab.label_id), None, lab)
    return change


def reassign_cluster(state: State, from_person: str, to_person: str, force: bool = False) -> Change:
    """Every label of ``from_person`` becomes ``to_person`` (e.g. unknown_3 -> a cast member)."""
    labels = [lab for lab in state.labels.values() if lab.person_id == from_person]
    if not labels:
        raise ReviewError(f"unknown person or cluster {from_person!r} in this episode")
    check_person_id(state, to_person)
    _check_unlocked(labels, force)
    change = Change("reassign_cluster", {"from_person": from_person, "to_person": to_person, "force": force})
    for lab in labels:
        change.set(("label", lab.label_id), lab, _decided(lab, person_id=to_person))
    return change


def reassign_frame(state: State, detection_id: int, person_id: str, force: bool = False) -> Change:
    """One detection (one sampled frame of a track) becomes ``person_id``."""
    if detection_id not in state.samples:
        raise ReviewError(f"unknown detection {detection_id}")
    check_person_id(state, person_id)
    s = state.samples[detection_id]
    current = state.person_at(s.track_id, s.t)
    _check_unlocked([current] if current else [], force)
    change = Change("reassign_frame", {"detection_id": detection_id, "person_id": person_id, "force": force})
    lab = Label(state.new_label_id(), s.track_id, s.t, s.t + s.duration, person_id, 1.0, "manual")
    change.set(("label", lab.label_id), None, lab)
    return change


def set_lock(state: State, track_id: int, locked: bool = True) -> Change:
    _track(state, track_id)
    change = Change("lock" if locked else "unlock", {"track_id": track_id})
    for lab in state.labels_of(track_id):
        change.set(("label", lab.label_id), lab, replace(lab, locked=locked))
    return change


def propagate(state: State, track_id: int, threshold: float) -> Change:
    """Give the person a locked track is locked to, to unlocked tracks that look like it."""
    _track(state, track_id)
    labels = state.labels_of(track_id)
    if not labels or not all(lab.locked for lab in labels):
        raise ReviewError(f"track {track_id} must be locked before its label is propagated")
    if track_id not in state.embeddings:
        raise ReviewError(f"track {track_id} has no embedding to compare with")
    person = max(labels, key=lambda lab: lab.end_t - lab.start_t).person_id
    change = Change("propagate", {"track_id": track_id, "threshold": threshold, "person_id": person})
    ref = state.embeddings[track_id]
    for other, vec in sorted(state.embeddings.items()):
        theirs = state.labels_of(other)
        if other == track_id or other not in state.tracks() or any(lab.locked for lab in theirs):
            continue
        if float(vec @ ref) >= threshold:
            for lab in theirs:
                similarity = round(float(vec @ ref), 4)
                after = replace(
                    lab, person_id=person, method="propagated", score=similarity, confidence=None, margin=0.0, threshold=threshold
                )
                change.set(("label", lab.label_id), lab, after)
    return change


def merge_tracks(state: State, keep: int, absorb: int, force: bool = False) -> Change:
    """Track ``absorb`` joins track ``keep``: its samples move over and take keep's person."""
    _track(state, keep)
    _track(state, absorb)
    if keep == absorb:
        raise ReviewError("cannot merge a track with itself")
    _check_unlocked(state.labels_of(absorb), force)
    change = Change("merge_tracks", {"keep": keep, "absorb": absorb, "force": force})
    for s in state.samples.values():
        if s.track_id == absorb:
            change.set(("sample", s.detection_id), s, replace(s, track_id=keep))
    main = max(state.labels_of(keep), key=lambda lab: lab.end_t - lab.start_t, default=None)
    for lab in state.labels_of(absorb):
        after = _decided(lab, track_id=keep, person_id=main.person_id if main else lab.person_id)
        change.set(("label", lab.label_id), lab, after)
    return change


def split_track(state: State, track_id: int, at_t: float) -> Change:
    """Samples of the track at or after ``at_t`` form a new track; labels are cut there too.

    A time within a microsecond of a sample counts as that sample's (times are typed rounded), and
    the cut moves to the first sample that leaves: both tracks keep at least one sample."""
    _track(state, track_id)
    mine = sorted((s for s in state.samples.values() if s.track_id == track_id), key=lambda s: s.t)
    moved = [s for s in mine if s.t >= at_t - SAME_TIME_S]
    if not moved or len(moved) == len(mine):
        raise ReviewError(
            f"splitting track {track_id} at {at_t} s would leave one side empty: "
            f"pick a time after its first sample ({mine[0].t:.3f} s) and at or before its last ({mine[-1].t:.3f} s)"
        )
    at_t = moved[0].t
    new_id = max(state.tracks()) + 1
    change = Change("split_track", {"track_id": track_id, "at_t": at_t, "new_track_id": new_id})
    for s in moved:
        change.set(("sample", s.detection_id), s, replace(s, track_id=new_id))
    for lab in state.labels_of(track_id):
        if lab.start_t >= at_t:
            change.set(("label", lab.label_id), lab, replace(lab, track_id=new_id))
        elif lab.end_t > at_t:
            change.set(("label", lab.label_id), lab, replace(lab, end_t=at_t))
            tail = replace(lab, label_id=state.new_label_id(), track_id=new_id, start_t=at_t)
            change.set(("label", tail.label_id), None, tail)
    return change
