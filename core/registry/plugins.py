"""The plugin manager: built-ins load like third-party plugins, through entry points and the same hooks."""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import pluggy

from screenalytics import hookspecs
from screenalytics.config import Settings, options_key
from screenalytics.errors import ConfigError
from screenalytics.model.contracts import check_contract
from screenalytics.model.names import PluginKind

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "screenalytics"
LOAD_PLUGINS_ENV = "SCREENALYTICS_LOAD_PLUGINS"
TRACE_ENV = "SCREENALYTICS_TRACE_HOOKS"

# Plugin kind -> hook that registers implementations of it.
STAGES = {kind.value: kind.hook for kind in PluginKind}

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
    """Register every ``screenalytics`` entry point once (the built-ins are entry points too),
    honouring SCREENALYTICS_LOAD_PLUGINS."""
    global _loaded
    if _loaded:
        return pm
    _loaded = True
    wanted = _wanted()
    for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: (not _builtin(e), e.name)):
        if wanted is not None and ep.name not in wanted and ep.value not in wanted:
            continue
        if pm.get_plugin(ep.value) is not None or pm.has_plugin(ep.name):
            continue
        try:
            module = ep.load()
        except Exception as e:  # a broken third-party plugin must not take the tool down
            if _builtin(ep):
                raise
            print(f"warning: plugin {ep.name!r} failed to load: {e}", file=sys.stderr)
            continue
        pm.register(module, name=ep.value if _builtin(ep) else ep.name)
    if os.environ.get(TRACE_ENV):
        pm.trace.root.setwriter(lambda s: print(s, end="", file=sys.stderr))
        pm.enable_tracing()
    return pm


def _builtin(ep: metadata.EntryPoint) -> bool:
    return ep.value.startswith("screenalytics.plugins.")


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

    @property
    def options(self) -> Any:
        """The implementation's own settings model (pydantic), or None."""
        return getattr(self.cls, "Options", None)


def implementations(stage: str) -> dict[str, Implementation]:
    """All registered implementations of a plugin kind, by name (each checked against its contract)."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; stages: {', '.join(STAGES)}")
    kind = PluginKind(stage)
    load_plugins()
    found: dict[str, Implementation] = {}

    def register(cls: Any) -> None:
        check_contract(kind, cls)
        found[cls.name] = Implementation(stage, cls.name, cls, cls.__module__)

    getattr(pm.hook, kind.hook)(register=register)
    return found


def all_implementations() -> list[Implementation]:
    """Every registered implementation of every kind."""
    return [impl for kind in PluginKind for impl in implementations(kind.value).values()]


def get_implementation(stage: str, name: str) -> type:
    """The class registered under ``name`` for ``stage``; unknown names list what is installed."""
    found = implementations(stage)
    if name not in found:
        have = ", ".join(sorted(found)) or "none installed"
        raise ConfigError(f"unknown {stage} plugin {name!r} (installed: {have}); see `screenalytics plugins`")
    return found[name].cls


def new_exporter(cls: type, settings: Settings) -> Any:
    """An exporter instance: one that declares ``Options`` gets its settings (``plugins.<name>``),
    one without (the original contract) is built with no arguments."""
    return cls(settings.options_for(cls)) if getattr(cls, "Options", None) is not None else cls()


def call_event(name: str, **kwargs: Any) -> list[Any]:
    """Fire an event hook (run_started, stage_completed, run_finished)."""
    load_plugins()
    return getattr(pm.hook, name)(**kwargs)


def plugin_options(settings: Settings) -> dict[str, Any]:
    """Every installed plugin's own settings (its ``Options``, from ``plugins.<name>``), validated;
    a ``plugins`` key that no installed plugin owns is a ConfigError naming it."""
    owners: dict[str, Implementation] = {}
    for impl in all_implementations():
        if impl.options is not None:
            owners.setdefault(options_key(impl.name), impl)
    for key in settings.plugins:
        if key not in owners:
            have = ", ".join(sorted(owners)) or "none"
            raise ConfigError(f"plugins.{key}: no installed plugin by that name has settings (plugins with settings: {have})")
    return {key: settings.options_for(impl.cls) for key, impl in sorted(owners.items())}
