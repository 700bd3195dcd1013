"""Visual screen time: union of the intervals where a person is on screen, never counted twice."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from screenalytics.model.records import ScreenTime

SCREEN_TIME_FIELDS = ["person_id", "visual_s", "speaking_s", "both_s", "confidence"]


def union_length(intervals: Iterable[tuple[float, float]]) -> float:
    """Total length covered by possibly overlapping [start, end) intervals."""
    return float(sum(e - s for s, e in merged(intervals)))


@dataclass(frozen=True)
class VisualSample:
    """One identified face sample: who, which track, when, for how long, how sure."""

    person_id: str
    track_id: int
    t: float
    duration: float
    confidence: float
    mouth_motion: float = 0.0
    speaking: float | None = -1.0  # active speaker probability; -1 or None: not scored


def visual_screen_time(samples: Iterable[VisualSample], people: Iterable[str] = ()) -> list[ScreenTime]:
    """Per-person visual seconds and a time-weighted confidence.

    Two tracks of one person seen in the same frame count once. Listed ``people`` appear even
    with zero seconds.
    """
    intervals: dict[str, list[tuple[float, float]]] = defaultdict(list)
    weight: dict[str, float] = defaultdict(float)
    conf: dict[str, float] = defaultdict(float)
    for smp in samples:
        intervals[smp.person_id].append((smp.t, smp.t + smp.duration))
        weight[smp.person_id] += smp.duration
        conf[smp.person_id] += smp.duration * smp.confidence
    rows = []
    for person in dict.fromkeys([*people, *intervals]):
        visual = union_length(intervals.get(person, []))
        confidence = conf[person] / weight[person] if weight.get(person) else 0.0
        rows.append(ScreenTime(person_id=person, visual_s=visual, confidence=confidence))
    return sort_rows(rows)


def sort_rows(rows: list[ScreenTime]) -> list[ScreenTime]:
    """Most visible first, then most heard, then by id."""
    return sorted(rows, key=lambda r: (-r.visual_s, -r.speaking_s, r.person_id))


def add_speech(
    rows: list[ScreenTime], speech: dict[str, list[tuple[float, float]]], samples: Iterable[VisualSample]
) -> dict[str, ScreenTime]:
    """Set speaking_s (union of each person's speech) and both_s (speaking while visible),
    adding a row for anyone heard but never seen. Returns the rows by person id."""
    visual: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for smp in samples:
        visual[smp.person_id].append((smp.t, smp.t + smp.duration))
    by_id = {r.person_id: r for r in rows}
    for person in speech:
        by_id.setdefault(person, ScreenTime(person_id=person, visual_s=0.0))
    for person, row in by_id.items():
        spoken = merged(speech.get(person, []))
        row.speaking_s = union_length(spoken)
        row.both_s = intersection_length(spoken, visual.get(person, []))
    return by_id


def screen_time_row(row: ScreenTime) -> dict[str, object]:
    """The exported form of a row: contract fields, rounded to milliseconds."""
    d = {k: getattr(row, k) for k in SCREEN_TIME_FIELDS}
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in d.items()}


def merged(intervals: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    """Sorted, non-overlapping union of [start, end) intervals."""
    out: list[tuple[float, float]] = []
    for s, e in sorted(i for i in intervals if i[1] > i[0]):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def intersection_length(a: Iterable[tuple[float, float]], b: Iterable[tuple[float, float]]) -> float:
    """Seconds covered by both interval sets (each may overlap itself)."""
    x, y = merged(a), merged(b)
    i = j = 0
    total = 0.0
    while i < len(x) and j < len(y):
        lo, hi = max(x[i][0], y[j][0]), min(x[i][1], y[j][1])
        if hi > lo:
            total += hi - lo
        if x[i][1] < y[j][1]:
            i += 1
        else:
            j += 1
    return total
