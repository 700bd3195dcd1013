"""Test setup: real models and media from the shared folder, an isolated store per test."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("SCREENALYTICS_SHARED_DIR") or REPO.parent / "shared").resolve()
MODELS = SHARED / "models"
FACES = SHARED / "media" / "faces"
VIDEO = SHARED / "media" / "video" / "short_hamilton_clip.mp4"
AUDIO = SHARED / "media" / "audio"

if not (MODELS / "face").is_dir():
    raise pytest.UsageError(
        f"real models not found in {MODELS}: set SCREENALYTICS_SHARED_DIR to the shared assets folder "
        "(see README, 'Running the tests')"
    )

# Keep every test away from the user's real cache, data and model folders.
os.environ["SCREENALYTICS_MODELS_DIR"] = str(MODELS)
os.environ.pop("SCREENALYTICS_LOAD_PLUGINS", None)


@pytest.fixture(autouse=True)
def _isolated_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    store = tmp_path / "lancedb"
    monkeypatch.setenv("SCREENALYTICS_STORAGE__URI", str(store))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    return store


def make_facebank(root: Path, people: dict[str, list[str]]) -> Path:
    """A facebank folder DIR/<person>/<photo> made of shared photos (copied into a temp dir)."""
    for person, photos in people.items():
        (root / person).mkdir(parents=True, exist_ok=True)
        for name in photos:
            shutil.copy(FACES / name, root / person / name)
    return root


@pytest.fixture(scope="session")
def settings(tmp_path_factory):  # type: ignore[no-untyped-def]
    from screenalytics.config import load_settings

    return load_settings(storage={"uri": str(tmp_path_factory.mktemp("session-store"))})


@pytest.fixture(scope="session")
def pipeline(settings):  # type: ignore[no-untyped-def]
    """One pipeline (models loaded once) for the whole session."""
    from screenalytics.pipeline import Pipeline

    return Pipeline(settings)


# --- a real S3 server for the storage tests (SeaweedFS on 127.0.0.1, started once) ---------------


@pytest.fixture(scope="session")
def s3(tmp_path_factory):
    import s3server

    server = s3server.start(tmp_path_factory.mktemp("seaweedfs"))
    yield server
    server.stop()


def s3_env(server, prefix: str, secret: str | None = None) -> dict[str, str]:
    return {
        "SCREENALYTICS_STORAGE__URI": f"s3://{server.bucket}/{prefix}",
        "SCREENALYTICS_STORAGE__ENDPOINT_URL": server.endpoint,
        "SCREENALYTICS_STORAGE__ACCESS_KEY_ID": server.key,
        "SCREENALYTICS_STORAGE__SECRET_ACCESS_KEY": secret or server.secret,
        "SCREENALYTICS_STORAGE__TIMEOUT_S": "2",
        "SCREENALYTICS_STORAGE__RETRIES": "0",
    }


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.slow)])
def env(request, tmp_path, monkeypatch):
    """Environment that points storage at a fresh local folder or a fresh S3 prefix."""
    if request.param == "local":
        values = {"SCREENALYTICS_STORAGE__URI": str(tmp_path / "data")}
    else:
        values = s3_env(request.getfixturevalue("s3"), f"t{time.time_ns()}")
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    return values
