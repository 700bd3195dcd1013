"""Fault injection: hostile inputs, damaged files, a read-only, refusing or hung store, and
destructive maintenance. Each case fails with one line and exit code 1 and leaves every stored
table (and every artifact) exactly as it was, compared table by table."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lancedb
import pytest
from click.testing import CliRunner
from test_decode import faststart_truncated

from conftest import FACES, MODELS, VIDEO, make_facebank, s3_env
from screenalytics.cli import cli
from screenalytics.config import load_settings
from screenalytics.stores import StorageError, open_artifacts, open_results
from synth import ShotSpec, compose

EP = "ep1"
FAST = ["--no-audio", "--fps", "2", "-q"]


def snapshot(store: Path) -> dict[str, Any]:
    """Every table of the result database, row by row, and every artifact's bytes."""
    db = lancedb.connect(str(store / "lancedb"))
    tables = {name: sorted(map(repr, db.open_table(name).to_arrow().to_pylist())) for name in db.list_tables().tables}
    files = {
        p.relative_to(store).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in store.rglob("*")
        if p.is_file() and p.relative_to(store).parts[0] != "lancedb"
    }
    return {"tables": tables, "artifacts": files}


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[None]:
    """The folder read-only for this process: a read-only bind mount as root (root ignores file
    modes), file modes otherwise."""
    if os.geteuid() != 0:
        dirs = [path, *(p for p in path.rglob("*") if p.is_dir())]
        for d in dirs:
            d.chmod(0o555)
        try:
            yield
        finally:
            for d in dirs:
                d.chmod(0o755)
        return
    bind = subprocess.run(["mount", "--bind", str(path), str(path)], capture_output=True)
    if bind.returncode != 0:
        pytest.skip(f"cannot make a read-only mount here: {bind.stderr.decode().strip()}")
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(path)], check=True, capture_output=True)
        yield
    finally:
        subprocess.run(["umount", str(path)], check=False, capture_output=True)


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    root = tmp_path_factory.mktemp("media")
    video = root / "ok.mp4"
    compose(video, [ShotSpec(FACES / "obama.jpg", 1.0, ["obama"])])
    photo = root / "photo.mp4"  # a JPEG named like a video
    shutil.copy(FACES / "obama.jpg", photo)
    odd_name = root / os.fsdecode(b"episode-\xff.mp4")  # not valid UTF-8
    shutil.copy(video, odd_name)
    odd_bank = root / "odd_facebank"
    (odd_bank / os.fsdecode(b"obam\xe1")).mkdir(parents=True)
    shutil.copy(FACES / "obama2.jpg", odd_bank / os.fsdecode(b"obam\xe1") / "obama2.jpg")
    int_yaml = root / "bank.yaml"
    int_yaml.write_text("obama: 5\n")
    models = root / "models"  # the shared models, the recognizer cut short (an interrupted copy)
    shutil.copytree(MODELS / "face", models / "face")
    for sub in ("audio", "asd"):
        if (MODELS / sub).exists():
            (models / sub).symlink_to(MODELS / sub)
    recognizer = models / "face" / "faceplugin_fr_feature_512d.onnx"
    recognizer.write_bytes(recognizer.read_bytes()[:100_000])
    return {
        "root": root,
        "video": video,
        "photo": photo,
        "truncated": faststart_truncated(VIDEO, root / "truncated.mp4"),
        "odd_name": odd_name,
        "odd_bank": odd_bank,
        "int_yaml": int_yaml,
        "models": models,
        "facebank": make_facebank(root / "facebank", {"obama": ["obama2.jpg"]}),
    }


@pytest.fixture(scope="module")
def stored(media, tmp_path_factory):
    """A store holding one analysed episode and a catalogued person, and its snapshot."""
    store = tmp_path_factory.mktemp("store")
    out = tmp_path_factory.mktemp("out")
    env = {"SCREENALYTICS_STORAGE__URI": str(store)}
    runner = CliRunner()
    res = runner.invoke(
        cli,
        ["run", str(media["video"]), "--facebank", str(media["facebank"]), "--episode-id", EP, "--out", str(out), *FAST],
        env=env,
    )
    assert res.exit_code == 0, res.output
    assert runner.invoke(cli, ["person", "add", "obama", "--name", "Barack Obama"], env=env).exit_code == 0
    before = snapshot(store)
    assert before["tables"]["screen_time"] and any(k.startswith("chips/") for k in before["artifacts"])
    return store, out, before


