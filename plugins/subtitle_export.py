"""Writes the transcript as subtitles (SRT and WebVTT), each line named by its speaker."""

from __future__ import annotations

import html
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, Field

from screenalytics import hookimpl
from screenalytics.model.records import SpeechSegment, TranscriptWord
from screenalytics.model.run import RunResult


class CueOptions(BaseModel, extra="forbid"):
    """How long a cue may get: longer turns are split between words."""

    max_cue_s: float = Field(7.0, gt=0, description="longest cue, in seconds (one longer word still gets a cue of its own)")
    max_chars: int = Field(84, ge=1, description="most characters of spoken text in a cue (the speaker's name not counted)")


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    speaker: str
    text: str


Token = tuple[float, float, str]  # start, end, the turn's text up to the end of this word


def tokens(seg: SpeechSegment, words: list[TranscriptWord]) -> list[Token]:
    """The turn's text cut after each word, timed by its words. Pieces of the turn's own text keep its spacing
    (stored words are stripped: "self" "-starter" is "self-starter"); a turn stored without words, or whose
    words are not found in its text, spreads its text over the turn by characters."""
    text = seg.text
    timed = [(w.start, w.end, w.word.strip()) for w in sorted(words, key=lambda w: (w.start, w.end)) if w.word.strip()]
    out: list[Token] = []
    pos = 0
    for start, end, word in timed:
        at = text.find(word, pos)
        if at < 0:
            out = []
            break
        out.append((start, end, text[pos : at + len(word)]))
        pos = at + len(word)
    if out:
        return [*out[:-1], (out[-1][0], out[-1][1], out[-1][2] + text[pos:])]
    marks = [m.end() for m in re.finditer(r"\S+", text)]
    span = (seg.end - seg.start) / (len(text) or 1)
    return [(seg.start + span * a, seg.start + span * b, text[a:b]) for a, b in zip([0, *marks], marks, strict=False)]


def _text(group: list[Token]) -> str:
    return " ".join("".join(tok[2] for tok in group).split())


def _greedy(toks: list[Token], max_s: float, max_chars: float) -> list[list[Token]]:
    """A word joins the current cue while the cue stays within both limits, else starts the next."""
    out: list[list[Token]] = []
    for tok in toks:
        if out and tok[1] - out[-1][0][0] <= max_s and len(_text([*out[-1], tok])) <= max_chars:
            out[-1].append(tok)
        else:
            out.append([tok])
    return out


def split_turn(seg: SpeechSegment, words: list[TranscriptWord], opts: CueOptions) -> list[Cue]:
    """As few cues as max_cue_s and max_chars allow, evened out: both limits are tightened as far as that keeps
    the count, so a long turn becomes cues of similar length rather than full ones and a short tail."""
    toks = tokens(seg, words)
    fewest = _greedy(toks, opts.max_cue_s, opts.max_chars)
    even = next(
        (
            g
            for f in (i / 20 for i in range(1, 20))
            if len(g := _greedy(toks, opts.max_cue_s * f, opts.max_chars * f)) <= len(fewest)
        ),
        fewest,
    )
    return [Cue(g[0][0], max(g[-1][1], g[0][0]), seg.person_id or seg.speaker, _text(g)) for g in even]


def cues(result: RunResult, opts: CueOptions) -> list[Cue]:
    """Every turn with text as cues, in time order (overlapping turns give overlapping cues)."""
    by_turn: dict[int, list[TranscriptWord]] = defaultdict(list)
    for w in result.words:
        by_turn[w.turn_id].append(w)
    out = [c for seg in result.speech if seg.text.strip() for c in split_turn(seg, by_turn.get(seg.turn_id, []), opts)]
    return sorted(out, key=lambda c: (c.start, c.end, c.speaker))


def timestamp(seconds: float, sep: str) -> str:
    """HH:MM:SS<sep>mmm, rounded to the millisecond."""
    ms = max(0, round(seconds * 1000))
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}{sep}{ms % 1000:03d}"


class SrtExporter:
    """transcript.srt: numbered cues `person_id: text`, at most max_cue_s / max_chars each (plugins.srt)."""

    name = "srt"
    Options = CueOptions

    def __init__(self, options: CueOptions | None = None) -> None:
        self.options = options or CueOptions()

    def export(self, result: RunResult, out_dir: Path) -> list[Path]:
        blocks = [
            f"{i}\n{timestamp(c.start, ',')} --> {timestamp(c.end, ',')}\n{c.speaker}: {c.text}\n"
            for i, c in enumerate(cues(result, self.options), 1)
        ]
        path = out_dir / "transcript.srt"
        path.write_text("\n".join(blocks), encoding="utf-8")
        return [path]


class VttExporter:
    """transcript.vtt: WebVTT cues with the speaker as a voice span, <v person_id>text (plugins.vtt)."""

    name = "vtt"
    Options = CueOptions

    def __init__(self, options: CueOptions | None = None) -> None:
        self.options = options or CueOptions()

    def export(self, result: RunResult, out_dir: Path) -> list[Path]:
        blocks = [
            f"{timestamp(c.start, '.')} --> {timestamp(c.end, '.')}\n<v {_escape(c.speaker)}>{_escape(c.text)}</v>\n"
            for c in cues(result, self.options)
        ]
        path = out_dir / "transcript.vtt"
        path.write_text("\n".join(["WEBVTT\n", *blocks]), encoding="utf-8")
        return [path]


def _escape(text: str) -> str:
    """WebVTT cue text is markup: &, < and > are written as entities."""
    return html.escape(text, quote=False)


@hookimpl
def register_exporters(register):  # type: ignore[no-untyped-def]
    register(SrtExporter)
    register(VttExporter)
