"""Visual screen time: union of the intervals where a person is on screen, never counted twice."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from screenalytics.data import ScreenTime

SCREEN_TIME_FIELDS = ["person_id", "visual_s", "speaking_s", "both_s", "confidence"]


def union_length(intervals: Iterable[tuple[float, float]]) -> float:
    """Total length covered by possibly overlapping [start, end) intervals."""
    total, cur_s, cur_e = 0.0, None, None
    for s, e in sorted(i for i in intervals if i[1] > i[0]):
        if cur_e is None or s > cur_e:
            if cur_e is not None:
                total += cur_e - cur_s  # type: ignore[operator]
            cur_s, cur_e = s, e
        else:
            cur_e = max(cur_e, e)
    if cur_e is not None:
        total += cur_e - cur_s  # type: ignore[operator]
    return total


def visual_screen_time(samples: Iterable[tuple[str, float, float, float]], people: Iterable[str] = ()) -> list[ScreenTime]:
    """From (person_id, t, duration, confidence) samples: per-person seconds and a confidence.

    Two tracks of one person seen in the same frame count once; confidence is the mean sample
    confidence weighted by time. Listed ``people`` appear even with zero seconds.
    """
    intervals: dict[str, list[tuple[float, float]]] = defaultdict(list)
    weight: dict[str, float] = defaultdict(float)
    conf: dict[str, float] = defaultdict(float)
    for person, t, dur, c in samples:
        intervals[person].append((t, t + dur))
        weight[person] += dur
        conf[person] += dur * c
    rows = []
    for person in dict.fromkeys([*people, *intervals]):
        visual = union_length(intervals.get(person, []))
        confidence = conf[person] / weight[person] if weight.get(person) else 0.0
        rows.append(ScreenTime(person_id=person, visual_s=visual, confidence=confidence))
    return sorted(rows, key=lambda r: (-r.visual_s, r.person_id))


def screen_time_row(row: ScreenTime) -> dict[str, object]:
    """The exported form of a row: contract fields, rounded to milliseconds."""
    d = {k: getattr(row, k) for k in SCREEN_TIME_FIELDS}
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in d.items()}
