"""The model registry: plugins register the files they load (``register_models``); the store
finds each on disk, verifies it and downloads it when it has a public address, and records
what each loaded model really runs on (onnxruntime may fall back to the CPU without a word)."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from screenalytics.errors import ModelNotFoundError, PluginError, ScreenalyticsError
from screenalytics.registry.plugins import load_plugins, pm

if TYPE_CHECKING:  # pragma: no cover
    import onnxruntime as ort

    from screenalytics.config import RuntimeConfig

MODELS_DIR_ENV = "SCREENALYTICS_MODELS_DIR"
# onnxruntime providers that run on a GPU (or another accelerator); the CPU one is the fallback.
GPU_PROVIDERS = frozenset(
    {
        "CUDAExecutionProvider",
        "TensorrtExecutionProvider",
        "NvTensorRTRTXExecutionProvider",
        "ROCMExecutionProvider",
        "MIGraphXExecutionProvider",
        "DmlExecutionProvider",
        "CoreMLExecutionProvider",
    }
)
GPU_DEVICES = frozenset({"cuda", "gpu", "rocm", "hip", "mps"})  # device names of other runtimes (torch, CTranslate2)


class ProviderError(ScreenalyticsError):
    """A model that does not run where it must (runtime.require_gpu)."""


def is_gpu(device: str) -> bool:
    """Whether an onnxruntime provider or a runtime's device name ("cuda:0") is a GPU."""
    return device in GPU_PROVIDERS or device.split(":")[0].lower() in GPU_DEVICES


@dataclass(frozen=True)
class LoadedModel:
    """A model as loaded: what its plugin asked for and what really runs it."""

    name: str  # the registered name (or the file path) the plugin loaded
    path: str
    runtime: str  # onnxruntime | opencv | ctranslate2 | torch
    requested: tuple[str, ...]  # providers (onnxruntime) or devices asked for, in order of preference
    used: tuple[str, ...]  # what the runtime reports it runs on, first = the one that runs the model

    @property
    def device(self) -> str:
        return self.used[0] if self.used else "unknown"

    @property
    def on_gpu(self) -> bool:
        return is_gpu(self.device)

    def describe(self) -> str:
        """``faceplugin-512d on CPUExecutionProvider``, naming the runtime when it is not onnxruntime."""
        return f"{self.name} on {self.device}" + ("" if self.runtime == "onnxruntime" else f" ({self.runtime})")

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "runtime": self.runtime, "requested": list(self.requested), "used": list(self.used)}


@dataclass(frozen=True)
class ModelFile:
    path: str  # inside the models folder, e.g. face/face_detection_yunet_2023mar.onnx
    sha256: str | None = None
    url: str | None = None  # public download (the file, or a zip holding archive_member)
    archive_member: str | None = None


@dataclass(frozen=True)
class ModelSpec:
    """A model a plugin loads by name."""

    name: str
    stage: str
    description: str
    licence: str
    source: str  # where it comes from: a page, a package, or how to make it
    files: tuple[ModelFile, ...]
    params: dict[str, Any] = field(default_factory=dict)  # I/O conventions the plugin reads
    default: bool = False  # used by the default settings
    locate: Callable[[], Path | None] | None = None  # a folder an installed package ships the files in
    plugin: str = ""  # the module that registered it (filled in by the registry)

    @property
    def downloadable(self) -> bool:
        return all(f.url for f in self.files)


