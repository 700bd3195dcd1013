"""Writes an ELAN annotation file (.eaf, EAF 3.0): per person, when they are seen and when they speak,
so a reviewer can scrub the episode against the results in ELAN."""

from __future__ import annotations

import mimetypes
import re
import xml.etree.ElementTree as ET
from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from screenalytics import hookimpl
from screenalytics.model.run import RunResult
from screenalytics.plugins.parquet_export import label_at
from screenalytics.stages.screentime import merged

# A fixed date keeps the file byte-for-byte the same for the same results (DATE is required by the schema).
DATE = "1970-01-01T00:00:00+00:00"
LINGUISTIC_TYPE = "default-lt"
# The four stereotypes every EAF file declares (as ELAN itself writes them).
CONSTRAINTS = {
    "Time_Subdivision": "Time subdivision of parent annotation's time interval, no time gaps allowed within this interval",
    "Symbolic_Subdivision": "Symbolic subdivision of a parent annotation. Annotations refering to the same parent are ordered",
    "Symbolic_Association": "1-1 association with a parent annotation",
    "Included_In": "Time alignable annotations within the parent annotation's time interval, gaps are allowed",
}


@dataclass(frozen=True)
class Span:
    start_ms: int
    end_ms: int
    value: str


def visual_spans(result: RunResult) -> dict[str, list[Span]]:
    """Per person, the union of the sampled frames (t, t + duration) in which a face labelled them is detected,
    the label read as screen time reads it (a frame-level label beats its track's); each span names its tracks."""
    at = label_at(result.assignments)
    intervals: dict[str, list[tuple[float, float, int]]] = defaultdict(list)
    for d in result.detections:
        lab = at(d.track_id, d.t)
        if lab is not None:
            intervals[lab.person_id].append((d.t, d.t + d.duration, d.track_id))
    out: dict[str, list[Span]] = {}
    for person, items in intervals.items():
        spans = merged((s, e) for s, e, _ in items)
        starts = [lo for lo, _ in spans]
        tracks: list[set[int]] = [set() for _ in spans]
        for s, e, tid in items:
            if e > s:
                tracks[bisect_right(starts, s) - 1].add(tid)
        out[person] = [Span(_ms(lo), _ms(hi), _tracks(ids)) for (lo, hi), ids in zip(spans, tracks, strict=True)]
    return out


def _tracks(ids: set[int]) -> str:
    return ("track " if len(ids) == 1 else "tracks ") + ", ".join(map(str, sorted(ids)))


def speaking_spans(result: RunResult) -> dict[str, list[Span]]:
    """Per person, their speech turns with the words said; turns of one person that overlap (two voices linked to
    the same person) become one annotation, since annotations on one ELAN tier must not overlap."""
    turns: dict[str, list[tuple[float, float, str]]] = defaultdict(list)
    for seg in result.speech:
        if seg.end > seg.start:
            turns[seg.person_id or seg.speaker].append((seg.start, seg.end, seg.text.strip()))
    out: dict[str, list[Span]] = {}
    for person, items in turns.items():
        joined: list[tuple[float, float, str]] = []
        for s, e, text in sorted(items):
            if joined and s < joined[-1][1]:
                lo, hi, said = joined[-1]
                joined[-1] = (lo, max(hi, e), " ".join(x for x in (said, text) if x))
            else:
                joined.append((s, e, text))
        out[person] = [Span(_ms(s), _ms(e), text) for s, e, text in joined]
    return out


def _natural(name: str) -> tuple[tuple[int, int | str], ...]:
    """unknown_2 before unknown_10."""
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"(\d+)", name))


def _ms(seconds: float) -> int:
    return max(0, round(seconds * 1000))


Tier = tuple[str, str, list[Span]]  # tier id, participant, annotations


def tiers(result: RunResult) -> list[Tier]:
    """`<person> visual` and `<person> speaking` for everyone seen or heard, in natural order (unknown_2 before
    unknown_10); annotations that round to nothing in milliseconds are left out."""
    visual, speaking = visual_spans(result), speaking_spans(result)
    return [
        (f"{person} {kind}", person, [s for s in spans.get(person, []) if s.end_ms > s.start_ms])
        for person in sorted({*visual, *speaking}, key=_natural)
        for kind, spans in (("visual", visual), ("speaking", speaking))
    ]


