"""Settings: defaults, YAML, environment and overrides, in that order of strength."""

import pytest

from screenalytics.config import defaults_path, load_settings, read_yaml
from screenalytics.errors import ConfigError


def test_defaults_cover_every_section():
    s = load_settings()
    assert s.detection.detector == "yunet" and s.tracking.tracker == "bytetrack"
    assert s.screen_time.exporters == ["csv", "json", "html"]
    assert set(read_yaml(defaults_path())) == set(type(s).model_fields)


def test_precedence_defaults_yaml_env_overrides(tmp_path, monkeypatch):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("decode:\n  stride: 3\ndetection:\n  detector: scrfd\n  score_threshold: 0.5\n")
    s = load_settings(cfg)
    assert (s.decode.stride, s.detection.detector, s.detection.score_threshold) == (3, "scrfd", 0.5)
    assert s.detection.nms_threshold == 0.3  # untouched keys keep their defaults (deep merge)
    monkeypatch.setenv("SCREENALYTICS_DECODE__STRIDE", "5")
    monkeypatch.setenv("SCREENALYTICS_MODELS_DIR", str(tmp_path))
    s = load_settings(cfg)
    assert s.decode.stride == 5 and s.models_dir == tmp_path and s.detection.detector == "scrfd"
    assert load_settings(cfg, decode={"stride": 7}).decode.stride == 7


@pytest.mark.parametrize(
    "yaml_text, phrase",
    [
        ("decode:\n  stride: -1\n", "decode.stride"),
        ("detection:\n  score_threshold: 2\n", "detection.score_threshold"),
        ("identification:\n  threshold: 0.2\n  stay_threshold: 0.3\n", "stay_threshold must not exceed"),
        ("tracking:\n  trackr: x\n", "tracking.trackr"),
        ("- just\n- a list\n", "must hold a mapping"),
        ("decode: [unclosed\n", "not valid YAML"),
        ("decode:\n  fps: .inf\n", "decode.fps: Input should be a finite number"),
        ("decode:\n  fps: .nan\n", "decode.fps: Input should be a finite number"),
        ("decode:\n  fps: 1.0e+308\n", "decode.fps: Input should be less than or equal to 1000"),
        ("decode:\n  on_short: ignore\n", "decode.on_short"),
        ("decode:\n  min_coverage: 0\n", "decode.min_coverage"),
        ("storage:\n  lifecycle_days: {'': 1}\n", "refusing to purge ''"),
        ("storage:\n  lifecycle_days: {lancedb/: 1}\n", "lancedb/, facebank/, manifests/ are never purged"),
        ("storage:\n  lifecycle_days: {facebank: 1}\n", "never purged"),
        ("storage:\n  lifecycle_days: {frames/: -1}\n", "0 or more"),
        ("storage:\n  presign_expiry_s: 700000\n", "storage.presign_expiry_s"),
        ("storage:\n  presign_max_expiry_s: 60\n", "presign_expiry_s must not exceed presign_max_expiry_s"),
    ],
)
def test_bad_values_name_the_key(tmp_path, yaml_text, phrase):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml_text)
    with pytest.raises(ConfigError, match=phrase):
        load_settings(cfg)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "nope.yaml")


def test_storage_uri_defaults_to_the_user_data_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("SCREENALYTICS_STORAGE__URI")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert load_settings().storage_root() == str(tmp_path / "screenalytics")


def test_histogram_bins_are_checked_before_any_work():
    """Zero or negative bins crashed OpenCV (a segfault, exit 139); now a one-line config error."""
    from screenalytics.config import load_settings
    from screenalytics.errors import ConfigError

    defaults = load_settings().shots.model_dump()
    with pytest.raises(ConfigError, match=r"shots\.hist_bins\.0: Input should be greater than or equal to 2"):
        load_settings(shots={**defaults, "hist_bins": [0, -1]})


def test_default_episode_ids_of_non_ascii_names_do_not_collide():
    from pathlib import Path

    from screenalytics.pipeline import episode_id_for

    a, b = episode_id_for(Path("épisode 1 ✓.mp4")), episode_id_for(Path("àpisode 1 ★.mp4"))
    assert a != b and a.startswith("_pisode_1_-") and b.startswith("_pisode_1_-")
    assert episode_id_for(Path("épisode 1 ✓.mp4")) == a, "stable for the same name"
    assert episode_id_for(Path("short_hamilton_clip.mp4")) == "short_hamilton_clip"
    assert episode_id_for(Path("My Episode.mp4")) == "My_Episode", "ASCII names keep their ids"


def test_environment_variables_of_unknown_sections_are_errors(monkeypatch):
    monkeypatch.setenv("SCREENALYTICS_DETECTON__DETECTOR", "scrfd")
    with pytest.raises(
        ConfigError, match="unknown settings section 'detecton' in environment variable SCREENALYTICS_DETECTON__DETECTOR"
    ):
        load_settings()
    monkeypatch.delenv("SCREENALYTICS_DETECTON__DETECTOR")
    monkeypatch.setenv("SCREENALYTICS_SOMETHING_ELSE", "x")  # not a setting (no __): left alone
    monkeypatch.setenv("SCREENALYTICS_DETECTION__DETECTOR", "scrfd")
    assert load_settings().detection.detector == "scrfd"


def _leaves(tree: dict, path: tuple = ()):
    for key, value in tree.items():
        if isinstance(value, dict) and value and key != "lifecycle_days":
            yield from _leaves(value, (*path, key))
        else:
            yield (*path, key), value


def _nested(path: tuple, value: object) -> dict:
    return {path[0]: value} if len(path) == 1 else {path[0]: _nested(path[1:], value)}


def test_every_key_refuses_a_value_of_the_wrong_kind():
    """A mapping where a value belongs, and inf or nan for every number: a ConfigError naming the key."""
    defaults = read_yaml(defaults_path())
    defaults.pop("plugins")
    leaves = list(_leaves(defaults))
    assert len(leaves) > 100
    accepted = []
    for path, default in leaves:
        bad: list[object] = [{"not": "a value"}]
        if isinstance(default, (int, float)) and not isinstance(default, bool):
            bad += [float("nan"), float("inf")]
        for value in bad:
            try:
                load_settings(**_nested(path, value))
            except ConfigError as e:
                if ".".join(path) not in str(e):
                    accepted.append(f"{'.'.join(path)}={value!r}: {e}")
            else:
                accepted.append(f"{'.'.join(path)}={value!r}")
    assert not accepted, "\n".join(accepted)
