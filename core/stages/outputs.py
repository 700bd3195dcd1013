"""Files a run leaves in its output folder: JSONL manifests and a run summary."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from screenalytics.model.run import RunResult


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> Path:
    """Write atomically: a reader never sees half a manifest."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w") as f:
        for row in rows:
            f.write(json.dumps(row, separators=(",", ":")) + "\n")
    tmp.replace(path)
    return path


def write_manifests(result: "RunResult", out_dir: Path, providers: dict[str, dict[str, Any]] | None = None) -> list[Path]:
    """tracks.jsonl, detections.jsonl, speech.jsonl (turns with speaker, person and words),
    av_links.jsonl and run.json (inputs, counts, timings, skipped photos, audio status, and per
    model what ran it: ``providers``, from ``ModelStore.providers()``)."""
    base = {"episode_id": result.episode_id, "run_id": result.run_id}
    tracks = write_jsonl(out_dir / "tracks.jsonl", ({**base, **t.to_dict()} for t in result.tracks))
    dets = write_jsonl(out_dir / "detections.jsonl", ({**base, **d.to_dict()} for d in result.detections))
    words_by_turn: dict[int, list[dict[str, Any]]] = {}
    for w in result.words:
        words_by_turn.setdefault(w.turn_id, []).append({"start": w.start, "end": w.end, "word": w.word, "p": w.probability})
    speech = write_jsonl(
        out_dir / "speech.jsonl",
        ({**base, **seg.to_dict(), "words": words_by_turn.get(seg.turn_id, [])} for seg in result.speech),
    )
    links = write_jsonl(out_dir / "av_links.jsonl", ({**base, **a.to_dict()} for a in result.av_links))
    summary = {
        **base,
        "video": str(result.video.path),
        "duration_s": result.video.duration_s,
        **_decoded(result),
        "fps": result.video.fps,
        "frames_analysed": result.frames_analysed,
        "shots": len(result.cut_times) + 1,
        "cut_times": result.cut_times,
        "tracks": len(result.tracks),
        "detections": len(result.detections),
        "skipped_facebank_photos": result.skipped_photos,
        "audio": result.audio_status,
        "speech_turns": len(result.speech),
        "speakers": sorted({seg.speaker for seg in result.speech}),
        "timings_s": {k: round(v, 3) for k, v in result.timings.items()},
        "providers": providers or {},
        "reused_checkpoints": result.reused,
    }
    run = out_dir / "run.json"
    run.write_text(json.dumps(summary, indent=2) + "\n")
    return [tracks, dets, speech, links, run]


def _decoded(result: "RunResult") -> dict[str, Any]:
    """The span of the video analysed: all of it, or (decode.on_short: warn) where decoding ended."""
    span = result.span
    if span is None:
        return {}
    return {
        "analysed_span_s": [0.0, round(span.end_s, 3)],
        "decoded_coverage": round(span.coverage, 4),
        "warnings": [span.warning] if span.warning else [],
    }


def run_exporters(
    classes: Iterable[type], settings: Any, result: "RunResult", out_dir: Path
) -> tuple[list[Path], list[Exception]]:
    """Every exporter runs even when one fails (a webhook that is down must not cost the CSV):
    returns the files written and the failures, for the caller to raise once all else is done."""
    from screenalytics.errors import ScreenalyticsError
    from screenalytics.registry.plugins import new_exporter

    files: list[Path] = []
    failed: list[Exception] = []
    for cls in classes:
        try:
            files += new_exporter(cls, settings).export(result, out_dir)
        except ScreenalyticsError as e:
            failed.append(e)
            files += getattr(e, "files", [])  # what it wrote before failing (a receipt)
    return files, failed
