"""Writes the run as Parquet tables, one file per record type, for pandas, DuckDB, Spark and friends."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from screenalytics import hookimpl
from screenalytics.model.records import Assignment, AVLink, Detection, ScreenTime, SpeechSegment, Track, TranscriptWord
from screenalytics.model.run import RunResult
from screenalytics.review import Label, State

# Speech turns carry their words, as speech.jsonl does.
WORDS = pa.list_(
    pa.struct([("start", pa.float64()), ("end", pa.float64()), ("word", pa.string()), ("probability", pa.float32())])
)
LabelAt = Callable[[int, float], Label | None]


def label_at(assignments: list[Assignment]) -> LabelAt:
    """Who a track is at time t, by the review rule (``State.person_at``): of the track's labels covering t the
    shortest wins, so a frame-level label beats its track's label. Indexed by track: a long episode has many."""
    by_track: dict[int, dict[str, Label]] = defaultdict(dict)
    for i, a in enumerate(assignments):
        key = a.assignment_id or f"#{i:09d}"  # rows built outside a run may have no id
        by_track[a.track_id][key] = Label(
            key, a.track_id, a.start_t, a.end_t, a.person_id, a.score, a.method, a.locked, a.confidence
        )
    states = {track: State({}, labels) for track, labels in by_track.items()}

    def at(track_id: int, t: float) -> Label | None:
        state = states.get(track_id)
        return state.person_at(track_id, t) if state is not None else None

    return at


def detections_table(result: RunResult) -> pa.Table:
    """Detections with the person their track is at that frame and how sure that label is (null: unlabelled)."""
    at = label_at(result.assignments)
    labels = [at(d.track_id, d.t) for d in result.detections]
    table = Detection.to_table(result.detections, episode_id=result.episode_id, run_id=result.run_id)
    table = table.append_column(
        pa.field("person_id", pa.string()), pa.array([lab and lab.person_id for lab in labels], pa.string())
    )
    return table.append_column(
        pa.field("confidence", pa.float32()), pa.array([lab and lab.weight for lab in labels], pa.float32())
    )


def speech_table(result: RunResult) -> pa.Table:
    """Speaker turns with their words (start, end, word, probability)."""
    words: dict[int, list[TranscriptWord]] = defaultdict(list)
    for w in result.words:
        words[w.turn_id].append(w)
    column = [
        [{"start": w.start, "end": w.end, "word": w.word, "probability": w.probability} for w in words.get(s.turn_id, [])]
        for s in result.speech
    ]
    table = SpeechSegment.to_table(result.speech, episode_id=result.episode_id, run_id=result.run_id)
    return table.append_column(pa.field("words", WORDS), pa.array(column, WORDS))


class ParquetExporter:
    """screen_time, tracks, detections, speech and av_links as .parquet files (always all five, empty ones included)."""

    name = "parquet"

    def export(self, result: RunResult, out_dir: Path) -> list[Path]:
        keys = {"episode_id": result.episode_id, "run_id": result.run_id}
        tables = {
            "screen_time": ScreenTime.to_table(result.screen_time, **keys),
            "tracks": Track.to_table(result.tracks, **keys),
            "detections": detections_table(result),
            "speech": speech_table(result),
            "av_links": AVLink.to_table(result.av_links, **keys),
        }
        return [_write(table, out_dir / f"{name}.parquet") for name, table in tables.items()]


def _write(table: pa.Table, path: Path) -> Path:
    """Write atomically: a reader never sees half a file."""
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp, compression="zstd")
    tmp.replace(path)
    return path


@hookimpl
def register_exporters(register):  # type: ignore[no-untyped-def]
    register(ParquetExporter)
