"""The plugin system: every hook documented and exercised, loading controls, entry points."""

from __future__ import annotations

import inspect
import subprocess
import sys
import textwrap

import click
import numpy as np
import pytest
import supervision as sv
from click.testing import CliRunner

from conftest import FACES, REPO, make_facebank
from screenalytics import hookimpl, hookspecs
from screenalytics.config import load_settings
from screenalytics.errors import ConfigError, PluginError
from screenalytics.model.names import PluginKind
from screenalytics.model.speech import Diarization
from screenalytics.pipeline import Pipeline, run_episode
from screenalytics.registry.models import ModelFile, ModelSpec, model_specs
from screenalytics.registry.plugins import STAGES, get_implementation, implementations, load_plugins, pm, reset_plugins
from synth import ShotSpec, compose

HOOKS = sorted(n for n, f in inspect.getmembers(hookspecs, inspect.isfunction) if hasattr(f, "screenalytics_spec"))
EXERCISED: set[str] = set()


def test_hooks_are_the_expected_pipeline_stages():
    assert set(HOOKS) >= {
        "register_detectors",
        "register_trackers",
        "register_recognizers",
        "register_diarizers",
        "register_transcribers",
        "register_exporters",
        "register_commands",
        "run_started",
        "stage_completed",
        "run_finished",
    }
    assert {h for h in HOOKS if h.startswith("register_") and h not in ("register_commands", "register_models")} == set(
        STAGES.values()
    )


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_documented(hook):
    readme = (REPO / "README.md").read_text()
    params = ", ".join(inspect.signature(getattr(hookspecs, hook)).parameters)
    assert f"{hook}({params})" in readme, f"README lacks {hook}({params})"
    assert (getattr(hookspecs, hook).__doc__ or "").strip()


class Recorder:
    """A test plugin implementing every hook, recording that each one was called."""

    class EchoDiarizer:
        """Test diarizer."""

        name = "echo-diarizer"

        def diarize(self, audio, num_speakers=None):
            return Diarization([])

    class EchoTranscriber:
        """Test transcriber."""

        name = "echo-transcriber"

        def transcribe(self, audio, regions):
            return []

    class QuietVAD:
        """Hears nothing."""

        name = "quiet-vad"

        def detect(self, audio):
            return []

    class FlatEmbedder:
        """Every voice is the same voice."""

        name = "flat-embedder"
        dim = 1

        def embed(self, audio, ranges):
            return np.ones((len(ranges), 1), np.float32)

    class CountingTracker:
        """Gives each detection its own track (to prove config picks a plugin tracker)."""

        name = "per-detection"

        def __init__(self, settings, frame_rate):
            self.n = 0

        def update(self, detections: sv.Detections, timestamp: float) -> sv.Detections:
            detections.tracker_id = np.arange(self.n, self.n + len(detections))
            self.n += len(detections)
            return detections

    class NoopDetector:
        """Finds nothing."""

        name = "noop-detector"

        def __init__(self, settings, models):
            pass

        def detect(self, frame):
            return sv.Detections.empty()

    class NoopRecognizer:
        """Not used: proves registration only."""

        name = "noop-recognizer"

        def align(self, image, landmarks):
            return np.zeros((112, 112, 3), np.uint8)

        def embed(self, crops):
            return np.zeros((len(crops), 1), np.float32)

    class TextExporter:
        """Writes people.txt."""

        name = "people-txt"

        def export(self, result, out_dir):
            path = out_dir / "people.txt"
            path.write_text("\n".join(r.person_id for r in result.screen_time))
            return [path]

    def __init__(self):
        self.events: list[tuple[str, str]] = []

    @hookimpl
    def register_models(self, register):
        EXERCISED.add("register_models")
        register(ModelSpec("echo-model", "detector", "Test model.", "MIT", "tests", (ModelFile("face/echo.onnx"),)))

    @hookimpl
    def register_detectors(self, register):
        EXERCISED.add("register_detectors")
        register(self.NoopDetector)

    @hookimpl
    def register_trackers(self, register):
        EXERCISED.add("register_trackers")
        register(self.CountingTracker)

    @hookimpl
    def register_recognizers(self, register):
        EXERCISED.add("register_recognizers")
        register(self.NoopRecognizer)

    @hookimpl
    def register_vads(self, register):
        EXERCISED.add("register_vads")
        register(self.QuietVAD)

    @hookimpl
    def register_speaker_embedders(self, register):
        EXERCISED.add("register_speaker_embedders")
        register(self.FlatEmbedder)

    @hookimpl
    def register_diarizers(self, register):
        EXERCISED.add("register_diarizers")
        register(self.EchoDiarizer)

    @hookimpl
    def register_transcribers(self, register):
        EXERCISED.add("register_transcribers")
        register(self.EchoTranscriber)

    class StillFaces:
        """An active speaker model that calls every face silent."""

        name = "still-faces"
        fps = 25
        rows_per_second = 100

        def __init__(self, settings, models):
            pass

        def features(self):
            from screenalytics.plugins.light_asd import MfccStream

            return MfccStream()

        def crop(self, image_bgr, box):
            return np.zeros((112, 112), np.uint8)

        def score(self, crops, features):
            return np.zeros(len(crops), np.float32)

    @hookimpl
    def register_active_speakers(self, register):
        EXERCISED.add("register_active_speakers")
        register(self.StillFaces)

    @hookimpl
    def register_exporters(self, register):
        EXERCISED.add("register_exporters")
        register(self.TextExporter)

    @hookimpl
    def register_commands(self, cli):
        EXERCISED.add("register_commands")

        @cli.command(name="hello")
        def hello():
            """Say hello."""
            click.echo("hello from a plugin")

    @hookimpl
    def run_started(self, context):
        EXERCISED.add("run_started")
        self.events.append(("run_started", context.episode_id))

    @hookimpl
    def stage_completed(self, stage, result, context):
        EXERCISED.add("stage_completed")
        self.events.append(("stage_completed", stage))
        if stage == "screen_time":  # plugins may edit results in place
            for row in result:
                row.confidence = min(row.confidence, 0.99)

    @hookimpl
    def run_finished(self, result, context):
        EXERCISED.add("run_finished")
        self.events.append(("run_finished", result.run_id))


