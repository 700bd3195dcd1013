"""What every group of operations shares: the settings and, opened on first use, the stores."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

from screenalytics.config import Settings, load_settings
from screenalytics.model.records import ScreenTime
from screenalytics.service.types import ScreenTimeRow
from screenalytics.stores import ArtifactStore, ResultStore, open_artifacts, open_results
from screenalytics.stores.catalog import Catalog


class ServiceBase:
    def __init__(self, settings: Settings | None = None, config_file: Path | str | None = None, **overrides: Any) -> None:
        self.settings = settings or load_settings(config_file, **overrides)
        # kept for what runs in other processes and reads settings itself (agents' MCP servers)
        self.config_file = Path(config_file).resolve() if config_file else None

    @cached_property
    def results(self) -> ResultStore:
        return open_results(self.settings)

    @cached_property
    def artifacts(self) -> ArtifactStore:
        return open_artifacts(self.settings)

    @cached_property
    def catalog(self) -> Catalog:
        return Catalog(self.results)


def rows_of(screen_time: list[ScreenTime] | list[dict[str, Any]]) -> list[ScreenTimeRow]:
    """Screen time records or stored rows as the service's rows (the contract's fields only)."""
    fields = ScreenTimeRow.model_fields
    out = []
    for r in screen_time:
        d = r if isinstance(r, dict) else r.to_dict()
        out.append(ScreenTimeRow(**{k: d[k] for k in fields}))
    return out
