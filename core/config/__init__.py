"""Settings: packaged defaults < a YAML file (--config) < SCREENALYTICS_* environment < overrides.

Each stage has a section; each plugin's own settings live under ``plugins.<name>`` and are
validated by the plugin's ``Options`` model.
"""

from screenalytics.config.settings import (
    AudioConfig,
    DecodeConfig,
    DetectionConfig,
    DiarizationConfig,
    FacebankConfig,
    FusionConfig,
    IdentificationConfig,
    QualityConfig,
    RecognitionConfig,
    ReviewConfig,
    RuntimeConfig,
    Settings,
    ShotsConfig,
    StorageConfig,
    TrackingConfig,
    VadConfig,
    VoicebankConfig,
    deep_merge,
    defaults_path,
    format_validation_error,
    load_settings,
    options_key,
    portable,
    read_yaml,
)

__all__ = [
    "AudioConfig",
    "DecodeConfig",
    "DetectionConfig",
    "DiarizationConfig",
    "FacebankConfig",
    "FusionConfig",
    "IdentificationConfig",
    "QualityConfig",
    "RecognitionConfig",
    "ReviewConfig",
    "RuntimeConfig",
    "Settings",
    "ShotsConfig",
    "StorageConfig",
    "TrackingConfig",
    "VadConfig",
    "VoicebankConfig",
    "deep_merge",
    "defaults_path",
    "format_validation_error",
    "load_settings",
    "portable",
    "options_key",
    "read_yaml",
]
