"""Loaded plugin instances of a run, created on first use from the chosen classes."""

from __future__ import annotations

from typing import Any

from screenalytics.config import Settings
from screenalytics.model.names import PluginKind
from screenalytics.registry.models import ModelStore


class PluginInstances:
    """One instance per plugin kind, loaded on first use (a diarizer gets the speaker embedder).

    Kept apart from the Pipeline so that the audio child process loads its plugins without
    importing the vision stages and the stores (about 200 MB it would never use)."""

    def __init__(self, settings: Settings, models: ModelStore, classes: dict[PluginKind, type]) -> None:
        self.settings, self.models, self.classes = settings, models, classes
        self.loaded: dict[PluginKind, Any] = {}

    def plugin(self, kind: PluginKind) -> Any:
        """The instance of ``kind`` (the same call the audio stages make on a Pipeline)."""
        if kind not in self.loaded:
            if kind not in self.classes:
                raise ValueError(f"no {kind} in use with these settings")
            cls = self.classes[kind]
            if kind == PluginKind.DIARIZER:
                self.loaded[kind] = cls(self.settings, self.models, self.plugin(PluginKind.SPEAKER_EMBEDDER))
            else:
                self.loaded[kind] = cls(self.settings, self.models)
        return self.loaded[kind]
