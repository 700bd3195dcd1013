"""The plugin manager: built-ins load like third-party plugins, through the same hooks."""

from __future__ import annotations

import importlib
import logging
import os
import sys
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import pluggy

from screenalytics import hookspecs
from screenalytics.errors import ConfigError

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "screenalytics"
LOAD_PLUGINS_ENV = "SCREENALYTICS_LOAD_PLUGINS"
TRACE_ENV = "SCREENALYTICS_TRACE_HOOKS"

DEFAULT_PLUGINS = (
    "screenalytics.plugins.yunet",
    "screenalytics.plugins.scrfd",
    "screenalytics.plugins.bytetrack",
    "screenalytics.plugins.arcface",
    "screenalytics.plugins.silero_vad",
    "screenalytics.plugins.campplus",
    "screenalytics.plugins.pyannote_onnx",
    "screenalytics.plugins.pyannote_audio",
    "screenalytics.plugins.faster_whisper_asr",
    "screenalytics.plugins.csv_export",
    "screenalytics.plugins.json_export",
)

# Stage name -> hook that registers implementations of it.
STAGES = {
    "detector": "register_detectors",
    "tracker": "register_trackers",
    "recognizer": "register_recognizers",
    "vad": "register_vads",
    "speaker_embedder": "register_speaker_embedders",
    "diarizer": "register_diarizers",
    "transcriber": "register_transcribers",
    "exporter": "register_exporters",
}

pm = pluggy.PluginManager("screenalytics")
pm.add_hookspecs(hookspecs)
_loaded = False


def _wanted() -> set[str] | None:
    """Names from SCREENALYTICS_LOAD_PLUGINS (empty value = none), or None for all."""
    raw = os.environ.get(LOAD_PLUGINS_ENV)
    if raw is None:
        return None
    return {p.strip() for p in raw.split(",") if p.strip()}


def load_plugins() -> pluggy.PluginManager:
    """Register built-in modules and entry-point plugins once, honouring SCREENALYTICS_LOAD_PLUGINS."""
    global _loaded
    if _loaded:
        return pm
    _loaded = True
    wanted = _wanted()
    for module_name in DEFAULT_PLUGINS:
        short = module_name.rsplit(".", 1)[-1]
        if wanted is not None and module_name not in wanted and short not in wanted:
            continue
        pm.register(importlib.import_module(module_name), name=module_name)
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if wanted is not None and ep.name not in wanted:
            continue
        if pm.get_plugin(ep.name) is not None:
            continue
        try:
            pm.register(ep.load(), name=ep.name)
        except Exception as e:  # a broken third-party plugin must not take the tool down
            print(f"warning: plugin {ep.name!r} failed to load: {e}", file=sys.stderr)
    if os.environ.get(TRACE_ENV):
        pm.trace.root.setwriter(lambda s: print(s, end="", file=sys.stderr))
        pm.enable_tracing()
    return pm


def reset_plugins() -> None:
    """Unregister everything (tests use this to apply a new SCREENALYTICS_LOAD_PLUGINS)."""
    global _loaded
    for name, plugin in list(pm.list_name_plugin()):
        pm.unregister(plugin, name=name)
    _loaded = False


@dataclass(frozen=True)
class Implementation:
    stage: str
    name: str
    cls: type
    plugin: str

    @property
    def description(self) -> str:
        doc = (self.cls.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""


def implementations(stage: str) -> dict[str, Implementation]:
    """All registered implementations of a stage, by name."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; stages: {', '.join(STAGES)}")
    load_plugins()
    found: dict[str, Implementation] = {}

    def register(cls: type) -> None:
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not name:
            raise TypeError(f"{cls!r} has no 'name' class attribute to register it under")
        found[name] = Implementation(stage, name, cls, cls.__module__)

    getattr(pm.hook, STAGES[stage])(register=register)
    return found


def get_implementation(stage: str, name: str) -> type:
    """The class registered under ``name`` for ``stage``; unknown names list what is installed."""
    found = implementations(stage)
    if name not in found:
        have = ", ".join(sorted(found)) or "none installed"
        raise ConfigError(f"unknown {stage} plugin {name!r} (installed: {have}); see `screenalytics plugins`")
    return found[name].cls


def call_event(name: str, **kwargs: Any) -> list[Any]:
    """Fire an event hook (run_started, stage_completed, run_finished)."""
    load_plugins()
    return getattr(pm.hook, name)(**kwargs)
