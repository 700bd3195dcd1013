"""Settings: YAML defaults < user YAML (--config) < env SCREENALYTICS_* < explicit overrides."""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from screenalytics.errors import ConfigError

MAX_PRESIGN_S = 7 * 86400  # S3 signs URLs for at most 7 days
NEVER_PURGED = ("lancedb", "facebank", "manifests")  # the result database, cast photos, run records


def check_lifecycle_rule(prefix: str, days: int) -> None:
    """A lifecycle rule deletes old artifacts under one prefix: never everything, never the result
    database, the facebank or the manifests, and never with negative days (ValueError: why)."""
    parts = [p for p in str(prefix).split("/") if p]
    if not parts:
        raise ValueError(f"refusing to purge {prefix!r}: name an artifact prefix such as frames/ or chips/")
    if any(p in (".", "..") for p in parts) or str(prefix).startswith("/"):
        raise ValueError(f"refusing to purge {prefix!r}: a prefix is relative to the storage root, without '.' or '..'")
    if parts[0].lower() in NEVER_PURGED:
        raise ValueError(f"refusing to purge {prefix!r}: {', '.join(p + '/' for p in NEVER_PURGED)} are never purged")
    if isinstance(days, bool) or not isinstance(days, int) or days < 0:
        raise ValueError(f"lifecycle days for {prefix!r} must be a whole number, 0 or more, not {days!r}")


