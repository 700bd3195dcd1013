"""A stored episode read back as a RunResult, so exporters and reports work from the store."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np

from screenalytics.model.banks import Facebank, Gallery
from screenalytics.model.media import VideoInfo
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
from screenalytics.model.vectors import normalise
from screenalytics.stages.screentime import sort_rows
from screenalytics.stores.catalog import Catalog
from screenalytics.stores.lance import ResultStore, quote


def _records(store: ResultStore, table: str, cls: Any, episode_id: str) -> list[Any]:
    names = [f.name for f in fields(cls)]
    return [cls(**{k: row[k] for k in names}) for row in store.read(table, episode_id).to_pylist()]


def load_result(store: ResultStore, catalog: Catalog, episode_id: str) -> RunResult:
    """The episode's current rows (review edits included); the video is described from the catalog."""
    shots = sorted(catalog.list("shots", f"episode_id = {quote(episode_id)}"), key=lambda r: r["shot_id"])
    source = catalog.get("media_assets", episode_id=episode_id, kind="source_video")
    duration = max((r["end_t"] for r in shots), default=0.0)
    video = VideoInfo(Path(source["key"]) if source else Path(""), 0, 0, 0.0, duration, 0, False)
    tracks = _records(store, "tracks", Track, episode_id)
    speech = _records(store, "speech_segments", SpeechSegment, episode_id)
    screen = sort_rows(_records(store, "screen_time", ScreenTime, episode_id))
    run_ids = store.read("screen_time", episode_id).column("run_id").to_pylist()
    return RunResult(
        episode_id,
        (run_ids or [""])[0],
        video,
        _records(store, "detections", Detection, episode_id),
        tracks,
        _records(store, "embeddings", FaceEmbedding, episode_id),
        _records(store, "assignments", Assignment, episode_id),
        screen,
        [r["start_t"] for r in shots[1:]],
        [],
        0,
        audio_status="ok" if speech else "not stored",
        speech=speech,
        words=_records(store, "transcripts", TranscriptWord, episode_id),
        av_links=_records(store, "av_links", AVLink, episode_id),
    )


def facebank_of(embeddings: Iterable[FaceEmbedding]) -> Facebank:
    """The facebank an episode was enrolled with, from its stored facebank embeddings."""
    rows = [e for e in embeddings if e.owner == "facebank"]
    people = list(dict.fromkeys(e.owner_id for e in rows))
    vectors = normalise(np.asarray([e.vector for e in rows], np.float32)) if rows else np.zeros((0, 0), np.float32)
    owners = np.asarray([people.index(e.owner_id) for e in rows], dtype=int)
    return Facebank(Gallery(people, vectors, owners), [e.source for e in rows])


def load_facebank(store: ResultStore, episode_id: str) -> Facebank:
    return facebank_of(_records(store, "embeddings", FaceEmbedding, episode_id))