def model_specs() -> dict[str, ModelSpec]:
    """Every model registered by the installed plugins, by name."""
    load_plugins()
    found: dict[str, ModelSpec] = {}

    for impl in pm.hook.register_models.get_hookimpls():  # one call per plugin, to credit each entry

        def register(spec: ModelSpec, plugin: str = getattr(impl.plugin, "__name__", impl.plugin_name)) -> None:
            if not isinstance(spec, ModelSpec) or not spec.files:
                raise PluginError(f"register_models expects a ModelSpec with at least one file, got {spec!r}")
            found[spec.name] = replace(spec, plugin=plugin)

        impl.function(register=register)
    return dict(sorted(found.items()))


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
    """Resolves registered names (or plain file paths) to files in one models directory."""

    def __init__(self, models_dir: Path | str | None = None) -> None:
        env = os.environ.get(MODELS_DIR_ENV)
        self.root = Path(models_dir or env or default_models_dir()).expanduser()
        self.registry = model_specs()
        self.loaded: list[LoadedModel] = []  # every model loaded through this store, in order

    # -- what loaded models run on ---------------------------------------------------------------
    def session(self, name: str, runtime: RuntimeConfig) -> ort.InferenceSession:
        """An onnxruntime session on the model (a registered name or an .onnx path), recorded with
        the providers it really runs on; under ``runtime.require_gpu`` a CPU session is an error."""
        from screenalytics.runtime import session

        path = self.path(name)
        sess = session(path, runtime)
        self.record(name, path, "onnxruntime", runtime.providers, sess.get_providers(), runtime.require_gpu)
        return sess

    def record(
        self,
        name: str,
        path: Path | str,
        runtime: str,
        requested: list[str] | tuple[str, ...],
        used: list[str] | tuple[str, ...],
        require_gpu: bool = False,
    ) -> LoadedModel:
        """Note a model a plugin loaded (for models run by other runtimes than onnxruntime:
        OpenCV, CTranslate2, torch); ``require_gpu`` raises ProviderError when it is not on a GPU."""
        loaded = LoadedModel(name, str(path), runtime, tuple(requested), tuple(used))
        self.loaded.append(loaded)
        if require_gpu and not loaded.on_gpu:
            raise ProviderError(not_on_gpu([loaded]))
        return loaded

    def adopt(self, models: list[LoadedModel]) -> None:
        """Take in the records of models loaded elsewhere for this run (the audio process)."""
        names = {m.name for m in models}
        self.loaded = [m for m in self.loaded if m.name not in names] + list(models)

    def providers(self) -> dict[str, dict[str, Any]]:
        """Each loaded model (the last load of a name wins): path, runtime, requested and used."""
        return {m.name: m.to_dict() for m in self.loaded}

    def spec(self, name: str) -> ModelSpec:
        if name not in self.registry:
            raise ModelNotFoundError(f"unknown model {name!r}; registered models: {', '.join(sorted(self.registry))}")
        return self.registry[name]

    def candidates(self, spec: ModelSpec, f: ModelFile) -> list[Path]:
        """The nested registry path first, then the bare file name, then where a package ships it."""
        found = [self.root / f.path, self.root / Path(f.path).name]
        shipped = spec.locate() if spec.locate else None
        if shipped is not None:
            found.append(Path(shipped) / Path(f.path).name)
        return found

    def find(self, spec: ModelSpec, f: ModelFile) -> Path | None:
        return next((p for p in self.candidates(spec, f) if p.is_file()), None)

    def path(self, name: str) -> Path:
        """The model's first file on disk; a missing file says where we looked and how to get it."""
        if Path(name).suffix and Path(name).expanduser().is_file():
            return Path(name).expanduser()
        spec = self.spec(name)
        f = spec.files[0]
        found = self.find(spec, f)
        if found is None:
            how = (
                f"run `screenalytics models pull {name}`"
                if spec.downloadable
                else f"get it from {spec.source} and place it there"
            )
            raise ModelNotFoundError(
                f"model file {Path(f.path).name} for {name!r} not found in {self.root} "
                f"(looked for {self.root / f.path}); {how}, or set {MODELS_DIR_ENV} to the folder that holds it"
            )
        return found

    def status(self, name: str, verify: bool = True) -> str:
        """'ok', 'missing', or 'checksum mismatch' for every file of the model."""
        spec = self.spec(name)
        for f in spec.files:
            p = self.find(spec, f)
            if p is None:
                return "missing"
            if verify and f.sha256 and sha256_of(p) != f.sha256:
                return "checksum mismatch"
        return "ok"

    def pull(self, name: str, timeout_s: float = 60.0) -> list[Path]:
        """Download the model's files into the models directory and verify them."""
        spec = self.spec(name)
        written = []
        for f in spec.files:
            present = self.find(spec, f)
            if present is not None and (not f.sha256 or sha256_of(present) == f.sha256):
                written.append(present)
                continue
            dest = self.root / f.path
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


def not_on_gpu(models: list[LoadedModel]) -> str:
    """The one-line reason why models that must run on a GPU do not."""
    import onnxruntime as ort

    which = "; ".join(
        f"{m.name} runs on {m.device}"
        + (f" ({m.runtime})" if m.runtime != "onnxruntime" else f" (asked for {', '.join(m.requested) or 'nothing'})")
        for m in models
    )
    available = ", ".join(ort.get_available_providers())
    return f"a GPU is required (runtime.require_gpu) but {which}; this onnxruntime offers {available}"


def models_line(models: list[LoadedModel]) -> str:
    """``models: yunet-2023mar on CPU (opencv); faceplugin-512d on CPUExecutionProvider; ...``"""
    seen = {m.name: m for m in models}  # the last load of a name wins
    return "models: " + ("; ".join(m.describe() for m in seen.values()) or "none loaded")
