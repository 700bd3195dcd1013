"""`screenalytics doctor`: is this install ready to analyse an episode, and on which hardware?

Also what `run` uses to load its models up front: the startup line that says what really runs
each model, and the --require-gpu check before any work.
"""

from __future__ import annotations

import concurrent.futures
import json
import math
import platform
import shutil
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from screenalytics.cli.app import CONFIG_HELP, cli, out_console
from screenalytics.config import Settings, load_settings
from screenalytics.model.names import AUDIO_STAGES, PluginKind, Stage, with_prerequisites
from screenalytics.registry.models import GPU_PROVIDERS, LoadedModel, ModelStore, not_on_gpu, sha256_of

if TYPE_CHECKING:  # pragma: no cover
    from screenalytics.pipeline import Pipeline

MARKS = {"ok": "✓", "fail": "✗", "warn": "!", "info": "-"}
# (distribution names, any of which will do): what the default pipeline imports
REQUIRED_PACKAGES = (
    ("screenalytics",),
    ("onnxruntime", "onnxruntime-gpu", "onnxruntime-directml", "onnxruntime-openvino"),
    ("av",),
    ("numpy",),
    ("opencv-python", "opencv-contrib-python"),
    ("insightface",),
    ("supervision",),
    ("trackers",),
    ("faster-whisper",),
    ("ctranslate2",),
    ("kaldi-native-fbank",),
    ("lancedb",),
    ("pyarrow",),
    ("pydantic",),
)
OPTIONAL_PACKAGES = ("torch", "pyannote.audio", "playwright")
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
VISION_KINDS = (PluginKind.DETECTOR, PluginKind.RECOGNIZER)  # the tracker loads no model
AUDIO_KINDS = (PluginKind.VAD, PluginKind.SPEAKER_EMBEDDER, PluginKind.DIARIZER, PluginKind.TRANSCRIBER)


@dataclass
class Check:
    section: str
    name: str
    status: str  # ok | fail (a required thing is missing or broken) | warn (optional, or worth knowing) | info
    detail: str
    data: dict[str, Any] | None = None  # machine-readable facts (models: file, runtime, providers)

    def line(self) -> str:
        return f"{MARKS[self.status]} {self.name}: {self.detail}"


# -- loading the models a run uses ---------------------------------------------------------------------


def load_kinds(pipeline: Pipeline, kinds: Iterable[PluginKind]) -> list[tuple[PluginKind, list[LoadedModel]]]:
    """Load each kind's plugin into the pipeline; the models each one loaded (empty when its plugin
    reports none). Errors propagate (a missing model file, runtime.require_gpu)."""
    out = []
    for kind in kinds:
        before = len(pipeline.models.loaded)
        pipeline.plugin(kind)
        out.append((kind, pipeline.models.loaded[before:]))
    return out


def audio_kinds(settings: Settings, stages: Iterable[Stage] | None = None) -> list[PluginKind]:
    """The audio plugins a run of these stages loads (none with audio off)."""
    wanted = with_prerequisites(stages)
    if not settings.audio.enabled or not wanted & set(AUDIO_STAGES):  # as Pipeline.hears
        return []
    transcribe = settings.transcription.enabled and Stage.TRANSCRIBE in wanted
    return [k for k in AUDIO_KINDS if k != PluginKind.TRANSCRIBER or transcribe]


def startup_models(pipeline: Pipeline, stages: Iterable[Stage] | None, has_audio: bool) -> list[LoadedModel]:
    """Before a run: load the vision models into its pipeline (the run's first step would load them
    anyway). Under runtime.require_gpu the audio models are tried too, in a pipeline of their own
    that is dropped afterwards (the run may load them in another process), so a model that is not
    on a GPU stops the run before any work. Returns the models loaded."""
    from screenalytics.pipeline import Pipeline

    stages = list(stages) if stages else None
    models = [m for _, loaded in load_kinds(pipeline, VISION_KINDS) for m in loaded]
    if pipeline.settings.runtime.require_gpu and has_audio:
        trial = Pipeline(pipeline.settings, ModelStore(pipeline.models.root))
        models += [m for _, loaded in load_kinds(trial, audio_kinds(pipeline.settings, stages)) for m in loaded]
    return models


