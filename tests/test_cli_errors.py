"""Bad inputs give a one-line reason and a non-zero exit, and lose nothing already stored."""

from __future__ import annotations

import json
from pathlib import Path

import click
import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from conftest import FACES, VIDEO, make_facebank
from screenalytics.cli import cli
from screenalytics.config import load_settings
from screenalytics.stores import open_results
from synth import ShotSpec, compose, write_audio_only

EPISODE = "ep1"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("inputs")
    video = root / "ok.mp4"
    compose(video, [ShotSpec(FACES / "obama.jpg", 1.0, ["obama"])])
    corrupt = root / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40)
    truncated = root / "truncated.mp4"
    truncated.write_bytes(VIDEO.read_bytes()[:4000])
    audio_only = root / "voice.m4a"
    write_audio_only(audio_only)
    empty = root / "empty_facebank"
    empty.mkdir()
    (empty / "nobody").mkdir()
    bad_config = root / "bad.yaml"
    bad_config.write_text("detection:\n  score_threshold: high\n")
    typo_config = root / "typo.yaml"
    typo_config.write_text("detection:\n  scor_threshold: 0.5\n")
    facebank = make_facebank(root / "facebank", {"obama": ["obama2.jpg"]})
    return {
        "video": video,
        "corrupt": corrupt,
        "truncated": truncated,
        "audio_only": audio_only,
        "empty": empty,
        "bad_config": bad_config,
        "typo_config": typo_config,
        "facebank": facebank,
        "root": root,
    }


def invoke(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, ["run", *args, "--episode-id", EPISODE, "-q"], env=env)


CASES = {
    "missing video": (lambda i: [str(i["root"] / "nope.mp4"), "--facebank", str(i["facebank"])], None, "video not found"),
    "corrupt video": (lambda i: [str(i["corrupt"]), "--facebank", str(i["facebank"])], None, "corrupt"),
    "truncated video": (lambda i: [str(i["truncated"]), "--facebank", str(i["facebank"])], None, "corrupt"),
    "no video stream": (lambda i: [str(i["audio_only"]), "--facebank", str(i["facebank"])], None, "no video stream"),
    "empty facebank": (lambda i: [str(i["video"]), "--facebank", str(i["empty"])], None, "facebank"),
    "missing facebank": (lambda i: [str(i["video"]), "--facebank", str(i["root"] / "nope")], None, "facebank not found"),
    "unknown plugin": (
        lambda i: [str(i["video"]), "--facebank", str(i["facebank"])],
        {"SCREENALYTICS_DETECTION__DETECTOR": "nope"},
        "unknown detector plugin 'nope'",
    ),
    "bad config value": (
        lambda i: [str(i["video"]), "--facebank", str(i["facebank"]), "--config", str(i["bad_config"])],
        None,
        "detection.score_threshold",
    ),
    "unknown config key": (
        lambda i: [str(i["video"]), "--facebank", str(i["facebank"]), "--config", str(i["typo_config"])],
        None,
        "scor_threshold",
    ),
    "bad stride": (lambda i: [str(i["video"]), "--facebank", str(i["facebank"]), "--stride", "0"], None, "decode.stride"),
}


@pytest.fixture(scope="module")
def stored(inputs, tmp_path_factory):
    """A good run whose stored rows and outputs the bad runs must leave alone."""
    store_dir = tmp_path_factory.mktemp("store")
    out = tmp_path_factory.mktemp("out")
    env = {"SCREENALYTICS_STORAGE__URI": str(store_dir)}
    res = CliRunner().invoke(
        cli,
        ["run", str(inputs["video"]), "--facebank", str(inputs["facebank"]), "--episode-id", EPISODE, "--out", str(out), "-q"],
        env=env,
    )
    assert res.exit_code == 0, res.output
    store = open_results(load_settings(storage={"uri": str(store_dir)}))
    snapshot = {t: store.read(t, EPISODE).to_pylist() for t in ("detections", "tracks", "screen_time")}
    assert snapshot["screen_time"][0]["visual_s"] > 0.5
    return store_dir, out, snapshot


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_fails_clearly_and_keeps_stored_data(case, inputs, stored):
    store_dir, out, snapshot = stored
    args, env, phrase = CASES[case]
    before = (out / "screen_time.json").read_text()
    res = invoke(*args(inputs), "--out", str(out), env={"SCREENALYTICS_STORAGE__URI": str(store_dir), **(env or {})})
    assert res.exit_code != 0
    message = res.output.strip()
    assert phrase in message, message
    assert "Traceback" not in message
    assert len(message.splitlines()) == 1, message
    store = open_results(load_settings(storage={"uri": str(store_dir)}))
    assert {t: store.read(t, EPISODE).to_pylist() for t in snapshot} == snapshot
    assert (out / "screen_time.json").read_text() == before


def test_photos_without_a_face_are_named(inputs, tmp_path):
    bank = make_facebank(tmp_path / "fb", {"obama": ["obama2.jpg"]})
    (bank / "obama" / "blank.png").write_bytes(b"")
    cv2.imwrite(str(bank / "obama" / "wall.png"), np.full((200, 200, 3), 90, np.uint8))
    res = CliRunner().invoke(cli, ["run", str(inputs["video"]), "--facebank", str(bank), "--out", str(tmp_path / "o"), "-q"])
    assert res.exit_code == 0, res.output
    assert "wall.png (no face found)" in res.output
    assert "blank.png (not a readable image)" in res.output
    assert json.loads((tmp_path / "o" / "screen_time.json").read_text())[0]["person_id"] == "obama"


