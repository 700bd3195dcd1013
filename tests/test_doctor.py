"""What really runs each model: `doctor`, the run's `providers` record, `--require-gpu`, and tools/bench.py."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from conftest import FACES, MODELS, REPO, VIDEO, make_facebank
from screenalytics.cli import cli
from screenalytics.config import load_settings
from screenalytics.stages.decode import iter_frames
from screenalytics.stores import open_results
from synth import ShotSpec, compose

HAMILTON_FACEBANK = REPO / "tests" / "data" / "hamilton_facebank.yaml"
ONNX_MODELS = {"faceplugin-512d", "silero-vad", "campplus-192d", "pyannote-segmentation-3.0"}


def doctor(*args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, ["doctor", *args], env=env)


def model_checks(report: dict) -> dict[str, dict]:
    return {c["data"]["model"]: c for c in report["checks"] if c["section"] == "models"}


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """One second of Obama, no sound."""
    root = tmp_path_factory.mktemp("clip")
    compose(root / "obama.mp4", [ShotSpec(FACES / "obama.jpg", 1.0, ["obama"])])
    return root / "obama.mp4", make_facebank(root / "facebank", {"obama": ["obama2.jpg"]})


def test_doctor_on_this_machine_reports_every_model_on_the_cpu():
    res = doctor("--json", "--verify")
    assert res.exit_code == 0, res.output
    report = json.loads(res.output)
    assert report["ok"] and not [c for c in report["checks"] if c["status"] == "fail"]
    models = model_checks(report)
    assert ONNX_MODELS | {"yunet-2023mar", "whisper-tiny.en"} <= set(models)
    for name in ONNX_MODELS:
        data = models[name]["data"]
        assert data["runtime"] == "onnxruntime" and data["used"][0] == "CPUExecutionProvider", data
        assert data["requested"] == load_settings().runtime.providers
        assert data["size_bytes"] > 0 and not data["missing"] and data["sha256_mismatch"] == []
    assert models["yunet-2023mar"]["data"]["used"] == ["CPU"] and models["yunet-2023mar"]["data"]["runtime"] == "opencv"
    assert models["whisper-tiny.en"]["data"]["used"] == ["cpu"]
    names = {c["name"] for c in report["checks"]}
    assert {"python", "packages", "onnxruntime", "GPU", "decoding", "chromium", "storage"} <= names

    text = doctor()
    assert text.exit_code == 0, text.output
    assert "✓ recognizer arcface: faceplugin-512d on CPUExecutionProvider" in text.output
    assert "✓ detector yunet: yunet-2023mar on CPU (opencv)" in text.output and "✗" not in text.output


def test_doctor_names_a_missing_and_a_broken_model_and_exits_1(tmp_path):
    models = tmp_path / "models"
    for src in MODELS.rglob("*.onnx"):  # every shared model but YuNet, and a recognizer file that is no model
        if src.name != "face_detection_yunet_2023mar.onnx":
            (models / src.relative_to(MODELS)).parent.mkdir(parents=True, exist_ok=True)
            (models / src.relative_to(MODELS)).symlink_to(src)
    (models / "face" / "faceplugin_fr_feature_512d.onnx").unlink()
    (models / "face" / "faceplugin_fr_feature_512d.onnx").write_bytes(b"not a model")
    env = {"SCREENALYTICS_MODELS_DIR": str(models)}

    res = doctor(env=env)
    assert res.exit_code == 1, res.output
    lines = res.output.splitlines()
    yunet = next(ln for ln in lines if "detector yunet" in ln)
    assert yunet.strip().startswith("✗") and "face/face_detection_yunet_2023mar.onnx not found" in yunet
    assert str(models) in yunet and "models pull yunet-2023mar" in yunet
    arcface = next(ln for ln in lines if "recognizer arcface" in ln)
    assert arcface.strip().startswith("✗") and "does not load" in arcface
    assert any(ln.strip().startswith("✓ vad silero: silero-vad on CPUExecutionProvider") for ln in lines)  # the rest is checked
    assert "2 problem(s)" in res.output

    report = json.loads(doctor("--json", env=env).output)
    assert not report["ok"]
    failed = {c["name"] for c in report["checks"] if c["status"] == "fail"}
    assert failed == {"detector yunet", "recognizer arcface"}


def test_doctor_require_gpu_fails_on_a_cpu_only_machine():
    res = doctor("--require-gpu", "--json")
    assert res.exit_code == 1
    report = json.loads(res.output)
    failed = {c["name"]: c["detail"] for c in report["checks"] if c["status"] == "fail"}
    assert "onnxruntime" in failed and "no configured GPU provider is available" in failed["onnxruntime"]
    assert "faceplugin-512d runs on CPUExecutionProvider" in failed["recognizer arcface"]


@pytest.mark.parametrize(
    "args, env, named",
    [
        (["--require-gpu"], {}, "yunet-2023mar runs on CPU (opencv)"),
        (
            [],
            {"SCREENALYTICS_RUNTIME__REQUIRE_GPU": "true", "SCREENALYTICS_DETECTION__DETECTOR": "scrfd"},
            "scrfd-500m runs on CPUExecutionProvider",
        ),
    ],
    ids=["flag", "setting"],
)
def test_require_gpu_on_a_cpu_only_machine_stops_before_any_work(clip, tmp_path, args, env, named):
    video, facebank = clip
    out = tmp_path / "out"
    res = CliRunner().invoke(cli, ["run", str(video), "--facebank", str(facebank), "--out", str(out), *args], env=env)
    assert res.exit_code == 1
    message = res.output.strip()
    assert len(message.splitlines()) == 1, message
    assert message.startswith("error: a GPU is required (runtime.require_gpu)") and named in message, message
    assert "Traceback" not in message
    assert not out.exists()
    store = open_results(load_settings())
    assert all(store.count(t) == 0 for t in ("detections", "tracks", "screen_time"))


def test_run_records_and_announces_what_runs_each_model(clip, tmp_path):
    video, facebank = clip
    out = tmp_path / "out"
    res = CliRunner().invoke(cli, ["run", str(video), "--facebank", str(facebank), "--out", str(out), "--no-audio"])
    assert res.exit_code == 0, res.output
    assert "models: yunet-2023mar on CPU (opencv); faceplugin-512d on CPUExecutionProvider" in res.output
    providers = json.loads((out / "run.json").read_text())["providers"]
    assert set(providers) == {"yunet-2023mar", "faceplugin-512d"}
    assert providers["faceplugin-512d"]["used"][0] == "CPUExecutionProvider"
    assert providers["faceplugin-512d"]["requested"] == load_settings().runtime.providers
    assert providers["faceplugin-512d"]["path"] == str(MODELS / "face" / "faceplugin_fr_feature_512d.onnx")
    assert providers["yunet-2023mar"] == {
        "path": str(MODELS / "face" / "face_detection_yunet_2023mar.onnx"),
        "runtime": "opencv",
        "requested": ["CPU"],
        "used": ["CPU"],
    }


@pytest.mark.slow
def test_run_json_lists_the_audio_models_too(tmp_path):
    """The audio models may load in another process; run.json still says what ran them."""
    out = tmp_path / "out"
    res = CliRunner().invoke(cli, ["run", str(VIDEO), "--facebank", str(HAMILTON_FACEBANK), "--out", str(out), "-q"])
    assert res.exit_code == 0, res.output
    providers = json.loads((out / "run.json").read_text())["providers"]
    assert set(providers) >= ONNX_MODELS
    assert all(providers[m]["used"][0] == "CPUExecutionProvider" for m in ONNX_MODELS)
    assert providers["whisper-tiny.en"]["runtime"] == "ctranslate2" and providers["whisper-tiny.en"]["used"] == ["cpu"]


# --- tools/bench.py ---------------------------------------------------------------------------------


def load_bench():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("bench", REPO / "tools" / "bench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("stride, fps", [(1, None), (3, None), (1, 5.0)])
def test_bench_decodes_what_the_pipeline_samples(clip, stride, fps):
    video, _ = clip
    seconds, frames = load_bench().decode_only(video, stride, fps, 0)
    assert seconds > 0 and frames == sum(1 for _ in iter_frames(video, stride=stride, fps=fps))


@pytest.mark.slow
def test_bench_end_to_end_on_a_tiny_episode(tmp_path):
    cache, figures = tmp_path / "cache", tmp_path / "bench.json"
    cmd = [sys.executable, str(REPO / "tools" / "bench.py"), "--minutes", "0.2", "--cache", str(cache), "--json", str(figures)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    f = json.loads(figures.read_text())
    assert f["date"] and f["machine"]["cores"] >= 1 and f["machine"]["ram_gb"] > 0 and f["machine"]["cpu"]
    assert "gpu" in f["machine"] and "CPUExecutionProvider" in f["machine"]["available_providers"]
    assert (f["video"]["width"], f["video"]["height"], f["video"]["fps"]) == (1280, 720, 25)
    assert f["video"]["duration_s"] == pytest.approx(12, abs=0.1) and f["video"]["audio"]
    assert f["decode_only"]["frames"] == 300 and f["decode_only"]["seconds"] > 0
    p = f["pipeline"]
    assert p["frames_analysed"] == 300 and p["wall_s"] > f["decode_only"]["seconds"]
    assert p["frames_per_s"] > 0 and p["real_time_factor"] == pytest.approx(p["wall_s"] / f["video"]["duration_s"], rel=1e-3)
    assert p["peak_rss_mb"] >= p["peak_rss_largest_process_mb"] > 100
    assert {"decode", "detect", "embed", "vad", "diarize", "transcribe"} <= set(p["timings_s"]) and p["audio"] == "ok"
    assert f["vision_to_decode"] == pytest.approx(p["vision_s"] / f["decode_only"]["seconds"], rel=0.01)
    assert f["providers"]["faceplugin-512d"]["used"][0] == "CPUExecutionProvider"
    for word in (
        "real-time factor",
        "peak RSS",
        "vision stages / decode only",
        "models: yunet-2023mar on CPU (opencv); faceplugin-512d on CPUExecutionProvider",
    ):
        assert word in done.stdout

    video = next(cache.glob("episode_0.2min_1280x720_*.mp4"))
    built = video.stat().st_mtime_ns
    again, facebank = load_bench().build_episode(0.2, cache, 3, 120.0)  # a second run reuses the episode
    assert again == video and video.stat().st_mtime_ns == built and any(facebank.glob("*/*"))