def one_line_error(res: Any, phrase: str) -> str:
    message = res.output.strip()
    assert res.exit_code == 1, (res.exit_code, message)
    assert "Traceback" not in message and "internal error" not in message, message
    assert len(message.splitlines()) == 1 and message.startswith("error:"), message
    assert phrase in message, message
    return message


def run_args(media: dict[str, Any], out_dir: Path, **change: Any) -> list[str]:
    video = change.pop("video", media["video"])
    facebank = change.pop("facebank", media["facebank"])
    args = ["run", str(video), "--facebank", str(facebank), "--episode-id", change.pop("episode_id", EP)]
    args += ["--out", str(change.pop("out", out_dir)), *FAST, *change.pop("extra", [])]
    assert not change
    return args


RUN_CASES: dict[str, tuple[dict[str, Any], dict[str, str], str]] = {
    # case: (what changes in the run, extra environment, phrase of the one-line error)
    "a JPEG renamed .mp4": ({"video": "photo"}, {}, "not a video"),
    "a PNG image": ({"video": FACES / "lin-manuel-miranda.png"}, {}, "still image"),
    "a truncated faststart mp4": ({"video": "truncated"}, {}, "its container declares"),
    "an id with ..": ({"episode_id": "../../evil"}, {}, "episode id '../../evil'"),
    "an id of 300 characters": ({"episode_id": "e" * 300}, {}, "at most 128"),
    "an id starting with a dot": ({"episode_id": ".hidden"}, {}, "episode id '.hidden'"),
    "--out is a file": ({"out": "photo"}, {}, "not a folder"),
    "a video name that is not UTF-8": ({"video": "odd_name"}, {}, "not a valid UTF-8 name"),
    "a facebank name that is not UTF-8": ({"facebank": "odd_bank"}, {}, "not a valid UTF-8 name"),
    "a facebank YAML value that is an int": ({"facebank": "int_yaml"}, {}, "must map to a photo path"),
    "an mp4 as the facebank": ({"facebank": "video"}, {}, "not text"),
    "--fps inf": ({"extra": ["--fps", "inf"]}, {}, "decode.fps"),
    "--fps 1e308": ({"extra": ["--fps", "1e308"]}, {}, "decode.fps"),
    "--fps nan": ({"extra": ["--fps", "nan"]}, {}, "decode.fps"),
    "an unknown settings section in the environment": ({}, {"SCREENALYTICS_DETECTON__DETECTOR": "yunet"}, "'detecton'"),
    "a negative lifecycle in the environment": ({}, {"SCREENALYTICS_STORAGE__LIFECYCLE_DAYS": '{"frames/": -1}'}, "0 or more"),
    "a truncated model file": ({}, {"SCREENALYTICS_MODELS_DIR": "models"}, "does not load"),
}


@pytest.mark.parametrize("case", list(RUN_CASES))
def test_a_bad_run_fails_in_one_line_and_changes_nothing(case, media, stored):
    store, out, before = stored
    change, extra_env, phrase = RUN_CASES[case]
    change = {k: media[v] if isinstance(v, str) and v in media else v for k, v in change.items()}
    env = {"SCREENALYTICS_STORAGE__URI": str(store), **{k: str(media[v]) if v in media else v for k, v in extra_env.items()}}
    kept = (out / "screen_time.json").read_text()
    res = CliRunner().invoke(cli, run_args(media, out, **change), env=env)
    one_line_error(res, phrase)
    assert snapshot(store) == before
    assert (out / "screen_time.json").read_text() == kept


