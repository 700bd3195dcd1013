"""Stage checkpoints: a killed run restarts at the first unfinished stage.

Each expensive stage's output is kept under ``checkpoints/<episode_id>/<stage>.pkl`` in the artifact
store, with the fingerprint of what produced it: the input file's hash, the settings that affect
that stage and the plugins and model files that ran it. A checkpoint is reused only when the
fingerprint matches, so a changed setting re-runs only the stages it affects. One file per stage
and episode: a new run overwrites it, so checkpoints never pile up.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from screenalytics.config import Settings
from screenalytics.faults import kill_point
from screenalytics.stores.artifacts import ArtifactStore

T = TypeVar("T")
FORMAT = 4  # bump when a checkpointed object's layout changes: older checkpoints are then ignored

# The settings sections each checkpointed stage depends on (besides its plugins and models).
VISION_SECTIONS = ("decode", "shots", "detection", "tracking", "quality", "recognition", "active_speaker")
AUDIO_SECTIONS = ("audio", "vad", "speaker_embedding", "diarization", "transcription", "voicebank")

_digests: dict[tuple[str, int, int], str] = {}


def file_digest(path: Path | str) -> str:
    """SHA-256 of a file's bytes (cached per path, size and mtime within the process)."""
    st = os.stat(path)
    key = (str(Path(path).resolve()), st.st_size, st.st_mtime_ns)
    if key not in _digests:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 22), b""):
                h.update(chunk)
        _digests[key] = h.hexdigest()
    return _digests[key]


def array_digest(arrays: Iterable[np.ndarray | str]) -> str:
    """A digest of enrolled vectors and labels (a facebank or voice bank as the run used it)."""
    h = hashlib.sha256()
    for a in arrays:
        h.update(a.encode() if isinstance(a, str) else np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def fingerprint(settings: Settings, sections: Iterable[str], **extra: Any) -> str:
    """A digest of the named settings sections plus anything else that changes the stage's output."""
    dumped = settings.model_dump(mode="json")
    for where in ("parallel", "spill", "spill_dir"):  # where a stage runs or keeps its input does not change what it finds
        dumped.get("audio", {}).pop(where, None)
    parts = {name: dumped.get(name) for name in sections}
    parts["_extra"] = extra
    parts["_format"] = FORMAT
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


class Checkpoints:
    """One episode's stage checkpoints in the artifact store."""

    def __init__(self, artifacts: ArtifactStore, episode_id: str, resume: bool) -> None:
        self.artifacts, self.episode_id, self.resume = artifacts, episode_id, resume
        self.reused: list[str] = []

    def key(self, stage: str) -> str:
        return f"checkpoints/{self.episode_id}/{stage}.pkl"

    def load(self, stage: str, fp: str) -> Any | None:
        """The stage's saved output when resuming and its fingerprint matches, else None."""
        if not self.resume or not self.artifacts.exists(self.key(stage)):
            return None
        try:
            saved = pickle.loads(self.artifacts.get(self.key(stage)))
        except Exception:  # a checkpoint from another version, or cut short: just run the stage
            return None
        if not isinstance(saved, dict) or saved.get("fingerprint") != fp:
            return None
        self.reused.append(stage)
        return saved["value"]

    def save(self, stage: str, fp: str, value: Any) -> None:
        """Keep the stage's output (written aside and renamed, so a kill leaves the old or the new)."""
        self.artifacts.put(self.key(stage), pickle.dumps({"fingerprint": fp, "value": value}, protocol=5))
        kill_point(f"checkpoint:{stage}")

    def reuse_or(self, stage: str, fp: str, compute: Callable[[], T]) -> T:
        found = self.load(stage, fp)
        if found is not None:
            return found  # type: ignore[no-any-return]
        value = compute()
        self.save(stage, fp, value)
        return value

    # -- a finished run -----------------------------------------------------------------------
    def finished(self, fp: str) -> dict[str, Any] | None:
        """The record of a finished run with exactly these inputs, when resuming."""
        key = self.key("done").replace(".pkl", ".json")
        if not self.resume or not self.artifacts.exists(key):
            return None
        try:
            done = json.loads(self.artifacts.get(key))
        except ValueError:
            return None
        return done if done.get("fingerprint") == fp else None

    def mark_finished(self, fp: str, run_id: str, out_dir: Path) -> None:
        key = self.key("done").replace(".pkl", ".json")
        self.artifacts.put(key, json.dumps({"fingerprint": fp, "run_id": run_id, "out_dir": str(out_dir)}).encode())
