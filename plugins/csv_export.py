"""Writes screen_time.csv: one row per person."""

from __future__ import annotations

import csv
from pathlib import Path

from screenalytics import hookimpl
from screenalytics.model.run import RunResult
from screenalytics.stages.screentime import SCREEN_TIME_FIELDS, screen_time_row


class CsvExporter:
    """screen_time.csv: person_id, visual_s, speaking_s, both_s, confidence."""

    name = "csv"

    def export(self, result: RunResult, out_dir: Path) -> list[Path]:
        path = out_dir / "screen_time.csv"
        with path.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=SCREEN_TIME_FIELDS)
            w.writeheader()
            for row in result.screen_time:
                w.writerow(screen_time_row(row))
        return [path]


@hookimpl
def register_exporters(register):  # type: ignore[no-untyped-def]
    register(CsvExporter)