def test_a_read_only_store_fails_before_any_work_and_stays_readable(media, stored):
    store, out, before = stored
    env = {"SCREENALYTICS_STORAGE__URI": str(store)}
    runner = CliRunner()
    with read_only(store):
        t0 = time.time()
        one_line_error(runner.invoke(cli, run_args(media, out), env=env), "not writable")
        assert time.time() - t0 < 10, "refused before the models load"
        for reading in (["person", "list"], ["show", "list"], ["screen-time", EP], ["storage", "ls"]):
            res = runner.invoke(cli, reading, env=env)
            assert res.exit_code == 0, (reading, res.output)
        assert "obama" in runner.invoke(cli, ["person", "list"], env=env).output
    assert snapshot(store) == before


def test_a_short_video_can_be_analysed_with_a_warning(media, tmp_path):
    """decode.on_short: warn analyses what decodes and records the span in run.json and the report."""
    out = tmp_path / "out"
    env = {"SCREENALYTICS_STORAGE__URI": str(tmp_path / "store"), "SCREENALYTICS_DECODE__ON_SHORT": "warn"}
    res = CliRunner().invoke(cli, run_args(media, out, video=media["truncated"], episode_id="short"), env=env)
    assert res.exit_code == 0, res.output
    assert "warning: analysed only 0-" in res.output
    run = json.loads((out / "run.json").read_text())
    end = run["analysed_span_s"][1]
    assert 1.0 < end < 0.5 * run["duration_s"] and run["decoded_coverage"] < 0.5
    assert run["warnings"] and "truncated" in run["warnings"][0]
    assert f"analysed only 0.0-{end:.1f} s" in (out / "report.html").read_text()


def test_a_rerun_names_a_looping_photo_and_drops_stale_chips(media, stored, tmp_path):
    """A photo that is a symlink loop is reported as skipped; frames and chips the earlier run
    published beyond this run's are removed; the result tables hold only the new run."""
    store = tmp_path / "store"
    shutil.copytree(stored[0], store)
    bank = make_facebank(tmp_path / "fb", {"obama": ["obama2.jpg"]})
    (bank / "obama" / "loop.jpg").symlink_to(bank / "obama" / "loop.jpg")
    stale = [store / "chips" / "unsorted" / EP / "99" / "0.jpg", store / "frames" / "unsorted" / EP / "7" / "1.000.jpg"]
    for f in stale:
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b"old")
    res = CliRunner().invoke(
        cli, run_args(media, tmp_path / "out", facebank=bank), env={"SCREENALYTICS_STORAGE__URI": str(store)}
    )
    assert res.exit_code == 0, res.output
    assert "facebank photo skipped" in res.output and "loop.jpg (cannot be read" in res.output
    assert not any(f.exists() for f in stale)
    assert list((store / "chips" / "unsorted" / EP).rglob("*.jpg")) and list((store / "frames" / "unsorted" / EP).rglob("*.jpg"))
    results = open_results(load_settings(storage={"uri": str(store)}))
    assert len(set(results.read("tracks", EP).column("run_id").to_pylist())) == 1


def test_lifecycle_never_touches_results_facebank_or_manifests(stored, tmp_path):
    store = tmp_path / "store"
    shutil.copytree(stored[0], store)
    (store / "facebank" / "obama").mkdir(parents=True)
    (store / "facebank" / "obama" / "a.jpg").write_bytes(b"cast photo")
    (store / "frames" / "alias").symlink_to(store / "manifests")  # a way into manifests/ through frames/
    before = snapshot(store)
    env = {"SCREENALYTICS_STORAGE__URI": str(store)}
    runner = CliRunner()
    for rules, phrase in (
        ({"": 1}, "refusing to purge ''"),
        ({"lancedb/": 1}, "never purged"),
        ({"/": 1}, "refusing to purge"),
        ({"Facebank/": 0}, "never purged"),
        ({"manifests/unsorted/": 0}, "never purged"),
        ({"frames/../lancedb/": 0}, "without '.' or '..'"),
        ({"frames/": -1}, "0 or more"),
    ):
        config = tmp_path / "rules.yaml"
        config.write_text(json.dumps({"storage": {"lifecycle_days": rules}}))
        one_line_error(runner.invoke(cli, ["storage", "lifecycle", "--yes", "--config", str(config)], env=env), phrase)
    config.write_text(json.dumps({"storage": {"lifecycle_days": {"frames/": 0, "chips/": 0}}}))
    listed = runner.invoke(cli, ["storage", "lifecycle", "--config", str(config)], env=env)  # no --yes: a listing
    assert listed.exit_code == 0 and "would delete frames/" in listed.output and "--yes" in listed.output
    assert "alias" not in listed.output
    assert snapshot(store) == before
    deleted = runner.invoke(cli, ["storage", "lifecycle", "--yes", "--config", str(config)], env=env)
    assert deleted.exit_code == 0 and "deleted chips/" in deleted.output
    after = snapshot(store)
    assert after["tables"] == before["tables"]
    kept = {k: v for k, v in before["artifacts"].items() if not k.startswith(("frames/", "chips/"))}
    assert {k: v for k, v in after["artifacts"].items() if not k.startswith(("frames/", "chips/"))} == kept
    assert any(k.startswith("manifests/") for k in kept) and "facebank/obama/a.jpg" in kept
    assert not any(k.startswith("chips/") for k in after["artifacts"])


