"""The episode report from the store: the rows as they stand after review edits, the face chips
and run.json the run published, the review queue, and the catalog's featured thumbnails."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from screenalytics.model.run import Chips, RunResult
from screenalytics.registry.plugins import implementations
from screenalytics.report import ReportExtras, ReportOptions, build_report, write_report
from screenalytics.review.edits import ReviewError
from screenalytics.service.base import ServiceBase
from screenalytics.service.types import Files
from screenalytics.stores.artifacts import chip_key, manifest_key, report_key
from screenalytics.stores.review_store import low_confidence_queue, open_review

REPORT = "report.html"


class ReportOps(ServiceBase):
    def report(self, episode_id: str, out_dir: Path | None = None) -> Files:
        """Write report.html for a stored episode (review edits included) into ``out_dir``
        (default out/EPISODE_ID) and store it with the episode's reports."""
        result: RunResult = self.stored_result(episode_id)  # type: ignore[attr-defined]  # AnalysisOps
        show, code = self.catalog.show_of(episode_id)
        options = self.report_options()
        result.chips = self._stored_chips(result, show, code)
        extras = ReportExtras(
            queue=self._stored_queue(episode_id, options),
            featured=self._featured(result),
            run_info=self._run_info(show, code),
            settings=self.settings,
        )
        out = Path(out_dir) if out_dir is not None else Path("out") / episode_id
        out.mkdir(parents=True, exist_ok=True)
        path = write_report(build_report(result, options, extras), out, options, REPORT)
        self.artifacts.put(report_key(show, code, REPORT), path)
        return Files(files=[path])

    def report_options(self) -> ReportOptions:
        """plugins.html, as the html exporter reads it (its defaults when that plugin is not loaded)."""
        found = implementations("exporter").get("html")
        return self.settings.options_for(found.cls) if found is not None else ReportOptions()

    def _stored_chips(self, result: RunResult, show: str, code: str) -> Chips:
        """The face chips the run published, best first, with the quality of the detection each was cut from."""
        prefix = chip_key(show, code, 0, 0).rsplit("/", 2)[0] + "/"
        tracks = {t.track_id for t in result.tracks}
        found: dict[int, dict[int, str]] = {}
        for key in self.artifacts.list(prefix):
            track, _, name = key[len(prefix) :].partition("/")
            if track.isdigit() and int(track) in tracks and name.removesuffix(".jpg").isdigit():
                found.setdefault(int(track), {})[int(name.removesuffix(".jpg"))] = key
        qualities: dict[int, list[float]] = {}
        for d in result.detections:
            qualities.setdefault(d.track_id, []).append(float(d.quality))
        chips: Chips = {}
        for track, keys in sorted(found.items()):
            ranked = sorted(qualities.get(track, []), reverse=True)
            for n in sorted(keys):
                chips.setdefault(track, []).append((ranked[n] if n < len(ranked) else 0.0, self.artifacts.get(keys[n])))
        return chips

    def _stored_queue(self, episode_id: str, options: ReportOptions) -> list[dict[str, Any]] | None:
        """What `screenalytics review queue` lists now; None (the rows decide) for an episode review cannot open."""
        threshold = options.queue_threshold if options.queue_threshold is not None else self.settings.review.queue_threshold
        try:
            return low_confidence_queue(open_review(self.settings, episode_id), threshold)
        except ReviewError:
            return None

    def _featured(self, result: RunResult) -> dict[str, bytes]:
        """Each person's featured thumbnail from the catalog (a manual choice, or their best chip so far)."""
        people = {r.person_id for r in result.screen_time}
        out = {}
        for row in self.catalog.list("person_featured"):
            if row["person_id"] in people and self.artifacts.exists(row["key"]):
                out[row["person_id"]] = self.artifacts.get(row["key"])
        return out

    def _run_info(self, show: str, code: str) -> dict[str, Any]:
        key = manifest_key(show, code, "run.json")
        return json.loads(self.artifacts.get(key)) if self.artifacts.exists(key) else {}
