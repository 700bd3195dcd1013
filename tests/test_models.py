"""The model registry: listing, verifying, and what a user sees when a model is missing."""

import pytest
from click.testing import CliRunner

from conftest import MODELS
from screenalytics.cli import cli
from screenalytics.errors import ModelNotFoundError, ScreenalyticsError
from screenalytics.registry.models import ModelStore


def test_registry_entries_are_complete():
    store = ModelStore(MODELS)
    for name, spec in store.registry.items():
        assert (
            spec.stage in {"detector", "recognizer", "vad", "speaker_embedder", "diarizer", "transcriber", "active_speaker"}
            and spec.licence
            and spec.files
        ), name
    assert store.path("yunet-2023mar") == MODELS / "face" / "face_detection_yunet_2023mar.onnx"


def test_shared_models_verify():
    res = CliRunner().invoke(cli, ["models", "verify"], env={"SCREENALYTICS_MODELS_DIR": str(MODELS)})
    assert res.exit_code == 0, res.output
    for name in ("yunet-2023mar", "scrfd-500m", "faceplugin-512d", "mobilefacenet-128d", "silero-vad", "campplus-192d"):
        assert f"{name}: ok" in res.output


def test_list_shows_status(tmp_path):
    res = CliRunner().invoke(cli, ["models", "list"], env={"SCREENALYTICS_MODELS_DIR": str(tmp_path)})
    assert res.exit_code == 0
    assert "yunet-2023mar" in res.output and "missing" in res.output


def test_a_missing_model_names_file_folder_and_fix(tmp_path):
    with pytest.raises(ModelNotFoundError) as e:
        ModelStore(tmp_path).path("yunet-2023mar")
    msg = str(e.value)
    assert "face_detection_yunet_2023mar.onnx" in msg and str(tmp_path) in msg
    assert "screenalytics models pull yunet-2023mar" in msg and "SCREENALYTICS_MODELS_DIR" in msg


def test_a_corrupted_model_fails_verification(tmp_path):
    (tmp_path / "face").mkdir()
    (tmp_path / "face" / "face_detection_yunet_2023mar.onnx").write_bytes(b"not a model")
    res = CliRunner().invoke(cli, ["models", "verify", "yunet-2023mar"], env={"SCREENALYTICS_MODELS_DIR": str(tmp_path)})
    assert res.exit_code == 1
    assert "checksum mismatch" in res.output


def test_pull_without_a_public_address_says_what_to_do(tmp_path):
    with pytest.raises(ScreenalyticsError, match="no public download address.*place it at"):
        ModelStore(tmp_path).pull("mobilefacenet-128d")


def test_pull_failure_is_clear_and_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr("urllib.request.urlopen", lambda *a, **k: (_ for _ in ()).throw(OSError("network is unreachable")))
    with pytest.raises(ScreenalyticsError, match="could not download .*network is unreachable"):
        ModelStore(tmp_path).pull("yunet-2023mar")
    assert not any(tmp_path.rglob("*.onnx"))


def test_unknown_model_name(tmp_path):
    with pytest.raises(ModelNotFoundError, match="unknown model 'nope'.*yunet-2023mar"):
        ModelStore(tmp_path).path("nope")