def test_storage_commands_refuse_bad_keys_and_lifetimes_in_one_line(stored):
    store, _, before = stored
    env = {"SCREENALYTICS_STORAGE__URI": str(store)}
    runner = CliRunner()
    chip = next(k for k in before["artifacts"] if k.startswith("chips/"))
    one_line_error(
        runner.invoke(cli, ["storage", "url", chip, "--expires", str(10**9)], env=env), "signed URL lasts 1 to 604800 s"
    )
    one_line_error(runner.invoke(cli, ["storage", "url", "../etc/passwd"], env=env), "not a valid artifact key")
    one_line_error(runner.invoke(cli, ["storage", "ls", "../"], env=env), "not a valid artifact key")
    one_line_error(runner.invoke(cli, ["person", "feature", "obama", "../x.jpg"], env=env), "not a valid artifact key")
    one_line_error(runner.invoke(cli, ["person", "feature", "obama", "chips/none.jpg"], env=env), "no artifact")
    one_line_error(
        runner.invoke(cli, ["episode", "add", "../x", "--show", "s", "--season", "1", "--number", "1"], env=env), "episode id"
    )
    assert snapshot(store) == before


def test_a_table_that_lost_its_files_is_reported_in_one_line(stored, tmp_path):
    store = tmp_path / "store"
    shutil.copytree(stored[0], store)
    shutil.rmtree(store / "lancedb" / "screen_time.lance" / "data")
    env = {"SCREENALYTICS_STORAGE__URI": str(store)}
    one_line_error(CliRunner().invoke(cli, ["screen-time", EP], env=env), "lost files")
    one_line_error(CliRunner().invoke(cli, ["export", EP, "--out", str(tmp_path / "x")], env=env), "lost files")


# --- S3: a hung server, a missing bucket, refused keys (a real SeaweedFS server) -----------------


@pytest.mark.slow
def test_a_hung_s3_server_fails_within_three_timeouts(s3, monkeypatch):
    env = s3_env(s3, f"hung{time.time_ns()}")  # storage.timeout_s 2, retries 0
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    open_artifacts(load_settings()).put("reports/x.csv", b"x")
    open_results(load_settings()).migrate()
    limit = 3 * float(env["SCREENALYTICS_STORAGE__TIMEOUT_S"]) + 1.5
    os.killpg(s3.process.pid, signal.SIGSTOP)  # accepts connections, never answers
    try:
        t0 = time.time()
        one_line_error(CliRunner().invoke(cli, ["storage", "ls"]), "did not answer")
        assert time.time() - t0 < limit
        t0 = time.time()
        with pytest.raises(StorageError, match="did not answer"):
            open_results(load_settings())
        assert time.time() - t0 < limit
    finally:
        os.killpg(s3.process.pid, signal.SIGCONT)
    assert open_artifacts(load_settings()).list("reports/") == ["reports/x.csv"]


