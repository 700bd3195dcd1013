"""`screenalytics batch`: short composed episodes analysed by parallel workers (local processes and
a real local Ray cluster writing to a real S3 server) give the same stored results as serial runs;
failures, skipping, the stored-cast facebank and the manifest's one-line errors."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import FACES, make_facebank, s3_env
from screenalytics.cli import cli
from screenalytics.errors import InputError
from screenalytics.service import AnalyseRequest, Service
from screenalytics.service.batch import BatchEvent, BatchRequest, run_batch
from screenalytics.stores.artifacts import facebank_key
from synth import ShotSpec, compose

CAST = {"obama": ["obama2.jpg"], "biden": ["biden2.jpg"], "kit": ["kit_harington_2.jpeg"], "rose": ["rose_leslie_2.jpg"]}
NO_AUDIO = {"audio": {"enabled": False}}


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three short episodes (a few seconds each, different people), a corrupt one and a facebank."""
    root = tmp_path_factory.mktemp("batch-media")
    good = root / "good"
    good.mkdir()
    compose(
        good / "ep1.mp4", [ShotSpec(FACES / "obama.jpg", 2, ["obama"]), ShotSpec(None, 0.5), ShotSpec(FACES / "biden.jpg", 2)]
    )
    compose(good / "ep2.mp4", [ShotSpec(FACES / "kit_harington_1.jpeg", 2), ShotSpec(FACES / "rose_leslie_1.jpg", 2)])
    compose(good / "ep3.mp4", [ShotSpec(FACES / "biden2.jpg", 1.5), ShotSpec(FACES / "obama2.jpg", 2)])
    mixed = root / "mixed"
    shutil.copytree(good, mixed)
    (mixed / "ep4_corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40)
    (mixed / "notes.txt").write_text("not a video")
    return {"good": good, "mixed": mixed, "facebank": make_facebank(root / "facebank", CAST), "root": root}


@pytest.fixture(scope="module")
def serial(media: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple]:
    """What one process analysing the episodes one after another stores."""
    store = tmp_path_factory.mktemp("serial-store")
    service = Service(storage={"uri": str(store)}, **NO_AUDIO)
    for video in sorted(media["good"].glob("*.mp4")):
        req = AnalyseRequest(video=video, facebank=media["facebank"], out_dir=store / "out" / video.stem, episode_id=video.stem)
        service.analyse(req)
    return stored(service, ["ep1", "ep2", "ep3"])


def stored(service: Service, episodes: list[str]) -> dict[str, tuple]:
    """Per episode: the stored screen time rows and the number of stored tracks."""
    out = {}
    for ep in episodes:
        rows = [(r.person_id, round(r.visual_s, 3), round(r.speaking_s, 3), round(r.both_s, 3)) for r in service.screen_time(ep)]
        confidence = {r.person_id: r.confidence for r in service.screen_time(ep)}
        out[ep] = (sorted(rows), service.run_status(ep).rows["tracks"], confidence)
    return out


def assert_same(got: dict[str, tuple], want: dict[str, tuple]) -> None:
    assert got.keys() == want.keys()
    for ep, (rows, tracks, confidence) in want.items():
        assert got[ep][0] == rows, ep
        assert got[ep][1] == tracks, ep
        assert got[ep][2] == pytest.approx(confidence, abs=1e-3), ep  # workers use fewer onnxruntime threads


@pytest.mark.slow
def test_local_workers_match_serial_runs_and_a_corrupt_video_fails(media, serial, tmp_path):
    out = tmp_path / "out"
    res = CliRunner().invoke(
        cli,
        ["batch", str(media["mixed"]), "--facebank", str(media["facebank"]), "--out", str(out), "--workers", "2"]
        + ["--no-audio", "--keep-going"],
    )
    assert res.exit_code == 1, res.output
    assert "1 of 4 episode(s) failed" in res.output
    summary = json.loads((out / "batch_summary.json").read_text())
    by_id = {e["episode_id"]: e for e in summary["episodes"]}
    assert [e["episode_id"] for e in summary["episodes"]] == ["ep1", "ep2", "ep3", "ep4_corrupt"]  # notes.txt is no video
    assert (summary["ok"], summary["failed"], summary["skipped"], summary["not_run"], summary["workers"]) == (3, 1, 0, 0, 2)
    assert by_id["ep4_corrupt"]["status"] == "failed" and "corrupt" in by_id["ep4_corrupt"]["error"]
    assert "\n" not in by_id["ep4_corrupt"]["error"]
    service = Service(**NO_AUDIO)  # the store the batch wrote (this test's isolated store)
    want = stored(service, ["ep1", "ep2", "ep3"])
    for ep in ("ep1", "ep2", "ep3"):
        assert by_id[ep]["status"] == "ok" and by_id[ep]["error"] is None and by_id[ep]["seconds"] > 0
        assert by_id[ep]["screen_time_rows"] == len(want[ep][0]) and by_id[ep]["tracks"] == want[ep][1]
        assert json.loads((out / ep / "screen_time.json").read_text())  # each episode's own files
    assert len({by_id[ep]["worker"] for ep in ("ep1", "ep2", "ep3")}) == 2  # two processes shared the episodes
    assert_same(want, serial)
    assert {"obama", "biden"} <= {r[0] for r in want["ep1"][0] if r[1] > 1.5}


def test_without_keep_going_nothing_starts_after_a_failure(media, tmp_path):
    manifest = tmp_path / "season.yaml"
    videos = [media["mixed"] / "ep4_corrupt.mp4", media["good"] / "ep1.mp4", media["good"] / "ep2.mp4"]
    manifest.write_text(json.dumps({"facebank": str(media["facebank"]), "episodes": [str(v) for v in videos]}))
    summary = tmp_path / "elsewhere" / "s.json"
    res = CliRunner().invoke(
        cli, ["batch", str(manifest), "--out", str(tmp_path / "o"), "--workers", "1", "-q", "--summary", str(summary)]
    )
    assert res.exit_code == 1
    assert "1 of 3 episode(s) failed, 2 not run" in res.output
    result = json.loads(summary.read_text())
    assert [e["status"] for e in result["episodes"]] == ["failed", "not_run", "not_run"]
    assert "--keep-going" in result["episodes"][1]["note"]
    assert not Service().run_status("ep1").analysed


@pytest.mark.slow
def test_stored_cast_catalog_progress_and_skip_existing(media, tmp_path):
    service = Service(**NO_AUDIO)
    service.add_show("pres", "Presidents")
    for person in ("obama", "biden"):
        service.add_person(person)
        service.add_cast(person, "pres")
        for photo in CAST[person]:
            service.artifacts.put(facebank_key(person, photo.split(".")[0]), (FACES / photo).read_bytes())
    service.artifacts.put(facebank_key("kit", "k"), (FACES / "kit_harington_2.jpeg").read_bytes())  # not in this show
    shutil.copy(media["good"] / "ep1.mp4", tmp_path / "Pres.S01E04.mp4")
    manifest = tmp_path / "season.yaml"
    manifest.write_text(
        "show: pres\nseason: 1\nepisodes:\n"
        "  - Pres.S01E04.mp4\n"  # number and season from the name, relative to the manifest
        "  - {video: " + str(media["good"] / "ep3.mp4") + ", episode_id: pres-5, number: 5, title: Five}\n"
    )
    events: list[BatchEvent] = []
    killed: list[str] = []

    def on_event(event: BatchEvent) -> None:
        events.append(event)
        if event.kind == "started" and event.index == 0 and not killed:  # a worker dies (out of memory, say)
            assert event.worker is not None
            killed.append(event.worker)
            os.kill(int(event.worker.split(":")[1]), signal.SIGKILL)

    result = run_batch(service, BatchRequest(source=manifest, out_dir=tmp_path / "out", workers=2), on_event)
    assert [e.status for e in result.episodes] == ["ok", "ok"], [e.error for e in result.episodes]  # run again by a fresh worker
    assert [e.episode_id for e in result.episodes] == ["Pres.S01E04", "pres-5"]
    assert killed and killed[0] not in {e.worker for e in result.episodes}
    (copied,) = (tmp_path / "out" / "_cast_facebank").iterdir()  # written once, shared by the workers
    assert sorted(p.name for p in copied.iterdir()) == ["biden", "obama"]
    for ep in ("Pres.S01E04", "pres-5"):
        people = {r.person_id for r in service.screen_time(ep)}
        assert people == {"obama", "biden"}  # the show's cast only, from the stored photos
        seen = [(e.kind, e.stage) for e in events if e.episode_id == ep]
        assert seen[0] == ("planned", None) and ("progress", "detect") in seen  # forwarded from the workers
        assert seen[-1] == ("finished", None)
    assert [(e.kind, e.stage) for e in events if e.index == 0].count(("started", None)) == 2
    episodes = {e.episode_id: e for e in service.list_episodes("pres")}
    assert (episodes["Pres.S01E04"].season, episodes["Pres.S01E04"].number) == (1, 4)
    assert (episodes["pres-5"].number, episodes["pres-5"].title) == (5, "Five")
    assert service.artifacts.exists("reports/pres/S01E05/screen_time.csv")
    assert service.list_shows()[0].title == "Presidents"  # an existing show keeps its title

    res = CliRunner().invoke(cli, ["batch", str(manifest), "--out", str(tmp_path / "out"), "--skip-existing", "--no-audio"])
    assert res.exit_code == 0, res.output
    again = json.loads((tmp_path / "out" / "batch_summary.json").read_text())
    assert [e["status"] for e in again["episodes"]] == ["skipped", "skipped"]
    assert again["workers"] == 0 and again["episodes"][0]["run_id"] == result.episodes[0].run_id
    assert "already stored" in again["episodes"][0]["note"]


@pytest.mark.parametrize(
    "text, message",
    [
        ("episodes: []", "episodes: List should have at least 1 item"),
        ("episodes:\n  - {video: a.mp4, seasn: 1}", "episodes[0].seasn: Extra inputs are not permitted"),
        ("episodes:\n  - {video: a.mp4, number: -1}", "episodes[0].number: Input should be greater than or equal to 0 (got -1)"),
        ("episodes:\n  - {episode_id: x}", "episodes[0].video: Field required"),
        ("episodes: [a.mp4", "is not valid YAML"),
        ("episodes: [nope.mp4]", "episodes[0] (nope.mp4): video not found"),
        ("episodes: [ep1.mp4]", "episodes[0] (ep1.mp4): no facebank: give --facebank"),
        ("show: pres\nepisodes: [ep1.mp4]", "of show 'pres''s cast"),
        ("facebank: nofb\nepisodes: [ep1.mp4]", "facebank not found"),
        ("facebank: FB\nepisodes: [ep1.mp4, {video: ep1.mp4}]", "episodes[1] (ep1.mp4): episode id 'ep1' is also episodes[0]"),
    ],
)
def test_manifest_errors_are_one_line_and_name_the_field(media, tmp_path, text, message):
    shutil.copy(media["good"] / "ep1.mp4", tmp_path / "ep1.mp4")
    (tmp_path / "m.yaml").write_text(text.replace("FB", str(media["facebank"])))
    res = CliRunner().invoke(cli, ["batch", str(tmp_path / "m.yaml"), "--out", str(tmp_path / "o")])
    assert res.exit_code == 1
    assert message in res.output and res.output.count("\n") == 1, res.output
    assert not (tmp_path / "o").exists()  # nothing ran, nothing written


def test_a_folder_needs_videos_and_a_facebank(media, tmp_path):
    with pytest.raises(InputError, match="no videos"):
        run_batch(Service(), BatchRequest(source=tmp_path, facebank=media["facebank"]))
    with pytest.raises(InputError, match="no facebank"):
        run_batch(Service(), BatchRequest(source=media["good"]))


# --- a real local Ray cluster and a real S3 server ----------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def ray_head(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """`ray start --head` on 127.0.0.1 (2 CPUs), as a cluster the batch connects to by address."""
    pytest.importorskip("ray")
    port = _free_port()
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")  # a throwaway cluster on loopback
    cmd = [str(Path(sys.executable).parent / "ray"), "start", "--head", f"--port={port}", "--node-ip-address=127.0.0.1"]
    cmd += ["--num-cpus=2", "--include-dashboard=false", f"--dashboard-port={_free_port()}", "--disable-usage-stats", "--block"]
    with open(tmp_path / "ray.log", "wb") as log:
        head = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.time() + 60
        while b"block forever" not in (tmp_path / "ray.log").read_bytes():
            assert head.poll() is None and time.time() < deadline, (tmp_path / "ray.log").read_text()[-2000:]
            time.sleep(0.5)
        yield f"127.0.0.1:{port}"
    finally:
        head.send_signal(signal.SIGTERM)  # it drains and stops the processes it started
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)