@pytest.fixture
def recorder():
    load_plugins()
    plugin = Recorder()
    pm.register(plugin, name="recorder")
    yield plugin
    pm.unregister(name="recorder")


def test_registration_hooks_feed_each_stage(recorder):
    assert "echo-diarizer" in implementations("diarizer")
    assert "echo-transcriber" in implementations("transcriber")
    assert "quiet-vad" in implementations("vad") and "silero" in implementations("vad")
    assert "flat-embedder" in implementations("speaker_embedder") and "campplus" in implementations("speaker_embedder")
    assert {"pyannote-onnx", "pyannote"} <= set(implementations("diarizer"))
    assert "noop-recognizer" in implementations("recognizer")
    assert implementations("detector")["yunet"].plugin == "screenalytics.plugins.yunet"
    assert get_implementation("tracker", "per-detection") is Recorder.CountingTracker
    assert model_specs()["echo-model"].plugin == "recorder"
    with pytest.raises(ConfigError, match="unknown diarizer plugin 'x'.*echo-diarizer"):
        get_implementation("diarizer", "x")


def test_plugin_commands_join_the_cli(recorder):
    from screenalytics.cli import cli

    group = click.Group(commands=dict(cli.commands))
    pm.hook.register_commands(cli=group)
    res = CliRunner().invoke(group, ["hello"])
    assert res.output.strip() == "hello from a plugin"


def test_events_fire_and_a_plugin_tracker_and_exporter_are_used(recorder, tmp_path):
    video = tmp_path / "v.mp4"
    compose(video, [ShotSpec(FACES / "obama.jpg", 0.6, ["obama"])])
    bank = make_facebank(tmp_path / "fb", {"obama": ["obama2.jpg"]})
    settings = load_settings(
        tracking={"tracker": "per-detection", "min_track_samples": 1}, screen_time={"exporters": ["json", "people-txt"]}
    )
    result, files = run_episode(Pipeline(settings), video, bank, tmp_path / "out")
    kinds = [e for e, _ in recorder.events]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    assert {s for e, s in recorder.events if e == "stage_completed"} == {"detections", "tracks", "assignments", "screen_time"}
    assert result.audio_status.startswith("skipped")  # the composed clip has no soundtrack
    # the per-detection tracker gave every detection its own track
    assert len(result.tracks) == len(result.detections) > 5
    assert (tmp_path / "out" / "people.txt").read_text().splitlines()[0] == "obama"
    assert all(r.confidence <= 0.99 for r in result.screen_time)


