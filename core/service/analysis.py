"""Analysing episodes and reading what a run stored."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from screenalytics.errors import InputError, ScreenalyticsError
from screenalytics.model.records import ScreenTime
from screenalytics.model.run import RunContext, RunResult
from screenalytics.registry.plugins import get_implementation
from screenalytics.service.base import ServiceBase, rows_of
from screenalytics.service.types import AnalyseRequest, AnalyseResult, Files, RunStatus, ScreenTimeRow
from screenalytics.stages.clock import CancelToken, Progress
from screenalytics.stages.outputs import run_exporters
from screenalytics.stages.screentime import sort_rows
from screenalytics.stores.artifacts import manifest_key
from screenalytics.stores.lance import TABLES
from screenalytics.stores.results import facebank_of, load_result

if TYPE_CHECKING:
    from screenalytics.pipeline import Pipeline


class AnalysisOps(ServiceBase):
    _pipeline: Pipeline | None = None

    @property
    def pipeline(self) -> Pipeline:
        """Plugins resolved and models loaded once, for every episode this service analyses."""
        if self._pipeline is None:
            from screenalytics.pipeline import Pipeline  # the models and their libraries load only when needed

            self._pipeline = Pipeline(self.settings)
        return self._pipeline

    def analyse(self, req: AnalyseRequest, progress: Progress | None = None, cancel: CancelToken | None = None) -> AnalyseResult:
        """Run the pipeline on one episode: bad input fails before any work or any write."""
        from screenalytics.pipeline import episode_id_for, run_episode
        from screenalytics.service.preflight import validate_request

        info = validate_request(req, self)  # ids, paths, video, banks and the store, before any work
        pipeline = self.pipeline
        bank = pipeline.enrol(req.facebank)
        voices = pipeline.enrol_voices(req.voicebank) if req.voicebank and pipeline.hears(req.stages) else None
        out = req.out_dir or Path("out") / (req.episode_id or episode_id_for(info.path))
        result, files = run_episode(
            pipeline,
            info,
            bank,
            out,
            req.episode_id,
            progress,
            self.results,
            voices,
            req.num_speakers,
            req.show,
            req.stages,
            cancel,
            resume=req.resume,
            force=req.force,
        )
        return AnalyseResult(
            episode_id=result.episode_id,
            run_id=result.run_id,
            out_dir=out,
            files=files,
            screen_time=rows_of(result.screen_time),
            frames_analysed=result.frames_analysed,
            shots=len(result.cut_times) + 1,
            tracks=len(result.tracks),
            speech_turns=len(result.speech),
            speakers=len({seg.speaker for seg in result.speech}),
            audio_status=result.audio_status,
            skipped_photos=result.skipped_photos,
            skipped_clips=voices.skipped if voices else [],
            timings_s={k: round(v, 3) for k, v in result.timings.items()},
            reused=[r for r in result.reused if r != "finished"],
            up_to_date=result.reused == ["finished"],
            warnings=[result.span.warning] if result.span and result.span.warning else [],
        )

    def run_status(self, episode_id: str) -> RunStatus:
        rows = {name: self.results.count(name, episode_id) for name in TABLES if name != "assignment_history"}
        run_ids = self.results.read("tracks", episode_id).column("run_id").to_pylist() if rows["tracks"] else []
        screen = self.results.read("screen_time", episode_id).column("run_id").to_pylist() if rows["screen_time"] else []
        run_id = (run_ids or screen or [None])[0]
        show, code = self.catalog.show_of(episode_id)
        key = manifest_key(show, code, "run.json")
        manifest = json.loads(self.artifacts.get(key)) if run_id and self.artifacts.exists(key) else None
        return RunStatus(episode_id=episode_id, analysed=run_id is not None, run_id=run_id, rows=rows, run=manifest)

    def screen_time(self, episode_id: str) -> list[ScreenTimeRow]:
        """The episode's stored screen time (after any review edits), most visible first."""
        rows = self.results.read("screen_time", episode_id).to_pylist()
        if not rows:
            raise _unknown(episode_id)
        return rows_of(sort_rows([ScreenTime(**{f: r[f] for f in ScreenTimeRow.model_fields}) for r in rows]))

    def stored_result(self, episode_id: str) -> RunResult:
        """The episode's stored rows as a RunResult (what exporters take)."""
        if not self.results.count("screen_time", episode_id):
            raise _unknown(episode_id)
        result = load_result(self.results, self.catalog, episode_id)
        # exporters read the settings (and plugins the facebank) from the context, as during a run
        result.context = RunContext(self.settings, result.video, episode_id, result.run_id, facebank_of(result.embeddings))
        return result

    def export(self, episode_id: str, formats: list[str], out_dir: Path) -> Files:
        """Write the stored episode with the named exporters (csv, json, or any installed one)."""
        if not formats:
            raise ScreenalyticsError("name at least one export format")
        classes = [get_implementation("exporter", f) for f in formats]
        result = self.stored_result(episode_id)
        out_dir.mkdir(parents=True, exist_ok=True)
        files, failed = run_exporters(classes, self.settings, result, out_dir)
        if failed:  # the other formats are written; the first failure is the one-line reason
            raise failed[0]
        return Files(files=files)


def _unknown(episode_id: str) -> InputError:
    return InputError(f"unknown episode {episode_id!r}: nothing stored (run `screenalytics run ... --episode-id {episode_id}`)")