class Section(BaseModel):
    """A config section: unknown keys are typos, so they are errors; no value is inf or nan."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class RuntimeConfig(Section):
    providers: list[str]
    intra_op_threads: int = Field(ge=0)
    require_gpu: bool = False  # fail when a model would run anywhere but on a GPU
    flush_denormals: bool = True  # zero subnormal weights when loading an ONNX model (CPU speed)


class DecodeConfig(Section):
    stride: int = Field(ge=1)
    fps: float | None = Field(default=None, gt=0, le=1000)
    threads: int = Field(ge=0)
    # a file that decodes to less than min_coverage of the duration its container declares
    # (truncated, damaged): fail the run, or warn and record the span analysed
    on_short: Literal["fail", "warn"] = "fail"
    prefetch: int = Field(4, ge=0, le=64)
    min_coverage: float = Field(default=0.98, gt=0, le=1)


class ShotsConfig(Section):
    enabled: bool
    threshold: float = Field(gt=0, le=1)
    hist_bins: tuple[Annotated[int, Field(ge=2, le=256)], Annotated[int, Field(ge=2, le=256)]]
    resize_width: int = Field(ge=16)
    min_shot_s: float = Field(ge=0)


class DetectionConfig(Section):
    detector: str
    score_threshold: float = Field(gt=0, lt=1)
    nms_threshold: float = Field(gt=0, lt=1)
    max_side: int = Field(ge=64)
    min_scale: float = Field(0.5, gt=0, le=1)
    min_face_px: int = Field(ge=0)
    top_k: int = Field(ge=1)
    full_every: int = Field(1, ge=1, le=250)
    window_every: int = Field(1, ge=1, le=25)
    window_margin: float = Field(1.0, ge=0.25, le=10)
    window_min_px: int = Field(96, ge=16)
    window_px: int = Field(320, ge=0, le=4096)
    window_keep_iou: float = Field(0.1, ge=0, le=1)

    @field_validator("window_px")
    @classmethod
    def _window_px(cls, v: int) -> int:
        if 0 < v < 32:
            raise ValueError("must be 0 (source resolution) or at least 32")
        return v


class TrackingConfig(Section):
    tracker: str
    track_activation_threshold: float = Field(gt=0, le=1)
    high_conf_det_threshold: float = Field(gt=0, le=1)
    minimum_iou_threshold: float = Field(ge=0, le=1)
    minimum_consecutive_frames: int = Field(ge=1)
    lost_track_s: float = Field(ge=0)
    min_track_samples: int = Field(ge=1)
    fill_gap_s: float = Field(0.0, ge=0)


class QualityConfig(Section):
    min_score: float = Field(ge=0, le=1)
    min_face_px: int = Field(ge=0)
    min_sharpness: float = Field(ge=0)
    max_yaw: float = Field(ge=0)


class RecognitionConfig(Section):
    recognizer: str
    model: str
    batch_size: int = Field(ge=1)
    dynamic_batch: Literal["auto", "on", "off"]
    window_s: float = Field(gt=0)
    samples_per_window: int = Field(ge=1)
    quality: QualityConfig
    hidden_flat_share: float = Field(0.6, gt=0, le=1)
    hidden_other_ratio: float = Field(0.5, ge=0, le=1)


class IdentificationConfig(Section):
    threshold: float = Field(ge=-1, le=1)
    stay_threshold: float = Field(ge=-1, le=1)
    margin: float = Field(ge=0, le=2)
    confident_score: float = Field(gt=-1, le=1)
    match_low_quality: bool
    unknown_cluster_distance: float = Field(gt=0, le=2)
    unknown_cast_span: float = Field(gt=0, le=2)
    unknown_doubt_quality: float = Field(0.5, ge=0, le=1)
    unknown_clear_quality: float = Field(0.9, gt=0, le=1)
    reid_threshold: float | None = Field(default=None, ge=-1, le=1)
    half_reid_threshold: float | None = Field(default=None, ge=-1, le=1)
    half_reid_margin: float = Field(0.1, ge=0, le=2)
    half_reid_refs: int = Field(20, ge=1)
    reid_margin: float = Field(ge=0, le=2)
    unknown_prefix: str = Field(min_length=1)

    @model_validator(mode="after")
    def _stay_below_enter(self) -> "IdentificationConfig":
        if self.stay_threshold > self.threshold:
            raise ValueError("stay_threshold must not exceed threshold (hysteresis keeps, then enters)")
        if self.unknown_doubt_quality >= self.unknown_clear_quality:
            raise ValueError("unknown_doubt_quality must be below unknown_clear_quality")
        return self


class FacebankConfig(Section):
    detector_score_threshold: float = Field(gt=0, lt=1)
    extensions: list[str]


class ScreenTimeConfig(Section):
    exporters: list[str]


class AudioConfig(Section):
    enabled: bool
    sample_rate: int = Field(ge=8000)
    parallel: bool = True
    spill: bool = True
    spill_dir: Path | None = None


class VadConfig(Section):
    vad: str
    threshold: float = Field(gt=0, lt=1)
    neg_threshold: float = Field(gt=0, lt=1)
    min_speech_s: float = Field(ge=0)
    min_silence_s: float = Field(ge=0)
    pad_s: float = Field(ge=0)


class SpeakerEmbeddingConfig(Section):
    embedder: str


class DiarizationConfig(Section):
    diarizer: str
    segmentation_model: str
    step_s: float = Field(gt=0)
    batch_size: int = Field(ge=1)
    min_embedding_s: float = Field(gt=0)
    linkage: Literal["average", "complete", "single", "centroid", "median", "ward", "weighted"]
    cluster_threshold: float = Field(gt=0, le=2)
    min_cluster_size: int = Field(ge=1)
    num_speakers: int | None = Field(default=None, ge=1)
    min_gap_s: float = Field(ge=0)
    min_turn_s: float = Field(ge=0)
    resegment_window_s: float = Field(default=1.0, ge=0)
    resegment_hop_s: float = Field(default=0.5, gt=0)
    resegment_min_s: float = Field(default=0.3, gt=0)
    resegment_iterations: int = Field(default=3, ge=0)
    resegment_keep_margin: float = Field(default=0.1, ge=0, le=2)
    quiet_dbfs: float | None = Field(default=-50.0, le=0)
    quiet_below_loud_db: float = Field(default=30.0, ge=0)


class TranscriptionConfig(Section):
    enabled: bool
    transcriber: str
    language: str | None = None


class ActiveSpeakerConfig(Section):
    enabled: bool = True
    scorer: str = "light-asd"
    piece_s: float = Field(20.0, gt=0)
    max_gap_s: float = Field(0.5, ge=0)
    sample_s: float = Field(2.0, ge=0)
    sample_every_s: float = Field(4.0, gt=0)
    sample_context_s: float = Field(0.4, ge=0)
    quiet_dbfs: float | None = Field(-50.0, le=0)
    quiet_below_loud_db: float = Field(30.0, ge=0)


class VoicebankConfig(Section):
    threshold: float = Field(ge=-1, le=1)
    margin: float = Field(ge=0, le=2)
    extensions: list[str]


class FusionConfig(Section):
    min_cooccurrence: float = Field(ge=0, le=1)
    mouth_motion_scale: float = Field(gt=0)
    mouth_weight: float = Field(ge=0, le=1)
    weight_by_speech: bool = True
    merge_similarity: float | None = Field(default=None, ge=-1, le=1)
    min_speaking: float | None = Field(default=None, ge=0, le=1)
    group_similarity: float | None = Field(default=None, ge=-1, le=1)
    group_similarity_seen: float | None = Field(default=None, ge=-1, le=1)
    group_seen_with: float = Field(0.8, ge=0, le=1)
    unlinked_prefix: str = Field(min_length=1)


class ReviewConfig(Section):
    propagate_threshold: float = Field(ge=-1, le=1)
    queue_threshold: float = Field(ge=0, le=1.01)
    lock_ttl_s: float = Field(gt=0)


class StorageConfig(Section):
    uri: str | None = None
    endpoint_url: str | None = None
    region: str
    access_key_id: str | None = None
    secret_access_key: SecretStr | None = None
    allow_http: bool | None = None
    timeout_s: float = Field(gt=0)
    retries: int = Field(ge=0)
    presign_expiry_s: int = Field(ge=1, le=MAX_PRESIGN_S)
    presign_max_expiry_s: int = Field(default=MAX_PRESIGN_S, ge=1, le=MAX_PRESIGN_S)
    chips_per_track: int = Field(ge=0)
    vector_index_min_rows: int = Field(ge=256)
    frame_max_side: int = Field(ge=64)
    archive_media: bool
    lifecycle_days: dict[str, int] = Field(default_factory=dict)
    checkpoints: bool = True

    @field_validator("lifecycle_days")
    @classmethod
    def _purgeable(cls, rules: dict[str, int]) -> dict[str, int]:
        for prefix, days in rules.items():
            check_lifecycle_rule(prefix, days)
        return rules

    @model_validator(mode="after")
    def _expiry_within_max(self) -> "StorageConfig":
        if self.presign_expiry_s > self.presign_max_expiry_s:
            raise ValueError("presign_expiry_s must not exceed presign_max_expiry_s")
        return self


class JobsConfig(Section):
    max_wait_s: float = Field(gt=0, le=60)
    heartbeat_s: float = Field(gt=0)
    stale_after_s: float = Field(gt=0)
    poll_s: float = Field(gt=0)


class McpConfig(Section):
    page_size: int = Field(ge=1)
    max_page_size: int = Field(ge=1)
    actor: str = Field(min_length=1)


class AnalyticsConfig(Section):
    max_rows: int = Field(ge=1)
    max_bytes: int = Field(ge=1000)
    timeout_s: float = Field(gt=0)


class BatchConfig(Section):
    executor: Literal["local", "ray"]
    workers: int = Field(ge=0)
    threads_per_worker: int = Field(ge=0)
    video_extensions: list[str] = Field(min_length=1)
    progress_interval_s: float = Field(gt=0)
    summary_name: str = Field(min_length=1)
    worker_retries: int = Field(ge=0)
    ray_address: str | None = None
    ray_num_cpus: float = Field(gt=0)
    ray_num_gpus: float = Field(ge=0)


class AgentConfig(Section):
    model: str = Field(min_length=1)
    base_url: str | None = None
    max_turns: int = Field(ge=1)
    tool_timeout_s: float = Field(gt=0)


class _YamlSource(PydanticBaseSettingsSource):
    """Packaged defaults deep-merged with the user's YAML file."""

    def __init__(self, settings_cls: type[BaseSettings], files: list[Path]) -> None:
        super().__init__(settings_cls)
        self.files = files

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for f in self.files:
            merged = deep_merge(merged, read_yaml(f))
        return merged