def eaf_document(result: RunResult) -> ET.ElementTree:
    """The EAF 3.0 tree. Deterministic: time slots numbered in time order, one pair per annotation (ELAN moves
    shared slots together when editing), annotation ids in tier order."""
    found = tiers(result)
    refs = sorted(
        (t, (i, j, edge))
        for i, (_, _, spans) in enumerate(found)
        for j, span in enumerate(spans)
        for edge, t in enumerate((span.start_ms, span.end_ms))
    )
    slot_id = {key: f"ts{n}" for n, (_, key) in enumerate(refs, 1)}
    root = ET.Element(
        "ANNOTATION_DOCUMENT",
        {
            "AUTHOR": "screenalytics",
            "DATE": DATE,
            "FORMAT": "3.0",
            "VERSION": "3.0",
            "xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance",
            "xsi:noNamespaceSchemaLocation": "http://www.mpi.nl/tools/elan/EAFv3.0.xsd",
        },
    )
    _header(root, result, sum(len(spans) for _, _, spans in found))
    order = ET.SubElement(root, "TIME_ORDER")
    for time, key in refs:
        ET.SubElement(order, "TIME_SLOT", {"TIME_SLOT_ID": slot_id[key], "TIME_VALUE": str(time)})
    n = 0
    for i, (tier_id, person, spans) in enumerate(found):
        tier = ET.SubElement(root, "TIER", {"LINGUISTIC_TYPE_REF": LINGUISTIC_TYPE, "PARTICIPANT": person, "TIER_ID": tier_id})
        for j, span in enumerate(spans):
            n += 1
            ann = ET.SubElement(
                ET.SubElement(tier, "ANNOTATION"),
                "ALIGNABLE_ANNOTATION",
                {"ANNOTATION_ID": f"a{n}", "TIME_SLOT_REF1": slot_id[(i, j, 0)], "TIME_SLOT_REF2": slot_id[(i, j, 1)]},
            )
            ET.SubElement(ann, "ANNOTATION_VALUE").text = span.value
    ET.SubElement(
        root, "LINGUISTIC_TYPE", {"GRAPHIC_REFERENCES": "false", "LINGUISTIC_TYPE_ID": LINGUISTIC_TYPE, "TIME_ALIGNABLE": "true"}
    )
    for stereotype, description in CONSTRAINTS.items():
        ET.SubElement(root, "CONSTRAINT", {"DESCRIPTION": description, "STEREOTYPE": stereotype})
    tree = ET.ElementTree(root)
    ET.indent(tree)
    return tree


def _header(root: ET.Element, result: RunResult, n_annotations: int) -> None:
    """The video (when it is a file here, so ELAN opens it with the tiers), the episode and run, the last id."""
    header = ET.SubElement(root, "HEADER", {"MEDIA_FILE": "", "TIME_UNITS": "milliseconds"})
    video = result.video.path
    if str(video) and video.is_file():
        mime = mimetypes.guess_type(video.name)[0] or "video/mp4"
        ET.SubElement(header, "MEDIA_DESCRIPTOR", {"MEDIA_URL": video.resolve().as_uri(), "MIME_TYPE": mime})
    props = {"screenalytics:episode_id": result.episode_id, "screenalytics:run_id": result.run_id}
    for name, value in {**props, "lastUsedAnnotationId": str(n_annotations)}.items():
        ET.SubElement(header, "PROPERTY", {"NAME": name}).text = value


class EafExporter:
    """episode.eaf for ELAN: tiers `<person> visual` (when their face is seen) and `<person> speaking` (their turns)."""

    name = "eaf"

    def export(self, result: RunResult, out_dir: Path) -> list[Path]:
        path = out_dir / "episode.eaf"
        eaf_document(result).write(path, encoding="UTF-8", xml_declaration=True)
        return [path]


@hookimpl
def register_exporters(register):  # type: ignore[no-untyped-def]
    register(EafExporter)
