"""Writes screen_time.json: a list of per-person rows (the CLI contract)."""

from __future__ import annotations

import json
from pathlib import Path

from screenalytics import hookimpl
from screenalytics.model.run import RunResult
from screenalytics.stages.screentime import screen_time_row


class JsonExporter:
    """screen_time.json: [{person_id, visual_s, speaking_s, both_s, confidence}, ...]."""

    name = "json"

    def export(self, result: RunResult, out_dir: Path) -> list[Path]:
        path = out_dir / "screen_time.json"
        path.write_text(json.dumps([screen_time_row(r) for r in result.screen_time], indent=2) + "\n")
        return [path]


@hookimpl
def register_exporters(register):  # type: ignore[no-untyped-def]
    register(JsonExporter)
