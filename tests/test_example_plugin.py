"""A third-party plugin installed with pip (tests/example_plugin) adds a detector with its own
setting and model entry, without touching the core: listed, configured and run like a built-in."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from conftest import FACES, make_facebank
from screenalytics.cli import cli
from screenalytics.config import load_settings
from screenalytics.errors import ConfigError
from screenalytics.pipeline import Pipeline, run_episode
from screenalytics.registry.plugins import implementations
from synth import ShotSpec, compose

pytest.importorskip("screenalytics_yunet_s", reason="install the example plugin: pip install -e tests/example_plugin")


def test_it_is_listed_by_plugins_models_and_config():
    assert implementations("detector")["yunet-s"].plugin == "screenalytics_yunet_s"
    runner = CliRunner()
    plugins = json.loads(runner.invoke(cli, ["plugins", "--json"]).output)
    assert plugins["detector"]["implementations"]["yunet-s"] == "screenalytics_yunet_s"
    models = {m["name"]: m for m in json.loads(runner.invoke(cli, ["models", "list", "--json"]).output)}
    assert models["yunet-s-dynamic"]["plugin"] == "screenalytics_yunet_s" and models["yunet-s-dynamic"]["status"] == "ok"
    res = runner.invoke(cli, ["config"], env={"SCREENALYTICS_PLUGINS__YUNET_S__DETECT_SIDE": "480"})
    assert res.exit_code == 0, res.output
    assert "yunet_s:" in res.output and "detect_side: 480" in res.output and "model: yunet-s-dynamic" in res.output
    assert "scrfd:" in res.output and "input_size: 640" in res.output  # built-ins show their own settings too


def test_its_settings_are_validated_by_the_plugin():
    with pytest.raises(ConfigError, match=r"plugins\.yunet_s\.detect_side"):
        Pipeline(load_settings(plugins={"yunet_s": {"detect_side": 10}}))
    with pytest.raises(ConfigError, match=r"plugins\.yunet_s\.colour.*Extra inputs"):
        Pipeline(load_settings(plugins={"yunet_s": {"colour": "red"}}))
    with pytest.raises(ConfigError, match=r"plugins\.nope: no installed plugin.*yunet_s"):
        Pipeline(load_settings(plugins={"nope": {}}))


@pytest.mark.slow
def test_config_selects_it_and_its_setting_takes_effect(tmp_path):
    video = tmp_path / "v.mp4"
    compose(video, [ShotSpec(FACES / "obama.jpg", 1.0, ["obama"]), ShotSpec(None, 0.5)])
    bank = make_facebank(tmp_path / "fb", {"obama": ["obama2.jpg"]})
    settings = load_settings(detection={"detector": "yunet-s"}, audio={"enabled": False})
    pipeline = Pipeline(settings)
    enrolled = pipeline.enrol(bank)
    result, _ = run_episode(pipeline, video, enrolled, tmp_path / "out")
    obama = next(r for r in result.screen_time if r.person_id == "obama")
    assert obama.visual_s == pytest.approx(1.0, abs=0.15)
    strict = load_settings(
        detection={"detector": "yunet-s"}, audio={"enabled": False}, plugins={"yunet_s": {"score_threshold": 0.999}}
    )
    none_found, _ = run_episode(Pipeline(strict), video, enrolled, tmp_path / "out2")
    assert len(none_found.detections) < len(result.detections)
