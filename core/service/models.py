"""Installed plugins, the models they register, and the effective settings."""

from __future__ import annotations

from typing import Any

from screenalytics.errors import ScreenalyticsError
from screenalytics.model.names import PluginKind
from screenalytics.registry.models import ModelStore
from screenalytics.registry.plugins import implementations, plugin_options
from screenalytics.service.base import ServiceBase
from screenalytics.service.types import ModelInfo, PluginKindInfo, PullResult


class ModelOps(ServiceBase):
    @property
    def model_store(self) -> ModelStore:
        return ModelStore(self.settings.models_dir)

    def plugins(self) -> dict[str, PluginKindInfo]:
        """Each plugin kind: what is installed (name -> module) and which one config selects."""
        out = {}
        for kind in PluginKind:
            value = kind.selected(self.settings)
            selected = ", ".join(value) if isinstance(value, list) else value
            impls = {n: impl.plugin for n, impl in sorted(implementations(kind.value).items())}
            out[kind.value] = PluginKindInfo(selected=selected, implementations=impls)
        return out

    def models(self, verify: bool = False) -> list[ModelInfo]:
        """Every registered model with its status on disk (sha256 checked when ``verify``)."""
        store = self.model_store
        return [
            ModelInfo(
                name=name,
                stage=spec.stage,
                status=store.status(name, verify=verify),
                licence=spec.licence,
                description=spec.description,
                source=spec.source,
                default=spec.default,
                downloadable=spec.downloadable,
                plugin=spec.plugin,
            )
            for name, spec in store.registry.items()
        ]

    def pull_models(self, names: list[str], defaults: bool = False) -> PullResult:
        """Download models (all default ones with ``defaults``); those without a public address
        are reported with where to get them, not fetched."""
        store = self.model_store
        chosen = list(dict.fromkeys([*names, *(n for n, spec in store.registry.items() if defaults and spec.default)]))
        if not chosen:
            raise ScreenalyticsError("name the models to pull, or use --defaults")
        pulled, by_hand = {}, {}
        for name in chosen:
            spec = store.spec(name)
            if store.status(name, verify=False) != "ok" and not spec.downloadable:
                by_hand[name] = spec.source
                continue
            pulled[name] = store.pull(name)
        return PullResult(pulled=pulled, not_downloadable=by_hand)

    def effective_config(self) -> dict[str, Any]:
        """The settings in force, each installed plugin's own settings filled in with its defaults."""
        data = self.settings.model_dump(mode="json")
        data["plugins"] = {key: options.model_dump(mode="json") for key, options in plugin_options(self.settings).items()}
        return data