@pytest.mark.slow
def test_ray_tasks_on_a_cluster_with_an_s3_store_match_serial_runs(media, serial, s3, ray_head, tmp_path, monkeypatch):
    env = {
        **s3_env(s3, f"batch{time.time_ns()}"),
        "SCREENALYTICS_STORAGE__TIMEOUT_S": "10",
        "SCREENALYTICS_STORAGE__RETRIES": "2",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    manifest = tmp_path / "season.yaml"
    manifest.write_text("episodes: [" + ", ".join(str(p) for p in sorted(media["good"].glob("*.mp4"))) + "]\n")
    service = Service(**NO_AUDIO)
    events: list[BatchEvent] = []
    req = BatchRequest(source=manifest, facebank=media["facebank"], out_dir=tmp_path / "out", executor="ray", address=ray_head)
    result = run_batch(service, req, events.append)
    assert [e.status for e in result.episodes] == ["ok", "ok", "ok"], result.episodes
    assert result.executor == "ray" and result.workers == 2  # the cluster's 2 CPUs, 1 per episode
    assert {e.episode_id for e in events if e.kind == "progress" and e.stage == "detect"} == {"ep1", "ep2", "ep3"}
    assert_same(stored(Service(**NO_AUDIO), ["ep1", "ep2", "ep3"]), serial)
    assert service.artifacts.exists("reports/unsorted/ep2/screen_time.csv")  # published to S3 by the Ray workers