def test_a_video_without_audio_reports_the_audio_stages_as_skipped(inputs, tmp_path):
    bank = make_facebank(tmp_path / "fb", {"obama": ["obama2.jpg"]})
    out = tmp_path / "o"
    res = CliRunner().invoke(cli, ["run", str(inputs["video"]), "--facebank", str(bank), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "audio stages skipped: the video has no audio track" in res.output
    row = json.loads((out / "screen_time.json").read_text())[0]
    assert row["visual_s"] > 0.5 and row["speaking_s"] == 0 and row["both_s"] == 0
    assert json.loads((out / "run.json").read_text())["audio"].startswith("skipped")


def test_a_bad_voicebank_fails_before_anything_is_written(inputs, stored):
    store_dir, out, snapshot = stored
    res = invoke(
        str(inputs["video"]),
        "--facebank",
        str(inputs["facebank"]),
        "--voicebank",
        str(inputs["empty"]),
        "--out",
        str(out),
        env={"SCREENALYTICS_STORAGE__URI": str(store_dir)},
    )
    assert res.exit_code == 1 and "voice bank" in res.output and "empty" in res.output
    assert {
        t: open_results(load_settings(storage={"uri": str(store_dir)})).read(t, EPISODE).to_pylist() for t in snapshot
    } == snapshot


# --- every command, bad arguments: a usage error (2) or one line (1), never a traceback ----------

MISSING = "/nonexistent/screenalytics/missing.mp4"
BAD_ID = "../../evil id"


def _commands(group: click.Group, path: tuple[str, ...] = ()):
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))
        else:
            yield (*path, name), command


def _all_commands() -> dict[str, click.Command]:
    from screenalytics.registry.plugins import load_plugins, pm

    load_plugins()
    pm.hook.register_commands(cli=cli)  # plugins' commands too
    return {" ".join(path): command for path, command in _commands(cli)}


def _value(param: click.Parameter, variant: str) -> str:
    """A bad value for one parameter: a missing file, an unsafe id, or a bad number."""
    kind = param.type
    if isinstance(kind, click.Choice):
        return "not-a-choice"
    if isinstance(kind, (click.types.IntParamType, click.IntRange)):
        return "-7" if variant == "number" else "1"
    if isinstance(kind, (click.types.FloatParamType, click.FloatRange)):
        return "nan" if variant == "number" else "1"
    if isinstance(kind, (click.Path, click.File)):
        return MISSING
    return BAD_ID if variant == "id" else MISSING


def _numeric(p: click.Parameter) -> bool:
    return isinstance(p.type, (click.types.IntParamType, click.types.FloatParamType))


def _bad_args(command: click.Command, variant: str, bad_config: Path) -> list[str] | None:
    args: list[str] = []
    for p in command.params:
        if isinstance(p, click.Argument) and (p.required or p.nargs == -1):
            args.append(_value(p, variant))
        elif isinstance(p, click.Option) and not p.is_flag and (p.required or (variant == "number" and _numeric(p))):
            args += [max(p.opts, key=len), _value(p, variant)]
    if not args:  # nothing to get wrong but the settings
        if not any(p.name == "config_file" for p in command.params):
            return None
        args = ["--config", MISSING if variant == "file" else str(bad_config)]
    return args


@pytest.fixture(scope="module")
def bad_configs(tmp_path_factory):
    root = tmp_path_factory.mktemp("configs")
    (root / "id.yaml").write_text("storage:\n  lifecycle_days: {'': 1}\n")
    (root / "number.yaml").write_text("decode:\n  fps: .inf\n")
    return root


# Commands that may legitimately accept one of these values (free text, a folder to create).
MAY_SUCCEED = {"person add", "facebank export"}
# Commands whose failure is a multi-line report by design (exit 1, no traceback).
REPORTS = {"doctor"}


def test_every_command_fails_in_one_line_on_bad_arguments(bad_configs):
    """A missing file, an unsafe id and a bad number for every command and subcommand: a usage
    error (2) or exactly one `error:` line (1), never a traceback nor an unexpected exception."""
    commands = _all_commands()
    assert {"run", "storage ls", "storage lifecycle", "person feature", "screen-time"} <= set(commands)
    runner = CliRunner()
    failures = []
    for name, command in commands.items():
        for variant in ("file", "id", "number"):
            args = _bad_args(command, variant, bad_configs / f"{variant}.yaml")
            if args is None:
                continue
            res = runner.invoke(cli, [*name.split(), *args], input="")
            out = res.output.strip()
            errors = [line for line in out.splitlines() if line.startswith("error:")]
            if "Traceback" in out or "internal error" in out or not isinstance(res.exception, (SystemExit, type(None))):
                ok = False
            elif res.exit_code == 0:
                ok = name in MAY_SUCCEED
            elif name in REPORTS:
                ok = res.exit_code in (1, 2)
            else:
                ok = res.exit_code == 2 or (res.exit_code == 1 and len(errors) == 1 and out.splitlines()[-1] == errors[0])
            if not ok:
                failures.append(f"{name} {args} -> {res.exit_code}: {out[-300:]!r} {res.exception!r}")
    assert not failures, "\n".join(failures)