class Settings(BaseSettings):
    """All of Screenalytics' tunables, one section per stage."""

    model_config = SettingsConfigDict(
        env_prefix="SCREENALYTICS_", env_nested_delimiter="__", extra="forbid", nested_model_default_partial_update=True
    )
    yaml_files: ClassVar[list[Path]] = []

    models_dir: Path | None = None
    runtime: RuntimeConfig
    decode: DecodeConfig
    shots: ShotsConfig
    detection: DetectionConfig
    tracking: TrackingConfig
    recognition: RecognitionConfig
    identification: IdentificationConfig
    facebank: FacebankConfig
    screen_time: ScreenTimeConfig
    audio: AudioConfig
    vad: VadConfig
    speaker_embedding: SpeakerEmbeddingConfig
    diarization: DiarizationConfig
    transcription: TranscriptionConfig
    voicebank: VoicebankConfig
    active_speaker: ActiveSpeakerConfig
    fusion: FusionConfig
    review: ReviewConfig
    storage: StorageConfig
    jobs: JobsConfig
    mcp: McpConfig
    analytics: AnalyticsConfig
    agent: AgentConfig
    batch: BatchConfig
    # Each plugin's own settings, validated by its ``Options`` model: plugins.<name with _ for ->.
    plugins: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, _YamlSource(settings_cls, list(cls.yaml_files))

    def storage_root(self) -> str:
        """Where results and artifacts live: a folder or s3://bucket/prefix (default: user data dir)."""
        if self.storage.uri:
            return self.storage.uri
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
        return str(base / "screenalytics")

    def options_for(self, cls: type) -> Any:
        """An implementation's own settings: its ``Options`` model filled from ``plugins.<name>``."""
        model = getattr(cls, "Options", None)
        if model is None:
            raise ConfigError(f"plugin {getattr(cls, 'name', cls)!r} declares no Options")
        key = options_key(cls.name)  # type: ignore[attr-defined]
        try:
            return model.model_validate(self.plugins.get(key) or {})
        except ValidationError as e:
            raise ConfigError(format_validation_error(e, f"plugins.{key}")) from None


