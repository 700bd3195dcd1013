"""Model registry and cache: where each model file lives, how to verify it and how to get it."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import urllib.request
import zipfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from screenalytics.errors import ModelNotFoundError, ScreenalyticsError

MODELS_DIR_ENV = "SCREENALYTICS_MODELS_DIR"


@dataclass(frozen=True)
class ModelFile:
    path: str
    sha256: str | None = None
    url: str | None = None
    archive_member: str | None = None


@dataclass(frozen=True)
class ModelSpec:
    name: str
    stage: str
    description: str
    licence: str
    source: str
    files: tuple[ModelFile, ...]
    params: dict[str, Any] = field(default_factory=dict)


def load_registry() -> dict[str, ModelSpec]:
    """The packaged registry (core/models.yaml)."""
    raw = yaml.safe_load(resources.files("screenalytics").joinpath("models.yaml").read_text())
    return {
        name: ModelSpec(
            name=name,
            stage=entry["stage"],
            description=entry.get("description", ""),
            licence=entry.get("licence", "unknown"),
            source=entry.get("source", ""),
            files=tuple(ModelFile(**f) for f in entry["files"]),
            params=dict(entry.get("params") or {}),
        )
        for name, entry in raw.items()
    }


def default_models_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "screenalytics" / "models"


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class ModelStore:
    """Resolves registry names (or plain file paths) to files in one models directory."""

    def __init__(self, models_dir: Path | str | None = None) -> None:
        env = os.environ.get(MODELS_DIR_ENV)
        self.root = Path(models_dir or env or default_models_dir()).expanduser()
        self.registry = load_registry()

    def spec(self, name: str) -> ModelSpec:
        if name not in self.registry:
            raise ModelNotFoundError(f"unknown model {name!r}; registered models: {', '.join(sorted(self.registry))}")
        return self.registry[name]

    def candidates(self, f: ModelFile) -> list[Path]:
        """The nested registry path first, then the bare file name, in the models directory."""
        return [self.root / f.path, self.root / Path(f.path).name]

    def find(self, f: ModelFile) -> Path | None:
        return next((p for p in self.candidates(f) if p.is_file()), None)

    def path(self, name: str) -> Path:
        """The model's first file on disk; a missing file says where we looked and how to get it."""
        if Path(name).suffix and Path(name).expanduser().is_file():
            return Path(name).expanduser()
        spec = self.spec(name)
        f = spec.files[0]
        found = self.find(f)
        if found is None:
            how = f"run `screenalytics models pull {name}`" if f.url else f"get it from {spec.source} and place it there"
            raise ModelNotFoundError(
                f"model file {Path(f.path).name} for {name!r} not found in {self.root} "
                f"(looked for {self.candidates(f)[0]}); {how}, or set {MODELS_DIR_ENV} to the folder that holds it"
            )
        return found

    def status(self, name: str) -> str:
        """'ok', 'missing', or 'checksum mismatch' for every file of the model."""
        for f in self.spec(name).files:
            p = self.find(f)
            if p is None:
                return "missing"
            if f.sha256 and sha256_of(p) != f.sha256:
                return "checksum mismatch"
        return "ok"

    def pull(self, name: str, timeout_s: float = 60.0) -> list[Path]:
        """Download the model's files into the models directory and verify them."""
        spec = self.spec(name)
        written = []
        for f in spec.files:
            dest = self.root / f.path
            if dest.is_file() and (not f.sha256 or sha256_of(dest) == f.sha256):
                written.append(dest)
                continue
            if not f.url:
                raise ScreenalyticsError(
                    f"{name!r} has no public download address; get {Path(f.path).name} from {spec.source} and place it at {dest}"
                )
            try:
                with urllib.request.urlopen(f.url, timeout=timeout_s) as resp:
                    payload = resp.read()
            except OSError as e:
                raise ScreenalyticsError(f"could not download {f.url} for {name!r}: {e}") from None
            if f.archive_member:
                with zipfile.ZipFile(io.BytesIO(payload)) as zf:
                    member = next((m for m in zf.namelist() if Path(m).name == f.archive_member), None)
                    if member is None:
                        raise ScreenalyticsError(f"{f.url} holds no {f.archive_member}")
                    payload = zf.read(member)
            if f.sha256 and hashlib.sha256(payload).hexdigest() != f.sha256:
                raise ScreenalyticsError(f"downloaded {Path(f.path).name} does not match its sha256; not saved")
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_suffix(dest.suffix + ".part")
            tmp.write_bytes(payload)
            shutil.move(tmp, dest)
            written.append(dest)
        return written
