"""Writes speaker turns as RTTM, the format diarization scorers (pyannote.metrics, dscore, md-eval) read."""

from __future__ import annotations

import re
from pathlib import Path

from screenalytics import hookimpl
from screenalytics.model.records import SpeechSegment
from screenalytics.model.run import RunResult

Turn = tuple[float, float, str]  # start, end, name


def rttm_name(text: str) -> str:
    """RTTM fields are split on whitespace: a name or uri keeps its words joined by '_'."""
    return re.sub(r"\s+", "_", text.strip()) or "unknown"


def speaker_name(seg: SpeechSegment) -> str:
    """The person the turn was attributed to; a voice tied to nobody keeps its speaker_N (or diarization) label."""
    return rttm_name(seg.person_id or seg.speaker)


def regular_turns(speech: list[SpeechSegment]) -> list[Turn]:
    """One turn per speech segment, overlaps kept, in time order."""
    return sorted((s.start, s.end, speaker_name(s)) for s in speech if s.end > s.start)


def exclusive_turns(speech: list[SpeechSegment]) -> list[Turn]:
    """One speaker at a time. Where turns overlap, the turn that started last holds the floor (an interruption
    takes over; when it ends, the earlier turn resumes if it is still going); equal starts go to the higher
    turn_id. Neighbouring pieces of one name are merged, so every instant someone speaks stays covered once."""
    turns = [s for s in speech if s.end > s.start]
    cuts = sorted({t for s in turns for t in (s.start, s.end)})
    out: list[Turn] = []
    for lo, hi in zip(cuts, cuts[1:], strict=False):
        active = [s for s in turns if s.start <= lo and s.end >= hi]
        if not active:
            continue
        name = speaker_name(max(active, key=lambda s: (s.start, s.turn_id)))
        if out and out[-1][2] == name and out[-1][1] == lo:
            out[-1] = (out[-1][0], hi, name)
        else:
            out.append((lo, hi, name))
    return out


def rttm_lines(uri: str, turns: list[Turn]) -> str:
    """``SPEAKER <uri> 1 <start> <duration> <NA> <NA> <name> <NA> <NA>``, times in seconds to the millisecond.
    Start and end are rounded first, so turns that meet in the data meet in the file."""
    lines = []
    for start, end, name in turns:
        s, e = round(start, 3), round(end, 3)
        if e > s:
            lines.append(f"SPEAKER {uri} 1 {s:.3f} {e - s:.3f} <NA> <NA> {name} <NA> <NA>\n")
    return "".join(lines)


class RttmExporter:
    """speech.rttm (turns by person, overlaps kept) and speech.exclusive.rttm (one speaker at a time)."""

    name = "rttm"

    def export(self, result: RunResult, out_dir: Path) -> list[Path]:
        uri = rttm_name(result.episode_id)
        regular, exclusive = out_dir / "speech.rttm", out_dir / "speech.exclusive.rttm"
        regular.write_text(rttm_lines(uri, regular_turns(result.speech)))
        exclusive.write_text(rttm_lines(uri, exclusive_turns(result.speech)))
        return [regular, exclusive]


@hookimpl
def register_exporters(register):  # type: ignore[no-untyped-def]
    register(RttmExporter)