def options_key(name: str) -> str:
    """The config key of a plugin's settings: its name with '-' as '_' (env variables allow no '-')."""
    return name.replace("-", "_")


DEFAULTS_FILE = "defaults.yaml"


def defaults_path() -> Path:
    return Path(str(resources.files("screenalytics.config").joinpath(DEFAULTS_FILE)))


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping, turning parse errors into a one-line ConfigError."""
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"config file {path} is not valid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of sections, not {type(data).__name__}")
    return data


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in override.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_settings(config_file: Path | str | None = None, **overrides: Any) -> Settings:
    """Build Settings; a bad value raises ConfigError naming the key and the problem."""
    files = [defaults_path()] + ([Path(config_file)] if config_file else [])
    check_environment()
    cls = type("Settings", (Settings,), {"yaml_files": files})
    try:
        return cls(**overrides)
    except ValidationError as e:
        raise ConfigError(format_validation_error(e)) from None


ENV_PREFIX = "SCREENALYTICS_"


def check_environment(environ: dict[str, str] | None = None) -> None:
    """SCREENALYTICS_<SECTION>__<KEY> variables whose section does not exist are typos that would
    otherwise be ignored silently (SCREENALYTICS_DETECTON__DETECTOR): a ConfigError naming them."""
    environ = os.environ if environ is None else environ
    sections = set(Settings.model_fields)
    for name in sorted(environ):
        if not name.upper().startswith(ENV_PREFIX) or "__" not in name:
            continue
        section = name[len(ENV_PREFIX) :].split("__", 1)[0].lower()
        if section not in sections:
            raise ConfigError(
                f"unknown settings section {section!r} in environment variable {name} "
                f"(sections: {', '.join(sorted(sections - {'models_dir'}))})"
            )


def format_validation_error(e: ValidationError, prefix: str = "") -> str:
    parts = []
    for err in e.errors():
        key = ".".join([prefix, *(str(x) for x in err["loc"])] if prefix else [str(x) for x in err["loc"]]) or "config"
        value = err.get("input")
        shown = "" if isinstance(value, dict) else f" (got {value!r})"
        parts.append(f"{key}: {err['msg']}{shown}")
    return "bad config value: " + "; ".join(parts)


def portable(settings: Settings) -> dict[str, Any]:
    """The settings as plain JSON-able values, secrets included, for a child process to rebuild
    with ``load_settings(**portable(s))`` (Settings classes are built at runtime and do not pickle)."""

    def plain(value: Any) -> Any:
        return value.get_secret_value() if isinstance(value, SecretStr) else str(value)

    return json.loads(json.dumps(settings.model_dump(), default=plain))  # type: ignore[no-any-return]