# -- the checks ----------------------------------------------------------------------------------------


def _version(names: tuple[str, ...]) -> tuple[str, str] | None:
    for name in names:
        try:
            return name, metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def check_python() -> list[Check]:
    ok = sys.version_info >= (3, 11)
    detail = f"{platform.python_version()} ({sys.executable})" + ("" if ok else "; Screenalytics needs 3.11 or newer")
    found, missing = [], []
    for names in REQUIRED_PACKAGES:
        v = _version(names)
        if v:
            found.append(f"{v[0]} {v[1]}")
        else:
            missing.append(names[0])
    optional = [f"{v[0]} {v[1]}" for v in (_version((n,)) for n in OPTIONAL_PACKAGES) if v]
    checks = [
        Check("python", "python", "ok" if ok else "fail", detail),
        Check("python", "packages", "ok", ", ".join(found)),
    ]
    checks += [Check("python", name, "fail", "not installed (pip install -e . installs it)") for name in missing]
    if optional:
        checks.append(Check("python", "optional packages", "info", ", ".join(optional)))
    return checks


def gpu_name(timeout_s: float = 5.0) -> str | None:
    """The NVIDIA GPUs nvidia-smi lists (name, memory, driver), or None without one."""
    exe = shutil.which("nvidia-smi")
    if not exe:
        return None
    try:
        out = subprocess.run(
            [exe, "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = [ln.strip() for ln in out.stdout.splitlines() if ln.strip()]
    return "; ".join(lines) if out.returncode == 0 and lines else None


def check_accelerators(settings: Settings) -> list[Check]:
    import onnxruntime as ort

    available = ort.get_available_providers()
    configured = settings.runtime.providers
    usable = [p for p in configured if p in available]
    gpu_usable = [p for p in usable if p in GPU_PROVIDERS]
    require = settings.runtime.require_gpu
    detail = (
        f"{ort.__version__}, device {ort.get_device()}; available {', '.join(available)}; "
        f"configured {', '.join(configured)}" + ("" if usable else " (none available: CPUExecutionProvider is used)")
    )
    checks = [Check("accelerators", "onnxruntime", "fail" if require and not gpu_usable else "ok", detail)]
    if require and not gpu_usable:
        checks[0].detail += "; runtime.require_gpu is set but no configured GPU provider is available"
    name = gpu_name()
    try:
        import ctranslate2

        ct2 = f"; CTranslate2 sees {ctranslate2.get_cuda_device_count()} CUDA device(s)"
    except Exception:  # an optional view: CTranslate2 built without CUDA, or a broken driver
        ct2 = ""
    if name:
        checks.append(Check("accelerators", "GPU", "ok", name + ct2))
    else:
        checks.append(Check("accelerators", "GPU", "fail" if require else "info", "none found (no nvidia-smi)" + ct2))
    return checks


def model_files(store: ModelStore, name: str, verify: bool) -> dict[str, Any]:
    """A model's files on disk: where, how big, whether all are there and (``verify``) their sha256."""
    if name not in store.registry:
        path = Path(name).expanduser()
        found = path.is_file()
        return {"path": str(path), "size_bytes": path.stat().st_size if found else 0, "missing": [] if found else [name]}
    spec = store.registry[name]
    found = [(f, store.find(spec, f)) for f in spec.files]
    paths = [p for _, p in found if p is not None]
    info: dict[str, Any] = {
        "path": str(paths[0] if len(paths) == 1 else paths[0].parent) if paths else str(store.root / spec.files[0].path),
        "size_bytes": sum(p.stat().st_size for p in paths),
        "missing": [f.path for f, p in found if p is None],
    }
    if verify and paths:
        info["sha256_mismatch"] = [f.path for f, p in found if f.sha256 and p is not None and sha256_of(p) != f.sha256]
    return info


def configured_model(settings: Settings, kind: PluginKind, cls: type) -> str | None:
    """The model a plugin is set to load: recognition.model, else its Options' ``model``."""
    if kind == PluginKind.RECOGNIZER:
        return settings.recognition.model
    if getattr(cls, "Options", None) is None:
        return None
    return getattr(settings.options_for(cls), "model", None)


def check_models(settings: Settings, verify: bool) -> list[Check]:
    """Each plugin in use: its model file, then the model loaded and what really runs it."""
    import onnxruntime as ort

    from screenalytics.pipeline import Pipeline

    runtime = settings.runtime
    relaxed = settings.model_copy(update={"runtime": runtime.model_copy(update={"require_gpu": False})})
    pipeline = Pipeline(relaxed)  # loads everything, so each problem is reported rather than raised
    available = set(ort.get_available_providers())
    checks: list[Check] = []
    for kind in pipeline.kinds_in_use():
        if kind == PluginKind.TRACKER:  # no model
            continue
        cls = pipeline.classes[kind]
        name = f"{kind.value} {getattr(cls, 'name', cls.__name__)}"
        model = configured_model(settings, kind, cls)
        data: dict[str, Any] = {"kind": kind.value, "plugin": getattr(cls, "name", cls.__name__), "model": model}
        if model:
            data.update(model_files(pipeline.models, model, verify))
            if data["missing"]:
                how = f"`screenalytics models pull {model}`" if model in pipeline.models.registry else "a path to an .onnx file"
                where = f"not found in {pipeline.models.root} ({how}, or set SCREENALYTICS_MODELS_DIR)"
                detail = f"{model}: {', '.join(data['missing'])} {where}"
                checks.append(Check("models", name, "fail", detail, data))
                continue
            if data.get("sha256_mismatch"):
                detail = (
                    f"{model}: sha256 mismatch for {', '.join(data['sha256_mismatch'])} (`screenalytics models pull {model}`)"
                )
                checks.append(Check("models", name, "fail", detail, data))
                continue
        try:
            (_, loaded), *_ = load_kinds(pipeline, [kind])
        except Exception as e:  # a broken model file or a missing runtime: report it and go on
            checks.append(
                Check("models", name, "fail", f"does not load: {str(e).splitlines()[0][:300] or type(e).__name__}", data)
            )
            continue
        where = f" ({data['path']}, {data['size_bytes'] / 1e6:.1f} MB" + (", sha256 ok)" if verify else ")") if model else ""
        if not loaded:
            checks.append(Check("models", name, "warn", f"loaded{where}; the plugin does not say what runs its model", data))
        for m in loaded:
            status, detail = "ok", m.describe() + where
            fell_back = [p for p in m.requested if p in GPU_PROVIDERS and p in available and p not in m.used]
            if runtime.require_gpu and not m.on_gpu:
                status, detail = "fail", not_on_gpu([m])
            elif fell_back:
                status, detail = "warn", f"{detail}; {', '.join(fell_back)} was asked for and is available but not used"
            checks.append(Check("models", name, status, detail, {**data, "model": m.name, **m.to_dict()}))
    return checks


def check_media() -> list[Check]:
    import av

    libs = av.library_versions.get("libavcodec")
    version = f"PyAV {av.__version__}, FFmpeg libavcodec {'.'.join(map(str, libs)) if libs else '?'}"
    checks = []
    missing = []
    for codec in ("h264", "hevc", "aac"):
        try:
            av.codec.Codec(codec, "r")
        except Exception:
            missing.append(codec)
    checks.append(
        Check("media", "decoding", "fail" if {"h264", "aac"} & set(missing) else "ok", version + "; decoders h264, hevc, aac")
    )
    if missing:
        checks[0].detail += f" (missing: {', '.join(missing)})"
    try:
        av.codec.Codec("libx264", "w")
        checks.append(Check("media", "H.264 encoder", "ok", "libx264 (tools/episode_builder.py, tests)"))
    except Exception:
        checks.append(
            Check("media", "H.264 encoder", "warn", "no libx264: the episode builder and some tests cannot write video")
        )
    ffmpeg = shutil.which("ffmpeg")
    checks.append(
        Check("media", "ffmpeg command", "info", f"{ffmpeg} (not needed: PyAV bundles FFmpeg)" if ffmpeg else "not needed")
    )
    return checks


def check_browser() -> list[Check]:
    exe = next((p for p in (shutil.which(b) for b in BROWSERS) if p), None)
    if exe is None:
        return [Check("browser", "chromium", "warn", "not found (optional: the report test opens report.html in it)")]
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=15)
        version = out.stdout.strip().splitlines()[0] if out.stdout.strip() else ""
    except (OSError, subprocess.TimeoutExpired, IndexError):
        version = ""
    return [Check("browser", "chromium", "ok", f"{exe}" + (f" ({version})" if version else ""))]


def check_storage(settings: Settings, timeout_s: float) -> list[Check]:
    """Open the result database and look up an artifact key, as a run would; at most ``timeout_s``."""
    from screenalytics.stores import open_artifacts, open_results

    root = settings.storage_root()

    def probe() -> str:
        tables = open_results(settings).db.list_tables().tables
        open_artifacts(settings).exists("doctor/probe")
        return f"{root} ({len(tables)} tables)"

    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        return [Check("storage", "storage", "ok", pool.submit(probe).result(timeout=timeout_s))]
    except concurrent.futures.TimeoutError:
        return [Check("storage", "storage", "fail", f"{root}: no answer within {timeout_s:g} s")]
    except Exception as e:  # the stores explain their failures in one line
        return [Check("storage", "storage", "fail", str(e).splitlines()[0][:300] if str(e) else type(e).__name__)]
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def diagnose(settings: Settings, verify: bool = False, timeout_s: float = 10.0) -> list[Check]:
    return [
        *check_python(),
        *check_accelerators(settings),
        *check_models(settings, verify),
        *check_media(),
        *check_browser(),
        *check_storage(settings, timeout_s),
    ]


@cli.command("doctor")
@click.option("--config", "config_file", type=click.Path(path_type=Path), default=None, help=CONFIG_HELP)
@click.option("--verify", is_flag=True, help="Also check each model file's sha256.")
@click.option("--require-gpu", is_flag=True, help="Every model must run on a GPU (as `run --require-gpu`).")
@click.option(
    "--timeout", "timeout_s", type=click.FloatRange(min=0.1), default=10.0, show_default=True, help="Storage check limit, s."
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def doctor(config_file: Path | None, verify: bool, require_gpu: bool, timeout_s: float, as_json: bool) -> None:
    """Check the install: Python and packages, onnxruntime providers and GPU, each configured model
    (file, and what really runs it), PyAV/FFmpeg, Chromium and the storage location. Exits 1 when
    something required is missing."""
    if not math.isfinite(timeout_s):  # FloatRange lets nan and inf through (comparisons with nan are false)
        raise click.BadParameter(f"{timeout_s} is not a number of seconds", param_hint="'--timeout'")
    settings = load_settings(config_file, **({"runtime": {"require_gpu": True}} if require_gpu else {}))
    checks = diagnose(settings, verify, timeout_s)
    failed = [c for c in checks if c.status == "fail"]
    if as_json:
        click.echo(json.dumps({"ok": not failed, "checks": [asdict(c) for c in checks]}, indent=2))
    else:
        section = None
        for c in checks:
            if c.section != section:
                section = c.section
                out_console.print(f"[bold]{section}[/]", highlight=False)
            out_console.print("  " + c.line(), highlight=False, markup=False)
        out_console.print(f"{len(failed)} problem(s)" if failed else "ready", highlight=False)
    if failed:
        sys.exit(1)
