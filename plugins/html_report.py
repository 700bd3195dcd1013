"""Writes report.html: the episode's self-contained report (see ``screenalytics.report``)."""

from __future__ import annotations

from pathlib import Path

from screenalytics import hookimpl
from screenalytics.model.run import RunResult
from screenalytics.report import ReportOptions, build_report, write_report


class HtmlReport:
    """report.html: totals, timelines, faces, review queue, speech and run details in one file."""

    name = "html"
    Options = ReportOptions  # settings under plugins.html

    def __init__(self, options: ReportOptions | None = None) -> None:
        self.options = options or ReportOptions()

    def export(self, result: RunResult, out_dir: Path) -> list[Path]:
        return [write_report(build_report(result, self.options), out_dir, self.options)]


@hookimpl
def register_exporters(register):  # type: ignore[no-untyped-def]
    register(HtmlReport)