@pytest.mark.slow
def test_s3_refusals_fail_fast_and_store_nothing(s3, media, tmp_path):
    good = s3_env(s3, f"refuse{time.time_ns()}")
    runner = CliRunner()
    missing = {**good, "SCREENALYTICS_STORAGE__URI": f"s3://no-such-bucket-{time.time_ns()}/x"}
    one_line_error(runner.invoke(cli, ["storage", "ls"], env=missing), "bucket does not exist")
    t0 = time.time()
    one_line_error(runner.invoke(cli, run_args(media, tmp_path / "o"), env=missing), "bucket does not exist")
    refused = {**good, "SCREENALYTICS_STORAGE__SECRET_ACCESS_KEY": "wrong"}
    for command in (["storage", "ls", "reports/"], ["storage", "url", "reports/x.csv"], ["person", "list"]):
        one_line_error(runner.invoke(cli, command, env=refused), "refused the access keys")
    one_line_error(runner.invoke(cli, run_args(media, tmp_path / "o"), env=refused), "refused the access keys")
    assert time.time() - t0 < 20, "refused before any analysis"
    assert (
        open_artifacts(
            load_settings(
                storage={
                    "uri": good["SCREENALYTICS_STORAGE__URI"],
                    "endpoint_url": s3.endpoint,
                    "access_key_id": s3.key,
                    "secret_access_key": s3.secret,
                }
            )
        ).list()
        == []
    )


@contextlib.contextmanager
def small_disk(path: Path, megabytes: int) -> Iterator[Path]:
    """A real filesystem of ``megabytes`` (tmpfs, as root) mounted at ``path``."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a small filesystem needs root")
    mount = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs", str(path)], capture_output=True)
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mount.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)


def fill(disk: Path, leave_bytes: int) -> None:
    """Take all the free space but ``leave_bytes``."""
    free = shutil.disk_usage(disk).free - leave_bytes
    with open(disk / "filler", "wb") as f:
        while free > 0:
            n = min(free, 1 << 20)
            f.write(b"\0" * n)
            free -= n


@pytest.mark.parametrize("leave_kb", [0, 256])
def test_a_full_disk_fails_in_one_line_and_keeps_the_stored_results(media, tmp_path, leave_kb):
    with small_disk(tmp_path / "disk", 48) as disk:
        store, out = disk / "store", tmp_path / "out"
        env = {"SCREENALYTICS_STORAGE__URI": str(store)}
        runner = CliRunner()
        first = runner.invoke(cli, run_args(media, out), env=env)
        assert first.exit_code == 0, first.output
        before = snapshot(store)
        fill(disk, leave_kb * 1024)
        res = runner.invoke(cli, run_args(media, out, extra=["--fps", "3"]), env=env)
        one_line_error(res, "No space left")
        os.unlink(disk / "filler")  # space again: one whole run is stored, the old or the new, never a mix
        results = open_results(load_settings(storage={"uri": str(store)}))
        runs = {
            name: set(results.read(name, EP).column("run_id").to_pylist()) for name in ("tracks", "assignments", "screen_time")
        }
        assert len(set().union(*runs.values())) == 1, runs
        if leave_kb == 0:  # no room even for the checks before the run: nothing changed at all
            assert snapshot(store)["tables"] == before["tables"]
        shown = runner.invoke(cli, ["screen-time", EP], env=env)
        assert shown.exit_code == 0 and "obama" in shown.output


def test_no_room_for_the_soundtrack_fails_in_one_line(media, tmp_path):
    """The audio process writes the decoded soundtrack to audio.spill_dir (10 s here: 640 KB);
    with no room there the run stops with the operating system's reason, in one line."""
    with small_disk(tmp_path / "disk", 1) as disk:
        fill(disk, 64 * 1024)
        env = {"SCREENALYTICS_STORAGE__URI": str(tmp_path / "store"), "SCREENALYTICS_AUDIO__SPILL_DIR": str(disk)}
        args = ["run", str(VIDEO), "--facebank", str(media["facebank"]), "--episode-id", EP, "--out", str(tmp_path / "out")]
        res = CliRunner().invoke(cli, [*args, "--fps", "2", "-q"], env=env)
        one_line_error(res, "No space left")