def test_noop_detector_gives_an_empty_but_valid_result(recorder, tmp_path):
    video = tmp_path / "v.mp4"
    compose(video, [ShotSpec(FACES / "obama.jpg", 0.4, ["obama"])])
    bank = make_facebank(tmp_path / "fb", {"obama": ["obama2.jpg"]})
    pipe = Pipeline(load_settings(detection={"detector": "noop-detector"}))
    pipe.use(PluginKind.DETECTOR, get_implementation("detector", "yunet")(pipe.settings, pipe.models))  # enrolment needs faces
    bank_obj = pipe.enrol(bank)
    pipe.use(PluginKind.DETECTOR, Recorder.NoopDetector(None, None))
    result, _ = run_episode(pipe, video, bank_obj, tmp_path / "out")
    assert result.tracks == [] and [r.person_id for r in result.screen_time] == ["obama"]
    assert result.screen_time[0].visual_s == 0.0


def test_every_hook_was_exercised():
    """Runs after the tests above (file order): each hook spec was called at least once."""
    assert set(HOOKS) <= EXERCISED, set(HOOKS) - EXERCISED


def _run_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    import os

    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env={**os.environ, **env}, timeout=120
    )


@pytest.mark.slow
def test_load_plugins_env_restricts_what_loads():
    code = """
        from screenalytics.registry.plugins import implementations
        print(sorted(implementations("detector")), sorted(implementations("exporter")))
    """
    assert _run_python(code, {"SCREENALYTICS_LOAD_PLUGINS": "yunet,json_export"}).stdout.strip() == "['yunet'] ['json']"
    assert _run_python(code, {"SCREENALYTICS_LOAD_PLUGINS": ""}).stdout.strip() == "[] []"


@pytest.mark.slow
def test_third_party_plugins_arrive_through_entry_points(tmp_path):
    """A distribution on sys.path with a `screenalytics` entry point is loaded like a built-in."""
    (tmp_path / "sa_extra.py").write_text(
        textwrap.dedent('''
        from screenalytics import hookimpl

        class Shouty:
            """Upper-case exporter."""
            name = "shouty"
            def export(self, result, out_dir):
                return []

        @hookimpl
        def register_exporters(register):
            register(Shouty)
    ''')
    )
    dist = tmp_path / "sa_extra-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: sa-extra\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[screenalytics]\nsa_extra = sa_extra\n")
    code = """
        from screenalytics.registry.plugins import implementations
        print(implementations("exporter")["shouty"].plugin)
    """
    env = {"PYTHONPATH": str(tmp_path)}
    assert _run_python(code, env).stdout.strip() == "sa_extra"
    only = _run_python(code.replace('["shouty"].plugin', ""), {**env, "SCREENALYTICS_LOAD_PLUGINS": "sa_extra"})
    assert (
        only.stdout.strip()
        == "{'shouty': Implementation(stage='exporter', name='shouty', cls=<class 'sa_extra.Shouty'>, plugin='sa_extra')}"
    )


@pytest.fixture
def builtins_only(monkeypatch):
    """Only the built-in plugins (the test environment also has the example plugin installed)."""
    from importlib import metadata

    names = [ep.name for ep in metadata.entry_points(group="screenalytics") if ep.value.startswith("screenalytics.plugins.")]
    monkeypatch.setenv("SCREENALYTICS_LOAD_PLUGINS", ",".join(names))
    reset_plugins()
    yield
    monkeypatch.delenv("SCREENALYTICS_LOAD_PLUGINS")
    reset_plugins()


def test_a_class_that_breaks_its_contract_is_named(recorder):
    class Blind:
        name = "blind"

    class Nameless:
        def detect(self, frame):
            return sv.Detections.empty()

    class Plugin:
        def __init__(self, cls):
            self.cls = cls

        @hookimpl
        def register_detectors(self, register):
            register(self.cls)

    for cls, phrase in (
        (Blind, r"test_plugins\..*Blind registered as a detector lacks method detect\(\)"),
        (Nameless, "no 'name'"),
    ):
        pm.register(Plugin(cls), name="broken")
        try:
            with pytest.raises(PluginError, match=phrase):
                implementations("detector")
        finally:
            pm.unregister(name="broken")


def test_plugins_command_lists_stages_and_selection(builtins_only):
    import json

    from screenalytics.cli import cli

    env = {"SCREENALYTICS_DETECTION__DETECTOR": "scrfd"}
    res = CliRunner().invoke(cli, ["plugins", "--json"], env=env)
    assert res.exit_code == 0, res.output
    report = json.loads(res.output)
    assert set(report) == set(STAGES)
    assert report["detector"]["selected"] == "scrfd"
    assert report["detector"]["implementations"] == {
        "scrfd": "screenalytics.plugins.scrfd",
        "yunet": "screenalytics.plugins.yunet",
    }
    assert report["diarizer"]["selected"] == "pyannote-onnx"
    table = CliRunner().invoke(cli, ["plugins"], env=env)
    assert table.exit_code == 0 and "diarizer" in table.output and "pyannote-onnx" in table.output
