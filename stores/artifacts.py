"""Artifacts (videos, audio, frames, chips, manifests, reports, facebank photos) through fsspec,
under one layout, on a local folder or S3, with signed short-lived URLs for media."""

from __future__ import annotations

import os
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from screenalytics.config import Settings
from screenalytics.config.settings import NEVER_PURGED, check_lifecycle_rule
from screenalytics.stores.location import Location, StorageError, explain, location


# The layout (keys are relative to the storage root).
def video_key(show: str, episode: str) -> str:
    return f"videos/{show}/{episode}/episode.mp4"


def audio_key(show: str, episode: str) -> str:
    return f"audio/{show}/{episode}/episode.wav"


def frame_key(show: str, episode: str, shot_id: int, t: float) -> str:
    return f"frames/{show}/{episode}/{shot_id}/{t:.3f}.jpg"


def chip_key(show: str, episode: str, track_id: int, n: int) -> str:
    return f"chips/{show}/{episode}/{track_id}/{n}.jpg"


def facebank_key(person_id: str, digest: str) -> str:
    return f"facebank/{person_id}/{digest}.jpg"


def manifest_key(show: str, episode: str, name: str) -> str:
    return f"manifests/{show}/{episode}/{name}"


def report_key(show: str, episode: str, name: str) -> str:
    return f"reports/{show}/{episode}/{name}"


def _safe(key: str) -> str:
    parts = key.split("/")
    if key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise StorageError(f"not a valid artifact key: {key!r} (keys are relative to the storage root, without '..')")
    return key


@dataclass
class ArtifactStore:
    loc: Location
    fs: Any
    base: str

    def path(self, key: str) -> str:
        """Where a key lives; a key that leads out of the root (``..``, a symlink) is refused."""
        path = f"{self.base}/{_safe(key)}"
        if not self.loc.is_s3 and not self._inside(path):
            raise StorageError(f"artifact key {key!r} leads outside the storage root (through a symlink): refused")
        return path

    def _inside(self, path: str) -> bool:
        root = os.path.realpath(self.base)
        real = os.path.realpath(path)
        return real == root or real.startswith(root + os.sep)

    def put(self, key: str, data: bytes | Path) -> str:
        path = self.path(key)
        try:
            if isinstance(data, Path):
                self.fs.put_file(str(data), path)
            elif not self.loc.is_s3:  # write aside, then rename: a reader never sees half a file
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                part = f"{path}.{os.getpid()}.{threading.get_ident()}.part"
                Path(part).write_bytes(data)
                os.replace(part, path)
            else:
                self.fs.pipe_file(path, data)
        except Exception as e:
            raise explain(e, self.loc.root) from None
        return key

    def get(self, key: str) -> bytes:
        path = self.path(key)
        try:
            return self.fs.cat_file(path)
        except FileNotFoundError:
            raise StorageError(f"no artifact {key!r} in {self.loc.root}") from None
        except Exception as e:
            raise explain(e, self.loc.root) from None

    def create(self, key: str, data: bytes) -> bool:
        """Write only if absent, atomically (O_EXCL locally, If-None-Match on S3); False if present."""
        path = self.path(key)
        try:
            if not self.loc.is_s3:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                with open(path, "xb") as f:
                    f.write(data)
            else:
                self.fs.pipe_file(path, data, mode="create")
            return True
        except FileExistsError:
            return False
        except OSError as e:
            if "pre-condition" in str(e).lower() or "precondition" in str(e).lower():
                return False
            raise explain(e, self.loc.root) from None

    def exists(self, key: str) -> bool:
        path = self.path(key)
        try:
            return bool(self.fs.exists(path))
        except Exception as e:
            raise explain(e, self.loc.root) from None

    def list(self, prefix: str = "") -> list[str]:
        root = self.path(prefix.rstrip("/")) if prefix else self.base
        try:
            found = self.fs.find(root)
        except FileNotFoundError:
            self.loc.check_reachable(self.fs)  # an empty prefix, or a bucket that does not exist
            return []
        except Exception as e:
            raise explain(e, self.loc.root) from None
        inside = found if self.loc.is_s3 else [p for p in found if self._inside(p)]
        return sorted(p[len(self.base) + 1 :] for p in inside)

    def delete(self, key: str) -> None:
        path = self.path(key)
        try:
            self.fs.rm_file(path)
        except FileNotFoundError:
            pass
        except Exception as e:
            raise explain(e, self.loc.root) from None

    def url(self, key: str, expires_s: int | None = None) -> str:
        """A signed GET URL valid for ``expires_s`` (S3; 1 s to storage.presign_max_expiry_s), or the local file path."""
        expires = expires_s or self.loc.cfg.presign_expiry_s
        if not 1 <= expires <= self.loc.cfg.presign_max_expiry_s:
            most = self.loc.cfg.presign_max_expiry_s
            raise StorageError(f"a signed URL lasts 1 to {most} s (storage.presign_max_expiry_s), not {expires}")
        if not self.exists(key):
            raise StorageError(f"no artifact {key!r} in {self.loc.root}")
        if not self.loc.is_s3:
            return self.path(key)
        try:
            return str(self.fs.url(self.path(key), expires=expires))
        except Exception as e:
            raise explain(e, self.loc.root) from None

    def probe_writable(self) -> None:
        """Write a tiny object under the root and delete it: a read-only store, refused keys or a
        missing bucket fail here, in seconds, instead of after an analysis. (The bucket is looked
        up first: some S3 servers would create it on the write.)"""
        self.loc.check_reachable(self.fs)
        key = f".screenalytics-probe-{uuid.uuid4().hex}"
        self.put(key, b"probe")
        self.delete(key)

    def apply_lifecycle(self, days: dict[str, int], now: float | None = None, dry_run: bool = False) -> list[str]:
        """Delete objects older than N days under each prefix; returns the keys (to be) deleted.

        Whatever the rules say, nothing under lancedb/ (the results), facebank/ or manifests/ is
        ever deleted, nor anything a symlink leads there from (settings.NEVER_PURGED)."""
        now = now or time.time()
        for prefix, keep_days in days.items():
            try:
                check_lifecycle_rule(prefix, keep_days)
            except ValueError as e:
                raise StorageError(str(e)) from None
        doomed = []
        for prefix, keep_days in days.items():
            for key in self.list(prefix):
                if self._kept(key):
                    continue
                try:
                    info = self.fs.info(self.path(key))
                except Exception as e:
                    raise explain(e, self.loc.root) from None
                modified = info.get("LastModified") or info.get("mtime") or info.get("created")
                stamp = modified.timestamp() if hasattr(modified, "timestamp") else float(modified or now)
                if now - stamp > keep_days * 86400:
                    doomed.append(key)
        if not dry_run:
            for key in doomed:
                self.delete(key)
        return doomed

    def _kept(self, key: str) -> bool:
        """Under a prefix that is never purged (through a symlink too, on a local folder)."""
        if key.split("/", 1)[0].lower() in NEVER_PURGED:
            return True
        if self.loc.is_s3:
            return False
        real = os.path.realpath(f"{self.base}/{key}")
        kept = [os.path.realpath(f"{self.base}/{top}") for top in NEVER_PURGED]
        return any(real == k or real.startswith(k + os.sep) for k in kept)


def open_artifacts(settings: Settings) -> ArtifactStore:
    loc = location(settings.storage, settings.storage_root())
    fs, base = loc.filesystem()
    return ArtifactStore(loc, fs, base)
