"""Persisting a run: its rows into the result store, its files and face chips into the artifact
layout, and its shots, media and thumbnails into the catalog."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from screenalytics.config import Settings
from screenalytics.model.records import (
    Assignment,
    AVLink,
    Detection,
    FaceEmbedding,
    ScreenTime,
    SpeechSegment,
    Track,
    TranscriptWord,
)
from screenalytics.model.run import RunResult
from screenalytics.stores.artifacts import (
    ArtifactStore,
    audio_key,
    chip_key,
    frame_key,
    manifest_key,
    report_key,
    video_key,
)
from screenalytics.stores.catalog import Catalog
from screenalytics.stores.lance import ResultStore

CAST_PREFIXES = ("unknown_", "speaker_")  # labels that are not people of the catalog


def store_tables(result: RunResult) -> dict[str, pa.Table]:
    """The run's rows as pyarrow tables, keyed by LanceDB table name."""
    key = {"episode_id": result.episode_id, "run_id": result.run_id}
    return {
        "detections": Detection.to_table(result.detections, **key),
        "tracks": Track.to_table(result.tracks, **key),
        "embeddings": FaceEmbedding.to_table(result.embeddings, **key),
        "assignments": Assignment.to_table(result.assignments, **key),
        "screen_time": ScreenTime.to_table(result.screen_time, **key),
        "speech_segments": SpeechSegment.to_table(result.speech, **key),
        "transcripts": TranscriptWord.to_table(result.words, **key),
        "av_links": AVLink.to_table(result.av_links, **key),
    }


def save(store: ResultStore, result: RunResult, settings: Settings) -> None:
    """Replace the episode's stored rows with this run's, and mirror its vectors for search."""
    store.save_run(result.episode_id, result.run_id, store_tables(result))
    store.index_vectors(result.episode_id, result.run_id, settings.storage.vector_index_min_rows)


def publish(
    artifacts: ArtifactStore, settings: Settings, result: RunResult, files: list[Path], show: str, code: str
) -> list[str]:
    """Copy the run's manifests, reports, shot frames and face chips (and, when archiving, the
    video and its soundtrack) into the artifact layout; returns the keys written. Frames and
    chips an earlier run of the episode left (more shots or tracks than this run) are deleted."""
    keys = []
    for f in files:
        # deliverables (screen time, report.html, parquet, subtitles...) are reports; run records
        # (run.json, tracks/detections/speech.jsonl, receipts) are manifests
        key_of = report_key if f.name.startswith("screen_time") or f.suffix not in (".json", ".jsonl") else manifest_key
        keys.append(artifacts.put(key_of(show, code, f.name), f))
    for shot_id, (t, jpg) in result.shot_frames.items():
        keys.append(artifacts.put(frame_key(show, code, shot_id, t), jpg))
    if settings.storage.archive_media:
        keys.append(artifacts.put(video_key(show, code), result.video.path))
        if result.soundtrack is not None:
            keys.append(artifacts.put(audio_key(show, code), result.soundtrack))
    for track_id, best in result.chips.items():
        for n, (_, jpg) in enumerate(best):
            keys.append(artifacts.put(chip_key(show, code, track_id, n), jpg))
    written = set(keys)
    for kind in ("frames", "chips"):
        prefix = f"{kind}/{show}/{code}/"
        for key in artifacts.list(prefix):
            if key.startswith(prefix) and key not in written:
                artifacts.delete(key)
    return keys


def record_in_catalog(catalog: Catalog, result: RunResult, show_id: str, code: str, keys: list[str]) -> None:
    """Shots, the media (source path, archived copies), and automatic thumbnails."""
    cuts = [0.0, *result.cut_times, result.video.duration_s]
    shots = [{"shot_id": i, "start_t": cuts[i], "end_t": cuts[i + 1]} for i in range(len(cuts) - 1)]
    catalog.replace_episode_rows("shots", result.episode_id, shots)
    catalog.upsert(
        "media_assets",
        episode_id=result.episode_id,
        kind="source_video",
        key=str(result.video.path),
        bytes=result.video.path.stat().st_size,
    )
    for kind, key in (("video", video_key(show_id, code)), ("audio", audio_key(show_id, code))):
        if key in keys:
            catalog.upsert("media_assets", episode_id=result.episode_id, kind=kind, key=key, bytes=-1)
    best: dict[str, tuple[float, int]] = {}
    for track in result.tracks:
        person = track.person_id
        if not person or person.startswith(CAST_PREFIXES) or not result.chips.get(track.track_id):
            continue
        quality = result.chips[track.track_id][0][0]
        if quality > best.get(person, (-1.0, 0))[0]:
            best[person] = (quality, track.track_id)
    for person, (quality, track_id) in best.items():
        catalog.feature(person, chip_key(show_id, code, track_id, 0), quality, result.episode_id)
